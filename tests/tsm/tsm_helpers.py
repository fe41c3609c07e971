"""tsm test helpers: run `tetra tsm …` for real, and kill every process a test started.

Cleanup is by pid: every supervisor and child recorded in the test's meta.json
files, plus any process whose command line or working directory mentions the
test's state directory (a supervisor that died before writing meta.json, a
grandchild), gets SIGKILL, even when the test failed.
"""

from __future__ import annotations

import json
import socket
import sys
from pathlib import Path

PY = sys.executable
from tetra_testing import TETRA, wait_for  # noqa: F401 -- re-exported for the tsm tests
from tetra_testing import reap_tsm as cleanup  # noqa: F401 -- for tests/tsm/conftest.py


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tsm:
    """``tsm("start", "--name", "x", "--", ...)`` runs ``tetra tsm start …``."""

    def __init__(self, tetra, tetra_dir: Path):
        self._tetra = tetra
        self.dir = tetra_dir
        self.processes = tetra_dir / "tsm" / "runtime" / "processes"

    def __call__(self, *words: str, check: bool = True, timeout: float = 60, cwd=None):
        result = self._tetra("tsm", *words, timeout=timeout, cwd=cwd)
        if check and result.returncode != 0:
            raise AssertionError(f"tsm {' '.join(words)} failed ({result.returncode}):\n"
                                 f"{result.stdout}\n{result.stderr}")
        return result

    def meta(self, name: str) -> dict:
        return json.loads((self.processes / name / "meta.json").read_text())

    def ls(self) -> dict[str, dict]:
        return {row["name"]: row for row in json.loads(self("ls", "--json").stdout)}

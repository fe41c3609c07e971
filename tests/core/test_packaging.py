"""A non-editable install must ship the grammar and the built-in plugins."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_contains_grammar_and_plugins_and_registers_entry_points(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                        "-q", "-w", str(tmp_path), str(ROOT)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    wheel = next(tmp_path.glob("tetra_repl-*.whl"))
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert "tetra_repl/grammar/tetra.lark" in names
    for plugin in ("remote", "txn", "deploy", "tsm"):
        assert f"tetra_plugins/{plugin}/__init__.py" in names
        assert f"{plugin} = tetra_plugins.{plugin}:plugin" in entry_points
    assert "tetra = tetra_repl.cli:main" in entry_points

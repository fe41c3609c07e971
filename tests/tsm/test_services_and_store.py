"""Service definitions that change, damaged state, and the edges of save, startup and monit."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess

import pexpect
import psutil
import pytest
from tsm_helpers import PY, TETRA, free_port, wait_for


def _error_lines(result, status: int) -> list[str]:
    """stderr of a failed run: exit ``status``, one ``tetra: line 1:`` line (+ a hint)."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("tetra: line 1: ") and all(
        line.startswith("  ") for line in lines[1:]), result.stderr
    return [lines[0].removeprefix("tetra: line 1: ")] + [line.strip() for line in lines[1:]]


def _service(tsm, name: str, text: str):
    services = tsm.dir / "tsm" / "services"
    services.mkdir(parents=True, exist_ok=True)
    path = services / f"{name}.toml"
    path.write_text(text)
    return path


def _cmdline(pid: int) -> list[str]:
    return psutil.Process(pid).cmdline()


# -- a small number is not a port -------------------------------------------------------

def test_a_script_with_a_small_numeric_argument_has_no_port(tsm, tmp_path):
    (tmp_path / "sleeper.py").write_text("import sys, time\ntime.sleep(int(sys.argv[1]))\n")
    result = tsm("start", "--", PY, "sleeper.py", "60", cwd=tmp_path)
    meta = tsm.meta(f"{tmp_path.name}-sleeper")
    assert result.stdout.splitlines() == [
        f"started {tmp_path.name}-sleeper (id 0, pid {meta['pid']})"]
    assert meta["port"] is None and (tsm.dir / "tsm" / "ports").read_text() == ""

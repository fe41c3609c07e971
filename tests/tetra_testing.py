"""Names every test folder shares.  Import from here, not from ``conftest``:
pytest keeps one module called ``conftest`` when several folders have one."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path

TETRA = str(Path(sys.executable).with_name("tetra"))  # the installed console script


def wait_for(predicate, timeout: float = 10.0, interval: float = 0.05):
    """Poll until ``predicate()`` is truthy; returns its value (fails the test on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


def kill_tree(pid: int) -> None:
    """SIGKILL ``pid`` (as a crash would), then every process it had started.

    Killing only a process group is not enough: connectors start each command
    in its own group, and those would outlive the test.  Descendants are
    collected first because once ``pid`` dies they are re-parented to init.
    """
    import psutil

    try:
        root = psutil.Process(pid)
        descendants = root.children(recursive=True)
        root.kill()
    except psutil.NoSuchProcess:
        return
    for proc in descendants:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass


def install_plugin(state_dir: Path, name: str, source: str) -> Path:
    """Write ``DIR/plugins/<name>.py`` (the directory plugins of SPEC 9)."""
    folder = state_dir / "plugins"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name}.py"
    path.write_text(source)
    return path


def reap_tsm(tetra_dir: Path) -> None:
    """SIGKILL what a test left running: every tsm supervisor and child recorded
    under ``tetra_dir``, and every process whose command line, cwd or
    ``$TETRA_DIR`` mentions the test's tmp_path (tetra runs, supervisors and
    what they started), each with its process group.

    Twice: a supervisor killed while it restarted its child may have forked a
    child the first pass did not see."""
    for _ in range(2):
        _reap_once(tetra_dir)


def _reap_once(tetra_dir: Path) -> None:
    import psutil

    pids: set[int] = set()
    for meta_file in (tetra_dir / "tsm").glob("runtime/processes/*/meta.json"):
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError):
            continue
        for key in ("supervisor_pid", "pid"):
            if meta.get(key):
                pids.add(int(meta[key]))
    marker = str(tetra_dir.parent)  # the test's tmp_path: state dir and working dirs
    for proc in psutil.process_iter(["pid", "cmdline", "cwd", "environ"]):
        info = proc.info
        # TETRA_DIR too: a supervisor's children inherit it, wherever they run
        text = " ".join([*(info.get("cmdline") or []), info.get("cwd") or "",
                         (info.get("environ") or {}).get("TETRA_DIR", "")])
        if marker in text:
            pids.add(info["pid"])
    pids.discard(os.getpid())
    for pid in pids:
        try:
            if os.getpgid(pid) == pid:  # supervisors and children lead their own groups
                os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass

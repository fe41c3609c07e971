"""SPEC 8 + 10 for tsm: failed starts leave nothing running, and say why in one line."""

from __future__ import annotations

import os
import time

import psutil
from tsm_helpers import wait_for


def _one_clear_error(result, status: int) -> str:
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("tetra: line 1: "), result.stderr
    return first


def _dead(pid) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_a_start_that_keeps_crashing_fails_and_leaves_no_crash_loop(tsm):
    result = tsm("start", "--name", "flop", "--timeout", "2", "--", "false", check=False)
    first = _one_clear_error(result, 1)
    assert "did not start: crashed: it exited" in first and "exited with status 1" in first
    meta = tsm.meta("flop")
    assert meta["status"] == "errored" and meta["pid"] is None
    assert _dead(meta["supervisor_pid"])  # no supervisor left restarting it
    time.sleep(1.0)
    assert tsm.meta("flop")["restarts"] == meta["restarts"]


def test_a_start_given_up_before_its_supervisor_ran_leaves_nothing_running(tsm, tmp_path):
    workdir = tmp_path / "late"
    workdir.mkdir()
    # --timeout 0.001 gives up before the supervisor has even taken its lock
    result = tsm("start", "--name", "late", "--timeout", "0.001", "--", "sleep", "60",
                 check=False, cwd=workdir)
    _one_clear_error(result, 1)
    procdir = tsm.processes / "late"
    wait_for(lambda: (procdir / ".supervisor.log").exists())  # the supervisor came and went
    wait_for(lambda: not any(str(procdir) in " ".join(p.info["cmdline"] or [])  # supervisors
                             for p in psutil.process_iter(["cmdline"])))
    time.sleep(0.3)
    assert tsm.meta("late")["status"] == "errored" and tsm.meta("late")["pid"] is None
    running = [p.info["cmdline"] for p in psutil.process_iter(["cwd", "cmdline"])
               if p.info["cwd"] == str(workdir)]
    assert running == []


def test_the_process_leads_its_own_session(tsm):
    tsm("start", "--name", "alone", "--", "sleep", "60")
    pid = tsm.meta("alone")["pid"]
    assert os.getsid(pid) == pid and os.getpgid(pid) == pid


def test_a_missing_program_is_explained_once(tsm):
    result = tsm("start", "--name", "ghost", "--", "/nonexistent/program", check=False)
    first = _one_clear_error(result, 1)
    assert "cannot start '/nonexistent/program'" in first
    assert result.stderr.count("cannot start") == 1

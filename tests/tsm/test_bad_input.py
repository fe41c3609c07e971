"""SPEC 8 + 10 for tsm: failed starts leave nothing running, bad input is one clear line."""

from __future__ import annotations

import json
import os
import time

import psutil
from tsm_helpers import PY, wait_for


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


def test_bad_flag_values_are_usage_errors_that_start_nothing(tsm):
    cases = [
        (["start", "--timeout", "-3", "--", "sleep", "9"], "--timeout expects a number of seconds (0 or more)"),
        (["start", "--timeout", "0", "--", "sleep", "9"], "--timeout must be greater than 0"),
        (["start", "--max-restarts", "-1", "--", "sleep", "9"], "--max-restarts must be at least 0"),
        (["start", "--log-keep", "0", "--", "sleep", "9"], "--log-keep must be at least 1"),
        (["start", "--max-log-size", "0", "--", "sleep", "9"], "--max-log-size expects bytes > 0"),
        (["start", "--name", "", "--", "sleep", "9"], "invalid process name ''"),
        (["start", "--name", "all", "--", "sleep", "9"], "'all' cannot be a process name"),
        (["start", "--port", "0", "--", "sleep", "9"], "port 0 is out of range"),
        (["start", "--port", "70000", "--", "sleep", "9"], "port 70000 is out of range"),
        (["stop", "all", "--timeout", "-1"], "--timeout expects a number of seconds (0 or more)"),
        (["logs", "x", "--lines", "-5"], "--lines must be at least 0"),
    ]
    for words, message in cases:
        first = _one_clear_error(tsm(*words, check=False), 2)
        assert message in first, (words, first)
    assert not tsm.processes.exists() or list(tsm.processes.iterdir()) == []


def test_a_stopped_process_stopped_again_says_it_was_not_running(tsm):
    tsm("start", "--name", "twice", "--", "sleep", "60")
    assert tsm("stop", "twice").stdout.strip() == "stopped twice (id 0)"
    again = tsm("stop", "twice")
    assert again.stdout.strip() == "twice (id 0) was not running (stopped)"
    assert tsm.meta("twice")["status"] == "stopped"


def test_a_missing_program_is_explained_once(tsm):
    result = tsm("start", "--name", "ghost", "--", "/nonexistent/program", check=False)
    first = _one_clear_error(result, 1)
    assert "cannot start '/nonexistent/program'" in first
    assert result.stderr.count("cannot start") == 1


def test_a_service_file_with_a_bad_port_or_name_names_the_file(tsm):
    services = tsm.dir / "tsm" / "services"
    services.mkdir(parents=True)
    (services / "badport.toml").write_text('command = "sleep 60"\nport = "80x"\n')
    (services / "escape.toml").write_text('command = "sleep 60"\nname = "../evil"\n')
    first = _one_clear_error(tsm("start", "badport", check=False), 1)
    assert "badport.toml: 'port' must be an integer" in first
    first = _one_clear_error(tsm("start", "escape", check=False), 1)
    assert "escape.toml: invalid name '../evil'" in first
    assert not (tsm.dir / "tsm" / "runtime" / "evil").exists()


def test_a_damaged_dump_file_is_one_clear_error(tsm):
    dump = tsm.dir / "tsm" / "dump.json"
    dump.parent.mkdir(parents=True)
    dump.write_text("[1, 2]")
    assert "no \"processes\" list" in _one_clear_error(tsm("resurrect", check=False), 1)
    dump.write_text(json.dumps({"processes": [{"name": "../evil", "command": [PY, "-V"],
                                               "cwd": "/"}]}))
    result = tsm("resurrect", check=False)
    _one_clear_error(result, 1)
    assert "../evil: failed: invalid process name" in result.stdout

"""Stop, restart and a crash end the child's whole process group (SPEC 8: SIGTERM
to the group, wait, then SIGKILL), not just its leader; `--timeout` is the grace."""

from __future__ import annotations

import os
import signal
import socket

import psutil
from tsm_helpers import PY, wait_for

# The audit's script: two plain children, one that ignores SIGTERM, one that left
# the group (setsid).  Each sleep has an argument no other test uses.
FORK_SH = """#!/bin/sh
sleep 1001.{tag} &
sleep 1002.{tag} &
( trap '' TERM; exec sleep 1003.{tag} ) &
setsid sleep 1004.{tag} &
wait
"""


def _sleeps(tag: str) -> dict[str, int]:
    """``{"1001": pid, …}`` of the fork.sh sleeps with ``tag`` that still run."""
    found = {}
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        cmd = proc.info["cmdline"] or []
        if (len(cmd) == 2 and cmd[0] == "sleep" and cmd[1].endswith(f".{tag}")
                and proc.info["status"] != psutil.STATUS_ZOMBIE):
            found[cmd[1].split(".")[0]] = proc.info["pid"]
    return found


def _gone(pids) -> bool:
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                return False
        except psutil.NoSuchProcess:
            pass
    return True


def _fork_sh(tmp_path, tag: str):
    script = tmp_path / "fork.sh"
    script.write_text(FORK_SH.format(tag=tag))
    script.chmod(0o755)
    return script


def test_stop_ends_the_whole_group_and_kills_what_ignores_sigterm(tsm, tmp_path):
    tag = "771"
    tsm("start", "--name", "fork", "--", str(_fork_sh(tmp_path, tag)), cwd=tmp_path)
    sleeps = wait_for(lambda: (s := _sleeps(tag)) and len(s) == 4 and s)
    supervisor = tsm.meta("fork")["supervisor_pid"]

    out = tsm("stop", "fork", "--timeout", "1").stdout
    assert out == "stopped fork (id 0)\n"
    # when stop has said so, nothing of it runs: not the one that ignores SIGTERM,
    # not even the one that left the group (the supervisor is its subreaper)
    assert _sleeps(tag) == {}
    assert _gone([*sleeps.values(), supervisor])
    meta = tsm.meta("fork")
    assert (meta["status"], meta["pid"]) == ("stopped", None)
    log = (tsm.processes / "fork" / ".supervisor.log").read_text()
    assert "stopped (signal 15; SIGKILL was due 1.00s after SIGTERM)" in log


def test_restart_ends_the_old_group_before_the_new_one_starts(tsm, tmp_path):
    tag = "772"
    tsm("start", "--name", "fork", "--", str(_fork_sh(tmp_path, tag)), cwd=tmp_path)
    old = wait_for(lambda: (s := _sleeps(tag)) and len(s) == 4 and s)

    tsm("restart", "fork", "--timeout", "1")
    assert _gone(old.values())
    new = wait_for(lambda: (s := _sleeps(tag)) and len(s) == 4 and s)
    assert not set(new.values()) & set(old.values())
    assert tsm.meta("fork")["restarts"] == 1


def test_a_crash_restart_ends_what_the_crashed_child_left_first(tsm, tmp_path):
    """The leader is SIGKILLed from outside; its group lives on.  The supervisor
    ends it (SIGTERM, SIGKILL after kill_timeout for the one that ignores
    SIGTERM) before it starts the next run, so restarts do not pile up sleeps."""
    tag = "773"
    tsm("start", "--name", "fork", "--restart", "always", "--",
        str(_fork_sh(tmp_path, tag)), cwd=tmp_path)
    old = wait_for(lambda: (s := _sleeps(tag)) and len(s) == 4 and s)
    leader = tsm.meta("fork")["pid"]

    os.kill(leader, signal.SIGKILL)
    meta = wait_for(lambda: (m := tsm.meta("fork"))["status"] == "online"
                    and m["pid"] not in (None, leader) and m, timeout=20)
    assert _gone(old.values())  # all of the old run ended before the new one began
    assert meta["restarts"] == 1
    new = wait_for(lambda: (s := _sleeps(tag)) and len(s) == 4 and s)
    assert not set(new.values()) & set(old.values())


def test_restart_frees_the_port_held_by_a_child_that_ignores_sigterm(tsm, port, tmp_path):
    """A wrapper's server that ignores SIGTERM still holds the port when the
    wrapper has exited: restart waits for (and kills) it, so the new run gets
    the port instead of failing on a conflict with the old one."""
    server = tmp_path / "server.py"
    server.write_text("import os, signal, socket, time\n"
                      "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                      "s = socket.socket()\n"
                      "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                      "s.bind(('127.0.0.1', int(os.environ['PORT'])))\n"
                      "s.listen()\n"
                      "while True:\n"
                      "    s.accept()[0].close()\n")
    tsm("start", "--name", "web", "--port", str(port), "--", "sh", "-c", f"{PY} {server} & wait")
    name = f"web-{port}"
    before = psutil.Process(tsm.meta(name)["pid"]).children()
    assert len(before) == 1

    out = tsm("restart", name, "--timeout", "0.5").stdout
    assert out.startswith(f"restarted {name} (id 0, pid ")
    assert _gone([before[0].pid])
    after = psutil.Process(tsm.meta(name)["pid"]).children()
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    assert [c.pid for c in after] != [before[0].pid]


def test_stop_timeout_longer_than_five_seconds_is_the_grace(tsm, tmp_path):
    """A process that needs 6 s to shut down gets them with --timeout 9: it
    exits by itself (status 0), not by the SIGKILL that used to come at 5 s."""
    app = tmp_path / "slow_stop.py"
    app.write_text("import signal, sys, time\n"
                   "def bye(*_):\n"
                   "    time.sleep(6)\n"
                   "    print('clean shutdown', flush=True)\n"
                   "    sys.exit(0)\n"
                   "signal.signal(signal.SIGTERM, bye)\n"
                   "print('ready', flush=True)\n"
                   "while True:\n"
                   "    time.sleep(60)\n")
    tsm("start", "--name", "slow", "--", PY, str(app))
    out_file = tsm.processes / "slow" / "current.out"
    wait_for(lambda: out_file.read_text() == "ready\n")

    tsm("stop", "slow", "--timeout", "9")
    meta = tsm.meta("slow")
    assert (meta["status"], meta["exit_code"]) == ("stopped", 0)
    assert out_file.read_text() == "ready\nclean shutdown\n"
    log = (tsm.processes / "slow" / ".supervisor.log").read_text()
    assert "stopped (exit status 0; SIGKILL was due 9.00s after SIGTERM)" in log

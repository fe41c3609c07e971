"""The supervisor: restart policy, backoff, errored, stop, and outside kills."""

from __future__ import annotations

import os
import re
import signal
import time

import psutil
from tsm_helpers import PY, wait_for


def _delays(tsm, name: str) -> list[float]:
    text = (tsm.processes / name / ".supervisor.log").read_text()
    return [float(d) for d in re.findall(r"restart in ([0-9.]+)s", text)]


def test_a_crasher_restarts_with_growing_delays_then_ends_errored(tsm):
    tsm("start", "--name", "crasher", "--restart", "on-failure", "--max-restarts", "3", "--",
        PY, "-c", "import sys; print('dying', file=sys.stderr); sys.exit(3)", check=False)
    wait_for(lambda: tsm.meta("crasher")["status"] == "errored")
    delays = _delays(tsm, "crasher")
    assert len(delays) == 3 and delays == sorted(delays) and delays[0] < delays[-1]
    row = tsm.ls()["crasher"]
    assert row["status"] == "errored" and row["restarts"] == 3 and row["unstable_restarts"] == 3
    assert row["pid"] is None
    assert (tsm.processes / "crasher" / "current.err").read_text().count("dying\n") == 4
    assert not (tsm.processes / "crasher" / "crasher.pid").exists()
    assert "3 unstable restarts" in tsm("describe", "crasher").stdout


def test_on_failure_does_not_restart_a_clean_exit(tsm):
    tsm("start", "--name", "once", "--", PY, "-c", "print('done')", check=False)
    wait_for(lambda: tsm.meta("once")["status"] == "stopped")
    assert tsm.meta("once")["restarts"] == 0 and tsm.meta("once")["exit_code"] == 0


def test_sigkill_from_outside_restarts_with_always_and_crashes_with_no(tsm):
    tsm("start", "--name", "keeper", "--restart", "always", "--", "sleep", "120")
    tsm("start", "--name", "fragile", "--restart", "no", "--", "sleep", "120")
    first = tsm.meta("keeper")["pid"]
    os.kill(first, signal.SIGKILL)
    os.kill(tsm.meta("fragile")["pid"], signal.SIGKILL)
    wait_for(lambda: tsm.meta("keeper")["status"] == "online" and tsm.meta("keeper")["pid"] != first)
    wait_for(lambda: tsm.meta("fragile")["status"] == "crashed")
    rows = tsm.ls()
    assert rows["keeper"]["status"] == "online" and rows["keeper"]["restarts"] == 1
    assert rows["keeper"]["pid"] == tsm.meta("keeper")["pid"] != first
    assert rows["fragile"]["status"] == "crashed" and rows["fragile"]["pid"] is None
    assert tsm.meta("fragile")["exit_code"] == -9


def test_stop_terms_the_group_then_kills_what_ignores_sigterm(tsm, tmp_path):
    script = tmp_path / "stubborn.py"
    script.write_text("import signal, subprocess, sys, time\n"
                      "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
                      "child = subprocess.Popen(['sleep', '120'])\n"
                      "print(child.pid, flush=True)\n"
                      "time.sleep(120)\n")
    tsm("start", "--name", "stubborn", "--", PY, str(script))
    wait_for(lambda: (tsm.processes / "stubborn" / "current.out").read_text().strip())
    grandchild = int((tsm.processes / "stubborn" / "current.out").read_text())
    meta = tsm.meta("stubborn")
    tsm("stop", "stubborn", "--timeout", "0.5")
    after = tsm.meta("stubborn")
    assert after["status"] == "stopped" and after["pid"] is None
    assert not (tsm.processes / "stubborn" / "stubborn.pid").exists()
    for pid in (meta["pid"], grandchild, meta["supervisor_pid"]):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    # a stopped process starts again by name, keeping its id
    tsm("start", "stubborn")
    assert tsm.meta("stubborn")["tsm_id"] == meta["tsm_id"]
    assert tsm.meta("stubborn")["status"] == "online"


def test_restart_keeps_id_and_counts(tsm):
    tsm("start", "--name", "worker", "--", "sleep", "120")
    before = tsm.meta("worker")
    out = tsm("restart", "worker").stdout
    after = tsm.meta("worker")
    assert "restarted worker" in out
    assert after["tsm_id"] == before["tsm_id"] and after["pid"] != before["pid"]
    assert after["restarts"] == 1 and after["status"] == "online"


def test_resolution_by_id_name_prefix_and_ambiguity(tsm):
    tsm("start", "--name", "api-a", "--", "sleep", "120")
    tsm("start", "--name", "api-b", "--", "sleep", "120")
    tsm("start", "--name", "db", "--", "sleep", "120")
    ambiguous = tsm("stop", "api", check=False)
    assert ambiguous.returncode == 1 and "ambiguous" in ambiguous.stderr
    assert "api-a" in ambiguous.stderr and "api-b" in ambiguous.stderr
    assert all(row["status"] == "online" for row in tsm.ls().values())  # nothing was done
    tsm("stop", "d")  # unique prefix
    tsm("stop", str(tsm.meta("api-b")["tsm_id"]))  # id
    rows = tsm.ls()
    assert rows["db"]["status"] == "stopped" and rows["api-b"]["status"] == "stopped"
    assert rows["api-a"]["status"] == "online"
    missing = tsm("stop", "nope", check=False)
    assert missing.returncode == 1 and "no process 'nope'" in missing.stderr
    tsm("delete", "all")
    assert tsm.ls() == {} and (tsm.dir / "tsm" / "ports").read_text() == ""


def test_a_child_that_closes_its_output_does_not_make_the_supervisor_spin(tsm):
    tsm("start", "--name", "quiet", "--", "sh", "-c", "echo bye; exec >&- 2>&-; sleep 120")
    wait_for(lambda: (tsm.processes / "quiet" / "current.out").read_text() == "bye\n")
    supervisor = psutil.Process(tsm.meta("quiet")["supervisor_pid"])
    before = sum(supervisor.cpu_times()[:2])
    time.sleep(1.0)
    used = sum(supervisor.cpu_times()[:2]) - before
    assert used < 0.3  # a poll loop on an EOF would burn the whole second
    assert tsm.ls()["quiet"]["status"] == "online"

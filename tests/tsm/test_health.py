"""doctor reports, patrol repairs: killed supervisors, dead processes, stale files."""

from __future__ import annotations

import json
import os
import signal

import psutil
from tsm_helpers import PY, wait_for


def _dead(pid: int) -> bool:
    return not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_killed_supervisor_is_reported_and_patrol_adopts_the_process(tsm):
    tsm("start", "--name", "orphan", "--restart", "always", "--", "sleep", "120")
    meta = tsm.meta("orphan")
    os.kill(meta["supervisor_pid"], signal.SIGKILL)
    wait_for(lambda: _dead(meta["supervisor_pid"]))

    report = tsm("doctor", check=False)
    assert report.returncode == 1
    assert "unsupervised" in report.stdout and str(meta["pid"]) in report.stdout
    assert "adopted by supervisor" in tsm("patrol").stdout
    healed = tsm.meta("orphan")
    assert healed["pid"] == meta["pid"] and healed["supervisor_pid"] != meta["supervisor_pid"]
    assert tsm("doctor").stdout.strip() == "no problems found"
    # supervised again: an outside kill is restarted per policy
    os.kill(meta["pid"], signal.SIGKILL)
    wait_for(lambda: tsm.meta("orphan")["pid"] not in (None, meta["pid"]))


def test_dead_process_marked_online_and_stale_pid_file(tsm):
    tsm("start", "--name", "gone", "--", "sleep", "120")
    meta = tsm.meta("gone")
    os.kill(meta["supervisor_pid"], signal.SIGKILL)
    wait_for(lambda: _dead(meta["supervisor_pid"]))
    os.kill(meta["pid"], signal.SIGKILL)
    wait_for(lambda: _dead(meta["pid"]))

    findings = json.loads(tsm("doctor", "--json", check=False).stdout)
    kinds = {f["kind"] for f in findings}
    assert {"dead_marked_online", "stale_pid_file"} <= kinds
    assert tsm.ls()["gone"]["status"] == "crashed"  # ls never shows a dead process online

    results = json.loads(tsm("patrol", "--json").stdout)
    assert {r["result"] for r in results} >= {"removed", "marked crashed"}
    assert tsm.meta("gone")["status"] == "crashed"
    assert not (tsm.processes / "gone" / "gone.pid").exists()
    assert tsm("doctor").returncode == 0


def test_doctor_reports_port_conflicts_and_unwritable_dirs(tsm, port):
    tsm("start", "--name", "a", "--", PY, "-m", "http.server", str(port), "--bind", "127.0.0.1")
    # a second claim on the same port, written as a crashed record would be
    tsm("start", "--name", "b", "--", "sleep", "120")
    tsm("stop", "b")
    meta_b = tsm.meta("b")
    meta_b.update(port=port, status="crashed")
    (tsm.processes / "b" / "meta.json").write_text(json.dumps(meta_b))
    findings = json.loads(tsm("doctor", "--json", check=False).stdout)
    assert any(f["kind"] == "port_conflict" and "a-" in f["detail"] for f in findings)

    if os.geteuid() != 0:  # root writes everywhere; the check only means something for users
        tsm.processes.chmod(0o500)
        try:
            findings = json.loads(tsm("doctor", "--json", check=False).stdout)
            assert any(f["kind"] == "unwritable_dir" for f in findings)
        finally:
            tsm.processes.chmod(0o755)


def test_a_supervisor_killed_while_waiting_to_restart_is_repaired_once(tsm):
    tsm("start", "--name", "flappy", "--restart", "always", "--max-restarts", "50", "--",
        PY, "-c", "import time; time.sleep(0.6); raise SystemExit(1)", check=False)  # past the start's 0.5 s
    wait_for(lambda: tsm.meta("flappy")["status"] == "crashed"
             and tsm.meta("flappy").get("next_restart_delay", 0) >= 0.4, timeout=30)
    os.kill(tsm.meta("flappy")["supervisor_pid"], signal.SIGKILL)
    wait_for(lambda: _dead(tsm.meta("flappy")["supervisor_pid"]))
    meta = tsm.meta("flappy")
    if meta["status"] != "crashed" or meta["pid"]:  # killed just as it respawned: not this case
        return
    assert any(f["kind"] == "stuck" for f in json.loads(tsm("doctor", "--json", check=False).stdout))
    tsm("patrol")
    assert tsm.meta("flappy")["status"] == "crashed"
    assert tsm("doctor").stdout.strip() == "no problems found"


def test_stop_works_without_a_supervisor(tsm):
    tsm("start", "--name", "lonely", "--", "sleep", "120")
    meta = tsm.meta("lonely")
    os.kill(meta["supervisor_pid"], signal.SIGKILL)
    wait_for(lambda: _dead(meta["supervisor_pid"]))
    tsm("stop", "lonely", "--timeout", "2")
    assert _dead(meta["pid"])
    after = tsm.meta("lonely")
    assert after["status"] == "stopped" and after["pid"] is None
    assert not (tsm.processes / "lonely" / "lonely.pid").exists()
    assert tsm("doctor").returncode == 0


def test_doctor_and_patrol_end_with_one_line_that_counts_the_problems(tsm):
    broken = tsm.processes / "broken"
    broken.mkdir(parents=True)
    (broken / "meta.json").write_text("{torn")
    report = tsm("doctor", check=False)
    assert report.returncode == 1 and "bad_meta:" in report.stdout
    assert report.stderr.splitlines()[0] == "tetra: line 1: tsm doctor: 1 problem found"
    repaired = tsm("patrol", check=False)
    assert repaired.returncode == 1 and "needs you" in repaired.stdout
    assert repaired.stderr.splitlines()[0] == ("tetra: line 1: tsm patrol: 1 problem left that "
                                               "it cannot repair")

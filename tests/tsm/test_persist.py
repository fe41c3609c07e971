"""save / resurrect: the same set comes back, and live processes are adopted, never doubled."""

from __future__ import annotations

import json
import os
import signal

import psutil
from tsm_helpers import PY, free_port, wait_for


def _start_set(tsm, tmp_path):
    port = free_port()
    site = tmp_path / "site"
    site.mkdir()
    tsm("start", "--name", "web", "--cwd", str(site), "--",
        PY, "-m", "http.server", str(port), "--bind", "127.0.0.1")
    # a duration no other test uses: "one copy runs" counts this test's worker only
    tsm("start", "--name", "worker", "--", "sleep", f"120.{port}")
    return {f"web-{port}": port, "worker": None}, site


def test_save_stop_all_resurrect_brings_back_the_same_set(tsm, tmp_path):
    expected, site = _start_set(tsm, tmp_path)
    before = {n: tsm.meta(n) for n in expected}
    assert "saved 2 processes" in tsm("save").stdout
    dump = json.loads((tsm.dir / "tsm" / "dump.json").read_text())
    assert sorted(p["name"] for p in dump["processes"]) == sorted(expected)

    tsm("stop", "all")
    assert all(row["status"] == "stopped" for row in tsm.ls().values())
    out = tsm("resurrect").stdout
    assert out.count("started") == 2
    rows = tsm.ls()
    assert sorted(rows) == sorted(expected)
    for name, port in expected.items():
        after = tsm.meta(name)
        assert rows[name]["status"] == "online"
        assert after["command"] == before[name]["command"] and after["cwd"] == before[name]["cwd"]
        assert after["port"] == port and after["pid"] != before[name]["pid"]
    web = next(name for name in expected if name.startswith("web-"))
    assert tsm.meta(web)["cwd"] == str(site)


def test_resurrect_after_delete_recreates_the_processes(tsm, tmp_path):
    expected, _ = _start_set(tsm, tmp_path)
    tsm("save")
    tsm("delete", "all")
    tsm("resurrect")
    rows = tsm.ls()
    assert sorted(rows) == sorted(expected)
    assert all(r["status"] == "online" for r in rows.values())


def test_resurrect_adopts_processes_still_running_and_starts_no_duplicate(tsm, tmp_path):
    expected, _ = _start_set(tsm, tmp_path)
    tsm("save")
    pids = {n: tsm.meta(n)["pid"] for n in expected}
    for name in expected:  # their supervisors die; the processes keep running
        os.kill(tsm.meta(name)["supervisor_pid"], signal.SIGKILL)
    for name in expected:
        wait_for(lambda n=name: not psutil.pid_exists(tsm.meta(n)["supervisor_pid"])
                 or psutil.Process(tsm.meta(n)["supervisor_pid"]).status() == "zombie")

    out = tsm("resurrect").stdout
    assert out.count("adopted") == 2, out
    for name, pid in pids.items():
        meta = tsm.meta(name)
        assert meta["pid"] == pid and meta["status"] == "online"
        assert psutil.Process(meta["supervisor_pid"]).is_running()
    # exactly one copy of each command runs
    for name in expected:
        cmd = tsm.meta(name)["command"]
        copies = [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == cmd]
        assert len(copies) == 1, (name, copies)
    # the adopted process is supervised for real: a kill is noticed and restarted
    os.kill(pids["worker"], signal.SIGKILL)
    wait_for(lambda: tsm.meta("worker")["status"] == "online" and tsm.meta("worker")["pid"] != pids["worker"])
    # and resurrect again is a no-op
    again = tsm("resurrect").stdout
    assert again.count("already running") == 2


def test_startup_systemd_prints_a_user_unit(tsm):
    unit = tsm("startup", "systemd").stdout
    assert "[Service]" in unit and "tsm resurrect" in unit and "WantedBy=default.target" in unit
    assert str(tsm.dir) in unit

"""`tsm start` reports "started" only for a process that stays up (a port
accepting, or START_SETTLE seconds without one), and a failed start fits in its
--timeout, leaving the process errored with nothing running."""

from __future__ import annotations

import re

import psutil
from tsm_helpers import PY

FATAL = "import sys; print('fatal: bad config', file=sys.stderr); sys.exit(3)"


def _running(marker: str) -> list[int]:
    return [p.pid for p in psutil.process_iter(["cmdline", "status"])
            if marker in " ".join(p.info["cmdline"] or [])
            and p.info["status"] != psutil.STATUS_ZOMBIE]


def test_a_process_that_exits_at_once_is_not_started(tsm):
    """The audit's case: with the default policy it is restarted while starting,
    then the start fails saying how it exited and what it printed; it is left
    errored, not crash-looping."""
    result = tsm("start", "--name", "f1", "--timeout", "2", "--", PY, "-c", FATAL, check=False)
    assert result.returncode == 1, result.stdout
    assert result.stdout == ""
    first, *rest = result.stderr.splitlines()
    assert re.fullmatch(r"tetra: line 1: tsm start: f1 did not start: crashed: it exited \d+ "
                        r"times? while starting \(last: exited with status 3\)", first), first
    assert rest[0] == "last lines of stderr:"
    assert set(rest[1:-1]) == {"  fatal: bad config"}
    meta = tsm.meta("f1")
    assert (meta["status"], meta["pid"]) == ("errored", None)
    assert tsm.ls()["f1"]["status"] == "errored"


def test_with_restart_no_the_first_exit_fails_the_start_with_the_stderr_tail(tsm):
    code = "import sys\nfor i in range(30): print('oops', i, file=sys.stderr)\nsys.exit(2)"
    result = tsm("start", "--name", "dies", "--restart", "no", "--", PY, "-c", code, check=False)
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "tetra: line 1: tsm start: dies did not start: crashed: exited with status 2"
    assert lines[1:12] == ["last lines of stderr:", *(f"  oops {i}" for i in range(20, 30))]
    assert tsm.meta("dies")["status"] == "crashed"


def test_a_process_that_stays_up_is_started(tsm):
    out = tsm("start", "--name", "stays", "--", "sleep", "120.61").stdout
    meta = tsm.meta("stays")
    assert out == f"started stays (id 0, pid {meta['pid']})\n"
    assert meta["status"] == "online" and _running("sleep 120.61") == [meta["pid"]]


def test_a_failed_start_ends_a_process_that_ignores_sigterm_within_its_timeout(tsm, port):
    """Never accepting on its port, ignoring SIGTERM: the start gives up before
    its timeout to keep time for the SIGKILL, which comes when the timeout
    does (the grace is a fifth of a 1 s timeout), and leaves it errored."""
    code = ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "time.sleep(120.62)\n")
    result = tsm("start", "--name", "deaf", "--port", str(port), "--timeout", "1", "--",
                 PY, "-c", code, check=False)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == (
        f"tetra: line 1: tsm start: deaf-{port} did not start: not accepting connections on "
        f"port {port} after 1s")
    assert _running("time.sleep(120.62)") == []
    meta = tsm.meta(f"deaf-{port}")
    assert (meta["status"], meta["pid"], meta["exit_code"]) == ("errored", None, -9)
    log = (tsm.processes / f"deaf-{port}" / ".supervisor.log").read_text()
    grace = float(re.search(r"SIGKILL was due ([0-9.]+)s after SIGTERM", log).group(1))
    assert grace <= 0.2  # 1 s timeout: the last fifth is the clean-up's

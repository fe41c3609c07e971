"""The process-level ways a run ends: its reader goes away (`tetra … | head`)
or it is sent SIGTERM.  Either way the running command ends with it."""

from __future__ import annotations

import signal
import subprocess

import psutil

from tetra_testing import TETRA, wait_for


def _sleepers(marker: str) -> list[psutil.Process]:
    return [p for p in psutil.process_iter(["cmdline"]) if p.info["cmdline"] == ["sleep", marker]]


def test_a_reader_that_goes_away_ends_the_run_quietly_with_141(tetra_env):
    """As `yes | head`: no 'Broken pipe' message, the command stops, exit 141."""
    proc = subprocess.Popen([TETRA, "-c", '@local sh -c "yes"; echo after'], env=tetra_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "y\n"
    proc.stdout.close()  # the reader goes away
    assert proc.wait(timeout=30) == 141
    assert proc.stderr.read() == ""
    proc.stderr.close()


def test_sigterm_ends_the_running_command_and_the_run_with_143(tetra_env):
    marker = "31.87"
    proc = subprocess.Popen([TETRA, "-c", f"@local sleep {marker}; echo never"], env=tetra_env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _sleepers(marker))
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 143
    assert "never" not in out and "terminated (SIGTERM)" in err and "Traceback" not in err
    wait_for(lambda: not _sleepers(marker))  # not left behind


def test_sigterm_during_txn_exec_ends_the_transaction_fail_and_frees_the_lease(
        tetra, tetra_env, tetra_dir):
    marker = "31.89"
    assert tetra("-c", 'txn new "held" @local; txn resolve').returncode == 0
    proc = subprocess.Popen([TETRA, "-c", f"txn exec -- sleep {marker}"], env=tetra_env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: _sleepers(marker))
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 143
    wait_for(lambda: not _sleepers(marker))
    import json

    [listing] = json.loads(tetra("txn", "ls", "--json").stdout)
    assert listing["stage"] == "FAIL"
    assert not list((tetra_dir / "locks").glob("*.lock"))

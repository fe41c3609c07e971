"""Who carries a transaction on (SPEC 6.4): ``txn fail`` never ends one whose
command another live process still runs, or whose leases it holds (no two
holders ever); one whose holder died shows as ``interrupted``, whether or
not a step was open, and ``txn resume`` / ``txn fail`` end it."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess

import pexpect
import pytest
from tetra_testing import TETRA, kill_tree, wait_for
from ttm_helpers import all_ids, events, state, txn_dir

PROMPT = "▸"
CPR_REQUEST = re.escape("\x1b[6n")
FAIL_HINT = "  hint: Ctrl-C it there (or 'txn fail' it in that process), or wait for it to finish"


def expect(child: pexpect.spawn, pattern: str) -> None:
    """``child.expect(pattern)``, answering prompt_toolkit's cursor-position requests."""
    while child.expect([CPR_REQUEST, pattern]) == 0:
        child.send("\x1b[1;1R")


def shell(tetra_env) -> pexpect.spawn:
    child = pexpect.spawn(TETRA, [], env={**tetra_env, "TERM": "xterm"}, encoding="utf-8",
                          dimensions=(24, 120), timeout=30)
    expect(child, PROMPT)
    return child


def type_line(child: pexpect.spawn, line: str, then: str) -> None:
    """Type ``line``, wait for its output ``then`` and the next prompt."""
    child.send(line + "\r")
    expect(child, then)
    expect(child, PROMPT)


def to_execute(child: pexpect.spawn, description: str) -> None:
    type_line(child, f'txn new "{description}" @local', rf"{description}-\d{{8}}T\d{{6}}")
    type_line(child, "txn resolve", "ASSEMBLE")
    type_line(child, "txn exec -- printf 'r%s\\n' an-it", "ran-it")  # output, not the echo


def files(tetra_dir, txn_id) -> tuple[bytes, bytes]:
    d = txn_dir(tetra_dir, txn_id)
    return (d / "events.ndjson").read_bytes(), (d / "state.json").read_bytes()


def lease(tetra_dir) -> dict:
    return json.loads((tetra_dir / "locks" / "local.lock").read_text())


def ls_row(tetra, txn_id) -> dict:
    return next(r for r in json.loads(tetra("txn", "ls", "--json").stdout) if r["id"] == txn_id)


def test_txn_fail_refuses_while_another_process_runs_the_command(tetra, tetra_env, tetra_dir):
    assert tetra("-c", 'txn new "long" @local; txn resolve').returncode == 0
    [txn_id] = all_ids(tetra_dir)
    child = subprocess.Popen([TETRA, "-c", "txn exec -- sleep 60"], env=tetra_env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        wait_for(lambda: any(e["type"] == "exec_started" for e in events(tetra_dir, txn_id)), 30)
        before = files(tetra_dir, txn_id)
        r = tetra("txn", "fail", txn_id, "changed my mind")
        assert r.returncode == 1
        assert r.stderr.splitlines() == [
            f"tetra: line 1: {txn_id}: is still running (pid {child.pid} on {socket.gethostname()} "
            "runs its step execute:1)", FAIL_HINT]
        assert files(tetra_dir, txn_id) == before
        assert (lease(tetra_dir)["txn"], lease(tetra_dir)["pid"]) == (txn_id, child.pid)
        assert ls_row(tetra, txn_id)["display_stage"] == "EXECUTE"
        # so no third transaction gets the host while the command runs
        r = tetra("-c", 'txn new "third" @local; txn resolve; txn exec -- true')
        assert r.returncode == 1
        assert f"tetra: line 1: @local is locked by {txn_id} (pid {child.pid} on " in r.stderr
        r = tetra("txn", "resume", txn_id)
        assert r.returncode == 1
        assert r.stderr.splitlines()[0].startswith(f"tetra: line 1: {txn_id}: is still running (")
        assert files(tetra_dir, txn_id) == before
    finally:
        kill_tree(child.pid)
        child.wait(timeout=10)
    assert ls_row(tetra, txn_id)["display_stage"] == "interrupted"
    r = tetra("txn", "fail", txn_id, "gave up")
    assert r.returncode == 0, r.stderr
    s = state(tetra_dir, txn_id)
    assert (s["stage"], s["error"], s["locks"], s["open_steps"]) == ("FAIL", "gave up", {}, {})
    assert not (tetra_dir / "locks" / "local.lock").exists()
    assert tetra("txn", "verify", txn_id).returncode == 0


def test_txn_fail_refuses_while_a_live_shell_holds_the_leases_and_the_shell_itself_may(
        tetra, tetra_env, tetra_dir):
    child = shell(tetra_env)
    try:
        to_execute(child, "held")
        [txn_id] = all_ids(tetra_dir)
        assert state(tetra_dir, txn_id)["open_steps"] == {}  # nothing runs: the shell holds it
        before = files(tetra_dir, txn_id)
        r = tetra("txn", "fail", txn_id, "from elsewhere")
        assert r.returncode == 1
        assert r.stderr.splitlines() == [
            f"tetra: line 1: {txn_id}: is still running (pid {child.pid} on "
            f"{socket.gethostname()} holds its lease on local)", FAIL_HINT]
        assert files(tetra_dir, txn_id) == before
        assert ls_row(tetra, txn_id)["display_stage"] == "EXECUTE"
        type_line(child, 'txn fail "done here"', f"{txn_id}: FAIL \\(done here\\)")
        child.send("\x04")
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            child.terminate(force=True)
    s = state(tetra_dir, txn_id)
    assert (s["stage"], s["error"], s["locks"]) == ("FAIL", "done here", {})
    assert not (tetra_dir / "locks" / "local.lock").exists()


@pytest.mark.parametrize("end", ["resume", "fail"])
def test_a_shell_killed_after_exec_returned_shows_its_dead_holder_and_ends_cleanly(
        tetra, tetra_env, tetra_dir, end):
    """No step was open when it died: it is idle at EXECUTE, as between two
    `tetra -c` steps; txn status says its lease holder is dead; resume or fail end it."""
    child = shell(tetra_env)
    try:
        to_execute(child, "k9")
        pid = child.pid
        os.kill(pid, signal.SIGKILL)
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            child.terminate(force=True)
        child.close()
    [txn_id] = all_ids(tetra_dir)
    s = state(tetra_dir, txn_id)
    assert (s["stage"], s["open_steps"], list(s["locks"])) == ("EXECUTE", {}, ["local"])

    [header, line] = tetra("txn", "ls").stdout.splitlines()
    assert line.split()[:4] == [txn_id, "ttm", "EXECUTE", "@local"]
    status = tetra("txn", "status", txn_id).stdout.splitlines()
    assert "  stage     EXECUTE" in status
    assert (f"  leases    local (pid {pid} on {socket.gethostname()}; holder pid {pid} is dead)"
            in status)

    if end == "resume":
        r = tetra("-c", f"txn resume {txn_id}; txn validate {txn_id} -- true; txn commit {txn_id}")
        assert r.returncode == 0, r.stderr
        assert r.stdout.splitlines()[0] == f"{txn_id}: resumed at EXECUTE"
        assert state(tetra_dir, txn_id)["stage"] == "DONE"
    else:
        r = tetra("txn", "fail", txn_id, "shell died")
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == f"{txn_id}: FAIL (shell died)"
        assert (state(tetra_dir, txn_id)["stage"], state(tetra_dir, txn_id)["locks"]) == ("FAIL", {})
    assert not (tetra_dir / "locks" / "local.lock").exists()
    assert tetra("txn", "verify", txn_id).returncode == 0


def test_a_lease_broken_by_another_transaction_leaves_the_first_interrupted(tetra, tetra_dir):
    r = tetra("-c", 'txn new "first" @local; txn resolve; txn exec -- true')
    assert r.returncode == 0, r.stderr
    [first] = all_ids(tetra_dir)
    r = tetra("-c", 'txn new "second" @local; txn resolve; txn exec -- true')
    assert r.returncode == 0, r.stderr  # the first's holder exited: its lease was broken
    [second] = [i for i in all_ids(tetra_dir) if i != first]
    assert ls_row(tetra, first)["display_stage"] == "interrupted"
    status = tetra("txn", "status", first).stdout.splitlines()
    assert f"  leases    local (broken: now held by {second})" in status


def test_a_transaction_before_execute_holds_nothing_and_is_not_interrupted(tetra, tetra_dir):
    r = tetra("-c", 'txn new "a" @local; txn resolve; txn new "b" @local')
    assert r.returncode == 0, r.stderr
    stages = {r["description"]: r["display_stage"] for r in json.loads(tetra("txn", "ls", "--json").stdout)}
    assert stages == {"a": "ASSEMBLE", "b": "NEW"}
    assert json.loads(tetra("txn", "ls", "--stage", "interrupted", "--json").stdout) == []

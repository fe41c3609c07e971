"""Transactions in the interactive shell (SPEC 6.5): background jobs and Ctrl-D."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time

import pexpect
from tetra_testing import TETRA, kill_tree
from ttm_helpers import all_ids, state

PROMPT = "▸"
CPR_REQUEST = re.escape("\x1b[6n")


def expect(child: pexpect.spawn, pattern: str) -> None:
    """``child.expect(pattern)``, answering prompt_toolkit's cursor-position requests."""
    while child.expect([CPR_REQUEST, pattern]) == 0:
        child.send("\x1b[1;1R")


def test_second_ctrl_d_cancels_a_job_waiting_for_a_lease_and_ends_it_fail(tetra_env, tetra_dir):
    holder = subprocess.Popen([TETRA, "-c", 'txn new "holder" @local; txn resolve; '
                               "txn exec -- sleep 60"], env=tetra_env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    child = None
    try:
        lock = tetra_dir / "locks/local.lock"
        deadline = time.monotonic() + 30
        while not lock.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        holder_id = json.loads(lock.read_text())["txn"]
        child = pexpect.spawn(TETRA, [], env={**tetra_env, "TERM": "xterm"}, encoding="utf-8",
                              dimensions=(24, 100), timeout=30)
        expect(child, PROMPT)
        child.send('txn new "waiter" @local\r')
        expect(child, PROMPT)
        child.send("txn resolve\r")
        expect(child, "ASSEMBLE")
        expect(child, PROMPT)
        child.send("txn exec --wait -- true &\r")  # waits for the holder, in the background
        expect(child, r"\[1\] started")
        expect(child, PROMPT)
        time.sleep(0.5)
        child.send("\x04")
        expect(child, "Ctrl-D again")
        started = time.monotonic()
        child.send("\x04")
        child.expect(pexpect.EOF)
        child.close()
        assert time.monotonic() - started < 10  # the wait ended; it did not run out a grace
        assert child.exitstatus == 0
    finally:
        if child is not None and child.isalive():
            child.terminate(force=True)
        kill_tree(holder.pid)
        holder.wait()
    [waiter] = [i for i in all_ids(tetra_dir) if i != holder_id]
    s = state(tetra_dir, waiter)
    assert (s["stage"], s["error"], s["locks"]) == ("FAIL", "cancelled", {})
    assert os.path.exists(tetra_dir / "locks/local.lock")  # the holder's, untouched
    assert json.loads((tetra_dir / "locks/local.lock").read_text())["txn"] == holder_id

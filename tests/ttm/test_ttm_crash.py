"""Crash safety (SPEC 6.2, 6.4): a child running a transaction dies at many
points (``TETRA_CRASH_AT``, which ``os._exit``s like SIGKILL, and a real
SIGKILL); afterwards state.json parses, ``txn verify`` passes (after
``txn rebuild`` for a torn append, which verify must report), ``txn rebuild``
reproduces it, and ``txn resume`` or ``txn fail`` ends it."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tetra_testing import TETRA, kill_tree
from ttm_helpers import all_ids, events, state, txn_dir

FLOW = ('txn new "crash me" @local; txn ctx {art}; txn resolve; txn exec -- true; '
        'txn validate -- true; txn commit')

# The flow makes 9 writes (versions); these points cover every one of them
# (after the append, before state.json) and others across all stages.
# test_the_flow_makes_the_writes_the_points_assume keeps this honest.
WRITES = 9
POINTS = ([f"append.after@{n}" for n in range(1, WRITES + 1)]
          + [f"state.after@{n}" for n in (2, 5, 8, WRITES)]
          + [f"append.before@{n}" for n in (3, 6, WRITES)]
          + [f"append.torn@{n}" for n in (2, 6, WRITES)]
          + ["lease.written"])


def test_the_flow_makes_the_writes_the_points_assume(tetra, tetra_dir, tmp_path):
    art = tmp_path / "a.txt"
    art.write_text("artifact")
    assert tetra("-c", FLOW.format(art=art)).returncode == 0
    [txn_id] = all_ids(tetra_dir)
    assert state(tetra_dir, txn_id)["version"] == WRITES


@pytest.mark.parametrize("point", POINTS)
def test_a_crash_at_any_point_leaves_a_recoverable_transaction(tetra, tetra_dir, tmp_path, point):
    art = tmp_path / "a.txt"
    art.write_text("artifact")
    r = tetra("-c", FLOW.format(art=art), env={"TETRA_CRASH_AT": point})
    assert r.returncode == 137, (point, r.stderr)
    [txn_id] = all_ids(tetra_dir)
    d = txn_dir(tetra_dir, txn_id)
    if (d / "state.json").exists():
        json.loads((d / "state.json").read_text())  # never torn
    verify = tetra("txn", "verify", txn_id)
    if point.startswith("append.torn"):
        assert verify.returncode == 1 and "truncated" in verify.stdout + verify.stderr
    else:
        assert verify.returncode == 0, verify.stdout + verify.stderr
    assert tetra("txn", "rebuild", txn_id).returncode == 0
    rebuilt = (d / "state.json").read_bytes()
    assert tetra("txn", "verify", txn_id).returncode == 0
    from tetra_repl.ttm import log
    assert log.render(log.replay(events(tetra_dir, txn_id))) == rebuilt
    if point.startswith("append.torn"):  # the old version: no part of the torn write is kept
        assert json.loads(rebuilt)["version"] == int(point.split("@")[1]) - 1

    s = state(tetra_dir, txn_id)
    if s["stage"] not in ("DONE", "FAIL"):
        r = tetra("-c", f"txn resume {txn_id}; txn fail {txn_id} 'crashed at {point}'")
        assert r.returncode == 0, r.stderr
        assert state(tetra_dir, txn_id)["stage"] == "FAIL"
    assert tetra("txn", "verify", txn_id).returncode == 0
    assert not list((tetra_dir / "locks").glob("*.lock"))  # no lease left behind


def test_sigkill_mid_exec_shows_interrupted_and_resume_then_fail_ends_it(tetra, tetra_env, tetra_dir):
    assert tetra("-c", 'txn new "long" @local; txn resolve').returncode == 0
    [txn_id] = all_ids(tetra_dir)
    child = subprocess.Popen([TETRA, "-c", "txn exec -- sleep 60"], env=tetra_env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        _wait_for(lambda: any(e["type"] == "exec_started" for e in events(tetra_dir, txn_id)))
        kill_tree(child.pid)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            kill_tree(child.pid)
    rows = json.loads(tetra("txn", "ls", "--json").stdout)
    assert rows[0]["display_stage"] == "interrupted"
    assert "interrupted" in tetra("txn", "ls").stdout
    assert tetra("txn", "verify", txn_id).returncode == 0

    r = tetra("txn", "resume", txn_id)
    assert r.returncode == 0, r.stderr
    assert "execute:1" in r.stdout  # names the step that did not finish
    s = state(tetra_dir, txn_id)
    assert s["stage"] == "EXECUTE" and not s["open_steps"] and "local" in s["locks"]
    r = tetra("-c", f"txn exec {txn_id} -- true; txn validate -- true; txn commit")
    assert r.returncode == 0, r.stderr
    assert state(tetra_dir, txn_id)["stage"] == "DONE"


def _wait_for(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition never became true"
        time.sleep(0.05)


def test_a_log_that_ends_inside_a_write_is_an_unacknowledged_append(tetra, tetra_dir, tmp_path):
    """A write of several events is whole or absent: cut after its first line
    (no torn bytes at all), the log is reported, and rebuild drops the rest of
    that write, back to the version before it."""
    art = tmp_path / "a.txt"
    art.write_text("artifact")
    assert tetra("-c", FLOW.format(art=art)).returncode == 0
    [txn_id] = all_ids(tetra_dir)
    log_file = txn_dir(tetra_dir, txn_id) / "events.ndjson"
    lines = log_file.read_bytes().splitlines(keepends=True)
    evs = [json.loads(line) for line in lines]
    # the resolve write: several events of one version
    version = next(e["version"] for e in evs if e["type"] == "tes_plan")
    first = next(i for i, e in enumerate(evs) if e["version"] == version)
    assert evs[first]["more"] > 0
    log_file.write_bytes(b"".join(lines[:first + 1]))
    verify = tetra("txn", "verify", txn_id)
    assert verify.returncode == 1 and "ends inside a write" in verify.stdout + verify.stderr
    assert tetra("-c", f"txn fail {txn_id} 'x'").returncode == 1  # never silently accepted
    assert tetra("txn", "rebuild", txn_id).returncode == 0
    s = state(tetra_dir, txn_id)
    assert s["version"] == version - 1 and s["tes_plan"] is None
    assert tetra("txn", "verify", txn_id).returncode == 0

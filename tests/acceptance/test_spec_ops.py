"""Acceptance tests for SPEC.md sections 6 (Transactions), 8 (Services) and the
parts of 10 (bad input and faults) that concern them.

Written from the specification alone: every test runs the real ``tetra`` entry
point in a subprocess against a temporary TETRA_DIR, with real processes and
real ports on 127.0.0.1.  Every process a test starts is killed at the end of
the test, even when it fails.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psutil
import pytest
from tetra_testing import TETRA, kill_tree, reap_tsm, wait_for

PY = sys.executable
STAGES = ("NEW", "SELECT", "ASSEMBLE", "EXECUTE", "VALIDATE", "DONE", "FAIL")
ID_RE = r"[a-z0-9][a-z0-9-]*-\d{8}T\d{6}(?:-\d+)?"


# --------------------------------------------------------------------------- helpers


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def alive(pid) -> bool:
    try:
        proc = psutil.Process(int(pid))
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, TypeError, ValueError):
        return False


def no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


def ok(result: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert result.returncode == 0, f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    no_traceback(result)
    return result


def failed(result: subprocess.CompletedProcess, code: int | None = None) -> str:
    """A clean failure: non-zero (or ``code``), no traceback; returns the whole output."""
    if code is None:
        assert result.returncode != 0, f"expected failure\n{result.stdout}\n{result.stderr}"
    else:
        assert result.returncode == code, f"rc={result.returncode}\n{result.stdout}\n{result.stderr}"
    no_traceback(result)
    return result.stdout + result.stderr


@pytest.fixture(autouse=True)
def _reap(tetra_dir):
    """Whatever a test started (tsm supervisors and children, tetra processes,
    sleeps) dies with the test."""
    yield
    reap_tsm(tetra_dir)


def popen(env: dict, *argv: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([TETRA, *argv], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kw)


# --------------------------------------------------------------------------- 6. transactions


class Txn:
    def __init__(self, tetra, tetra_dir: Path, tmp_path: Path):
        self.tetra = tetra
        self.dir = tetra_dir
        self.txns = tetra_dir / "ttm" / "txns"
        self.tmp = tmp_path

    def __call__(self, *words: str, **kw):
        return self.tetra("txn", *words, **kw)

    def new(self, description: str = "deploy api", target: str | None = "@local", *extra) -> str:
        argv = ["new", description] + ([target] if target else []) + list(extra)
        out = ok(self(*argv)).stdout
        match = re.search(ID_RE, out)
        assert match, out
        return match.group(0)

    def state(self, txn_id: str) -> dict:
        return json.loads((self.txns / txn_id / "state.json").read_text())

    def events(self, txn_id: str) -> list[dict]:
        text = (self.txns / txn_id / "events.ndjson").read_text()
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    def types(self, txn_id: str) -> list[str]:
        return [e["type"] for e in self.events(txn_id)]

    def snapshot(self, txn_id: str) -> tuple[bytes, bytes]:
        d = self.txns / txn_id
        return (d / "state.json").read_bytes(), (d / "events.ndjson").read_bytes()

    def evidence_file(self, name: str = "notes.txt", text: str = "hello evidence\n") -> Path:
        path = self.tmp / name
        path.write_text(text)
        return path

    def to_assemble(self, description: str = "deploy api", target: str = "@local") -> str:
        txn_id = self.new(description, target)
        ok(self("ctx", str(self.evidence_file(f"{txn_id}.txt")), txn_id))
        ok(self("resolve", txn_id))
        return txn_id


@pytest.fixture
def txn(tetra, tetra_dir, tmp_path):
    return Txn(tetra, tetra_dir, tmp_path)


def parse_ts(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    assert value.utcoffset() == timedelta(0), text
    return value


def test_txn_new_layout_state_and_first_event(txn):
    before = datetime.now(UTC)
    txn_id = txn.new("deploy api", "@local", "--actor", "ana")
    assert re.fullmatch(r"deploy-api-\d{8}T\d{6}(-\d+)?", txn_id), txn_id
    folder = txn.txns / txn_id
    assert folder.is_dir()
    assert (folder / "state.json").is_file() and (folder / "events.ndjson").is_file()
    assert (folder / "ctx").is_dir()
    # the active symlink points at the new transaction
    active = txn.txns / "active"
    assert active.is_symlink()
    assert Path(os.readlink(active)).name == txn_id

    state = txn.state(txn_id)
    for key in ("id", "module", "description", "target", "actor", "stage", "version",
                "created_at", "updated_at", "evidence", "tes_plan", "error", "duration_s"):
        assert key in state, key
    assert state["id"] == txn_id
    assert state["module"] == "ttm"
    assert state["description"] == "deploy api"
    assert "local" in str(state["target"])
    assert state["actor"] == "ana"
    assert state["stage"] == "NEW"
    assert state["evidence"] == []
    assert isinstance(state["version"], int)
    created = parse_ts(state["created_at"])
    assert before - timedelta(seconds=5) <= created <= datetime.now(UTC) + timedelta(seconds=5)

    events = txn.events(txn_id)
    assert events[0]["type"] == "txn_start"
    for event in events:
        assert set(event) >= {"seq", "ts", "type", "stage", "actor", "data"}
        parse_ts(event["ts"])
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))


def test_txn_event_actor_is_user_at_host_pid(txn):
    txn_id = txn.new("actor check")
    actor = txn.events(txn_id)[0]["actor"]
    assert re.fullmatch(r"[^@\s]+@[^:\s]+:\d+", actor), actor


def test_txn_ids_in_the_same_second_get_suffixes(txn, tetra):
    out = ok(tetra("-c", 'txn new "same" @local; txn new "same" @local; txn new "same" @local')).stdout
    ids = re.findall(ID_RE, out)
    assert len(ids) == 3 and len(set(ids)) == 3, out
    by_stamp: dict[str, list[str]] = {}
    for txn_id in ids:
        stamp = re.search(r"\d{8}T\d{6}", txn_id).group(0)
        by_stamp.setdefault(stamp, []).append(txn_id)
    for stamp, group in by_stamp.items():
        base = f"same-{stamp}"
        assert group[0] == base
        assert group[1:] == [f"{base}-{n}" for n in range(2, len(group) + 1)]
    for txn_id in ids:
        assert (txn.txns / txn_id / "state.json").is_file()


def test_txn_full_lifecycle_to_done(txn, tmp_path):
    txn_id = txn.new("rotate logs", "@local")
    evidence = txn.evidence_file("plan.md", "# plan\n")
    ok(txn("ctx", str(evidence), "--kind", "plan"))
    assert txn.state(txn_id)["stage"] == "SELECT"
    ok(txn("resolve"))
    state = txn.state(txn_id)
    assert state["stage"] == "ASSEMBLE"
    assert state["tes_plan"]
    json.dumps(state["tes_plan"])  # plain data
    assert txn.types(txn_id).count("tes_resolved") == 8
    marker = tmp_path / "ran"
    result = ok(txn("exec", "--", "sh", "-c", f"echo executed-ok; touch {marker}"))
    assert "executed-ok" in result.stdout
    assert marker.exists()
    assert txn.state(txn_id)["stage"] == "EXECUTE"
    ok(txn("validate", "--", "true"))
    assert txn.state(txn_id)["stage"] == "VALIDATE"
    ok(txn("commit"))
    state = txn.state(txn_id)
    assert state["stage"] == "DONE"
    assert isinstance(state["duration_s"], (int, float)) and state["duration_s"] >= 0
    types = txn.types(txn_id)
    for expected in ("txn_start", "evidence_added", "tes_resolved", "lock_acquired",
                     "exec_started", "exec_finished", "validate_passed", "lock_released",
                     "txn_commit"):
        assert expected in types, (expected, types)
    assert types.index("lock_acquired") < types.index("exec_started")
    assert types.index("lock_released") > types.index("validate_passed")
    stages_seen = []
    for event in txn.events(txn_id):
        if not stages_seen or stages_seen[-1] != event["stage"]:
            stages_seen.append(event["stage"])
    assert stages_seen == ["NEW", "SELECT", "ASSEMBLE", "EXECUTE", "VALIDATE", "DONE"], stages_seen
    assert txn.events(txn_id)[-1]["stage"] == "DONE"
    events = txn.events(txn_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    # the lock is released: no lease left naming this transaction
    for lock in (txn.dir / "locks").glob("*.lock"):
        assert txn_id not in lock.read_text()


def test_txn_version_increases_with_every_write(txn):
    txn_id = txn.new("versions")
    versions = [txn.state(txn_id)["version"]]
    ok(txn("ctx", str(txn.evidence_file())))
    versions.append(txn.state(txn_id)["version"])
    ok(txn("resolve"))
    versions.append(txn.state(txn_id)["version"])
    ok(txn("fail", txn_id, "enough"))
    versions.append(txn.state(txn_id)["version"])
    assert versions == sorted(versions) and len(set(versions)) == len(versions), versions
    created, updated = txn.state(txn_id)["created_at"], txn.state(txn_id)["updated_at"]
    assert parse_ts(updated) >= parse_ts(created)


def test_txn_evidence_files_and_variables(txn, tetra):
    first = txn.evidence_file("build.log", "line one\nline two\n")
    second = txn.evidence_file("notes.md", "# notes\n")
    script = (f'txn new "evidence" @local; txn ctx {first} --kind log; '
              f'txn ctx {second} --kind notes; echo $e1 $e2')
    out = ok(tetra("-c", script)).stdout
    txn_id = re.search(ID_RE, out).group(0)
    folder = txn.txns / txn_id / "ctx"
    e1, e2 = out.strip().splitlines()[-1].split()
    assert Path(e1) == (folder / "100_log.log") or Path(e1).name == "100_log.log", e1
    assert Path(e2).name == "110_notes.md", e2
    assert Path(e1).read_text() == first.read_text()
    assert Path(e2).read_text() == second.read_text()
    # system context lives in 000-099
    for name in os.listdir(folder):
        if not name.startswith(("100_", "110_")):
            assert int(name[:3]) < 100, name
    state = txn.state(txn_id)
    assert state["stage"] == "SELECT"
    rows = state["evidence"]
    assert [r["n"] for r in rows] == [1, 2]
    assert [r["kind"] for r in rows] == ["log", "notes"]
    assert rows[0]["sha256"] == hashlib.sha256(first.read_bytes()).hexdigest()
    assert rows[1]["bytes"] == len(second.read_bytes())
    assert Path(rows[0]["file"]).name == "100_log.log"
    assert txn.types(txn_id).count("evidence_added") == 2
    # the active transaction lives on disk: a new process sees the same $e1
    again = ok(tetra("-c", "echo $e1")).stdout.strip()
    assert again == e1
    # $e3 does not exist: an error, not an empty string
    failed(tetra("-c", "echo $e3"))


def test_txn_system_context_files(txn):
    txn_id = txn.new("ctx files")
    folder = txn.txns / txn_id / "ctx"
    assert (folder / "000_policy.md").is_file()
    assert (folder / "010_request.md").is_file()


def test_txn_illegal_transitions_are_refused_and_write_nothing(txn):
    txn_id = txn.new("illegal")
    snap = txn.snapshot(txn_id)
    for words in (["commit", txn_id], ["validate", txn_id, "--", "true"],
                  ["exec", txn_id, "--", "true"]):
        out = failed(txn(*words))
        assert len(out.strip().splitlines()) <= 3, out
        assert txn.snapshot(txn_id) == snap, words
    ok(txn("ctx", str(txn.evidence_file()), txn_id))
    snap = txn.snapshot(txn_id)
    for words in (["commit", txn_id], ["validate", txn_id, "--", "true"],
                  ["exec", txn_id, "--", "true"]):
        failed(txn(*words))
        assert txn.snapshot(txn_id) == snap, words
    ok(txn("fail", txn_id, "stop here"))
    state = txn.state(txn_id)
    assert state["stage"] == "FAIL"
    assert "stop here" in str(state["error"])
    assert "txn_fail" in txn.types(txn_id)
    snap = txn.snapshot(txn_id)
    # FAIL is terminal
    for words in (["fail", txn_id, "again"], ["commit", txn_id], ["ctx", str(txn.evidence_file()), txn_id]):
        failed(txn(*words))
        assert txn.snapshot(txn_id) == snap, words


def test_txn_resolve_from_new_walks_through_select(txn):
    """README deviation: `txn resolve` on a NEW transaction makes the two legal
    moves NEW → SELECT → ASSEMBLE (an empty SELECT); no stage is skipped."""
    txn_id = txn.new("no evidence")
    ok(txn("resolve", txn_id))
    moves = [(e["data"]["from"], e["data"]["to"]) for e in txn.events(txn_id)
             if e["type"] == "stage_changed"]
    assert moves == [("NEW", "SELECT"), ("SELECT", "ASSEMBLE")]


def test_txn_done_is_terminal(txn):
    txn_id = txn.to_assemble("terminal")
    ok(txn("exec", txn_id, "--", "true"))
    ok(txn("validate", txn_id, "--", "true"))
    ok(txn("commit", txn_id))
    snap = txn.snapshot(txn_id)
    for words in (["fail", txn_id, "late"], ["commit", txn_id], ["exec", txn_id, "--", "true"]):
        failed(txn(*words))
        assert txn.snapshot(txn_id) == snap, words


def test_txn_validate_nonzero_ends_fail(txn):
    txn_id = txn.to_assemble("bad validate")
    ok(txn("exec", txn_id, "--", "true"))
    failed(txn("validate", txn_id, "--", "sh", "-c", "exit 3"))
    state = txn.state(txn_id)
    assert state["stage"] == "FAIL"
    assert state["error"]
    types = txn.types(txn_id)
    assert "validate_failed" in types and "txn_fail" in types
    assert "lock_released" in types


def test_txn_exec_failure_is_a_failed_command(txn):
    txn_id = txn.to_assemble("bad exec")
    result = txn("exec", txn_id, "--", "sh", "-c", "echo out-line; exit 4")
    failed(result)
    assert "out-line" in result.stdout
    assert "exec_finished" in txn.types(txn_id)


def test_txn_ls_newest_first_and_filters(txn):
    first = txn.new("one")
    ok(txn("fail", first, "x"))
    time.sleep(1.05)
    second = txn.new("two")
    time.sleep(1.05)
    third = txn.new("three")
    rows = json.loads(ok(txn("ls", "--json")).stdout)
    ids = [r["id"] for r in rows]
    assert ids.index(third) < ids.index(second) < ids.index(first)
    text = ok(txn("ls")).stdout
    assert text.index(third) < text.index(second) < text.index(first)
    failed_rows = json.loads(ok(txn("ls", "--stage", "FAIL", "--json")).stdout)
    assert [r["id"] for r in failed_rows] == [first]
    assert failed_rows[0]["stage"] == "FAIL"
    assert {r["id"] for r in json.loads(ok(txn("ls", "--module", "ttm", "--json")).stdout)} == {
        first, second, third}
    assert json.loads(ok(txn("ls", "--module", "deploy", "--json")).stdout) == []


def test_txn_status_show_active(txn, tetra):
    first = txn.new("first one")
    second = txn.to_assemble("second one")
    status = ok(txn("status")).stdout
    assert second in status and "ASSEMBLE" in status and "local" in status
    shown = json.loads(ok(txn("show", "--json")).stdout)
    assert shown["id"] == second and shown["stage"] == "ASSEMBLE"
    assert shown == txn.state(second) or shown["version"] == txn.state(second)["version"]
    assert second in ok(txn("active")).stdout
    ok(txn("active", first))
    assert Path(os.readlink(txn.txns / "active")).name == first
    assert first in ok(txn("active")).stdout
    assert json.loads(ok(txn("show", "--json")).stdout)["id"] == first
    assert "ASSEMBLE" in ok(txn("status", second)).stdout
    human = ok(txn("show", second)).stdout
    assert second in human


def test_txn_show_at_replays_to_time(txn):
    txn_id = txn.new("time travel")
    start_ts = txn.events(txn_id)[0]["ts"]
    time.sleep(1.1)
    ok(txn("ctx", str(txn.evidence_file()), txn_id))
    ok(txn("resolve", txn_id))
    past = json.loads(ok(txn("show", txn_id, "--json", "--at", start_ts)).stdout)
    assert past["stage"] == "NEW"
    assert past["evidence"] == []
    now = json.loads(ok(txn("show", txn_id, "--json")).stdout)
    assert now["stage"] == "ASSEMBLE"


def test_txn_events_lists_the_log(txn):
    txn_id = txn.to_assemble("events")
    out = ok(txn("events", txn_id)).stdout
    for kind in ("txn_start", "evidence_added", "tes_resolved", "stage_changed"):
        assert kind in out


def test_txn_events_follow_shows_new_events_live(txn, tetra_env):
    txn_id = txn.to_assemble("follow")
    ok(txn("exec", txn_id, "--", "true"))
    ok(txn("validate", txn_id, "--", "true"))
    follower = popen(tetra_env, "txn", "events", txn_id, "-f")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(follower.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lambda: any("validate_passed" in line for line in list(lines)), timeout=10)
        assert not any("txn_commit" in line for line in list(lines))
        ok(txn("commit", txn_id))
        wait_for(lambda: any("txn_commit" in line for line in list(lines)), timeout=10)
    finally:
        if follower.poll() is None:
            follower.kill()
        follower.wait(timeout=10)


def test_txn_rebuild_recomputes_state_from_events(txn):
    txn_id = txn.to_assemble("rebuild me")
    ok(txn("exec", txn_id, "--", "true"))
    ok(txn("validate", txn_id, "--", "true"))
    ok(txn("commit", txn_id))
    path = txn.txns / txn_id / "state.json"
    original = path.read_bytes()
    ok(txn("verify", txn_id))
    path.unlink()
    ok(txn("rebuild", txn_id))
    assert path.read_bytes() == original
    # a torn state.json is also recomputed
    path.write_bytes(original[: len(original) // 2])
    ok(txn("rebuild", txn_id))
    assert path.read_bytes() == original
    ok(txn("verify", txn_id))


def test_txn_verify_detects_tampered_evidence(txn):
    txn_id = txn.new("verify")
    ok(txn("ctx", str(txn.evidence_file("e.txt", "original\n")), "--kind", "text", txn_id))
    ok(txn("verify", txn_id))
    evidence = Path(txn.state(txn_id)["evidence"][0]["file"])
    if not evidence.is_absolute():
        evidence = txn.txns / txn_id / evidence
    evidence.write_text("tampered\n")
    failed(txn("verify", txn_id))


def test_txn_unknown_id_and_missing_file_are_clean_errors(txn):
    failed(txn("status", "nope-20200101T000000"))
    txn_id = txn.new("missing file")
    snap = txn.snapshot(txn_id)
    failed(txn("ctx", str(txn.tmp / "does-not-exist.txt"), txn_id))
    assert txn.snapshot(txn_id) == snap


def test_txn_new_on_an_unknown_target_is_refused(txn):
    out = failed(txn("new", "nowhere", "@nosuch"))
    assert "@nosuch" in out
    assert len(out.strip().splitlines()) <= 3, out
    assert not list(txn.txns.glob("nowhere-*"))


def _exec_started(txn, txn_id):
    return lambda: "exec_started" in txn.types(txn_id)


def test_txn_exec_interrupted_by_ctrl_c(txn, tetra_env, tmp_path):
    txn_id = txn.to_assemble("interrupt me")
    pidfile = tmp_path / "child.pid"
    proc = popen(tetra_env, "txn", "exec", txn_id, "--", "sh", "-c", f"echo $$ > {pidfile}; exec sleep 60")
    try:
        wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), timeout=15)
        child = int(pidfile.read_text())
        proc.send_signal(signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
        assert proc.returncode == 130, err
        assert "Traceback" not in err
        wait_for(lambda: not alive(child), timeout=10)  # the command ended too
    finally:
        kill_tree(proc.pid)
    state = txn.state(txn_id)  # valid JSON, a legal stage
    assert state["stage"] in STAGES
    events = txn.events(txn_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    ok(txn("verify", txn_id))


def test_txn_second_transaction_on_locked_host_fails_fast(txn, tetra_env):
    holder = txn.to_assemble("holder")
    other = txn.to_assemble("other")
    proc = popen(tetra_env, "txn", "exec", holder, "--", "sleep", "30")
    try:
        wait_for(_exec_started(txn, holder), timeout=15)
        locks = list((txn.dir / "locks").glob("*.lock"))
        assert locks, "no lease file under DIR/locks"
        assert any(holder in lock.read_text() for lock in locks)
        snap_stage = txn.state(other)["stage"]
        out = failed(txn("exec", other, "--", "true"))
        assert proc.poll() is None  # failed fast: the holder still ran
        assert f"@local is locked by {holder}" in out, out
        assert re.search(r"\(pid \d+ on \S+ since .+\)", out), out
        assert txn.state(other)["stage"] == snap_stage
    finally:
        kill_tree(proc.pid)
        proc.wait(timeout=10)


def test_txn_lock_wait_takes_the_lease_when_released(txn, tetra_env):
    holder = txn.to_assemble("holder")
    other = txn.to_assemble("waiter")
    proc = popen(tetra_env, "txn", "exec", holder, "--", "sleep", "2")
    try:
        wait_for(_exec_started(txn, holder), timeout=15)
        started = time.monotonic()
        ok(txn("exec", "--wait=30", other, "--", "true"))
        assert txn.state(other)["stage"] == "EXECUTE"
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - started > 0.5
    finally:
        kill_tree(proc.pid)
        proc.wait(timeout=10)


def test_txn_lock_wait_with_seconds_gives_up(txn, tetra_env):
    holder = txn.to_assemble("holder")
    other = txn.to_assemble("impatient")
    proc = popen(tetra_env, "txn", "exec", holder, "--", "sleep", "30")
    try:
        wait_for(_exec_started(txn, holder), timeout=15)
        started = time.monotonic()
        out = failed(txn("exec", "--wait=1", other, "--", "true"))
        elapsed = time.monotonic() - started
        assert elapsed > 0.8, elapsed  # it waited its second
        assert proc.poll() is None  # and gave up while the holder still ran
        assert "locked" in out
    finally:
        kill_tree(proc.pid)
        proc.wait(timeout=10)


def test_txn_lease_is_atomic_across_processes(txn, tetra_env):
    a = txn.to_assemble("racer a")
    b = txn.to_assemble("racer b")
    procs = [popen(tetra_env, "txn", "exec", t, "--", "sleep", "3") for t in (a, b)]
    try:
        results = [p.communicate(timeout=30) for p in procs]
        codes = sorted(p.returncode for p in procs)
        assert codes[0] == 0 and codes[1] != 0, (codes, results)
        loser_out = "".join(results[[p.returncode for p in procs].index(codes[1])])
        assert "locked" in loser_out
    finally:
        for p in procs:
            kill_tree(p.pid)


def test_txn_killed_holder_is_interrupted_lease_broken_and_can_fail(txn, tetra_env):
    victim = txn.to_assemble("victim")
    proc = popen(tetra_env, "txn", "exec", victim, "--", "sleep", "60")
    try:
        wait_for(_exec_started(txn, victim), timeout=15)
    finally:
        kill_tree(proc.pid)
        proc.wait(timeout=10)
    # state stays valid
    state = txn.state(victim)
    assert state["stage"] == "EXECUTE"
    txn.events(victim)
    listing = ok(txn("ls")).stdout
    line = next(line for line in listing.splitlines() if victim in line)
    assert "interrupted" in line, listing
    interrupted = json.loads(ok(txn("ls", "--stage", "interrupted", "--json")).stdout)
    assert [r["id"] for r in interrupted] == [victim]
    # a dead holder's lease is broken by the next transaction
    other = txn.to_assemble("next")
    ok(txn("exec", other, "--", "true"))
    all_types = txn.types(victim) + txn.types(other)
    assert "lock_broken" in all_types
    ok(txn("fail", victim, "operator gave up"))
    assert txn.state(victim)["stage"] == "FAIL"


def test_txn_resume_does_not_redo_completed_steps(txn, tetra_env, tmp_path):
    txn_id = txn.to_assemble("resumable")
    counter = tmp_path / "exec-count"
    ok(txn("exec", txn_id, "--", "sh", "-c", f"echo run >> {counter}"))
    gate = tmp_path / "validate-gate"
    validate = f"if [ -e {gate} ]; then exit 0; fi; touch {gate}; sleep 60"
    proc = popen(tetra_env, "txn", "validate", txn_id, "--", "sh", "-c", validate)
    try:
        wait_for(lambda: gate.exists(), timeout=15)
    finally:
        kill_tree(proc.pid)
        proc.wait(timeout=10)
    result = txn("resume", txn_id, timeout=30)
    ok(result)
    assert counter.read_text().count("run") == 1  # EXECUTE was not redone
    if txn.state(txn_id)["stage"] == "VALIDATE":
        ok(txn("commit", txn_id))
    state = txn.state(txn_id)
    assert state["stage"] == "DONE"
    ok(txn("verify", txn_id))


def test_txn_resume_of_interrupted_exec(txn, tetra_env, tmp_path):
    txn_id = txn.to_assemble("resume exec")
    gate = tmp_path / "exec-gate"
    command = f"if [ -e {gate} ]; then echo second-run; exit 0; fi; touch {gate}; sleep 60"
    proc = popen(tetra_env, "txn", "exec", txn_id, "--", "sh", "-c", command)
    try:
        wait_for(lambda: gate.exists(), timeout=15)
    finally:
        kill_tree(proc.pid)
        proc.wait(timeout=10)
    ok(txn("resume", txn_id, timeout=30))
    ok(txn("validate", txn_id, "--", "true"))
    ok(txn("commit", txn_id))
    assert txn.state(txn_id)["stage"] == "DONE"


def test_runner_background_statement_jobs_and_wait(tetra, txn, tmp_path):
    order = tmp_path / "order"
    script = "\n".join([
        'txn new "bg" @local',
        "txn resolve",
        "txn exec -- sleep 1 &",
        "jobs",
        "wait",
        f"@local sh -c 'sleep 0.5; echo a >> {order}' &",
        f"@local sh -c 'echo b >> {order}' &",
        "wait",
    ])
    started = time.monotonic()
    result = ok(tetra("-c", script))
    assert time.monotonic() - started >= 1.0
    assert "txn exec -- sleep 1" in result.stdout  # listed by jobs
    txn_id = re.search(ID_RE, result.stdout).group(0)
    assert txn.state(txn_id)["stage"] == "EXECUTE"  # wait waited for it
    assert "exec_finished" in txn.types(txn_id)
    # order of submission is kept per target
    assert order.read_text().split() == ["a", "b"]


# --------------------------------------------------------------------------- 8. services


class Tsm:
    def __init__(self, tetra, tetra_dir: Path):
        self.tetra = tetra
        self.dir = tetra_dir
        self.processes = tetra_dir / "tsm" / "runtime" / "processes"

    def __call__(self, *words: str, check: bool = True, timeout: float = 60, cwd=None):
        result = self.tetra("tsm", *words, timeout=timeout, cwd=cwd)
        if check:
            ok(result)
        return result

    def meta(self, name: str) -> dict:
        return json.loads((self.processes / name / "meta.json").read_text())

    def ls(self, *extra: str) -> dict[str, dict]:
        return {row["name"]: row for row in json.loads(self("ls", "--json", *extra).stdout)}

    def names(self) -> set[str]:
        return {p.name for p in self.processes.iterdir()} if self.processes.exists() else set()


@pytest.fixture
def tsm(tetra, tetra_dir):
    return Tsm(tetra, tetra_dir)


SLEEPER = [PY, "-c", "import time; print('up', flush=True); time.sleep(300)"]

APP = r'''
import os, socket, sys, time, threading
ports = set()
if os.environ.get("PORT"):
    ports.add(int(os.environ["PORT"]))
for arg in sys.argv[1:]:
    if arg.startswith(("PORT=", "listen=")):
        ports.add(int(arg.split("=", 1)[1]))
delay = float(os.environ.get("APP_DELAY", "0"))
time.sleep(delay)
print("secret=" + os.environ.get("SECRET", "-"), flush=True)
socks = []
for port in ports:
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    socks.append(s)
    threading.Thread(target=lambda s=s: [s.accept()[0].close() for _ in iter(int, 1)], daemon=True).start()
time.sleep(300)
'''


def write_app(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    app = folder / "app.py"
    app.write_text(APP)
    return app


def test_tsm_start_http_server_layout_and_meta(tsm, tmp_path):
    port = free_port()
    cwd = tmp_path / "my-api"
    cwd.mkdir()
    result = tsm("start", "--", PY, "-m", "http.server", str(port), "--bind", "127.0.0.1", cwd=cwd)
    assert accepts(port), "tsm start returned before the port accepted connections"
    name = f"my-api-http-{port}"
    assert name in result.stdout + result.stderr or name in tsm.names()
    folder = tsm.processes / name
    meta = tsm.meta(name)
    for key in ("tsm_id", "name", "pid", "command", "port", "cwd", "interpreter", "process_type",
                "env_file", "prehook", "start_time", "status", "restarts", "unstable_restarts",
                "restart_policy"):
        assert key in meta, key
    assert meta["name"] == name
    assert meta["port"] == port
    assert meta["status"] == "online"
    assert Path(meta["cwd"]) == cwd
    assert "http.server" in json.dumps(meta["command"])
    assert isinstance(meta["tsm_id"], int)
    assert meta["restarts"] == 0
    assert alive(meta["pid"])
    assert int((folder / f"{name}.pid").read_text().strip()) == meta["pid"]
    assert (folder / "current.out").exists() and (folder / "current.err").exists()
    ports = (tsm.dir / "tsm" / "ports").read_text().splitlines()
    assert f"{name}:{port}" in ports
    # the process runs detached in its own session
    assert os.getsid(meta["pid"]) != os.getsid(0)
    # ls --json fields
    row = tsm.ls()[name]
    for key in ("id", "name", "pid", "port", "status", "cpu", "mem", "uptime", "restarts"):
        assert key in row, key
    assert row["id"] == meta["tsm_id"] and row["pid"] == meta["pid"] and row["port"] == port
    assert row["status"] == "online"
    # ports and describe
    assert name in tsm("ports").stdout and str(port) in tsm("ports").stdout
    described = tsm("describe", name).stdout
    assert name in described and str(meta["pid"]) in described


def test_tsm_spec_example_name_flag_after_command(tsm, tmp_path):
    port = free_port()
    tsm("start", "python3", "-m", "http.server", str(port), "--name", "web", cwd=tmp_path)
    assert f"web-{port}" in tsm.names()
    assert tsm.meta(f"web-{port}")["port"] == port
    assert wait_for(lambda: accepts(port), timeout=5)


def test_tsm_name_flag_with_port(tsm, tmp_path):
    port = free_port()
    tsm("start", "--name", "web", "--", PY, "-m", "http.server", str(port), "--bind", "127.0.0.1",
        cwd=tmp_path)
    assert tsm.names() == {f"web-{port}"}
    assert accepts(port)


def test_tsm_name_from_cwd_and_script(tsm, tmp_path):
    port = free_port()
    backend = tmp_path / "backend"
    write_app(backend)
    tsm("start", "--", PY, "app.py", f"PORT={port}", cwd=backend)
    assert tsm.names() == {f"backend-app-{port}"}
    assert tsm.meta(f"backend-app-{port}")["port"] == port


@pytest.mark.skipif(not shutil.which("node"), reason="node is not installed")
def test_tsm_name_spec_node_example(tsm, tmp_path):
    port = free_port()
    backend = tmp_path / "backend"
    backend.mkdir()
    (backend / "app.js").write_text(
        "require('http').createServer((q, r) => r.end('ok'))"
        ".listen(parseInt(process.argv[2]), '127.0.0.1');\n")
    tsm("start", "node", "app.js", str(port), cwd=backend)
    assert tsm.names() == {f"backend-app-{port}"}
    assert accepts(port)


@pytest.mark.parametrize("form", ["after --", "before the command"])
def test_tsm_port_from_a_port_assignment_in_the_command(tsm, tmp_path, form):
    port = free_port()
    backend = tmp_path / "backend"
    write_app(backend)
    words = ["--", f"PORT={port}", PY, "app.py"] if form == "after --" else \
        [f"PORT={port}", PY, "app.py"]
    tsm("start", *words, cwd=backend)
    assert tsm.names() == {f"backend-app-{port}"}
    assert accepts(port)


def test_tsm_port_discovery_order(tsm, tmp_path):
    app = write_app(tmp_path / "svc")
    p_flag, p_env, p_cmd = free_port(), free_port(), free_port()
    while len({p_flag, p_env, p_cmd}) < 3:
        p_cmd = free_port()
    env_file = tmp_path / "svc.env"
    env_file.write_text(f"PORT={p_env}\nSECRET=hunter2-secret\n")

    # --port beats the env file and the command
    tsm("start", "--name", "a", "--port", str(p_flag), "--env", str(env_file), "--",
        PY, str(app), f"listen={p_flag}", f"PORT={p_cmd}")
    assert tsm.meta(f"a-{p_flag}")["port"] == p_flag
    tsm("stop", "all")

    # the env file beats PORT= in the command
    tsm("start", "--name", "b", "--env", str(env_file), "--", PY, str(app), f"PORT={p_cmd}")
    meta = tsm.meta(f"b-{p_env}")
    assert meta["port"] == p_env
    assert accepts(p_env)
    # environment values never land in meta.json; the env file path does
    raw = (tsm.processes / f"b-{p_env}" / "meta.json").read_text()
    assert "hunter2-secret" not in raw
    assert Path(meta["env_file"]).resolve() == env_file.resolve()
    # ...but the process gets them
    out_file = tsm.processes / f"b-{p_env}" / "current.out"
    wait_for(lambda: "secret=hunter2-secret" in out_file.read_text(), timeout=5)
    tsm("stop", "all")

    # PORT= in the command
    tsm("start", "--name", "c", "--", PY, str(app), f"PORT={p_cmd}")
    assert tsm.meta(f"c-{p_cmd}")["port"] == p_cmd

    # no port at all
    tsm("start", "--name", "d", "--", *SLEEPER)
    meta = tsm.meta("d")
    assert meta["port"] in (None, 0, "")
    assert not any(line.startswith("d:") for line in
                   (tsm.dir / "tsm" / "ports").read_text().splitlines())


def test_tsm_start_waits_until_port_accepts(tsm, tmp_path):
    port = free_port()
    app = write_app(tmp_path / "slow")
    env_file = tmp_path / "slow.env"
    env_file.write_text("APP_DELAY=1.5\n")
    tsm("start", "--name", "slow", "--env", str(env_file), "--", PY, str(app), f"PORT={port}")
    assert accepts(port)


def test_tsm_port_conflict_names_the_holder(tsm, tmp_path):
    port = free_port()
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", port))
        holder.listen(1)
        result = tsm("start", "--name", "clash", "--", PY, "-m", "http.server", str(port),
                     "--bind", "127.0.0.1", check=False, timeout=60)
        out = failed(result)
        assert str(os.getpid()) in out, out
        assert "python" in out.lower() or "pytest" in out.lower()
    for meta_file in tsm.processes.glob("*/meta.json"):
        json.loads(meta_file.read_text())  # stays valid


def test_tsm_failing_start_shows_last_stderr_lines(tsm, tmp_path):
    code = ("import sys\n"
            "for i in range(20): print(f'err-{i:02d}', file=sys.stderr)\n"
            "sys.exit(3)\n")
    # With a port, "started" means accepting connections, so a process that
    # exits at once can never pass for started (without one: running 0.5 s).
    port = free_port()
    out = failed(tsm("start", "--name", "broken", "--port", str(port), "--restart", "no", "--",
                     PY, "-c", code, check=False))
    assert "err-19" in out and "err-10" in out
    assert "err-09" not in out
    for meta_file in tsm.processes.glob("*/meta.json"):
        assert json.loads(meta_file.read_text())["status"] != "online"


def test_tsm_stop_kills_the_group_and_removes_pid_file(tsm, tmp_path):
    script = "sleep 300 & sleep 301 & wait"
    tsm("start", "--name", "group", "--", "sh", "-c", script, cwd=tmp_path)
    meta = tsm.meta("group")
    parent = psutil.Process(meta["pid"])
    children = wait_for(lambda: parent.children(recursive=True) if len(
        parent.children(recursive=True)) >= 2 else None, timeout=5)
    tsm("stop", "group")
    assert not alive(meta["pid"])
    for child in children:
        assert not alive(child.pid)
    meta = tsm.meta("group")
    assert meta["status"] == "stopped"
    assert not (tsm.processes / "group" / "group.pid").exists()
    assert tsm.ls("--all")["group"]["status"] == "stopped"


def test_tsm_stop_sigkills_a_process_that_ignores_sigterm(tsm, tmp_path):
    code = ("import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
            "print('ready', flush=True)\ntime.sleep(300)\n")
    tsm("start", "--name", "stubborn", "--", PY, "-c", code)
    pid = tsm.meta("stubborn")["pid"]
    out_file = tsm.processes / "stubborn" / "current.out"
    wait_for(lambda: "ready" in out_file.read_text(), timeout=5)
    started = time.monotonic()
    tsm("stop", "stubborn", timeout=30)
    elapsed = time.monotonic() - started
    assert not alive(pid)
    assert elapsed > 3, elapsed  # the SIGTERM grace, then SIGKILL
    assert tsm.meta("stubborn")["status"] == "stopped"


def test_tsm_restart_gives_a_new_pid_and_port_accepts(tsm, tmp_path):
    port = free_port()
    tsm("start", "--name", "web", "--", PY, "-m", "http.server", str(port), "--bind", "127.0.0.1",
        cwd=tmp_path)
    name = f"web-{port}"
    before = tsm.meta(name)
    tsm("restart", name)
    after = tsm.meta(name)
    assert after["pid"] != before["pid"]
    assert not alive(before["pid"])
    assert alive(after["pid"]) and after["status"] == "online"
    assert after["tsm_id"] == before["tsm_id"]
    assert accepts(port)


def test_tsm_resolve_by_id_name_prefix_and_ambiguity(tsm):
    for name in ("alpha", "alpine", "beta", "web", "web2"):
        tsm("start", "--name", name, "--", *SLEEPER)
    assert tsm.names() == {"alpha", "alpine", "beta", "web", "web2"}
    rows = tsm.ls()
    # ambiguous prefix: lists the candidates and does nothing
    out = failed(tsm("stop", "al", check=False))
    assert "alpha" in out and "alpine" in out
    rows_after = tsm.ls()
    assert rows_after["alpha"]["status"] == "online" and rows_after["alpine"]["status"] == "online"
    assert rows_after["alpha"]["pid"] == rows["alpha"]["pid"]
    # unique prefix
    tsm("stop", "alph")
    assert tsm.meta("alpha")["status"] == "stopped"
    assert tsm.meta("alpine")["status"] == "online"
    # numeric id
    tsm("stop", str(rows["beta"]["id"]))
    assert tsm.meta("beta")["status"] == "stopped"
    # exact name wins over a prefix of another name
    tsm("stop", "web")
    assert tsm.meta("web")["status"] == "stopped"
    assert tsm.meta("web2")["status"] == "online"
    # restart by name
    tsm("restart", "alpha")
    assert tsm.meta("alpha")["status"] == "online"
    # all
    tsm("stop", "all")
    for row in tsm.ls("--all").values():
        assert row["status"] == "stopped"
        assert not alive(rows[row["name"]]["pid"])
    all_rows = tsm.ls("--all")
    assert set(all_rows) == {"alpha", "alpine", "beta", "web", "web2"}
    tsm("delete", "all")
    assert tsm.ls("--all") == {}


def test_tsm_unknown_process_is_a_clean_error(tsm):
    for verb in ("stop", "restart", "delete", "describe", "logs"):
        out = failed(tsm(verb, "nosuch", check=False))
        assert "nosuch" in out


def test_tsm_bad_restart_policy_is_a_usage_error(tsm):
    out = failed(tsm("start", "--restart", "sometimes", "--", *SLEEPER, check=False), code=2)
    assert "restart" in out
    assert tsm.names() == set()


def test_tsm_ids_lowest_unused_and_delete(tsm):
    port = free_port()
    tsm("start", "--name", "a", "--", *SLEEPER)
    tsm("start", "--name", "b", "--", PY, "-m", "http.server", str(port), "--bind", "127.0.0.1")
    tsm("start", "--name", "c", "--", *SLEEPER)
    rows = tsm.ls()
    b = f"b-{port}"
    ids = [rows["a"]["id"], rows[b]["id"], rows["c"]["id"]]
    assert len(set(ids)) == 3 and ids == sorted(ids)
    pid = rows[b]["pid"]
    tsm("delete", b)
    assert not alive(pid)
    assert b not in tsm.ls("--all")
    assert not (tsm.processes / b).exists() or b not in tsm.names()
    assert f"{b}:{port}" not in (tsm.dir / "tsm" / "ports").read_text().splitlines()
    tsm("start", "--name", "d", "--", *SLEEPER)
    assert tsm.ls()["d"]["id"] == ids[1]


def test_tsm_concurrent_starts_get_distinct_ids(tsm, tetra_env):
    procs = [subprocess.Popen([TETRA, "tsm", "start", "--name", f"p{i}", "--", *SLEEPER],
                              env=tetra_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for i in range(10)]
    for p in procs:
        _out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
    rows = tsm.ls()
    assert len(rows) == 10
    ids = [row["id"] for row in rows.values()]
    assert len(set(ids)) == 10
    assert sorted(ids) == list(range(min(ids), min(ids) + 10))


def test_tsm_cwd_flag(tsm, tmp_path):
    work = tmp_path / "workdir"
    work.mkdir()
    tsm("start", "--name", "w", "--cwd", str(work), "--", *SLEEPER)
    meta = tsm.meta("w")
    assert Path(meta["cwd"]).resolve() == work.resolve()
    assert Path(psutil.Process(meta["pid"]).cwd()).resolve() == work.resolve()


def test_tsm_logs_lines_err_and_follow(tsm, tetra_env):
    code = ("import sys, time\n"
            "for i in range(1, 21): print(f'out-{i:02d}')\n"
            "for i in range(1, 6): print(f'bad-{i:02d}', file=sys.stderr)\n"
            "sys.stdout.flush(); sys.stderr.flush()\n"
            "n = 0\n"
            "while True:\n"
            "    time.sleep(0.3); n += 1; print(f'tick-{n}', flush=True)\n")
    tsm("start", "--name", "talker", "--", PY, "-c", code)
    out_file = tsm.processes / "talker" / "current.out"
    wait_for(lambda: "tick-1" in out_file.read_text(), timeout=5)
    # --lines N: the last N lines
    out = tsm("logs", "talker", "--lines", "30").stdout
    assert "out-20" in out and "out-05" in out
    text = tsm("logs", "talker", "--lines", "2").stdout
    assert "out-01" not in text
    assert len(text.splitlines()) == 2, text
    err = tsm("logs", "talker", "--err").stdout
    assert "bad-05" in err and "out-01" not in err
    follower = popen(tetra_env, "tsm", "logs", "talker", "-f")
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(follower.stdout), daemon=True).start()
    try:
        wait_for(lambda: any(line.startswith("tick-") for line in list(lines)), timeout=10)
        first = max(int(line.strip()[5:]) for line in list(lines) if line.startswith("tick-"))
        wait_for(lambda: any(line.strip() == f"tick-{first + 2}" for line in list(lines)),
                 timeout=10)
    finally:
        follower.kill()
        follower.wait(timeout=10)


def test_tsm_log_rotation_loses_and_duplicates_nothing(tsm):
    count = 120_000  # ~12 MB: past the 10 MB default
    code = ("import sys, time\n"
            f"for i in range({count}): sys.stdout.write(f'{{i:08d}} ' + 'x' * 90 + '\\n')\n"
            "sys.stdout.write('END\\n'); sys.stdout.flush(); time.sleep(300)\n")
    tsm("start", "--name", "chatty", "--", PY, "-c", code)
    folder = tsm.processes / "chatty"
    wait_for(lambda: "END" in (folder / "current.out").read_text()[-10:], timeout=60)
    assert (folder / "current.out.1").exists()
    numbers = []
    for path in sorted(folder.glob("current.out.*"), reverse=True) + [folder / "current.out"]:
        for line in path.read_text().splitlines():
            if line != "END":
                numbers.append(int(line.split()[0]))
    assert numbers == list(range(count))


def test_tsm_restart_policy_always_restarts_after_a_crash(tsm):
    tsm("start", "--name", "phoenix", "--restart", "always", "--", *SLEEPER)
    first = tsm.meta("phoenix")["pid"]
    os.kill(first, signal.SIGKILL)
    meta = wait_for(lambda: (m := tsm.meta("phoenix"))["pid"] != first and alive(m["pid"])
                    and m["status"] == "online" and m, timeout=20)
    assert meta["restarts"] >= 1
    assert tsm.ls()["phoenix"]["restarts"] >= 1


def test_tsm_restart_policy_no_leaves_it_down(tsm):
    tsm("start", "--name", "once", "--restart", "no", "--", *SLEEPER)
    first = tsm.meta("once")["pid"]
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: tsm.meta("once")["status"] != "online", timeout=10)
    time.sleep(1.0)
    meta = tsm.meta("once")
    assert meta["status"] in ("crashed", "stopped", "errored")
    assert meta["pid"] in (first, None) or not alive(meta["pid"])
    assert meta["restarts"] == 0


def test_tsm_restart_policy_on_failure(tsm, tmp_path):
    code = "import time, sys; time.sleep(1.5); sys.exit(0)"
    tsm("start", "--name", "clean", "--restart", "on-failure", "--", PY, "-c", code)
    first = tsm.meta("clean")["pid"]
    wait_for(lambda: tsm.meta("clean")["status"] != "online", timeout=15)
    time.sleep(1.0)
    meta = tsm.meta("clean")
    assert meta["restarts"] == 0 and meta["status"] != "online"
    assert not alive(first)
    # a failure is restarted
    tsm("start", "--name", "dirty", "--restart", "on-failure", "--", *SLEEPER)
    pid = tsm.meta("dirty")["pid"]
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: (m := tsm.meta("dirty"))["pid"] != pid and m["status"] == "online"
             and alive(m["pid"]), timeout=20)


def test_tsm_unstable_restarts_end_errored(tsm, tmp_path):
    marker = tmp_path / "started-once"
    code = ("import os, sys, time\n"
            f"m = {str(marker)!r}\n"
            "if os.path.exists(m): sys.exit(1)\n"
            "open(m, 'w').close(); print('first', flush=True); time.sleep(300)\n")
    tsm("start", "--name", "flaky", "--restart", "always", "--max-restarts", "2", "--", PY, "-c", code)
    wait_for(marker.exists, timeout=10)  # "alive" is the exec; wait for its first run's marker
    os.kill(tsm.meta("flaky")["pid"], signal.SIGKILL)
    meta = wait_for(lambda: (m := tsm.meta("flaky"))["status"] == "errored" and m, timeout=40)
    assert meta["unstable_restarts"] >= 1
    assert meta["restart_policy"] is not None


def test_tsm_services_and_start_service(tsm, tmp_path):
    port = free_port()
    services = tsm.dir / "tsm" / "services"
    services.mkdir(parents=True)
    (services / "api.toml").write_text(
        f'command = "{PY} -m http.server {port} --bind 127.0.0.1"\nport = {port}\n')
    listing = tsm("services").stdout
    assert "api" in listing
    tsm("start", "api")
    assert accepts(port)
    ls = tsm.ls()
    assert len(ls) == 1
    (name,) = ls
    assert name.startswith("api")
    assert ls[name]["port"] == port


def test_tsm_save_and_resurrect_after_everything_died(tsm, tmp_path):
    port = free_port()
    tsm("start", "--name", "web", "--", PY, "-m", "http.server", str(port), "--bind", "127.0.0.1",
        cwd=tmp_path)
    tsm("start", "--name", "worker", "--", *SLEEPER)
    tsm("save")
    dump = json.loads((tsm.dir / "tsm" / "dump.json").read_text())
    assert f"web-{port}" in json.dumps(dump) and "worker" in json.dumps(dump)
    old = {n: m["pid"] for n, m in ((n, tsm.meta(n)) for n in (f"web-{port}", "worker"))}
    # a reboot: every supervisor and child dies at once
    for pid in old.values():
        proc = psutil.Process(pid)
        for p in [proc.parent(), proc]:
            try:
                p.kill()
            except psutil.NoSuchProcess:
                pass
    wait_for(lambda: not accepts(port) and not any(alive(p) for p in old.values()), timeout=10)
    tsm("resurrect")
    assert wait_for(lambda: accepts(port), timeout=10)
    rows = tsm.ls()
    for name in (f"web-{port}", "worker"):
        assert rows[name]["status"] == "online"
        assert alive(rows[name]["pid"]) and rows[name]["pid"] != old[name]


def test_tsm_doctor_reports_and_patrol_repairs(tsm):
    tsm("start", "--name", "ghost", "--", *SLEEPER)
    meta = tsm.meta("ghost")
    child = psutil.Process(meta["pid"])
    supervisor = child.parent()
    supervisor.kill()
    child.kill()
    wait_for(lambda: not alive(meta["pid"]), timeout=5)
    assert tsm.meta("ghost")["status"] == "online"  # nobody left to update it
    report = tsm("doctor", check=False)
    no_traceback(report)
    assert "ghost" in report.stdout + report.stderr
    tsm("patrol")
    after = tsm.meta("ghost")
    assert after["status"] != "online" or alive(after["pid"])
    pid_file = tsm.processes / "ghost" / "ghost.pid"
    assert not pid_file.exists() or alive(int(pid_file.read_text().strip()))
    again = tsm("doctor", check=False)
    assert "ghost" not in again.stdout + again.stderr or again.returncode == 0


def test_tsm_doctor_reports_a_stale_pid_file(tsm):
    tsm("start", "--name", "stale", "--", *SLEEPER)
    tsm("stop", "stale")
    pid_file = tsm.processes / "stale" / "stale.pid"
    dead = subprocess.Popen(["true"])
    dead.wait()
    pid_file.write_text(f"{dead.pid}\n")
    report = tsm("doctor", check=False)
    assert "stale" in report.stdout + report.stderr
    tsm("patrol")
    assert not pid_file.exists()


def test_tsm_startup_systemd_prints_a_user_unit(tsm):
    unit = tsm("startup", "systemd").stdout
    for piece in ("[Unit]", "[Service]", "ExecStart=", "resurrect", "[Install]"):
        assert piece in unit, piece
    assert "default.target" in unit

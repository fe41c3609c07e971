"""The transaction store and state machine (SPEC 6.1–6.3) through the real CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

from tetra_testing import TETRA
from ttm_helpers import all_ids, events, state, txn_dir

FLOW = ('txn new "deploy api" @local; txn ctx {art} --kind artifact; txn resolve; '
        'txn exec -- echo executed; txn validate -- true; txn commit')


def new(tetra, desc="deploy api", target="@local") -> str:
    r = tetra("-c", f'txn new "{desc}" {target}')
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_a_whole_lifecycle_leaves_the_layout_state_and_log_of_the_spec(tetra, tetra_dir, tmp_path):
    art = tmp_path / "api.tar.gz"
    art.write_bytes(b"artifact bytes")
    r = tetra("-c", FLOW.format(art=art) + "; echo $e1; echo $txn")
    assert r.returncode == 0, r.stderr
    txn_id = r.stdout.splitlines()[-1]
    assert re.fullmatch(r"deploy-api-\d{8}T\d{6}", txn_id)
    d = txn_dir(tetra_dir, txn_id)
    assert d.parent == tetra_dir / "ttm" / "txns"
    assert os.readlink(d.parent / "active") == txn_id
    for name in ("ctx/000_policy.md", "ctx/010_request.md", "ctx/100_artifact.tar.gz"):
        assert (d / name).is_file(), name
    assert (d / "build").is_dir() and (d / "artifacts").is_dir()
    assert r.stdout.splitlines()[-2] == str(d / "ctx/100_artifact.tar.gz")
    assert "executed" in r.stdout

    s = state(tetra_dir, txn_id)
    for key in ("id", "module", "description", "target", "actor", "stage", "version", "created_at",
                "updated_at", "evidence", "tes_plan", "error", "duration_s"):
        assert key in s, key
    assert (s["stage"], s["module"], s["target"], s["error"]) == ("DONE", "ttm", "@local", None)
    import hashlib
    assert s["evidence"][0]["sha256"] == hashlib.sha256(b"artifact bytes").hexdigest()
    assert s["evidence"][0]["bytes"] == len(b"artifact bytes")
    assert s["duration_s"] >= 0

    evs = events(tetra_dir, txn_id)
    assert [e["seq"] for e in evs] == list(range(1, len(evs) + 1))
    versions = [e["version"] for e in evs]  # one per write; a batch shares one
    assert versions[0] == 1 and all(b - a in (0, 1) for a, b in zip(versions, versions[1:]))
    assert s["version"] == versions[-1] and s["seq"] == len(evs)
    for e in evs:  # "more": in a write of several events, how many of them follow
        assert set(e) - {"more"} == {"seq", "ts", "type", "stage", "actor", "data", "version"}
        same_write = [x for x in evs if x["version"] == e["version"]]
        assert e.get("more", 0) == (len(same_write) - 1 - same_write.index(e)
                                    if len(same_write) > 1 else 0)
        assert re.fullmatch(r".+@.+:\d+", e["actor"])
    types = [e["type"] for e in evs]
    for t in ("txn_start", "stage_changed", "evidence_added", "tes_resolved", "lock_acquired",
              "exec_started", "exec_finished", "validate_passed", "lock_released", "txn_commit"):
        assert t in types, t
    assert types.count("tes_resolved") == 8
    stages = [e["data"]["to"] for e in evs if e["type"] == "stage_changed"]
    assert stages == ["SELECT", "ASSEMBLE", "EXECUTE", "VALIDATE"]


def test_rebuild_reproduces_state_json_byte_for_byte(tetra, tetra_dir, tmp_path):
    art = tmp_path / "a.txt"
    art.write_text("x")
    r = tetra("-c", FLOW.format(art=art) + "; echo $txn")
    txn_id = r.stdout.splitlines()[-1]
    path = txn_dir(tetra_dir, txn_id) / "state.json"
    before = path.read_bytes()
    path.unlink()
    r = tetra("txn", "rebuild", txn_id)
    assert r.returncode == 0, r.stderr
    assert path.read_bytes() == before
    assert tetra("txn", "verify", txn_id).returncode == 0


def test_an_illegal_transition_is_refused_and_writes_nothing(tetra, tetra_dir):
    txn_id = new(tetra)
    d = txn_dir(tetra_dir, txn_id)
    log_before, state_before = (d / "events.ndjson").read_bytes(), (d / "state.json").read_bytes()
    r = tetra("-c", "txn commit")
    assert r.returncode == 1
    assert "illegal transition NEW → DONE" in r.stderr
    assert "Traceback" not in r.stderr
    r = tetra("-c", "txn exec -- true")
    assert r.returncode == 1 and "illegal transition NEW → EXECUTE" in r.stderr
    assert (d / "events.ndjson").read_bytes() == log_before
    assert (d / "state.json").read_bytes() == state_before


def test_a_terminal_transaction_accepts_nothing_more(tetra, tetra_dir):
    txn_id = new(tetra)
    assert tetra("-c", 'txn fail "changed my mind"').returncode == 0
    s = state(tetra_dir, txn_id)
    assert (s["stage"], s["error"]) == ("FAIL", "changed my mind")
    r = tetra("-c", "txn resolve")
    assert r.returncode == 1 and "terminal" in r.stderr
    assert state(tetra_dir, txn_id)["version"] == s["version"]


def test_ids_collide_in_the_same_second_and_get_suffixes(tetra_dir):
    from tetra_repl.ttm.store import Store

    store = Store(tetra_dir)
    for attempt in range(20):  # until three creations land in one second
        # a new name each attempt: an earlier attempt in the same second
        # would otherwise have taken the suffixes already
        ids = [store.create("ttm", f"same name {attempt}").id for _ in range(3)]
        if len({re.search(r"\d{8}T\d{6}", i).group() for i in ids}) == 1:
            break
    assert ids[1] == ids[0] + "-2" and ids[2] == ids[0] + "-3"
    assert len(set(all_ids(tetra_dir))) == len(all_ids(tetra_dir))


WRITER = textwrap.dedent("""
    import sys, time, pathlib
    from tetra_repl.ttm.store import Store, VersionConflict
    state_dir, txn_id, me, other = sys.argv[1:5]
    txn = Store(state_dir).open(txn_id)
    version = txn.state()["version"]          # read
    pathlib.Path(state_dir, me).touch()       # both have read before either writes
    while not pathlib.Path(state_dir, other).exists():
        time.sleep(0.01)
    try:
        txn.record("note", {"by": me}, expect=version)
        print("wrote")
    except VersionConflict as exc:
        print("conflict:", exc.message)
""")


def test_two_writers_one_gets_a_version_conflict_and_nothing_is_lost(tetra, tetra_dir):
    txn_id = new(tetra)
    before = len(events(tetra_dir, txn_id))
    version = state(tetra_dir, txn_id)["version"]
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tetra_dir), txn_id, me, other],
                              stdout=subprocess.PIPE, text=True)
             for me, other in (("a", "b"), ("b", "a"))]
    outs = sorted(p.communicate(timeout=30)[0].strip() for p in procs)
    assert outs[1] == "wrote", outs
    assert outs[0].startswith("conflict:") and "version conflict" in outs[0]
    evs = events(tetra_dir, txn_id)
    assert len(evs) == before + 1  # exactly the winner's write
    assert state(tetra_dir, txn_id)["version"] == version + 1
    assert tetra("txn", "verify", txn_id).returncode == 0


EVIDENCE_WRITER = textwrap.dedent("""
    import pathlib, sys, time
    from tetra_repl.ttm import store
    state_dir, txn_id, me, src = sys.argv[1:5]
    flag = lambda name: pathlib.Path(state_dir, name)
    def wait_for(name):
        while not flag(name).exists():
            time.sleep(0.01)
    copy = store._copy_hashing
    def copy_in_turn(source, tmp):  # a copies, then b copies; a records first, then b
        if me == "b":
            wait_for("a-copied")
        result = copy(source, tmp)
        flag(me + "-copied").touch()
        wait_for("b-copied" if me == "a" else "a-done")
        return result
    store._copy_hashing = copy_in_turn
    txn = store.Store(state_dir).open(txn_id)
    try:
        txn.add_evidence(src, "build")
        print("wrote")
    except store.VersionConflict as exc:
        print("conflict:", exc.message)
    flag(me + "-done").touch()
""")


def test_two_processes_adding_evidence_at_once_never_leave_a_file_its_sha256_does_not_match(
        tetra, tetra_dir, tmp_path):
    import hashlib

    txn_id = new(tetra)
    sources = {}
    for me in ("a", "b"):
        (tmp_path / me).mkdir()
        sources[me] = tmp_path / me / "app.bin"
        sources[me].write_bytes(me.encode() * 200_000)
    procs = {me: subprocess.Popen([sys.executable, "-c", EVIDENCE_WRITER, str(tetra_dir), txn_id, me,
                                   str(sources[me])], stdout=subprocess.PIPE, text=True)
             for me in ("a", "b")}
    outs = {me: p.communicate(timeout=60)[0].strip() for me, p in procs.items()}
    assert outs["a"] == "wrote" and outs["b"].startswith("conflict:"), outs
    (ev,) = state(tetra_dir, txn_id)["evidence"]
    kept = txn_dir(tetra_dir, txn_id) / ev["file"]
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == ev["sha256"]
    assert kept.read_bytes() == sources["a"].read_bytes()  # the winner's file, untouched
    assert not [p.name for p in kept.parent.iterdir() if p.name.endswith(".tmp")]  # no stray copy
    assert tetra("txn", "verify", txn_id).returncode == 0


def test_a_truncated_last_line_is_detected_reported_and_repaired_by_rebuild(tetra, tetra_dir, tmp_path):
    txn_id = new(tetra)
    art = tmp_path / "a.txt"
    art.write_text("x")
    r = tetra("-c", f"txn ctx {art}", env={"TETRA_CRASH_AT": "append.torn"})
    assert r.returncode == 137
    raw = (txn_dir(tetra_dir, txn_id) / "events.ndjson").read_bytes()
    assert not raw.endswith(b"\n")
    json.loads((txn_dir(tetra_dir, txn_id) / "state.json").read_text())  # still the old version
    r = tetra("txn", "verify", txn_id)
    assert r.returncode == 1
    assert "truncated" in r.stdout + r.stderr
    r = tetra("-c", "txn fail 'x'")
    assert r.returncode == 1 and "truncated" in r.stderr  # never silently accepted
    r = tetra("txn", "rebuild", txn_id)
    assert r.returncode == 0, r.stderr
    assert list(txn_dir(tetra_dir, txn_id).glob("events.ndjson.torn-*"))
    assert tetra("txn", "verify", txn_id).returncode == 0
    assert tetra("-c", "txn fail 'after repair'").returncode == 0


def test_show_at_replays_to_a_point_in_time(tetra, tetra_dir, tmp_path):
    art = tmp_path / "a.txt"
    art.write_text("x")
    r = tetra("-c", FLOW.format(art=art) + "; echo $txn")
    txn_id = r.stdout.splitlines()[-1]
    evs = events(tetra_dir, txn_id)
    at = next(e for e in evs if e["type"] == "evidence_added")["ts"]
    r = tetra("--json", "txn", "show", txn_id, "--at", at)
    assert r.returncode == 0, r.stderr
    s = json.loads(r.stdout)
    assert s["stage"] == "SELECT" and len(s["evidence"]) == 1 and s["tes_plan"] is None
    r = tetra("txn", "show", txn_id, "--json", "--at", "#1")
    assert json.loads(r.stdout)["stage"] == "NEW"
    r = tetra("txn", "show", txn_id, "--at", "yesterday-ish")
    assert r.returncode == 2 and "ISO-8601" in r.stderr


def test_ls_lists_newest_first_and_filters(tetra, tetra_dir):
    first = new(tetra, "first")
    second = new(tetra, "second")
    tetra("-c", 'txn fail "no"')
    r = tetra("txn", "ls", "--json")
    rows = json.loads(r.stdout)
    assert [row["id"] for row in rows] == [second, first]
    r = tetra("txn", "ls", "--stage", "FAIL", "--json")
    assert [row["id"] for row in json.loads(r.stdout)] == [second]
    r = tetra("txn", "ls")
    assert first in r.stdout and "NEW" in r.stdout


def test_active_switches_and_variables_follow_it(tetra, tetra_dir):
    first = new(tetra, "first")
    new(tetra, "second")
    r = tetra("-c", f"txn active {first}; echo $txn")
    assert r.stdout.splitlines()[-1] == first
    r = tetra("-c", "echo $e1")
    assert r.returncode == 2 and "unknown variable $e1" in r.stderr


def test_unknown_transaction_is_a_one_line_error(tetra):
    r = tetra("txn", "status", "nope-20250101T000000")
    assert r.returncode == 1
    assert re.search(r"^tetra: (line 1: )?no transaction 'nope-20250101T000000'$", r.stderr, re.M)
    assert "Traceback" not in r.stderr


def test_events_follow_sees_another_process_finish_the_transaction(tetra, tetra_env, tetra_dir):
    txn_id = new(tetra)
    follower = subprocess.Popen([TETRA, "txn", "events", txn_id, "-f"], env=tetra_env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert tetra("-c", "txn resolve; txn exec -- true; txn validate -- true; txn commit").returncode == 0
        out, err = follower.communicate(timeout=30)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    lines = out.splitlines()
    assert "txn_start" in lines[0] and "txn_commit" in lines[-1]
    assert len(lines) == len(events(tetra_dir, txn_id))


def test_a_stale_or_torn_state_json_is_replayed_from_the_log(tetra, tetra_dir):
    """state.json is written without fsync (a cache of the fsynced log): after a
    power cut it may be old, empty or cut short; readers must not trust it."""
    txn_id = new(tetra)
    d = txn_dir(tetra_dir, txn_id)
    old = (d / "state.json").read_bytes()
    assert tetra("-c", 'txn fail "went wrong"').returncode == 0
    expected = state(tetra_dir, txn_id)
    for damaged in (old, b"", (d / "state.json").read_bytes()[:40]):
        (d / "state.json").write_bytes(damaged)
        r = tetra("txn", "show", txn_id, "--json")
        assert r.returncode == 0, r.stderr
        shown = json.loads(r.stdout)
        assert shown["stage"] == "FAIL" and shown["error"] == "went wrong"
        assert shown["version"] == expected["version"]
        assert tetra("txn", "rebuild", txn_id).returncode == 0
        assert state(tetra_dir, txn_id) == expected

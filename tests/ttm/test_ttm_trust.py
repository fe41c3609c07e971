"""events.ndjson is the source of truth (SPEC 6.1); state.json only a cache of it.

A state.json that was edited is never believed (it carries the log's mtime
only as a writer left it); a log damaged anywhere refuses every writer and
lists as broken; a malformed transaction directory is one row or one line,
never an internal error (SPEC 10)."""

from __future__ import annotations

import json
import os

from ttm_helpers import all_ids, events, state, txn_dir

TO_EXECUTE = 'txn new "s" @local; txn ctx {art}; txn resolve; txn exec -- true'


def to_execute(tetra, tetra_dir, tmp_path) -> str:
    art = tmp_path / "a.tar.gz"
    art.write_bytes(b"artifact")
    r = tetra("-c", TO_EXECUTE.format(art=art))
    assert r.returncode == 0, r.stderr
    [txn_id] = all_ids(tetra_dir)
    return txn_id


def files(d) -> tuple[bytes, bytes]:
    return (d / "events.ndjson").read_bytes(), (d / "state.json").read_bytes()


def edit_state(d, **changes) -> None:
    s = json.loads((d / "state.json").read_text())
    s.update(changes)
    (d / "state.json").write_text(json.dumps(s, indent=2))


def damage_line(d, n: int, text: bytes = b"garbage") -> None:
    path = d / "events.ndjson"
    lines = path.read_bytes().splitlines(keepends=True)
    lines[n - 1] = text + b"\n"
    path.write_bytes(b"".join(lines))


def test_state_json_carries_the_log_s_time_after_every_write_and_rebuild(tetra, tetra_dir, tmp_path):
    txn_id = to_execute(tetra, tetra_dir, tmp_path)
    d = txn_dir(tetra_dir, txn_id)
    assert os.stat(d / "state.json").st_mtime_ns == os.stat(d / "events.ndjson").st_mtime_ns
    assert tetra("-c", "txn validate -- true; txn commit").returncode == 0
    assert os.stat(d / "state.json").st_mtime_ns == os.stat(d / "events.ndjson").st_mtime_ns
    os.utime(d / "state.json", ns=(1, 1))
    r = tetra("txn", "rebuild", txn_id)
    assert r.returncode == 0, r.stderr
    assert os.stat(d / "state.json").st_mtime_ns == os.stat(d / "events.ndjson").st_mtime_ns


def test_a_hand_edited_version_is_not_believed_and_the_next_write_continues_the_log(
        tetra, tetra_dir, tmp_path):
    txn_id = to_execute(tetra, tetra_dir, tmp_path)
    d = txn_dir(tetra_dir, txn_id)
    last, seq = events(tetra_dir, txn_id)[-1]["version"], len(events(tetra_dir, txn_id))
    edit_state(d, version=99)
    r = tetra("txn", "verify", txn_id)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [f"{txn_id}: FAILED ({seq} events, state.json version 99)",
                                     f"  problem: state.json differs from the replay of events 1..{seq}"]
    rows = json.loads(tetra("txn", "ls", "--json").stdout)
    assert rows[0]["stage"] == "EXECUTE"

    r = tetra("txn", "validate", "--", "true")
    assert r.returncode == 0, r.stderr
    new = [e for e in events(tetra_dir, txn_id) if e["version"] > last]
    # its two writes (step started, step done) follow the log's last version, not 99
    assert sorted({e["version"] for e in new}) == [last + 1, last + 2]
    assert state(tetra_dir, txn_id)["version"] == last + 2
    r = tetra("txn", "verify", txn_id)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == (f"{txn_id}: ok ({len(events(tetra_dir, txn_id))} events, "
                                        f"state.json version {last + 2})")


def test_a_stage_edited_to_done_neither_shows_nor_stops_writers(tetra, tetra_dir, tmp_path):
    txn_id = to_execute(tetra, tetra_dir, tmp_path)
    d = txn_dir(tetra_dir, txn_id)
    edit_state(d, stage="DONE")
    assert json.loads(tetra("txn", "show", txn_id, "--json").stdout)["stage"] == "EXECUTE"
    r = tetra("-c", "txn validate -- true; txn commit")
    assert r.returncode == 0, r.stderr
    assert state(tetra_dir, txn_id)["stage"] == "DONE"
    assert tetra("txn", "verify", txn_id).returncode == 0


def test_a_state_json_touched_but_unchanged_costs_a_replay_not_a_wrong_answer(
        tetra, tetra_dir, tmp_path):
    txn_id = to_execute(tetra, tetra_dir, tmp_path)
    d = txn_dir(tetra_dir, txn_id)
    os.utime(d / "state.json", ns=(10**18, 10**18))
    assert json.loads(tetra("txn", "show", txn_id, "--json").stdout) == state(tetra_dir, txn_id)
    assert tetra("txn", "verify", txn_id).returncode == 0
    r = tetra("-c", "txn validate -- true; txn commit")
    assert r.returncode == 0, r.stderr
    assert os.stat(d / "state.json").st_mtime_ns == os.stat(d / "events.ndjson").st_mtime_ns


def test_a_crash_between_the_append_and_state_json_costs_only_a_replay(tetra, tetra_dir, tmp_path):
    """No rebuild needed: readers and the next writer replay the log."""
    art = tmp_path / "a.tar.gz"
    art.write_bytes(b"artifact")
    r = tetra("-c", TO_EXECUTE.format(art=art), env={"TETRA_CRASH_AT": "append.after@4"})
    assert r.returncode == 137
    [txn_id] = all_ids(tetra_dir)
    assert state(tetra_dir, txn_id)["version"] == 3  # one write behind the log
    assert json.loads(tetra("txn", "show", txn_id, "--json").stdout)["version"] == 4
    r = tetra("-c", f"txn fail {txn_id} 'after the crash'")
    assert r.returncode == 0, r.stderr
    s = state(tetra_dir, txn_id)
    assert (s["stage"], s["version"]) == ("FAIL", 5)
    assert tetra("txn", "verify", txn_id).returncode == 0


def test_a_damaged_line_in_the_middle_of_the_log_refuses_every_writer_and_lists_broken(
        tetra, tetra_dir, tmp_path):
    txn_id = to_execute(tetra, tetra_dir, tmp_path)
    d = txn_dir(tetra_dir, txn_id)
    damage_line(d, 3)
    before = files(d)
    line = f"tetra: line 1: {txn_id}: events.ndjson line 3 is not valid JSON"
    hint = (f"  hint: the log was edited or damaged: nothing more is recorded in {txn_id}; "
            f"'txn verify {txn_id}' lists the problems")
    for command in ("txn exec -- true", "txn validate -- true", "txn commit", "txn fail 'x'",
                    f"txn fail {txn_id}", f"txn resume {txn_id}", "txn ctx /etc/hostname"):
        r = tetra("-c", command)
        assert r.returncode == 1, command
        assert r.stderr.splitlines() == [line, hint], command
        assert files(d) == before, command
    for argv in (["txn", "show", txn_id], ["txn", "status", txn_id], ["txn", "rebuild", txn_id]):
        r = tetra(*argv)
        assert r.returncode == 1 and r.stderr.splitlines() == [line, hint]
        assert files(d) == before
    rows = json.loads(tetra("txn", "ls", "--json").stdout)
    assert [(r["id"], r["display_stage"], r["description"]) for r in rows] == [
        (txn_id, "broken", f"{txn_id}: events.ndjson line 3 is not valid JSON")]
    [row] = [line.split() for line in tetra("txn", "ls").stdout.splitlines()[1:]]
    assert row[:3] == [txn_id, "ttm", "broken"]
    assert json.loads(tetra("txn", "ls", "--stage", "broken", "--json").stdout)[0]["id"] == txn_id
    assert json.loads(tetra("txn", "ls", "--stage", "EXECUTE", "--json").stdout) == []
    r = tetra("txn", "verify", txn_id)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        f"{txn_id}: FAILED (events.ndjson cannot be read, state.json version 6)",
        f"  problem: {txn_id}: events.ndjson line 3 is not valid JSON"]
    assert r.stderr.splitlines()[-1] == ("  hint: the log was damaged or edited (see the problems "
                                         "above): rebuild cannot repair it")


def test_a_seq_gap_in_the_middle_refuses_writers(tetra, tetra_dir, tmp_path):
    txn_id = to_execute(tetra, tetra_dir, tmp_path)
    d = txn_dir(tetra_dir, txn_id)
    lines = (d / "events.ndjson").read_bytes().splitlines(keepends=True)
    (d / "events.ndjson").write_bytes(b"".join(lines[:2] + lines[3:]))  # event 3 lost
    before = files(d)
    r = tetra("-c", "txn validate -- true")
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == (f"tetra: line 1: {txn_id}: events.ndjson line 3: "
                                        "expected seq 3, found 4")
    assert files(d) == before


def test_a_malformed_transaction_directory_is_one_broken_row_and_one_failed_verify(
        tetra, tetra_dir):
    r = tetra("-c", 'txn new "good" @local')
    good = r.stdout.strip()
    bad = tetra_dir / "ttm" / "txns" / "bad"
    bad.mkdir()
    (bad / "events.ndjson").write_text("[1,2]\n")
    r = tetra("txn", "ls")
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    rows = json.loads(tetra("txn", "ls", "--json").stdout)
    assert {(row["id"], row["display_stage"]) for row in rows} == {(good, "NEW"), ("bad", "broken")}
    r = tetra("txn", "verify", "--all")
    assert r.returncode == 1
    assert "internal error" not in r.stderr
    out = r.stdout.splitlines()
    assert f"{good}: ok (1 events, state.json version 1)" in out
    i = out.index("bad: FAILED (events.ndjson cannot be read, state.json missing)")
    assert out[i + 1] == "  problem: bad: events.ndjson line 1: not an event (a JSON list)"
    assert r.stderr.splitlines()[0] == "tetra: line 1: txn verify: 1 transaction(s) failed: bad"
    r = tetra("txn", "verify", "--all", "--json")
    verdict = [json.loads(line) for line in r.stdout.splitlines() if '"bad"' in line][0]
    assert (verdict["events"], verdict["log"], verdict["state_file"], verdict["state_version"]) == (
        None, "damaged", "missing", None)


def _first_event(d, **changes) -> None:
    path = d / "events.ndjson"
    lines = path.read_text().splitlines(keepends=True)
    first = json.loads(lines[0])
    for key, value in changes.items():
        if value is None:
            del first[key]
        else:
            first[key] = value
    path.write_text(json.dumps(first) + "\n" + "".join(lines[1:]))


def test_a_first_event_without_ts_is_broken_and_show_at_is_one_line(tetra, tetra_dir):
    txn_id = tetra("-c", 'txn new "no ts" @local').stdout.strip()
    d = txn_dir(tetra_dir, txn_id)
    _first_event(d, ts=None)
    why = f"{txn_id}: events.ndjson line 1: event 1 has no 'ts'"
    rows = json.loads(tetra("txn", "ls", "--json").stdout)
    assert [(r["display_stage"], r["description"]) for r in rows] == [("broken", why)]
    for argv in (["txn", "show", txn_id, "--at", "2026-01-01"], ["txn", "events", txn_id],
                 ["txn", "verify", "--all"]):
        r = tetra(*argv)
        assert r.returncode == 1 and "internal error" not in r.stderr, argv
    r = tetra("txn", "show", txn_id, "--at", "2026-01-01")
    assert r.stderr.splitlines()[0] == f"tetra: line 1: {why}"


def test_a_first_event_with_a_ts_that_is_not_a_time_is_broken(tetra, tetra_dir):
    txn_id = tetra("-c", 'txn new "bad ts" @local').stdout.strip()
    d = txn_dir(tetra_dir, txn_id)
    _first_event(d, ts="yesterday")
    why = (f"{txn_id}: events.ndjson event 1 (txn_start) cannot be replayed: "
           "Invalid isoformat string: 'yesterday'")
    rows = json.loads(tetra("txn", "ls", "--json").stdout)
    assert [(r["display_stage"], r["description"]) for r in rows] == [("broken", why)]
    for argv in (["txn", "show", txn_id], ["txn", "fail", txn_id, "x"], ["txn", "events", txn_id],
                 ["txn", "show", txn_id, "--at", "#1"]):
        r = tetra(*argv)
        assert r.returncode == (0 if "events" in argv else 1), argv
        assert r.stderr.splitlines()[:1] == ([] if "events" in argv else [f"tetra: line 1: {why}"])
    r = tetra("txn", "show", txn_id, "--at", "2026-01-01")
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == (f"tetra: line 1: {txn_id}: events.ndjson event 1: "
                                        "ts 'yesterday' is not an ISO-8601 time")


def test_verify_of_a_torn_log_counts_its_complete_events(tetra, tetra_dir, tmp_path):
    art = tmp_path / "a.tar.gz"
    art.write_bytes(b"artifact")
    r = tetra("-c", TO_EXECUTE.format(art=art), env={"TETRA_CRASH_AT": "append.torn@3"})
    assert r.returncode == 137
    [txn_id] = all_ids(tetra_dir)
    lines = (txn_dir(tetra_dir, txn_id) / "events.ndjson").read_bytes().splitlines(keepends=True)
    complete = sum(1 for line in lines if line.endswith(b"\n") and json.loads(line)["version"] <= 2)
    r = tetra("txn", "verify", txn_id)
    assert r.returncode == 1
    assert r.stdout.splitlines()[0] == (f"{txn_id}: FAILED ({complete} complete events, then an "
                                        "unfinished append, state.json version 2)")


def test_verify_of_a_state_json_that_does_not_parse_says_so(tetra, tetra_dir):
    txn_id = tetra("-c", 'txn new "x" @local').stdout.strip()
    (txn_dir(tetra_dir, txn_id) / "state.json").write_text("{not json")
    r = tetra("txn", "verify", txn_id)
    assert r.returncode == 1
    assert r.stdout.splitlines() == [f"{txn_id}: FAILED (1 events, state.json does not parse)",
                                     "  problem: state.json does not parse"]
    assert json.loads(tetra("txn", "show", txn_id, "--json").stdout)["id"] == txn_id

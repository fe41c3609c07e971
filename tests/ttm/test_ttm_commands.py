"""The txn commands of SPEC 6.3 and 6.4 as a user types them, and their
faults (SPEC 10): one clear line, the right exit status, nothing half-written."""

from __future__ import annotations

import json
import os
import re
import resource
import signal
import subprocess
import time

from tetra_testing import TETRA, kill_tree
from ttm_helpers import all_ids, events, state, txn_dir


def test_statements_on_one_target_in_a_row_never_say_the_target_is_busy(tetra, tetra_dir):
    # Each statement has finished before the next starts: nothing is "earlier
    # work" to wait for, so nothing but the ids may be printed.
    r = tetra("-c", "; ".join(f'txn new "n{i}" @local' for i in range(8)))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert len(r.stdout.splitlines()) == 8 == len(all_ids(tetra_dir))


def new(tetra, desc="deploy api", target="@local") -> str:
    r = tetra("-c", f'txn new "{desc}" {target}')
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_ctx_with_a_missing_file_is_one_line_and_moves_nothing(tetra, tetra_dir):
    txn_id = new(tetra)
    d = txn_dir(tetra_dir, txn_id)
    before = (d / "events.ndjson").read_bytes(), (d / "state.json").read_bytes()
    r = tetra("-c", "txn ctx /nonexistent/build.tar.gz --kind artifact")
    assert r.returncode == 1
    assert r.stderr.splitlines()[0] == "tetra: line 1: evidence file not found: /nonexistent/build.tar.gz"
    assert ((d / "events.ndjson").read_bytes(), (d / "state.json").read_bytes()) == before
    assert state(tetra_dir, txn_id)["stage"] == "NEW"
    r = tetra("-c", f"txn ctx {tetra_dir}")
    assert r.returncode == 1 and "not a regular file" in r.stderr
    assert ((d / "events.ndjson").read_bytes(), (d / "state.json").read_bytes()) == before


def test_ctx_moves_to_select_and_adds_the_evidence_in_one_write(tetra, tetra_dir, tmp_path):
    txn_id = new(tetra)
    art = tmp_path / "api.tar.gz"
    art.write_bytes(b"bytes")
    r = tetra("-c", f"txn ctx {art} --kind artifact; echo $e1")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1] == str(txn_dir(tetra_dir, txn_id) / "ctx/100_artifact.tar.gz")
    evs = events(tetra_dir, txn_id)
    assert [(e["type"], e["version"]) for e in evs[1:]] == [("stage_changed", 2),
                                                             ("evidence_added", 2)]
    assert state(tetra_dir, txn_id)["version"] == 2


def _with_file_size_limit(tetra_env, limit: int, *argv: str) -> subprocess.CompletedProcess:
    """Run tetra where no file may grow past ``limit`` bytes: a write fails
    part-way with EFBIG, as it would on a full disk with ENOSPC."""

    def cap():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.run([TETRA, *argv], check=False, env=tetra_env, capture_output=True, text=True,
                          timeout=60, preexec_fn=cap)


def test_a_full_disk_during_an_append_leaves_the_log_and_state_as_they_were(tetra, tetra_env,
                                                                            tetra_dir):
    txn_id = new(tetra)
    d = txn_dir(tetra_dir, txn_id)
    log_before, state_before = (d / "events.ndjson").read_bytes(), (d / "state.json").read_bytes()
    r = _with_file_size_limit(tetra_env, len(log_before) + 40, "-c", 'txn fail "out of space"')
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert re.match(rf"tetra: line 1: {txn_id}: cannot write events.ndjson: File too large; "
                    "nothing was written$", r.stderr.splitlines()[0])
    assert (d / "events.ndjson").read_bytes() == log_before  # no torn half-line
    assert (d / "state.json").read_bytes() == state_before
    assert tetra("txn", "verify", txn_id).returncode == 0
    r = tetra("-c", 'txn fail "with space again"')  # no rebuild needed
    assert r.returncode == 0, r.stderr
    assert state(tetra_dir, txn_id)["error"] == "with space again"


def test_a_full_disk_while_creating_leaves_no_half_made_transaction(tetra_env, tetra_dir):
    r = _with_file_size_limit(tetra_env, 100, "-c", 'txn new "no room" @local')
    assert r.returncode == 1
    assert "Traceback" not in r.stderr
    assert re.match(r"tetra: line 1: cannot create transaction no-room-\d{8}T\d{6}: File too large$",
                    r.stderr.splitlines()[0])
    assert all_ids(tetra_dir) == []


def test_a_full_disk_while_copying_evidence_moves_nothing_and_leaves_no_partial_copy(
        tetra, tetra_env, tetra_dir, tmp_path):
    txn_id = new(tetra)
    d = txn_dir(tetra_dir, txn_id)
    before = (d / "events.ndjson").read_bytes(), (d / "state.json").read_bytes()
    big = tmp_path / "big.bin"
    big.write_bytes(b"x" * 100_000)
    r = _with_file_size_limit(tetra_env, 50_000, "-c", f"txn ctx {big}")
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "cannot copy evidence" in r.stderr
    assert ((d / "events.ndjson").read_bytes(), (d / "state.json").read_bytes()) == before
    assert sorted(p.name for p in (d / "ctx").iterdir()) == ["000_policy.md", "010_request.md"]


def test_fail_with_only_an_id_ends_that_transaction_not_the_active_one(tetra, tetra_dir):
    first = new(tetra, "first")
    second = new(tetra, "second")  # the active one
    r = tetra("txn", "fail", first)  # SPEC 6.4: `txn fail ID` ends it
    assert r.returncode == 0, r.stderr
    assert (state(tetra_dir, first)["stage"], state(tetra_dir, second)["stage"]) == ("FAIL", "NEW")
    assert state(tetra_dir, first)["error"]
    r = tetra("-c", 'txn fail "wrong build"')  # one word that is no id: the active one's reason
    assert r.returncode == 0, r.stderr
    assert (state(tetra_dir, second)["stage"], state(tetra_dir, second)["error"]) == ("FAIL",
                                                                                      "wrong build")
    r = tetra("txn", "fail", "nope-20250101T000000")
    assert r.returncode == 1 and "no transaction 'nope-20250101T000000'" in r.stderr
    r = tetra("-c", "txn fail")
    assert r.returncode == 2 and "missing REASON" in r.stderr


def test_ctrl_c_during_txn_exec_ends_it_fail_and_releases_the_lease(tetra, tetra_env, tetra_dir):
    txn_id = new(tetra)
    assert tetra("-c", "txn resolve").returncode == 0
    child = subprocess.Popen([TETRA, "-c", "txn exec -- sleep 60; echo never"], env=tetra_env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not any(e["type"] == "exec_started" for e in events(tetra_dir, txn_id)):
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        os.killpg(child.pid, signal.SIGINT)  # what Ctrl-C sends
        out, err = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            kill_tree(child.pid)
    assert child.returncode == 130
    assert err.splitlines() == ["tetra: line 1: interrupted"] and "never" not in out
    s = state(tetra_dir, txn_id)
    assert (s["stage"], s["error"], s["open_steps"], s["locks"]) == (
        "FAIL", "interrupted (Ctrl-C)", {}, {})
    assert not list((tetra_dir / "locks").glob("*.lock"))
    assert tetra("txn", "verify", txn_id).returncode == 0


def test_ls_stage_takes_any_case_and_refuses_what_is_not_a_stage(tetra, tetra_dir):
    txn_id = new(tetra)
    tetra("-c", 'txn fail "no"')
    for word in ("FAIL", "fail", "Fail"):
        r = tetra("txn", "ls", "--stage", word, "--json")
        assert [row["id"] for row in json.loads(r.stdout)] == [txn_id], word
    r = tetra("txn", "ls", "--stage", "finished")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0].endswith("txn ls: --stage 'finished' is not a stage")


def test_active_with_none_is_one_error_line(tetra):
    r = tetra("-c", "txn active")
    assert r.returncode == 1 and r.stdout == ""
    assert r.stderr.splitlines()[0] == "tetra: line 1: no active transaction"
    assert "failed (exit status" not in r.stderr


def test_rebuild_counts_events_not_writes(tetra, tetra_dir, tmp_path):
    art = tmp_path / "a.txt"
    art.write_text("x")
    txn_id = new(tetra)
    assert tetra("-c", f"txn ctx {art}; txn resolve").returncode == 0
    s = state(tetra_dir, txn_id)
    r = tetra("txn", "rebuild", txn_id)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == (f"{txn_id}: state.json rebuilt from {len(events(tetra_dir, txn_id))} "
                                f"events (version {s['version']}, stage ASSEMBLE)")


def test_resume_waits_for_a_locked_host_with_wait(tetra, tetra_env, tetra_dir):
    # A dies mid-exec: interrupted, its lease left to a dead pid.
    assert tetra("-c", 'txn new "a" @local; txn resolve').returncode == 0
    [a] = all_ids(tetra_dir)
    child = subprocess.Popen([TETRA, "-c", "txn exec -- sleep 60"], env=tetra_env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not any(e["type"] == "exec_started" for e in events(tetra_dir, a)):
            assert child.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        kill_tree(child.pid)
        child.wait(timeout=10)
    # B breaks that lease and holds @local for a few seconds.
    holder = subprocess.Popen([TETRA, "-c", 'txn new "b" @local; txn resolve; txn exec -- sleep 3'],
                              env=tetra_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while '"b-' not in _read(tetra_dir / "locks/local.lock"):
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        r = tetra("txn", "resume", a)
        assert r.returncode == 1 and "@local is locked by b-" in r.stderr
        r = tetra("txn", "resume", a, "--wait=60")
        assert r.returncode == 0, r.stderr
    finally:
        holder.communicate(timeout=60)
    assert "local" in state(tetra_dir, a)["locks"]
    assert json.loads((tetra_dir / "locks/local.lock").read_text())["txn"] == a


def _read(path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""


def test_a_full_disk_while_writing_state_json_leaves_no_temp_file(tetra, tetra_env, tetra_dir):
    txn_id = new(tetra)
    d = txn_dir(tetra_dir, txn_id)
    # the event fits under the cap, state.json grown by the long reason does not
    cap = len((d / "state.json").read_bytes()) + 50
    r = _with_file_size_limit(tetra_env, cap, "-c", f'txn fail "{"r" * 100}"')
    assert r.returncode == 1 and "Traceback" not in r.stderr
    assert "state.json could not be written" in r.stderr
    assert [p.name for p in d.iterdir() if p.name.endswith(".tmp")] == []
    assert tetra("txn", "rebuild", txn_id).returncode == 0
    assert state(tetra_dir, txn_id)["stage"] == "FAIL"


def test_evidence_copies_are_exact_at_every_size_around_the_copy_chunks(tetra, tetra_dir, tmp_path):
    """Whole 1 MiB chunks go with direct I/O, the tail without: every size
    around those edges is copied byte for byte, with its sha256."""
    import hashlib

    txn_id = new(tetra)
    sizes = [0, 1, 4095, 4097, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) - 5]
    files = []
    for i, size in enumerate(sizes):
        files.append(tmp_path / f"f{i}.bin")
        files[-1].write_bytes(os.urandom(size))
    r = tetra("-c", "; ".join(f"txn ctx {f} --kind k{i}" for i, f in enumerate(files)))
    assert r.returncode == 0, r.stderr
    evidence = state(tetra_dir, txn_id)["evidence"]
    assert [e["bytes"] for e in evidence] == sizes
    for e, f in zip(evidence, files):
        copy = (txn_dir(tetra_dir, txn_id) / e["file"]).read_bytes()
        assert copy == f.read_bytes() and hashlib.sha256(copy).hexdigest() == e["sha256"]


def test_an_active_link_pointing_outside_the_txns_directory_is_not_followed(tetra, tetra_dir, tmp_path):
    """`active` names a transaction of its own directory; one edited to point
    elsewhere is no active transaction, and nothing is written there."""
    txn_id = new(tetra)
    victim = tmp_path / "outside" / "victim"
    victim.mkdir(parents=True)
    for name in ("state.json", "events.ndjson"):
        (victim / name).write_bytes((txn_dir(tetra_dir, txn_id) / name).read_bytes())
    before = (victim / "events.ndjson").read_bytes()
    link = tetra_dir / "ttm" / "txns" / "active"
    for target in (str(victim), "../../outside", "/etc"):
        link.unlink()
        os.symlink(target, link)
        r = tetra("-c", 'txn fail "pwn"')
        assert r.returncode == 1 and "no active transaction" in r.stderr, r.stderr
    assert (victim / "events.ndjson").read_bytes() == before
    assert not (victim / ".write.lock").exists()
    assert state(tetra_dir, txn_id)["stage"] == "NEW"


def test_show_at_an_event_number_outside_the_log_is_a_usage_error(tetra, tetra_dir):
    txn_id = new(tetra)
    for at in ("#0", "#2"):
        r = tetra("txn", "show", txn_id, "--at", at)
        assert r.returncode == 2
        assert f"--at {at}: {txn_id} has events #1 to #1" in r.stderr


def test_verify_offers_rebuild_only_for_what_rebuild_repairs(tetra, tetra_dir):
    txn_id = new(tetra)
    log_file = txn_dir(tetra_dir, txn_id) / "events.ndjson"
    good = log_file.read_bytes()
    log_file.write_bytes(good + b'{"seq": 5}\n')  # a gap: edited, not torn
    r = tetra("txn", "verify", txn_id)
    assert r.returncode == 1 and "rebuild cannot repair it" in r.stderr
    log_file.write_bytes(good + b'{"seq": 2, "ty')  # torn
    r = tetra("txn", "verify", txn_id)
    assert r.returncode == 1 and f"'txn rebuild {txn_id}' repairs it" in r.stderr


def test_timeouts_that_must_pass_refuse_zero_with_one_message(tetra, tetra_dir, tmp_path):
    """A 'duration' option (txn exec/validate --timeout, deploy --health-timeout)
    says the same thing for every value not above 0."""
    new(tetra)
    assert tetra("-c", "txn resolve").returncode == 0
    for text in ("0", "-1"):
        r = tetra("-c", f"txn exec --timeout {text} -- true")
        assert r.returncode == 2
        assert f"txn exec: --timeout must be more than 0 seconds, got '{text}'" in r.stderr
    assert state(tetra_dir, all_ids(tetra_dir)[0])["stage"] == "ASSEMBLE"  # nothing ran

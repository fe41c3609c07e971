"""The txn commands of SPEC 6.3 and 6.4 as a user types them, and their
faults (SPEC 10): one clear line, the right exit status, nothing half-written."""

from __future__ import annotations

import re
import resource
import subprocess

from tetra_testing import TETRA
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

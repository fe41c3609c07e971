"""The txn commands of SPEC 6.3 and 6.4 as a user types them, and their
faults (SPEC 10): one clear line, the right exit status, nothing half-written."""

from __future__ import annotations

from ttm_helpers import all_ids


def test_statements_on_one_target_in_a_row_never_say_the_target_is_busy(tetra, tetra_dir):
    # Each statement has finished before the next starts: nothing is "earlier
    # work" to wait for, so nothing but the ids may be printed.
    r = tetra("-c", "; ".join(f'txn new "n{i}" @local' for i in range(8)))
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""
    assert len(r.stdout.splitlines()) == 8 == len(all_ids(tetra_dir))

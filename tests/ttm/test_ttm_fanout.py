"""txn exec / txn validate fan out as `exec @target` does (SPEC 5, 6.3): at most
`parallel` hosts at once, a per-host summary, every failed host named; and
`txn ctx ... ID` labels evidence $eN only for the active transaction."""

from __future__ import annotations

import re

from ttm_helpers import state

SERIAL = """
[defaults]
parallel = 1
[targets.ser]
connector = "local"
parallel = 1
hosts = [{name="a",host="localhost"},{name="b",host="localhost"},{name="c",host="localhost"}]
"""

# Each host appends a start and an end marker around a short sleep: with one
# host at a time the markers come in pairs, never interleaved.
MARK = "sh -c 'echo start >> {f}; sleep 0.3; echo end >> {f}'"


def _serial(tetra, tetra_dir) -> str:
    (tetra_dir / "topology.toml").write_text(SERIAL)
    r = tetra("-c", 'txn new "serial" @ser; txn resolve')
    assert r.returncode == 0, r.stderr
    return r.stdout.splitlines()[0]


def _one_at_a_time(marks: str) -> bool:
    return marks.split() == ["start", "end"] * 3


def test_txn_exec_and_validate_honour_the_targets_parallel_and_print_the_summary(
        tetra, tetra_dir, tmp_path):
    _serial(tetra, tetra_dir)
    for stage in ("exec", "validate"):
        marks = tmp_path / f"{stage}.marks"
        r = tetra("-c", f"txn {stage} -- {MARK.format(f=marks)}")
        assert r.returncode == 0, r.stderr
        assert _one_at_a_time(marks.read_text()), marks.read_text()
        lines = r.stdout.splitlines()
        assert "-- 3 hosts: 3 ok, 0 failed" in lines
        for host in "abc":
            assert any(re.match(rf"\s+{host}\s+ok\s", line) for line in lines), r.stdout


def test_txn_exec_parallel_option_overrides_the_target(tetra, tetra_dir, tmp_path):
    _serial(tetra, tetra_dir)
    marks = tmp_path / "marks"
    r = tetra("-c", f"txn exec --parallel 3 -- sh -c 'echo start >> {marks}; sleep 1; "
                    f"echo end >> {marks}'")
    assert r.returncode == 0, r.stderr
    # all three started before any ended: they ran together
    assert marks.read_text().split() == ["start"] * 3 + ["end"] * 3, marks.read_text()


def test_txn_exec_parallel_below_one_is_refused_before_anything_runs(tetra, tetra_dir, tmp_path):
    txn_id = _serial(tetra, tetra_dir)
    r = tetra("-c", f"txn exec --parallel 0 -- touch {tmp_path / 'ran'}")
    assert r.returncode == 2
    assert "--parallel must be at least 1" in r.stderr
    assert not (tmp_path / "ran").exists()
    assert state(tetra_dir, txn_id)["stage"] == "ASSEMBLE"


def test_txn_exec_failing_on_several_hosts_names_every_one(tetra, tetra_dir):
    txn_id = _serial(tetra, tetra_dir)
    r = tetra("-c", "txn exec -- sh -c 'exit 4'")
    assert r.returncode == 1
    assert "-- 3 hosts: 0 ok, 3 failed" in r.stdout.splitlines()
    assert "failed on a, b, c (exit 4); transaction is FAIL" in r.stderr
    assert state(tetra_dir, txn_id)["stage"] == "FAIL"


def test_txn_ctx_for_a_transaction_that_is_not_active_gives_no_e_label(tetra, tetra_dir, tmp_path):
    evidence = tmp_path / "build.txt"
    evidence.write_text("v1\n")
    a = tetra("-c", 'txn new "a1" @local').stdout.strip()
    b = tetra("-c", 'txn new "b1" @local').stdout.strip()
    assert tetra("-c", f"txn active {a}").returncode == 0

    other = tetra("-c", f"txn ctx {evidence} {b}")
    assert other.returncode == 0, other.stderr
    assert other.stdout.startswith(f"evidence 1 of {b}: ")
    assert "$e" not in other.stdout

    mine = tetra("-c", f"txn ctx {evidence} {a}")
    assert mine.returncode == 0, mine.stderr
    assert mine.stdout.startswith("$e1 = ")
    path = mine.stdout.split()[2]
    assert tetra("-c", "echo $e1").stdout.strip() == path

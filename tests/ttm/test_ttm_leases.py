"""Per-host leases (SPEC 6.4): atomic across processes, fail fast or wait,
dead holders broken with an event."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time

from tetra_testing import TETRA, kill_tree
from ttm_helpers import events, state

RACER = textwrap.dedent("""
    import sys, time, pathlib
    from tetra_repl.ttm.leases import Leases, Locked
    state_dir, me, go = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.001)
    try:
        Leases(state_dir).acquire("web-1", me)
        print("won", flush=True)
    except Locked:
        print("lost", flush=True)
    sys.stdin.read()   # hold the lease (stay alive) until the test lets go
""")


def test_n_processes_race_for_one_lease_and_exactly_one_wins_every_time(tmp_path):
    for round_ in range(5):
        state_dir = tmp_path / f"round{round_}"
        go = tmp_path / f"go{round_}"
        procs = [subprocess.Popen([sys.executable, "-c", RACER, str(state_dir), f"txn-{i}", str(go)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                 for i in range(8)]
        try:
            go.touch()
            results = [p.stdout.readline().strip() for p in procs]
        finally:
            for p in procs:
                p.stdin.close()
                p.wait(timeout=30)
        assert results.count("won") == 1, results
        assert results.count("lost") == 7, results
        record = json.loads((state_dir / "locks" / "web-1.lock").read_text())
        winner = results.index("won")
        assert record["txn"] == f"txn-{winner}"
        for key in ("txn", "pid", "hostname", "token", "acquired", "expires"):
            assert record[key], key


def start_holder(tetra_env, desc="holder"):
    """A process holding @local's lease (its transaction sits in EXECUTE, sleeping)."""
    proc = subprocess.Popen([TETRA, "-c", f'txn new "{desc}" @local; txn resolve; '
                             'txn exec -- sleep 60'], env=tetra_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    lock = tetra_env["TETRA_DIR"] + "/locks/local.lock"
    deadline = time.monotonic() + 30
    while not os.path.exists(lock):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return proc, json.loads(open(lock).read())


def test_a_second_transaction_fails_fast_naming_the_holder(tetra, tetra_env, tetra_dir):
    holder, record = start_holder(tetra_env)
    try:
        r = tetra("-c", 'txn new "second" @local; txn resolve; txn exec -- true')
        assert r.returncode == 1
        line = next(l for l in r.stderr.splitlines() if "locked" in l)
        assert re.search(rf"@local is locked by {record['txn']} \(pid {record['pid']} on \S+ since ", line)
        second = r.stdout.splitlines()[0]
        assert state(tetra_dir, second)["stage"] == "ASSEMBLE"  # nothing half-done
        assert json.loads((tetra_dir / "locks/local.lock").read_text())["txn"] == record["txn"]
    finally:
        kill_tree(holder.pid)
        holder.wait()


def test_on_a_target_of_several_hosts_the_message_names_the_target_then_the_host(
        tetra, tetra_env, tetra_dir):
    """SPEC 6.4's words first (`@multi:web is locked by <txn> (pid P on H since T)`),
    then which host of it is held."""
    (tetra_dir / "topology.toml").write_text(
        '[targets.multi]\nconnector = "local"\nhosts = [\n'
        '  { name = "m1", roles = ["web"] }, { name = "m2", roles = ["web"] }, { name = "m3" }]\n'
        '[targets.one]\nconnector = "local"\nhosts = ["m1"]\n')
    proc = subprocess.Popen([TETRA, "-c", 'txn new "h1" @multi:web[m1]; txn resolve; '
                             'txn exec -- sleep 60'], env=tetra_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        while not (tetra_dir / "locks" / "m1.lock").exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        holder = json.loads((tetra_dir / "locks" / "m1.lock").read_text())["txn"]
        r = tetra("-c", 'txn new "h2" @multi:web; txn resolve; txn exec -- true')
        assert r.returncode == 1
        line = next(x for x in r.stderr.splitlines() if "locked" in x)
        assert re.fullmatch(rf"tetra: line 1: @multi:web is locked by {holder} "
                            rf"\(pid \d+ on \S+ since [^)]+\); host m1", line), line
        r = tetra("-c", 'txn new "h3" @one; txn resolve; txn exec -- true')  # one host: SPEC's words
        line = next(x for x in r.stderr.splitlines() if "locked" in x)
        assert re.fullmatch(rf"tetra: line 1: @one is locked by {holder} \(pid \d+ on \S+ since [^)]+\)",
                            line), line
    finally:
        kill_tree(proc.pid)
        proc.wait()


def test_a_dead_holders_lease_is_broken_with_an_event(tetra, tetra_env, tetra_dir):
    holder, record = start_holder(tetra_env)
    kill_tree(holder.pid)
    holder.wait()
    r = tetra("-c", 'txn new "taker" @local; txn resolve; txn exec -- true; echo $txn')
    assert r.returncode == 0, r.stderr
    taker = r.stdout.splitlines()[-1]
    broken = [e for e in events(tetra_dir, taker) if e["type"] == "lock_broken"]
    assert len(broken) == 1
    assert broken[0]["data"]["previous"]["txn"] == record["txn"]
    assert "dead" in broken[0]["data"]["reason"]


def test_an_expired_lease_is_broken(tetra, tetra_dir):
    (tetra_dir / "locks").mkdir()
    (tetra_dir / "locks/local.lock").write_text(json.dumps({
        "txn": "old-20200101T000000", "host": "local", "pid": os.getpid(), "hostname": "elsewhere",
        "token": "t", "acquired": "2020-01-01T00:00:00Z", "expires": "2020-01-01T01:00:00Z"}))
    r = tetra("-c", 'txn new "x" @local; txn resolve; txn exec -- true; echo $txn')
    assert r.returncode == 0, r.stderr
    broken = [e for e in events(tetra_dir, r.stdout.splitlines()[-1]) if e["type"] == "lock_broken"]
    assert broken and "expired" in broken[0]["data"]["reason"]


def test_wait_takes_the_lease_once_the_holder_releases_it(tetra, tetra_env, tetra_dir):
    first = subprocess.Popen([TETRA, "-c", 'txn new "first" @local; txn resolve; '
                              'txn exec -- sh -c "sleep 1"; txn validate -- true; txn commit'],
                             env=tetra_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (tetra_dir / "locks/local.lock").exists():
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        r = tetra("-c", 'txn new "second" @local; txn resolve; txn exec --wait=60 -- true; echo $txn')
        assert r.returncode == 0, r.stderr
    finally:
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    second = r.stdout.splitlines()[-1]
    types = [e["type"] for e in events(tetra_dir, second)]
    assert "lock_acquired" in types and "lock_broken" not in types


def test_a_held_lease_is_renewed_while_its_holder_works_and_stays_released(tmp_path):
    # A step longer than the TTL must not lose its host: the holder renews in
    # the background (every TTL/6); a released lease is never written again.
    from tetra_repl.ttm.leases import Leases

    leases = Leases(tmp_path)
    first = leases.acquire("web-1", "txn-a", ttl=0.6)
    leases.keep_fresh("txn-a", ["web-1"], ttl=0.6)
    time.sleep(1.2)  # twice the TTL: without renewal it would have expired
    now = leases.holder("web-1")
    assert now["token"] == first.token and now["expires"] > first.record["expires"]
    assert leases.why_stale(now) is None
    assert leases.release("web-1", "txn-a")
    time.sleep(0.4)  # past the next renewal tick
    assert not leases.path("web-1").exists()

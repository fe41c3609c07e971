"""TTM and deploy speed (issue 3 targets).

- transactions/s through the whole lifecycle (create → commit), fsync on, on
  @local with a no-op execute (in process: the TTM's cost, not CLI start-up);
  baseline: the same number of bare fsynced one-line appends (the floor of
  one durable write each).
- ``txn rebuild`` of a 100,000-event log.
- deploy of a 50 MB artifact to 10 SSH host entries (all on one loopback
  sshd) against one ``scp`` of the same file, as a ratio.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TETRA = str(Path(sys.executable).with_name("tetra"))


def lifecycle_rate(report, n: int = 100, rounds: int = 3) -> None:
    """Best of ``rounds`` runs of ``n`` transactions (the machine is shared:
    the best round is the least disturbed one); the disk floor likewise."""
    from tetra_repl import storage
    from tetra_repl.env import Environment
    from tetra_repl.session import Session
    from tetra_repl.ttm import lifecycle, states, targets
    from tetra_repl.ttm.leases import Leases
    from tetra_repl.ttm.store import Store

    best = floor_best = 0.0
    events = writes = 0
    for _ in range(rounds):
        with tempfile.TemporaryDirectory() as d:
            session = Session(Environment(state_dir=Path(d)))
            store, leases = Store(d), Leases(d)
            started = time.perf_counter()
            events = writes = 0
            for i in range(n):  # the same library calls `txn new … txn commit` makes
                txn = store.create("ttm", f"bench {i}", target="@local")
                res = targets.resolve(session, "@local")
                lifecycle.record_plan(txn, res)
                lifecycle.take_leases(txn, leases, [h.name for h in res.hosts], label="@local",
                                      then=[("stage_changed", None, states.EXECUTE)])
                with lifecycle.step(txn, "execute:1") as s:
                    s.result = {"ok": True}  # the no-op execute
                with lifecycle.step(txn, "validate:1",
                                    before=[("stage_changed", None, states.VALIDATE)]) as s:
                    s.before_done.append(("validate_passed", {}, None))
                lifecycle.commit(txn, leases)
                writes += txn.state()["version"]
                events += txn.state()["seq"]
            best = max(best, n / (time.perf_counter() - started))
            started = time.perf_counter()
            for i in range(writes):
                storage.append_line(Path(d) / "floor.ndjson", f'{{"i": {i}}}')
            floor_best = max(floor_best, n / (time.perf_counter() - started))
            session.close()
    report("txn lifecycle create→commit (fsync on, best of 3)", best, "txn/s", ">= 50")
    report("  events / durable writes per transaction", events / n, f"events in {writes / n:.0f} writes")
    report("  baseline: bare fsynced appends, same count (disk floor)", floor_best, "txn/s")


def rebuild_time(report, count: int = 100_000) -> None:
    from tetra_repl.ttm import lifecycle, log
    from tetra_repl.ttm.store import Store

    with tempfile.TemporaryDirectory() as d:
        txn = Store(d).create("ttm", "long log", target="@local")
        first = txn.events()[0]
        lines = [log.encode(first)]
        ts = first["ts"]
        for seq in range(2, count + 1):  # a long EXECUTE: many recorded exec events
            kind = "exec_started" if seq % 2 else "exec_finished"
            lines.append(log.encode({"seq": seq, "ts": ts, "type": kind, "stage": "NEW",
                                     "actor": first["actor"],
                                     "data": {"host": "local", "step": f"s{seq}", "ok": True}}))
        txn.events_file.write_text("\n".join(lines) + "\n")
        started = time.perf_counter()
        state = lifecycle.rebuild(txn)
        elapsed = time.perf_counter() - started
        assert state["version"] == count
        report(f"txn rebuild of {count:,} events", elapsed, "s", "< 1")


def deploy_ratio(report, hosts: int = 10, size_mb: int = 50, keep: str | None = None,
                 rounds: int = 3) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from sshd import SSHD, ClientKeys, SSHServer, _keygen

    if not os.path.exists(SSHD):
        report("deploy 50 MB to 10 SSH hosts (skipped: no sshd)", 0, "")
        return
    with tempfile.TemporaryDirectory() as d:
        d = Path(keep or d)
        d.mkdir(exist_ok=True)
        _keygen(d / "id")
        keys = ClientKeys(d / "id", d / "id.pub")
        server = SSHServer(d / "sshd", keys).start()
        try:
            known = server.write_known_hosts(d / "known_hosts")
            payload = d / "payload.bin"
            payload.write_bytes(os.urandom(size_mb * 1024 * 1024))
            art = d / "big.tar.gz"
            subprocess.run(["tar", "-czf", str(art), "-C", str(d), "payload.bin"], check=True)
            state = d / "state"
            state.mkdir()
            entries = ",\n".join(f'  {{ name = "h{i}", host = "127.0.0.1", deploy_path = "{d}/hosts/h{i}" }}'
                                 for i in range(hosts))
            (state / "topology.toml").write_text(
                f'[defaults]\nuser = "{server.user}"\nport = {server.port}\n'
                f'identity_file = "{keys.private}"\nknown_hosts = "{known}"\n'
                f'identities_only = true\nagent = false\nparallel = {hosts}\n\n'
                f'[targets.fleet]\nhosts = [\n{entries}\n]\n')
            env = {**os.environ, "TETRA_DIR": str(state), "NO_COLOR": "1"}
            scps, deploys, phases = [], [], []
            for round_ in range(rounds):  # interleaved: both see the same machine
                started = time.perf_counter()
                subprocess.run(["scp", "-q", "-i", str(keys.private), "-P", str(server.port),
                                "-o", f"UserKnownHostsFile={known}", "-o",
                                "StrictHostKeyChecking=yes", "-o", "IdentitiesOnly=yes", str(art),
                                f"{server.user}@127.0.0.1:{d}/scp-copy-{round_}.tar.gz"],
                               check=True)
                scps.append(time.perf_counter() - started)
                started, wall = time.perf_counter(), time.time()
                r = subprocess.run([TETRA, "deploy", "@fleet", str(art)], check=False, env=env,
                                   capture_output=True, text=True)
                deploys.append(time.perf_counter() - started)
                if r.returncode != 0:
                    raise RuntimeError(f"deploy failed: {r.stderr.strip()}")
                phases.append(deploy_phases(state / "deploy" / "txns" / "active" / "events.ndjson",
                                            wall, wall + deploys[-1]))
            scp, deploy = statistics.median(scps), statistics.median(deploys)
            size = art.stat().st_size / 1e6
            report(f"scp of {size:.0f} MB once (median of {rounds})", scp, "s")
            report(f"deploy of it to {hosts} SSH host entries (median of {rounds})", deploy, "s")
            report("  ratio deploy / scp", deploy / scp, "x", "<= 3")
            print("    samples scp " + " ".join(f"{t:.2f}" for t in scps)
                  + " | deploy " + " ".join(f"{t:.2f}" for t in deploys), flush=True)
            print("    where each deploy's time went (from its events.ndjson):", flush=True)
            for p in phases:
                print("     " + "  ".join(f"{k} {v:.2f}" for k, v in p.items()), flush=True)
        finally:
            server.stop()


def deploy_phases(events: Path, started: float, ended: float) -> dict[str, float]:
    """Seconds per phase of one deploy, from its event timestamps: start-up
    (process start to the first event), SELECT (evidence copy and hash),
    leases, the uploading entry's prepare (connect included), upload and
    extract, the other entries' tree copies after it, the rest to exit."""
    import json
    from datetime import datetime

    def at(e: dict) -> float:
        return datetime.fromisoformat(e["ts"]).timestamp()

    evs = [json.loads(line) for line in events.read_text().splitlines()]
    done = {e["data"]["step"]: at(e) for e in evs if e["type"] == "step_done"}
    leader = next(e["data"]["step"].split(":", 1)[1] for e in evs if e["type"] == "step_done"
                  and e["data"]["step"].startswith("upload:") and "from" not in (e["data"]["result"] or {}))
    marks = [("start-up", at(evs[0])),
             ("select", next(at(e) for e in evs if e["type"] == "evidence_added")),
             ("leases", next(at(e) for e in evs if e["type"] == "stage_changed"
                             and e["data"]["to"] == "EXECUTE")),
             ("prepare", done[f"prepare:{leader}"]), ("upload", done[f"upload:{leader}"]),
             ("extract", done[f"extract:{leader}"]),
             ("copies", max(t for s, t in done.items() if s.startswith("extract:"))),
             ("rest", ended)]
    out, last = {}, started
    for name, t in marks:
        out[name], last = max(t - last, 0.0), max(t, last)
    return out


def run(report) -> None:
    lifecycle_rate(report)
    rebuild_time(report)
    deploy_ratio(report)


if __name__ == "__main__":
    from run import report as _report  # noqa: E402  (bench/run.py)

    run(_report)

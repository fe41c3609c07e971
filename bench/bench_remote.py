"""Remote execution figures, each side by side with its baseline in the same run.

- 100 sequential commands over the pooled connection (median ms per command),
  beside paramiko's SSHClient with its defaults on the same server;
- ``true`` on 20 hosts (127.0.0.1 … .20: 20 connections) from a cold start
  (connect + run), as a ratio to a plain paramiko ThreadPoolExecutor doing the same;
- the same fan-out repeated over the pooled connections;
- a 100 MB upload (verified put) as a ratio to ``scp`` of the same file.

All against a loopback OpenSSH server started here (tests/sshd.py).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HOSTS = 20
ROUNDS = 3
ADDRESSES = [f"127.0.0.{i}" for i in range(1, HOSTS // 2 + 1)]


def _setup(root: Path):
    import sshd as fixture

    fixture._keygen(root / "id_ed25519")
    keys = fixture.ClientKeys(root / "id_ed25519", root / "id_ed25519.pub")
    # The fan-out's hosts are distinct machines (entries that are one login on
    # one machine would share a connection): two sshds (sshd listens on at
    # most 16 sockets), each on 127.0.0.1 … .10.
    listen = "\n".join(f"ListenAddress {address}" for address in ADDRESSES[1:])
    servers = [fixture.SSHServer(root / f"sshd{i}", keys, extra_config=listen).start()
               for i in range(2)]
    known = root / "known_hosts"
    for server in servers:
        server.write_known_hosts(known)
        line = server.host_key_line.split(" ", 1)[1]
        with open(known, "a") as f:
            f.writelines(f"[{address}]:{server.port} {line}" for address in ADDRESSES[1:])
    return servers, keys, known


def _host(name, server, keys, known, address: str | None = None):
    """A host entry (``address``: one of the server's ADDRESSES)."""
    from tetra_repl.topology import ResolvedHost

    return ResolvedHost(name, address or server.host, server.port, server.user, "ssh", target="bench",
                        identity_files=(str(keys.private),), known_hosts=(str(known),),
                        settings={"keepalive_interval": 5.0, "keepalive_count_max": 3,
                                  "connect_retries": 3, "connect_timeout": 10.0})


def _paramiko_client(server, keys, known, address: str | None = None):
    import paramiko

    client = paramiko.SSHClient()
    client.load_host_keys(str(known))
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(address or server.host, server.port, username=server.user,
                   key_filename=str(keys.private), look_for_keys=False, allow_agent=False)
    return client


def _paramiko_true(client) -> int:
    _, stdout, _ = client.exec_command("true")
    return stdout.channel.recv_exit_status()


def per_command(report, server, keys, known) -> None:
    from tetra_repl.connectors import ConnectorPool

    pool = ConnectorPool()
    connector = pool.get(_host("one", server, keys, known))
    connector.run(["true"])
    ours = []
    for _ in range(100):
        t = time.perf_counter()
        assert connector.run(["true"]).ok
        ours.append(time.perf_counter() - t)
    pool.close()
    client = _paramiko_client(server, keys, known)
    _paramiko_true(client)
    theirs = []
    for _ in range(100):
        t = time.perf_counter()
        _paramiko_true(client)
        theirs.append(time.perf_counter() - t)
    client.close()
    report("pooled command, median of 100 (tetra)", statistics.median(ours) * 1000, "ms",
           "<= 6 ms")
    report("same with paramiko SSHClient defaults (Nagle on)", statistics.median(theirs) * 1000,
           "ms")


def fan_out(report, servers, keys, known) -> None:
    from tetra_repl.connectors import ConnectorPool, fan_out as tetra_fan_out

    # host i: server i % 2, address i // 2 — twenty distinct (address, port)
    where = [(servers[i % 2], ADDRESSES[i // 2]) for i in range(HOSTS)]
    hosts = [_host(f"h{i:02d}", server, keys, known, address)
             for i, (server, address) in enumerate(where)]

    def ours_cold():
        pool = ConnectorPool()
        t = time.perf_counter()
        results = tetra_fan_out(hosts, lambda h: pool.get(h).run(["true"]), parallel=HOSTS)
        took = time.perf_counter() - t
        assert results.ok, results.failed
        return took, pool

    def theirs_cold():
        def one(i):
            client = _paramiko_client(*where[i][:1], keys, known, where[i][1])
            status = _paramiko_true(client)
            return client, status

        t = time.perf_counter()
        with ThreadPoolExecutor(HOSTS) as executor:
            done = list(executor.map(one, range(HOSTS)))
        took = time.perf_counter() - t
        assert all(status == 0 for _, status in done)
        for client, _ in done:
            client.close()
        return took

    ours, theirs, repeated = [], [], []
    for _ in range(ROUNDS):
        took, pool = ours_cold()
        ours.append(took)
        for _ in range(5):
            t = time.perf_counter()
            assert tetra_fan_out(hosts, lambda h, pool=pool: pool.get(h).run(["true"]),
                                 parallel=HOSTS).ok
            repeated.append(time.perf_counter() - t)
        pool.close()
        theirs.append(theirs_cold())
    report(f"cold fan-out over {HOSTS} hosts (tetra), median", statistics.median(ours) * 1000, "ms")
    report(f"cold fan-out over {HOSTS} hosts (paramiko + ThreadPoolExecutor)",
           statistics.median(theirs) * 1000, "ms")
    report("cold fan-out ratio tetra / paramiko", statistics.median(ours) / statistics.median(theirs),
           "x", "<= 1.1")
    report(f"repeated fan-out over {HOSTS} pooled hosts, median",
           statistics.median(repeated) * 1000, "ms", "< 150 ms")


def upload(report, server, keys, known, root: Path) -> None:
    from tetra_repl.connectors import ConnectorPool
    from tetra_repl.connectors.sftp import _write_pipelined

    import hashlib

    big = root / "upload.bin"
    with open(big, "wb") as f:
        for _ in range(100):
            f.write(os.urandom(1 << 20))
    dest = root / "dest"
    dest.mkdir()
    pool = ConnectorPool()
    connector = pool.get(_host("up", server, keys, known))
    connector.run(["true"])
    scp = [str(shutil.which("scp") or "scp"), "-q", "-o", f"UserKnownHostsFile={known}",
           "-o", "StrictHostKeyChecking=yes", "-i", str(keys.private), "-P", str(server.port),
           str(big), f"{server.user}@{server.host}:{dest}/scp.bin"]
    ours, raw, theirs = [], [], []
    for _ in range(ROUNDS):
        t = time.perf_counter()
        connector.put(str(big), str(dest / "tetra.bin"))
        ours.append(time.perf_counter() - t)
        t = time.perf_counter()
        _write_pipelined(connector.sftp(), str(big), str(dest / "raw.bin"), big.stat().st_size,
                         hashlib.sha256(), None)
        raw.append(time.perf_counter() - t)
        t = time.perf_counter()
        subprocess.run(scp, check=True)
        theirs.append(time.perf_counter() - t)
    pool.close()
    mb = big.stat().st_size / 1e6
    report("100 MB put, verified (tetra), median", mb / statistics.median(ours), "MB/s")
    report("100 MB SFTP transfer alone (tetra), median", mb / statistics.median(raw), "MB/s")
    report("100 MB scp (new connection each time), median", mb / statistics.median(theirs), "MB/s")
    report("upload ratio: verified put / scp", statistics.median(theirs) / statistics.median(ours),
           "x", ">= 0.8")
    report("upload ratio: transfer alone / scp", statistics.median(theirs) / statistics.median(raw),
           "x", ">= 0.8")


def run(report) -> None:
    root = Path(tempfile.mkdtemp(prefix="tetra-bench-remote-"))
    servers = []
    try:
        servers, keys, known = _setup(root)
        per_command(report, servers[0], keys, known)
        fan_out(report, servers, keys, known)
        upload(report, servers[0], keys, known, root)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(root, ignore_errors=True)

"""From an @target to hosts and connectors, for transactions.

Goes through the resolver (``tetra_repl.topology.resolve``) and the session
connector pool (``tetra_repl.connectors``).  When those are not available
(an install without them), ``@local`` still works through a minimal local
fallback so transactions on this machine never depend on the topology.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..errors import TetraError


@dataclass
class Host:
    """One resolved host as a transaction sees it."""

    name: str
    settings: dict = field(default_factory=dict)
    connector: str = "local"
    raw: Any = None  # the resolver's ResolvedHost, handed back to the pool


@dataclass
class Resolution:
    symbol: str
    levels: list[dict]
    plan: dict
    hosts: list[Host]


def resolve(session, symbol) -> Resolution:
    """Resolve ``symbol`` (a language Symbol or ``"@name"`` text)."""
    text = symbol if isinstance(symbol, str) else symbol.text
    sym = _symbol(text) if isinstance(symbol, str) else symbol
    try:
        from ..topology import resolve as topo_resolve
    except ImportError:
        topo_resolve = None
    if topo_resolve is None:
        if sym.name != "local":
            raise TetraError(f"cannot resolve {text}: no topology support in this install")
        return _local_resolution(session, text)
    plan = topo_resolve(session, sym)
    hosts = [Host(h.name, dict(getattr(h, "settings", {}) or {}), getattr(h, "connector", "ssh"), h)
             for h in plan.hosts]
    return Resolution(text, list(plan.levels), plan.to_dict(), hosts)


def _symbol(text: str):
    from ..language import parse

    stmts = parse(f"x {text}")
    return stmts[0].args[1]


def _local_resolution(session, text: str) -> Resolution:
    host = {"name": "local", "hostname": "localhost", "connector": "local", "settings": {}}
    levels = [{"level": i, "name": n, "value": v} for i, (n, v) in enumerate([
        ("symbol", text), ("alias", "local"), ("target", "local (built in)"), ("hosts", ["local"]),
        ("address", "localhost"), ("identity", os.environ.get("USER", "")), ("trust", "n/a"),
        ("connector", "local")])]
    return Resolution(text, levels, {"symbol": text, "target": "local", "hosts": [host]},
                      [Host("local", {}, "local", None)])


def connector(session, host: Host):
    """The pooled connector for ``host``."""
    try:
        from .. import connectors
        pool_for = getattr(connectors, "pool", None) or getattr(connectors, "session_pool", None)
    except ImportError:
        pool_for = None
    if pool_for is not None and host.raw is not None:
        return pool_for(session).get(host.raw)
    if host.connector == "local":
        return LocalFallback(host.name)
    raise TetraError(f"no connector available for host {host.name} ({host.connector})")


class LocalFallback:
    """Just enough of the Connector interface to run on this machine."""

    def __init__(self, host: str = "local"):
        self.host = host

    def run(self, command, *, timeout=None, on_stdout=None, on_stderr=None, cancel=None,
            capture=True):
        from ..connectors.base import RunResult

        argv = ["sh", "-c", command] if isinstance(command, str) else list(command)
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        out: list[str] = []
        err: list[str] = []

        def pump(stream, sink, cb):
            for line in stream:
                sink.append(line)
                if cb:
                    cb(line.rstrip("\n"))

        threads = [threading.Thread(target=pump, args=(proc.stdout, out, on_stdout), daemon=True),
                   threading.Thread(target=pump, args=(proc.stderr, err, on_stderr), daemon=True)]
        for t in threads:
            t.start()
        error = None
        while proc.poll() is None:
            if cancel is not None and cancel.is_set():
                error = "cancelled"
            elif timeout is not None and time.monotonic() - started > timeout:
                error = f"timed out after {timeout:g}s"
            if error:
                os.killpg(proc.pid, 9)
                break
            time.sleep(0.01)
        proc.wait()
        for t in threads:
            t.join()
        return RunResult(self.host, None if error else proc.returncode, "".join(out), "".join(err),
                         time.monotonic() - started, error)

    def put(self, local_path, remote_path, *, progress=None):
        h = hashlib.sha256()
        total = os.path.getsize(local_path)
        done = 0
        tmp = f"{remote_path}.part"
        with open(local_path, "rb") as fin, open(tmp, "wb") as fout:
            while chunk := fin.read(1 << 20):
                fout.write(chunk)
                h.update(chunk)
                done += len(chunk)
                if progress:
                    progress(done, total)
        os.replace(tmp, remote_path)
        return h.hexdigest()

    def get(self, remote_path, local_path, *, progress=None):
        shutil.copyfile(remote_path, local_path)
        with open(local_path, "rb") as f:
            return hashlib.file_digest(f, "sha256").hexdigest()

    def close(self):
        pass

"""Connectors: one interface to run commands and move files, local or over SSH.

Public API (other code calls these):

    pool_for(session) -> ConnectorPool
        The session's pool; ``pool.get(host: ResolvedHost) -> Connector`` gives
        one pooled connector per host, closed at ``session.close()``.
    fan_out(hosts, fn, *, parallel=10, cancel=None) -> GroupResult
        ``fn(host)`` on every host, at most ``parallel`` at once; the result maps
        host name -> value or exception, with ``.succeeded`` / ``.failed``.
    check_hosts(session, plan) -> {host name: {"ok", "ms", "error", ...}}
        A live check of every host of a plan (``resolve --connect``).
    Connector.run(command, *, timeout, on_stdout, on_stderr, cancel, capture) -> RunResult
        ``command`` a list (each word shell-quoted: one argument each) or a
        string (a script run by ``sh -c``).  Timeout/cancel end the command's
        process group on the host.  A lost connection is ``RunResult.error``
        "connection lost …" with ``exit_status`` None, never -1.
    Connector.put(local, remote, *, progress, cancel) -> sha256 hex
    Connector.get(remote, local, *, progress, cancel) -> sha256 hex
        Verified against the host's sha256, written to a temp name and renamed,
        so the destination is never partial.  ``progress(done, total)``.

Errors (connectors.base): ConnectorError > HostKeyError, AuthError,
ConnectError, ConnectionLost, TransferError, Cancelled.  Importing this
package does not import paramiko; the first SSH host does.
"""

from __future__ import annotations

import threading
import time

from ..deferred import defer_invoke
from .base import (AuthError, Cancelled, ConnectError, ConnectionLost, Connector,
                   ConnectorError, HostKeyError, RunResult, TransferError)
from .group import GroupResult, fan_out
from .pool import ConnectorPool

defer_invoke()  # before any paramiko import: see tetra_repl.deferred

POOL_SERVICE = "connectors.pool"


def pool_for(session) -> ConnectorPool:
    """The session's connector pool (created on first use, closed with the session)."""
    return session.service(POOL_SERVICE, ConnectorPool, lambda pool: pool.close())


def check_hosts(session, plan) -> dict[str, dict]:
    """Connect to every host of ``plan`` and run ``true``: ok, latency, error."""
    pool = pool_for(session)

    def check(host) -> dict:
        started = time.monotonic()
        connector = pool.get(host)
        result = connector.run(["true"], timeout=float(host.setting("connect_timeout", 10)) + 5)
        info = {"ok": result.ok, "ms": round((time.monotonic() - started) * 1000, 1),
                "error": result.error or (None if result.ok else f"exit {result.exit_status}")}
        info.update(getattr(connector, "describe", lambda: {})())
        return info

    results = fan_out(plan.hosts, check, parallel=plan.parallel, cancel=threading.Event())
    return {name: value if isinstance(value, dict) else
            {"ok": False, "ms": None, "error": getattr(value, "message", str(value)),
             "hint": getattr(value, "hint", None)}
            for name, value in results.items()}


__all__ = ["pool_for", "fan_out", "check_hosts", "GroupResult", "ConnectorPool", "Connector",
           "RunResult", "ConnectorError", "HostKeyError", "AuthError", "ConnectError",
           "ConnectionLost", "TransferError", "Cancelled"]

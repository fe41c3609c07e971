"""One connector per host for the life of a session (one SSH connection, many channels)."""

from __future__ import annotations

import threading

from .base import Connector


class ConnectorPool:
    """``pool.get(host)`` returns the same connector for the same host every time.

    SSH connectors connect lazily on first use, so ``get`` is cheap and never
    blocks on the network; ``close()`` ends every connection (jump hosts last).
    Entries that are the same login on the same machine share one connection
    (:func:`~tetra_repl.connectors.ssh.link_key`): ten instances on one box
    cost one handshake, not ten.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._connectors: dict[tuple, Connector] = {}
        self._links: dict[tuple, object] = {}

    def get(self, host) -> Connector:
        """The pooled connector for a :class:`~tetra_repl.topology.ResolvedHost`."""
        with self._lock:
            connector = self._connectors.get(host.key)
            if connector is None:
                connector = self._make(host)
                self._connectors[host.key] = connector
            return connector

    def _make(self, host) -> Connector:
        if host.connector == "local":
            from .local import LocalConnector

            return LocalConnector(host.name, host)
        from .ssh import Link, SSHConnector, link_key

        link = self._links.setdefault(link_key(host), Link.of(host))
        return SSHConnector(host, pool=self, link=link)

    def connectors(self) -> list[Connector]:
        with self._lock:
            return list(self._connectors.values())

    def close(self) -> None:
        """Close every connection; hosts reached through a jump close before the jump."""
        with self._lock:
            connectors = list(self._connectors.values())
            self._connectors.clear()
            self._links.clear()
        for connector in sorted(connectors, key=lambda c: -len(getattr(c.resolved, "via", ()) or ())):
            try:
                connector.close()
            except Exception:
                pass

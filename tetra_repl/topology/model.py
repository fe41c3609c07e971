"""What resolving an @symbol produces: plain data, JSON-serialisable."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ResolvedHost:
    """One host ready to connect to: where, as whom, trusting what, with which settings.

    ``settings`` is the merged dict (defaults < ssh_config < target < host):
    deploy_path, health, check, restart, parallel, timeout, keepalive_*, ...
    ``via`` holds the ProxyJump hops, first hop first.
    """

    name: str
    hostname: str
    port: int | None
    user: str
    connector: str  # "local" | "ssh"
    target: str = ""
    roles: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    identity_files: tuple[str, ...] = ()
    agent: bool = False
    known_hosts: tuple[str, ...] = ()
    host_key_policy: str = "reject"
    host_key_alias: str | None = None
    via: tuple["ResolvedHost", ...] = ()
    sources: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> tuple:
        """What makes two entries the same pooled connection: each host entry gets its own."""
        return (self.name, self.connector, self.hostname, self.port, self.user,
                tuple(h.key for h in self.via), self.identity_files, self.known_hosts,
                self.host_key_policy)

    @property
    def address(self) -> str:
        """``user@hostname:port`` (``hostname`` alone for local hosts)."""
        if self.connector == "local":
            return self.hostname
        return f"{self.user}@{self.hostname}:{self.port}"

    @property
    def known_hosts_name(self) -> str:
        """The name this host's key is filed under in known_hosts: a HostKeyAlias
        as written (OpenSSH adds no ``[ ]:port`` to it), else ``[hostname]:port``
        for a port other than 22."""
        if self.host_key_alias:
            return self.host_key_alias
        return self.hostname if self.port in (22, None) else f"[{self.hostname}]:{self.port}"

    def setting(self, name: str, default: Any = None) -> Any:
        value = self.settings.get(name)
        return default if value is None else value

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "target": self.target, "hostname": self.hostname,
            "port": self.port, "user": self.user, "connector": self.connector,
            "roles": list(self.roles), "identity_files": list(self.identity_files),
            "agent": self.agent, "known_hosts": list(self.known_hosts),
            "host_key_policy": self.host_key_policy, "host_key_alias": self.host_key_alias,
            "via": [h.to_dict() for h in self.via], "settings": dict(self.settings),
            "sources": dict(self.sources),
        }


@dataclass
class Plan:
    """The result of resolving one @symbol: eight levels of decisions and the hosts.

    ``levels[i]`` is ``{"level": i, "name": LEVEL_NAMES[i], ...}``; a transaction
    records one ``tes_resolved`` event per level and stores :meth:`to_dict` as
    ``tes_plan``.
    """

    symbol: str
    target: str
    levels: list[dict[str, Any]]
    hosts: list[ResolvedHost]
    settings: dict[str, Any] = field(default_factory=dict)  # target-level merged settings

    @property
    def parallel(self) -> int:
        return max(1, int(self.settings.get("parallel") or 10))

    def to_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "target": self.target, "levels": self.levels,
                "hosts": [h.to_dict() for h in self.hosts], "settings": dict(self.settings)}


LEVEL_NAMES = ("symbol", "alias", "target", "hosts", "address", "identity", "trust", "connector")

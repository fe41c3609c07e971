"""The TES resolver: an @symbol through eight levels to a list of hosts.

Data in, data out: no sockets unless ``connect=True`` asks level 7 for a live
check (through the session's connector pool).
"""

from __future__ import annotations

import fnmatch
import getpass
import os
import re
import threading
from pathlib import Path
from typing import Any

from ..errors import TetraError, UsageError
from .loader import HostEntry, TargetEntry, Topology, TopologyError, load
from .model import LEVEL_NAMES, Plan, ResolvedHost
from .schema import SETTINGS
from .sshconfig import SSHConfigFile

_DEFAULT_KEYS = ("~/.ssh/id_ed25519", "~/.ssh/id_ecdsa", "~/.ssh/id_rsa")
_CONNECTION_KEYS = ("user", "port", "identity_file", "identities_only", "agent", "known_hosts",
                    "host_key_policy", "connect_timeout", "connect_retries",
                    "keepalive_interval", "keepalive_count_max", "max_sessions")


class UnknownTarget(TetraError):
    """An @name that is neither a target, an alias, ``local`` nor an ssh_config Host."""


class TopologyStore:
    """The session's topology, re-read when the file changes (by mtime and size)."""

    def __init__(self, env):
        self.env = env
        path = env.ssh_config_file
        default = Path.home() / ".ssh" / "config"
        self.ssh_config = SSHConfigFile(
            path, required=path is not None and Path(path).expanduser() != default)
        self._lock = threading.Lock()
        self._stamp: tuple | None = None
        self._value: Topology | TopologyError | None = None

    def current(self) -> Topology:
        """The topology in force now; raises TopologyError for a broken file."""
        path = self.env.find_topology()
        stamp: tuple | None = None
        if path is not None:
            try:
                st = Path(path).stat()
                stamp = (str(path), st.st_mtime_ns, st.st_size)
            except OSError:
                stamp = (str(path), None, None)
        with self._lock:
            if stamp != self._stamp or self._value is None:
                self._stamp = stamp
                try:
                    self._value = load(Path(path)) if path is not None else Topology()
                except TopologyError as exc:
                    self._value = exc
            if isinstance(self._value, TopologyError):
                raise self._value
            return self._value


def store_for(session) -> TopologyStore:
    """The session's :class:`TopologyStore` (created on first use)."""
    return session.service("topology", lambda: TopologyStore(session.env))


def parse_symbol(text: str):
    """``"@prod:web[web-1]"`` (or, as an alias's value, ``"prod:web"``) ->
    :class:`tetra_repl.language.Symbol`, by the language's own rule."""
    from ..language import SymbolError
    from ..language import parse_symbol as parse

    text = text.strip()
    try:
        return parse(text if text.startswith("@") else "@" + text)
    except SymbolError:
        raise UsageError(f"not a target: {text!r}", hint="targets look like @staging") from None


def resolve(session, symbol, *, connect: bool = False) -> Plan:
    """Resolve ``symbol`` (a Symbol or ``"@text"``) to a :class:`Plan`.

    Raises :class:`UnknownTarget` (with "did you mean") or TopologyError.
    """
    if isinstance(symbol, str):
        symbol = parse_symbol(symbol)
    store = store_for(session)
    topology = store.current()
    levels: list[dict[str, Any]] = [
        {"level": 0, "name": "symbol", "symbol": symbol.text, "target": symbol.name,
         "role": symbol.role, "selector": list(symbol.selector) if symbol.selector else None}]

    name, role, selector, chain = _expand_alias(topology, symbol)
    levels.append({"level": 1, "name": "alias", "input": symbol.name, "output": name,
                   "chain": chain, "role": role, "selector": selector})

    target, source = _find_target(topology, store.ssh_config, name, symbol)
    base = _layers_of(topology, target)
    target_settings, _ = _merge([layer for layer in base if layer[0] != "ssh_config"])
    levels.append({"level": 2, "name": "target", "target": name, "source": source,
                   "file": str(topology.path) if source == "topology" and topology.path else None,
                   "hosts_defined": len(target.hosts), "roles": target.roles,
                   "settings": target_settings})

    entries = _select(target, role, selector, symbol)
    levels.append({"level": 3, "name": "hosts", "role": role, "selector": selector,
                   "defined": [h.name for h in target.hosts],
                   "selected": [h.name for h in entries]})

    builtin_local = source == "builtin"
    hosts = [_host(topology, store.ssh_config, target, entry, builtin_local) for entry in entries]
    levels.append({"level": 4, "name": "address", "hosts": [
        {"host": h.name, "hostname": h.hostname, "port": h.port,
         "proxy_jump": [v.address for v in h.via] or None,
         "ssh_config": h.sources.get("ssh_config", False),
         "from": {k: h.sources.get(k) for k in ("hostname", "port", "proxy_jump")
                  if h.sources.get(k)}} for h in hosts]})
    levels.append({"level": 5, "name": "identity", "hosts": [
        {"host": h.name, "user": h.user, "identity_files": list(h.identity_files),
         "agent": h.agent, "from": {k: h.sources.get(k) for k in ("user", "identity_file")
                                    if h.sources.get(k)}} for h in hosts]})
    levels.append({"level": 6, "name": "trust", "hosts": [
        {"host": h.name, "known_hosts": list(h.known_hosts),
         "known_hosts_name": h.known_hosts_name if h.connector == "ssh" else None,
         "policy": h.host_key_policy if h.connector == "ssh" else None} for h in hosts]})
    connector_level: dict[str, Any] = {"level": 7, "name": "connector", "hosts": [
        {"host": h.name, "connector": h.connector} for h in hosts]}
    levels.append(connector_level)
    assert [lv["name"] for lv in levels] == list(LEVEL_NAMES)
    plan = Plan(symbol.text, name, levels, hosts, target_settings)
    if connect:
        from ..connectors import check_hosts

        results = check_hosts(session, plan)
        for entry in connector_level["hosts"]:
            entry["check"] = results[entry["host"]]
    return plan


def _expand_alias(topology: Topology, symbol):
    name, role = symbol.name, symbol.role
    selector = list(symbol.selector) if symbol.selector else None
    chain = [name]
    while name in topology.aliases and name not in topology.targets:
        target = parse_symbol(topology.aliases[name])
        name = target.name
        role = role or target.role
        if selector is None and target.selector:
            selector = list(target.selector)
        if name in chain:
            raise TopologyError(f"alias cycle: {' -> '.join(chain + [name])}")
        chain.append(name)
    return name, role, selector, chain


def _find_target(topology: Topology, ssh_config: SSHConfigFile, name: str, symbol):
    if name in topology.targets:
        return topology.targets[name], "topology"
    if name == "local":
        return TargetEntry("local", (HostEntry("local", "localhost"),),
                           {"connector": "local"}), "builtin"
    if ssh_config.matches(name):
        return TargetEntry(name, (HostEntry(name),), {}), "ssh_config"
    raise unknown_target(topology, ssh_config, name, symbol)


def unknown_target(topology: Topology, ssh_config: SSHConfigFile, name: str, symbol=None):
    """The UnknownTarget error for ``name``, with a suggestion when one is close."""
    import difflib

    known = sorted({*topology.targets, *topology.aliases, "local", *ssh_config.names()})
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    text = symbol.text if symbol is not None else "@" + name
    if symbol is not None and symbol.name != name:  # an alias names a target that is not there
        message = f"unknown target @{name} (alias @{symbol.name} -> {name})"
    else:
        message = f"unknown target {text}" + (f" (did you mean @{close[0]}?)" if close else "")
    if topology.path is None:
        hint = "no topology file: create DIR/topology.toml or pass --topology FILE"
    else:
        hint = f"targets are defined in {topology.path}; 'targets' lists them"
    return UnknownTarget(message, hint=hint)


def _select(target: TargetEntry, role: str | None, selector: list[str] | None, symbol):
    hosts = list(target.hosts)
    if role is not None:
        hosts = [h for h in hosts if role in h.roles]
        if not hosts:
            roles = ", ".join(target.roles) or "none defined"
            raise TetraError(f"{symbol.text}: no host of {target.name} has role {role!r}",
                             hint=f"roles of {target.name}: {roles}")
    if selector is None:
        return hosts
    chosen: list[HostEntry] = []
    for item in selector:
        if re.fullmatch(r"-?\d+", item):
            index = int(item)
            if not -len(hosts) <= index < len(hosts):
                where = f"{target.name}:{role}" if role else target.name
                raise TetraError(f"{symbol.text}: index {index} is out of range "
                                 f"({len(hosts)} host{'s' if len(hosts) != 1 else ''})",
                                 hint=f"indexes of {where}: " + (
                                     "0" if len(hosts) == 1 else f"0..{len(hosts) - 1}")
                                 + "; hosts: " + ", ".join(h.name for h in hosts))
            found = [hosts[index]]
        else:
            found = [h for h in hosts if fnmatch.fnmatchcase(h.name, item)]
        if not found:
            import difflib

            close = difflib.get_close_matches(item, [h.name for h in hosts], n=1, cutoff=0.5)
            raise TetraError(f"{symbol.text}: no host {item!r} in {target.name}"
                             + (f":{role}" if role else "")
                             + (f" (did you mean {close[0]!r}?)" if close else ""),
                             hint="hosts: " + ", ".join(h.name for h in hosts))
        chosen.extend(h for h in found if h not in chosen)
    return chosen


def _layers_of(topology: Topology, target: TargetEntry) -> list[tuple[str, dict]]:
    builtin = {k: s.default for k, s in SETTINGS.items() if s.default is not None}
    return [("builtin", builtin), ("defaults", topology.defaults), ("target", target.settings)]


def _merge(layers: list[tuple[str, dict]]) -> tuple[dict, dict]:
    merged: dict[str, Any] = {}
    sources: dict[str, str] = {}
    for layer, values in layers:
        for key, value in values.items():
            if value is not None:
                merged[key] = value
                sources[key] = layer
    return merged, sources


def _host(topology: Topology, ssh_config: SSHConfigFile, target: TargetEntry,
          entry: HostEntry, builtin_local: bool, depth: int = 0) -> ResolvedHost:
    base = _layers_of(topology, target)
    pre, _ = _merge(base + [("host", entry.settings)])
    connector = pre.get("connector") or ("local" if builtin_local else "ssh")
    looked_up = {"hostname": None, "settings": {}, "host_key_alias": None}
    if connector == "ssh":
        looked_up = ssh_config.lookup(entry.host or entry.name)
    layers = base[:2] + [("ssh_config", looked_up["settings"])] + base[2:] + [("host", entry.settings)]
    settings, sources = _merge(layers)
    settings["connector"] = connector
    sources["ssh_config"] = bool(looked_up["settings"] or looked_up["hostname"])
    if entry.host:
        hostname, sources["hostname"] = entry.host, "host"
    elif looked_up["hostname"]:
        hostname, sources["hostname"] = looked_up["hostname"], "ssh_config"
    else:
        hostname, sources["hostname"] = (entry.name, "name")
    user = settings.get("user") or _local_user()
    sources.setdefault("user", "local user")
    if connector == "local":
        # commands run as this process's user, whatever [defaults] user says
        sources["user"] = "local user"
        return ResolvedHost(entry.name, hostname if entry.host else "localhost", None,
                            _local_user(), "local", target.name, entry.roles, settings,
                            sources=sources)
    port = int(settings.get("port") or 22)
    sources.setdefault("port", "builtin")
    identity = settings.get("identity_file")
    if identity:
        identity_files = tuple(os.path.expanduser(p) for p in identity)
    else:
        identity_files = tuple(p for p in map(os.path.expanduser, _DEFAULT_KEYS)
                               if os.path.isfile(p))
        sources["identity_file"] = "default"
    agent = bool(settings.get("agent", True)) and bool(os.environ.get("SSH_AUTH_SOCK"))
    known = settings.get("known_hosts") or ["~/.ssh/known_hosts"]
    via: tuple[ResolvedHost, ...] = ()
    if settings.get("proxy_jump"):
        via = _jumps(topology, ssh_config, settings, settings["proxy_jump"], depth)
    return ResolvedHost(
        entry.name, hostname, port, user, "ssh", target.name, entry.roles, settings,
        identity_files=identity_files, agent=agent,
        known_hosts=tuple(os.path.expanduser(p) for p in known),
        host_key_policy=settings.get("host_key_policy", "reject"),
        host_key_alias=looked_up.get("host_key_alias"), via=via, sources=sources)


def _jumps(topology: Topology, ssh_config: SSHConfigFile, settings: dict, spec: str,
           depth: int) -> tuple[ResolvedHost, ...]:
    """ProxyJump ``[user@]host[:port][,…]``: each hop a ResolvedHost, first hop first."""
    if depth > 4:
        raise TopologyError(f"proxy_jump {spec!r}: jump hosts nest too deep (a loop?)")
    hops: list[ResolvedHost] = []
    for item in (s.strip() for s in spec.split(",") if s.strip()):
        match = re.fullmatch(r"(?:ssh://)?(?:(?P<user>[^@]+)@)?(?P<host>\[[^\]]+\]|[^:]+)"
                             r"(?::(?P<port>\d+))?", item)
        if match is None:
            raise TopologyError(f"proxy_jump: cannot read jump host {item!r}",
                                hint="use [user@]host[:port]")
        name = match.group("host").strip("[]")
        if name in topology.targets and len(topology.targets[name].hosts) == 1:
            jump_target = topology.targets[name]
            hop = _host(topology, ssh_config, jump_target, jump_target.hosts[0], False, depth + 1)
        else:
            inherited = {k: settings[k] for k in _CONNECTION_KEYS if k in settings
                         and k not in ("user", "port")}
            jump_target = TargetEntry(name, (HostEntry(name),), inherited)
            hop = _host(Topology(), ssh_config, jump_target, jump_target.hosts[0], False,
                        depth + 1)
        changes: dict[str, Any] = {"via": tuple(hops)}
        if match.group("user"):
            changes["user"] = match.group("user")
        if match.group("port"):
            changes["port"] = int(match.group("port"))
        from dataclasses import replace

        hops.append(replace(hop, **changes))
    return tuple(hops)


def _local_user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return str(os.getuid())


def describe_targets(session) -> dict[str, Any]:
    """Targets, aliases and ssh_config hosts for ``targets`` and completion."""
    store = store_for(session)
    topology = store.current()
    targets = []
    for name, target in topology.targets.items():
        targets.append({"name": name, "source": "topology", "roles": target.roles,
                        "connector": target.settings.get("connector")
                        or topology.defaults.get("connector") or "ssh",
                        "hosts": [{"name": h.name, "host": h.host, "roles": list(h.roles)}
                                  for h in target.hosts]})
    if "local" not in topology.targets:
        targets.append({"name": "local", "source": "builtin", "roles": [], "connector": "local",
                        "hosts": [{"name": "local", "host": "localhost", "roles": []}]})
    ssh_hosts = [n for n in store.ssh_config.names()
                 if n not in topology.targets and n not in topology.aliases and n != "local"]
    return {"file": str(topology.path) if topology.path else None, "targets": targets,
            "aliases": dict(topology.aliases), "ssh_config": ssh_hosts,
            "ssh_config_file": str(store.ssh_config.path) if store.ssh_config.path else None}

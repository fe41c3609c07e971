"""ssh_config support: which names it defines, and what it says about a host.

Listing names (for ``targets``, completion and "did you mean") reads the
``Host`` lines directly; looking a host up uses paramiko's SSHConfig, imported
only then, so resolving ``@local`` never imports paramiko.
"""

from __future__ import annotations

import fnmatch
import glob
import os
from pathlib import Path
from typing import Any

# ssh_config keyword -> topology setting
_MAPPED = {"user": "user", "port": "port", "proxyjump": "proxy_jump",
           "connecttimeout": "connect_timeout", "serveraliveinterval": "keepalive_interval",
           "serveralivecountmax": "keepalive_count_max"}
_NUMERIC = {"port": int, "connect_timeout": float, "keepalive_interval": float,
            "keepalive_count_max": int}


class SSHConfigFile:
    """One ssh_config file, re-read when its modification time changes."""

    def __init__(self, path: Path | None, *, required: bool = False):
        self.path = Path(path).expanduser() if path else None
        self.required = required  # named by --ssh-config or $TETRA_SSH_CONFIG: must exist
        self._stamp: tuple | None = None
        self._patterns: list[str] = []
        self._included: list[Path] = []
        self._text = ""
        self._config = None

    def _refresh(self) -> None:
        stamp = _stamp(self.path)
        if self.required and self.path is not None and (stamp is None or not self.path.is_file()):
            from .loader import TopologyError

            reason = "not a file" if self.path.exists() else "no such file"
            raise TopologyError(f"cannot read ssh_config {self.path}: {reason}",
                                hint="fix --ssh-config FILE or $TETRA_SSH_CONFIG")
        if stamp is not None:
            stamp = (stamp, *(_stamp(p) for p in self._included))
        if stamp != self._stamp:
            self._config = None
            self._text, self._included = _expand(self.path, 0) if stamp else ("", [])
            self._stamp = stamp
            if stamp is not None:
                self._stamp = (stamp[0], *(_stamp(p) for p in self._included))
            self._patterns = _host_patterns(self._text)

    def names(self) -> list[str]:
        """Literal host names (no wildcards, no negations) the file defines."""
        self._refresh()
        return sorted({p for p in self._patterns if not any(c in p for c in "*?!")})

    def matches(self, name: str) -> bool:
        """Whether a ``Host`` pattern other than a bare ``*`` matches ``name``."""
        self._refresh()
        negated = [p[1:] for p in self._patterns if p.startswith("!")]
        if any(fnmatch.fnmatchcase(name, p) for p in negated):
            return False
        return any(p != "*" and not p.startswith("!") and fnmatch.fnmatchcase(name, p)
                   for p in self._patterns)

    def lookup(self, name: str) -> dict[str, Any]:
        """What the file says about ``name``: hostname, settings, StrictHostKeyChecking…

        Returns ``{"hostname": str, "settings": {topology key: value}, "raw": {...}}``.
        """
        self._refresh()
        if not self._stamp:
            return {"hostname": None, "settings": {}, "raw": {}}
        try:
            if self._config is None:
                from ..deferred import defer_invoke

                defer_invoke()  # paramiko.config would import invoke: ~50 ms
                from paramiko.config import SSHConfig

                self._config = SSHConfig.from_text(self._text)
            raw = dict(self._config.lookup(name))
        except Exception as exc:  # paramiko's ConfigParseError and friends
            from .loader import TopologyError

            raise TopologyError(f"{self.path}: cannot read ssh_config: {exc}",
                                hint="fix the file, or pass --ssh-config FILE") from None
        settings: dict[str, Any] = {}
        for key, setting in _MAPPED.items():
            if key in raw:
                value = raw[key]
                if setting in _NUMERIC:
                    try:
                        value = _NUMERIC[setting](value)
                    except ValueError:
                        continue
                    # 0 is OpenSSH's "off" / "the system's default" (ServerAliveInterval 0:
                    # no keepalive, ConnectTimeout 0: the TCP timeout): tetra's default
                    # then, as keepalive stays on (SPEC 5); below that is not a value
                    if not value > 0:
                        continue
                settings[setting] = value
        if "identityfile" in raw:
            settings["identity_file"] = [os.path.expanduser(p) for p in raw["identityfile"]]
        if "userknownhostsfile" in raw:
            settings["known_hosts"] = [os.path.expanduser(p)
                                       for p in str(raw["userknownhostsfile"]).split()]
        strict = str(raw.get("stricthostkeychecking", "")).lower()
        if strict == "accept-new":
            settings["host_key_policy"] = "accept-new"
        elif strict in ("yes", "ask"):
            settings["host_key_policy"] = "reject"
        # StrictHostKeyChecking=no accepts even changed keys; tetra never does, so it
        # is read as accept-new (first key recorded, a changed key still refused).
        elif strict in ("no", "off"):
            settings["host_key_policy"] = "accept-new"
        if str(raw.get("identitiesonly", "")).lower() == "yes":
            settings["identities_only"] = True
        if settings.get("proxy_jump", "").lower() == "none":
            settings.pop("proxy_jump")
        # not run (the SSH connector refuses the host, naming it), but kept so that
        # neither resolve nor a connection passes it over in silence
        if raw.get("proxycommand") and "proxy_jump" not in settings:
            settings["proxy_command"] = str(raw["proxycommand"])
        try:
            attempts = int(raw.get("connectionattempts", 0))
        except ValueError:
            attempts = 0
        if attempts >= 1:
            settings["connect_retries"] = attempts - 1
        hostname = raw.get("hostname") if raw.get("hostname") != name else None
        return {"hostname": hostname, "settings": settings,
                "host_key_alias": raw.get("hostkeyalias"), "raw": raw}


def _stamp(path: Path | None) -> tuple | None:
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_size)


def _expand(path: Path, depth: int) -> tuple[str, list[Path]]:
    """The file's text with ``Include`` lines replaced by the files they name
    (paramiko's SSHConfig does not follow them), and the files included."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return "", []
    out: list[str] = []
    included: list[Path] = []
    for line in lines:
        words = line.strip().replace("=", " ", 1).split()
        if not words or words[0].lower() != "include" or depth >= 8:
            out.append(line)
            continue
        for pattern in words[1:]:
            pattern = os.path.expanduser(pattern.strip('"'))
            if not os.path.isabs(pattern):  # relative to ~/.ssh, as ssh_config(5) says
                pattern = os.path.join(os.path.expanduser("~/.ssh"), pattern)
            for found in sorted(glob.glob(pattern)):
                text, more = _expand(Path(found), depth + 1)
                out.extend(text.splitlines())
                included += [Path(found), *more]
    return "\n".join(out) + "\n", included


def _host_patterns(text: str) -> list[str]:
    patterns: list[str] = []
    for line in text.splitlines():
        words = line.strip().replace("=", " ", 1).split()
        if len(words) >= 2 and words[0].lower() == "host":
            patterns.extend(w.strip('"') for w in words[1:])
    return patterns

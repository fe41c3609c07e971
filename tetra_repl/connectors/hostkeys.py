"""known_hosts checking: policy ``reject`` (default) or ``accept-new``; never AutoAdd.

A changed key is refused under every policy, with the file and line that
holds the old key and the command that removes it.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import shlex
import threading

from .base import HostKeyError

_write_lock = threading.Lock()  # one writer of known_hosts at a time in this process
_cache_lock = threading.Lock()


def fingerprint(key) -> str:
    """``SHA256:…`` as ``ssh-keygen -l`` prints it."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


def known_entries(files, name: str) -> list[tuple[str, int, object]]:
    """Every ``(file, line number, key)`` filed under ``name`` (hashed names too)."""
    from paramiko.hostkeys import HostKeys

    found = []
    for path in files:
        for lineno, hostnames, key in _parsed(path):
            for h in hostnames:
                if h == name or (h.startswith("|1|") and HostKeys.hash_host(name, h) == h):
                    found.append((path, lineno, key))
                    break
    return found


_parsed_cache: dict[str, tuple[tuple, list]] = {}


def _parsed(path: str) -> list:
    """The entries of one known_hosts file, parsed once per version of the file."""
    from paramiko.hostkeys import HostKeyEntry

    try:
        st = os.stat(path)
    except OSError:
        return []
    stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
    with _cache_lock:
        cached = _parsed_cache.get(path)
        if cached is not None and cached[0] == stamp:
            return cached[1]
    entries = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            lines = f.readlines()
    except OSError:
        return []
    for lineno, line in enumerate(lines, 1):
        line = line.strip()
        # markers (@cert-authority, @revoked) are not host keys; skip rather than misread
        if not line or line.startswith("#") or line.startswith("@"):
            continue
        try:
            entry = HostKeyEntry.from_line(line, lineno)
        except Exception:
            continue
        if entry is not None:
            entries.append((lineno, tuple(entry.hostnames), entry.key))
    with _cache_lock:
        _parsed_cache[path] = (stamp, entries)
    return entries


def preferred_key_types(entries, offered: tuple[str, ...]) -> list[str]:
    """Host key algorithms with those we already know first (so a host with an
    RSA and an ed25519 key is checked against the one we have)."""
    known = []
    for _, _, key in entries:
        name = key.get_name()
        names = ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"] if name == "ssh-rsa" else [name]
        known.extend(n for n in names if n in offered and n not in known)
    return known + [t for t in offered if t not in known]


def verify(host, key, entries) -> str | None:
    """Check the server's ``key`` for ``host``; returns a note when a key was recorded.

    Raises :class:`HostKeyError` for an unknown key (policy reject) or a changed one.
    """
    name = host.known_hosts_name
    if any(k.get_name() == key.get_name() and k.asbytes() == key.asbytes() for _, _, k in entries):
        return None
    fp = fingerprint(key)
    if entries:
        path, lineno, old = entries[0]
        raise HostKeyError(
            f"{host.name}: HOST KEY CHANGED for {name}: {path}:{lineno} has {old.get_name()} "
            f"{fingerprint(old)}, the server offers {key.get_name()} {fp}; refusing "
            "(this may be a man-in-the-middle attack)",
            hint=f"if the change is expected: ssh-keygen -R '{name}' -f {path}  "
                 "then trust the new key")
    if host.host_key_policy == "accept-new":
        return record(host, key)
    kh = host.known_hosts[0] if host.known_hosts else "~/.ssh/known_hosts"
    port = "" if host.port in (22, None) else f"-p {host.port} "
    kind = key.get_name().replace("ssh-", "").replace("ecdsa-sha2-nistp256", "ecdsa")
    scan = f"ssh-keyscan {port}-t {kind} {host.hostname}"
    if host.host_key_alias:  # the key is looked up under the alias, not the address
        scan += " | sed " + shlex.quote(f"s/^[^ ]*/{host.host_key_alias}/")
    raise HostKeyError(
        f"{host.name}: unknown host key for {name} ({key.get_name()} {fp}); refusing "
        "(policy reject)",
        hint=f"if that fingerprint is right: {scan} >> {kh}"
             "  (or set host_key_policy = \"accept-new\" for this target)")


def record(host, key) -> str:
    """Append the key to the first known_hosts file (``accept-new``), once."""
    path = host.known_hosts[0] if host.known_hosts else os.path.expanduser("~/.ssh/known_hosts")
    name = host.known_hosts_name
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, mode=0o700, exist_ok=True)
    with _write_lock:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            again = known_entries([path], name)  # another host entry may have just added it
            if again:
                verify(_with_reject(host), key, again)
                return f"{name} already recorded in {path}"
            os.write(fd, f"{name} {key.get_name()} {key.get_base64()}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
    return f"recorded {key.get_name()} {fingerprint(key)} for {name} in {path}"


def _with_reject(host):
    from dataclasses import replace

    return replace(host, host_key_policy="reject")

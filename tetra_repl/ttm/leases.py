"""Per-host leases (SPEC 6.4), built on the one lock primitive.

``DIR/locks/<host>.lock`` is a JSON record: holder txn, pid, host, token,
acquired and expiry.  Every read-validate-replace of a record happens while
holding ``flock`` on ``DIR/locks/.<host>.guard`` (:class:`FileLock`), and the
record itself is replaced atomically (``storage.write_json``), so two
processes can never both believe they hold a lease.  The flock is held only
for that moment: the lease outlives it, which is what lets a transaction keep
its hosts across stages and lets a dead holder be noticed and broken.
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from .. import storage
from ..errors import TetraError
from ..locking import FileLock
from . import crash
from .log import now_iso, parse_ts
from .store import pid_alive

DEFAULT_TTL = 3600.0  # seconds; renewed in the background while the holder works

_keepers_lock = threading.Lock()
_keepers: dict[tuple[str, str], threading.Event] = {}  # (locks dir, txn id) -> stop


def _expiry(ttl: float) -> str:
    """The UTC time ``ttl`` seconds from now, as a lease records it."""
    return (datetime.now(timezone.utc) + timedelta(seconds=ttl)).isoformat().replace("+00:00", "Z")


class WaitCancelled(TetraError):
    """The wait for a lease was cancelled (its job was cancelled); nothing was taken."""


class Locked(TetraError):
    """Another live transaction holds the lease."""

    def __init__(self, message: str, holder: dict, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.holder = holder


@dataclass
class Lease:
    host: str
    token: str
    file: str
    record: dict


def lock_name(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", host) or "_"


def describe(holder: dict) -> str:
    """``<txn> (pid P on H since T)``."""
    return (f"{holder.get('txn')} (pid {holder.get('pid')} on {holder.get('hostname')} "
            f"since {holder.get('acquired')})")


class Leases:
    """The lease table of one state directory."""

    def __init__(self, state_dir: str | os.PathLike):
        self.dir = Path(state_dir) / "locks"

    def path(self, host: str) -> Path:
        return self.dir / f"{lock_name(host)}.lock"

    def holder(self, host: str) -> dict | None:
        try:
            return storage.read_json(self.path(host))
        except (FileNotFoundError, ValueError):
            return None

    def why_stale(self, record: dict) -> str | None:
        """Why a lease record no longer binds anyone, or None when it does."""
        try:
            if parse_ts(record["expires"]) <= datetime.now(timezone.utc):
                return f"expired at {record['expires']}"
        except (KeyError, ValueError):
            return "unreadable lease record"
        if record.get("hostname") == socket.gethostname():
            pid = int(record.get("pid") or 0)
            if not pid_alive(pid):
                return f"holder pid {pid} is dead"
            start = record.get("pid_start")
            if start is not None and _pid_start(pid) not in (None, start):
                return f"holder pid {pid} is dead (pid reused)"
        return None

    def acquire(self, host: str, txn_id: str, *, label: str | None = None,
                wait: float | None = None, ttl: float = DEFAULT_TTL,
                on_broken=None, cancel=None, name_host: bool = False) -> Lease:
        """Take the lease on ``host`` for ``txn_id``.

        A refusal names ``label`` (the target as written), then, with
        ``name_host`` (a target of several hosts), the host: ``@prod is locked
        by <txn> (pid P on H since T); host web-2``.

        ``wait=None`` fails fast with :class:`Locked`; otherwise polls for up to
        ``wait`` seconds.  The same transaction may re-take its own lease (a
        resumed run).  ``on_broken(old_record, reason)`` is called when a stale
        lease is broken, before the new one is written.  ``cancel`` (a
        ``threading.Event``) ends a wait early with :class:`WaitCancelled`.
        """
        self.dir.mkdir(parents=True, exist_ok=True)
        deadline = None if wait is None else time.monotonic() + wait
        delay = 0.02
        while True:
            with FileLock(self.dir / f".{lock_name(host)}.guard"):
                current = self.holder(host) if self.path(host).exists() else None
                if self.path(host).exists() and current is None:
                    current = {"txn": "?", "expires": "1970-01-01T00:00:00Z"}  # torn: never
                stale = self.why_stale(current) if current else None
                if current is None or stale or current.get("txn") == txn_id:
                    if current is not None and stale and current.get("txn") != txn_id \
                            and on_broken is not None:
                        on_broken(current, stale)
                    lease = self._write(host, txn_id, ttl)
                    crash.point("lease.written")
                    return lease
            if deadline is None or time.monotonic() >= deadline:
                where = f"; host {host}" if label and name_host else ""
                raise Locked(f"{label or host} is locked by {describe(current)}{where}", current,
                             hint="wait for it with --wait[=SECONDS], or see "
                                  f"'txn status {current.get('txn')}'")
            if cancel is None:
                time.sleep(delay)
            elif cancel.wait(delay):
                raise WaitCancelled(f"{label or host}: cancelled while waiting for its lease")
            delay = min(delay * 1.5, 0.25)

    def _write(self, host: str, txn_id: str, ttl: float) -> Lease:
        record = {"txn": txn_id, "host": host, "pid": os.getpid(), "pid_start": _pid_start(os.getpid()),
                  "hostname": socket.gethostname(), "token": secrets.token_hex(8),
                  "acquired": now_iso(), "expires": _expiry(ttl)}
        # Atomic but not fsynced: a process crash keeps the page cache, and a
        # power cut kills every holder, which makes any lease on disk stale.
        storage.write_json(self.path(host), record, durable=False)
        return Lease(host, record["token"], str(self.path(host)), record)

    def renew(self, host: str, txn_id: str, ttl: float = DEFAULT_TTL) -> bool:
        """Move the expiry of ``txn_id``'s own lease on ``host`` to ``ttl`` from
        now (same token); False when it no longer holds it (released, broken)."""
        with self._held_by(host, txn_id) as record:
            if record is not None:
                storage.write_json(self.path(host), {**record, "expires": _expiry(ttl)}, durable=False)
            return record is not None

    def keep_fresh(self, txn_id: str, hosts: list[str], ttl: float = DEFAULT_TTL) -> None:
        """Renew ``txn_id``'s leases on ``hosts`` every ``ttl / 6`` seconds from
        a background thread, until :meth:`release` drops them: a step longer
        than the TTL (an upload of hours) keeps its hosts."""
        stop = threading.Event()
        with _keepers_lock:
            old = _keepers.pop((str(self.dir), txn_id), None)
            if old is not None:
                old.set()
            _keepers[(str(self.dir), txn_id)] = stop

        def loop() -> None:
            while not stop.wait(ttl / 6):
                held = [h for h in hosts if self.renew(h, txn_id, ttl)]
                if not held:
                    return

        threading.Thread(target=loop, name=f"tetra-leases-{txn_id}", daemon=True).start()

    def release(self, host: str, txn_id: str) -> bool:
        """Drop ``txn_id``'s lease on ``host``; False when it no longer held it."""
        with _keepers_lock:
            keeper = _keepers.pop((str(self.dir), txn_id), None)
        if keeper is not None:
            keeper.set()
        with self._held_by(host, txn_id) as record:
            if record is not None:
                self.path(host).unlink()  # no fsync: see _write
            return record is not None

    @contextmanager
    def _held_by(self, host: str, txn_id: str):
        """Under the host's guard: its lease record if ``txn_id`` holds it, else None."""
        if not self.dir.is_dir():
            yield None
            return
        with FileLock(self.dir / f".{lock_name(host)}.guard"):
            current = self.holder(host)
            yield current if current is not None and current.get("txn") == txn_id else None

    def all(self) -> list[dict]:
        """Every lease record, with ``stale`` set when it would be broken."""
        out = []
        for p in sorted(self.dir.glob("*.lock")) if self.dir.is_dir() else []:
            try:
                record = storage.read_json(p)
            except (OSError, ValueError):
                continue
            out.append({**record, "stale": self.why_stale(record)})
        return out


def _pid_start(pid: int) -> int | None:
    """The process's start time in clock ticks (Linux), to detect pid reuse."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        return int(data.rsplit(b")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None

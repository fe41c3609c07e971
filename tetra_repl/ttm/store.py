"""The file-based transaction store of SPEC 6.1.

``DIR/<module>/txns/<id>/`` holds ``events.ndjson`` (the source of truth),
``state.json`` (always ``render(replay(events))`` of some prefix), ``ctx/``,
``build/`` and ``artifacts/``.  Every write goes through
:meth:`Transaction.record_many`: its events appended in one fsynced append,
then state.json replaced (temp + rename), both under the transaction's write
lock.  ``version`` counts writes; ``seq`` counts events.

state.json is trusted only as a cache: it is written with the log's
modification time (``st_mtime_ns``), and is used instead of a replay only
while it still has it and its ``seq`` is the log's last.  An edited
state.json (or log) has another time, so it costs a replay of the log, the
source of truth, which also finds a damaged line anywhere in it.
"""

from __future__ import annotations

import errno
import getpass
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import time
from contextlib import contextmanager
from pathlib import Path

from .. import storage
from ..errors import TetraError
from ..locking import FileLock
from . import crash, log, states

ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]*-\d{8}T\d{6}(-\d+)?$")


class VersionConflict(TetraError):
    """The transaction changed since the writer read it; nothing was written."""


class TxnNotFound(TetraError):
    """No transaction with that id (or no active one)."""


def actor() -> str:
    """``user@host:pid`` of this process."""
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry (containers)
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}:{os.getpid()}"


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:40].strip("-") or "txn"


def pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not yet reaped, is dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except (OSError, IndexError):
        return True


def actor_alive(text: str | None) -> bool | None:
    """Whether the process named by an actor string lives (None: another host)."""
    if not text or ":" not in text:
        return None
    who, _, pid = text.rpartition(":")
    if who.partition("@")[2] != socket.gethostname():
        return None
    try:
        return pid_alive(int(pid))
    except ValueError:
        return None


class Store:
    """All transactions under one state directory.

    ``bus`` (optional) receives ``txn.event`` and ``txn.stage_changed``.
    """

    def __init__(self, state_dir: str | os.PathLike, *, bus=None):
        self.root = Path(state_dir)
        self.bus = bus
        self.actor = actor()

    def txns_dir(self, module: str) -> Path:
        return self.root / module / "txns"

    # -- creating -----------------------------------------------------------
    def create(self, module: str, description: str, *, target: str | None = None,
               slug: str | None = None, actor_name: str | None = None,
               params: dict | None = None, request: str = "") -> "Transaction":
        """A new transaction in stage NEW; its id is ``slug-YYYYmmddTHHMMSS[-n]``."""
        base = self.txns_dir(module)
        base.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        stem = f"{slugify(slug or description)}-{stamp}"
        others = [m for m in self.modules() if m != module]
        for n in range(1, 10_000):
            txn_id = stem if n == 1 else f"{stem}-{n}"
            # An id names one transaction in every module ('txn show ID' finds it)
            if self._taken_elsewhere(txn_id, others):
                continue
            try:
                os.mkdir(base / txn_id)  # exclusive: a collision never overwrites
            except FileExistsError:
                continue
            # Another module's create may have made the same id between our
            # look and our mkdir: whichever looks last sees the other's
            # directory, so never both keep it.  (Both may back off: then -2.)
            if self._taken_elsewhere(txn_id, [m for m in self.modules() if m != module]):
                os.rmdir(base / txn_id)
                continue
            break
        else:
            raise TetraError(f"cannot allocate a transaction id for {stem}")
        path = base / txn_id
        try:
            for sub in ("ctx", "build", "artifacts"):
                (path / sub).mkdir()
            # Context files are fixed text regenerable from txn_start: written
            # plainly; the first event's fsync is what makes the transaction exist.
            (path / "ctx" / "000_policy.md").write_text(_POLICY)
            (path / "ctx" / "010_request.md").write_text(
                               f"# {description}\n\ntarget: {target or '-'}\nmodule: {module}\n"
                               f"actor: {actor_name or self.actor}\n\n{request}".rstrip() + "\n")
            txn = Transaction(self, path)
            txn.record("txn_start", {"id": txn_id, "module": module, "description": description,
                                     "target": target, "actor": actor_name or self.actor,
                                     "params": params or {}}, expect=0)
        except (OSError, TetraError) as exc:  # e.g. a full disk: no half-made transaction
            shutil.rmtree(path, ignore_errors=True)
            cause = exc.__cause__ if isinstance(exc, TetraError) else exc
            if not isinstance(cause, OSError):
                raise
            raise TetraError(f"cannot create transaction {txn_id}: {cause.strerror or cause}",
                             hint=_retry_hint(cause)) from cause
        return txn

    def _taken_elsewhere(self, txn_id: str, modules: list[str]) -> bool:
        return any(os.path.lexists(self.txns_dir(m) / txn_id) for m in modules)

    # -- finding ------------------------------------------------------------
    def modules(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.parent.name for p in self.root.glob("*/txns") if p.is_dir())

    def open(self, txn_id: str) -> "Transaction":
        """The transaction with this id, in whichever module holds it."""
        if not _plain_id(txn_id):
            raise TxnNotFound(f"no transaction {txn_id!r}")
        for module in self.modules():
            path = self.txns_dir(module) / txn_id
            if path.is_dir():
                return Transaction(self, path)
        raise TxnNotFound(f"no transaction {txn_id!r}", hint="see 'txn ls'")

    def ids(self, module: str | None = None) -> list[str]:
        out = []
        for m in [module] if module else self.modules():
            d = self.txns_dir(m)
            if d.is_dir():
                out.extend(p.name for p in d.iterdir() if p.is_dir() and not p.is_symlink())
        return out

    def all(self, module: str | None = None) -> list["Transaction"]:
        """Every transaction, newest first."""
        txns = []
        for m in [module] if module else self.modules():
            d = self.txns_dir(m)
            if d.is_dir():
                txns.extend(Transaction(self, p) for p in d.iterdir()
                            if p.is_dir() and not p.is_symlink())
        return sorted(txns, key=lambda t: (t.created_key(), t.id), reverse=True)

    # -- the active transaction -------------------------------------------
    def set_active(self, txn: "Transaction") -> None:
        """Point ``DIR/<module>/txns/active`` at ``txn`` (atomic symlink swap)."""
        link = txn.path.parent / "active"
        tmp = txn.path.parent / f".active.{os.getpid()}.tmp"
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        os.symlink(txn.id, tmp)
        os.replace(tmp, link)

    def active(self) -> "Transaction | None":
        """The most recently activated transaction across modules."""
        best = None
        for module in self.modules():
            link = self.txns_dir(module) / "active"
            try:
                mtime = link.lstat().st_mtime_ns
                target = os.readlink(link)
            except OSError:
                continue
            path = link.parent / target
            # only a transaction of this directory: a link edited to point
            # elsewhere (../.., /etc) must not become where writes go
            if not _plain_id(target) or path.is_symlink() or not path.is_dir():
                continue
            if best is None or mtime > best[0]:
                best = (mtime, path)
        return Transaction(self, best[1]) if best else None


def _plain_id(txn_id: str) -> bool:
    """Whether ``txn_id`` can only name an entry of a txns directory."""
    return "/" not in txn_id and txn_id not in ("", ".", "..", "active")


class Transaction:
    """One transaction directory.  All writes go through :meth:`record`."""

    def __init__(self, store: Store, path: Path):
        self.store = store
        self.path = Path(path)
        self.id = self.path.name
        self.module = self.path.parent.parent.name
        self._cache: dict | None = None  # state as of our last write
        self._cache_log: tuple | None = None  # the log's identity right after that write

    events_file = property(lambda self: self.path / "events.ndjson")
    state_file = property(lambda self: self.path / "state.json")

    def created_key(self) -> str:
        """Sortable creation time: the first event's ``ts`` (µs), else the id's stamp."""
        try:
            with open(self.events_file, "rb") as f:
                ts = json.loads(f.readline())["ts"]
            log.parse_ts(ts)
            return ts
        except (OSError, ValueError, LookupError, TypeError, AttributeError):
            # a log that is not one (damaged, hand-made) still sorts and lists
            m = re.search(r"-(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)", self.id)
            return "{}-{}-{}T{}:{}:{}".format(*m.groups()) if m else ""

    # -- reading ------------------------------------------------------------
    def events(self) -> list[dict]:
        """The whole log, checked (torn last line -> LogCorrupt)."""
        return log.read_events(self.events_file, name=self.id)

    def state(self) -> dict:
        """The state: state.json when it is current, else replayed from the log."""
        try:
            return self._read_state()
        except log.LogCorrupt as exc:
            if not exc.torn_tail:
                raise
            # Readers take no lock, so a line being appended right now (by
            # another thread or process; a write spanning pages shows up in
            # parts) looks torn: look again under the write lock, where only
            # a crash leaves a torn tail.  (Never called with the lock held.)
            with self._writing():
                return self._read_state()

    def _read_state(self) -> dict:
        try:
            log_stat = os.stat(self.events_file)
            seq, _ = log.tail(self.events_file)
        except FileNotFoundError:
            raise TxnNotFound(f"{self.id}: has no events (its creation was interrupted)",
                              hint=f"remove {self.path} if it is not wanted") from None
        cached = self._state_file_if_current(log_stat, seq)
        return cached if cached is not None else self.replay()

    def _state_file_if_current(self, log_stat: os.stat_result, seq: int) -> dict | None:
        """state.json when a writer wrote it for the log as it is: it still has
        the log's modification time (set by :meth:`record_many` and rebuild)
        and its ``seq`` is the log's last.  Else None: replay the log.

        The time tells an edited state.json (or log) from a written one; the
        ``seq`` tells a state.json one write behind (a crash between the
        append and its write, or two appends within one clock tick)."""
        try:
            with open(self.state_file, "rb") as f:
                if os.fstat(f.fileno()).st_mtime_ns != log_stat.st_mtime_ns:
                    return None
                cached = json.loads(f.read())
        except (OSError, ValueError):
            return None
        return cached if isinstance(cached, dict) and cached.get("seq") == seq else None

    def replay(self, until: str | None = None) -> dict:
        """The state replayed from the whole log (:class:`log.LogCorrupt` when it is damaged)."""
        return log.replay(self.events(), until, name=self.id)

    # -- writing ------------------------------------------------------------
    @contextmanager
    def _writing(self):
        with FileLock(self.path / ".write.lock"):
            yield

    def record(self, kind: str, data: dict | None = None, *, expect: int | None = None,
               to_stage: str | None = None) -> dict:
        """Append one event and write state.json; returns the event.

        ``expect`` is the version the caller read: if the transaction moved on
        since, :class:`VersionConflict` is raised and nothing is written.
        ``to_stage`` (for ``stage_changed``) is checked against the state machine.
        """
        return self.record_many([(kind, data, to_stage)], expect=expect)[-1]

    def record_many(self, items: list[tuple[str, dict | None, str | None]], *,
                    expect: int | None = None, before_append=None) -> list[dict]:
        """Append several events as one write (one fsync, one state.json, one
        version): ``[(type, data, to_stage), ...]``.  All are checked first;
        if any is refused, nothing is written.  ``before_append()`` runs under
        the write lock once everything is checked, just before the append
        (e.g. to rename a file the events describe into place)."""
        with self._writing():
            state = self._current()
            if expect is not None and expect != state["version"]:
                raise VersionConflict(
                    f"{self.id}: version conflict: read version {expect}, now {state['version']}"
                    " (another writer changed it); nothing was written",
                    hint=f"look again with 'txn status {self.id}' and retry")
            new_state = _copy(state)
            version, seq, events = state["version"] + 1, state["seq"], []
            for kind, data, to_stage in items:
                events.append(self._event(new_state, kind, dict(data or {}), to_stage, seq + 1, version))
                if len(items) > 1:  # the write is whole only with its last event (log.py)
                    events[-1]["more"] = len(items) - len(events)
                seq += 1
                log.apply(new_state, events[-1])
            text = "\n".join(log.encode(e) for e in events)
            if before_append is not None:
                before_append()
            crash.point("append.before")
            if crash.due("append.torn"):
                with open(self.events_file, "ab") as f:  # simulate a crash mid-append
                    f.write(text[: len(text) // 2].encode())
                    f.flush()
                    os.fsync(f.fileno())
                os._exit(crash.EXIT_CODE)
            try:
                size = os.stat(self.events_file).st_size
            except FileNotFoundError:
                size = 0
            try:
                storage.append_line(self.events_file, text)
            except OSError as exc:  # a full disk: no part of the write may stay
                _truncate(self.events_file, size)
                raise TetraError(f"{self.id}: cannot write events.ndjson: "
                                 f"{exc.strerror or exc}; nothing was written",
                                 hint=_retry_hint(exc)) from exc
            crash.point("append.after")
            # state.json is a cache of the fsynced events: readers trust it only
            # with the log's mtime and last seq, and replay when it lags, was
            # changed or does not parse (_state_file_if_current), so after a
            # power cut a stale or torn state.json costs a replay, never a
            # wrong answer: no fsyncs.
            self._cache = None
            try:
                log_stat = os.stat(self.events_file)
                storage.write_json(self.state_file, new_state, durable=False,
                                   mtime_ns=log_stat.st_mtime_ns)
            except OSError as exc:
                raise TetraError(f"{self.id}: recorded in events.ndjson, but state.json could not "
                                 f"be written: {exc.strerror or exc} (it stays at version "
                                 f"{state['version']})",
                                 hint=("free some space, then " if _no_space(exc) else "")
                                 + f"'txn rebuild {self.id}'") from exc
            crash.point("state.after")
            self._cache, self._cache_log = new_state, _identity(log_stat)
        for event in events:
            self._publish(event, new_state)
        return events

    def _event(self, state: dict, kind: str, data: dict, to_stage: str | None, seq: int,
               version: int) -> dict:
        """Check one event against ``state`` (the state before it) and build it."""
        if kind not in log.EVENT_TYPES:
            raise ValueError(f"unknown event type {kind!r}")
        if state["stage"] in states.TERMINAL and kind != "txn_start":
            raise states.IllegalTransition(
                f"{self.id}: is {state['stage']} (terminal); nothing more can be recorded")
        if kind == "stage_changed":
            states.check_transition(self.id, state["stage"], to_stage)
            data = {"from": state["stage"], "to": to_stage, **data}
        elif kind in ("txn_commit", "txn_fail"):
            states.check_transition(self.id, state["stage"],
                                    states.DONE if kind == "txn_commit" else states.FAIL)
        return {"seq": seq, "ts": log.now_iso(), "type": kind,
                "stage": _stage_after(kind, state["stage"], to_stage),
                "actor": self.store.actor, "data": data, "version": version}

    def _current(self) -> dict:
        """The state at the log's end (called under the write lock): our last
        write's while the log is as that write left it, else state.json when
        it is current, else replayed from the log."""
        try:
            log_stat = os.stat(self.events_file)
        except FileNotFoundError:
            return log.empty_state()
        if self._cache is not None and self._cache_log == _identity(log_stat):
            return self._cache
        seq, _ = log.tail(self.events_file)
        if seq == 0:
            return log.empty_state()
        cached = self._state_file_if_current(log_stat, seq)
        # else: state.json lags the log (a crash between the two writes), or
        # was edited; the replay is the truth, or refuses a damaged log
        return cached if cached is not None else self.replay()

    def _publish(self, event: dict, state: dict) -> None:
        bus = self.store.bus
        if bus is None:
            return
        payload = {"txn": self.id, "module": self.module, "event": event}
        bus.publish("txn.event", payload)
        if event["type"] in ("stage_changed", "txn_commit", "txn_fail", "txn_start"):
            bus.publish("txn.stage_changed", {"txn": self.id, "module": self.module,
                                              "stage": state["stage"],
                                              "target": state["target"]})

    # -- convenience writers -------------------------------------------------
    def advance(self, stage: str, *, expect: int | None = None) -> None:
        """Move forward to ``stage``, passing stages with no work of their own."""
        current = self.state()["stage"]
        steps = states.path_to(current, stage)
        if steps:
            self.record_many([("stage_changed", None, nxt) for nxt in steps], expect=expect)

    def add_evidence(self, source: str | os.PathLike, kind: str | None = None, *,
                     stage: str | None = None) -> dict:
        """Copy ``source`` into ``ctx/1N0_<kind>.<ext>``, hashing it; record it.

        With ``stage`` (SELECT for ``txn ctx``) the move there is recorded in
        the same write: a file that cannot be added moves nothing.
        """
        source = Path(source)
        check_evidence_source(source)
        state = self.state()
        moves = states.path_to(state["stage"], stage) if stage else []
        cur = state["stage"]
        for nxt in moves:  # refuse before copying anything
            states.check_transition(self.id, cur, nxt)
            cur = nxt
        n = len(state["evidence"]) + 1
        kind = slugify(kind or source.stem.split(".")[0] or "file")
        ext = "".join(source.suffixes[-2:]) if source.name.endswith((".tar.gz", ".tar.bz2", ".tar.xz")) \
            else source.suffix
        name = f"{90 + 10 * n:03d}_{kind}{ext}"
        dest = self.path / "ctx" / name
        # A private temp name, renamed to ``dest`` only under the write lock by
        # the writer whose version check passed: a racing writer (who read the
        # same n) gets a version conflict and cannot overwrite the winner's file.
        tmp = dest.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")

        def place() -> None:
            os.replace(tmp, dest)
            storage.fsync_dir(dest.parent)

        try:
            try:
                digest, size = _copy_hashing(source, tmp)
            except OSError as exc:
                raise TetraError(f"{self.id}: cannot copy evidence {source}: {exc.strerror or exc}",
                                 hint=_retry_hint(exc)) from exc
            event = self.record_many([("stage_changed", None, nxt) for nxt in moves] + [(
                "evidence_added", {"n": n, "file": f"ctx/{name}", "kind": kind, "sha256": digest,
                                   "bytes": size, "source": str(source.resolve())}, None)],
                expect=state["version"], before_append=place)[-1]
        finally:
            tmp.unlink(missing_ok=True)  # refused or failed: no stray copy
        return event["data"]

    def open_steps(self) -> dict:
        return self.state().get("open_steps") or {}


def check_evidence_source(source: str | os.PathLike) -> None:
    """Raise unless ``source`` is a readable regular file (evidence to copy)."""
    source = Path(source)
    if not source.exists():
        raise TetraError(f"evidence file not found: {source}",
                         hint="give the path of an existing file")
    if not source.is_file():
        raise TetraError(f"evidence is not a regular file: {source}",
                         hint="give a file (pack a directory first: tar czf x.tar.gz DIR)")
    if not os.access(source, os.R_OK):
        raise TetraError(f"evidence file is not readable: {source}")


def _identity(st: os.stat_result) -> tuple:
    """What changes whenever a file is appended to, rewritten or replaced."""
    return st.st_ino, st.st_size, st.st_mtime_ns


def _stage_after(kind: str, stage: str, to_stage: str | None) -> str:
    if kind == "stage_changed":
        return to_stage
    if kind == "txn_commit":
        return states.DONE
    if kind == "txn_fail":
        return states.FAIL
    return stage


def _truncate(path: Path, size: int) -> None:
    """Cut ``path`` back to ``size`` bytes (drop a partly written append)."""
    try:
        fd = os.open(path, os.O_WRONLY)
    except FileNotFoundError:
        return
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    except OSError:
        pass  # left torn: every reader reports it and 'txn rebuild' drops it
    finally:
        os.close(fd)


def _copy(state: dict) -> dict:
    """A deep copy of plain JSON data (the C codec: several times deepcopy's speed)."""
    return json.loads(json.dumps(state))


_CHUNK = 1 << 20  # a whole number of blocks of any device: what direct I/O needs


def _no_space(exc: OSError) -> bool:
    return exc.errno in (errno.ENOSPC, errno.EDQUOT)


def _retry_hint(exc: OSError) -> str | None:
    """The hint for a failed state write: free space when that is what ran out."""
    return "free some space and run the command again" if _no_space(exc) else None


def _copy_hashing(src: Path, tmp: Path) -> tuple[str, int]:
    """Copy ``src`` to ``tmp`` (fsynced), hashing it on the way: (sha256, bytes).

    The copy is written with direct I/O where the filesystem allows it: it goes
    to disk (where the fsync sends it anyway) without first taking fresh page
    cache, which on a VM that hands freed memory back to its host costs more
    than the disk write (50 MB: 0.07-0.09 s, buffered 0.07-0.17 s).  The hash of a
    chunk runs in a second thread while the chunk is written (both release the
    GIL).  What is hashed is exactly what is written: the same buffer.
    """
    import mmap
    from concurrent.futures import ThreadPoolExecutor

    h = hashlib.sha256()
    size = 0
    # Two reused page-aligned buffers (what O_DIRECT needs), unbuffered input.
    views = [memoryview(mmap.mmap(-1, _CHUNK)), memoryview(mmap.mmap(-1, _CHUNK))]
    pending = [None, None]  # the hash still reading each buffer
    k = 0
    fd = _open_for_copy(tmp)
    try:
        with ThreadPoolExecutor(1, thread_name_prefix="tetra-hash") as hasher, \
                open(src, "rb", buffering=0) as fin:
            while True:
                if pending[k] is not None:
                    pending[k].result()  # the buffer is free again
                view = views[k]
                n = 0
                while n < _CHUNK and (got := fin.readinto(view[n:])):
                    n += got  # whole chunks: direct writes must stay aligned
                if not n:
                    break
                pending[k] = hasher.submit(h.update, view[:n])  # one worker: in order
                if n < _CHUNK:  # the tail: not a whole number of blocks
                    _no_direct_io(fd)
                _write_all(fd, view[:n])
                size += n
                k ^= 1
                if n < _CHUNK:
                    break
            for fut in pending:
                if fut is not None:
                    fut.result()
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        fd = -1
        tmp.unlink(missing_ok=True)  # a full disk leaves no partial copy behind
        raise
    finally:
        if fd >= 0:
            os.close(fd)
    return h.hexdigest(), size


def _open_for_copy(path: Path) -> int:
    """``path`` opened for writing, with O_DIRECT where the filesystem takes it."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)
    direct = getattr(os, "O_DIRECT", 0)
    if direct:
        try:
            return os.open(path, flags | direct, 0o644)
        except OSError:
            pass  # e.g. EINVAL: this filesystem has no direct I/O
    return os.open(path, flags, 0o644)


def _write_all(fd: int, data: memoryview) -> None:
    """Write all of ``data``; if the filesystem refuses direct I/O mid-way,
    go on without it."""
    written = 0
    while written < len(data):
        try:
            written += os.write(fd, data[written:])
        except OSError as exc:
            if exc.errno != errno.EINVAL or not _no_direct_io(fd):
                raise


def _no_direct_io(fd: int) -> bool:
    """Turn direct I/O off on ``fd``; whether it was on."""
    import fcntl

    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    direct = getattr(os, "O_DIRECT", 0)
    if not flags & direct:
        return False
    fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~direct)
    return True


_POLICY = """# Policy

- Every state change of this transaction is an event in events.ndjson (the source of truth).
- state.json is derived from the events; `txn rebuild ID` recomputes it.
- Stages: NEW → SELECT → ASSEMBLE → EXECUTE → VALIDATE → DONE; any → FAIL.
- Hosts are leased (DIR/locks/<host>.lock) from EXECUTE until DONE or FAIL.
- Evidence files (ctx/100_…) are copies with their sha256 recorded.
"""

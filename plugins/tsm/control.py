"""Talking to supervisors and processes: spawn, probe, wait for start, stop many.

A managed process is identified by pid *and* create time (pid reuse); a
supervisor is alive while it holds ``PROCDIR/.supervisor.lock`` (the kernel
drops the lock when it dies, even by SIGKILL).
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tetra_repl.locking import FileLock, LockTimeout

from tetra_repl.storage import write_bytes

from . import procfs
from .layout import LOCK_NAME
from .supervisor import STOP_NAME, signal_group, survivors

POLL = 0.002
# A process without a port has started once it has run this long: one that dies
# of a bad config or a missing module is gone by then (supervisord's startsecs;
# PM2 reports such a start as done).  With a port, accepting connections is the
# evidence, and no time is added.
START_SETTLE = 0.5
# The most of a start's --timeout kept back to end a start that failed (SIGTERM,
# then SIGKILL at the timeout), so that the whole start fits in its timeout.
FAILED_START_GRACE = 0.5


# The supervisor runs with ``python -S``: skipping site (and an editable
# install's import hooks) halves its start-up.  It needs only the stdlib, the
# directory holding tetra_repl, and this package, which is registered by path.
_BOOT = """\
import sys
sys.path.insert(0, {core!r})
for name, path in (("tetra_plugins", {plugins!r}), ("tetra_plugins.tsm", {tsm!r})):
    module = type(sys)(name)
    module.__path__ = [path]
    sys.modules[name] = module
from tetra_plugins.tsm.supervisor import main
sys.exit(main(sys.argv[1:]))
"""


def supervisor_argv(procdir: Path, adopt: bool = False) -> list[str]:
    """The command line of a supervisor for ``procdir``."""
    import tetra_repl

    tsm_dir = os.path.dirname(os.path.abspath(__file__))
    boot = _BOOT.format(core=os.path.dirname(os.path.dirname(os.path.abspath(tetra_repl.__file__))),
                        plugins=os.path.dirname(tsm_dir), tsm=tsm_dir)
    return [sys.executable, "-S", "-c", boot, str(procdir)] + (["--adopt"] if adopt else [])


def spawn_supervisor(procdir: Path, adopt: bool = False) -> int:
    """Start a detached supervisor (own session) for ``procdir``; returns its pid."""
    proc = subprocess.Popen(supervisor_argv(procdir, adopt), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True, close_fds=True, cwd="/")
    return proc.pid


def supervisor_alive(procdir: Path) -> bool:
    """True while some supervisor holds the process's lock."""
    path = procdir / LOCK_NAME
    if not path.exists():
        return False
    lock = FileLock(path, timeout=0)
    try:
        lock.acquire()
    except LockTimeout:
        return True
    lock.release()
    return False


def process_alive(meta: dict) -> bool:
    """The managed process of ``meta`` runs (pid and create time match)."""
    return procfs.alive(meta.get("pid"), meta.get("pid_create_time"))


def supervisor_pid(meta: dict) -> int | None:
    """The supervisor's pid if that exact process still runs."""
    pid = meta.get("supervisor_pid")
    if pid and procfs.alive(pid, meta.get("supervisor_create_time")):
        return int(pid)
    return None


def port_open(port: int) -> bool:
    """Whether something accepts connections on ``port`` (127.0.0.1, else ::1)."""
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        try:
            with socket.socket(family, socket.SOCK_STREAM) as s:
                s.settimeout(0.2)
                s.connect((host, port))
                return True
        except OSError:
            continue
    return False


def listeners() -> dict[int, int]:
    """``{port: pid}`` of every listening inet socket this user can see (one psutil scan)."""
    import psutil

    try:
        conns = psutil.net_connections(kind="inet")
    except psutil.Error:
        return {}
    return {c.laddr.port: c.pid for c in conns
            if c.status == psutil.CONN_LISTEN and c.laddr and c.pid}


def held_by(port: int, pid: int | None) -> bool | None:
    """Whether the socket listening on ``port`` is ``pid``'s or one of its
    descendants' (a server started by a wrapper); None when nothing listens
    or /proc cannot tell.  The common case reads /proc only: no psutil."""
    inodes = procfs.listening_inodes(port)
    if not inodes or not pid:
        return None
    if procfs.holds_socket(pid, inodes):
        return True
    import psutil

    try:
        return any(procfs.holds_socket(child.pid, inodes)
                   for child in psutil.Process(pid).children(recursive=True))
    except psutil.Error:
        return False


def port_holder(port: int, found: dict[int, int] | None = None) -> str | None:
    """``pid P (command)`` of the process listening on ``port``, via psutil."""
    import psutil

    pid = (listeners() if found is None else found).get(port)
    if pid is None:
        return None
    try:
        cmd = " ".join(psutil.Process(pid).cmdline())
    except psutil.Error:
        cmd = "?"
    return f"pid {pid} ({cmd})"


def tail(path: Path, n: int = 10) -> list[str]:
    """The last ``n`` lines of a text file ([] if missing)."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 65536))
            data = f.read()
    except OSError:
        return []
    return data.decode(errors="replace").splitlines()[-n:]


@dataclass
class StartResult:
    """What a start came to: ``ok``, the latest meta, and why not."""

    ok: bool
    meta: dict
    reason: str = ""


def wait_started(store, name: str, port: int | None, timeout: float) -> StartResult:
    """Wait until the process is alive (and accepting on ``port``), or explain why not.

    Alive means, without a port, running for ``START_SETTLE`` seconds (counted
    from its start, so many starts awaited one after the other wait together),
    or until the timeout if that comes first.  A process that exits meanwhile
    goes the way of any exit while starting: restarted per its policy while
    the next restart comes before the timeout, else the start fails with how it
    exited and the last lines of its stderr.

    All of it fits in ``timeout``: a start that fails while the process runs
    (not up in time, or its port held by another process) ends it before it
    returns -- SIGTERM, and SIGKILL at the timeout -- keeping the last
    ``FAILED_START_GRACE`` seconds (a fifth of a short timeout) for that, and
    leaves it ``errored``.
    """
    started = time.monotonic()
    deadline = started + timeout
    give_up = deadline - min(FAILED_START_GRACE, timeout / 5)
    procdir = store.proc_dir(name)
    meta: dict = {}
    restarts_before: int | None = None
    settled: tuple = (None, 0.0)  # (pid, when it will have run START_SETTLE seconds)
    while True:
        meta = store.read(name) or meta
        status = meta.get("status")
        if restarts_before is None and meta:
            restarts_before = int(meta.get("restarts") or 0)
        now = time.monotonic()
        if status == "online" and process_alive(meta):
            accepting = bool(port) and port_open(port)  # one look: it may open in between
            if accepting and held_by(port, meta.get("pid")) is False:
                # it came up while this process started: ours cannot have it
                return _failed(store, meta, deadline, f"port {port} is held by "
                               f"{port_holder(port) or 'another process'}, not by {name}")
            if accepting:
                return StartResult(True, meta)
            if not port:
                if settled[0] != meta["pid"]:
                    ran = max(0.0, time.time() - float(meta.get("start_time") or time.time()))
                    settled = (meta["pid"], now + START_SETTLE - ran)
                if now >= settled[1] or now >= give_up:
                    return StartResult(True, meta)
        elif is_final(meta):
            return StartResult(False, meta, _why(store, meta, port, status))
        elif status == "crashed" and now + float(meta.get("next_restart_delay") or 0) >= give_up:
            # its next restart would come after the timeout: say so now, not then
            exits = int(meta.get("restarts") or 0) - (restarts_before or 0) + 1
            return StartResult(False, meta, f"crashed: it exited {exits} time"
                               f"{'s' if exits != 1 else ''} while starting (last: "
                               f"{_exit_text(meta.get('exit_code'))})" + _detail(store, meta, port))
        if now >= give_up:
            if status == "launching" and not supervisor_alive(procdir):
                return StartResult(False, meta, "the supervisor did not start (see "
                                   f"{procdir / '.supervisor.log'})")
            what = f"accepting connections on port {port}" if port else "alive"
            return _failed(store, meta, deadline, f"not {what} after {timeout:g}s"
                           + _detail(store, meta, port))
        if settled[0] is not None and settled[0] == meta.get("pid"):
            pause = min(0.02, settled[1] - now)  # settling: an exit is seen within 20 ms
        else:
            pause = POLL if now + 0.2 < give_up else 0.02
        time.sleep(max(0.0, min(pause, give_up - now)))


def _failed(store, meta: dict, deadline: float, reason: str) -> StartResult:
    """A failed start: its process (if it runs) gets SIGTERM and, at most
    ``FAILED_START_GRACE`` seconds later and not after ``deadline``, SIGKILL;
    then it is ``errored``, with the first line of ``reason``."""
    if supervisor_pid(meta) is not None or process_alive(meta):
        grace = min(FAILED_START_GRACE, deadline - time.monotonic())
        stop_many(store, [meta], timeout=max(0.0, grace))
        meta = store.update_unsupervised(meta["name"], status="errored",
                                         error=reason.splitlines()[0]) or meta
    return StartResult(False, meta, reason)


def is_final(meta: dict) -> bool:
    """Whether ``meta``'s status is one its supervisor has ended with (no restart to come)."""
    status = meta.get("status")
    return status in ("errored", "stopped") or (
        status == "crashed" and meta.get("restart_policy") == "no")


def _why(store, meta: dict, port: int | None, status: str) -> str:
    how = meta.get("error") or _exit_text(meta.get("exit_code"))
    return f"{status}: {how}" + _detail(store, meta, port)


def _exit_text(code) -> str:
    if code is None:
        return "exited"
    return f"killed by signal {-code}" if code < 0 else f"exited with status {code}"


def _detail(store, meta: dict, port: int | None) -> str:
    if port:
        holder = port_holder(port)
        own = meta.get("pid")
        if holder and not (own and holder.startswith(f"pid {own} ")):
            return f"\nport {port} is in use by {holder}"
    lines = tail(store.processes / meta.get("name", "") / "current.err", 10)
    if meta.get("error"):  # the supervisor's own "[tsm] why" line: already in the message
        lines = [line for line in lines if line != f"[tsm] {meta['error']}"]
    if lines:
        return "\nlast lines of stderr:\n" + "\n".join("  " + line for line in lines)
    return ""


def stop_many(store, metas: list[dict], timeout: float = 5.0) -> list[dict]:
    """Stop every process in ``metas`` together: signal all, then wait for all.

    Each supervisor gets SIGTERM (so it records ``stopped`` and does not
    restart), told the grace first (``STOP_NAME``, when it is not its
    ``kill_timeout``), and, at the same moment, its child's group gets SIGTERM
    from here, so no process waits for its supervisor to be scheduled.  A
    supervisor ends (and frees its lock) only once nothing of its child's group
    runs.  After ``timeout`` every group still running gets SIGKILL (a
    supervisor does the same; this covers the unsupervised).  Returns the final
    metas.
    """
    pending: dict[str, str] = {}  # name -> procdir, while a supervisor still runs
    orphans: dict[str, dict] = {}
    groups: dict[str, int] = {}  # name -> the process group of a child that ran
    for meta in metas:
        name = meta["name"]
        procdir = os.path.join(store.processes, name)
        sup = supervisor_pid(meta)
        if sup is not None:
            if timeout != float(meta.get("kill_timeout") or 5.0):
                _tell_grace(procdir, timeout)
            _kill(sup, signal.SIGTERM)
            pending[name] = procdir
        else:
            orphans[name] = meta
        if process_alive(meta):
            pid = int(meta["pid"])
            if procfs.pgid(pid) == pid:
                groups[name] = pid
            _killpg(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    killed = False
    while True:
        pending = {n: d for n, d in pending.items() if _locked(d)}
        live_orphans = [n for n, m in orphans.items()
                        if process_alive(m) or (n in groups and survivors(groups[n]))]
        if not pending and not live_orphans:
            break
        if time.monotonic() >= deadline and not killed:
            killed = True
            for name in [*pending, *live_orphans]:
                fresh = store.read(name) or {}
                if process_alive(fresh):
                    _killpg(fresh["pid"], signal.SIGKILL)
                if name in groups:  # its leader may be gone, and the rest not
                    signal_group(groups[name], signal.SIGKILL)
            deadline = time.monotonic() + 2.0
        elif killed and time.monotonic() >= deadline:
            for name in pending:  # a wedged supervisor: stop waiting for it
                sup = supervisor_pid(store.read(name) or {})
                if sup:
                    _kill(sup, signal.SIGKILL)
            break
        time.sleep(0.005)
    results = []
    for meta in metas:
        name = meta["name"]
        fresh = store.read(name) or meta
        if fresh.get("status") != "stopped" or fresh.get("pid"):
            fresh = store.update_unsupervised(name, status="stopped", pid=None,
                                              stopped_at=time.time()) or fresh
            (store.proc_dir(name) / f"{name}.pid").unlink(missing_ok=True)
        results.append(fresh)
    return results


def _tell_grace(procdir: str, timeout: float) -> None:
    """Tell the supervisor how long SIGTERM has before SIGKILL (read when it stops)."""
    try:
        write_bytes(os.path.join(procdir, STOP_NAME), f"{timeout!r}\n".encode(), durable=False)
    except OSError:
        pass  # it uses its kill_timeout; the SIGKILL from here still comes at ``timeout``


def _locked(procdir: str) -> bool:
    """Whether a supervisor holds ``procdir``'s lock (string paths: this runs in loops)."""
    try:
        fd = os.open(os.path.join(procdir, LOCK_NAME), os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def _kill(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _killpg(pid: int, sig: int) -> None:
    group = procfs.pgid(pid)
    try:
        if group == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass

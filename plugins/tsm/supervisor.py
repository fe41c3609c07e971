"""The per-process supervisor: ``python -m tetra_plugins.tsm.supervisor PROCDIR [--adopt]``.

One small detached process (its own session) per managed process.  It owns
the child's stdout/stderr, writes the pid file and meta.json, applies the
restart policy with exponential backoff and rotates the logs between lines.
It imports the stdlib only (plus tetra's stdlib-only state writer and lock),
so it stays a few MB.

The child writes to two FIFOs in PROCDIR opened read-write on its side: if
this supervisor is killed the child never gets EPIPE, its output waits in the
pipe, and a new supervisor started with ``--adopt`` reattaches to the same
FIFOs and to the running child (``tsm patrol``, ``tsm resurrect``).

Lifecycle (meta.json ``status``)::

    launching -> online -> (child exits) -> crashed -> (backoff) -> online …
                        -> stop requested (SIGTERM)          -> stopped
                        -> policy says no restart            -> stopped | crashed
                        -> too many unstable restarts        -> errored

The child leads its own process group.  Whenever it exits (stopped, crashed,
or done), what it leaves behind is ended before anything else happens (the
stop is reported, the next run starts): the rest of its group, and the
orphans its tree hands to this supervisor, its child subreaper (a ``setsid``
grandchild whose parent died).  They get SIGTERM (unless a stop already sent
it) and SIGKILL when the grace runs out: the stop's ``--timeout`` (from
``PROCDIR/.stop-grace``, written by the stopper) or ``kill_timeout``.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import sys
import time
from pathlib import Path

from tetra_repl.locking import FileLock, LockTimeout
from tetra_repl.storage import append_line, read_json, write_json, write_text

from . import envfile, procfs
from .layout import EVENTS_NAME, FIFOS, LOCK_NAME
from .logfile import DEFAULT_KEEP, DEFAULT_MAX_BYTES, LineSplitter, RotatingLog

BACKOFF_BASE = 0.1
BACKOFF_MAX = 15.0
DEFAULTS = {"restart_policy": "on-failure", "max_restarts": 15, "min_uptime": 1.0,
            "kill_timeout": 5.0, "log_max_bytes": DEFAULT_MAX_BYTES, "log_keep": DEFAULT_KEEP}
STOP_NAME = ".stop-grace"  # seconds between SIGTERM and SIGKILL, written by whoever stops it
LINGER = 1.0  # how long processes SIGKILL did not end (stuck in the kernel) are waited for
_NOT_YET = object()  # the child's exit status before it has exited


def child_environment(meta: dict) -> tuple[dict[str, str], list[str]]:
    """The child's environment and argv: ours + env file + leading ``K=V`` words + PORT.

    A known port is always the child's PORT, whatever the environment, the env
    file or the command said: it is the port tsm waits for (found in SPEC 8's
    order, ``--port`` first), so the child must be told the same one.
    """
    env = dict(os.environ)
    if meta.get("env_file"):
        env.update(envfile.load(meta["env_file"]))
    argv = list(meta["command"])
    while argv and "=" in argv[0] and envfile._KEY.match(argv[0].split("=", 1)[0]):
        key, _, value = argv.pop(0).partition("=")
        env[key] = value
    if meta.get("port"):
        env["PORT"] = str(meta["port"])
    return env, argv


def survivors(pgid: int, parent: int | None = None) -> list[tuple[int, bool]]:
    """``(pid, in the group)`` of every live process in group ``pgid`` or, when
    given, child of ``parent`` (zombies do not count: they have ended).

    Cheap when there is nothing: one ``killpg(pgid, 0)``; /proc is read only
    when the group exists or ``parent`` may have children.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        if parent is None:
            return []
    except PermissionError:  # only processes that are not ours to end are left
        if parent is None:
            return []
    found = []
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        fields = procfs.stat(int(entry))
        if fields is None or fields[0] in (b"Z", b"X", b"x"):
            continue
        in_group = int(fields[2]) == pgid
        if in_group or (parent is not None and int(fields[1]) == parent):
            found.append((int(entry), in_group))
    return found


def _become_subreaper() -> bool:
    """Have the orphans of the child's tree re-parented to us rather than to init
    (PR_SET_CHILD_SUBREAPER): we reap them, and can end the ones that left the
    child's process group (``setsid``).  False where Linux's prctl is missing."""
    try:
        import ctypes

        return ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        return False


def _find_program(program: str, env: dict[str, str]) -> str:
    """``program`` looked up on the *child's* PATH (an env file may set it)."""
    if "/" in program:
        return program
    for directory in env.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", program)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    raise FileNotFoundError(2, "No such file or directory (not on PATH)", program)


class Supervisor:
    """Runs one managed process until it is stopped or errored."""

    def __init__(self, procdir: Path):
        self.dir = procdir
        self.meta = read_json(procdir / "meta.json")
        for key, value in DEFAULTS.items():
            self.meta.setdefault(key, value)
        self.name = self.meta["name"]
        self.pid_file = procdir / f"{self.name}.pid"
        self.stop_requested = False
        self.own_child = False  # False for an adopted process (not ours to wait for)
        self.child_pid: int | None = None
        self.child_started = 0.0
        self.exit_status = _NOT_YET  # the own child's, once reaped
        self.stop_noticed = False  # the stop's SIGTERM has been sent
        self.stop_grace = 0.0  # its seconds between SIGTERM and SIGKILL
        self.kill_at: float | None = None  # SIGKILL what is left of the child then
        self.subreaper = False
        self.consecutive_unstable = 0
        self.restart_at = 0.0
        size, keep = self.meta["log_max_bytes"], self.meta["log_keep"]
        self.streams = {}
        for fifo, log in zip(FIFOS, ("current.out", "current.err")):
            path = procdir / fifo
            if not path.exists():
                os.mkfifo(path, 0o600)
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            self.streams[fd] = LineSplitter(RotatingLog(str(procdir / log), size, keep))
        self.reading = set(self.streams)  # streams that may still deliver output
        self.wake_r, wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._on_stop)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # wakes select through the wakeup fd
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _on_stop(self, *_):
        self.stop_requested = True

    # -- state --------------------------------------------------------------
    def save(self, **fields) -> None:
        """Update meta.json (atomically) with ``fields``."""
        self.meta.update(fields)
        write_json(self.dir / "meta.json", self.meta)

    def note(self, text: str) -> None:
        """One line in the supervisor's own event log (restarts, exits, errors)."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
        try:
            append_line(self.dir / EVENTS_NAME, f"{stamp} {text}")
        except OSError:
            pass

    def tell_child_log(self, text: str) -> None:
        """A line in current.err from tsm itself (why a start failed)."""
        for splitter in self.streams.values():
            if splitter.log.path.endswith("current.err"):
                splitter.feed(f"[tsm] {text}\n".encode())

    # -- running --------------------------------------------------------------
    def run(self, adopt: bool) -> int:
        """Start (or adopt) the child and supervise it; the exit status of the supervisor."""
        if not adopt and self.meta.get("status") != "launching":
            # the start that spawned us gave up (timed out) before we took the lock
            self.note(f"not starting: status is already {self.meta.get('status')}")
            return 0
        (self.dir / STOP_NAME).unlink(missing_ok=True)  # left by a stop this supervisor never saw
        # recorded with the first save, which comes after the child is spawned
        self.meta.update(supervisor_pid=os.getpid(),
                         supervisor_create_time=procfs.create_time(os.getpid()))
        if adopt and procfs.alive(self.meta.get("pid"), self.meta.get("pid_create_time")):
            self.child_pid = int(self.meta["pid"])
            self.child_started = time.monotonic() - max(0.0, time.time() - float(
                self.meta.get("start_time") or time.time()))
            self.note(f"adopted running pid {self.child_pid}")
            self.save(status="online")
        elif not self.spawn():
            return 1
        self.subreaper = _become_subreaper()  # after the first spawn: not on start's path
        while True:
            if self.child_pid is not None:
                exited, code = self.watch()
                if exited and not self.after_exit(code):
                    return 0
            elif not self.backoff_then_spawn():
                return 0

    def spawn(self) -> bool:
        """Start the child; False (meta says errored) if it cannot be started."""
        try:
            env, argv = child_environment(self.meta)
        except (OSError, ValueError) as exc:
            return self.give_up(f"cannot read env file: {exc}")
        if not argv:
            return self.give_up("empty command")
        cwd = self.meta.get("cwd") or None
        if self.meta.get("prehook"):
            import subprocess

            hook = subprocess.run(["/bin/sh", "-c", self.meta["prehook"]], cwd=cwd, env=env,
                                  stdin=subprocess.DEVNULL, capture_output=True, check=False)
            for splitter in self.streams.values():
                splitter.feed(hook.stdout if splitter.log.path.endswith(".out") else hook.stderr)
            if hook.returncode != 0:
                return self.give_up(f"prehook failed (exit status {hook.returncode})")
        try:
            os.chdir(cwd or "/")
        except OSError as exc:
            return self.give_up(f"cannot enter {cwd}: {exc.strerror or exc}")
        writers = [os.open(self.dir / fifo, os.O_RDWR) for fifo in FIFOS]
        try:
            # posix_spawn rather than subprocess: it spares the supervisor the
            # import of subprocess (start-up time) and reports a failed exec.
            # The child leads its own session (SPEC 8), hence its own process
            # group, which is what stop signals.
            self.child_pid = os.posix_spawn(
                _find_program(argv[0], env), argv, env, setsid=True,
                setsigdef=(signal.SIGPIPE, signal.SIGHUP, signal.SIGXFSZ),
                file_actions=[(os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
                              (os.POSIX_SPAWN_DUP2, writers[0], 1),
                              (os.POSIX_SPAWN_DUP2, writers[1], 2)])
        except OSError as exc:
            return self.give_up(f"cannot start {argv[0]!r}: {exc.strerror or exc}")
        finally:
            for fd in writers:
                os.close(fd)
            os.chdir("/")
        self.own_child = True
        self.exit_status = _NOT_YET
        self.kill_at = None
        self.reading = set(self.streams)
        self.child_started = time.monotonic()
        self.save(status="online", pid=self.child_pid,
                  pid_create_time=procfs.create_time(self.child_pid),
                  start_time=time.time(), exit_code=None, error=None)
        write_text(self.pid_file, f"{self.child_pid}\n")
        return True

    def give_up(self, reason: str) -> bool:
        """Record ``errored`` with ``reason``; always False."""
        self.tell_child_log(reason)
        self.note(f"errored: {reason}")
        self.finish("errored", error=reason)
        return False

    def watch(self) -> tuple[bool, int | None]:
        """Pump output for up to a second; ``(exited, exit code)``."""
        self._wait_for_output(1.0 if self.own_child else 0.5)
        if self.stop_requested:
            self._notice_stop()
        if self.kill_at is not None and time.monotonic() >= self.kill_at:
            self._signal_group(signal.SIGKILL)
        if self.own_child:
            self._reap()
            if self.exit_status is _NOT_YET:
                return False, None
            code = self.exit_status
        elif procfs.alive(self.child_pid, self.meta.get("pid_create_time")):
            return False, None
        else:
            code = None  # an adopted process: its exit status went to its old parent
        self._drain_all()
        return True, code

    def _wait_for_output(self, timeout: float) -> None:
        """Pump what the child writes, for up to ``timeout`` (less when a SIGKILL is due)."""
        if self.kill_at is not None:  # then poll: only our own children wake us by dying
            timeout = min(timeout, max(self.kill_at - time.monotonic(), 0.05))
        try:
            ready, _, _ = select.select([*self.reading, self.wake_r], [], [], timeout)
        except InterruptedError:  # pragma: no cover - PEP 475 retries
            ready = []
        for fd in ready:
            if fd == self.wake_r:
                self._drain_wakeups()
            else:
                self._pump(fd)

    def _reap(self) -> bool:
        """Collect exited children: the child (its status is kept) and, as subreaper,
        orphans of its tree.  Whether some child of ours still runs."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return False
            if pid == 0:
                return True
            if self.own_child and pid == self.child_pid:
                self.exit_status = os.waitstatus_to_exitcode(status)

    def _pump(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:
            return
        if data:
            self.streams[fd].feed(data)
        else:  # every writer closed it (the child shut its stdout): stop polling an EOF
            self.reading.discard(fd)

    def _drain_all(self) -> None:
        for fd, splitter in self.streams.items():
            while True:
                try:
                    data = os.read(fd, 65536)
                except BlockingIOError:
                    break
                if not data:
                    break
                splitter.feed(data)
            splitter.flush()

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 512):
                pass
        except BlockingIOError:
            pass

    def _notice_stop(self) -> None:
        """A stop was asked for: SIGTERM the child's group once; SIGKILL is due after
        the stop's grace (``STOP_NAME``, else ``kill_timeout``)."""
        if self.stop_noticed:
            return
        self.stop_noticed = True
        try:
            grace = float((self.dir / STOP_NAME).read_text())
        except (OSError, ValueError):
            grace = float(self.meta["kill_timeout"])
        self.stop_grace = max(0.0, grace)
        self.kill_at = time.monotonic() + self.stop_grace
        if self.child_pid is not None:
            self._signal_group(signal.SIGTERM)

    def clear_group(self, pgid: int) -> None:
        """Wait until nothing the exited child left behind runs: the rest of its
        group ``pgid`` and our orphaned children (we are their subreaper).  Each gets
        SIGTERM (the group's members not again after a stop's), SIGKILL once
        ``kill_at`` (a stop's grace, else ``kill_timeout`` from now) has come."""
        termed_group = self.stop_noticed  # the stop's SIGTERM reached the whole group
        if self.kill_at is None:
            self.kill_at = time.monotonic() + float(self.meta["kill_timeout"])
        sent: dict[int, int] = {}
        interval = 0.01
        while True:
            children = self._reap()
            left = survivors(pgid, os.getpid() if children else None)
            if not left:
                self._drain_all()  # what they wrote before they ended
                return
            if self.stop_requested:
                self._notice_stop()
            now = time.monotonic()
            if now >= self.kill_at + LINGER:
                self.note(f"processes left by pid {pgid} outlived SIGKILL: "
                          f"{' '.join(str(pid) for pid, _ in left)}")
                return
            sig = signal.SIGKILL if now >= self.kill_at else signal.SIGTERM
            for pid, in_group in left:
                if sent.get(pid) == sig or (sig == signal.SIGTERM and in_group and termed_group):
                    continue
                sent[pid] = sig
                try:
                    os.kill(pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            if sig == signal.SIGKILL:  # also what forked since the scan
                signal_group(pgid, sig)
            self._wait_for_output(interval)
            interval = min(2 * interval, 0.2)

    def _signal_group(self, sig: int) -> None:
        if self.child_pid is not None:
            signal_group(self.child_pid, sig)

    def after_exit(self, code: int | None) -> bool:
        """End what the child left behind, apply the restart policy; False when the
        supervisor should end."""
        exited = time.monotonic()
        uptime = exited - self.child_started
        group = self.child_pid
        self.own_child, self.child_pid = False, None
        self._remove_pid_file()
        how = "unknown status" if code is None else (
            f"signal {-code}" if code < 0 else f"exit status {code}")
        if self.stop_requested:
            self.clear_group(group)
            self.note(f"stopped ({how}; SIGKILL was due {self.stop_grace:.2f}s after SIGTERM)")
            self.finish("stopped", exit_code=code)
            return False
        policy = self.meta["restart_policy"]
        if policy == "no" or (policy == "on-failure" and code == 0):
            self.note(f"exited with {how} after {uptime:.2f}s; policy {policy}: not restarting")
            self._end(group, "stopped" if code == 0 else "crashed", exit_code=code)
            return False
        unstable = uptime < float(self.meta["min_uptime"])
        self.consecutive_unstable = self.consecutive_unstable + 1 if unstable else 0
        if self.consecutive_unstable > int(self.meta["max_restarts"]):
            reason = (f"{self.consecutive_unstable - 1} unstable restarts in a row "
                      f"(each ran < {self.meta['min_uptime']}s); last {how}")
            self.note(f"errored: {reason}")
            self._end(group, "errored", exit_code=code, error=reason)
            return False
        if unstable:
            self.meta["unstable_restarts"] = int(self.meta.get("unstable_restarts") or 0) + 1
        delay = min(BACKOFF_BASE * 2 ** max(0, self.consecutive_unstable - 1), BACKOFF_MAX)
        self.restart_at = exited + delay
        self.note(f"exited with {how} after {uptime:.2f}s; restart in {delay:.3f}s")
        self.save(status="crashed", pid=None, exit_code=code, next_restart_delay=delay)
        self.clear_group(group)  # before the next run: its port must be free
        return True

    def _end(self, group: int, status: str, **fields) -> None:
        """Finish with ``status`` once what the child left behind has ended (recorded
        at once when that takes a while, so a waiting start can say why)."""
        if survivors(group, os.getpid() if self._reap() else None):
            self.save(status=status, pid=None, **fields)
        self.clear_group(group)
        self.finish(status, **fields)

    def backoff_then_spawn(self) -> bool:
        """Wait out the restart delay (a stop request ends it), then spawn."""
        while not self.stop_requested:
            remaining = self.restart_at - time.monotonic()
            if remaining <= 0:
                self.meta["restarts"] = int(self.meta.get("restarts") or 0) + 1
                return self.spawn()
            ready, _, _ = select.select([self.wake_r], [], [], remaining)
            if ready:
                self._drain_wakeups()
        self.note("stopped while waiting to restart")
        self.finish("stopped")
        return False

    def _remove_pid_file(self) -> None:
        try:
            self.pid_file.unlink()
        except FileNotFoundError:
            pass

    def finish(self, status: str, **fields) -> None:
        """Final state: no pid file, logs flushed, ``status`` in meta.json."""
        self._remove_pid_file()
        (self.dir / STOP_NAME).unlink(missing_ok=True)
        for splitter in self.streams.values():
            splitter.flush()
        self.save(status=status, pid=None, stopped_at=time.time(), next_restart_delay=None,
                  **fields)


def signal_group(pgid: int, sig: int) -> None:
    """``sig`` to process group ``pgid``; nothing if it is gone or no longer ours."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: list[str]) -> int:
    """Entry point: take the process's lock, then supervise until stopped or errored."""
    if not argv:
        sys.stderr.write("usage: python -m tetra_plugins.tsm.supervisor PROCDIR [--adopt]\n")
        return 2
    procdir = Path(argv[0])
    lock = FileLock(procdir / LOCK_NAME, timeout=2.0)
    try:
        lock.acquire()
    except LockTimeout:
        return 0  # another supervisor already owns this process
    try:
        status = Supervisor(procdir).run(adopt="--adopt" in argv[1:])
        lock.release()
        # everything is on disk: skip interpreter teardown, which is most of the
        # CPU a supervisor spends stopping (it matters with 200 stopping at once)
        os._exit(status)
    except Exception as exc:  # leave a readable reason behind, never a torn meta.json
        try:
            append_line(procdir / EVENTS_NAME, f"supervisor failed: {type(exc).__name__}: {exc}")
        except OSError:
            pass
        if getattr(exc, "errno", None) == errno.ENOSPC:
            return 1
        raise
    finally:
        lock.release()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

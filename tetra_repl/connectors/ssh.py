"""The SSH connector (paramiko): one pooled connection per host, many channels.

What it does that the usual tools do not:
- a command is started as ``echo <pid>; exec CMD`` so a timeout or Ctrl-C can
  end its whole process group on the host (sshd made it a session leader);
- a watchdog probes a silent server and reports it gone after
  ``keepalive_interval * keepalive_count_max`` seconds (at most 30, SPEC 5)
  instead of hanging;
- a channel that closes without an exit status is reported as a lost
  connection, not as exit status -1;
- host entries that are the same login on the same machine (several
  instances on one box) share one connection, like OpenSSH's ControlMaster,
  and the sessions open on it at once stay under the server's MaxSessions.
"""

from __future__ import annotations

import re
import select
import shlex
import threading
import time
from collections.abc import Sequence

from . import sshconnect
from .base import (ConnectError, ConnectionLost, Connector, ConnectorError, RunResult,
                   TransferError)
from .streams import LineSplitter, not_found_in, quote_command

_PID_LINE = re.compile(rb"^tetra-pid:(\d+)\n", re.M)
_KILL_WAIT_S = 2.0


class Link:
    """One SSH connection and what hangs off it: the transport, its keepalive
    watchdog, the SFTP session.  Shared by the connectors of every host entry
    with the same :func:`link_key`."""

    def __init__(self, max_sessions: int = 10):
        self.lock = threading.Lock()
        self.transport = None
        self.watched = None
        self.lost_reason: str | None = None
        self.stop = threading.Event()
        self.sftp_lock = threading.Lock()
        self.sftp = None
        self.note: str | None = None  # e.g. "recorded ssh-ed25519 … in known_hosts"
        self.note_lock = threading.Lock()
        # connection attempts that ended, and how the last one failed: the
        # entries that waited on an attempt share its failure, not retry it
        self.attempts = 0
        self.failure: tuple[str, Exception] | None = None  # (entry that tried, error)
        # sshd refuses sessions beyond MaxSessions (default 10): one is kept
        # for SFTP and one for ending a command, commands queue for the rest.
        self.sessions = threading.BoundedSemaphore(max(1, max_sessions - 2))
        self.killer = threading.Lock()  # the one session kept for ending commands

    @classmethod
    def of(cls, host) -> "Link":
        """A new link sized for ``host``'s ``max_sessions`` setting."""
        return cls(int(host.setting("max_sessions", 10)))

    def take_note(self) -> str | None:
        """The note for the one entry that reports it (the connection is shared)."""
        with self.note_lock:
            note, self.note = self.note, None
        return note


def link_key(host) -> tuple:
    """Entries equal in everything that makes the connection share it."""
    settings = tuple(host.setting(k) for k in ("connect_timeout", "connect_retries", "keepalive_interval",
                                               "keepalive_count_max", "identities_only", "max_sessions"))
    return (*host.key[1:], host.agent, host.host_key_alias, settings)


class SSHConnector(Connector):
    """Commands and files on one SSH host; connects on first use, reconnects after a loss."""

    def __init__(self, host, pool=None, link: Link | None = None):
        self.host = host.name
        self.resolved = host
        self._pool = pool
        self._link = link or Link.of(host)

    @property
    def _transport(self):
        return self._link.transport

    def take_note(self) -> str | None:
        """What connecting did on the user's behalf (a host key recorded), for
        the one caller that reports it (the connection may be shared)."""
        return self._link.take_note()

    # -- connection ---------------------------------------------------------
    def connect(self, cancel: threading.Event | None = None):
        """The live transport, connecting (or reconnecting) when needed;
        ``cancel`` (Ctrl-C) ends a connect under way."""
        if self.resolved.setting("proxy_command"):
            raise ConnectError(f"{self.host}: ssh_config ProxyCommand is not supported; "
                               "use ProxyJump",
                               hint="write 'ProxyJump user@bastion' in ssh_config, or "
                                    "proxy_jump = \"user@bastion\" for the host in the topology")
        link = self._link
        tried = link.attempts
        with link.lock:
            t = link.transport
            if t is not None and t.is_active():
                return t
            if link.attempts != tried and link.failure is not None:
                # an attempt made while this entry waited failed: a second one
                # would too, and each would cost the whole connect budget again
                raise self._failure_of(*link.failure) from None
            self._drop()
            try:
                notes: list[str] = []  # a jump host's own (its key recorded) come first
                tunnel = self._tunnel(cancel, notes) if self.resolved.via else None
                t, watched, note = sshconnect.connect(self.resolved, tunnel, cancel)
                note = "; ".join(n for n in (*notes, note) if n) or None
            except ConnectorError as exc:
                link.attempts, link.failure = link.attempts + 1, (self.host, exc)
                raise
            link.attempts, link.failure = link.attempts + 1, None
            link.transport, link.watched, link.note = t, watched, note
            link.lost_reason = None
            link.stop = threading.Event()
            threading.Thread(target=self._watchdog, args=(t, watched, link.stop),
                             name=f"tetra-keepalive-{self.host}", daemon=True).start()
            return t

    def _failure_of(self, tried_by: str, exc: Exception) -> Exception:
        """``exc`` (the failure of ``tried_by``'s attempt) as this entry's own."""
        message = exc.message
        if message.startswith(f"{tried_by}: "):
            message = f"{self.host}: {message[len(tried_by) + 2:]}"
        return type(exc)(message, hint=exc.hint)

    def _tunnel(self, cancel=None, notes: list[str] | None = None):
        jump = self.resolved.via[-1]
        connector = self._pool.get(jump) if self._pool is not None else SSHConnector(jump)

        def open_tunnel(hostname: str, port: int, timeout: float):
            transport = connector.connect(cancel)
            note = connector.take_note()
            if note and notes is not None:  # reported with the host it was opened for
                notes.append(f"jump host {jump.name}: {note}")
            return transport.open_channel("direct-tcpip", (hostname, port), ("127.0.0.1", 0),
                                          timeout=timeout)

        return open_tunnel

    def _watchdog(self, transport, watched, stop: threading.Event) -> None:
        """Probe a silent server; close the connection when it stays silent too long."""
        interval, budget = sshconnect.keepalive_timing(self.resolved)
        probed = 0.0
        while not stop.wait(min(1.0, interval / 2)):
            if not transport.is_active():
                return
            now = time.monotonic()
            silent = now - watched.last_recv
            if silent >= budget:
                self._link.lost_reason = (f"the server stopped answering (no reply to "
                                          f"keepalive for {silent:.0f}s)")
                transport.close()
                return
            if silent >= interval and now - probed >= interval:
                probed = now
                _probe(transport)

    def _drop(self) -> None:
        link = self._link
        link.stop.set()
        if link.sftp is not None:
            try:
                link.sftp.close()
            except Exception:
                pass
            link.sftp = None
        if link.transport is not None:
            try:
                link.transport.close()
            except Exception:
                pass
            link.transport = None

    def close(self) -> None:
        with self._link.lock:
            self._drop()

    def describe(self) -> dict:
        """Facts about the live connection, for ``resolve --connect``."""
        t = self._transport
        if t is None:
            return {}
        from .hostkeys import fingerprint

        key = t.get_remote_server_key()
        info = {"server": t.remote_version, "host_key": f"{key.get_name()} {fingerprint(key)}",
                "cipher": getattr(t, "remote_cipher", None)}
        note = self.take_note()  # reported here, so once, not by every entry sharing it
        if note:
            info["note"] = note
        return info

    def _lost(self, during: str) -> ConnectionLost:
        reason = self._link.lost_reason or "the connection was closed by the server or the network"
        return ConnectionLost(f"{self.host}: connection lost during {during}: {reason}",
                              hint="the command may still be running on the host")

    # -- commands -----------------------------------------------------------
    def run(self, command: Sequence[str] | str, *, timeout: float | None = None,
            on_stdout=None, on_stderr=None, cancel: threading.Event | None = None,
            capture: bool = True) -> RunResult:
        started = time.monotonic()
        script = (f"exec sh -c {shlex.quote(command)}" if isinstance(command, str)
                  else _exec_line(command))
        transport = self.connect(cancel)
        waited = self._take_session(time.monotonic(), timeout, cancel)
        if waited is not None:
            return RunResult(self.host, None, "", "", time.monotonic() - started, waited)
        try:
            try:
                chan = _open_session(transport, float(self.resolved.setting("connect_timeout", 10)),
                                     cancel=cancel)
                if chan is None:
                    return RunResult(self.host, None, "", "", time.monotonic() - started, "cancelled")
                # No stdin: a command that reads it sees EOF, not a hang.  Not by
                # shutdown_write(): paramiko sends that EOF outside the channel's
                # lock, so behind a busy upload it can follow the channel's
                # close, and sshd drops the whole connection for it.
                chan.exec_command(f"echo tetra-pid:$$; {script} </dev/null")
            except Exception as exc:
                if _gone(transport, exc):
                    return self._result_lost(started, "the command start")
                raise ConnectorError(f"{self.host}: cannot start the command: {exc}") from None
            out = LineSplitter(on_stdout, capture)
            err = LineSplitter(on_stderr, capture)
            try:
                # the timeout is the command's: connecting has its own (connect_timeout)
                status, error = self._wait(chan, out, err, time.monotonic(), timeout, cancel)
            finally:
                chan.close()
        finally:
            self._link.sessions.release()
        out.close()
        err.close()
        if error is None and status is None:
            return self._result_lost(started, "the command", out, err)
        if error is None and not_found_in("\n".join(err.tail), status):
            word = command.split()[0] if isinstance(command, str) else command[0]
            error = f"command not found: {word}"
        return RunResult(self.host, status, out.text, err.text, time.monotonic() - started, error)

    def _take_session(self, since: float, timeout: float | None, cancel) -> str | None:
        """Wait for a free session on the connection; None, or why it never came."""
        sessions = self._link.sessions
        while not sessions.acquire(timeout=0.05):
            if cancel is not None and cancel.is_set():
                return "cancelled"
            if timeout is not None and time.monotonic() - since >= timeout:
                return f"timed out after {timeout:g}s (waiting for a free session on the connection)"
        return None

    def _result_lost(self, started, during, out=None, err=None) -> RunResult:
        lost = self._lost(during)
        return RunResult(self.host, None, out.text if out else "", err.text if err else "",
                         time.monotonic() - started, lost.message)

    def _wait(self, chan, out, err, started, timeout, cancel):
        """Pump output until the command ends; returns (exit status, error)."""
        pid: int | None = None
        head = b""
        deadline = None if timeout is None else started + timeout
        fd = chan.fileno()
        while True:
            if chan.eof_received and not chan.recv_ready() and not chan.recv_stderr_ready():
                chan.status_event.wait(0.1)  # output is over; only the exit status is due
            else:
                select.select([fd], [], [], 0.1)
            while chan.recv_ready():
                data = chan.recv(65536)
                if pid is None:
                    head += data
                    match = _PID_LINE.search(head)
                    if match is None:
                        continue
                    pid = int(match.group(1))
                    out.feed(head[:match.start()])
                    data = head[match.end():]
                out.feed(data)
            while chan.recv_stderr_ready():
                err.feed(chan.recv_stderr(65536))
            ended = getattr(chan, "tetra_exit_status", False) or chan.closed
            if ended and (chan.eof_received or chan.closed):
                if not chan.recv_ready() and not chan.recv_stderr_ready():
                    if pid is None and head:
                        out.feed(head)
                    return _exit_of(chan)
            reason = None
            if cancel is not None and cancel.is_set():
                reason = "cancelled"
            elif deadline is not None and time.monotonic() >= deadline:
                reason = f"timed out after {timeout:g}s"
            if reason:
                ended = self._kill(pid, chan, head)
                return None, reason + ("; the command was ended on the host" if ended
                                       else "; could not end the command on the host")

    def _kill(self, pid: int | None, chan, head: bytes = b"") -> bool:
        """End the command's process group on the host: TERM, then KILL after a grace."""
        if pid is None:  # the marker has not arrived: give it a moment
            give_up = time.monotonic() + 1.0
            while pid is None and time.monotonic() < give_up and not chan.closed:
                if chan.recv_ready():
                    head += chan.recv(65536)
                    match = _PID_LINE.search(head)
                    pid = int(match.group(1)) if match else None
                else:
                    time.sleep(0.01)
            if pid is None:
                return chan.closed
        ticks = int(_KILL_WAIT_S / 0.1)
        # kill -0 also sees zombies; ps tells the living apart where it can
        alive = (f"if ps -A -o pgid= -o stat= >/dev/null 2>&1; then alive() {{ ps -A -o pgid= "
                 f"-o stat= | awk '$1 == {pid} && $2 !~ /^Z/ {{ f = 1 }} END {{ exit !f }}'; }}; "
                 f"else alive() {{ kill -0 -{pid} 2>/dev/null; }}; fi")
        script = (f"{alive}; kill -TERM -{pid} 2>/dev/null; i=0; while alive "
                  f"&& [ $i -lt {ticks} ]; do sleep 0.1; i=$((i+1)); done; "
                  f"kill -KILL -{pid} 2>/dev/null; true")
        try:
            with self._link.killer:  # Ctrl-C on many commands: their kills take turns
                killer = _open_session(self._transport, 5)
                killer.exec_command(script)
                ok = killer.status_event.wait(_KILL_WAIT_S + 5)
                killer.close()
            return ok
        except Exception:
            return False

    # -- files --------------------------------------------------------------
    def sftp(self):
        """The connection's SFTP session (opened once, reopened after a reconnect)."""
        transport = self.connect()
        link = self._link
        if link.sftp is None or link.sftp.sock.closed:
            import paramiko

            try:
                chan = _open_session(transport, float(self.resolved.setting("connect_timeout", 10)),
                                     window_size=sshconnect.WINDOW,
                                     max_packet_size=sshconnect.MAX_PACKET)
                chan.invoke_subsystem("sftp")
                link.sftp = paramiko.SFTPClient(chan)
            except Exception as exc:
                if _gone(transport, exc):
                    raise self._lost("the SFTP start") from None
                raise TransferError(f"{self.host}: the server offers no SFTP ({exc})",
                                    hint="enable 'Subsystem sftp' in the host's sshd_config") from None
        return link.sftp

    def open_sftp(self) -> None:
        """Open the SFTP session now (while other work runs), so that the
        first transfer starts at once; a failure is the transfer's to report."""
        try:
            with self._link.sftp_lock:
                self.sftp()
        except ConnectorError:
            pass

    def put(self, local_path: str, remote_path: str, *, progress=None, cancel=None,
            expect_sha256: str | None = None) -> str:
        from .sftp import upload

        with self._link.sftp_lock:
            return upload(self, local_path, remote_path, progress, cancel, expect_sha256)

    def get(self, remote_path: str, local_path: str, *, progress=None, cancel=None) -> str:
        from .sftp import download

        with self._link.sftp_lock:
            return download(self, remote_path, local_path, progress, cancel)


def _exec_line(argv: Sequence[str]) -> str:
    """The shell line that runs ``argv`` in place of the shell.

    A first word starting with ``-`` would be read as an option of ``exec``
    itself (bash: "exec: --: invalid option"), and ``exec --`` is no help:
    dash takes the ``--`` for the command.  No command starts with ``-``, so
    such a line runs without ``exec``: the shell reports it not found (127),
    as ``ssh host -- --word`` does, and the process group is the same."""
    line = quote_command(argv)
    return line if str(argv[0]).startswith("-") else "exec " + line


def _exit_of(chan) -> tuple[int | None, str | None]:
    """(exit status, error) of a finished channel; (None, None) when the connection went."""
    if getattr(chan, "tetra_exit_status", False):
        return chan.exit_status, None
    signal_name = getattr(chan, "tetra_exit_signal", None)
    if signal_name:
        import signal

        number = getattr(signal, "SIG" + signal_name, None)
        return (128 + int(number) if number else None), f"killed by signal {signal_name}"
    return None, None


def _open_session(transport, timeout: float, cancel=None, **sizes):
    """A new session channel, asked again while the server refuses it (None
    once ``cancel`` is set).

    sshd frees a closed session's slot a turn of its loop after the close: a
    session asked for right after another ended (commands queued on a shared
    connection) can find the slot still taken and be refused (MaxSessions)."""
    from paramiko import SSHException

    deadline = time.monotonic() + timeout
    while True:
        try:
            return transport.open_session(timeout=max(0.1, deadline - time.monotonic()), **sizes)
        except SSHException as exc:  # ChannelException: refused
            if _gone(transport, exc) or time.monotonic() >= deadline:
                raise
        if cancel is None:
            time.sleep(0.02)
        elif cancel.wait(0.02):
            return None


def _gone(transport, exc: Exception) -> bool:
    """Whether ``exc`` means the connection went.  A send on a dead socket
    raises EOFError before paramiko's own thread marks the transport inactive
    (likely when many commands on a shared connection start at once)."""
    return isinstance(exc, (EOFError, OSError)) or not transport.is_active()


def _probe(transport) -> None:
    """A keepalive the server must answer (want-reply), unlike paramiko's own."""
    try:
        from paramiko.common import cMSG_GLOBAL_REQUEST
        from paramiko.message import Message

        m = Message()
        m.add_byte(cMSG_GLOBAL_REQUEST)
        m.add_string("keepalive@openssh.com")
        m.add_boolean(True)
        transport._send_user_message(m)
    except Exception:
        pass

"""Opening one SSH connection: socket (TCP_NODELAY) or jump tunnel, handshake,
host key check, authentication; transient failures retried with backoff."""

from __future__ import annotations

import errno
import os
import random
import socket
import threading
import time

from . import hostkeys
from .base import AuthError, Cancelled, ConnectError, ConnectorError, HostKeyError

WINDOW = 16 * 1024 * 1024  # a large window keeps uploads from stalling on acks
MAX_PACKET = 32768
_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr", "aes256-ctr",
            "aes192-ctr")
_TRANSIENT_ERRNOS = {errno.ECONNREFUSED, errno.ECONNRESET, errno.ETIMEDOUT, errno.EHOSTUNREACH,
                     errno.ENETUNREACH, errno.ECONNABORTED}
_keys_lock = threading.Lock()
_key_cache: dict[tuple, object] = {}


class _Transient(Exception):
    """A failure worth another attempt: refused, reset, timed out, banner lost."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class WatchedSocket:
    """The transport's socket, noting when bytes last arrived (for keepalive)."""

    def __init__(self, sock):
        self._sock = sock
        self.last_recv = time.monotonic()

    def recv(self, n):
        data = self._sock.recv(n)
        if data:
            self.last_recv = time.monotonic()
        return data

    @property
    def _closed(self):
        return getattr(self._sock, "_closed", getattr(self._sock, "closed", False))

    def __getattr__(self, name):
        return getattr(self._sock, name)


KEEPALIVE_LIMIT_S = 30.0  # SPEC 5: a silent server is reported within 30 s


def keepalive_timing(host) -> tuple[float, float]:
    """``(probe interval, silence budget)`` in seconds for ``host``'s connection.

    The budget is ``keepalive_interval * keepalive_count_max``, capped at
    :data:`KEEPALIVE_LIMIT_S` whatever ssh_config says (ServerAliveInterval 60
    would otherwise mean three minutes); the first probe goes out by half of
    it, so an idle connection that answers is never taken for gone."""
    interval = float(host.setting("keepalive_interval", 5.0))
    count = int(host.setting("keepalive_count_max", 3))
    if interval <= 0:
        interval = 5.0
    budget = min(interval * max(1, count), KEEPALIVE_LIMIT_S)
    return min(interval, budget / 2), budget


def connect(host, tunnel=None, cancel: threading.Event | None = None):
    """An authenticated ``(transport, watched_socket, notes)`` for ``host``.

    ``tunnel(hostname, port, timeout)`` opens a channel through a jump host.
    ``cancel`` (Ctrl-C) ends the attempt under way and the retries at once.
    Raises ConnectError (after retries), HostKeyError, AuthError or Cancelled.
    """
    retries = int(host.setting("connect_retries", 3))
    timeout = float(host.setting("connect_timeout", 10.0))
    started = time.monotonic()
    delay = 0.2
    for attempt in range(retries + 1):
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"{host.name}: cancelled while connecting")
        try:
            return _attempt(host, tunnel, timeout, cancel)
        except _Transient as exc:
            if cancel is not None and cancel.is_set():
                raise Cancelled(f"{host.name}: cancelled while connecting") from None
            if attempt == retries:
                took = time.monotonic() - started
                raise ConnectError(
                    f"{host.name}: cannot connect to {host.hostname}:{host.port}: {exc.reason} "
                    f"({attempt + 1} attempt{'s' if attempt else ''} in {took:.1f}s)",
                    hint=_connect_hint(host, exc.reason)) from None
            pause = delay * random.uniform(0.5, 1.5)  # jitter spreads a fleet's retries
            if cancel is not None and cancel.wait(pause):
                raise Cancelled(f"{host.name}: cancelled while connecting") from None
            if cancel is None:
                time.sleep(pause)
            delay = min(delay * 2, 5.0)
        except ConnectorError:
            raise
        except (ImportError, MemoryError):
            raise
        except Exception as exc:  # anything paramiko raises that is not classified above
            raise ConnectError(f"{host.name}: cannot connect to {host.hostname}:{host.port}: "
                               f"{type(exc).__name__}: {exc}") from None
    raise AssertionError("unreachable")


def _connect_hint(host, reason: str) -> str:
    if "refused" in reason:
        return f"is sshd listening on {host.hostname}:{host.port}? check port in the topology or ssh_config"
    if "timed out" in reason:
        return "the host did not answer: check the address, a firewall, or raise connect_timeout"
    return "check the address and that the host is up"


def _attempt(host, tunnel, timeout: float, cancel: threading.Event | None = None):
    import paramiko

    _quiet_paramiko()

    sock = _open_socket(host, tunnel, timeout, cancel)
    watched = WatchedSocket(sock)
    transport = paramiko.Transport(watched, default_window_size=WINDOW,
                                   default_max_packet_size=MAX_PACKET)
    _note_exit_requests(transport)
    done = _close_on_cancel(transport, cancel)
    try:
        entries = hostkeys.known_entries(host.known_hosts, host.known_hosts_name)
        options = transport.get_security_options()
        options.ciphers = tuple(c for c in _CIPHERS if c in options.ciphers) or options.ciphers
        options.key_types = tuple(hostkeys.preferred_key_types(entries, tuple(options.key_types)))
        transport.banner_timeout = transport.handshake_timeout = timeout
        transport.auth_timeout = timeout
        started = time.monotonic()
        try:
            transport.start_client(timeout=timeout)
            # start_client returns quietly when its timeout passes; this raises then
            key = transport.get_remote_server_key()
        except (EOFError, paramiko.SSHException, OSError) as exc:
            if time.monotonic() - started >= timeout * 0.9:
                raise _Transient(f"timed out after {timeout:g}s waiting for the SSH handshake") from None
            raise _Transient(_describe_handshake(exc)) from None
        note = hostkeys.verify(host, key, entries)
        _authenticate(host, transport)
        transport.set_keepalive(max(1, int(keepalive_timing(host)[0])))
        return transport, watched, note
    except BaseException:
        transport.close()
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"{host.name}: cancelled while connecting") from None
        raise
    finally:
        done.set()


def _close_on_cancel(transport, cancel: threading.Event | None) -> threading.Event:
    """Close ``transport`` if ``cancel`` is set before the returned event is:
    a handshake or login waiting on a silent host ends at once, not at its timeout."""
    done = threading.Event()
    if cancel is not None:
        def watch() -> None:
            while not done.wait(0.05):
                if cancel.is_set():
                    transport.close()
                    return
        threading.Thread(target=watch, name="tetra-connect-cancel", daemon=True).start()
    return done


def _quiet_paramiko() -> None:
    """paramiko logs failures (with tracebacks) from its own thread; with no logging
    configured Python would print them.  tetra reports the failure itself."""
    import logging

    log = logging.getLogger("paramiko")
    if not any(isinstance(h, logging.NullHandler) for h in log.handlers):
        log.addHandler(logging.NullHandler())
        log.propagate = False


def _note_exit_requests(transport) -> None:
    """Mark on each channel whether the server sent exit-status or exit-signal.

    paramiko ignores exit-signal and reports -1 both for a command killed by a
    signal and for a connection that dropped; tetra tells them apart.
    """
    from paramiko.channel import Channel
    from paramiko.common import MSG_CHANNEL_REQUEST

    def handle(chan, m):
        start = m.packet.tell()
        kind = m.get_text()
        if kind == "exit-signal":
            m.get_boolean()
            chan.tetra_exit_signal = m.get_text()
            return
        m.packet.seek(start)
        Channel._handle_request(chan, m)
        if kind == "exit-status":
            # only once exit_status holds the value: a waiter that sees the
            # flag first would otherwise read paramiko's -1 placeholder
            chan.tetra_exit_status = True

    table = dict(transport._channel_handler_table)
    table[MSG_CHANNEL_REQUEST] = handle
    transport._channel_handler_table = table


def _describe_handshake(exc) -> str:
    text = str(exc) or type(exc).__name__
    if isinstance(exc, EOFError) or "banner" in text.lower():
        return "the server closed the connection during the handshake"
    return f"handshake failed: {text}"


def _open_socket(host, tunnel, timeout: float, cancel: threading.Event | None = None):
    if tunnel is not None:
        try:
            return tunnel(host.hostname, host.port, timeout)
        except (HostKeyError, AuthError, Cancelled):
            raise
        except ConnectorError as exc:  # the jump host itself: it has had its own retries
            raise ConnectError(f"{host.name}: cannot reach {host.hostname}:{host.port} via the "
                               f"jump host: {exc.message}", hint=exc.hint) from None
        except Exception as exc:
            raise _Transient(f"the jump host could not open a tunnel ({exc})") from None
    try:
        sock = _tcp_connect(host.hostname, host.port, timeout, cancel)
    except Cancelled:
        raise Cancelled(f"{host.name}: cancelled while connecting") from None
    except socket.gaierror as exc:
        raise ConnectError(f"{host.name}: cannot resolve host name {host.hostname!r}: "
                           f"{exc.strerror}", hint="check hostname in the topology or ssh_config") from None
    except socket.timeout:
        raise _Transient(f"timed out after {timeout:g}s") from None
    except OSError as exc:
        if exc.errno in _TRANSIENT_ERRNOS:
            reason = {errno.ECONNREFUSED: "connection refused",
                      errno.ECONNRESET: "connection reset"}.get(exc.errno, exc.strerror)
            raise _Transient(reason.lower()) from None
        raise ConnectError(f"{host.name}: cannot connect to {host.hostname}:{host.port}: "
                           f"{exc.strerror}") from None
    # Nagle's algorithm would hold back each small SSH packet for an ack: ~40 ms a command.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    return sock


def _tcp_connect(hostname: str, port: int, timeout: float, cancel) -> socket.socket:
    """``socket.create_connection``, but ``cancel`` ends the wait at once (a
    host that drops SYN packets would hold Ctrl-C for the whole timeout)."""
    if cancel is None:
        return socket.create_connection((hostname, port), timeout=timeout)
    import select

    deadline = time.monotonic() + timeout
    error: OSError | None = None
    for family, kind, proto, _, address in socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM):
        sock = socket.socket(family, kind, proto)
        try:
            sock.setblocking(False)
            code = sock.connect_ex(address)
            while code == errno.EINPROGRESS:
                if cancel.is_set():
                    raise Cancelled("cancelled")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise socket.timeout("timed out")
                if select.select([], [sock], [], min(0.05, remaining))[1]:
                    code = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code == 0:
                sock.settimeout(timeout)  # as create_connection leaves it
                return sock
            error = OSError(code, os.strerror(code))
        except BaseException:
            sock.close()
            raise
        sock.close()
    raise error or OSError(errno.EHOSTUNREACH, "no address to connect to")


def _load_key(path: str):
    """A private key from a file, cached by path and modification time."""
    import paramiko

    st = os.stat(path)
    cache_key = (path, st.st_mtime_ns, st.st_size)
    with _keys_lock:
        if cache_key in _key_cache:
            return _key_cache[cache_key]
    key = paramiko.PKey.from_path(path)
    with _keys_lock:
        _key_cache[cache_key] = key
    return key


def _authenticate(host, transport) -> None:
    import paramiko

    offered: list[tuple[str, object]] = []
    skipped: list[str] = []
    for path in host.identity_files:
        try:
            offered.append((_short(path), _load_key(path)))
        except FileNotFoundError:
            skipped.append(f"{_short(path)} (missing)")
        except paramiko.PasswordRequiredException:
            skipped.append(f"{_short(path)} (has a passphrase: add it to ssh-agent)")
        except Exception as exc:
            skipped.append(f"{_short(path)} ({type(exc).__name__})")
    if host.agent:
        try:
            agent_keys = paramiko.Agent().get_keys()
        except Exception:
            agent_keys = ()
        if host.setting("identities_only"):
            wanted = {k.asbytes() for _, k in offered}
            agent_keys = [k for k in agent_keys if k.asbytes() in wanted]
        offered = [(f"agent key {i + 1}", k) for i, k in enumerate(agent_keys)] + offered
    if not offered:
        raise AuthError(f"{host.name}: no key to offer {host.user}@{host.hostname}"
                        + (f" ({'; '.join(skipped)})" if skipped else ""),
                        hint="set identity_file in the topology or IdentityFile in ssh_config, "
                             "or load a key into ssh-agent")
    tried = []
    for label, key in offered:
        tried.append(label)
        try:
            remaining = transport.auth_publickey(host.user, key)
            if transport.is_authenticated():
                return
            raise AuthError(f"{host.name}: {host.user}@{host.hostname} wants more than a key "
                            f"({', '.join(remaining)})", hint="tetra authenticates with keys only")
        except paramiko.BadAuthenticationType as exc:
            raise AuthError(f"{host.name}: {host.user}@{host.hostname} does not accept keys "
                            f"(server allows: {', '.join(exc.allowed_types)})",
                            hint="tetra authenticates with keys only") from None
        except paramiko.AuthenticationException:
            continue
        except (paramiko.SSHException, EOFError, OSError) as exc:
            raise ConnectError(f"{host.name}: connection lost while authenticating: {exc}") from None
    raise AuthError(f"{host.name}: authentication failed for {host.user}@{host.hostname}:"
                    f"{host.port} (tried {', '.join(tried)})"
                    + (f"; skipped {', '.join(skipped)}" if skipped else ""),
                    hint=f"is the public key in ~{host.user}/.ssh/authorized_keys on the host? "
                         "check user and identity_file")


def _short(path: str) -> str:
    home = os.path.expanduser("~")
    return "~" + path[len(home):] if home != "/" and path.startswith(home + "/") else path

"""Fast, verified SFTP transfers for the SSH connector.

Uploads pipeline large write requests (paramiko's default waits for acks far
more often); downloads prefetch.  Both compute sha256 while streaming, compare
it with ``sha256sum`` on the host, and rename into place only when they match,
so a destination is never a torn file.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
import posixpath
import shlex
import stat
import threading
import time

from .base import Cancelled, ConnectionLost, TransferError
from .streams import io_reason, temp_name

REQUEST = 64 * 1024  # two SSH packets a request: fewer acks to parse than paramiko's 32 KiB
MAX_IN_FLIGHT = 64  # 4 MiB in flight: beyond the server's window, so the pipe never drains
MIN_IN_FLIGHT = 8  # 512 KiB
FILL_RATE = 256e6  # bytes/s an upload's pipeline is sized for: more than one SSH stream carries


def upload_depth(rtt: float) -> int:
    """Write requests to keep in flight over a round trip of ``rtt`` seconds.

    Enough to carry FILL_RATE, within [MIN_IN_FLIGHT, MAX_IN_FLIGHT].  Deep
    only where the link needs it: the server's sshd holds what is in flight
    in buffers it grows on a fresh connection, and 4 MiB in flight over
    loopback cost the first 50 MB upload ~80,000 page faults in sshd (0.15 s on
    a VM) for no gain in speed; 512 KiB cost ~2,000.
    """
    return max(MIN_IN_FLIGHT, min(MAX_IN_FLIGHT, math.ceil(rtt * FILL_RATE / REQUEST)))


def _remote(path: str) -> str:
    """SFTP paths are relative to the login directory; ``~/x`` means just that."""
    if path == "~":
        return "."
    return path[2:] if path.startswith("~/") else path


def remote_sha256(connector, path: str) -> str | None:
    """sha256 of a file on the host (sha256sum, shasum or openssl, whichever exists)."""
    q = shlex.quote("./" + path if path.startswith("-") else path)
    # openssl uses the CPU's SHA instructions: 3-4x faster than coreutils sha256sum
    script = (f"openssl dgst -sha256 -r {q} 2>/dev/null || sha256sum {q} 2>/dev/null "
              f"|| shasum -a 256 {q}")
    result = connector.run(script, timeout=600)
    words = result.stdout.split()
    if result.ok and words and len(words[0]) == 64:
        return words[0].lower()
    return None


def _is_dir(sftp, path: str) -> bool:
    try:
        return stat.S_ISDIR(sftp.stat(path).st_mode)
    except OSError:
        return False


def upload(connector, local_path: str, remote_path: str, progress=None, cancel=None,
           expect: str | None = None) -> str:
    local = os.path.expanduser(local_path)
    if not os.path.isfile(local):
        raise TransferError(f"put: no such local file: {local_path}")
    host = connector.host
    sftp = connector.sftp()
    dest = _remote(remote_path)
    if dest.endswith("/") or _is_dir(sftp, dest):
        dest = posixpath.join(dest, os.path.basename(local))
    parent = posixpath.dirname(dest) or "."
    started = time.perf_counter()
    if not _is_dir(sftp, parent):
        raise TransferError(f"put: {host}: no such directory: {parent}")
    rtt = time.perf_counter() - started
    tmp = temp_name(dest, posixpath.join, posixpath.split)
    total = os.path.getsize(local)
    # An expected digest (the caller hashed the file already) is what the
    # host's hash is checked against: no second local hash while streaming.
    digest = hashlib.sha256() if expect is None else None
    steps = _Steps(local_path, dest, parent)
    try:
        _write_pipelined(sftp, local, tmp, total, digest, progress,
                         _checker(connector, "put", cancel), rtt=rtt, steps=steps)
        mode = stat.S_IMODE(os.stat(local).st_mode)
        with steps.remote("write"):
            sftp.chmod(tmp, mode)
        theirs = remote_sha256(connector, tmp)
        mine = digest.hexdigest() if digest is not None else expect.lower()
        if expect is not None and theirs is None:
            raise TransferError(f"put: {host}: cannot compute sha256 on the host "
                                "(no openssl, sha256sum or shasum)")
        if expect is not None and theirs != expect.lower():
            raise TransferError(f"put: {host}: sha256 of {dest} on the host {theirs[:16]} "
                                f"is not the expected {expect[:16]}")
        if theirs is None:
            with steps.remote("write"):
                size = sftp.stat(tmp).st_size
            if size != total:
                raise TransferError(f"put: {host}: size mismatch after upload ({size} != {total})")
        elif theirs != mine:
            raise TransferError(f"put: {host}: sha256 mismatch after upload to {dest} "
                                f"(local {mine[:16]}, remote {theirs[:16]})")
        with steps.remote("rename", existed=_exists(sftp, dest)):
            try:
                sftp.posix_rename(tmp, dest)
            except OSError as first:
                # plain rename for servers without posix-rename; when that
                # fails too, the first answer is the one that says why
                try:
                    sftp.rename(tmp, dest)
                except OSError:
                    raise first from None
        return mine
    except BaseException as exc:
        try:
            sftp.remove(tmp)
        except Exception:
            pass
        if isinstance(exc, _Fault):
            _raise_fault(connector, "put", exc)
        if _is_io_error(exc):
            _raise_transfer(connector, "put", dest, exc)
        raise


def _checker(connector, verb: str, cancel):
    """A function that raises Cancelled once ``cancel`` is set (Ctrl-C)."""
    def check() -> None:
        if cancel is not None and cancel.is_set():
            raise Cancelled(f"{verb}: {connector.host}: cancelled")
    return check


def _write_pipelined(sftp, local: str, tmp: str, total: int, digest, progress,
                     check=lambda: None, rtt: float = math.inf, steps=None) -> None:
    """Many large write requests in flight (as many as the round trip needs:
    :func:`upload_depth` of the shorter of ``rtt`` and the open's); acks read
    only when the window is full."""
    from collections import deque

    from paramiko.sftp import CMD_STATUS, CMD_WRITE, int64
    from paramiko.sftp_client import SFTPError

    steps = steps or _Steps(local, tmp, posixpath.dirname(tmp))
    done = 0
    started = time.perf_counter()
    with steps.remote("create"):
        handle_file = sftp.open(tmp, "wb")
    depth = upload_depth(min(rtt, time.perf_counter() - started))
    with _closing(handle_file, steps.remote("write")):
        handle = handle_file.handle
        pending: deque = deque()
        offset = 0
        with steps.local("read"):
            f = open(local, "rb")
        with f:
            while True:
                with steps.local("read"):
                    chunk = f.read(REQUEST)
                if not chunk:
                    break
                check()
                if digest is not None:
                    digest.update(chunk)
                pending.append(sftp._async_request(type(None), CMD_WRITE, handle,
                                                   int64(offset), chunk))
                offset += len(chunk)
                while len(pending) > depth or (pending and sftp.sock.recv_ready()):
                    with steps.remote("write"):
                        t, _ = sftp._read_response(pending.popleft())
                    if t != CMD_STATUS:
                        raise SFTPError("expected a status reply to a write")
                    done = min(offset, done + REQUEST)
                    if progress:
                        progress(min(done, total), total)
        while pending:
            with steps.remote("write"):
                sftp._read_response(pending.popleft())
        if progress:
            progress(total, total)


def _read_pipelined(sftp, source: str, total: int, out, digest, progress,
                    check=lambda: None, steps=None) -> int:
    """Read requests kept ``MAX_IN_FLIGHT`` ahead, answers taken in order
    (paramiko's prefetch slows down badly on large files)."""
    from collections import deque

    from paramiko.sftp import CMD_DATA, CMD_READ, int64

    steps = steps or _Steps(getattr(out, "name", "?"), source, posixpath.dirname(source))
    done = 0
    with steps.remote("read"):
        remote = sftp.open(source, "rb")
    with _closing(remote, steps.remote("read")):
        pending: deque = deque()
        offset = 0
        while done < total or pending:
            with steps.remote("read"):
                while offset < total and len(pending) < MAX_IN_FLIGHT:
                    size = min(REQUEST, total - offset)
                    pending.append(sftp._async_request(type(None), CMD_READ, remote.handle,
                                                       int64(offset), size))
                    offset += size
            if not pending:
                break
            check()
            try:
                with steps.remote("read"):
                    t, msg = sftp._read_response(pending.popleft())
            except _Fault as fault:
                if isinstance(fault.exc, EOFError) and not getattr(sftp.sock, "closed", True):
                    break  # the server's EOF status: the file shrank while we read it
                raise
            if t != CMD_DATA:
                break  # EOF: the file shrank while we read it
            data = msg.get_string()
            with steps.local("write"):
                out.write(data)
            digest.update(data)
            done += len(data)
            if progress:
                progress(done, total)
    return done


@contextlib.contextmanager
def _closing(handle, step):
    """Close ``handle`` after the block, a failure of the close labelled by
    ``step``; after an error in the block, that error is the one reported."""
    try:
        yield handle
    except BaseException:
        with contextlib.suppress(Exception):
            handle.close()
        raise
    with step:
        handle.close()


def download(connector, remote_path: str, local_path: str, progress=None, cancel=None) -> str:
    host = connector.host
    sftp = connector.sftp()
    source = _remote(remote_path)
    try:
        attrs = sftp.stat(source)
    except FileNotFoundError:
        raise TransferError(f"get: {host}: no such remote file: {remote_path}") from None
    except OSError as exc:
        _raise_fault(connector, "get", _Fault("remote", "read", exc, _Steps(local_path, remote_path, "")))
    if stat.S_ISDIR(attrs.st_mode):
        raise TransferError(f"get: {host}: {remote_path} is a directory (only files can be fetched)")
    local = os.path.expanduser(local_path)
    if os.path.isdir(local) or local.endswith("/"):
        local = os.path.join(local, posixpath.basename(source))
    parent = os.path.dirname(os.path.abspath(local))
    if not os.path.isdir(parent):
        raise TransferError(f"get: no such local directory: {parent}")
    total = attrs.st_size
    theirs: list[str | None] = [None]
    # the host hashes the file while we fetch it
    hasher = threading.Thread(target=lambda: theirs.__setitem__(0, remote_sha256(connector, source)),
                              daemon=True)
    hasher.start()
    tmp = temp_name(os.path.join(parent, os.path.basename(local)))
    digest = hashlib.sha256()
    steps = _Steps(local, remote_path, parent)
    done = 0
    try:
        with steps.local("create"):
            out = open(tmp, "wb")
        with out:
            done = _read_pipelined(sftp, source, total, out, digest, progress,
                                   _checker(connector, "get", cancel), steps)
            with steps.local("write"):
                out.flush()
                os.fsync(out.fileno())
        hasher.join()
        mine = digest.hexdigest()
        if done != total:
            raise TransferError(f"get: {host}: {remote_path} changed size during the download")
        if theirs[0] is not None and theirs[0] != mine:
            raise TransferError(f"get: {host}: sha256 mismatch for {remote_path} "
                                f"(remote {theirs[0][:16]}, local {mine[:16]})")
        with steps.local("write"):
            os.chmod(tmp, stat.S_IMODE(attrs.st_mode) | 0o600)
        with steps.local("rename", existed=os.path.lexists(local)):
            os.replace(tmp, local)
        if progress and total == 0:
            progress(0, 0)
        return mine
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, _Fault):
            _raise_fault(connector, "get", exc)
        if _is_io_error(exc):
            _raise_transfer(connector, "get", source, exc)
        raise


def _exists(sftp, path: str) -> bool:
    try:
        sftp.lstat(path)
        return True
    except OSError:
        return False


class _Fault(Exception):
    """An I/O error in one step of a transfer, with the side it happened on
    (``local`` is this machine, ``remote`` the host) and what was being done:
    ``create`` (the temp file), ``read``, ``write`` or ``rename`` (into place)."""

    def __init__(self, side: str, action: str, exc: BaseException, steps: "_Steps",
                 existed: bool = False):
        super().__init__(f"{side} {action}: {exc}")
        self.side, self.action, self.exc, self.steps, self.existed = side, action, exc, steps, existed


class _Steps:
    """Labels the I/O of one transfer: ``with steps.remote("create"): ...`` turns
    an OSError (or paramiko's errors) inside into a :class:`_Fault`."""

    def __init__(self, local: str, remote: str, dest_dir: str):
        self.local_path, self.remote_path, self.dest_dir = local, remote, dest_dir

    def local(self, action: str, existed: bool = False):
        return self._step("local", action, existed)

    def remote(self, action: str, existed: bool = False):
        return self._step("remote", action, existed)

    @contextlib.contextmanager
    def _step(self, side: str, action: str, existed: bool):
        try:
            yield
        except _Fault:
            raise
        except BaseException as exc:
            if _is_io_error(exc):
                raise _Fault(side, action, exc, self, existed) from exc
            raise


def _raise_fault(connector, verb: str, fault: _Fault):
    """The TransferError for a fault: which side, which path, what went wrong."""
    exc, steps, action = fault.exc, fault.steps, fault.action
    if fault.side == "remote":
        transport = connector._transport
        if transport is None or not transport.is_active() or not isinstance(exc, OSError):
            raise connector._lost(f"{verb} of {steps.remote_path}") from None
    reason = io_reason(exc, creating=action == "create")
    where = f"{connector.host}: " if fault.side == "remote" else ""
    side = " here (local)" if fault.side == "local" else " (remote)"
    target = steps.local_path if verb == "get" else steps.remote_path
    hint = None
    if (verb == "get") == (fault.side == "remote"):  # the source side: reading
        message = f"cannot read {steps.remote_path if verb == 'get' else steps.local_path}{side}: {reason}"
    elif action == "create":  # the temp file next to the destination
        made = f"cannot create a file in {steps.dest_dir}"
        # get says which local file it was after; put's host and remote dir say enough
        message = (f"cannot write {target}{side}: {made}: {reason}" if verb == "get"
                   else f"{made}{side}: {reason}")
        hint = (f"{verb} writes a temporary file in {steps.dest_dir}, then renames it to "
                f"{target}; choose a place where new files can be created")
    elif action == "rename" and verb == "put":
        message = f"cannot {'replace' if fault.existed else 'create'} {target}{side}: {reason}"
    else:
        message = f"cannot write {target}{side}: {reason}"
    if action == "rename" and fault.existed:
        on = "" if fault.side == "local" else " on the host"
        hint = (f"the file arrived complete but could not be renamed over {target}, which is "
                f"unchanged: is it immutable (lsattr{on})?")
    raise TransferError(f"{verb}: {where}{message}", hint=hint) from None


def _is_io_error(exc: BaseException) -> bool:
    from paramiko import SSHException

    return isinstance(exc, (OSError, EOFError, SSHException)) and not isinstance(exc, TransferError)


def _raise_transfer(connector, verb: str, path: str, exc: BaseException):
    transport = connector._transport
    if transport is None or not transport.is_active():
        raise connector._lost(f"{verb} of {path}") from None
    if isinstance(exc, PermissionError) or getattr(exc, "errno", None) == 13:
        raise TransferError(f"{verb}: {connector.host}: permission denied: {path}") from None
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)  # no "[Errno 2]"
    raise TransferError(f"{verb}: {connector.host}: {path}: {reason or type(exc).__name__}") from None


__all__ = ["upload", "download", "remote_sha256", "ConnectionLost"]

"""The local connector: commands as subprocesses of this machine, files by copy."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

from .base import Cancelled, Connector, ProgressCallback, RunResult, TransferError
from .streams import CHUNK, LineSplitter, io_reason, temp_name

KILL_GRACE_S = 2.0


class LocalConnector(Connector):
    """Runs on this machine.  Each command gets its own process group, so a
    timeout or cancel ends its children too."""

    def __init__(self, host: str = "local", resolved=None):
        self.host = host
        self.resolved = resolved

    def run(self, command: Sequence[str] | str, *, timeout: float | None = None,
            on_stdout=None, on_stderr=None, cancel: threading.Event | None = None,
            capture: bool = True) -> RunResult:
        argv = ["sh", "-c", command] if isinstance(command, str) else [str(w) for w in command]
        started = time.monotonic()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except FileNotFoundError:
            return RunResult(self.host, 127, stderr=f"{argv[0]}: command not found\n",
                             error=f"command not found: {argv[0]}")
        except PermissionError:
            return RunResult(self.host, 126, error=f"permission denied: {argv[0]}")
        out = LineSplitter(on_stdout, capture)
        err = LineSplitter(on_stderr, capture)
        readers = [threading.Thread(target=_pump, args=(proc.stdout, out), daemon=True),
                   threading.Thread(target=_pump, args=(proc.stderr, err), daemon=True)]
        for reader in readers:
            reader.start()
        error = None
        deadline = None if timeout is None else started + timeout
        while True:
            try:
                proc.wait(timeout=0.05)
                break
            except subprocess.TimeoutExpired:
                pass
            if cancel is not None and cancel.is_set():
                error = "cancelled"
            elif deadline is not None and time.monotonic() >= deadline:
                error = f"timed out after {timeout:g}s (command ended)"
            if error:
                _end_group(proc)
                break
        for reader in readers:
            reader.join(timeout=2)
        out.close()
        err.close()
        status = None if error else proc.returncode
        if status is not None and status < 0:  # the shell's convention, not Python's
            error = f"killed by signal {signal.Signals(-status).name[3:]}"
            status = 128 - status
        return RunResult(self.host, status, out.text, err.text,
                         time.monotonic() - started, error)

    def put(self, local_path: str, remote_path: str, *,
            progress: ProgressCallback | None = None, cancel=None,
            expect_sha256: str | None = None) -> str:
        return _copy(local_path, remote_path, progress, self.host, "put", cancel, expect_sha256)

    def get(self, remote_path: str, local_path: str, *,
            progress: ProgressCallback | None = None, cancel=None) -> str:
        return _copy(remote_path, local_path, progress, self.host, "get", cancel)


def _pump(stream, splitter: LineSplitter) -> None:
    try:
        while chunk := stream.read1(65536):
            splitter.feed(chunk)
    except (OSError, ValueError):
        pass
    finally:
        stream.close()


def _end_group(proc: subprocess.Popen) -> None:
    """SIGTERM the command's process group, then SIGKILL what is left after a grace."""
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            if sig == signal.SIGTERM:
                # the leader is gone; stragglers in its group still get the KILL
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            return
        except subprocess.TimeoutExpired:
            continue


def _copy(source: str, dest: str, progress, host: str, verb: str, cancel=None,
          expect: str | None = None) -> str:
    """Copy with a sha256 of what was written, into a temp file renamed at the end."""
    source = os.path.expanduser(source)
    dest = os.path.expanduser(dest)
    if not os.path.isfile(source):
        side = "local" if verb == "put" else "remote"
        raise TransferError(f"{verb}: no such {side} file: {source}"
                            + ("" if verb == "put" else f" on {host}"))
    if os.path.isdir(dest) or dest.endswith("/"):
        dest = os.path.join(dest, os.path.basename(source))
    parent = os.path.dirname(dest) or "."
    if not os.path.isdir(parent):
        raise TransferError(f"{verb}: no such directory: {parent}" + (f" on {host}" if verb == "put" else ""))
    total = os.path.getsize(source)
    tmp = temp_name(dest)
    digest = hashlib.sha256()
    done = 0
    step = "read"  # what was being done when an OSError came: read, create, write, rename
    try:
        with open(source, "rb") as src:
            step = "create"
            with open(tmp, "wb") as dst:
                while True:
                    step = "read"
                    chunk = src.read(CHUNK)
                    if not chunk:
                        break
                    if cancel is not None and cancel.is_set():
                        raise Cancelled(f"{verb}: {host}: cancelled")
                    step = "write"
                    dst.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
                step = "write"
                dst.flush()
                os.fsync(dst.fileno())
        shutil.copymode(source, tmp)
        if expect is not None and digest.hexdigest() != expect.lower():
            raise TransferError(f"{verb}: {host}: sha256 of {source} {digest.hexdigest()[:16]} "
                                f"is not the expected {expect[:16]}")
        step = "rename"
        existed = os.path.lexists(dest)
        os.replace(tmp, dest)
    except BaseException as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, TransferError):
            # name the file the user asked for, not our temp file next to it
            where = f" on {host}" if verb == "put" else ""
            if step == "read":
                raise TransferError(f"{verb}: cannot read {source}"
                                    f"{'' if verb == 'put' else f' on {host}'}: {io_reason(exc)}") from None
            hint = None
            if step == "create":
                reason = (f"cannot create a file in {parent}: "
                          f"{io_reason(exc, creating=True)}")
                hint = (f"{verb} writes a temporary file in {parent}, then renames it to {dest}; "
                        "choose a place where new files can be created")
            else:
                reason = io_reason(exc)
                if step == "rename" and existed:
                    hint = (f"the file was copied but could not be renamed over {dest}, "
                            "which is unchanged: is it immutable (lsattr)?")
            raise TransferError(f"{verb}: cannot write {dest}{where}: {reason}", hint=hint) from None
        raise
    if progress and total == 0:
        progress(0, 0)
    return digest.hexdigest()

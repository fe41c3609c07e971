"""Shared pieces of connectors: line splitting, checksums, quoting, atomic local writes,
I/O errors in words."""

from __future__ import annotations

import errno
import hashlib
import os
import shlex
from collections import deque
from collections.abc import Callable, Sequence

CHUNK = 1 << 20


class LineSplitter:
    """Feed bytes, get whole decoded lines (no newline) through ``emit``; keeps a copy if asked.

    Lines are decoded losslessly: bytes that are not UTF-8 come out as ``\\xNN``
    escapes, never as U+FFFD.  An ``emit`` marked ``verbatim`` (see :func:`verbatim`)
    gets the bytes instead, as they arrive: the bytes the command wrote.
    """

    def __init__(self, emit: Callable[[str], None] | None, capture: bool):
        self.emit = emit
        self.raw = getattr(emit, "verbatim", False)
        self.capture = capture
        self.parts: list[str] = []
        self.tail: deque[str] = deque(maxlen=10)  # kept even without capture, for diagnosis
        self._pending = b""

    def feed(self, data: bytes) -> None:
        if not data:
            return
        if self.raw:
            self.emit(data)
        data = self._pending + data
        *lines, self._pending = data.split(b"\n")
        for line in lines:
            self._line(line)

    def close(self) -> None:
        if self._pending:
            self._line(self._pending, newline=False)
            self._pending = b""

    def _line(self, raw: bytes, newline: bool = True) -> None:
        text = raw.decode("utf-8", errors="backslashreplace")
        self.tail.append(text)
        if self.capture:
            self.parts.append(text + ("\n" if newline else ""))
        if self.emit is not None and not self.raw:
            self.emit(text.rstrip("\r"))

    @property
    def text(self) -> str:
        return "".join(self.parts)


def verbatim(write: Callable[[bytes], None]) -> Callable[[bytes], None]:
    """Mark an output callback as wanting the command's bytes as written, chunk by
    chunk, instead of decoded lines (see LineSplitter)."""

    def emit(data: bytes) -> None:
        write(data)

    emit.verbatim = True  # type: ignore[attr-defined]
    return emit


def quote_command(command: Sequence[str] | str) -> str:
    """A list becomes one shell-quoted word per element; a string is used as written."""
    if isinstance(command, str):
        return command
    return " ".join(shlex.quote(str(word)) for word in command)


def sha256_file(path: str, progress: Callable[[int], None] | None = None) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
            if progress:
                progress(len(chunk))
    return digest.hexdigest()


def temp_name(path: str, join=os.path.join, split=os.path.split) -> str:
    """A sibling of ``path`` to write into before the atomic rename (unique per call,
    so two host entries on one machine never share it)."""
    head, tail = split(path)
    return join(head, f".{tail}.tetra-{os.getpid()}-{os.urandom(4).hex()}.part")


def not_found_in(stderr: str, exit_status: int | None) -> bool:
    """Whether a shell's exit 127 means the command itself was not found."""
    return exit_status == 127 and ("not found" in stderr or "No such file" in stderr)


_IO_REASONS = {
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "no space left on the device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
    errno.EISDIR: "it is a directory",
    errno.ENOTDIR: "a part of the path is not a directory",
    errno.EFBIG: "the file is too large",
    errno.EIO: "input/output error",
}


def io_reason(exc: BaseException, creating: bool = False) -> str:
    """An I/O error in words (local or SFTP), without "[Errno N]" or SFTP's bare
    status names; ``creating``: it came creating a file in an existing directory."""
    number = getattr(exc, "errno", None)
    if number == errno.ENOENT and creating:
        # the directory exists (checked before): it just takes no new files (/proc, /sys)
        return "the directory does not accept new files"
    if number in _IO_REASONS:
        return _IO_REASONS[number]
    text = (exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)).strip()
    if isinstance(exc, OSError) and number is None:
        # an SFTP status with no errno: the server's generic text
        if text in ("Failure", ""):
            return "the server refused (it said only \"Failure\")"
        if text == "Operation unsupported":
            return "the server does not support that operation"
        return f"the server refused ({text})"
    if not text:
        return type(exc).__name__
    return text[0].lower() + text[1:] if text[:2] != text[:2].upper() else text

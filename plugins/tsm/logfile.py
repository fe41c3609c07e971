"""Size-rotated log files that only ever hold whole lines (stdlib only).

The supervisor reads the child's output itself, so it can rotate *between*
lines: nothing is lost, nothing is written twice, and every rotated file ends
with a newline (supervisord and circus split lines; pm2-logrotate copies and
truncates, losing what arrives in between).
"""

from __future__ import annotations

import os

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
DEFAULT_KEEP = 5
MAX_PARTIAL = 1024 * 1024  # a "line" longer than this is written in pieces


class RotatingLog:
    """Append-only ``path`` rotated to ``path.1`` … ``path.KEEP`` at ``max_bytes``."""

    def __init__(self, path: str, max_bytes: int = DEFAULT_MAX_BYTES, keep: int = DEFAULT_KEEP):
        self.path = path
        self.max_bytes = max(1, int(max_bytes))
        self.keep = max(1, int(keep))
        self._fd = -1
        self.size = 0
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self.size = os.fstat(self._fd).st_size

    def write_lines(self, data: bytes) -> None:
        """Write ``data`` (whole lines, ending in a newline), rotating between lines."""
        while data:
            room = max(0, self.max_bytes - self.size)
            if len(data) <= room:
                self._write(data)
                return
            cut = data.rfind(b"\n", 0, room) + 1
            if cut:  # the lines that fit; the rest cannot
                self._write(data[:cut])
                data = data[cut:]
                self.rotate()
            elif self.size > 0:
                self.rotate()
            else:  # one line longer than max_bytes: keep it whole, alone in its file
                cut = data.index(b"\n") + 1
                self._write(data[:cut])
                data = data[cut:]
                if data:
                    self.rotate()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view):]
        self.size += len(data)

    def rotate(self) -> None:
        """current -> .1 -> .2 …; the oldest beyond ``keep`` is dropped."""
        os.close(self._fd)
        for n in range(self.keep - 1, 0, -1):
            older = f"{self.path}.{n}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{n + 1}")
        os.replace(self.path, f"{self.path}.1")
        self._open()

    def close(self) -> None:
        """Close the current file (the supervisor is ending)."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class LineSplitter:
    """Buffers a stream's bytes and hands whole lines to a :class:`RotatingLog`."""

    def __init__(self, log: RotatingLog):
        self.log = log
        self.partial = b""

    def feed(self, data: bytes) -> None:
        """Take a chunk of output; complete lines go to the log, the rest waits."""
        buf = self.partial + data
        cut = buf.rfind(b"\n") + 1
        if cut:
            self.log.write_lines(buf[:cut])
            buf = buf[cut:]
        if len(buf) > MAX_PARTIAL:
            self.log.write_lines(buf + b"\n")
            buf = b""
        self.partial = buf

    def flush(self) -> None:
        """End a trailing unterminated line (the writer has gone)."""
        if self.partial:
            self.log.write_lines(self.partial + b"\n")
            self.partial = b""

"""The one way tetra writes state to disk: atomic replace and fsynced appends.

After a crash a file written with :func:`write_json` is either the old or the
new version, never torn; a line appended with :func:`append_line` is on disk
when the call returns.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any


def write_bytes(path: str | os.PathLike, data: bytes, *, mode: int = 0o644,
                sync_dir: bool = True, durable: bool = True, mtime_ns: int | None = None) -> None:
    """Replace ``path`` with ``data``: write a temp file, fsync, rename, fsync the dir.

    Readers see the old or the new content, never a torn file, with or without
    the fsyncs; they only make the new content survive a power cut.
    ``sync_dir=False`` skips the directory's, for files derivable from a log
    that is itself fsynced (a transaction's state.json from its events).
    ``durable=False`` skips both, for records that mean nothing after a power
    cut (a lease: every holder died with the machine).
    ``mtime_ns`` sets the new file's modification time before it is renamed
    into place, so it never appears with another (a transaction's state.json
    carries its log's: see ``ttm.store``).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            if mtime_ns is not None:
                os.utime(fd, ns=(mtime_ns, mtime_ns))
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:  # a full disk or an interrupt: no stray temp file
        _unlink_quietly(tmp)
        raise
    if sync_dir and durable:
        fsync_dir(path.parent)


def write_text(path: str | os.PathLike, text: str) -> None:
    write_bytes(path, text.encode())


def json_bytes(obj: Any) -> bytes:
    """``obj`` as key-sorted JSON, one top-level key a line (readable with cat).

    Each value is encoded on one line by the C encoder: ``indent=`` would force
    json's pure-Python encoder, a quarter of a transaction's CPU time.
    """
    if isinstance(obj, dict) and obj:
        lines = [f"  {json.dumps(str(key))}: {json.dumps(value, sort_keys=True)}"
                 for key, value in sorted(obj.items(), key=lambda kv: str(kv[0]))]
        return ("{\n" + ",\n".join(lines) + "\n}\n").encode()
    return (json.dumps(obj, sort_keys=True) + "\n").encode()


def write_json(path: str | os.PathLike, obj: Any, *, sync_dir: bool = True,
               durable: bool = True, mtime_ns: int | None = None) -> None:
    """Atomically replace ``path`` with ``obj`` as :func:`json_bytes` (see :func:`write_bytes`)."""
    write_bytes(path, json_bytes(obj), sync_dir=sync_dir, durable=durable, mtime_ns=mtime_ns)


def read_json(path: str | os.PathLike) -> Any:
    with open(path, "rb") as f:
        return json.loads(f.read())


def append_line(path: str | os.PathLike, line: str) -> None:
    """Append one line (a newline is added) and fsync before returning."""
    data = (line.rstrip("\n") + "\n").encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        created = False
    except FileNotFoundError:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        created = True
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:  # the new file's name must survive a power cut too
        fsync_dir(os.path.dirname(os.path.abspath(path)))


def fsync_dir(path: str | os.PathLike) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass

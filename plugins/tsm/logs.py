"""Reading a process's logs: the last lines across rotations, and following them."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path


def log_files(path: Path) -> list[Path]:
    """Oldest first: ``current.out.N`` … ``current.out.1``, ``current.out``."""
    rotated = []
    for p in path.parent.glob(path.name + ".*"):
        suffix = p.name[len(path.name) + 1:]
        if suffix.isdigit():
            rotated.append((int(suffix), p))
    return [p for _, p in sorted(rotated, reverse=True)] + ([path] if path.exists() else [])


def last_lines(path: Path, n: int) -> list[str]:
    """The last ``n`` lines of the log at ``path``, reaching into rotated files."""
    if n <= 0:
        return []
    out: list[str] = []
    for file in reversed(log_files(path)):
        try:
            data = file.read_bytes()
        except OSError:
            continue
        lines = data.decode(errors="replace").splitlines()
        out[:0] = lines[-(n - len(out)):]
        if len(out) >= n:
            break
    return out[-n:]


def tail_and_follow(path: Path, n: int, emit: Callable[[str], None],
                    stop: Callable[[], bool] | None = None, interval: float = 0.1,
                    warn: Callable[[str], None] | None = None) -> None:
    """Print the last ``n`` lines, then every line appended, across rotations.

    The current file is opened first and read from there on, so no line
    written while the tail is printed is lost or printed twice.  After a
    rotation, the file being read is finished through its open descriptor
    (even if rotation dropped it), then every file rotated since, oldest
    first.  Only files dropped before they could be opened are lost (more than
    ``--log-keep`` rotations between two looks): ``warn`` says so, once each
    time (default: a line on stderr).
    """
    warn = warn or _to_stderr
    f = _open(path)
    text = f.read() if f else ""
    cut = text.rfind("\n") + 1
    lines, partial = text[:cut].splitlines(), text[cut:]
    if len(lines) < n:
        pinned = os.fstat(f.fileno()).st_ino if f else None
        older = [p for p in log_files(path) if p != path and _inode(p) != pinned]
        for file in reversed(older):
            lines[:0] = file.read_text(errors="replace").splitlines()
            if len(lines) >= n:
                break
    for line in lines[-n:] if n > 0 else []:
        emit(line)
    while stop is None or not stop():
        chunk = f.read() if f else ""
        if chunk:
            partial = _emit_lines(partial + chunk, emit)
            continue
        if _rotated(f, path):
            f, partial = _next_file(path, f, partial, emit, warn)
            continue
        time.sleep(interval)


def _to_stderr(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _next_file(path: Path, f, partial: str, emit, warn):
    """After a rotation: finish ``f``, then every file rotated since, oldest first;
    returns the newest (still open, to read on) and the unfinished line."""
    if f is None:
        return _open(path), partial
    partial = _emit_lines(partial + f.read(), emit)
    seen = os.fstat(f.fileno()).st_ino
    chain = _chain(path)
    inodes = [ino for ino, _ in chain]
    if seen in inodes:
        newer = chain[inodes.index(seen) + 1:]
        for _, handle in chain[:inodes.index(seen) + 1]:
            handle.close()
    else:
        # Ours was dropped (and read to its end all the same, through its
        # descriptor): what exists now is all newer.  Whether the file right
        # after ours was dropped as well cannot be told, so this says "may".
        newer = chain
        warn(f"tsm logs: {path.name} rotated faster than it could be followed: "
             "lines may be missing here (--max-log-size or --log-keep keep more)")
    if not newer:  # nothing newer can be opened (yet): keep ours, look again later
        return f, partial
    f.close()
    for _, handle in newer[:-1]:
        partial = _emit_lines(partial + handle.read(), emit)
        handle.close()
    return newer[-1][1], partial


def _chain(path: Path) -> list[tuple[int, object]]:
    """The log's files, oldest first, each opened: ``(inode, handle)``.  One
    snapshot: taken again if a rotation moved a file while they were opened."""
    for attempt in range(50):
        opened = []
        for file in log_files(path):
            handle = _open(file)
            if handle is not None:
                opened.append((file, os.fstat(handle.fileno()).st_ino, handle))
        if attempt == 49 or [(p, _inode(p)) for p in log_files(path)] == [
                (p, ino) for p, ino, _ in opened]:
            return [(ino, handle) for _, ino, handle in opened]
        for _, _, handle in opened:
            handle.close()
    return []  # pragma: no cover - the loop returns


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


def _emit_lines(text: str, emit) -> str:
    *lines, rest = text.split("\n")
    for line in lines:
        emit(line)
    return rest


def _open(path: Path):
    try:
        return open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None


def _rotated(f, path: Path) -> bool:
    try:
        current = os.stat(path).st_ino
    except FileNotFoundError:
        return False
    return f is None or os.fstat(f.fileno()).st_ino != current


def iter_all(path: Path) -> Iterator[str]:
    """Every line of the log, oldest first, across all rotated files."""
    for file in log_files(path):
        with open(file, encoding="utf-8", errors="replace") as f:
            for line in f:
                yield line.rstrip("\n")

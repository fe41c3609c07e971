"""Reading a process's logs: the last lines across rotations, and following them."""

from __future__ import annotations

import os
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
                    stop: Callable[[], bool] | None = None, interval: float = 0.1) -> None:
    """Print the last ``n`` lines, then every line appended, across rotations.

    The current file is opened first and read from there on, so no line
    written while the tail is printed is lost or printed twice.
    """
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
            f, partial = _next_file(path, f, partial, emit)
            continue
        time.sleep(interval)


def _next_file(path: Path, f, partial: str, emit):
    """After a rotation: finish ``f``, then every file rotated since, then the new one."""
    new = _open(path)
    if f is None:
        return new, partial
    partial = _emit_lines(partial + f.read(), emit)
    seen = os.fstat(f.fileno()).st_ino
    f.close()
    pinned = os.fstat(new.fileno()).st_ino if new else None
    between = []  # opened at once: a later rename cannot swap them under us
    for file in reversed([p for p in log_files(path) if p != path]):  # newest rotated first
        handle = _open(file)
        if handle is None:
            continue
        ino = os.fstat(handle.fileno()).st_ino
        if ino == seen:
            handle.close()
            break
        if ino != pinned:
            between.append(handle)
        else:
            handle.close()
    else:
        for handle in between:  # ours was dropped (beyond --log-keep): nothing to add safely
            handle.close()
        between = []
    for handle in reversed(between):
        partial = _emit_lines(partial + handle.read(), emit)
        handle.close()
    return new, partial


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

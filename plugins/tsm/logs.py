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


def follow(path: Path, emit: Callable[[str], None], stop: Callable[[], bool] | None = None,
           interval: float = 0.1) -> None:
    """Print lines as they are appended to ``path``; follows rotations (by inode)."""
    f = _open_at_end(path)
    partial = ""
    while stop is None or not stop():
        chunk = f.read() if f else ""
        if chunk:
            partial = _emit_lines(partial + chunk, emit)
            continue
        if _rotated(f, path):
            if f:
                partial = _emit_lines(partial + f.read(), emit)
                f.close()
            f = _open(path)
            continue
        time.sleep(interval)


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


def _open_at_end(path: Path):
    f = _open(path)
    if f:
        f.seek(0, os.SEEK_END)
    return f


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

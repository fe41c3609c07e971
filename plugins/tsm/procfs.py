"""Process facts read straight from /proc, with the stdlib only.

Used by the supervisor (which must stay small) and by ``tsm ls`` (which must
stay fast with hundreds of processes).  ``create_time`` follows psutil's
formula exactly, so a value written here matches ``psutil.Process.create_time()``.
"""

from __future__ import annotations

import os

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_boot_time: float | None = None


def boot_time() -> float:
    """Seconds since the epoch at boot (``btime`` of /proc/stat)."""
    global _boot_time
    if _boot_time is None:
        with open("/proc/stat", "rb") as f:
            for line in f:
                if line.startswith(b"btime"):
                    _boot_time = float(line.split()[1])
                    break
            else:  # pragma: no cover - every Linux has btime
                _boot_time = 0.0
    return _boot_time


def stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/PID/stat after the command name (state first), or None."""
    try:
        with open(f"/proc/{int(pid)}/stat", "rb") as f:
            data = f.read()
    except (OSError, ValueError):
        return None
    return data[data.rfind(b")") + 2:].split()


def create_time(pid: int) -> float | None:
    """When ``pid`` started, as psutil reports it; None if there is no such process."""
    fields = stat(pid)
    if fields is None:
        return None
    return int(fields[19]) / CLOCK_TICKS + boot_time()


def alive(pid: int | None, started: float | None = None, tolerance: float = 0.05) -> bool:
    """True if ``pid`` runs (not a zombie) and, when given, started at ``started``."""
    if not pid:
        return False
    fields = stat(pid)
    if fields is None or fields[0] in (b"Z", b"X", b"x"):
        return False
    if started is None:
        return True
    return abs(int(fields[19]) / CLOCK_TICKS + boot_time() - float(started)) <= tolerance


def running_usage(pid: int | None, started: float | None,
                  tolerance: float = 0.05) -> tuple[float, int] | None:
    """``(cpu seconds, resident bytes)`` if ``pid`` runs and started at ``started``; one read."""
    if not pid:
        return None
    fields = stat(pid)
    if fields is None or fields[0] in (b"Z", b"X", b"x"):
        return None
    if started is not None and abs(int(fields[19]) / CLOCK_TICKS + boot_time()
                                   - float(started)) > tolerance:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS, int(fields[21]) * PAGE_SIZE


def usage(pid: int) -> tuple[float, int] | None:
    """``(cpu seconds used, resident bytes)`` of ``pid``, or None."""
    fields = stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS, int(fields[21]) * PAGE_SIZE


def pgid(pid: int) -> int | None:
    """The process group of ``pid`` (None if there is no such process)."""
    fields = stat(pid)
    return None if fields is None else int(fields[2])


_LISTEN = "0A"  # TCP_LISTEN in /proc/net/tcp's "st" column


def listening_inodes(port: int) -> set[int] | None:
    """Socket inodes listening on TCP ``port`` (any address, IPv4 or IPv6), from
    /proc/net/tcp{,6}: every user's sockets are listed there.  None without /proc."""
    found: set[int] = set()
    seen = False
    suffix = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f, None)  # the header
                for line in f:
                    fields = line.split()
                    if len(fields) > 9 and fields[3] == _LISTEN and fields[1].endswith(suffix):
                        found.add(int(fields[9]))
            seen = True
        except (OSError, ValueError):
            continue
    return found if seen else None


def holds_socket(pid: int, inodes: set[int]) -> bool:
    """Whether one of ``pid``'s open files is one of the sockets ``inodes``."""
    wanted = {f"socket:[{inode}]" for inode in inodes}
    try:
        fds = os.listdir(f"/proc/{int(pid)}/fd")
    except (OSError, ValueError):
        return False
    for fd in fds:
        try:
            if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                return True
        except OSError:
            continue
    return False

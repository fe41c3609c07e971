"""What ``ls``, ``describe``, ``monit`` and ``ports`` show: rows of plain data, then text.

``ls`` reads /proc directly (no psutil) so that it stays fast with hundreds of
processes.  Its cpu is measured since the previous ``ls`` when that was
between 0.5 s and 10 min ago (a small sample file keeps the baseline), else
it is the average since the process started.  ``monit`` samples every process
over one shared interval with psutil.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from . import control, procfs

CPU_SAMPLE = ".cpu-sample.json"
CPU_WINDOW = (0.5, 600.0)


def rows(store, metas: list[dict]) -> list[dict]:
    """One JSON-ready row per process: id, name, pid, port, status, cpu, mem, uptime, restarts."""
    now = time.time()
    baseline = _read_sample(store)
    sample: dict[str, list[float]] = {}
    out = []
    for m in metas:
        use = None
        if m.get("status") == "online":
            use = procfs.running_usage(m.get("pid"), m.get("pid_create_time"))
        running = use is not None
        status = m.get("status")
        if status == "online" and not running:
            status = "crashed"  # marked online, but the process is gone (see doctor)
        cpu = mem = uptime = None
        if use is not None:
            started = float(m.get("pid_create_time") or now)
            sample[str(m["pid"])] = [started, use[0], now]
            cpu = _cpu_percent(baseline.get(str(m["pid"])), started, use[0], now)
            mem = use[1]
            uptime = round(now - float(m.get("start_time") or started), 1)
        out.append({
            "id": m["tsm_id"], "name": m["name"], "pid": m.get("pid") if running else None,
            "port": m.get("port"), "status": status, "cpu": cpu, "mem": mem, "uptime": uptime,
            "restarts": m.get("restarts", 0), "unstable_restarts": m.get("unstable_restarts", 0),
            "restart_policy": m.get("restart_policy"), "command": m.get("command"),
            "cwd": m.get("cwd"),
        })
    if sample and not _fresh(baseline, now):
        _write_sample(store, sample)
    return out


def _cpu_percent(previous, started: float, cpu_seconds: float, now: float) -> float:
    if previous and abs(previous[0] - started) < 0.05:
        elapsed = now - previous[2]
        if CPU_WINDOW[0] <= elapsed <= CPU_WINDOW[1]:
            return round(max(0.0, 100.0 * (cpu_seconds - previous[1]) / elapsed), 1)
    return round(100.0 * cpu_seconds / max(1e-6, now - started), 1)


def _fresh(baseline: dict, now: float) -> bool:
    """Keep a baseline younger than the window's start, so quick re-runs still measure."""
    return any(now - v[2] < CPU_WINDOW[0] for v in baseline.values())


def _read_sample(store) -> dict:
    from tetra_repl.storage import read_json

    try:
        data = read_json(store.root / CPU_SAMPLE)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_sample(store, sample: dict) -> None:
    from tetra_repl.storage import write_json

    try:
        write_json(store.root / CPU_SAMPLE, sample)
    except OSError:
        pass  # a read-only state dir: ls still works, with averages since start


def human_bytes(n: int | None) -> str:
    """``1.5MB`` style."""
    if n is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f}{unit}" if unit == "B" else f"{n:.1f}{unit}"
        n /= 1024
    return f"{n}"


def human_age(seconds: float | None) -> str:
    """``3m05s`` style."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86400}d{s % 86400 // 3600:02d}h"


def table(headers: list[str], body: list[list]) -> str:
    """A left-aligned text table."""
    cells = [[str(c) for c in headers]] + [["-" if c is None else str(c) for c in r] for r in body]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def render_ls(items: list[dict], wide: bool) -> str:
    """The ``tsm ls`` table (``wide`` adds policy, unstable restarts, command)."""
    if not items:
        return "no processes (start one: tsm start -- COMMAND…)"
    headers = ["id", "name", "pid", "port", "status", "cpu", "mem", "uptime", "restarts"]
    if wide:
        headers += ["unstable", "policy", "command"]
    body = []
    for r in items:
        row = [r["id"], r["name"], r["pid"], r["port"], r["status"],
               None if r["cpu"] is None else f"{r['cpu']}%", human_bytes(r["mem"]),
               human_age(r["uptime"]), r["restarts"]]
        if wide:
            row += [r["unstable_restarts"], r["restart_policy"], " ".join(r["command"] or [])]
        body.append(row)
    return table(headers, body)


def stamp(epoch) -> str:
    """An epoch time as UTC ISO-8601."""
    if not epoch:
        return "-"
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(store, meta: dict) -> dict:
    """Everything about one process, for ``describe``."""
    procdir = store.proc_dir(meta["name"])
    row = rows(store, [meta])[0]
    events = control.tail(procdir / ".supervisor.log", 5)
    return {**meta, "status": row["status"], "cpu": row["cpu"], "mem": row["mem"],
            "uptime": row["uptime"], "supervised": control.supervisor_alive(procdir),
            "dir": str(procdir), "out_log": str(procdir / "current.out"),
            "err_log": str(procdir / "current.err"), "pid_file": str(procdir / f"{meta['name']}.pid"),
            "recent_events": events}


def render_describe(info: dict) -> str:
    """The ``tsm describe`` text: one field per line."""
    order = ["tsm_id", "name", "status", "pid", "port", "command", "cwd", "interpreter",
             "process_type", "env_file", "prehook", "restart_policy", "max_restarts",
             "restarts", "unstable_restarts", "exit_code", "error", "start_time", "uptime",
             "cpu", "mem", "supervised", "supervisor_pid", "dir", "out_log", "err_log", "pid_file"]
    lines = []
    for key in order:
        value = info.get(key)
        if key == "command":
            value = " ".join(value or [])
        elif key == "start_time":
            value = stamp(value)
        elif key == "uptime":
            value = human_age(value)
        elif key == "mem":
            value = human_bytes(value)
        elif key == "cpu" and value is not None:
            value = f"{value}%"
        lines.append(f"{key:<18} {'-' if value is None else value}")
    if info.get("recent_events"):
        lines.append("recent supervisor events:")
        lines.extend("  " + e for e in info["recent_events"])
    return "\n".join(lines)


def monit_sample(store, interval: float) -> list[dict]:
    """Rows with cpu measured over one shared ``interval`` by psutil."""
    import psutil

    metas = store.all()
    procs = {}
    for m in metas:
        if m.get("status") == "online" and control.process_alive(m):
            try:
                p = psutil.Process(m["pid"])
                p.cpu_percent(None)
                procs[m["name"]] = p
            except psutil.Error:
                pass
    time.sleep(interval)
    items = rows(store, metas)
    for r in items:
        p = procs.get(r["name"])
        if p is None:
            continue
        try:
            with p.oneshot():
                r["cpu"] = round(p.cpu_percent(None), 1)
                r["mem"] = p.memory_info().rss
        except psutil.Error:
            pass
    return items


def render_monit(items: list[dict]) -> str:
    """The ``tsm monit`` table."""
    if not items:
        return "no processes"
    body = [[r["id"], r["name"], r["status"], r["pid"],
             "-" if r["cpu"] is None else f"{r['cpu']:.1f}%", human_bytes(r["mem"]),
             human_age(r["uptime"]), r["restarts"]] for r in items]
    return table(["id", "name", "status", "pid", "cpu", "mem", "uptime", "restarts"], body)

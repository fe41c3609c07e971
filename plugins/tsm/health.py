"""``doctor`` finds what is wrong with tsm's state; ``patrol`` repairs what it can.

Findings are plain data: ``{"kind", "name", "detail", "repair"}``; ``repair``
is what patrol does about it (None when a person has to act).
"""

from __future__ import annotations

import os
import time

from tetra_repl.errors import TetraError

from . import control
from .store import Store


def _finding(kind: str, name: str | None, detail: str, repair: str | None) -> dict:
    return {"kind": kind, "name": name, "detail": detail, "repair": repair}


def examine(store: Store) -> list[dict]:
    """Everything doctor reports, without changing anything."""
    found: list[dict] = []
    blocked = store.not_a_directory()
    if blocked:  # nothing under it can be read or created
        return [_finding("unwritable_dir", None, blocked, None)]
    for path in (store.root, store.root / "runtime", store.processes):
        if path.exists() and not os.access(path, os.W_OK | os.X_OK):
            found.append(_finding("unwritable_dir", None, f"{path} is not writable", None))
    metas = []
    try:
        names = store.names()
    except TetraError as exc:
        return found + [_finding("unwritable_dir", None, exc.message, None)]
    for name in names:
        procdir = store.processes / name
        meta, problem = store.inspect(name)
        if meta is None:
            why = problem or "missing"
            found.append(_finding("bad_meta", name, f"{procdir / 'meta.json'}: {why}", None))
            continue
        metas.append(meta)
        if not os.access(procdir, os.W_OK | os.X_OK):
            found.append(_finding("unwritable_dir", name, f"{procdir} is not writable", None))
        found.extend(_examine_process(store, meta))
    found.extend(_examine_ports(store, metas))
    return found


def _examine_process(store: Store, meta: dict) -> list[dict]:
    name = meta["name"]
    procdir = store.processes / name
    supervised = control.supervisor_alive(procdir)
    alive = control.process_alive(meta)
    status = meta.get("status")
    out = []
    pid_file = procdir / f"{name}.pid"
    if pid_file.exists():
        try:
            pid = int(pid_file.read_text().strip() or 0)
        except (OSError, ValueError):
            pid = 0
        if not (alive and pid == meta.get("pid")):
            out.append(_finding("stale_pid_file", name, f"{pid_file} names pid {pid or '?'}, "
                                "which is not this process", "remove the pid file"))
    if status == "online" and not alive and not supervised:
        out.append(_finding("dead_marked_online", name, f"marked online with pid "
                            f"{meta.get('pid')}, but that process is gone and nothing "
                            "supervises it", "mark it crashed"))
    elif alive and not supervised:
        out.append(_finding("unsupervised", name, f"pid {meta['pid']} runs but its supervisor "
                            "is gone (no restarts, no log rotation)",
                            "start a supervisor that adopts it"))
    elif status in ("launching", "crashed") and not supervised and not alive and (
            status == "launching" or meta.get("restart_policy") != "no"
            and meta.get("next_restart_delay") is not None):
        out.append(_finding("stuck", name, f"status {status} but no supervisor will act on it",
                            "mark it crashed" if status == "crashed" else "mark it errored"))
    return out


def _examine_ports(store: Store, metas: list[dict]) -> list[dict]:
    out = []
    by_port: dict[int, list[str]] = {}
    for m in metas:
        if m.get("port") and m.get("status") in ("online", "launching", "crashed"):
            by_port.setdefault(m["port"], []).append(m["name"])
    for port, names in sorted(by_port.items()):
        if len(names) > 1:
            out.append(_finding("port_conflict", names[0], f"port {port} is claimed by "
                                f"{', '.join(names)}", None))
    wanted = {(m["name"], m["port"]) for m in metas if m.get("port")}
    if set(store.read_ports()) != wanted:
        out.append(_finding("ports_file", None, f"{store.ports_file} does not match the "
                            "processes' ports", "rewrite it"))
    found = None
    for m in metas:
        port = m.get("port")
        if not port or not control.process_alive(m) or not control.port_open(port):
            continue
        if control.held_by(port, m["pid"]) is not False:
            continue
        found = control.listeners() if found is None else found
        holder = control.port_holder(port, found) or "another process"
        out.append(_finding("port_conflict", m["name"], f"port {port} is held by {holder}, "
                            f"not by {m['name']} (pid {m['pid']})", None))
    return out


def repair(store: Store, findings: list[dict], publish) -> list[dict]:
    """Do each finding's repair; returns the findings with ``"result"`` added."""
    done = []
    for f in findings:
        if f["repair"] is None:
            done.append({**f, "result": "needs you"})
            continue
        try:
            result = _repair_one(store, f, publish)
        except OSError as exc:
            result = f"failed: {exc.strerror or exc}"
        done.append({**f, "result": result})
    return done


def _repair_one(store: Store, f: dict, publish) -> str:
    name = f["name"]
    kind = f["kind"]
    if kind == "ports_file":
        store.refresh_ports()
        return "rewritten"
    procdir = store.processes / name
    if kind == "stale_pid_file":
        meta = store.read(name) or {}
        if control.process_alive(meta) and control.supervisor_alive(procdir):
            return "no longer stale"
        (procdir / f"{name}.pid").unlink(missing_ok=True)
        return "removed"
    if kind in ("dead_marked_online", "stuck"):
        status = "errored" if (store.read(name) or {}).get("status") == "launching" else "crashed"
        meta = store.update_unsupervised(name, status=status, pid=None, stopped_at=time.time(),
                                         next_restart_delay=None)
        if meta is None:
            return "a supervisor took over meanwhile"
        publish("tsm.crashed", {"name": name, "id": meta["tsm_id"], "by": "patrol"})
        return f"marked {status}"
    if kind == "unsupervised":
        control.spawn_supervisor(procdir, adopt=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            meta = store.read(name) or {}
            if control.supervisor_alive(procdir) and control.supervisor_pid(meta):
                return f"adopted by supervisor pid {meta['supervisor_pid']}"
            time.sleep(0.01)
        return "failed: the new supervisor did not start"
    return "nothing to do"

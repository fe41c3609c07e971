"""Text rendering for the txn commands (the library never prints)."""

from __future__ import annotations

import json
import threading

from tetra_repl.ttm import lifecycle, log
from tetra_repl.ttm.states import TERMINAL


def ls(store, leases, module: str | None, stage: str | None) -> list[dict]:
    rows = []
    for txn in store.all(module):
        try:
            state = txn.state()
        except Exception as exc:  # one broken transaction must not hide the others
            if stage is None or stage == "broken":
                rows.append({"id": txn.id, "module": txn.module, "stage": "?",
                             "display_stage": "broken", "interrupted": False, "target": None,
                             "description": getattr(exc, "message", None) or repr(exc),
                             "created_at": None, "updated_at": None})
            continue
        shown = lifecycle.display_stage(state, leases)
        if stage and stage not in (shown, state["stage"]):
            continue
        rows.append({"id": txn.id, "module": txn.module, "stage": state["stage"],
                     "display_stage": shown, "interrupted": shown == "interrupted",
                     "target": state["target"], "description": state["description"],
                     "created_at": state["created_at"], "updated_at": state["updated_at"]})
    return rows


def _lease(leases, txn_id: str, host: str) -> str:
    """A recorded lease and who holds it now: ``local (pid 12 on vm)``."""
    record = leases.holder(host)
    if record is None:
        return f"{host} (gone)"
    if record.get("txn") != txn_id:
        return f"{host} (broken: now held by {record.get('txn')})"
    stale = leases.why_stale(record)
    return f"{host} (pid {record.get('pid')} on {record.get('hostname')}" + (
        f"; {stale})" if stale else ")")


def render_event(e: dict) -> str:
    data = e.get("data") or {}
    summary = (" ".join(f"{k}={_short(v)}" for k, v in sorted(data.items()))
               if isinstance(data, dict) else _short(data))
    return f"{e['seq']:>4} {e['ts']} {e['stage']:<8} {e['type']:<16} {summary}"


def _short(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


def status(txn, leases) -> list[str]:
    state = txn.state()
    lines = [f"{txn.id}  ({txn.module})",
             f"  stage     {lifecycle.display_stage(state, leases)}",
             f"  target    {state['target'] or '-'}   hosts: {', '.join(state['hosts']) or '-'}",
             f"  actor     {state['actor']}",
             f"  created   {state['created_at']}   updated {state['updated_at']}   "
             f"version {state['version']}"]
    if state["error"]:
        lines.append(f"  error     {state['error']}")
    if state["locks"]:
        lines.append(f"  leases    {', '.join(_lease(leases, txn.id, h) for h in sorted(state['locks']))}")
    for ev in state["evidence"]:
        lines.append(f"  $e{ev['n']:<3}     {ev['file']}  {ev['kind']}  {ev['bytes']} bytes  "
                     f"sha256 {ev['sha256'][:16]}…")
    lines.append("  last events:")
    try:
        events = txn.events()[-5:]
    except log.LogCorrupt as exc:
        lines.append(f"    ! {exc.message}")
        events = []
    lines.extend("    " + render_event(e) for e in events)
    return lines


def follow(ctx, txn, as_json: bool) -> int:
    """Print the log, then new events as they come, until the transaction ends.

    In-process events wake us through the bus (``txn.event``); events written
    by another process are picked up by reading the file's growth.
    """
    wake = threading.Event()
    unsubscribe = ctx.bus.subscribe("txn.event", lambda topic, p: (
        wake.set() if p.get("txn") == txn.id else None))
    shown = 0
    try:
        while True:
            try:
                events = txn.events()
            except log.LogCorrupt as exc:
                if not exc.torn_tail:
                    raise
                events = []  # an append in progress in another process: look again
            for e in events[shown:]:
                ctx.out(json.dumps(e, sort_keys=True) if as_json else render_event(e))
                shown = e["seq"]
                if e["type"] in ("txn_commit", "txn_fail"):
                    return 0
            if events and events[-1]["stage"] in TERMINAL:
                return 0
            wake.wait(0.2)
            wake.clear()
    finally:
        unsubscribe()

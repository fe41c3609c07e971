"""The event log (``events.ndjson``) and the reducer that turns it into state.

``events.ndjson`` is the source of truth: ``state.json`` is always
``render(replay(events))``, so ``txn rebuild`` can recompute it byte for byte
and ``txn show --at TIME`` can replay a prefix.  Each event carries the
``version`` of the write that appended it: one write may append several
events (a batch), and ``version`` counts writes; the events of a batch also
carry ``more`` (how many of the batch follow), so a crash that leaves part
of a batch on disk is seen as the torn append it is.  Everything in the state is
derived from event fields alone (``updated_at`` is the last event's ``ts``,
``duration_s`` is computed from timestamps) — never from the clock at replay.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from .. import storage
from ..errors import TetraError
from . import states

EVENT_TYPES = frozenset({
    "txn_start", "stage_changed", "evidence_added", "tes_resolved", "tes_plan",
    "lock_acquired", "lock_released", "lock_broken", "exec_started", "exec_finished",
    "validate_passed", "validate_failed", "rollback_started", "rollback_finished",
    "step_started", "step_done", "step_aborted", "resumed", "note", "txn_commit", "txn_fail",
})


class LogCorrupt(TetraError):
    """``events.ndjson`` is not a well-formed, gapless log (e.g. a torn last line)."""

    def __init__(self, message: str, *, torn_tail: bool = False, good_bytes: int = 0,
                 good_events: int | None = None, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.torn_tail = torn_tail
        self.good_bytes = good_bytes  # length of the valid prefix of the file
        self.good_events = good_events  # complete events before a torn end (None: unknown)


def damaged(message: str, name: str) -> LogCorrupt:
    """A log damaged other than by a torn append: no write may trust it, and
    ``txn rebuild`` cannot repair it."""
    txn_id = Path(name).name
    return LogCorrupt(message, hint=f"the log was edited or damaged: nothing more is recorded in "
                                    f"{txn_id}; 'txn verify {txn_id}' lists the problems")


def now_iso() -> str:
    """UTC ISO-8601 with microseconds: sortable and exact."""
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def parse_ts(text: str) -> datetime:
    """An ISO-8601 time; a naive time is taken as UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def encode(event: dict) -> str:
    """One event as its log line (compact, key-sorted: stable across runs)."""
    return json.dumps(event, sort_keys=True, separators=(",", ":"))


def read_events(path: str | os.PathLike, *, name: str = "") -> list[dict]:
    """All events of a log, checked: parseable, ``seq`` 1..n without gaps.

    A last line without its newline or that does not parse is a torn append
    (a crash mid-write): raised as :class:`LogCorrupt` with ``torn_tail``.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise LogCorrupt(f"{name or path}: events.ndjson is missing") from None
    return parse_events(data, name=name or str(path))


def parse_events(data: bytes, *, name: str) -> list[dict]:
    """Parse the bytes of a log (see :func:`read_events`).

    A write of several events (one version) is acknowledged only whole: each
    of its events carries ``more``, the count still to come in that write.
    A log that ends inside a write (a torn last line, or a last event with
    ``more``) ends with an append that never completed: ``good_bytes`` is the
    end of the last complete write, whatever number of lines that drops."""
    if not data:
        return []
    body, _, tail = data.rpartition(b"\n")
    try:
        # One parse for the whole log is ~3x faster than a loads() per line.
        events = json.loads(b"[" + body.replace(b"\n", b",") + b"]") if body else []
        bad_last = False
    except ValueError:
        events, bad_last = _parse_lines(body, name)
    for i, event in enumerate(events, 1):
        # what every reader indexes (``txn events``, the reducer, ``txn ls``)
        if type(event) is not dict or event.get("seq") != i or type(event.get("ts")) is not str \
                or type(event.get("type")) is not str or type(event.get("stage")) is not str:
            raise damaged(f"{name}: events.ndjson line {i}: {_malformed(event, i)}", name)
    if not (tail or bad_last or (events and events[-1].get("more"))):
        return events
    keep = _complete_writes(events)
    lines = body.split(b"\n") if body else []
    good = sum(len(line) + 1 for line in lines[:keep])
    if tail or bad_last:
        lineno = len(lines) + (1 if tail else 0)
        what = (f"line {lineno} is truncated ({len(tail)} bytes, no newline)" if tail
                else f"line {lineno} is not valid JSON")
    else:
        what = f"ends inside a write (event {len(events)} says {events[-1]['more']} more follow)"
    dropped = len(events) - keep + 1 if (tail or bad_last) else len(events) - keep
    raise LogCorrupt(f"{name}: events.ndjson {what}: a crash interrupted an append",
                     torn_tail=True, good_bytes=good, good_events=keep,
                     hint=f"'txn rebuild {Path(name).name}' drops the unacknowledged "
                          + ("line" if dropped == 1 else f"{dropped} lines of that write"))


def _malformed(event, i: int) -> str:
    """What is wrong with the ``i``-th event (one that failed the check)."""
    if type(event) is not dict:
        return f"not an event (a JSON {type(event).__name__})"
    if event.get("seq") != i:
        return f"expected seq {i}, found {event.get('seq')!r}"
    for key in ("ts", "type", "stage"):
        if key not in event:
            return f"event {i} has no {key!r}"
        if type(event[key]) is not str:
            return f"event {i}: {key!r} is {event[key]!r}, not a string"
    return f"event {i} is malformed"


def _complete_writes(events: list[dict]) -> int:
    """How many of ``events`` (complete lines before a torn end) belong to
    complete writes: a last write whose events say more follow is cut off."""
    keep = len(events)
    if keep and events[-1].get("more"):
        version = events[-1].get("version")
        while keep and events[keep - 1].get("version") == version:
            keep -= 1
    return keep


def _parse_lines(body: bytes, name: str) -> tuple[list[dict], bool]:
    """Each line parsed; a last line that does not parse is a torn append
    (``(events before it, True)``), any other one damage."""
    events = []
    lines = body.split(b"\n")
    for i, line in enumerate(lines, 1):
        try:
            events.append(json.loads(line))
        except ValueError:
            if i == len(lines):
                return events, True
            raise damaged(f"{name}: events.ndjson line {i} is not valid JSON", name) from None
    return events, False


def tail(path: str | os.PathLike) -> tuple[int, int]:
    """``(seq, version)`` of the last complete event, reading only the file's end."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        if size == 0:
            return 0, 0
        chunk = 4096
        name = Path(path).parent.name
        while True:
            start = max(0, size - chunk)
            f.seek(start)
            data = f.read(size - start)
            if not data.endswith(b"\n"):
                raise LogCorrupt(f"{name}: events.ndjson ends in a truncated line: a crash "
                                 "interrupted an append", torn_tail=True,
                                 hint=f"'txn rebuild {name}' drops the unacknowledged append")
            lines = data[:-1].split(b"\n")
            if len(lines) > 1 or start == 0:
                try:
                    last = json.loads(lines[-1])
                    seq, version = int(last["seq"]), int(last.get("version", last["seq"]))
                except (ValueError, KeyError, TypeError):
                    raise LogCorrupt(f"{name}: events.ndjson last line is not a valid event") from None
                if last.get("more"):
                    raise LogCorrupt(f"{name}: events.ndjson ends inside a write: a crash "
                                     "interrupted an append", torn_tail=True,
                                     hint=f"'txn rebuild {name}' drops the unacknowledged append")
                return seq, version
            chunk *= 4


# -- the reducer ----------------------------------------------------------------

def empty_state() -> dict:
    return {
        "id": None, "module": None, "description": "", "target": None, "actor": None,
        "stage": states.NEW, "version": 0, "seq": 0, "created_at": None, "updated_at": None,
        "evidence": [], "tes_plan": None, "hosts": [], "error": None, "duration_s": None,
        "steps": {}, "open_steps": {}, "locks": {}, "params": {},
        "last_exec": None, "validation": None, "rollback": None,
    }


def apply(state: dict, event: dict) -> dict:
    """Fold one event into ``state`` (mutated and returned)."""
    kind, data, ts = event["type"], event.get("data") or {}, event["ts"]
    if kind == "txn_start":
        parse_ts(ts)  # the creation time: every duration is measured from it
        state.update(id=data["id"], module=data["module"], description=data.get("description", ""),
                     target=data.get("target"), actor=data.get("actor") or event["actor"],
                     created_at=ts, params=data.get("params") or {})
    elif kind == "stage_changed":
        state["stage"] = data["to"]
    elif kind == "evidence_added":
        state["evidence"].append({k: data[k] for k in ("n", "file", "kind", "sha256", "bytes")}
                                 | ({"source": data["source"]} if data.get("source") else {}))
    elif kind == "tes_plan":
        state["tes_plan"] = data["plan"]
        state["hosts"] = list(data.get("hosts") or [])
    elif kind == "lock_acquired":
        state["locks"][data["host"]] = {"token": data["token"], "file": data.get("file")}
    elif kind == "lock_released":
        state["locks"].pop(data["host"], None)
    elif kind == "step_started":
        state["open_steps"][data["step"]] = event["actor"]
    elif kind == "step_done":
        state["steps"][data["step"]] = data.get("result")
        state["open_steps"].pop(data["step"], None)
    elif kind == "step_aborted":
        state["open_steps"].pop(data["step"], None)
    elif kind == "exec_finished":
        state["last_exec"] = {k: data.get(k) for k in ("command", "hosts", "ok")}
    elif kind in ("validate_passed", "validate_failed"):
        state["validation"] = {"ok": kind == "validate_passed", **data}
    elif kind == "rollback_finished":
        state["rollback"] = data
    elif kind in ("txn_commit", "txn_fail"):
        state["stage"] = states.DONE if kind == "txn_commit" else states.FAIL
        state["error"] = data.get("reason") if kind == "txn_fail" else None
        state["open_steps"] = {}
        if state["created_at"]:
            delta = parse_ts(ts) - parse_ts(state["created_at"])
            state["duration_s"] = round(delta.total_seconds(), 6)
    state["seq"] = event["seq"]
    state["version"] = event.get("version", event["seq"])  # one per write (a batch shares it)
    state["updated_at"] = ts
    return state


def replay(events: Iterable[dict], until: str | None = None, *, name: str = "") -> dict:
    """The state after ``events`` (only those with ``ts <= until`` when given).

    Events as :func:`parse_events` returns them; one the reducer cannot fold
    (a field it needs missing or of the wrong kind, a time that does not
    parse, a first event that is not ``txn_start``) raises :class:`LogCorrupt`.
    """
    state = empty_state()
    limit = parse_ts(until) if until else None
    event: dict = {}
    try:
        for event in events:
            if state["seq"] == 0 and event["type"] != "txn_start":
                raise ValueError("the log does not start with txn_start")
            if limit is not None and parse_ts(event["ts"]) > limit:
                break
            apply(state, event)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        why = f"no {exc.args[0]!r}" if isinstance(exc, KeyError) and exc.args else str(exc)
        raise damaged(f"{name or 'transaction'}: events.ndjson event {event.get('seq')} "
                      f"({event.get('type')}) cannot be replayed: {why}", name or "ID") from None
    return state


def event_time(event: dict, name: str = ""):
    """The ``ts`` of an event as a datetime; :class:`LogCorrupt` when it is not a time."""
    try:
        return parse_ts(event["ts"])
    except (KeyError, TypeError, ValueError, AttributeError):
        raise damaged(f"{name or 'transaction'}: events.ndjson event {event.get('seq')}: "
                      f"ts {event.get('ts')!r} is not an ISO-8601 time", name or "ID") from None


def render(state: dict) -> bytes:
    """The exact bytes of ``state.json`` (what ``storage.write_json`` writes)."""
    return storage.json_bytes(state)

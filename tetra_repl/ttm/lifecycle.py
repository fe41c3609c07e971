"""What every transaction does around its work: leases, steps, commit/fail,
interruption, resume, verify and rebuild.

Plugins (``txn``, ``deploy``) compose these; they never write the store
themselves.
"""

from __future__ import annotations

import json
import os
import socket
from contextlib import contextmanager
from dataclasses import dataclass, field

from .. import storage
from ..errors import TetraError
from . import log, states
from .leases import Leases
from .store import Transaction, actor_alive


# -- leases ------------------------------------------------------------------

def take_leases(txn: Transaction, leases: Leases, hosts: list[str], *, label: str | None = None,
                wait: float | None = None, then: list | None = None, cancel=None) -> None:
    """Lease every host for ``txn`` (all or none), then record in one write a
    ``lock_broken`` for each stale lease broken on the way, ``lock_acquired``
    per host, and the events in ``then`` (e.g. the move to EXECUTE).  The
    leases are renewed in the background until released."""
    taken: list[str] = []
    items: list = []

    def broken(old: dict, reason: str) -> None:
        items.append(("lock_broken", {"host": old.get("host"), "previous": old, "reason": reason}, None))

    try:
        for host in sorted(set(hosts)):  # one global order: no deadlock between two txns
            lease = leases.acquire(host, txn.id, label=label or host, wait=wait,
                                   on_broken=broken, cancel=cancel, name_host=len(set(hosts)) > 1)
            taken.append(host)
            items.append(("lock_acquired", {"host": host, "token": lease.token, "file": lease.file,
                                            "pid": os.getpid(), "expires": lease.record["expires"]},
                          None))
        txn.record_many(items + list(then or []))
        leases.keep_fresh(txn.id, taken)
    except BaseException:
        for host in taken:  # a crash here leaves leases of a dead pid: broken on next take
            leases.release(host, txn.id)
        if items and any(k == "lock_broken" for k, _, _ in items):
            try:
                txn.record_many([i for i in items if i[0] == "lock_broken"])
            except Exception:
                pass
        raise


def _release_items(txn: Transaction, leases: Leases) -> list:
    """Release every lease of ``txn`` (those recorded, and any a crash left on
    disk between writing the lease and recording it); the events to record."""
    recorded = set(txn.state()["locks"])
    orphans = {r.get("host") for r in leases.all() if r.get("txn") == txn.id} - recorded
    return [("lock_released", {"host": host, "held": leases.release(host, txn.id)}, None)
            for host in sorted(recorded | orphans)]


def release_leases(txn: Transaction, leases: Leases) -> None:
    items = _release_items(txn, leases)
    if items:
        txn.record_many(items)


def record_plan(txn: Transaction, res, *, expect: int | None = None) -> None:
    """ASSEMBLE in one write: the stage move(s), one ``tes_resolved`` per
    resolver level and the ``tes_plan`` (a plan is recorded whole or not at all)."""
    state = txn.state()
    items = [("stage_changed", None, s) for s in states.path_to(state["stage"], states.ASSEMBLE)]
    items += [("tes_resolved", {"level": i, **level}, None) for i, level in enumerate(res.levels)]
    items.append(("tes_plan", {"plan": res.plan, "hosts": [h.name for h in res.hosts]}, None))
    txn.record_many(items, expect=expect)


# -- ending --------------------------------------------------------------------

def commit(txn: Transaction, leases: Leases, *, expect: int | None = None,
           before: list | None = None) -> None:
    """VALIDATE → DONE, releasing the transaction's leases (one write)."""
    state = txn.state()
    states.check_transition(txn.id, state["stage"], states.DONE)
    if expect is not None and expect != state["version"]:
        txn.record("note", {}, expect=expect)  # raises VersionConflict, writes nothing
    txn.record_many(list(before or []) + _release_items(txn, leases) + [("txn_commit", {}, None)])


def fail(txn: Transaction, leases: Leases, reason: str) -> None:
    """Any non-terminal stage → FAIL, releasing leases; aborts open steps (one write).

    Refused while another live process runs a step of it or holds its leases
    (:func:`ensure_not_running`): its command would go on without them."""
    state = txn.state()
    states.check_transition(txn.id, state["stage"], states.FAIL)
    ensure_not_running(txn, leases, state, hint=STILL_RUNNING_FAIL)
    items = [("step_aborted", {"step": name, "reason": reason}, None)
             for name in (state.get("open_steps") or {})]
    txn.record_many(items + _release_items(txn, leases) + [("txn_fail", {"reason": reason}, None)])


# -- steps ----------------------------------------------------------------------

class Step:
    """A recorded unit of work; ``done`` when a previous run completed it."""

    def __init__(self, name: str, done: bool, result):
        self.name, self.done, self.result = name, done, result
        self.before_done: list = []  # events written together with step_done


@contextmanager
def step(txn: Transaction, name: str, *, start_with: list | None = None,
         before: list | None = None, carry: list | None = None):
    """Run a step once: ``with step(txn, "upload:web-1") as s: if not s.done: ...; s.result = x``.

    A step completed by an earlier (interrupted) run is not redone: the body
    sees ``s.done`` and the recorded ``s.result``.  ``before`` events (e.g. a
    stage move) and ``start_with`` ones are written in one write around
    ``step_started``; ``s.before_done`` ones with ``step_done``.  A step that raises stays
    open (the caller fails or compensates the transaction).

    ``carry`` chains the steps of one worker: events in it are written first,
    with this step's start, and this step's closing events are left in it for
    the caller's next write (the next step's start, or a final
    ``record_many(carry)``), so back-to-back steps cost one write each, not
    two.  A crash before that write leaves the step open, as a crash just
    before its own ``step_done`` write would.
    """
    state = txn.state()
    if name in state["steps"]:
        yield Step(name, True, state["steps"][name])
        return
    s = Step(name, False, None)
    held = list(carry or [])
    txn.record_many(held + list(before or []) + [("step_started", {"step": name}, None)]
                    + list(start_with or []))
    if carry:
        del carry[:len(held)]
    yield s
    closing = s.before_done + [("step_done", {"step": name, "result": s.result}, None)]
    if carry is None:
        txn.record_many(closing)
    else:
        carry.extend(closing)


# -- interruption and resume -------------------------------------------------

def interrupted(state: dict, leases: Leases | None = None) -> bool:
    """A non-terminal transaction cut off mid-stage: a step is open whose
    process is dead, or (given ``leases``) a lease it records is gone or now
    another transaction's (broken since).

    A lease held by a process that has ended is not enough: that is every
    transaction between two steps run as ``tetra -c …`` (``txn exec``, then
    ``txn validate``), which is idle, not interrupted; ``txn status`` shows
    such a holder as dead, and anyone may break its lease."""
    if state["stage"] in states.TERMINAL:
        return False
    if any(actor_alive(who) is False for who in (state.get("open_steps") or {}).values()):
        return True
    if leases is None:
        return False
    for host in state.get("locks") or {}:
        record = leases.holder(host)
        if record is None or record.get("txn") != state.get("id"):
            return True
    return False


def display_stage(state: dict, leases: Leases | None = None) -> str:
    return "interrupted" if interrupted(state, leases) else state["stage"]


STILL_RUNNING_FAIL = "Ctrl-C it there (or 'txn fail' it in that process), or wait for it to finish"
STILL_RUNNING_RESUME = "wait for it, or end that process first"


def live_holder(txn: Transaction, leases: Leases, state: dict | None = None) -> str | None:
    """Another live process carrying ``txn`` on, as ``pid P on H (…)``, else None:
    one running a step of it, or holding one of its leases.  This process
    never counts (the shell ending its own transaction)."""
    state = state if state is not None else txn.state()
    me = (os.getpid(), socket.gethostname())
    for name, who in sorted((state.get("open_steps") or {}).items()):
        if actor_alive(who) and _actor_at(who) != me:
            pid, host = _actor_at(who)
            return f"pid {pid} on {host} runs its step {name}"
    for host in sorted(state.get("locks") or {}):
        record = leases.holder(host)
        if record is None or record.get("txn") != txn.id or leases.why_stale(record):
            continue
        if (record.get("pid"), record.get("hostname")) != me:
            return f"pid {record.get('pid')} on {record.get('hostname')} holds its lease on {host}"
    return None


def _actor_at(who: str) -> tuple[int | None, str]:
    """(pid, host) of an actor string ``user@host:pid``."""
    rest, _, pid = who.rpartition(":")
    try:
        return int(pid), rest.partition("@")[2]
    except ValueError:
        return None, rest.partition("@")[2]


def ensure_not_running(txn: Transaction, leases: Leases, state: dict | None = None, *,
                       hint: str = STILL_RUNNING_FAIL) -> None:
    """Raise (writing nothing) while another live process carries ``txn`` on."""
    who = live_holder(txn, leases, state)
    if who is not None:
        raise TetraError(f"{txn.id}: is still running ({who})", hint=hint)


def resume(txn: Transaction, leases: Leases, *, wait: float | None = None) -> list[str]:
    """Take over an interrupted transaction: re-take its leases, close the
    dead run's open steps.  Returns the names of those steps (their work may
    or may not have happened; completed steps stay recorded)."""
    state = txn.state()
    if state["stage"] in states.TERMINAL:
        raise TetraError(f"{txn.id}: is {state['stage']}; nothing to resume")
    ensure_not_running(txn, leases, state, hint=STILL_RUNNING_RESUME)
    aborted = list(state.get("open_steps") or {})
    items = [("resumed", {"stage": state["stage"]}, None)] + [
        ("step_aborted", {"step": name, "reason": "resumed after interruption"}, None)
        for name in aborted]
    if state["locks"]:
        take_leases(txn, leases, list(state["locks"]), label=state.get("target"), wait=wait,
                    then=items)
    else:
        txn.record_many(items)
    return aborted


# -- verify and rebuild ----------------------------------------------------------

@dataclass
class Verdict:
    ok: bool
    events: int | None = 0  # complete events in the log (None: it cannot be read)
    state_version: int | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    repairable: bool = False  # 'txn rebuild' fixes every problem (a torn append, state.json)
    log: str = "ok"  # "ok"; "torn": ends in an unfinished append; "damaged": cannot be read
    state_file: str = "ok"  # "ok", "missing", "unreadable"


def verify(txn: Transaction) -> Verdict:
    """Check the log (parseable, gapless, replayable, legal transitions,
    versions one per write) and that state.json is exactly the replay of a
    prefix of it."""
    v = Verdict(ok=True)
    try:
        on_disk = txn.state_file.read_bytes()
        state = json.loads(on_disk)
        if not isinstance(state, dict):
            raise ValueError("not an object")
        v.state_version = state.get("version")
    except FileNotFoundError:
        on_disk, state, v.state_file = None, None, "missing"
    except (OSError, ValueError):
        on_disk, state, v.state_file = None, None, "unreadable"
    try:
        events = txn.events()
    except log.LogCorrupt as exc:
        v.log = "torn" if exc.torn_tail else "damaged"
        v.events = exc.good_events if exc.torn_tail else None
        hint = f" (hint: {exc.hint})" if exc.torn_tail and exc.hint else ""
        v.ok, v.repairable, v.problems = False, exc.torn_tail, [exc.message + hint]
        return v
    v.events = len(events)
    stage, last_version = None, 0
    for e in events:
        data = e["data"] if isinstance(e.get("data"), dict) else {}
        ver = e.get("version", e["seq"])
        if ver not in (last_version, last_version + 1):
            v.problems.append(f"event {e['seq']}: version {ver} after {last_version}")
        last_version = ver
        src = stage
        if e["type"] == "txn_start":
            stage = states.NEW
        elif e["type"] == "stage_changed":
            stage = data.get("to")
        elif e["type"] in ("txn_commit", "txn_fail"):
            stage = states.DONE if e["type"] == "txn_commit" else states.FAIL
        if src is not None and stage != src and not states.allowed(src, stage):
            v.problems.append(f"event {e['seq']}: illegal transition {src} → {stage}")
        if src is None and e["type"] != "txn_start":
            v.problems.append(f"event {e['seq']}: log does not start with txn_start")
        if e.get("stage") != stage:
            v.problems.append(f"event {e['seq']}: stage field {e.get('stage')} ≠ {stage}")
        try:
            log.parse_ts(e["ts"])
        except ValueError:
            v.problems.append(f"event {e['seq']}: ts {e['ts']!r} is not an ISO-8601 time")
    try:
        replayed = log.replay(events, name=txn.id) if events else {}
    except log.LogCorrupt as exc:
        v.problems.append(exc.message)
        replayed = None
    if v.state_file == "missing":
        v.notes.append("state.json missing (a crash before its first write); rebuild writes it")
    elif v.state_file == "unreadable":
        v.problems.append("state.json does not parse")
    elif replayed is not None:
        seq = state.get("seq")
        if not isinstance(seq, int) or not 0 < seq <= len(events):
            v.problems.append(f"state.json seq {seq!r} is not in the log (1..{len(events)})")
        elif log.render(log.replay(events[:seq], name=txn.id)) != on_disk:
            v.problems.append(f"state.json differs from the replay of events 1..{seq}")
        elif seq < len(events):
            v.notes.append(f"state.json is at event {seq}, the log at {len(events)}: "
                           f"a crash came between the two writes; 'txn rebuild {txn.id}' "
                           "rolls it forward")
    log_problems = len(v.problems) - sum(p.startswith("state.json") for p in v.problems)
    evidence = _evidence_problems(txn, replayed or {})
    v.problems += evidence
    v.ok = not v.problems
    v.repairable = not v.ok and not log_problems and not evidence  # only state.json is wrong
    return v


def _evidence_problems(txn: Transaction, state: dict) -> list[str]:
    """Each evidence file in ctx/ still has the size and sha256 recorded for it."""
    from ..connectors.streams import sha256_file

    problems = []
    for ev in state.get("evidence") or []:
        path = txn.path / ev["file"]
        try:
            size, digest = path.stat().st_size, sha256_file(str(path))
        except OSError as exc:
            problems.append(f"evidence $e{ev['n']} ({ev['file']}): {exc.strerror or exc}")
            continue
        if size != ev.get("bytes") or digest != ev.get("sha256"):
            problems.append(f"evidence $e{ev['n']} ({ev['file']}) changed since it was added "
                            f"(sha256 {digest[:12]}…, recorded {str(ev.get('sha256'))[:12]}…)")
    return problems


def rebuild(txn: Transaction) -> dict:
    """Recompute state.json from the log alone; a torn last line (an append
    that never completed, so never acknowledged) is moved aside first."""
    with txn._writing():
        return _rebuild(txn)


def _rebuild(txn: Transaction) -> dict:
    try:
        events = txn.events()
    except log.LogCorrupt as exc:
        if not exc.torn_tail:
            raise
        data = txn.events_file.read_bytes()
        storage.write_bytes(txn.path / f"events.ndjson.torn-{log.now_iso()[:19].replace(':', '')}",
                            data[exc.good_bytes:])
        storage.write_bytes(txn.events_file, data[:exc.good_bytes])
        events = txn.events()
    state = log.replay(events, name=txn.id)
    # with the log's time, as every write leaves it: trusted by readers again
    storage.write_json(txn.state_file, state, mtime_ns=os.stat(txn.events_file).st_mtime_ns)
    txn._cache = None
    return state

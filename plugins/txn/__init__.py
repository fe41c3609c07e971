"""tetra plugin: transactions (SPEC 6.3).

Thin adapters over :mod:`tetra_repl.ttm`: parse arguments, call the library,
render.  The work of a stage (resolve, exec, validate) is in :mod:`.work`.
"""

from __future__ import annotations

import json
import re

from tetra_repl.errors import CommandError, UsageError
from tetra_repl.plugin import Option, Param, Plugin

plugin = Plugin("txn", help="transactions: staged, logged, locked, recoverable")
plugin.group("txn", "transactions: staged, logged, locked, recoverable")

ID = Param("id", required=False, complete="txn.id", help="transaction id (default: the active one)")
PARALLEL = Option("--parallel", type="int", metavar="N",
                  help="at most N hosts at once (default: the target's parallel)")
WAIT = Option("--wait", type="float", optional_value=True, const=float("inf"), metavar="SECONDS",
              help="wait for a locked host (forever, or SECONDS)")


def _lib(ctx):
    from tetra_repl.ttm import session_leases, session_store

    return session_store(ctx.session), session_leases(ctx.session)


def open_txn(ctx, txn_id: str | None):
    """The named transaction, else the active one."""
    from tetra_repl.ttm import active

    store, _ = _lib(ctx)
    if txn_id:
        return store.open(txn_id)
    txn = active(ctx.session)
    if txn is None:
        from tetra_repl.ttm.store import TxnNotFound

        raise TxnNotFound("no active transaction", hint="start one with: txn new \"what\" @target")
    return txn


def wait_seconds(value):
    if value is None:
        return None
    return 1e9 if value == float("inf") else max(0.0, value)


@plugin.command("txn new", help="Start a transaction on a target; it becomes the active one",
                params=[Param("description", help="what it is for"),
                        Param("target", type="target", required=False)],
                options=[Option("--actor", metavar="NAME", help="who is doing it")],
                examples=['txn new "deploy api" @staging', 'txn new "rotate logs" @local --actor ana'])
def txn_new(ctx, args):
    from tetra_repl.ttm import set_active

    store, _ = _lib(ctx)
    if args.target:  # an unknown target is refused now, before anything is written
        from tetra_repl.ttm import targets

        targets.resolve(ctx.session, args.target.text)
    txn = store.create("ttm", args.description, target=args.target.text if args.target else None,
                       actor_name=args.actor)
    set_active(ctx.session, txn)
    ctx.out(txn.id)


@plugin.command("txn ctx", help="Add an evidence file (stage SELECT); it becomes $e1, $e2…",
                params=[Param("file", type="path"), ID],
                options=[Option("--kind", metavar="KIND", help="evidence kind (default: from the name)")],
                examples=["txn ctx build/api.tar.gz --kind artifact", "echo $e1"])
def txn_ctx(ctx, args):
    from tetra_repl.ttm import states

    txn = open_txn(ctx, args.id)
    ev = txn.add_evidence(args.file, args.kind, stage=states.SELECT)  # one write, or none
    # $eN names the active transaction's evidence only: another's gets no $eN label
    label = f"$e{ev['n']} =" if _is_active(ctx, txn) else f"evidence {ev['n']} of {txn.id}:"
    ctx.out(f"{label} {txn.path / ev['file']}  ({ev['kind']}, {ev['bytes']} bytes, "
            f"sha256 {ev['sha256'][:12]}…)")


def _is_active(ctx, txn) -> bool:
    from tetra_repl.ttm import active

    current = active(ctx.session)
    return current is not None and current.id == txn.id


@plugin.command("txn resolve", help="Resolve the target into the plan (stage ASSEMBLE)",
                params=[ID], examples=["txn resolve"])
def txn_resolve(ctx, args):
    from .work import resolve_into

    txn = open_txn(ctx, args.id)
    res = resolve_into(ctx, txn)
    ctx.out(f"{txn.id}: ASSEMBLE  {res.symbol} → {', '.join(h.name for h in res.hosts)}")


@plugin.command("txn exec", help="Run a command on the transaction's hosts (stage EXECUTE)",
                params=[ID, Param("command", rest=True)],
                options=[Option("--timeout", type="duration", metavar="S"), PARALLEL, WAIT],
                examples=["txn exec -- uptime", "txn exec -- sh -c 'df -h /'",
                          "txn exec --parallel 1 -- systemctl restart api"],
                description="Runs as 'exec @target' does: at most --parallel (else the "
                            "target's parallel) hosts at once, then a per-host summary.")
def txn_exec(ctx, args):
    from .work import run_stage

    return run_stage(ctx, open_txn(ctx, args.id), "EXECUTE", args.command, args.timeout,
                     wait_seconds(args.wait), args.parallel)


@plugin.command("txn validate", help="Check the result (stage VALIDATE); non-zero ends it FAIL",
                params=[ID, Param("command", rest=True)],
                options=[Option("--timeout", type="duration", metavar="S"), PARALLEL],
                examples=["txn validate -- curl -fsS http://127.0.0.1:8080/health"])
def txn_validate(ctx, args):
    from .work import run_stage

    return run_stage(ctx, open_txn(ctx, args.id), "VALIDATE", args.command, args.timeout, None,
                     args.parallel)


@plugin.command("txn commit", help="End the transaction DONE (from VALIDATE)", params=[ID])
def txn_commit(ctx, args):
    from tetra_repl.ttm import lifecycle

    store, leases = _lib(ctx)
    txn = open_txn(ctx, args.id)
    lifecycle.commit(txn, leases, expect=txn.state()["version"])
    ctx.out(f"{txn.id}: DONE")


FAILED_BY_HAND = "ended with 'txn fail'"


@plugin.command("txn fail", help="End the transaction FAIL with a reason",
                params=[ID, Param("reason", required=False,
                                  help="why, recorded as its error (may be left out after an ID)")],
                examples=['txn fail "wrong build"', "txn fail ID \"wrong build\"", "txn fail ID"])
def txn_fail(ctx, args):
    from tetra_repl.ttm import lifecycle

    store, leases = _lib(ctx)
    txn_id, reason = args.id, args.reason
    if reason is None:  # one word: `txn fail ID` (SPEC 6.4) or `txn fail "reason"` (6.3)
        if txn_id is None:
            raise UsageError("txn fail: missing REASON", hint='usage: txn fail [ID] "reason"')
        if not _names_a_txn(store, txn_id):
            txn_id, reason = None, txn_id
    txn = open_txn(ctx, txn_id)
    reason = reason or FAILED_BY_HAND
    # before any hook: deploy's would re-take the leases and switch hosts back
    # under a deploy that is still running
    lifecycle.ensure_not_running(txn, leases)
    hook = _module_hooks(ctx).get((txn.module, "fail"))
    if hook is not None:
        hook(ctx, txn, reason)
    else:
        lifecycle.fail(txn, leases, reason)
    ctx.out(f"{txn.id}: FAIL ({reason})")


def _names_a_txn(store, word: str) -> bool:
    """True when ``word`` is a transaction's id (or shaped like one: a
    mistyped id must say "no transaction", not become a reason)."""
    from tetra_repl.ttm.store import ID_RE, TxnNotFound

    if ID_RE.match(word):
        return True
    try:
        store.open(word)
        return True
    except TxnNotFound:
        return False


@plugin.command("txn ls", help="List transactions, newest first",
                options=[Option("--stage", metavar="S", help="only this stage (or 'interrupted', 'broken')"),
                         Option("--module", metavar="M"), Option("--json", type="bool")],
                examples=["txn ls", "txn ls --stage interrupted", "txn ls --module deploy --json"])
def txn_ls(ctx, args):
    from .render import ls

    store, leases = _lib(ctx)
    rows = ls(store, leases, args.module, _stage_filter(args.stage))
    if args.json or ctx.json:
        ctx.out(json.dumps(rows, indent=2))
        return
    if not rows:
        ctx.out("no transactions")
        return
    ctx.out(f"{'ID':<40} {'MODULE':<7} {'STAGE':<11} {'TARGET':<12} DESCRIPTION")
    for r in rows:
        ctx.out(f"{r['id']:<40} {r['module']:<7} {r['display_stage']:<11} "
                f"{r['target'] or '-':<12} {r['description']}")


def _stage_filter(text: str | None) -> str | None:
    """``--stage``: a stage name (any case) or ``interrupted``."""
    from tetra_repl.ttm.states import STAGES

    if text is None:
        return None
    if text.upper() in STAGES:
        return text.upper()
    if text.lower() in ("interrupted", "broken"):
        return text.lower()
    raise UsageError(f"txn ls: --stage {text!r} is not a stage",
                     hint=f"one of {', '.join(STAGES)}, interrupted, broken")


@plugin.command("txn status", help="Stage, target, evidence and the last events", params=[ID])
def txn_status(ctx, args):
    from .render import status

    for line in status(open_txn(ctx, args.id), _lib(ctx)[1]):
        ctx.out(line)


@plugin.command("txn show", help="The full state (--at TIME replays the log up to TIME)",
                params=[ID],
                options=[Option("--json", type="bool"),
                         Option("--at", metavar="TIME", help="ISO-8601 time, or #SEQ")],
                examples=["txn show --json", "txn show --at 2025-10-17T14:30:25Z", "txn show --at '#4'"])
def txn_show(ctx, args):
    from tetra_repl.ttm import lifecycle, log

    txn = open_txn(ctx, args.id)
    if args.at:
        state = _replay_at(txn, args.at)
    else:
        state = txn.state()
    if args.json or ctx.json:
        ctx.out(log.render(state).decode().rstrip())
        return
    if not args.at:
        state = dict(state, stage=lifecycle.display_stage(state, _lib(ctx)[1]))
    for key in sorted(state):
        value = state[key]
        text = json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else value
        ctx.out(f"{key:<13} {text}")


def _replay_at(txn, at: str) -> dict:
    from tetra_repl.ttm import log

    events = txn.events()
    if at.startswith("#"):
        try:
            n = int(at[1:])
        except ValueError:
            raise UsageError(f"txn show: --at {at!r}: expected #SEQ") from None
        if not 1 <= n <= len(events):
            raise UsageError(f"txn show: --at {at}: {txn.id} has events #1 to #{len(events)}")
        return log.replay(events[:n], name=txn.id)
    try:
        log.parse_ts(at)
    except ValueError:
        raise UsageError(f"txn show: --at {at!r} is not an ISO-8601 time",
                         hint="e.g. 2025-10-17T14:30:25Z, or #SEQ for an event number") from None
    if events and log.parse_ts(at) < log.event_time(events[0], txn.id):
        raise CommandError(f"{txn.id}: did not exist yet at {at} (created {events[0]['ts']})")
    return log.replay(events, until=at, name=txn.id)


@plugin.command("txn events", help="The event log; -f follows it live until the transaction ends",
                params=[ID], options=[Option("-f", "--follow", type="bool"), Option("--json", type="bool")],
                examples=["txn events", "txn events -f"])
def txn_events(ctx, args):
    from .render import follow, render_event

    txn = open_txn(ctx, args.id)
    as_json = args.json or ctx.json
    if args.follow:
        return follow(ctx, txn, as_json)
    for e in txn.events():
        ctx.out(json.dumps(e, sort_keys=True) if as_json else render_event(e))


@plugin.command("txn active", help="Show the active transaction, or make ID the active one",
                params=[ID])
def txn_active(ctx, args):
    from tetra_repl.ttm import active, set_active

    store, _ = _lib(ctx)
    if args.id:
        txn = store.open(args.id)
        set_active(ctx.session, txn)
    else:
        txn = active(ctx.session)
        if txn is None:
            from tetra_repl.ttm.store import TxnNotFound

            raise TxnNotFound("no active transaction",
                              hint='start one with: txn new "what" @target, or: txn active ID')
    state = txn.state()
    ctx.out(f"{txn.id}  {state['stage']}  {state['target'] or '-'}  {state['description']}")


@plugin.command("txn resume", help="Continue an interrupted transaction without redoing done steps",
                params=[Param("id", complete="txn.id")], options=[WAIT])
def txn_resume(ctx, args):
    from tetra_repl.ttm import lifecycle

    _, leases = _lib(ctx)
    txn = open_txn(ctx, args.id)
    hook = _module_hooks(ctx).get((txn.module, "resume"))
    if hook is not None:
        return hook(ctx, txn, wait=wait_seconds(args.wait))
    aborted = lifecycle.resume(txn, leases, wait=wait_seconds(args.wait))
    state = txn.state()
    ctx.out(f"{txn.id}: resumed at {state['stage']}"
            + (f"; step(s) {', '.join(aborted)} did not finish: run them again or 'txn fail'"
               if aborted else ""))


@plugin.command("txn rebuild", help="Recompute state.json from events.ndjson alone",
                params=[Param("id", complete="txn.id")])
def txn_rebuild(ctx, args):
    from tetra_repl.ttm import lifecycle

    txn = open_txn(ctx, args.id)
    state = lifecycle.rebuild(txn)
    ctx.out(f"{txn.id}: state.json rebuilt from {state['seq']} events "
            f"(version {state['version']}, stage {state['stage']})")


@plugin.command("txn verify", help="Check the log and that state.json matches its replay",
                params=[ID], options=[Option("--all", type="bool", help="every transaction"),
                                      Option("--json", type="bool")],
                examples=["txn verify", "txn verify --all"])
def txn_verify(ctx, args):
    from tetra_repl.ttm import lifecycle

    store, _ = _lib(ctx)
    txns = store.all() if args.all else [open_txn(ctx, args.id)]
    failed: list[tuple[str, bool]] = []  # (id, repairable by rebuild)
    for txn in txns:
        v = lifecycle.verify(txn)
        if args.json or ctx.json:
            ctx.out(json.dumps({"id": txn.id, "ok": v.ok, "events": v.events, "log": v.log,
                                "state_version": v.state_version, "state_file": v.state_file,
                                "problems": v.problems, "notes": v.notes}))
        else:
            ctx.out(f"{txn.id}: {'ok' if v.ok else 'FAILED'} ({_found(v)})")
            for p in v.problems:
                ctx.out(f"  problem: {p}")
            for n in v.notes:
                ctx.out(f"  note: {n}")
        if not v.ok:
            failed.append((txn.id, v.repairable))
    if failed:
        fixable = [i for i, repairable in failed if repairable]
        raise CommandError(f"txn verify: {len(failed)} transaction(s) failed: "
                           f"{', '.join(i for i, _ in failed)}",
                           hint=f"'txn rebuild {fixable[0]}' repairs it (a torn append or a "
                                "stale state.json)" if fixable else
                           "the log was damaged or edited (see the problems above): rebuild "
                           "cannot repair it")


def _found(v) -> str:
    """What verify read, truthfully: ``19 events, state.json version 6``."""
    log_part = {"damaged": "events.ndjson cannot be read",
                "torn": f"{v.events} complete events, then an unfinished append"}.get(
        v.log, f"{v.events} events")
    state_part = {"missing": "state.json missing", "unreadable": "state.json does not parse"}.get(
        v.state_file, "state.json has no version" if v.state_version is None
        else f"state.json version {v.state_version}")
    return f"{log_part}, {state_part}"


def _module_hooks(ctx) -> dict:
    """(module, "resume"|"fail") -> hook, registered by plugins such as deploy."""
    ctx.session.load_plugins()
    return ctx.session.service("ttm.module_hooks", dict)


# -- shell integration -----------------------------------------------------------

@plugin.completer("txn.id")
def complete_ids(session, prefix):
    from tetra_repl.ttm import session_store

    return sorted(i for i in session_store(session).ids() if i.startswith(prefix))


_EVIDENCE = re.compile(r"^e([1-9][0-9]*)$")


@plugin.variables
def variables(session, name):
    """``$txn`` is the active transaction's id; ``$eN`` its Nth evidence file."""
    if name != "txn" and not _EVIDENCE.match(name):
        return None
    from tetra_repl.ttm import active

    txn = active(session)
    if txn is None:
        return None
    if name == "txn":
        return txn.id
    n = int(_EVIDENCE.match(name).group(1))
    for ev in txn.state()["evidence"]:
        if ev["n"] == n:
            return str(txn.path / ev["file"])
    return None


def _active_state(session):
    from tetra_repl.ttm import active

    try:
        txn = active(session)
        return txn.state() if txn is not None else None
    except Exception:  # a toolbar must never break the shell
        return None


@plugin.toolbar
def toolbar(session):
    from tetra_repl.ttm import lifecycle

    from tetra_repl.ttm import session_leases

    state = _active_state(session)
    if state is None:
        return None
    try:
        shown = lifecycle.display_stage(state, session_leases(session))
    except Exception:  # a toolbar must never break the shell
        shown = state["stage"]
    return f"txn {state['id']} {shown}"


@plugin.prompt
def prompt(session):
    state = _active_state(session)
    if state is None or state["stage"] in ("DONE", "FAIL") or not state.get("target"):
        return None
    return state["target"]

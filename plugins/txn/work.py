"""The work of the generic ``txn`` stages: resolve (ASSEMBLE), exec (EXECUTE),
validate (VALIDATE).  Shared with deploy: :func:`resolve_into`."""

from __future__ import annotations

import threading

from tetra_repl.errors import CommandError, TetraError
from tetra_repl.ttm import lifecycle, session_leases, states, targets
from tetra_repl.ttm.leases import WaitCancelled


def cancel_event():
    """The cancel event of the background job running this, if any."""
    from tetra_repl.jobs import JobManager

    job = JobManager.current()
    return job.cancelled if job is not None else threading.Event()


def resolve_into(ctx, txn, *, state: dict | None = None):
    """ASSEMBLE: resolve the target, record one ``tes_resolved`` per level and the plan."""
    state = state or txn.state()
    if not state.get("target"):
        raise TetraError(f"{txn.id}: has no @target to resolve",
                         hint='give one when starting it: txn new "what" @target')
    cur = state["stage"]
    for stage in states.path_to(cur, states.ASSEMBLE):  # refuse before resolving anything
        states.check_transition(txn.id, cur, stage)
        cur = stage
    res = targets.resolve(ctx.session, state["target"])  # may fail: nothing written then
    lifecycle.record_plan(txn, res, expect=state["version"])
    return res


def hosts_of(ctx, txn, state: dict) -> list:
    """The transaction's hosts with live connectors (re-resolved, filtered to the plan)."""
    return _resolve_hosts(ctx, txn, state)[1]


def _resolve_hosts(ctx, txn, state: dict):
    """(Resolution, the plan's hosts in it): the resolution also gives ``parallel``."""
    res = targets.resolve(ctx.session, state["target"])
    wanted = set(state["hosts"])
    hosts = [h for h in res.hosts if h.name in wanted]
    missing = wanted - {h.name for h in hosts}
    if missing:
        raise CommandError(f"{txn.id}: host(s) {', '.join(sorted(missing))} are no longer in "
                           f"{state['target']}", hint=f"txn fail {txn.id} \"topology changed\"")
    return res, hosts


def run_stage(ctx, txn, stage: str, command: list[str], timeout, wait,
              parallel: int | None = None) -> int:
    """``txn exec`` / ``txn validate``: run ``command`` on every host (at most
    ``parallel`` at once, else the target's setting), record it."""
    from tetra_repl.connectors.report import at_once

    leases = session_leases(ctx.session)
    state = txn.state()
    if state["stage"] != stage:
        states.check_transition(txn.id, state["stage"], stage)
    res, hosts = _resolve_hosts(ctx, txn, state)
    hosts_at_once = at_once(ctx.spec.name, parallel, res)  # exec's rule and message
    move = [("stage_changed", None, stage)] if state["stage"] != stage else []
    cancel = cancel_event()
    if stage == states.EXECUTE:
        try:
            lifecycle.take_leases(txn, leases, [h.name for h in hosts], label=state["target"],
                                  wait=wait, then=move, cancel=cancel)
        except WaitCancelled:  # a cancelled job that was waiting for a locked host
            lifecycle.fail(txn, leases, "cancelled")
            raise CommandError(f"{txn.id}: cancelled while waiting for {state['target']}; "
                               "transaction is FAIL") from None
        move = []
    state = txn.state()
    n = 1 + sum(1 for s in state["steps"] if s.startswith(stage.lower() + ":"))
    started = ("exec_started", {"command": command, "hosts": [h.name for h in hosts]}, None)
    with lifecycle.step(txn, f"{stage.lower()}:{n}", before=move, start_with=[started]) as s:
        try:
            results = fan_out(ctx, hosts, command, timeout, cancel, parallel=hosts_at_once)
        except KeyboardInterrupt:
            # Ctrl-C: the command has been ended on every host; end the
            # transaction as a cancelled job's is (leases released), not
            # left open with a step no one will finish.
            _interrupted(txn, leases, command, [h.name for h in hosts])
            raise
        ok = all(r.ok for r in results.values())
        summary = {name: {"exit": r.exit_status, "error": r.error} for name, r in results.items()}
        s.before_done.append(("exec_finished", {"command": command, "hosts": summary, "ok": ok}, None))
        if stage == states.VALIDATE:
            s.before_done.append(("validate_passed" if ok else "validate_failed",
                                  {"command": command, "hosts": summary}, None))
        s.result = {"ok": ok}
    if ok:
        return 0
    why = "cancelled" if cancel.is_set() else (
        f"{' '.join(command)} failed on {_failed_hosts(results)}")
    lifecycle.fail(txn, leases, why)
    raise CommandError(f"{txn.id}: {stage} failed: {why}; transaction is FAIL")


INTERRUPTED = "interrupted (Ctrl-C)"


def _interrupted(txn, leases, command: list[str], hosts: list[str]) -> None:
    summary = {name: {"exit": None, "error": "interrupted"} for name in hosts}
    try:
        txn.record("exec_finished", {"command": command, "hosts": summary, "ok": False})
        lifecycle.fail(txn, leases, INTERRUPTED)
    except TetraError:
        pass  # the log stays valid either way; 'txn fail' ends it later


def _failed_hosts(results: dict) -> str:
    """Every failed host, those that failed alike together: ``a, c (exit 4), b (exit 1)``."""
    by_reason: dict[str, list[str]] = {}
    for name, r in results.items():
        if not r.ok:
            by_reason.setdefault(r.error or f"exit {r.exit_status}", []).append(name)
    return ", ".join(f"{', '.join(names)} ({reason})" for reason, names in by_reason.items())


def fan_out(ctx, hosts, command, timeout, cancel, *, parallel: int = 10) -> dict:
    """Run on at most ``parallel`` hosts at once, as ``exec @target`` does (its
    fan-out, notes and per-host summary); output prefixed with the host when several.
    ``timeout`` None: each host's ``timeout`` setting."""
    from tetra_repl.connectors import RunResult, pool_for
    from tetra_repl.connectors.report import report_notes, summary_lines

    many = len(hosts) > 1

    def one(host):
        out = (lambda line: ctx.out(f"[{host.name}] {line}")) if many else ctx.out
        err = (lambda line: ctx.err(f"[{host.name}] {line}")) if many else ctx.err
        limit = timeout if timeout is not None else host.setting("timeout")
        return targets.connector(ctx.session, host).run(command, timeout=limit, on_stdout=out,
                                                        on_stderr=err, cancel=cancel)

    results = targets.fan_out(hosts, one, parallel=parallel, cancel=cancel)
    report_notes(ctx.err, pool_for(ctx.session), hosts)
    if many and not ctx.json:
        for line in summary_lines(results, max(len(h.name) for h in hosts)):
            ctx.out(line)
    return {name: value if isinstance(value, RunResult) else
            RunResult(name, None, error=getattr(value, "message", None) or str(value))
            for name, value in results.items()}

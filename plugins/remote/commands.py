"""Handlers of the remote commands (imported on first use of one of them)."""

from __future__ import annotations

import json
import os
import posixpath
import time

from tetra_repl.connectors import GroupResult, RunResult, fan_out, pool_for
from tetra_repl.connectors.report import (at_once, describe, failure_hint, hint_lines, report_notes,
                                          summary_lines)
from tetra_repl.connectors.streams import verbatim
from tetra_repl.errors import CommandError, UsageError
from tetra_repl.topology import describe_targets, resolve as resolve_plan

from . import render


def targets(ctx, args):
    info = describe_targets(ctx.session)
    if args.json or ctx.json:
        ctx.out(json.dumps(info, indent=2))
        return 0
    for line in render.targets_listing(info):
        ctx.out(line)
    return 0


def resolve(ctx, args):
    plan = resolve_plan(ctx.session, args.target, connect=args.connect)
    if args.json or ctx.json:
        ctx.out(json.dumps(plan.to_dict(), indent=2))
    else:
        for line in render.resolve_table(plan):
            ctx.out(line)
        seen = set()
        for host in plan.hosts:  # read from ssh_config, not run: say so
            for h in (*host.via, host):
                if h.setting("proxy_command") and h.name not in seen:
                    seen.add(h.name)
                    ctx.out(f"  note: {h.name}: ssh_config ProxyCommand "
                            f"{h.setting('proxy_command')!r} is not supported; use ProxyJump")
    if args.connect and any(not e["check"]["ok"] for e in plan.levels[7]["hosts"]):
        return 1
    return 0


def exec_(ctx, args):
    plan = resolve_plan(ctx.session, args.target)
    command = list(args.command)
    if not command:
        raise UsageError("exec: missing COMMAND", hint="exec @target -- COMMAND…")
    pool = pool_for(ctx.session)
    many = len(plan.hosts) > 1
    width = max(len(h.name) for h in plan.hosts)
    quiet = ctx.json
    cancel = ctx.cancel_event()  # a background job's own, so cancelling the job ends it

    def run_on(host):
        timeout = args.timeout if args.timeout is not None else host.setting("timeout")
        if quiet:
            out = err = None
        elif many:
            prefix = f"{host.name:<{width}} | "
            out = lambda line: ctx.out(prefix + line)  # noqa: E731
            err = lambda line: ctx.err(prefix + line)  # noqa: E731
        elif ctx.session.env.interactive or ctx.statement.background:
            # whole lines: the prompt, or output running alongside, starts on its own line
            out, err = ctx.out, ctx.err
        else:  # one host in a script: its output byte for byte, as ssh would print it
            out = verbatim(ctx.session.write)
            err = verbatim(lambda data: ctx.session.write(data, err=True))
        return pool.get(host).run(command, timeout=timeout, on_stdout=out, on_stderr=err,
                                  cancel=cancel, capture=quiet)

    results = fan_out(plan.hosts, run_on, parallel=at_once(ctx.spec.name, args.parallel, plan), cancel=cancel)
    report_notes(ctx.err, pool, plan.hosts)
    if quiet:
        ctx.out(json.dumps(_json_results(plan, results), indent=2))
        return 0 if results.ok else 1
    if not many:
        host = plan.hosts[0]
        value = results[host.name]
        if isinstance(value, BaseException):
            raise value
        if value.error:
            own = value.error.startswith(f"{host.name}: ")  # a connector's errors name their host
            raise CommandError(value.error if own else f"{host.name}: {value.error}",
                               hint=failure_hint(value))
        return value.exit_status
    for line in summary_lines(results, width):
        ctx.out(line)
    return 0 if results.ok else 1


def _json_results(plan, results: GroupResult) -> dict:
    hosts = {}
    for name, value in results.items():
        if isinstance(value, RunResult):
            hosts[name] = {"ok": value.ok, "exit_status": value.exit_status,
                           "stdout": value.stdout, "stderr": value.stderr,
                           "error": value.error, "duration_s": round(value.duration_s, 4)}
        elif isinstance(value, dict):
            hosts[name] = value
        else:
            hosts[name] = {"ok": False, "error": describe(value)}
    return {"target": plan.symbol, "ok": results.ok, "hosts": hosts}


def transfer(ctx, args, verb: str):
    plan = resolve_plan(ctx.session, args.target)
    pool = pool_for(ctx.session)
    many = len(plan.hosts) > 1
    if verb == "put":
        source = os.path.expanduser(args.local)
        if not os.path.isfile(source):
            what = "a directory (only files can be sent)" if os.path.isdir(source) else "no such local file"
            raise CommandError(f"put: {what}: {args.local}")
    elif many and "{host}" not in args.local and not os.path.isdir(args.local):
        raise UsageError(f"get from {len(plan.hosts)} hosts: LOCAL must contain {{host}} "
                         "or be an existing directory", hint="get @prod /etc/hostname 'out/{host}'")
    stream = ctx.env.stderr
    progress = None
    if not ctx.json and _isatty(stream):
        label = f"{verb} {os.path.basename(args.local if verb == 'put' else args.remote)}"
        progress = render.Progress(stream, label, [h.name for h in plan.hosts])
    cancel = ctx.cancel_event()  # a background job's own, so cancelling the job ends it

    def one(host):
        started = time.monotonic()
        connector = pool.get(host)
        report = (lambda done, total: progress.update(host.name, done, total)) if progress else None
        if verb == "put":
            digest = connector.put(args.local, args.remote, progress=report, cancel=cancel)
            dest = args.remote
        else:
            dest = _local_dest(args.local, host.name, args.remote, many)
            digest = connector.get(args.remote, dest, progress=report, cancel=cancel)
            if os.path.isdir(os.path.expanduser(dest)):  # the file went in with its own name
                dest = os.path.join(dest, posixpath.basename(args.remote))
        size = os.path.getsize(os.path.expanduser(args.local if verb == "put" else dest))
        return {"ok": True, "sha256": digest, "bytes": size, "path": dest,
                "seconds": time.monotonic() - started}

    try:
        results = fan_out(plan.hosts, one, parallel=at_once(ctx.spec.name, args.parallel, plan), cancel=cancel)
    finally:
        if progress:
            progress.finish()
    report_notes(ctx.err, pool, plan.hosts)
    if ctx.json:
        ctx.out(json.dumps(_json_results(plan, results), indent=2))
        return 0 if results.ok else 1
    if not many:
        value = results[plan.hosts[0].name]
        if isinstance(value, BaseException):
            raise value
    arrow = "->"  # from where the data came to where it went: LOCAL -> REMOTE, REMOTE -> LOCAL
    for name, value in results.items():
        if isinstance(value, BaseException):
            ctx.err(f"{name}: {verb} FAILED: {describe(value).removeprefix(f'{verb}: ').removeprefix(f'{name}: ')}")
            continue
        rate = value["bytes"] / max(value["seconds"], 1e-6)
        where = args.local if verb == "put" else args.remote
        ctx.out(f"{name}: {where} {arrow} {value['path'] if verb == 'get' else args.remote}  "
                f"{render.human_bytes(value['bytes'])} in {value['seconds']:.2f}s "
                f"({render.human_bytes(rate)}/s)  sha256 {value['sha256'][:16]}")
    if many:
        failed = results.failed
        ctx.out(f"-- {len(results)} hosts: {len(results) - len(failed)} ok, {len(failed)} failed")
        for line in hint_lines(results):
            ctx.out(line)
    return 0 if results.ok else 1


def _local_dest(local: str, host: str, remote: str, many: bool) -> str:
    if "{host}" in local:
        dest = local.replace("{host}", host)
    elif many:
        dest = os.path.join(local, host, os.path.basename(remote))
    else:
        return local
    os.makedirs(os.path.dirname(os.path.abspath(os.path.expanduser(dest))), exist_ok=True)
    return dest


def _isatty(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

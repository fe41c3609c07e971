"""Core built-in commands: help, exit/quit, echo, set, vars, plugins, jobs, wait."""

from __future__ import annotations

from .errors import CommandError, UsageError
from .plugin import Option, Param, Plugin

plugin = Plugin("core", help="built-in commands")


@plugin.command("help", help="List commands, or show one command's usage",
                params=[Param("command", required=False, rest=True, greedy=True,
                              complete="command")],
                examples=["help", "help tsm", "help tsm start"])
def help_(ctx, args):
    from .help import render_help

    ctx.out(render_help(ctx.session, " ".join(args.command)))


@plugin.command("exit", aliases=["quit"], help="Leave the shell (or end the script)",
                params=[Param("status", type="int", required=False)],
                examples=["exit", "exit 3"])
def exit_(ctx, args):
    from .session import ExitRequest

    raise ExitRequest(args.status or 0)


@plugin.command("echo", help="Print the arguments, expanded, on one line",
                params=[Param("words", rest=True, greedy=True, required=False)],
                examples=['echo "deploying $version"', "echo $?"])
def echo(ctx, args):
    ctx.out(" ".join(args.words))


@plugin.command("set", help="Set a shell variable",
                params=[Param("assignment", type="assignment")],
                examples=["set version=2.1.0", "echo $version"])
def set_(ctx, args):
    name, value = args.assignment
    ctx.session.vars[name] = value


@plugin.command("vars", help="List shell variables", options=[Option("--json", type="bool")])
def vars_(ctx, args):
    if args.json or ctx.json:
        import json

        ctx.out(json.dumps(ctx.session.vars, indent=2, sort_keys=True))
        return
    for name, value in sorted(ctx.session.vars.items()):
        ctx.out(f"{name}={value}")


@plugin.command("plugins", help="List loaded plugins and those that failed",
                options=[Option("--json", type="bool")])
def plugins_(ctx, args):
    session = ctx.session
    session.load_plugins()
    records = session.registry.plugins
    if args.json or ctx.json:
        import json

        ctx.out(json.dumps([{"name": r.name, "source": r.source, "loaded": r.error is None,
                             "error": r.error,
                             "commands": sorted(c.name for c in r.plugin.commands) if r.plugin else []}
                            for r in records], indent=2))
        return
    for r in records:
        if r.error is None:
            names = ", ".join(sorted({c.name.split()[0] for c in r.plugin.commands}))
            ctx.out(f"  loaded  {r.name:<10} {names}   ({r.source})")
        else:
            ctx.out(f"  FAILED  {r.name:<10} {r.error}   ({r.source})")


@plugin.command("jobs", help="List background jobs (statements ending in '&')",
                options=[Option("--json", type="bool")])
def jobs_(ctx, args):
    import time

    jobs = ctx.session.jobs.list()
    if args.json or ctx.json:
        import json

        ctx.out(json.dumps([{"id": j.id, "description": j.description, "status": j.status,
                             "exit_status": j.exit_status, "error": j.error} for j in jobs],
                           indent=2))
        return
    if not jobs:
        ctx.out("no jobs")
    now = time.time()
    for j in jobs:
        ctx.out(f"[{j.id}] {j.status:<9} {now - j.started:6.1f}s  {j.description}")


@plugin.command("wait", help="Wait for a background job, or all of them",
                params=[Param("job", type="int", required=False)],
                options=[Option("--timeout", type="float", help="give up after SECONDS")],
                examples=["deploy @staging a.tar.gz &", "wait", "wait 1"])
def wait_(ctx, args):
    jobs = ctx.session.jobs
    job = None
    if args.job is not None:
        job = jobs.get(args.job)
        if job is None:
            raise UsageError(f"wait: no job {args.job}", hint="see 'jobs'")
    if not jobs.wait(job, args.timeout):
        raise CommandError("wait: timed out with jobs still running")
    # like the shell's: the status of the job that failed (the first, when
    # waiting for all), so a job's 'exit 4' reads as 4 here too
    failed = [j for j in ([job] if job else jobs.list()) if j.status != "done"]
    return (failed[0].exit_status or 1) if failed else 0

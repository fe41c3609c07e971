"""The ``tsm`` commands: thin adapters from parsed arguments to the tsm library.

Everything heavy (psutil, tomllib, the supervisor spawn) is imported inside the
handlers, so loading the plugin costs next to nothing.
"""

from __future__ import annotations

import json

from tetra_repl.errors import CommandError, TetraError, UsageError
from tetra_repl.plugin import Option, Param, Plugin

from .layout import POLICIES
from .store import Store, check_name, dumps

plugin = Plugin("tsm", help="service manager: start, supervise and inspect processes")
plugin.group("tsm", "service manager (PM2-class): start, stop, logs, save/resurrect")

REF = Param("process", help="id, name, unique name prefix, or 'all'", complete="tsm.process")
ONE = Param("process", help="id, name or unique name prefix", complete="tsm.process")
JSON = Option("--json", type="bool", help="machine-readable output")
TIMEOUT = Option("--timeout", type="float", default=5.0, metavar="S",
                 help="seconds between SIGTERM and SIGKILL")
TRAILING = {"--name": "name", "--port": "port"}

START_DESCRIPTION = """\
Runs COMMAND detached under its own small supervisor, which keeps its logs in
DIR/tsm/runtime/processes/NAME/current.{out,err} (rotated by size), restarts it
per --restart with exponential backoff, and marks it errored after more than
--max-restarts runs in a row shorter than a second.  Returns once the process
is accepting connections on 127.0.0.1 if it has a port, else once it has run
0.5 s; otherwise fails and says why (the holder of a busy port, or the last
lines of stderr).

Where tsm's flags go: flags before the command words are tsm's; after the
first command word everything belongs to the command, except that a trailing
'--name N' or '--port P' (also '--name=N', '--port=P') at the very end is taken
as tsm's own when no '--' was written, so PM2's order works:
    tsm start python3 -m http.server 7777 --name web
To pass such a flag to the command itself, write '--' before the command:
    tsm start --name api -- python3 app.py --port 8000

One word that names a stopped process starts it again; one word that names
DIR/tsm/services/WORD.toml starts that service (keys: command, name, port,
cwd, env, restart, max_restarts, prehook; relative paths are relative to the
toml).  The toml is read each time: a stopped service process whose toml
changed starts with the new definition; a running one is left running
('tsm restart' applies it).

Name: --name, else {cwd basename}-{module or script}; '-PORT' is appended when
there is a port.  Port: --port, PORT= in the env file, PORT= in the command,
the numeric argument of a python/node server (any for -m http.server, else
1024 or more), else none.  PORT is put in the child's environment when a port
is known.  A relative --env or --cwd is relative to the current directory."""


def _store(ctx) -> Store:
    """The store, warning once per damaged meta.json it skips."""
    return Store(ctx.env.state_dir,
                 on_bad=lambda path, why: ctx.session.warn(f"skipping {path}: {why}"))


def _json(ctx, args) -> bool:
    return bool(getattr(args, "json", False) or ctx.json)


def _publish(ctx, topic: str, meta: dict, **extra) -> None:
    ctx.bus.publish(topic, {"id": meta.get("tsm_id"), "name": meta.get("name"),
                            "pid": meta.get("pid"), "port": meta.get("port"), **extra})


def _check_min(ctx, args, *limits: tuple[str, float, bool]) -> None:
    """UsageError unless each ``(dest, bound, strict)`` flag is > bound (strict) or >= bound."""
    for dest, bound, strict in limits:
        value = args.values.get(dest)
        if value is None or (value > bound if strict else value >= bound):
            continue
        word = "greater than" if strict else "at least"
        raise UsageError(f"{ctx.spec.name}: --{dest.replace('_', '-')} must be {word} {bound:g}, "
                         f"got {value:g}", hint=f"see 'help {ctx.spec.name}'")


def split_trailing(words: list[str]) -> tuple[list[str], dict]:
    """Peel tsm's own ``--name N`` / ``--port P`` off the end of the command words."""
    found: dict = {}
    words = list(words)
    while words:
        last = words[-1]
        flag, eq, value = last.partition("=")
        if eq and flag in TRAILING and TRAILING[flag] not in found:
            found[TRAILING[flag]] = value
            words.pop()
        elif len(words) >= 3 and words[-2] in TRAILING and TRAILING[words[-2]] not in found:
            found[TRAILING[words[-2]]] = last
            del words[-2:]
        else:
            break
    if "port" in found:
        if not str(found["port"]).isdigit():
            raise UsageError(f"tsm start: --port expects an integer, got {found['port']!r}",
                             hint="see 'help tsm start'")
        found["port"] = int(found["port"])
    return words, found


def _parse_size(text: str | None) -> int | None:
    if text is None:
        return None
    units = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    t = text.strip().lower().rstrip("b")
    try:
        size = int(float(t[:-1]) * units[t[-1]]) if t and t[-1] in units else int(t)
    except (ValueError, OverflowError):
        size = 0
    if size <= 0:
        raise UsageError(f"tsm start: --max-log-size expects bytes > 0 (e.g. 10M), got {text!r}",
                         hint="see 'help tsm start'")
    return size


@plugin.command(
    "tsm start", help="Start a command, a script, a stopped process or a named service",
    trailing=tuple(TRAILING),
    params=[Param("command", rest=True, greedy=True, help="the command, or one process/service name")],
    options=[Option("--name", metavar="N", help="process name (then -PORT is appended)"),
             Option("--port", type="int", metavar="P", help="port it serves (waits for it)"),
             Option("--env", type="path", metavar="FILE", help="KEY=VALUE env file for the child"),
             Option("--cwd", type="path", metavar="DIR", help="working directory"),
             Option("--restart", choices=POLICIES, default="on-failure", metavar="POLICY",
                    help="always | on-failure | no"),
             Option("--max-restarts", type="int", default=15, metavar="N",
                    help="unstable restarts in a row before errored"),
             Option("--prehook", metavar="CMD", help="shell command run before each start"),
             Option("--timeout", type="float", default=10.0, metavar="S",
                    help="how long to wait for alive / port accepting"),
             Option("--max-log-size", metavar="BYTES", help="rotate logs at this size (10M)"),
             Option("--log-keep", type="int", default=5, metavar="N", help="rotated logs kept"),
             JSON],
    description=START_DESCRIPTION,
    examples=["tsm start python3 -m http.server 7777 --name web",
              "tsm start --name api --port 8000 --env .env -- python3 app.py",
              "tsm start --restart always --max-restarts 5 -- ./worker.sh",
              "tsm start api"])
def start(ctx, args):
    from . import launch

    words = list(args.command)
    if ctx.statement.passthrough is None:
        words, trailing = split_trailing(words)
        for key, value in trailing.items():
            if key in args.given:
                raise UsageError(f"tsm start: --{key} given twice", hint="see 'help tsm start'")
            args.values[key] = value
            args.given.add(key)
    if not words:
        raise UsageError("tsm start: missing COMMAND", hint="usage: " + ctx.spec.usage)
    _check_min(ctx, args, ("timeout", 0, True), ("max_restarts", 0, False), ("log_keep", 1, False))
    if "name" in args.given:
        check_name(args.name)
    store = _store(ctx)
    store.ensure()
    request = None
    if len(words) == 1 and ctx.statement.passthrough is None:
        existing = _existing(store, words[0])
        if existing is not None:
            service = existing.get("service")  # its toml is re-read: it may have been edited
            if service and launch.load_service(store, service) is not None:
                return _start_service_again(ctx, args, store, existing, service)
            return _start_existing(ctx, args, store, existing)  # as it was
        request = launch.load_service(store, words[0])
    if request is None:
        request = launch.StartRequest(command=words)
    flags = _definition_flags(args)
    for key, value in flags.items():
        setattr(request, key, value)
    if "service" in request.extra:
        request.extra["service_overrides"] = flags  # restart applies the toml and these
    request.timeout = args.timeout
    request.log_keep = args.log_keep
    size = _parse_size(args.max_log_size)
    request.log_max_bytes = request.log_max_bytes if size is None else size
    result = launch.start_new(store, request)
    return _report_start(ctx, args, result)


def _definition_flags(args) -> dict:
    """The StartRequest fields given as flags; paths absolute (relative to here)."""
    import os

    flags = {}
    for key, field_name in (("name", "name"), ("port", "port"), ("cwd", "cwd"),
                            ("prehook", "prehook"), ("env", "env_file"), ("restart", "restart"),
                            ("max_restarts", "max_restarts")):
        if key in args.given:
            value = args.values[key]
            if field_name in ("cwd", "env_file"):
                value = os.path.abspath(os.path.expanduser(value))
            flags[field_name] = value
    return flags


def _existing(store: Store, word: str) -> dict | None:
    """The process ``word`` names: its id, its name, or the one service WORD started."""
    metas = store.all()
    found = next((m for m in metas if m["name"] == word or str(m["tsm_id"]) == word), None)
    if found is None:  # `tsm start api` again, once api-8000 exists (stopped or running)
        owned = [m for m in metas if m.get("service") == word]
        found = owned[0] if len(owned) == 1 else None
    return found


def _start_existing(ctx, args, store: Store, meta: dict):
    from . import control, launch

    if control.process_alive(meta) or control.supervisor_alive(store.proc_dir(meta["name"])):
        raise CommandError(f"{meta['name']} is already running (pid {meta.get('pid')})",
                           hint=f"'tsm restart {meta['name']}' restarts it")
    return _report_start(ctx, args, launch.relaunch(store, meta, args.timeout, count_restart=False))


def _start_service_again(ctx, args, store: Store, meta: dict, service: str):
    """`tsm start SERVICE` once its process exists: with the toml as it is now.

    Stopped (or errored) with an older definition -> the new one is applied, then it
    starts; running with an older one -> says so ('tsm restart' applies it).
    """
    from . import control, launch

    overrides = {**launch.service_overrides(meta), **_definition_flags(args)}
    definition = launch.service_definition(store, meta, overrides)
    changes = launch.changed(meta, definition)
    name = meta["name"]
    if control.process_alive(meta) or control.supervisor_alive(store.proc_dir(name)):
        if changes:
            raise CommandError(f"{name} is running an older definition of service {service} "
                               f"(changed: {', '.join(changes)})",
                               hint=f"'tsm restart {name}' applies it")
        raise CommandError(f"{name} is already running (pid {meta.get('pid')})",
                           hint=f"'tsm restart {name}' restarts it")
    if changes or overrides != launch.service_overrides(meta):
        launch.check_redefinable(store, meta, definition)
        meta = launch.redefine(store, meta, definition)
        if changes and not _json(ctx, args):
            ctx.out(f"applied the changed definition of service {service} to {meta['name']} "
                    f"({', '.join(changes)})")
    return _report_start(ctx, args, launch.relaunch(store, meta, args.timeout, count_restart=False))


def _report_start(ctx, args, result) -> int:
    meta = result.meta
    if not result.ok:
        _publish(ctx, "tsm.crashed", meta, reason=result.reason)
        raise CommandError(f"tsm start: {meta.get('name')} did not start: {result.reason}",
                           hint=f"'tsm logs {meta.get('name')} --err' shows its stderr")
    _publish(ctx, "tsm.started", meta)
    if _json(ctx, args):
        ctx.out(dumps(meta))
    else:
        port = f", port {meta['port']}" if meta.get("port") else ""
        ctx.out(f"started {meta['name']} (id {meta['tsm_id']}, pid {meta['pid']}{port})")
    return 0


@plugin.command("tsm stop", help="Stop processes: SIGTERM to the group, then SIGKILL",
                params=[REF], options=[TIMEOUT, JSON],
                examples=["tsm stop web", "tsm stop 3", "tsm stop all --timeout 2"])
def stop(ctx, args):
    from . import control

    _check_min(ctx, args, ("timeout", 0, False))
    store = _store(ctx)
    metas = store.resolve(args.process)
    idle = {m["name"]: m.get("status") for m in metas  # neither it nor a supervisor runs
            if not control.process_alive(m) and control.supervisor_pid(m) is None}
    results = control.stop_many(store, metas, timeout=args.timeout)
    for meta in results:
        _publish(ctx, "tsm.stopped", meta)
    if _json(ctx, args):
        ctx.out(dumps([{"id": m["tsm_id"], "name": m["name"], "status": m.get("status")}
                       for m in results]))
    elif not results:
        ctx.out("no processes")
    else:
        for m in results:
            was = idle.get(m["name"])
            ctx.out(f"stopped {m['name']} (id {m['tsm_id']})" if was is None else
                    f"{m['name']} (id {m['tsm_id']}) was not running ({was})")


@plugin.command("tsm restart", help="Stop then start processes again (same id, name, logs)",
                params=[REF],
                options=[TIMEOUT, Option("--start-timeout", type="float", default=10.0, metavar="S",
                                         help="how long to wait for each to come up"), JSON],
                examples=["tsm restart web", "tsm restart all"])
def restart(ctx, args):
    from . import control, launch

    _check_min(ctx, args, ("timeout", 0, False), ("start_timeout", 0, True))
    store = _store(ctx)
    plans, failures = launch.current_definitions(store, store.resolve(args.process))
    stopped = control.stop_many(store, [meta for meta, _ in plans], timeout=args.timeout)
    ready = []  # (meta, what changed)
    for meta, (_, definition) in zip(stopped, plans):
        changes = launch.changed(meta, definition) if definition is not None else []
        if changes:
            try:
                meta = launch.redefine(store, meta, definition)
            except TetraError as exc:
                failures.append(f"{meta['name']}: {exc.message}")
                continue
        ready.append((meta, changes))
    done = []
    results = launch.relaunch_many(store, [meta for meta, _ in ready], args.start_timeout,
                                   count_restart=True)
    for (meta, changes), result in zip(ready, results):
        if result.ok:
            _publish(ctx, "tsm.started", result.meta, restart=True)
            done.append(result.meta)
            if not _json(ctx, args):
                how = f", changed: {', '.join(changes)}" if changes else ""
                ctx.out(f"restarted {meta['name']} (id {meta['tsm_id']}, "
                        f"pid {result.meta['pid']}{how})")
        else:
            _publish(ctx, "tsm.crashed", result.meta, reason=result.reason)
            failures.append(f"{meta['name']}: {result.reason}")
    if _json(ctx, args):
        ctx.out(dumps(done))
    if failures:
        raise CommandError("tsm restart: " + "\n".join(failures))


@plugin.command("tsm delete", help="Stop processes and forget them (their logs too)",
                params=[REF], options=[TIMEOUT], examples=["tsm delete web", "tsm delete all"])
def delete(ctx, args):
    from . import control

    _check_min(ctx, args, ("timeout", 0, False))
    store = _store(ctx)
    metas = store.resolve(args.process)
    stopped = control.stop_many(store, metas, timeout=args.timeout)
    stuck = [m["name"] for m in stopped if control.supervisor_alive(store.proc_dir(m["name"]))]
    gone = [m for m in stopped if m["name"] not in stuck]
    store.remove([m["name"] for m in gone])
    for meta in gone:
        _publish(ctx, "tsm.deleted", meta)
        ctx.out(f"deleted {meta['name']} (id {meta['tsm_id']})")
    if stuck:
        raise CommandError(f"not deleted, their supervisors would not stop: {', '.join(stuck)}")


@plugin.command("tsm ls", help="List processes: id, name, pid, port, status, cpu, mem, uptime, restarts",
                options=[Option("--all", type="bool", help="more columns: unstable restarts, policy, command"),
                         JSON],
                description="cpu is measured since the previous 'tsm ls' when that was 0.5 s to "
                            "10 min ago, else it is the average since the process started; "
                            "'tsm monit' samples live.",
                examples=["tsm ls", "tsm ls --json", "tsm ls --all"])
def ls(ctx, args):
    from . import views

    store = _store(ctx)
    items = views.rows(store, store.all())
    if _json(ctx, args):
        ctx.out(json.dumps(items, indent=2))
    else:
        ctx.out(views.render_ls(items, wide=args.all))


@plugin.command("tsm logs", help="Show a process's output (stdout, or stderr with --err)",
                params=[ONE],
                options=[Option("--lines", "-n", type="int", default=20, metavar="N"),
                         Option("-f", "--follow", type="bool", help="keep printing new lines"),
                         Option("--err", type="bool", help="stderr instead of stdout")],
                examples=["tsm logs web", "tsm logs web --lines 100 --err", "tsm logs web -f"])
def logs(ctx, args):
    from . import logs as logs_lib

    _check_min(ctx, args, ("lines", 0, False))
    store = _store(ctx)
    meta = _one(ctx, store, args.process)
    path = store.proc_dir(meta["name"]) / ("current.err" if args.err else "current.out")
    if not args.follow:
        for line in logs_lib.last_lines(path, args.lines):
            ctx.out(line)
        return 0
    try:
        logs_lib.tail_and_follow(path, args.lines, ctx.out, warn=ctx.err,
                                 stop=ctx.session.jobs.current_cancelled)  # `… -f &`
    except KeyboardInterrupt:
        if not ctx.env.interactive:
            raise  # a script interrupted by Ctrl-C exits 130
        return 0  # in the shell, Ctrl-C is how one leaves -f: back to the prompt


def _one(ctx, store: Store, ref: str) -> dict:
    if ref == "all":
        raise UsageError(f"{ctx.spec.name}: takes one process, not 'all'",
                         hint=f"usage: {ctx.spec.usage}")
    return store.resolve(ref)[0]


@plugin.command("tsm describe", help="Everything about one process", params=[ONE], options=[JSON],
                examples=["tsm describe web"])
def describe(ctx, args):
    from . import views

    store = _store(ctx)
    info = views.describe(store, _one(ctx, store, args.process))
    ctx.out(dumps(info) if _json(ctx, args) else views.render_describe(info))


@plugin.command("tsm monit", help="Live cpu/mem table (refreshes until Ctrl-C in the shell)",
                options=[Option("--interval", type="float", default=1.0, metavar="S"), JSON],
                description="In the interactive shell it refreshes every --interval seconds until "
                            "Ctrl-C; in a script or with --json it samples once and prints.",
                examples=["tsm monit", "tsm monit --interval 2"])
def monit(ctx, args):
    from . import views

    store = _store(ctx)
    interval = max(0.1, args.interval)
    if _json(ctx, args) or not ctx.env.interactive or not _tty(ctx.env.stdout):
        items = views.monit_sample(store, min(interval, 0.5))
        ctx.out(json.dumps(items, indent=2) if _json(ctx, args) else views.render_monit(items))
        return 0
    try:
        while not ctx.session.jobs.current_cancelled():
            items = views.monit_sample(store, interval)
            ctx.out("\x1b[H\x1b[2J" + views.render_monit(items) + "\n\n(Ctrl-C to leave)")
    except KeyboardInterrupt:
        return 0


def _tty(stream) -> bool:
    """Whether ``stream`` is a terminal (a refreshing screen into a pipe never ends)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


@plugin.command("tsm ports", help="The port registry: which process serves which port",
                options=[JSON], examples=["tsm ports"])
def ports(ctx, args):
    from . import control, views

    store = _store(ctx)
    metas = {m["name"]: m for m in store.all()}
    items = []
    for name, port in store.read_ports():
        m = metas.get(name, {})
        alive = bool(m) and control.process_alive(m)
        items.append({"name": name, "port": port, "id": m.get("tsm_id"), "status": m.get("status"),
                      "listening": alive and control.port_open(port)
                      and control.held_by(port, m.get("pid")) is not False})
    if _json(ctx, args):
        ctx.out(json.dumps(items, indent=2))
    elif not items:
        ctx.out("no ports registered")
    else:
        ctx.out(views.table(["port", "name", "id", "status", "listening"],
                            [[i["port"], i["name"], i["id"], i["status"],
                              "yes" if i["listening"] else "no"] for i in items]))


@plugin.command("tsm services", help="Named service definitions (DIR/tsm/services/*.toml)",
                options=[JSON], examples=["tsm services", "tsm start api"])
def services(ctx, args):
    from . import persist, views

    store = _store(ctx)
    items = persist.services(store)
    if _json(ctx, args):
        ctx.out(json.dumps(items, indent=2))
    elif not items:
        ctx.out(f"no services defined (add {store.services_dir}/NAME.toml with command = \"…\")")
    else:
        ctx.out(views.table(["service", "command", "port", "running", "pid"],
                            [[i["service"], _service_command(i), i.get("port"),
                              "yes" if i["running"] else "no", i["pid"]] for i in items]))


def _service_command(item: dict) -> str:
    """A service's command for the table, or ``broken: why`` (the row names the file)."""
    if item.get("error"):
        return "broken: " + item["error"].removeprefix(f"{item['file']}: ")
    return " ".join(item.get("command") or [])


@plugin.command("tsm save", help="Record the running processes in DIR/tsm/dump.json",
                options=[Option("--force", type="bool",
                                help="save even when nothing runs (an empty list)")],
                description="Saves every process that runs, or that its supervisor will "
                            "restart. With nothing to save it refuses and leaves dump.json "
                            "as it is (a save typed after a reboot, before 'tsm resurrect', "
                            "would wipe it), unless --force.",
                examples=["tsm save", "tsm save --force"])
def save(ctx, args):
    from . import persist

    store = _store(ctx)
    saved = persist.save(store, force=args.force)
    ctx.out(f"saved {len(saved)} process{'es' if len(saved) != 1 else ''} to {store.dump_file}")


@plugin.command("tsm resurrect", help="Bring back the saved processes (adopting any still running)",
                options=[Option("--timeout", type="float", default=10.0, metavar="S"), JSON],
                examples=["tsm resurrect"])
def resurrect(ctx, args):
    from . import persist

    _check_min(ctx, args, ("timeout", 0, True))
    store = _store(ctx)
    outcome = persist.resurrect(store, timeout=args.timeout)
    for name, what in outcome:
        meta = store.read(name) or {"name": name}
        if not what.startswith("failed"):
            _publish(ctx, "tsm.started", meta, how=what)
    if _json(ctx, args):
        ctx.out(json.dumps([{"name": n, "result": w} for n, w in outcome], indent=2))
    else:
        for name, what in outcome:
            ctx.out(f"{name}: {what}")
    failed = [f"{n}: {w}" for n, w in outcome if w.startswith("failed")]
    if failed:
        raise CommandError(f"tsm resurrect: {len(failed)} of {len(outcome)} failed")


@plugin.command("tsm doctor", help="Report stale pid files, dead processes marked online, "
                "unsupervised processes, port conflicts, unwritable directories",
                options=[JSON], description="Exits 1 when it finds a problem; 'tsm patrol' repairs "
                "what can be repaired.", examples=["tsm doctor", "tsm patrol"])
def doctor(ctx, args):
    from . import health

    findings = health.examine(Store(ctx.env.state_dir))  # damaged meta.json: a finding
    if _json(ctx, args):
        ctx.out(json.dumps(findings, indent=2))
    elif not findings:
        ctx.out("no problems found")
    else:
        for f in findings:
            fix = f"  -> patrol: {f['repair']}" if f["repair"] else "  -> needs you"
            ctx.out(f"{f['kind']}: {f['detail']}{fix}")
    if findings:
        n = len(findings)
        raise CommandError(f"tsm doctor: {n} problem{'s' if n != 1 else ''} found",
                           hint="'tsm patrol' repairs those marked 'patrol'")
    return 0


@plugin.command("tsm patrol", help="Repair what doctor finds (adopt orphans, mark the dead, "
                "remove stale pid files)", options=[JSON], examples=["tsm patrol"])
def patrol(ctx, args):
    from . import health

    store = Store(ctx.env.state_dir)  # damaged meta.json: a finding, not a warning
    results = health.repair(store, health.examine(store),
                            lambda topic, payload: ctx.bus.publish(topic, payload))
    if _json(ctx, args):
        ctx.out(json.dumps(results, indent=2))
    elif not results:
        ctx.out("nothing to repair")
    else:
        for r in results:
            ctx.out(f"{r['kind']}: {r['detail']}: {r['result']}")
    left = sum(r["result"] == "needs you" or r["result"].startswith("failed") for r in results)
    if left:
        raise CommandError(f"tsm patrol: {left} problem{'s' if left != 1 else ''} left "
                           "that it cannot repair")
    return 0


@plugin.command("tsm startup", help="Print a systemd user unit that resurrects at boot",
                params=[Param("init", choices=["systemd"], help="the init system (systemd)")],
                examples=["tsm startup systemd > ~/.config/systemd/user/tetra-tsm.service"])
def startup(ctx, args):
    from . import persist

    ctx.out(persist.systemd_unit(ctx.env.state_dir).rstrip("\n"))


@plugin.completer("tsm.process")
def complete_process(session, prefix: str) -> list[str]:
    """Process names and ids (and 'all') starting with ``prefix``."""
    store = Store(session.env.state_dir)
    candidates = ["all", *store.names()]
    candidates += [str(m["tsm_id"]) for m in store.all()] if prefix[:1].isdigit() else []
    return [c for c in candidates if c.startswith(prefix)]

"""tetra plugin: deploy, rollback, releases (SPEC 7).

Each deploy and each rollback is one transaction of module ``deploy`` (see
:mod:`.engine`).  On ``@local`` with no topology, releases live under
``DIR/deploy/hosts/local`` unless the topology sets ``deploy_path``.
"""

from __future__ import annotations

import json
from pathlib import Path

from tetra_repl.errors import CommandError, UsageError
from tetra_repl.plugin import Option, Param, Plugin

plugin = Plugin("deploy", help="deploy, rollback, releases")

WAIT = Option("--wait", type="float", optional_value=True, const=float("inf"), metavar="SECONDS",
              help="wait for locked hosts (forever, or SECONDS)")
HEALTH = Option("--health", metavar="URL", help="health URL polled on each host")
CHECK = Option("--check", metavar="CMD", help="check command run on each host")
HEALTH_TIMEOUT = Option("--health-timeout", type="duration", metavar="S",
                        help="how long the health URL is polled (default: topology "
                             "'health_timeout', else 30)")


def _check_validation(command: str, args) -> None:
    """--health and --check are alternatives, and neither may be empty."""
    if args.health is not None and args.check is not None:
        raise UsageError(f"{command}: give --health or --check, not both", hint=f"see 'help {command}'")
    for flag, value in (("--health", args.health), ("--check", args.check)):
        if value is not None and not value.strip():
            raise UsageError(f"{command}: {flag} is empty", hint=f"see 'help {command}'")


def _wait(value):
    if value is None:
        return None
    return 1e9 if value == float("inf") else max(0.0, value)


def _start(ctx, description: str, slug: str, symbol, params: dict):
    from tetra_repl.ttm import session_store, set_active

    txn = session_store(ctx.session).create("deploy", description, target=symbol.text, slug=slug,
                                            params=params)
    set_active(ctx.session, txn)
    return txn


def check_artifact(path: Path) -> None:
    """Refuse, before any transaction starts, what is not a readable .tar.gz:
    a missing file, a directory, a file that is not a gzip-compressed tar.
    Only the first header is read (a large artifact costs nothing more)."""
    import tarfile
    import zlib

    hint = "give the path of a built .tar.gz (e.g. tar -czf app.tar.gz -C build .)"
    if path.is_dir():
        raise CommandError(f"deploy: artifact is a directory, not a .tar.gz: {path}", hint=hint)
    if not path.exists():
        raise CommandError(f"deploy: artifact not found: {path}", hint=hint)
    if not path.is_file():
        raise CommandError(f"deploy: artifact is not a regular file: {path}", hint=hint)
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
            if gzipped:
                f.seek(0)
                with tarfile.open(fileobj=f, mode="r:gz") as tar:
                    tar.next()
    except (tarfile.TarError, zlib.error, EOFError, OSError, ValueError) as exc:
        if isinstance(exc, OSError) and not isinstance(exc, tarfile.TarError) and exc.strerror:
            raise CommandError(f"deploy: cannot read artifact {path}: {exc.strerror}") from None
        gzipped = False
    if not gzipped:
        raise CommandError(f"deploy: artifact is not a .tar.gz (gzip-compressed tar): {path}", hint=hint)


def check_config(name: str) -> None:
    """Refuse, before any transaction starts, a --config that is not one readable file."""
    path = Path(name)
    if not name:
        raise UsageError("deploy: --config is empty", hint="see 'help deploy'")
    if path.is_dir():
        raise CommandError(f"deploy: config file is a directory: {name}",
                           hint="give one file; pack directories into the artifact")
    if not path.exists():
        raise CommandError(f"deploy: config file not found: {name}")
    if not path.is_file():
        raise CommandError(f"deploy: config file is not a regular file: {name}")
    try:
        with open(path, "rb") as f:
            f.read(1)
    except OSError as exc:
        raise CommandError(f"deploy: cannot read config file {name}: {exc.strerror}") from None


@plugin.command("deploy", help="Deploy an artifact to a target as one transaction",
                params=[Param("target", type="target"), Param("artifact", type="path")],
                options=[Option("--config", type="path", metavar="FILE", help="a config file shipped with it"),
                         HEALTH, CHECK, HEALTH_TIMEOUT,
                         Option("--parallel", type="int", metavar="N", help="hosts at once"),
                         Option("--keep", type="int", metavar="N",
                                help="releases kept per host (default: topology 'keep', else 5)"),
                         Option("--dry-run", type="bool", help="print every remote command; change nothing"),
                         WAIT],
                examples=["deploy @staging build/api-v2.1.0.tar.gz",
                          "deploy @prod:web api.tar.gz --health http://127.0.0.1:8080/health",
                          "deploy @local app.tar.gz --dry-run"])
def deploy(ctx, args):
    from .engine import Deploy

    _check_validation("deploy", args)
    if args.keep is not None and args.keep < 1:
        raise UsageError("deploy: --keep must be at least 1", hint="see 'help deploy'")
    if args.parallel is not None and args.parallel < 1:
        raise UsageError("deploy: --parallel must be at least 1", hint="see 'help deploy'")
    if not args.artifact:
        raise UsageError("deploy: the artifact path is empty", hint="see 'help deploy'")
    artifact = Path(args.artifact)
    check_artifact(artifact)
    if args.config is not None:
        check_config(args.config)
    from tetra_repl.ttm import targets

    targets.resolve(ctx.session, args.target)  # an unknown target starts no transaction
    params = {"kind": "deploy", "artifact": str(artifact.resolve()),
              "config": str(Path(args.config).resolve()) if args.config is not None else None,
              "health": args.health, "check": args.check, "parallel": args.parallel,
              "health_timeout": args.health_timeout,
              "keep": args.keep, "dry_run": bool(args.dry_run)}
    txn = _start(ctx, f"deploy {artifact.name} to {args.target.text}",
                 f"deploy-{args.target.name}", args.target, params)
    return Deploy(ctx, txn, wait=_wait(args.wait)).run()


@plugin.command("rollback", help="Switch a target back to an earlier release (its own transaction)",
                params=[Param("target", type="target")],
                options=[Option("--to", metavar="RELEASE",
                                help="the release (default: the one before current that was "
                                     "not itself rolled back from)"),
                         HEALTH, CHECK, HEALTH_TIMEOUT, WAIT],
                examples=["rollback @staging", "rollback @prod --to deploy-prod-20251017T143022"])
def rollback(ctx, args):
    from tetra_repl.ttm import targets

    from .rollback import Rollback

    _check_validation("rollback", args)
    if args.to is not None and not args.to.strip():
        raise UsageError("rollback: --to is empty", hint="'releases @target' lists the releases")
    targets.resolve(ctx.session, args.target)  # an unknown target starts no transaction
    params = {"kind": "rollback", "to": args.to, "health": args.health, "check": args.check,
              "health_timeout": args.health_timeout}
    txn = _start(ctx, f"rollback {args.target.text}" + (f" to {args.to}" if args.to else ""),
                 f"rollback-{args.target.name}", args.target, params)
    return Rollback(ctx, txn, wait=_wait(args.wait)).run()


@plugin.command("releases", help="List the releases on each host of a target",
                params=[Param("target", type="target")], options=[Option("--json", type="bool")],
                examples=["releases @staging", "releases @prod --json"])
def releases(ctx, args):
    from tetra_repl.ttm import targets

    from . import plan as P
    from .hosts import deploy_path

    res = targets.resolve(ctx.session, args.target)

    def one(host):
        lay = P.Layout(deploy_path(ctx.session, host), "")
        r = targets.connector(ctx.session, host).run(P.list_releases(lay).argv, timeout=60)
        if not r.ok:
            raise CommandError(f"{host.name}: {r.error or r.stderr.strip() or f'exit {r.exit_status}'}")
        names, current = P.parse_listing(r.stdout)
        left = P.rolled_back(r.stdout)
        return {"deploy_path": lay.deploy_path, "current": current, "releases": names,
                "rolled_back": [n for n in names if n in left]}

    results = targets.fan_out(res.hosts, one, parallel=res.parallel)
    out, failed = {}, []
    for name, value in results.items():
        if isinstance(value, dict):
            out[name] = value
        else:
            failed.append(f"{name}: {getattr(value, 'message', value)}")
            out[name] = {"error": getattr(value, "message", str(value))}
    if args.json or ctx.json:
        ctx.out(json.dumps(out, indent=2, sort_keys=True))
    else:
        for name, info in out.items():
            if "error" in info:
                ctx.out(f"{name}: error: {info['error']}")
                continue
            ctx.out(f"{name}  {info['deploy_path']}")
            if not info["releases"]:
                ctx.out("    (no releases)")
            for rel in reversed(info["releases"]):
                note = ("   (current)" if rel == info["current"]
                        else "   (rolled back from)" if rel in info["rolled_back"] else "")
                ctx.out(f"  {'*' if rel == info['current'] else ' '} {rel}{note}")
    if failed:
        raise CommandError(f"releases: {len(failed)} host(s) failed: {'; '.join(failed)}")


# -- hooks used by `txn resume` / `txn fail` on deploy transactions -------------

def _runner_for(ctx, txn, wait=None):
    from .engine import Deploy
    from .rollback import Rollback

    kind = txn.state()["params"].get("kind")
    return (Rollback if kind == "rollback" else Deploy)(ctx, txn, wait=wait)


def resume_hook(ctx, txn, wait: float | None = None):
    """Continue a deploy/rollback: completed steps are skipped, the rest runs;
    ``wait`` is ``txn resume --wait`` (for hosts another transaction holds)."""
    from tetra_repl.ttm import lifecycle, session_leases, set_active

    aborted = lifecycle.resume(txn, session_leases(ctx.session), wait=wait)
    set_active(ctx.session, txn)
    ctx.out(f"{txn.id}: resuming at {txn.state()['stage']}"
            + (f" (re-running unfinished: {', '.join(aborted)})" if aborted else ""))
    return _runner_for(ctx, txn, wait=wait).run()


def fail_hook(ctx, txn, reason: str):
    """End a deploy FAIL, first switching back every host it had switched."""
    from tetra_repl.ttm import lifecycle, session_leases, states

    from .compensate import compensate
    from .hosts import host_plans

    run = _runner_for(ctx, txn)
    state = txn.state()
    if state["tes_plan"] is not None and state["stage"] not in states.TERMINAL:
        try:
            res = run.assemble()
            hps = host_plans(ctx.session, res.hosts, txn.id, run.params)
            touched = [hp.name for hp in hps if f"prepare:{hp.name}" in state["steps"]]
            if touched:  # never switch a host another live transaction now holds
                lifecycle.take_leases(txn, session_leases(ctx.session), touched,
                                      label=state["target"])
            rolled, problems = compensate(run, hps)
            for host, prev in rolled:
                ctx.out(f"{host}: rolled back to {prev or '(no release)'}")
            for p in problems:
                ctx.err(f"rollback problem: {p}")
        except Exception as exc:  # noqa: BLE001 (failing must still be possible when hosts are gone)
            ctx.err(f"tetra: warning: could not compensate: {getattr(exc, 'message', exc)}")
    lifecycle.fail(txn, session_leases(ctx.session), reason)


@plugin.on_load
def _register(session):
    hooks = session.service("ttm.module_hooks", dict)
    hooks[("deploy", "resume")] = resume_hook
    hooks[("deploy", "fail")] = fail_hook

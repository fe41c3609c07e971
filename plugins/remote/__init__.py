"""tetra plugin: remote execution: targets, resolve, exec, put, get.

A thin adapter: the topology resolver and the connectors do the work; the
handlers here render (ctx.out / ctx.err) and turn results into exit statuses.
"""

from __future__ import annotations

from tetra_repl.plugin import Option, Param, Plugin

plugin = Plugin("remote", help="remote execution: targets, resolve, exec, put, get")

_TIMEOUT = Option("--timeout", type="duration", metavar="S",
                  help="end the command (on the host too) after S seconds")
_PARALLEL = Option("--parallel", type="int", metavar="N", help="at most N hosts at once")


def _topology_keys() -> str:
    from tetra_repl.topology.schema import SETTINGS

    rows = [f"  {s.name:<20} {s.help}" + (f": {' | '.join(s.choices)}" if s.choices else "")
            + (f" (default {s.default})" if s.default is not None else "")
            for s in SETTINGS.values()]
    return ("Targets come from DIR/topology.toml (or --topology FILE; JSON works too): "
            "[defaults], [aliases] and [targets.NAME] with hosts = [...]; a host is a name "
            "or { name, host, roles, ... }.  Settings merge defaults < ssh_config < target "
            "< host.  Keys:\n" + "\n".join(rows))


@plugin.command("targets", help="List targets, their roles and hosts",
                options=[Option("--json", type="bool", help="as a JSON object")],
                examples=["targets", "targets --json"], description=_topology_keys())
def targets(ctx, args):
    from . import commands

    return commands.targets(ctx, args)


@plugin.command("resolve", help="Show how an @target resolves, level by level",
                params=[Param("target", type="target", complete="target",
                              help="a target: @name, @name:role, @name[host,…]")],
                options=[Option("--json", type="bool", help="the plan as a JSON object"),
                         Option("--connect", type="bool", help="also connect to every host")],
                examples=["resolve @staging", "resolve @prod:web --connect",
                          "resolve @prod[web-1] --json"],
                description="Levels: 0 symbol, 1 alias, 2 target, 3 hosts, 4 address, "
                            "5 identity, 6 trust, 7 connector.")
def resolve(ctx, args):
    from . import commands

    return commands.resolve(ctx, args)


@plugin.command("exec", help="Run a command on every host of a target",
                params=[Param("target", type="target", complete="target",
                              help="a target: @name, @name:role, @name[host,…]"),
                        Param("command", rest=True, greedy=True,
                              help="the command and its arguments, one word each")],
                options=[_TIMEOUT, _PARALLEL],
                examples=["exec @staging -- uptime", "@prod:web systemctl is-active api",
                          "@web sh -c 'echo $HOME | wc -c'", "exec @prod --timeout 30 -- df -h"],
                description="Each word arrives as exactly one argument on the host "
                            "(shell-quoted); for shell features run sh -c '...'. "
                            "A timeout or Ctrl-C ends the command on the host too.")
def exec_(ctx, args):
    from . import commands

    return commands.exec_(ctx, args)


@plugin.command("put", help="Upload a file to every host of a target (sha256-verified)",
                params=[Param("target", type="target", complete="target",
                              help="a target: @name, @name:role, @name[host,…]"),
                        Param("local", type="path", complete="path", help="file on this machine"),
                        Param("remote", help="path on the host (a directory keeps the name)")],
                options=[_PARALLEL],
                examples=["put @staging build/api.tar.gz /tmp/api.tar.gz",
                          "put @prod:web nginx.conf /etc/nginx/"])
def put(ctx, args):
    from . import commands

    return commands.transfer(ctx, args, "put")


@plugin.command("get", help="Download a file from every host of a target (sha256-verified)",
                params=[Param("target", type="target", complete="target",
                              help="a target: @name, @name:role, @name[host,…]"),
                        Param("remote", help="file on the host"),
                        Param("local", type="path", complete="path",
                              help="where to save it ({host} is replaced)")],
                options=[_PARALLEL],
                examples=["get @staging /var/log/app.log app.log",
                          "get @prod /etc/hostname 'names/{host}.txt'"],
                description="From several hosts, LOCAL must contain {host} or be a "
                            "directory (files land in DIR/<host>/).")
def get(ctx, args):
    from . import commands

    return commands.transfer(ctx, args, "get")


@plugin.completer("target")
def complete_target(session, prefix: str) -> list[str]:
    """``@sta`` -> ``@staging``; ``@prod:`` -> roles; ``@prod[`` -> host names."""
    from .complete import targets as complete

    return complete(session, prefix)

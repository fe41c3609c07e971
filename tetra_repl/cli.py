"""Command line: argv -> mode -> exit status.  The only place that calls sys.exit.

    tetra                      interactive shell (stdin is a terminal)
    tetra -c 'cmd1; cmd2'      run statements
    tetra FILE.tetra           run a script file
    tetra < script             stdin is not a terminal: run it as a script
    tetra deploy @stg a.tgz    argv (2+ words) is one statement
"""

from __future__ import annotations

import os
import sys

from .errors import ExitStatus, Terminated

USAGE = """\
usage: tetra [OPTIONS] [-c STATEMENTS | FILE.tetra [OPTIONS] | COMMAND ARGS…]

options:
  -c STATEMENTS        run the statements (separated by ';' or new lines), then exit
  --dir DIR            state directory (else $TETRA_DIR, else ~/.tetra)
  --topology FILE      topology file (else $TETRA_TOPOLOGY, else DIR/topology.toml|json)
  --ssh-config FILE    ssh_config file (else $TETRA_SSH_CONFIG, else ~/.ssh/config)
  --keep-going         in scripts, run on after a failing statement (exit 1 at the end)
  --json               machine-readable output where a command has one
  --no-color           no colours
  --debug              show tracebacks
  --version            print the version
  -h, --help           this help
"""

_VALUE_OPTIONS = {"--dir": "state_dir", "--topology": "topology_file",
                  "--ssh-config": "ssh_config_file", "-c": "command"}
_SWITCHES = {"--json": "json", "--no-color": "no_color", "--debug": "debug",
             "--keep-going": "keep_going"}


class _Usage(Exception):
    pass


def parse_argv(argv: list[str]) -> tuple[dict, list[str]]:
    """Split global options from the rest (the first non-option word ends options).

    A script takes no arguments, so the words after a script file are global
    options too: ``tetra deploy.tetra --keep-going``.
    """
    opts: dict = {}
    i, dashes = _options(argv, 0, opts)
    rest = argv[i:]
    if dashes or len(rest) < 2 or not _is_script(rest):
        return opts, rest
    script_opts: dict = {}
    j, dashes = _options(rest, 1, script_opts)
    if dashes or j < len(rest):
        j -= dashes
        raise _Usage(f"unexpected argument {rest[j]!r} after the script {rest[0]}"
                     " (a script takes no arguments; options go before or after it)")
    if "command" in script_opts:
        raise _Usage(f"-c and the script {rest[0]} together: give one of them")
    opts.update(script_opts)
    return opts, rest[:1]


def _options(argv: list[str], i: int, opts: dict) -> tuple[int, bool]:
    """Read global options from ``argv[i]`` on into ``opts``: the index where they
    end, and whether a ``--`` ended them (the index is then past it)."""
    while i < len(argv):
        word = argv[i]
        if word == "--":
            return i + 1, True
        if not word.startswith("-") or word == "-":
            break
        name, eq, value = word.partition("=")
        if name in _VALUE_OPTIONS:
            if not eq:
                if i + 1 >= len(argv):
                    raise _Usage(f"option {name} needs a value")
                i += 1
                value = argv[i]
            opts[_VALUE_OPTIONS[name]] = value
        elif word in _SWITCHES:
            opts[_SWITCHES[word]] = True
        elif word in ("-h", "--help"):
            opts["help"] = True
        elif word == "--version":
            opts["version"] = True
        else:
            raise _Usage(f"unknown option {word!r}")
        i += 1
    return i, False


def _is_script(rest: list[str]) -> bool:
    """Whether ``rest`` starts with a script file rather than a command: a name
    ending in .tetra, or an existing file named alone, by a path (``./deploy``,
    as a ``#!`` line runs it), or followed only by options."""
    first = rest[0]
    if first.endswith(".tetra"):
        return True
    if len(rest) == 1:
        return os.path.exists(first)
    return os.path.isfile(first) and ("/" in first or all(w.startswith("-") for w in rest[1:]))


def _terminate(signum, frame) -> None:
    raise Terminated()


def main(argv: list[str] | None = None) -> None:
    import signal

    signal.signal(signal.SIGTERM, _terminate)
    try:
        status = run(sys.argv[1:] if argv is None else argv)
    except KeyboardInterrupt as exc:  # Ctrl-C while starting up (imports, plugins), before run's own
        sys.stderr.write("tetra: interrupted\n")
        status = _interrupted(exc)
    sys.exit(status)


def _interrupted(exc: KeyboardInterrupt) -> int:
    return ExitStatus.TERMINATED if isinstance(exc, Terminated) else ExitStatus.INTERRUPTED


def run(argv: list[str]) -> int:
    try:
        opts, rest = parse_argv(argv)
    except _Usage as exc:
        sys.stderr.write(f"tetra: {exc}\n  hint: tetra --help\n")
        return ExitStatus.USAGE
    if opts.get("help"):
        sys.stdout.write(USAGE)
        return 0
    if opts.get("version"):
        from importlib.metadata import version

        sys.stdout.write(f"tetra {version('tetra-repl')}\n")
        return 0

    from .env import Environment, default_state_dir
    from .session import ExitRequest, OutputClosed, Session

    interactive = "command" not in opts and not rest and sys.stdin.isatty()
    reads_stdin_script = "command" not in opts and not rest and not interactive
    color = (not opts.get("no_color") and "NO_COLOR" not in os.environ
             and sys.stdout.isatty() and not reads_stdin_script)
    env = Environment(
        state_dir=opts.get("state_dir") or default_state_dir(),
        topology_file=opts.get("topology_file"),
        ssh_config_file=opts.get("ssh_config_file"),
        json=bool(opts.get("json")), color=color, debug=bool(opts.get("debug")),
        interactive=interactive, keep_going=bool(opts.get("keep_going")),
    )
    session = Session(env)
    try:
        if interactive:
            from .shell import run_shell

            return run_shell(session)
        source = _source(opts, rest, session)
        if source is None:
            return ExitStatus.USAGE
        status = session.run_source(source, script=True)
        stopped = status in (ExitStatus.INTERRUPTED, ExitStatus.TERMINATED, ExitStatus.OUTPUT_CLOSED)
        if session.has_jobs and session.jobs.running() and not stopped:
            # Work handed off is never dropped, not even by a script that stopped on a
            # failure (an interrupt ends the jobs instead: session.close cancels them).
            if status != 0:
                session.err("tetra: waiting for the background jobs still running (Ctrl-C cancels them)")
            session.jobs.wait()
            if status == 0 and any(j.status != "done" for j in session.jobs.list()):
                status = ExitStatus.ERROR
        if session.output_closed:
            return ExitStatus.OUTPUT_CLOSED
        return status
    except ExitRequest as request:
        session.jobs.wait()
        return request.status
    except OutputClosed:
        return ExitStatus.OUTPUT_CLOSED
    except KeyboardInterrupt as exc:
        if session.output_closed:
            return ExitStatus.OUTPUT_CLOSED
        sys.stderr.write("tetra: interrupted\n")
        return _interrupted(exc)
    finally:
        session.close()


def _source(opts: dict, rest: list[str], session) -> str | None:
    if "command" in opts:
        if rest:
            session.err(f"tetra: unexpected arguments after -c: {' '.join(rest)}")
            return None
        return opts["command"]
    if not rest:
        return sys.stdin.read()
    if len(rest) == 1 and _is_script(rest):
        try:
            with open(rest[0], encoding="utf-8") as f:
                return f.read()
        except OSError as exc:
            session.err(f"tetra: cannot read script {rest[0]}: {exc.strerror}")
            return None
        except UnicodeDecodeError as exc:
            session.err(f"tetra: cannot read script {rest[0]}: not UTF-8 text "
                        f"(byte {exc.start + 1})")
            return None
    from .language.printer import argv_to_source

    return argv_to_source(rest)

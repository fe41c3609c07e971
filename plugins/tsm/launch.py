"""Starting processes: what a command is, what it is called, which port it serves.

Names and ports follow SPEC 8::

    python -m http.server 8000  (in ~/my-api)  -> my-api-http-8000, port 8000
    node app.js 3000            (in ~/backend) -> backend-app-3000,  port 3000
    --name web --port 7777                     -> web-7777
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from tetra_repl.errors import CommandError, UsageError

from . import control, envfile
from .layout import POLICIES
from .store import Store, check_name, sanitize
from .supervisor import DEFAULTS

_PYTHON = re.compile(r"python(\d+(\.\d+)?)?\Z")
_ASSIGN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
INTERPRETERS = {"node": "node", "nodejs": "node", "bash": "bash", "sh": "bash", "zsh": "bash",
                "dash": "bash"}
# Flags of known servers that take no value: a number after any other flag is
# that flag's value, not the port (`app.py --port 1 …`: the app's own flag).
_SWITCHES = {"http": ("--cgi",)}
# Modules whose numeric argument is their port whatever its size; for any other
# script (`sleeper.py 60`, `worker.js 4`) only a number that looks like a server
# port, from PORT_FLOOR on, is taken for one (`app.js 3000`).
KNOWN_SERVERS = ("http.server", "SimpleHTTPServer")
PORT_FLOOR = 1024
SCRIPT_TYPES = {".py": ("python3", "python"), ".js": ("node", "node"), ".mjs": ("node", "node"),
                ".cjs": ("node", "node"), ".sh": ("bash", "bash")}


@dataclass
class StartRequest:
    """What the user asked ``tsm start`` for (flags plus command words)."""

    command: list[str]
    name: str | None = None
    port: int | None = None
    env_file: str | None = None
    cwd: str | None = None
    restart: str = "on-failure"
    max_restarts: int = 15
    prehook: str | None = None
    timeout: float = 10.0
    log_max_bytes: int = DEFAULTS["log_max_bytes"]
    log_keep: int = DEFAULTS["log_keep"]
    kill_timeout: float = DEFAULTS["kill_timeout"]
    extra: dict = field(default_factory=dict)


@dataclass
class Analysis:
    """What a command is: its argv (with interpreter), type and naming label."""

    command: list[str]
    interpreter: str | None
    process_type: str
    label: str  # module or script stem or binary name, for the derived name
    args: list[str]  # the arguments after the script/module
    module: str | None = None  # the module of `python -m MODULE`


def analyse(command: list[str]) -> Analysis:
    """Interpreter and process type of ``command``; ``app.py`` gains ``python3``."""
    words = list(command)
    lead = 0
    while lead < len(words) and _ASSIGN.match(words[lead]):
        lead += 1
    if lead == len(words):
        raise UsageError("tsm start: no command given", hint="tsm start [--name N] -- COMMAND…")
    first = words[lead]
    if not first.strip():
        raise UsageError("tsm start: the command is an empty word",
                         hint="tsm start [--name N] -- COMMAND…")
    base = os.path.basename(first)
    ext = os.path.splitext(base)[1]
    if ext in SCRIPT_TYPES and not _PYTHON.match(base):
        interp, kind = SCRIPT_TYPES[ext]
        words.insert(lead, interp)
        base = interp
    rest = words[lead + 1:]
    if _PYTHON.match(base):
        kind = "python"
        if "-m" in rest and rest.index("-m") + 1 < len(rest):
            i = rest.index("-m")
            return Analysis(words, _which(words[lead]), kind, rest[i + 1].split(".")[0],
                            rest[i + 2:], module=rest[i + 1])
    elif base in INTERPRETERS:
        kind = INTERPRETERS[base]
    else:
        return Analysis(words, None, "binary", base, rest)
    script_at = next((i for i, w in enumerate(rest) if not w.startswith("-")), None)
    if script_at is None:
        return Analysis(words, _which(words[lead]), kind, base, [])
    label = os.path.splitext(os.path.basename(rest[script_at]))[0]
    return Analysis(words, _which(words[lead]), kind, label, rest[script_at + 1:])


def _which(program: str) -> str:
    return shutil.which(program) or program


def discover_port(request: StartRequest, analysis: Analysis, env: dict[str, str]) -> int | None:
    """``--port``, PORT= in the env file, PORT= in the command, a server's numeric argument.

    The first positional argument of a python/node program, when it is a number: any
    port for a known server module (``-m http.server 80``), else from 1024 on
    (``app.js 3000`` serves 3000; ``sleeper.py 60`` sleeps a minute).
    """
    if request.port is not None:
        return request.port
    for value in (env.get("PORT"),
                  *(w.split("=", 1)[1] for w in analysis.command if w.startswith("PORT="))):
        if value and value.isdigit():
            return int(value)
    if analysis.process_type in ("python", "node"):
        switches = _SWITCHES.get(analysis.label, ())
        floor = 1 if analysis.module in KNOWN_SERVERS else PORT_FLOOR
        words = iter(analysis.args)
        for word in words:
            if word.isdigit():
                return int(word) if floor <= int(word) < 65536 else None
            if word.startswith("-") and "=" not in word and word not in switches:
                next(words, None)  # a flag's value (`--bind 127.0.0.1 7777`, `--port 1`)
            elif not word.startswith("-"):
                break
    # The command's own flags are its business (SPEC 3: `-- python3 app.py --port 1`
    # passes them verbatim); a trailing `--port` before any `--` is tsm's already.
    return None


def derive_name(request: StartRequest, analysis: Analysis, cwd: str, port: int | None) -> str:
    """``--name`` or ``{cwd basename}-{module or script}``, then ``-{port}``."""
    if request.name:
        name = check_name(request.name)
    else:
        name = sanitize(f"{os.path.basename(cwd.rstrip('/')) or 'root'}-{analysis.label}")
    if port and not name.endswith(f"-{port}"):
        name = f"{name}-{port}"
    if name == "all":  # 'tsm stop all' means every process: this one could not be named
        raise UsageError("tsm start: 'all' cannot be a process name",
                         hint="it means every process in 'tsm stop|restart|delete all'")
    return check_name(name)


def build_meta(request: StartRequest) -> tuple[dict, bool]:
    """meta.json for a new process (no id yet) and whether its name was explicit."""
    cwd = os.path.abspath(os.path.expanduser(request.cwd or os.getcwd()))
    if not os.path.isdir(cwd):
        raise CommandError(f"tsm start: no such directory {cwd}")
    env: dict[str, str] = {}
    env_file = None
    if request.env_file:  # relative to where tsm runs, as every path argument (not to --cwd)
        env_file = os.path.abspath(os.path.expanduser(request.env_file))
        try:
            env = envfile.load(env_file)
        except OSError as exc:
            raise CommandError(f"tsm start: cannot read env file {env_file}: {exc.strerror}") from None
        except envfile.EnvFileError as exc:
            raise CommandError(f"tsm start: {exc}") from None
    if request.restart not in POLICIES:
        raise UsageError(f"tsm start: --restart must be one of {', '.join(POLICIES)}")
    analysis = analyse(request.command)
    port = discover_port(request, analysis, env)
    if port is not None and not 0 < port < 65536:
        raise UsageError(f"tsm start: port {port} is out of range")
    meta = {
        "name": derive_name(request, analysis, cwd, port),
        "pid": None, "command": analysis.command, "port": port, "cwd": cwd,
        "interpreter": analysis.interpreter, "process_type": analysis.process_type,
        "env_file": env_file, "prehook": request.prehook, "start_time": None,
        "status": "launching", "restarts": 0, "unstable_restarts": 0,
        "restart_policy": request.restart, "max_restarts": request.max_restarts,
        "min_uptime": DEFAULTS["min_uptime"], "kill_timeout": request.kill_timeout,
        "log_max_bytes": request.log_max_bytes, "log_keep": request.log_keep,
        "created_at": time.time(), **request.extra,
    }
    return meta, bool(request.name)


def check_port_free(port: int | None, store: Store) -> None:
    """Fail fast, naming the holder, if something already listens on ``port``."""
    if not port or not control.port_open(port):
        return
    holder = control.port_holder(port)
    owner = next((m["name"] for m in store.all() if m.get("port") == port
                  and m.get("status") == "online" and control.process_alive(m)), None)
    what = holder or "another process"
    if owner:
        what += f", tsm process {owner!r}"
    raise CommandError(f"tsm start: port {port} is already in use by {what}",
                       hint="stop that process or choose another --port")


def start_new(store: Store, request: StartRequest) -> control.StartResult:
    """Allocate, spawn a supervisor and wait until alive (and accepting on the port)."""
    meta, explicit = build_meta(request)
    check_port_free(meta["port"], store)
    meta = store.allocate(meta, explicit)
    return launch(store, meta, request.timeout)


def launch(store: Store, meta: dict, timeout: float, adopt: bool = False) -> control.StartResult:
    """Spawn the supervisor of an allocated process and wait for it to come up."""
    control.spawn_supervisor(store.proc_dir(meta["name"]), adopt=adopt)
    return settle(store, meta, timeout)


def settle(store: Store, meta: dict, timeout: float) -> control.StartResult:
    """Wait for a spawned process to come up; a failed start is stopped and marked errored."""
    name = meta["name"]
    result = control.wait_started(store, name, meta.get("port"), timeout)
    if result.ok or control.is_final(result.meta):
        return result
    # A start that failed must not leave a crash loop (or a late starter) behind.
    # A supervisor that holds its lock but has not written its pid yet is waited
    # for, so that it can be stopped; one that has not taken the lock yet finds
    # the process errored when it does, and exits without starting it.
    procdir = store.proc_dir(name)
    fresh = store.read(name) or result.meta
    until = time.monotonic() + 2.0
    while (control.supervisor_pid(fresh) is None and control.supervisor_alive(procdir)
           and time.monotonic() < until):
        time.sleep(0.01)
        fresh = store.read(name) or fresh
    final = control.stop_many(store, [fresh], timeout=2.0)[0]
    store.update_unsupervised(name, status="errored", error=result.reason.splitlines()[0])
    result.meta = store.read(name) or final
    return result


def relaunch(store: Store, meta: dict, timeout: float, count_restart: bool) -> control.StartResult:
    """Start an existing (stopped) process again in its directory, keeping its id."""
    return relaunch_many(store, [meta], timeout, count_restart)[0]


def relaunch_many(store: Store, metas: list[dict], timeout: float,
                  count_restart: bool) -> list[control.StartResult]:
    """Start stopped processes again: every supervisor is spawned first, then all are awaited."""
    spawned: list[dict | control.StartResult] = []
    for meta in metas:
        try:
            if meta.get("port"):
                check_port_free(meta["port"], store)
        except CommandError as exc:
            reason = exc.message.removeprefix("tsm start: ")
            spawned.append(control.StartResult(False, meta, reason))
            continue
        fields = {"status": "launching", "error": None, "exit_code": None}
        if count_restart:
            fields["restarts"] = int(meta.get("restarts") or 0) + 1
        fresh = store.update_unsupervised(meta["name"], **fields)
        if fresh is None:
            spawned.append(control.StartResult(False, meta, "its supervisor is still running"))
            continue
        control.spawn_supervisor(store.proc_dir(fresh["name"]))
        spawned.append(fresh)
    return [s if isinstance(s, control.StartResult) else settle(store, s, timeout)
            for s in spawned]


def load_service(store: Store, name: str) -> StartRequest | None:
    """The StartRequest a ``services/NAME.toml`` describes, or None if there is none."""
    import shlex
    import tomllib

    path = store.services_dir / f"{name}.toml"
    if not name_ok(name) or not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CommandError(f"cannot read service {path}: {exc}") from None
    command = data.get("command")
    if isinstance(command, str):
        command = shlex.split(command)
    if not command or not isinstance(command, list):
        raise CommandError(f"{path}: 'command' must be a string or a list of words")
    base = Path(path).parent
    env_file = data.get("env") or data.get("env_file")
    cwd = data.get("cwd")
    port = data.get("port")
    if isinstance(port, str) and port.isdigit():
        port = int(port)
    if port is not None and (not isinstance(port, int) or isinstance(port, bool)):
        raise CommandError(f"{path}: 'port' must be an integer, got {port!r}")
    service_name = data.get("name", name)
    if not isinstance(service_name, str) or not name_ok(service_name):
        raise CommandError(f"{path}: invalid name {service_name!r}",
                           hint="use letters, digits and . _ - @ + (no '/', no '..')")
    try:
        return StartRequest(
            command=[str(w) for w in command], name=service_name,
            port=port, env_file=str(base / env_file) if env_file else None,
            cwd=str(base / cwd) if cwd else None, restart=data.get("restart", "on-failure"),
            max_restarts=int(data.get("max_restarts", 15)), prehook=data.get("prehook"),
            extra={"service": name})
    except (TypeError, ValueError) as exc:
        raise CommandError(f"{path}: {exc}") from None


def name_ok(name: str) -> bool:
    """Whether ``name`` is a valid process name (see ``store.check_name``)."""
    try:
        check_name(name)
        return True
    except UsageError:
        return False

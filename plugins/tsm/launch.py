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

from tetra_repl.errors import CommandError, TetraError, UsageError

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


# The keys of services/NAME.toml and what each must be (README, `help tsm start`).
SERVICE_KEYS = {
    "command": "a string or a non-empty list of words",
    "name": "a process name",
    "port": "an integer from 1 to 65535",
    "cwd": "a directory path (a non-empty string)",
    "env": "an env file path (a non-empty string)",
    "env_file": "an env file path (a non-empty string)",
    "restart": "one of " + ", ".join(POLICIES),
    "max_restarts": "an integer ≥ 0",
    "prehook": "a shell command (a string)",
}
# meta.json fields a service definition sets -> the toml key that sets each.
DEFINITION = {"name": "name", "command": "command", "cwd": "cwd", "port": "port",
              "env_file": "env", "prehook": "prehook", "restart_policy": "restart",
              "max_restarts": "max_restarts"}
# StartRequest fields that `tsm start SERVICE --flag …` may set over the toml.
OVERRIDABLE = ("name", "port", "cwd", "env_file", "prehook", "restart", "max_restarts")


def load_service(store: Store, name: str) -> StartRequest | None:
    """The StartRequest ``services/NAME.toml`` describes, or None if there is none.

    Every key is checked: an unknown key, a wrong type or value is a CommandError
    naming the file and the key.  Relative paths are relative to the toml's directory.
    """
    import tomllib

    path = store.services_dir / f"{name}.toml"
    if not name_ok(name) or not path.is_file():
        return None
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandError(f"cannot read service {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise CommandError(f"cannot read service {path}: {exc}") from None
    settings = _service_settings(path, data)
    base = path.parent
    for key in ("cwd", "env_file"):
        if key in settings:
            settings[key] = os.path.join(base, os.path.expanduser(settings[key]))
    settings.setdefault("name", name)
    return StartRequest(**settings, extra={"service": name})


def _service_settings(path: Path, data: dict) -> dict:
    """The StartRequest fields of a service toml, each checked (CommandError naming the key)."""
    import difflib
    import shlex

    def fail(key: str, value, hint: str | None = None):
        raise CommandError(f"{path}: {key!r} must be {SERVICE_KEYS[key]}, got {_shown(value)}",
                           hint=hint)

    for key in data:
        if key not in SERVICE_KEYS:
            close = difflib.get_close_matches(key, list(SERVICE_KEYS), n=1, cutoff=0.6)
            raise CommandError(f"{path}: unknown key {key!r}"
                               + (f" (did you mean {close[0]!r}?)" if close else ""),
                               hint=None if close else "known keys: " + ", ".join(SERVICE_KEYS))
    if "command" not in data:
        raise CommandError(f"{path}: missing key 'command'", hint='e.g. command = "python3 app.py"')
    if "env" in data and "env_file" in data:
        raise CommandError(f"{path}: give 'env' or 'env_file', not both")
    out: dict = {}
    command = data["command"]
    if isinstance(command, str):
        try:
            command = shlex.split(command)
        except ValueError as exc:
            raise CommandError(f"{path}: 'command' cannot be split into words: {exc}") from None
    elif isinstance(command, list) and all(_scalar(w) for w in command):
        command = [str(w) for w in command]
    else:
        command = None
    if not command or not command[0].strip():
        fail("command", data["command"])
    out["command"] = command
    if "name" in data:
        value = data["name"]
        if not isinstance(value, str) or not name_ok(value) or value == "all":
            raise CommandError(f"{path}: invalid name {value!r}",
                               hint="use letters, digits and . _ - @ + (no '/', no '..'; not 'all')")
        out["name"] = value
    if "port" in data:
        value = data["port"]
        port = int(value) if isinstance(value, str) and value.isdigit() else value
        if not _integer(port) or not 0 < port < 65536:
            fail("port", value)
        out["port"] = port
    for key, field_name in (("cwd", "cwd"), ("env", "env_file"), ("env_file", "env_file")):
        if key in data:
            if not isinstance(data[key], str) or not data[key].strip():
                fail(key, data[key])
            out[field_name] = data[key]
    if "restart" in data:
        if data["restart"] not in POLICIES:
            fail("restart", data["restart"])
        out["restart"] = data["restart"]
    if "max_restarts" in data:
        if not _integer(data["max_restarts"]) or data["max_restarts"] < 0:
            fail("max_restarts", data["max_restarts"])
        out["max_restarts"] = data["max_restarts"]
    if "prehook" in data:
        if not isinstance(data["prehook"], str):
            fail("prehook", data["prehook"], hint='e.g. prehook = "make build"')
        out["prehook"] = data["prehook"] or None
    return out


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _scalar(value) -> bool:
    return isinstance(value, (str, int, float)) and not isinstance(value, bool)


def _shown(value) -> str:
    """A toml value as the user wrote it, roughly: 'text', 5, true, a list, a table."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (str, int, float)):
        return repr(value)
    return {list: "a list", dict: "a table"}.get(type(value), type(value).__name__)


def service_overrides(meta: dict) -> dict:
    """The flags ``tsm start SERVICE --flag …`` recorded over the toml for this process."""
    found = meta.get("service_overrides")
    return {k: v for k, v in found.items() if k in OVERRIDABLE} if isinstance(found, dict) else {}


def service_definition(store: Store, meta: dict, overrides: dict) -> dict | None:
    """meta.json as the service of process ``meta`` defines it now: its toml as it
    is, plus ``overrides``; None when the toml is gone.  CommandError if it is broken.

    A service whose toml names no cwd keeps the directory it was first started in.
    """
    request = load_service(store, meta["service"])
    if request is None:
        return None
    if request.cwd is None:
        request.cwd = meta.get("cwd")
    for key, value in overrides.items():
        setattr(request, key, value)
    request.extra["service_overrides"] = overrides
    return build_meta(request)[0]


def changed(meta: dict, definition: dict) -> list[str]:
    """The toml keys whose values differ between a process and its service's definition."""
    return [key for field_name, key in DEFINITION.items()
            if meta.get(field_name) != definition.get(field_name)]


def check_redefinable(store: Store, meta: dict, definition: dict) -> None:
    """CommandError if applying ``definition`` would take another process's name."""
    new = definition["name"]
    if new != meta["name"] and new in store.names():
        raise CommandError(f"its service now names it {new!r}, which another process has",
                           hint=f"'tsm delete {new}' first, or change the name")


def current_definitions(store: Store, metas: list[dict]) -> tuple[list[tuple[dict, dict | None]],
                                                                   list[str]]:
    """Each process with its service's definition as it is now (None: no service, or
    its toml is gone), and a failure line for each whose toml is broken (left out)."""
    plans: list[tuple[dict, dict | None]] = []
    failures = []
    for meta in metas:
        definition = None
        if meta.get("service"):
            try:
                definition = service_definition(store, meta, service_overrides(meta))
                if definition is not None:
                    check_redefinable(store, meta, definition)
            except TetraError as exc:
                failures.append(f"{meta['name']}: not restarted: {exc.message}")
                continue
        plans.append((meta, definition))
    return plans, failures


def redefine(store: Store, meta: dict, definition: dict) -> dict:
    """Apply a service's current ``definition`` to its stopped process (renamed if the
    name changed; id and logs kept); the new meta."""
    fields = {k: definition.get(k) for k in (*DEFINITION, "interpreter", "process_type",
                                             "service", "service_overrides") if k != "name"}
    fresh = store.redefine(meta["name"], definition["name"], **fields)
    if fresh is None:
        raise CommandError(f"{meta['name']}: its supervisor is still running")
    return fresh


def name_ok(name: str) -> bool:
    """Whether ``name`` is a valid process name (see ``store.check_name``)."""
    try:
        check_name(name)
        return True
    except UsageError:
        return False

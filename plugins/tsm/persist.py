"""``save`` / ``resurrect``, service definitions and the systemd unit.

Resurrect never starts a duplicate: a saved process whose pid still runs with
the saved create time is adopted (a new supervisor attaches to it) instead of
being started again.
"""

from __future__ import annotations

import os
import re
import sys
import time
from pathlib import Path

from tetra_repl.errors import CommandError, TetraError
from tetra_repl.storage import read_json, write_json

from . import control, launch
from .store import Store

SAVED_FIELDS = ("tsm_id", "name", "command", "cwd", "port", "env_file", "prehook",
                "restart_policy", "max_restarts", "min_uptime", "kill_timeout", "log_max_bytes",
                "log_keep", "interpreter", "process_type", "pid", "pid_create_time", "service")


def save(store: Store, force: bool = False) -> list[dict]:
    """Write dump.json with every process that runs or that its supervisor will run
    again (crashed, restart pending); returns what was saved.

    With nothing to save it refuses (CommandError) unless ``force``: a save typed
    after a reboot, before resurrect, would otherwise wipe the dump.
    """
    store.ensure()
    saved = [{k: m.get(k) for k in SAVED_FIELDS} for m in store.all() if _will_run(store, m)]
    if not saved and not force:
        raise CommandError(f"nothing is running: {store.dump_file} was left as it is",
                           hint="'tsm resurrect' brings back what it holds; "
                           "'tsm save --force' saves an empty list")
    write_json(store.dump_file, {"saved_at": time.time(), "processes": saved})
    return saved


def _will_run(store: Store, meta: dict) -> bool:
    """Running, or crashed (or launching) with a live supervisor that will start it."""
    if meta.get("status") not in ("online", "launching", "crashed"):
        return False
    return control.process_alive(meta) or control.supervisor_alive(store.proc_dir(meta["name"]))


def load_dump(store: Store) -> list[dict]:
    """The processes recorded in dump.json (CommandError if none or unreadable)."""
    from tetra_repl.errors import CommandError

    try:
        data = read_json(store.dump_file)
    except FileNotFoundError:
        raise CommandError(f"nothing saved ({store.dump_file} does not exist)",
                           hint="'tsm save' records the running processes") from None
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot read {store.dump_file}: {exc}") from None
    processes = data.get("processes") if isinstance(data, dict) else None
    if not isinstance(processes, list):
        raise CommandError(f"cannot read {store.dump_file}: no \"processes\" list",
                           hint="'tsm save' writes it again")
    return [p for p in processes if isinstance(p, dict) and p.get("name")]


def resurrect(store: Store, timeout: float = 10.0) -> list[tuple[str, str]]:
    """Bring back every saved process: ``[(name, what happened)]``.

    Running and supervised -> left alone; running without a supervisor ->
    adopted; not running -> started again with the saved settings.
    """
    store.ensure()
    outcome: list[tuple[str, str]] = []
    waiting: list[dict] = []
    for saved in load_dump(store):
        name = saved["name"]
        if not isinstance(name, str) or not launch.name_ok(name):  # a hand-edited dump.json
            outcome.append((str(name), "failed: invalid process name"))
            continue
        current = store.read(name)
        if current is not None and control.process_alive(current):
            if control.supervisor_alive(store.proc_dir(name)):
                outcome.append((name, f"already running (pid {current['pid']})"))
            else:
                control.spawn_supervisor(store.proc_dir(name), adopt=True)
                waiting.append({**current, "_how": f"adopted running pid {current['pid']}"})
            continue
        if current is None and control.process_alive(saved):
            meta = {k: v for k, v in saved.items() if k != "tsm_id"}
            meta.update(status="online", restarts=0, unstable_restarts=0,
                        start_time=saved.get("pid_create_time"))
            try:
                meta = store.allocate(meta, explicit_name=True)
            except TetraError as exc:  # e.g. its directory holds a damaged meta.json
                outcome.append((name, f"failed: {exc.message}"))
                continue
            control.spawn_supervisor(store.proc_dir(meta["name"]), adopt=True)
            waiting.append({**meta, "_how": f"adopted running pid {saved['pid']}"})
            continue
        if current is not None:
            if control.supervisor_alive(store.proc_dir(name)):
                outcome.append((name, f"already supervised ({current.get('status')})"))
                continue
            fresh = store.update_unsupervised(name, status="launching", error=None,
                                              **{k: saved[k] for k in ("command", "cwd", "port",
                                                                         "env_file")})
            if fresh is None:
                outcome.append((name, "skipped: a supervisor took it meanwhile"))
                continue
        else:
            meta = {k: v for k, v in saved.items() if k not in ("tsm_id", "pid", "pid_create_time")}
            meta.update(status="launching", pid=None, restarts=0, unstable_restarts=0,
                        start_time=None, created_at=time.time())
            try:
                fresh = store.allocate(meta, explicit_name=True)
            except TetraError as exc:
                outcome.append((name, f"failed: {exc.message}"))
                continue
        try:
            launch.check_port_free(fresh.get("port"), store)
        except TetraError as exc:
            store.update_unsupervised(name, status="errored", error=str(exc))
            outcome.append((name, f"failed: {exc}"))
            continue
        control.spawn_supervisor(store.proc_dir(name))
        waiting.append({**fresh, "_how": "started"})
    for meta in waiting:  # every supervisor was spawned first: wait for all together
        result = control.wait_started(store, meta["name"], meta.get("port"), timeout)
        if result.ok:
            outcome.append((meta["name"], f"{meta['_how']} (pid {result.meta.get('pid')})"))
        else:
            outcome.append((meta["name"], f"failed: {result.reason}"))
    return outcome


def services(store: Store) -> list[dict]:
    """The definitions in services/*.toml with whether each one runs."""
    out = []
    if not store.services_dir.is_dir():
        return out
    running = {m.get("service") or m["name"]: m for m in store.all()
               if control.process_alive(m)}
    for path in sorted(store.services_dir.glob("*.toml")):
        entry = {"service": path.stem, "file": str(path)}
        try:
            request = launch.load_service(store, path.stem)
            if request is None:
                raise CommandError(f"{path}: not a file" if not path.is_file() else
                                   f"{path}: {path.stem!r} is not a valid service name "
                                   "(letters, digits and . _ - @ +)")
            entry.update(command=request.command, port=request.port, cwd=request.cwd,
                         restart=request.restart)
        except TetraError as exc:
            entry["error"] = exc.message
        m = running.get(path.stem)
        if m and entry.get("port") is None:
            entry["port"] = m.get("port")  # discovered from the command when it started
        entry["running"] = bool(m)
        entry["pid"] = m.get("pid") if m else None
        out.append(entry)
    return out


def systemd_unit(state_dir, path: str | None = None) -> str:
    """A systemd *user* unit that resurrects the saved processes at login/boot.

    The state directory is made absolute, and the unit carries ``PATH`` as it is
    now (``path``, default this process's), as ``pm2 startup`` does: at boot the
    user manager's PATH lacks pyenv/nvm/~/.local/bin, so the saved commands
    would not be found.
    """
    tetra = str(Path(sys.executable).with_name("tetra"))
    directory = os.path.abspath(os.path.expanduser(str(state_dir)))
    path = os.environ.get("PATH", os.defpath) if path is None else path
    run = " ".join(_exec_word(w) for w in (tetra, "--dir", directory))
    return f"""\
# Save as ~/.config/systemd/user/tetra-tsm.service, then:
#   systemctl --user daemon-reload && systemctl --user enable --now tetra-tsm
#   loginctl enable-linger $USER     # start at boot, not only at login
[Unit]
Description=tetra tsm: resurrect the processes saved with 'tsm save'

[Service]
# resurrect returns once every process is up; the supervisors it spawned stay in
# this unit's cgroup: KillMode=process leaves them to ExecStop (tsm stop all)
Type=oneshot
RemainAfterExit=yes
Environment={_environment_word("TETRA_DIR=" + directory)}
Environment={_environment_word("PATH=" + path)}
ExecStart={run} tsm resurrect
ExecStop={run} tsm stop all
KillMode=process

[Install]
WantedBy=default.target
"""


_PLAIN = re.compile(r"[A-Za-z0-9_@+=:,./-]+\Z")


def _quoted(text: str) -> str:
    """``text`` as one systemd word: plain, or double-quoted with C escapes."""
    if _PLAIN.match(text):
        return text
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _environment_word(assignment: str) -> str:
    """One ``Environment=`` assignment: quoted, ``%`` escaped (a unit specifier)."""
    return _quoted(assignment).replace("%", "%%")


def _exec_word(word: str) -> str:
    """One ``ExecStart=`` word: quoted, ``%`` and ``$`` escaped (specifier, variable)."""
    return _quoted(word).replace("%", "%%").replace("$", "$$")

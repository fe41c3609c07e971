"""The on-disk state of tsm (SPEC 8): process directories, ids, names, ports.

    DIR/tsm/runtime/processes/<name>/{meta.json,<name>.pid,current.out,current.err}
    DIR/tsm/ports            name:port lines
    DIR/tsm/services/*.toml  named service definitions
    DIR/tsm/dump.json        written by save, read by resurrect

Ids and names are allocated under one exclusive lock (``DIR/tsm/.lock``), so
concurrent ``tsm start`` calls from separate processes never share either.
meta.json is written only by the holder of the process's supervisor lock: the
supervisor while it lives, else the command that took the lock.
"""

from __future__ import annotations

import json
import os
import re
from contextlib import contextmanager
from pathlib import Path

from tetra_repl.errors import CommandError, UsageError
from tetra_repl.locking import FileLock, LockTimeout
from tetra_repl.storage import read_json, write_json, write_text

from .layout import LOCK_NAME

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}\Z")
STATUSES = ("launching", "online", "stopped", "crashed", "errored")


def _integer(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _text(v) -> bool:
    return isinstance(v, str)


# The shape of meta.json: key -> (what it must be, test).  The first four are
# required; the rest may be absent or null.  A meta.json of another shape is
# damaged: doctor reports it (bad_meta), every other command skips it.
META_SHAPE = {
    "tsm_id": ("an integer >= 0", lambda v: _integer(v) and v >= 0),
    "name": ("the name of its directory", _text),
    "status": ("one of " + ", ".join(STATUSES), lambda v: v in STATUSES),
    "command": ("a list of strings", lambda v: isinstance(v, list) and all(map(_text, v))),
    **{key: ("an integer", _integer) for key in (
        "pid", "supervisor_pid", "port", "restarts", "unstable_restarts", "max_restarts",
        "log_max_bytes", "log_keep", "exit_code")},
    **{key: ("a number", _number) for key in (
        "pid_create_time", "supervisor_create_time", "start_time", "stopped_at", "created_at",
        "min_uptime", "kill_timeout", "next_restart_delay")},
    **{key: ("a string", _text) for key in (
        "cwd", "env_file", "prehook", "restart_policy", "interpreter", "process_type", "service",
        "error")},
}
REQUIRED = ("tsm_id", "name", "status", "command")


def meta_problem(meta, name: str) -> str | None:
    """Why ``meta`` (read from directory ``name``) is not a usable meta.json; None if it is."""
    if not isinstance(meta, dict):
        return "not a JSON object"
    for key, (what, ok) in META_SHAPE.items():
        value = meta.get(key)
        if value is not None and not ok(value):
            return f"{key!r} must be {what}, got {value!r}"
    missing = [key for key in REQUIRED if meta.get(key) is None]
    if missing:
        return "no " + ", ".join(repr(key) for key in missing)
    if meta["name"] != name:
        return f"'name' must be the name of its directory ({name!r}), got {meta['name']!r}"
    if not NAME_RE.match(name) or ".." in name:
        return f"{name!r} is not a valid process name"
    return None


def check_name(name: str) -> str:
    """``name`` if it is safe as a directory name; UsageError otherwise."""
    if not NAME_RE.match(name) or ".." in name:
        raise UsageError(f"invalid process name {name!r}",
                         hint="use letters, digits and . _ - @ + (no '/', no '..')")
    return name


def sanitize(text: str) -> str:
    """A derived name made safe: invalid characters become '-'."""
    text = re.sub(r"[^A-Za-z0-9._@+-]+", "-", text)
    text = re.sub(r"--+", "-", text).strip("-.") or "proc"
    return re.sub(r"\.\.+", ".", text)[:100]


class Store:
    """All of tsm's files under ``DIR/tsm``.

    ``on_bad(path, why)`` hears of each damaged meta.json the store skips (once
    per file): a command warns with it; doctor reports them itself.
    """

    def __init__(self, state_dir: Path, on_bad=None):
        self.root = Path(os.path.abspath(state_dir)) / "tsm"  # supervisors run in /
        self.processes = self.root / "runtime" / "processes"
        self.on_bad = on_bad
        self._reported: set[str] = set()
        self.ports_file = self.root / "ports"
        self.services_dir = self.root / "services"
        self.dump_file = self.root / "dump.json"
        self.lock_file = self.root / ".lock"

    def ensure(self) -> None:
        """Create DIR/tsm/runtime/processes (CommandError if it cannot)."""
        try:
            self.processes.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            blocked = self.not_a_directory()
            raise CommandError(f"cannot create {self.processes}: {blocked or exc.strerror}",
                               hint="'tsm doctor' checks tsm's directories" if blocked else
                               "check the permissions of the state directory (--dir)") from None

    def not_a_directory(self) -> str | None:
        """``"PATH is not a directory"`` for the first of DIR/tsm, runtime, processes
        that exists as something else (a file in the way), else None."""
        for path in (self.root, self.root / "runtime", self.processes):
            if os.path.lexists(path) and not path.is_dir():
                return f"{path} is not a directory"
        return None

    def lock(self, timeout: float | None = 30) -> FileLock:
        """The exclusive lock that guards ids, names and the ports file."""
        return FileLock(self.lock_file, timeout=timeout)

    def proc_dir(self, name: str) -> Path:
        """The directory of process ``name`` (the name is validated first)."""
        return self.processes / check_name(name)

    # -- reading -----------------------------------------------------------
    def inspect(self, name: str) -> tuple[dict | None, str | None]:
        """``(meta, None)``, or ``(None, why)`` for a damaged meta.json, or
        ``(None, None)`` when there is none (yet: allocation creates the
        directory first; or no longer: delete removes it)."""
        path = os.path.join(self.processes, name, "meta.json")  # str: runs per process per ls
        try:
            meta = read_json(path)
        except FileNotFoundError:
            return None, None
        except OSError as exc:
            return None, f"cannot read it: {exc.strerror or exc}"
        except ValueError as exc:
            return None, f"not valid JSON ({exc})"
        problem = meta_problem(meta, name)
        return (None, problem) if problem else (meta, None)

    def read(self, name: str) -> dict | None:
        """meta.json of ``name``; None if missing or damaged (``on_bad`` hears of the latter)."""
        meta, problem = self.inspect(name)
        if problem and self.on_bad is not None:
            path = os.path.join(self.processes, name, "meta.json")
            if path not in self._reported:
                self._reported.add(path)
                self.on_bad(path, problem)
        return meta

    def names(self) -> list[str]:
        """Names of every process directory (CommandError if the directory is unreadable)."""
        try:
            return sorted(e.name for e in os.scandir(self.processes)
                          if e.is_dir() and not e.name.startswith("."))
        except FileNotFoundError:
            return []
        except OSError as exc:  # a file where a directory should be, no permission
            raise CommandError(f"cannot read {self.processes}: "
                               f"{self.not_a_directory() or exc.strerror or exc}",
                               hint="'tsm doctor' checks tsm's directories") from None

    def all(self) -> list[dict]:
        """Every usable meta.json, by id (damaged ones are skipped, see ``read``)."""
        metas = [m for m in (self.read(n) for n in self.names()) if m is not None]
        return sorted(metas, key=lambda m: m["tsm_id"])

    def resolve(self, ref: str, metas: list[dict] | None = None) -> list[dict]:
        """``all``, a numeric id, an exact name, then a unique prefix (SPEC 8); last, the
        one process the service ``ref`` started (``tsm restart web`` for ``site-8000``).

        An empty ``ref`` is a usage error: as a prefix it would match everything.
        """
        if not ref.strip():
            raise UsageError(f"{ref!r} names no process",
                             hint="give an id, a name, a unique name prefix, or 'all'")
        metas = self.all() if metas is None else metas
        if ref == "all":
            return metas
        if ref.isdigit():
            found = [m for m in metas if m["tsm_id"] == int(ref)]
            if found:
                return found
        exact = [m for m in metas if m["name"] == ref]
        if exact:
            return exact
        prefixed = [m for m in metas if m["name"].startswith(ref)]
        if len(prefixed) == 1:
            return prefixed
        if prefixed:
            names = ", ".join(f"{m['name']} ({m['tsm_id']})" for m in prefixed)
            raise CommandError(f"{ref!r} is ambiguous: {names}",
                               hint="give the id or the full name; nothing was done")
        owned = [m for m in metas if m.get("service") == ref]
        if len(owned) == 1:
            return owned
        raise CommandError(f"no process {ref!r}", hint="'tsm ls' lists processes")

    # -- writing -----------------------------------------------------------
    def allocate(self, meta: dict, explicit_name: bool) -> dict:
        """Give ``meta`` the lowest unused id and a free name; create its directory.

        An explicit name that exists is an error; a derived one gets ``-2``, ``-3``….
        """
        self.ensure()
        with self.lock():
            existing = self.all()
            taken_ids = {m["tsm_id"] for m in existing}
            taken_names = set(self.names())
            name = meta["name"]
            if name in taken_names:
                if explicit_name:
                    other = next((m for m in existing if m["name"] == name), None)
                    ident = f" (id {other['tsm_id']})" if other else ""
                    raise CommandError(f"a process named {name!r} already exists{ident}",
                                       hint=f"'tsm restart {name}', or choose another --name")
                n = 2
                while f"{name}-{n}" in taken_names:
                    n += 1
                name = f"{name}-{n}"
            tsm_id = 0
            while tsm_id in taken_ids:
                tsm_id += 1
            meta = {**meta, "tsm_id": tsm_id, "name": name}
            directory = self.proc_dir(name)
            directory.mkdir()
            write_json(directory / "meta.json", meta)
            self._write_ports(existing + [meta])
        return meta

    def write_meta(self, meta: dict) -> None:
        """Replace ``meta``'s meta.json atomically."""
        write_json(self.processes / meta["name"] / "meta.json", meta)

    @contextmanager
    def _unsupervised(self, name: str):
        """The meta.json of ``name`` under its supervisor lock, taken without
        waiting; None when a supervisor holds it or the process is gone."""
        lock = FileLock(self.processes / name / LOCK_NAME, timeout=0)
        try:
            lock.acquire()
        except LockTimeout:
            yield None
            return
        try:
            yield self.read(name)
        finally:
            lock.release()  # a rename moves the lock file with the directory: the same lock

    def update_unsupervised(self, name: str, **fields) -> dict | None:
        """Change meta.json of a process no supervisor owns; None if one does."""
        if not (self.processes / name / "meta.json").exists():
            return None  # deleted meanwhile: taking the lock would recreate the directory
        with self._unsupervised(name) as meta:
            if meta is None:
                return None
            meta.update(fields)
            self.write_meta(meta)
            return meta

    def redefine(self, name: str, new_name: str, **fields) -> dict | None:
        """Give a process no supervisor owns new settings and, if ``new_name`` differs,
        that name (its directory, logs and id go with it); None if a supervisor owns it.

        CommandError if another process already has ``new_name``.
        """
        with self.lock():
            if new_name != name and os.path.lexists(self.proc_dir(new_name)):
                raise CommandError(f"cannot rename {name} to {new_name}: a process named "
                                   f"{new_name!r} already exists",
                                   hint=f"'tsm delete {new_name}' first, or change the name")
            with self._unsupervised(name) as meta:
                if meta is None:
                    return None
                if new_name != name:
                    os.rename(self.processes / name, self.processes / new_name)
                    (self.processes / new_name / f"{name}.pid").unlink(missing_ok=True)
                meta.update(fields, name=new_name)
                self.write_meta(meta)
                self._write_ports(self.all())
                return meta

    def remove(self, names: list[str]) -> None:
        """Delete process directories (their supervisors must be gone) and their port lines."""
        import shutil

        with self.lock():
            for name in names:
                shutil.rmtree(self.proc_dir(name), ignore_errors=True)
            self._write_ports(self.all())

    def refresh_ports(self) -> None:
        """Rewrite the ports file from the processes' meta.json."""
        with self.lock():
            self._write_ports(self.all())

    def _write_ports(self, metas: list[dict]) -> None:
        lines = [f"{m['name']}:{m['port']}" for m in sorted(metas, key=lambda m: m["tsm_id"])
                 if m.get("port")]
        write_text(self.ports_file, "".join(line + "\n" for line in lines))

    def read_ports(self) -> list[tuple[str, int]]:
        """The ``(name, port)`` lines of the ports file."""
        try:
            text = self.ports_file.read_text()
        except FileNotFoundError:
            return []
        out = []
        for line in text.splitlines():
            name, _, port = line.rpartition(":")
            if name and port.isdigit():
                out.append((name, int(port)))
        return out


def dumps(obj) -> str:
    """Indented, key-sorted JSON for ``--json`` output."""
    return json.dumps(obj, indent=2, sort_keys=True)

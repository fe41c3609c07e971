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
from pathlib import Path

from tetra_repl.errors import CommandError, UsageError
from tetra_repl.locking import FileLock, LockTimeout
from tetra_repl.storage import read_json, write_json, write_text

from .layout import LOCK_NAME

NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}\Z")
STATUSES = ("launching", "online", "stopped", "crashed", "errored")


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
    """All of tsm's files under ``DIR/tsm``."""

    def __init__(self, state_dir: Path):
        self.root = Path(os.path.abspath(state_dir)) / "tsm"  # supervisors run in /
        self.processes = self.root / "runtime" / "processes"
        self.ports_file = self.root / "ports"
        self.services_dir = self.root / "services"
        self.dump_file = self.root / "dump.json"
        self.lock_file = self.root / ".lock"

    def ensure(self) -> None:
        """Create DIR/tsm/runtime/processes (CommandError if it cannot)."""
        try:
            self.processes.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CommandError(f"cannot create {self.processes}: {exc.strerror}",
                               hint="check the permissions of the state directory (--dir)") from None

    def lock(self, timeout: float | None = 30) -> FileLock:
        """The exclusive lock that guards ids, names and the ports file."""
        return FileLock(self.lock_file, timeout=timeout)

    def proc_dir(self, name: str) -> Path:
        """The directory of process ``name`` (the name is validated first)."""
        return self.processes / check_name(name)

    # -- reading -----------------------------------------------------------
    def read(self, name: str) -> dict | None:
        """meta.json of ``name`` (None if missing or unreadable)."""
        try:  # string paths: this runs once per process for every ls
            meta = read_json(os.path.join(self.processes, name, "meta.json"))
        except (OSError, ValueError):
            return None
        return meta if isinstance(meta, dict) and "tsm_id" in meta else None

    def names(self) -> list[str]:
        """Names of every process directory."""
        try:
            return sorted(e.name for e in os.scandir(self.processes)
                          if e.is_dir() and not e.name.startswith("."))
        except FileNotFoundError:
            return []

    def all(self) -> list[dict]:
        """Every readable meta.json, by id."""
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

    def update_unsupervised(self, name: str, **fields) -> dict | None:
        """Change meta.json of a process no supervisor owns; None if one does."""
        if not (self.processes / name / "meta.json").exists():
            return None  # deleted meanwhile: taking the lock would recreate the directory
        lock = FileLock(self.processes / name / LOCK_NAME, timeout=0)
        try:
            lock.acquire()
        except LockTimeout:
            return None
        try:
            meta = self.read(name)
            if meta is None:
                return None
            meta.update(fields)
            self.write_meta(meta)
            return meta
        finally:
            lock.release()

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

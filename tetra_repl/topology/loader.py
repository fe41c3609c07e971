"""Read and validate a topology file (TOML, or JSON with the same structure).

Errors name the file, the line where it can be found, the key path and what
is wrong::

    topology.toml:12: targets.prod.hosts[2].port: expected an integer, got 'x'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import TetraError
from ..language import SYMBOL_HINT, SymbolError, parse_symbol
from .schema import HOST_ONLY, SETTINGS

TOP_LEVEL = ("defaults", "aliases", "targets")
_NAME_HINT = "a name starts with a letter or '_', then letters, digits, '_', '.' or '-'"


class TopologyError(TetraError):
    """The topology file cannot be read or is not valid."""


@dataclass(frozen=True)
class HostEntry:
    """One host of a target as written: name, address, roles, its own settings."""

    name: str
    host: str | None = None
    roles: tuple[str, ...] = ()
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TargetEntry:
    name: str
    hosts: tuple[HostEntry, ...]
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def roles(self) -> list[str]:
        return sorted({r for h in self.hosts for r in h.roles})


@dataclass
class Topology:
    """A validated topology.  ``path`` is None for the empty built-in one."""

    path: Path | None = None
    defaults: dict[str, Any] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    targets: dict[str, TargetEntry] = field(default_factory=dict)


def load(path: Path) -> Topology:
    """Parse and validate ``path``; raises :class:`TopologyError`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TopologyError(f"topology file not found: {path}",
                            hint="pass --topology FILE or create DIR/topology.toml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TopologyError(f"cannot read topology {path}: {getattr(exc, 'strerror', exc)}") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text, object_pairs_hook=_no_duplicates)
        except json.JSONDecodeError as exc:
            raise TopologyError(f"{path}:{exc.lineno}: invalid JSON: {exc.msg} "
                                f"(column {exc.colno})") from None
        except _DuplicateKey as exc:
            # as TOML does: a key given twice in one table is refused, not "last wins"
            found = _Positions(text, is_json=True).duplicates
            if found:
                keys, line, first = found[0]
                raise TopologyError(f"{path}:{line}: {_dotted(list(keys))}: duplicate key "
                                    f"(also line {first})") from None
            raise TopologyError(f"{path}: duplicate key {exc.key!r}") from None
    else:
        import tomllib

        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            line = re.search(r"at line (\d+)", str(exc))
            if line:
                where = f"{path}:{line.group(1)}"
            elif "at end of document" in str(exc):  # the file ended inside an array or string
                where = f"{path}:{max(1, len(text.splitlines()))}"
            else:
                where = str(path)
            raise TopologyError(f"{where}: invalid TOML: {exc}") from None
    return _Validator(path, text).topology(data)


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKey(key)
        out[key] = value
    return out


class _Validator:
    def __init__(self, path: Path, text: str):
        self.path = path
        self.text = text
        self._positions: _Positions | None = None

    def fail(self, keys: list, what: str, hint: str | None = None):
        dotted = _dotted(keys)
        if self._positions is None:
            self._positions = _Positions(self.text, self.path.suffix == ".json")
        line = self._positions.line_of(keys) if keys else None
        where = f"{self.path}:{line}" if line else str(self.path)
        raise TopologyError(f"{where}: {dotted}: {what}" if dotted else f"{where}: {what}",
                            hint=hint)

    def topology(self, data: Any) -> Topology:
        if not isinstance(data, dict):
            self.fail([], "the top level must be a table of defaults, aliases and targets")
        for key in data:
            if key not in TOP_LEVEL:
                self.unknown([key], key, TOP_LEVEL)
        defaults = self.settings(data.get("defaults", {}), ["defaults"])
        aliases = self.aliases(data.get("aliases", {}))
        raw_targets = data.get("targets", {})
        if not isinstance(raw_targets, dict):
            self.fail(["targets"], f"expected a table of targets, got {_kind(raw_targets)}")
        targets = {name: self.target(name, value) for name, value in raw_targets.items()}
        for alias in aliases:
            if alias in targets:
                self.fail(["aliases", alias], f"alias shadows the target {alias!r}")
        return Topology(self.path, defaults, aliases, targets)

    def unknown(self, keys: list, key: str, known) -> None:
        import difflib

        close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
        self.fail(keys, "unknown key" + (f" (did you mean {close[0]!r}?)" if close else ""),
                  hint=None if close else "known keys: " + ", ".join(sorted(known)))

    def aliases(self, raw: Any) -> dict[str, str]:
        if not isinstance(raw, dict):
            self.fail(["aliases"], f"expected a table of name = \"target\", got {_kind(raw)}")
        for name, value in raw.items():
            self.name(["aliases", name], "an alias")
            if not isinstance(value, str) or not value:
                self.fail(["aliases", name], f"expected a target name, got {_kind(value)}")
            text = value.strip()
            try:
                parse_symbol(text if text.startswith("@") else "@" + text)
            except SymbolError as exc:
                self.fail(["aliases", name], str(exc), hint=SYMBOL_HINT)
        for start in raw:
            seen = [start]
            name = _alias_name(raw[start])
            while name in raw:
                if name in seen:
                    cycle = " -> ".join(seen[seen.index(name):] + [name])
                    self.fail(["aliases", start], f"alias cycle: {cycle}")
                seen.append(name)
                name = _alias_name(raw[name])
        return dict(raw)

    def name(self, keys: list, what: str) -> None:
        """Refuse a target or alias name that cannot be written as @name."""
        name = keys[-1]
        try:
            symbol = parse_symbol("@" + name)
            ok = (symbol.name, symbol.role, symbol.selector) == (name, None, None)
        except SymbolError as exc:
            ok, why = False, str(exc)
        else:
            why = f"'@{name}' is not read as one name"
        if not ok:
            self.fail(keys, f"{what} cannot be named {name!r}: {why}", hint=_NAME_HINT)

    def target(self, name: str, raw: Any) -> TargetEntry:
        keys = ["targets", name]
        self.name(keys, "a target")
        if not isinstance(raw, dict):
            self.fail(keys, f"expected a table with hosts = [...], got {_kind(raw)}")
        if "hosts" not in raw:
            self.fail(keys, "missing key 'hosts'", hint='e.g. hosts = ["web-1"]')
        hosts_raw = raw["hosts"]
        if not isinstance(hosts_raw, list):
            self.fail(keys + ["hosts"], f"expected a list of hosts, got {_kind(hosts_raw)}")
        if not hosts_raw:
            self.fail(keys + ["hosts"], "empty host list")
        hosts: list[HostEntry] = []
        seen: dict[str, int] = {}
        for i, item in enumerate(hosts_raw):
            host = self.host(item, keys + ["hosts", i])
            if host.name in seen:
                self.fail(keys + ["hosts", i], f"duplicate host name {host.name!r} "
                          f"(also hosts[{seen[host.name]}])")
            seen[host.name] = i
            hosts.append(host)
        settings = self.settings({k: v for k, v in raw.items() if k != "hosts"}, keys,
                                 extra=("hosts",))
        return TargetEntry(name, tuple(hosts), settings)

    def host(self, raw: Any, keys: list) -> HostEntry:
        if isinstance(raw, str):
            if not raw.strip():
                self.fail(keys, "empty host name")
            self.host_name(raw, keys)
            return HostEntry(raw)
        if not isinstance(raw, dict):
            self.fail(keys, f"expected a host name or a table, got {_kind(raw)}")
        for key in ("name", "host"):
            if key in raw and (not isinstance(raw[key], str) or not raw[key]):
                self.fail(keys + [key], f"expected a non-empty string, got {_kind(raw[key])}")
        name = raw.get("name") or raw.get("host")
        if not name:
            self.fail(keys, "a host needs a name or a host", hint='{ name = "web-1", host = "10.0.0.11" }')
        self.host_name(name, keys + ["name" if raw.get("name") else "host"])
        roles = raw.get("roles", [])
        if isinstance(roles, str):
            roles = [roles]
        if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
            self.fail(keys + ["roles"], f"expected a list of role names, got {_kind(roles)}")
        settings = self.settings({k: v for k, v in raw.items() if k not in HOST_ONLY}, keys,
                                 extra=tuple(HOST_ONLY))
        return HostEntry(name, raw.get("host"), tuple(roles), settings)

    def host_name(self, name: str, keys: list) -> None:
        """Refuse a host name that @target[name] cannot select."""
        try:
            ok = parse_symbol(f"@t[{name}]").selector == (name,)
        except SymbolError:
            ok = False
        if not ok:
            self.fail(keys, f"host name {name!r} cannot be selected as @target[{name}]",
                      hint="a host name has no spaces, ',', ']', quotes, ';', '&', '$' or '\\'; "
                      "give it a name = \"...\" and put the address in host = \"...\"")

    def settings(self, raw: Any, keys: list, extra: tuple[str, ...] = ()) -> dict[str, Any]:
        if not isinstance(raw, dict):
            self.fail(keys, f"expected a table, got {_kind(raw)}")
        out: dict[str, Any] = {}
        for key, value in raw.items():
            setting = SETTINGS.get(key)
            if setting is None:
                self.unknown(keys + [key], key, [*SETTINGS, *extra])
            out[key] = self.value(setting, value, keys + [key])
        return out

    def value(self, setting, value: Any, keys: list) -> Any:
        t, raw = setting.type, value
        if t == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            self.fail(keys, f"expected an integer, got {_kind(value)}")
        if t == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                self.fail(keys, f"expected a number, got {_kind(value)}")
            value = float(value)
        if t == "bool" and not isinstance(value, bool):
            self.fail(keys, f"expected true or false, got {_kind(value)}")
        if t == "str" and not isinstance(value, str):
            self.fail(keys, f"expected a string, got {_kind(value)}")
        if t == "str|list":
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                self.fail(keys, f"expected a string or a list of strings, got {_kind(value)}")
        if setting.choices and value not in setting.choices:
            self.fail(keys, f"must be one of {', '.join(setting.choices)} (got {value!r})")
        if setting.minimum is not None and value < setting.minimum:
            self.fail(keys, f"must be at least {setting.minimum:g} (got {raw!r})")
        if setting.maximum is not None and value > setting.maximum:
            self.fail(keys, f"must be at most {setting.maximum:g} (got {raw!r})")
        if setting.above is not None and value <= setting.above:
            self.fail(keys, f"must be more than {setting.above:g} (got {raw!r})")
        return value


def _alias_name(text: str) -> str:
    """The target name an alias points at (``prod:web`` -> ``prod``)."""
    return re.split(r"[:\[]", text.lstrip("@"), maxsplit=1)[0]


def _kind(value: Any) -> str:
    if isinstance(value, bool):
        return f"a boolean ({str(value).lower()})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"{value!r}"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def _dotted(keys: list) -> str:
    out = ""
    for key in keys:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


class _Positions:
    """Where each key path of a TOML or JSON text starts: ``lines[("targets", "a",
    "hosts", 2, "port")]`` is the 1-based line of that key (or array element).

    A scanner for the shapes a topology has (table headers, arrays of tables,
    dotted keys, inline tables and arrays over several lines, JSON objects); the
    text has already been parsed, so it need not report errors.  In JSON, a key
    repeated in one object is listed in ``duplicates`` as (path, line, first line).
    """

    _BARE = re.compile(r"[A-Za-z0-9_\-]+")
    _SCALAR = re.compile(r"[^,\]}\s#]+")

    def __init__(self, text: str, is_json: bool = False):
        import bisect

        self.text = text
        self.i = 0
        self.lines: dict[tuple, int] = {}
        self.duplicates: list[tuple[tuple, int, int]] = []
        newlines = [m.start() for m in re.finditer("\n", text)]
        self.line = lambda pos: bisect.bisect_left(newlines, pos) + 1
        self._aot: dict[tuple, int] = {}
        try:
            if is_json:
                self._skip()
                self._value(())
            else:
                self._scan()
        except (IndexError, ValueError):  # best effort: keep what was found
            pass

    def line_of(self, keys: list) -> int | None:
        """The line of ``keys``, else of the nearest enclosing key or header."""
        path = tuple(keys)
        while path:
            if path in self.lines:
                return self.lines[path]
            path = path[:-1]
        return None

    # -- the scanner
    def _peek(self, n: int = 1) -> str:
        return self.text[self.i:self.i + n]

    def _skip(self, newlines: bool = True) -> None:
        text = self.text
        while self.i < len(text):
            c = text[self.i]
            if c in " \t\r" or (newlines and c == "\n"):
                self.i += 1
            elif c == "#":
                end = text.find("\n", self.i)
                self.i = len(text) if end < 0 else end
            else:
                return

    def _record(self, path: tuple, pos: int, exact: bool = True) -> None:
        line = self.line(pos)
        for n in range(1, len(path)):
            self.lines.setdefault(path[:n], line)
        if exact:
            self.lines[path] = line
        else:
            self.lines.setdefault(path, line)

    def _scan(self) -> None:
        current: tuple = ()
        while True:
            self._skip()
            if self.i >= len(self.text):
                return
            start = self.i
            if self._peek(2) == "[[":
                self.i += 2
                keys = self._key()
                parent = self._resolve(keys[:-1]) + (keys[-1],)
                index = self._aot.get(parent, -1) + 1
                self._aot[parent] = index
                current = parent + (index,)
                self._record(parent, start, exact=False)
                self._record(current, start)
            elif self._peek() == "[":
                self.i += 1
                current = self._resolve(self._key())
                self._record(current, start)
            else:
                keys = self._key()
                if not keys:  # not a key: give up on this line
                    end = self.text.find("\n", self.i + 1)
                    self.i = len(self.text) if end < 0 else end
                    continue
                self._skip(newlines=False)
                if self._peek() in ("=", ":"):
                    self.i += 1
                self._record(current + tuple(keys), start)
                self._value(current + tuple(keys))
            end = self.text.find("\n", self.i)  # the rest of the line: ] or ]] or a comment
            self.i = len(self.text) if end < 0 else end

    def _resolve(self, keys: list) -> tuple:
        out: list = []
        for key in keys:
            out.append(key)
            if tuple(out) in self._aot:
                out.append(self._aot[tuple(out)])
        return tuple(out)

    def _key(self) -> list:
        keys: list = []
        while True:
            self._skip(newlines=False)
            c = self._peek()
            if c in ("\"", "'"):
                keys.append(self._string())
            else:
                m = self._BARE.match(self.text, self.i)
                if m is None:
                    return keys
                keys.append(m.group())
                self.i = m.end()
            self._skip(newlines=False)
            if self._peek() != ".":
                return keys
            self.i += 1

    def _string(self) -> str:
        text, i = self.text, self.i
        if text.startswith(('"""', "'''"), i):
            quote = text[i:i + 3]
            j = i + 3
            while True:
                j = text.index(quote, j)
                if quote == '"""' and _escaped(text, j):
                    j += 1
                    continue
                break
            while text.startswith(quote[0], j + 3):
                j += 1
            self.i = j + 3
            return text[i + 3:j]
        quote = text[i]
        j = i + 1
        while text[j] != quote:
            if text[j] == "\n":
                break
            j += 2 if quote == '"' and text[j] == "\\" else 1
        self.i = j + 1
        raw = text[i + 1:j]
        if quote == '"' and "\\" in raw:
            try:
                return json.loads(f'"{raw}"')
            except ValueError:
                pass
        return raw

    def _value(self, path: tuple) -> None:
        self._skip(newlines=False)
        c = self._peek()
        if c == "{":
            self.i += 1
            seen: dict[tuple, int] = {}
            while True:
                self._skip()
                c = self._peek()
                if not c:
                    return
                if c == "}":
                    self.i += 1
                    return
                if c == ",":
                    self.i += 1
                    continue
                start = self.i
                keys = tuple(self._key())
                if not keys:
                    self.i += 1
                    continue
                self._skip()
                if self._peek() in ("=", ":"):
                    self.i += 1
                line = self.line(start)
                if keys in seen:
                    self.duplicates.append((path + keys, line, seen[keys]))
                else:
                    seen[keys] = line
                    self._record(path + keys, start)
                self._value(path + keys)
        elif c == "[":
            self.i += 1
            index = 0
            while True:
                self._skip()
                c = self._peek()
                if not c:
                    return
                if c == "]":
                    self.i += 1
                    return
                if c == ",":
                    self.i += 1
                    continue
                self._record(path + (index,), self.i)
                before = self.i
                self._value(path + (index,))
                if self.i == before:
                    self.i += 1
                index += 1
        elif c in ("\"", "'"):
            self._string()
        else:
            m = self._SCALAR.match(self.text, self.i)
            if m is not None:
                self.i = m.end()


def _escaped(text: str, j: int) -> bool:
    """Whether the character at ``j`` follows an odd number of backslashes."""
    n = 0
    while j - n - 1 >= 0 and text[j - n - 1] == "\\":
        n += 1
    return n % 2 == 1

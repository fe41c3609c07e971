"""How a command declares itself: name, parameters, flags, help, examples.

Dispatch, validation, ``help`` and completion are all generated from these
declarations (as pyinfra declares each connector setting once)::

    @plugin.command("tsm logs", help="Show a process's log",
                    params=[Param("name", complete="tsm.process")],
                    options=[Option("--lines", "-n", type="int", default=20),
                             Option("-f", "--follow", type="bool")],
                    examples=["tsm logs web --lines 50"])
    def logs(ctx, args): ...

Types: ``str``, ``int``, ``float`` (seconds, 0 or more), ``duration`` (seconds,
more than 0: a timeout), ``bool`` (a switch), ``path`` (completes
file names), ``target`` (an @symbol, given to the handler as
:class:`tetra_repl.language.Symbol`), ``assignment`` (``NAME=VALUE`` as a
``(name, value)`` pair).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
import re
from dataclasses import dataclass, field
from typing import Any

TYPES = ("str", "int", "float", "duration", "bool", "path", "target", "assignment")

# A command is one word or a group word and a subcommand, each typed bare
# (``tsm start``, ``tsm resurrect``): lower case, digits, '-' and '_'.
_COMMAND_WORD = re.compile(r"[a-z][a-z0-9_-]*\Z")
_FLAG = re.compile(r"(?:-[A-Za-z0-9]|--[A-Za-z0-9][A-Za-z0-9_-]*)\Z")
_RESERVED_DESTS = ("values", "given")  # attributes of Args itself


def check_command_name(name: str) -> None:
    """Raise ValueError unless ``name`` is one or two command words (``tsm start``)."""
    words = name.split(" ") if isinstance(name, str) else []
    if not 1 <= len(words) <= 2 or not all(_COMMAND_WORD.match(w) for w in words):
        raise ValueError(f"bad command name {name!r}: one or two words of lower-case "
                         "letters, digits, '-' and '_' (like 'hello' or 'tsm start')")


@dataclass(frozen=True)
class Param:
    """A positional parameter.

    ``rest=True`` collects the words after ``--``; with ``greedy=True`` it also
    starts at the first word that no earlier parameter takes, and from there
    takes every word verbatim, flags included (``tsm start python3 -m x``).
    """

    name: str
    type: str = "str"
    required: bool = True
    help: str = ""
    rest: bool = False
    greedy: bool = False
    choices: Sequence[str] | None = None
    complete: str | None = None  # completer kind: "path", "target", "tsm.process", ...

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"bad param name {self.name!r}: it must be a Python identifier "
                             "(the handler reads args.NAME)")
        if self.type not in TYPES:
            raise ValueError(f"param {self.name}: unknown type {self.type!r}")
        if self.greedy and not self.rest:
            raise ValueError(f"param {self.name}: greedy=True needs rest=True")


@dataclass(frozen=True)
class Option:
    """A flag: ``Option("--lines", "-n", type="int", default=20)``.

    ``optional_value=True`` makes a flag that may stand alone (value ``const``)
    or take a value only in ``--flag=VALUE`` form, as ``--wait[=SECONDS]``.
    """

    names: tuple[str, ...]
    type: str = "str"
    default: Any = None
    help: str = ""
    metavar: str | None = None
    choices: Sequence[str] | None = None
    optional_value: bool = False
    const: Any = None
    complete: str | None = None

    def __init__(self, *names: str, type: str = "str", default: Any = None, help: str = "",
                 metavar: str | None = None, choices: Sequence[str] | None = None,
                 optional_value: bool = False, const: Any = None, complete: str | None = None):
        if not names or not all(isinstance(n, str) and _FLAG.match(n) for n in names):
            raise ValueError(f"bad option names {names!r}: each like '-n' or '--lines'")
        if type not in TYPES:
            raise ValueError(f"option {names[0]}: unknown type {type!r}")
        if optional_value and type == "bool":
            raise ValueError(f"option {names[0]}: optional_value=True needs a type with a value")
        for key, value in dict(names=tuple(names), type=type, help=help, metavar=metavar,
                               choices=tuple(choices) if choices else None,
                               optional_value=optional_value, const=const,
                               complete=complete).items():
            object.__setattr__(self, key, value)
        object.__setattr__(self, "default", False if type == "bool" and default is None else default)

    @property
    def dest(self) -> str:
        """Attribute name on the bound args: the first long name, else the first."""
        long = next((n for n in self.names if n.startswith("--")), self.names[0])
        return long.lstrip("-").replace("-", "_")

    @property
    def takes_value(self) -> bool:
        return self.type != "bool"


Handler = Callable[..., Any]


@dataclass
class CommandSpec:
    """One command (``echo``) or subcommand (``tsm start``)."""

    name: str
    handler: Handler
    help: str = ""
    params: Sequence[Param] = ()
    options: Sequence[Option] = ()
    examples: Sequence[str] = ()
    plugin: str = "core"
    aliases: Sequence[str] = ()
    description: str = ""  # longer text for `help CMD`
    # flags (of ``options``) the handler also takes at the very end of a greedy
    # rest, e.g. ``tsm start python3 -m http.server 7777 --name web``
    trailing: Sequence[str] = ()

    def __post_init__(self) -> None:
        """Refuse a spec that could not be dispatched as declared (a bad plugin
        then fails to load, with one warning, instead of failing later)."""
        self.params = tuple(self.params)
        self.options = tuple(self.options)
        self.examples = tuple(self.examples)
        self.aliases = tuple(self.aliases)
        self.trailing = tuple(self.trailing)
        for name in (self.name, *self.aliases):
            check_command_name(name)
        if not callable(self.handler):
            raise ValueError(f"{self.name}: the handler is not callable")
        if not all(isinstance(p, Param) for p in self.params):
            raise ValueError(f"{self.name}: params must be Param(...) objects")
        if not all(isinstance(o, Option) for o in self.options):
            raise ValueError(f"{self.name}: options must be Option(...) objects")
        flags: set[str] = set()
        for option in self.options:
            for n in option.names:
                if n in flags:
                    raise ValueError(f"{self.name}: flag {n} declared twice")
                flags.add(n)
        dests: dict[str, str] = {}
        for label, dest in ([(f"parameter {p.name}", p.name) for p in self.params]
                            + [(f"flag {o.names[0]}", o.dest) for o in self.options]):
            if dest in _RESERVED_DESTS:
                raise ValueError(f"{self.name}: {label} cannot be called {dest!r}")
            if dest in dests:
                raise ValueError(f"{self.name}: {label} and {dests[dest]} both set args.{dest}")
            dests[dest] = label
        rests = [p for p in self.params if p.rest]
        if len(rests) > 1 or (rests and self.params[-1] is not rests[0]):
            raise ValueError(f"{self.name}: only the last parameter may be rest=True")
        for flag in self.trailing:
            if flag not in flags:
                raise ValueError(f"{self.name}: trailing flag {flag} is not one of its options")

    @property
    def words(self) -> list[str]:
        return self.name.split()

    def option(self, flag: str) -> Option | None:
        for option in self.options:
            if flag in option.names:
                return option
        return None

    @property
    def usage(self) -> str:
        parts = [self.name]
        for option in self.options:
            flag = option.names[0]
            if option.optional_value:
                parts.append(f"[{flag}[={option.metavar or option.type.upper()}]]")
            elif option.takes_value:
                parts.append(f"[{flag} {option.metavar or option.dest.upper()}]")
            else:
                parts.append(f"[{flag}]")
        for param in self.params:
            label = param.name.upper() + ("…" if param.rest else "")
            if param.type == "target":
                label = "@" + param.name
            if param.rest and not param.greedy:
                label = "-- " + label
            parts.append(label if param.required else f"[{label}]")
        return " ".join(parts)


@dataclass
class Args:
    """Bound arguments: one attribute per param and option (dest names)."""

    values: dict[str, Any] = field(default_factory=dict)
    given: set[str] = field(default_factory=set)  # dests the user wrote explicitly

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def __contains__(self, name: str) -> bool:
        return name in self.given

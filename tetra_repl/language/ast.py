"""The typed syntax tree of one tetra line.

Nothing outside :mod:`tetra_repl.language` sees a lark tree: the parser turns
every statement into these frozen dataclasses.  Source positions are kept for
error messages but do not take part in equality, so ``parse(to_source(ast))``
compares equal to ``ast``.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Var:
    """A ``$name``, ``${name}`` or ``$?`` reference inside a word."""

    name: str


Piece = str | Var


@dataclass(frozen=True)
class Word:
    """A plain word: literal text and variables written side by side."""

    pieces: tuple[Piece, ...]
    column: int = field(default=0, compare=False)

    @property
    def is_literal(self) -> bool:
        return all(isinstance(p, str) for p in self.pieces)

    @property
    def literal(self) -> str:
        """The text of a word without variables (variables shown as ``$name``)."""
        return "".join(p if isinstance(p, str) else f"${p.name}" for p in self.pieces)


@dataclass(frozen=True)
class Flag:
    """``--name``, ``-f`` or ``--name=value`` (``value`` only for the ``=`` form)."""

    name: str
    value: Word | None = None
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Assignment:
    """``NAME=value``."""

    name: str
    value: Word
    column: int = field(default=0, compare=False)


@dataclass(frozen=True)
class Symbol:
    """``@name``, ``@name:role``, ``@name[sel]``, ``@name:role[a,b]``."""

    name: str
    role: str | None = None
    selector: tuple[str, ...] | None = None
    column: int = field(default=0, compare=False)

    @property
    def text(self) -> str:
        out = "@" + self.name
        if self.role:
            out += ":" + self.role
        if self.selector is not None:
            out += "[" + ",".join(self.selector) + "]"
        return out


Arg = Word | Flag | Assignment | Symbol


@dataclass(frozen=True)
class Statement:
    """One statement: its arguments, the words after ``--`` and a trailing ``&``.

    ``passthrough`` is ``None`` when the statement has no ``--``; otherwise the
    words after it, never classified as flags or symbols.
    """

    args: tuple[Arg, ...]
    passthrough: tuple[Word, ...] | None = None
    background: bool = False
    line: int = field(default=1, compare=False)
    column: int = field(default=1, compare=False)
    source: str = field(default="", compare=False)

    @property
    def command_name(self) -> str | None:
        """The first word as written (``$c`` for a variable, which expands only
        when the statement runs); None when the statement starts with an @target."""
        first = self.args[0] if self.args else None
        return first.literal if isinstance(first, Word) else None

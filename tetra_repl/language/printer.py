"""Print statements back as source text that parses to the same AST."""

from __future__ import annotations

import re

from .ast import Arg, Assignment, Flag, Statement, Symbol, Var, Word

_SAFE_BARE = re.compile(r"[A-Za-z0-9_./:,+%^~@=-]+\Z")
_SAFE_FIRST = re.compile(r"[A-Za-z0-9_./:,+%^~]")  # may start a word without changing its kind


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\"'\"'") + "'"


def _word(word: Word, *, first_piece_free: bool = False) -> str:
    out = []
    for i, piece in enumerate(word.pieces):
        if isinstance(piece, Var):
            out.append("$?" if piece.name == "?" else "${" + piece.name + "}")
            continue
        starts_word = i == 0 and not first_piece_free
        if piece and _SAFE_BARE.match(piece) and (
            not starts_word or (_SAFE_FIRST.match(piece) and "=" not in piece)
        ):
            out.append(piece)
        else:
            out.append(_quote(piece))
    return "".join(out)


def _arg(arg: Arg) -> str:
    if isinstance(arg, Symbol):
        return arg.text
    if isinstance(arg, Flag):
        if arg.value is None:
            return arg.name
        return arg.name + "=" + _word(arg.value, first_piece_free=True)
    if isinstance(arg, Assignment):
        return arg.name + "=" + _word(arg.value, first_piece_free=True)
    return _word(arg)


def to_source(statement: Statement) -> str:
    """Render one statement; ``parse(to_source(s))[0] == s``."""
    parts = [_arg(a) for a in statement.args]
    if statement.passthrough is not None:
        parts.append("--")
        parts.extend(_word(w) for w in statement.passthrough)
    if statement.background:
        parts.append("&")
    return " ".join(parts)


_ARGV_HEAD = re.compile(r"(--?[A-Za-z][A-Za-z0-9_\-]*=|[A-Za-z_][A-Za-z0-9_]*=)(.*)\Z", re.S)
_ARGV_BARE = re.compile(r"[A-Za-z0-9_./:,+%^~@=\[\]-]+\Z")


def argv_to_source(words: list[str]) -> str:
    """One statement from a shell's argv: each argv word stays exactly one word.

    The calling shell already removed its quotes, so anything not plainly
    bare is single-quoted; ``--flag=value``, ``-f=value`` and ``NAME=value``
    keep their head so they are still a flag and an assignment.
    """
    out = []
    for word in words:
        m = _ARGV_HEAD.match(word)
        if m:
            value = m.group(2)
            out.append(m.group(1) + (value if value and _ARGV_BARE.match(value) else _quote(value)))
        elif word and _ARGV_BARE.match(word):
            out.append(word)
        else:
            out.append(_quote(word))
    return " ".join(out)

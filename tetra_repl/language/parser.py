"""Parse tetra source text into :mod:`tetra_repl.language.ast` statements.

The grammar is ``grammar/tetra.lark`` (shipped as ``tetra_repl.grammar``),
compiled with LALR by lark (:mod:`._lark`, the only module importing lark).
Lines are parsed by :mod:`._driver` over lark's table, cached as JSON: a
process that finds the cache never imports lark; a syntax error is re-parsed
by lark so that its message is lark's.  This module holds what needs no
lark: word classification, error messages, and the entry point :func:`parse`.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

from ..errors import ParseError
from .ast import Arg, Assignment, Flag, Piece, Statement, Symbol, Var, Word

_FRIENDLY = {
    "WORD": "a word",
    "WORDS": "a word",
    "BG": "'&'",
    "_SEP": "';' or a new line",
    "$END": "end of input",
}

_SYMBOL = re.compile(
    r"@(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)"
    r"(?::(?P<role>[A-Za-z0-9_.\-]+))?"
    r"(?:\[(?P<sel>[^\]\s;&,$\"'\\]+(?:,[^\]\s;&,$\"'\\]+)*)\])?\Z"
)
# --name, -n, --name=VALUE and -n=VALUE: a short flag's '=' works as a long one's
_FLAG = re.compile(r"(--?[A-Za-z][A-Za-z0-9_\-]*)(=?)")
_ASSIGN = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=")
# The pieces of one WORD token, in the order the grammar lists them.
_PIECE = re.compile(
    r"""(?P<dq>"(?:[^"\\]|\\.)*")"""
    r"""|(?P<sq>'[^']*')"""
    r"""|\$(?:(?P<q>\?)|(?P<v>[A-Za-z_][A-Za-z0-9_]*)|\{(?P<bv>[A-Za-z_][A-Za-z0-9_]*)\})"""
    r"""|\\(?P<esc>.)"""
    r"""|(?P<bare>[^"'$\\]+)""",
    re.S,
)
_DQ_INNER = re.compile(
    r"""\\(?P<esc>.)|\$(?:(?P<q>\?)|(?P<v>[A-Za-z_][A-Za-z0-9_]*)|\{(?P<bv>[A-Za-z_][A-Za-z0-9_]*)\})"""
    r"""|(?P<text>[^\\$]+|\$)""",
    re.S,
)
_DQ_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "$": "$"}


@lru_cache(maxsize=1)
def _parser():
    """The table driver: from the cache, else compiled by lark (and cached)."""
    from . import _driver

    grammar = _driver.grammar_text()
    found = _driver.load(grammar)
    if found is not None:
        return found
    from . import _lark  # lark costs tens of ms to import: only when no table is cached

    return _lark.driver(_lark_parser(), grammar)


@lru_cache(maxsize=1)
def _lark_parser():
    from . import _lark

    return _lark.build()


def parse(text: str, *, first_line: int = 1) -> list[Statement]:
    """Parse source text (one line or a whole script) into statements.

    >>> parse("echo hi; @web uptime &")[1].background
    True
    """
    from ._driver import NoParse

    parser = _parser()
    _state.text = text
    _state.first_line = first_line
    if parser is not None:
        try:
            return parser.parse(text)
        except NoParse:
            pass  # a syntax error: lark parses it again to describe it
    try:
        return _lark_parser().parse(text)
    except ParseError:
        raise
    except Exception as exc:
        from lark.exceptions import UnexpectedInput

        if isinstance(exc, UnexpectedInput):
            raise _from_lark(exc, text, first_line) from None
        raise


# The text being parsed, for positions in messages.  Per thread: the shell's
# completer parses on a worker thread while a statement may be parsed on the main one.
_state = threading.local()


def _source_line(text: str, offset: int) -> str:
    start = text.rfind("\n", 0, offset) + 1
    stop = text.find("\n", offset)
    return text[start:] if stop < 0 else text[start:stop]


_OPEN_BRACE_VAR = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*")


def _bad_character(text: str, pos: int, line: int, column: int) -> ParseError:
    ch = text[pos]
    hint = None
    if ch in "\"'":
        message = "unterminated string"
    elif ch == "$":
        if text.startswith("$(", pos):
            message = "command substitution $(...) is not supported"
            hint = "quote it ('$(...)') to pass it literally, or run: sh -c '...'"
        elif (m := _OPEN_BRACE_VAR.match(text, pos)) and m.end() > pos + 2:
            message = f"expected '}}' after '{m.group()}'"
            column += m.end() - pos  # the caret where '}' belongs
        else:
            message = "expected a variable name after '$'"
            hint = "write a literal '$' inside single quotes"
    elif ch == "\\":
        message = "nothing to escape after '\\' at end of input"
    else:
        message = f"unexpected character {ch!r}"
    return ParseError(message, line=line, column=column, source_line=_source_line(text, pos),
                      hint=hint)


def _from_lark(exc, text: str, first_line: int) -> ParseError:
    token = getattr(exc, "token", None)
    expected = sorted(_FRIENDLY.get(name, name) for name in (exc.expected or ()))
    if token is not None and token.type == "$END":
        message = "unexpected end of input"
        line = first_line + text.count("\n")
        column = len(text) - text.rfind("\n")
        offset = len(text)
    else:
        message = f"unexpected {_FRIENDLY.get(token.type, token.type) if token else 'input'}"
        if token is not None and token.type in ("WORD", "WORDS"):
            from ._driver import _WORD

            first = _WORD.match(token.value)
            message = f"unexpected word {first.group() if first else token.value}"
        if token is not None and token.type == "BG":
            message = "'&' must end a statement"
        line, column = exc.line, exc.column
        offset = exc.pos_in_stream or 0
    if expected:
        message += f", expected {' or '.join(expected)}"
    return ParseError(message, line=line, column=column, source_line=_source_line(text, offset))


def _pieces(token) -> list[tuple[str, Piece]]:
    """Split one WORD token into (kind, piece); kind is bare, quoted or var."""
    out: list[tuple[str, Piece]] = []
    for m in _PIECE.finditer(token):
        kind = m.lastgroup
        if kind == "bare":
            out.append(("bare", m.group("bare")))
        elif kind == "esc":
            out.append(("bare", m.group("esc")))
        elif kind == "sq":
            out.append(("quoted", m.group()[1:-1]))
        elif kind == "dq":
            for d in _DQ_INNER.finditer(m.group()[1:-1]):
                dk = d.lastgroup
                if dk == "text":
                    out.append(("quoted", d.group()))
                elif dk == "esc":
                    ch = d.group("esc")
                    out.append(("quoted", _DQ_ESCAPES.get(ch, "\\" + ch)))
                else:
                    out.append(("var", Var(d.group(dk))))
            if m.group() == '""':
                out.append(("quoted", ""))
        else:
            out.append(("var", Var(m.group(kind))))
    return out


def _merge(pieces) -> tuple[Piece, ...]:
    """Join adjacent literal pieces; an empty word keeps one empty literal."""
    merged: list[Piece] = []
    for _, piece in pieces:
        if isinstance(piece, str):
            if not piece:
                continue
            if merged and isinstance(merged[-1], str):
                merged[-1] += piece
                continue
        merged.append(piece)
    return tuple(merged) if merged else ("",)


_UNQUOTED = re.compile(r"[^\"'$\\]*\Z")  # one bare piece: nothing to split
_PLAIN = re.compile(r"[^\"'$\\@=-][^\"'$\\=]*\Z")  # no quotes, variables, escapes, flag or assignment


_NAME_START = re.compile(r"[A-Za-z_]")
_NAME_REST = re.compile(r"[A-Za-z0-9_.\-]*")
_ROLE = re.compile(r"[A-Za-z0-9_.\-]+")
_SELECTOR_ITEM = re.compile(r"[^\]\s;&,$\"'\\]+")  # as in _SYMBOL


def _symbol_problem(text: str) -> tuple[int, str]:
    """Where an @symbol that :data:`_SYMBOL` refused goes wrong (index into ``text``,
    possibly ``len(text)``: the character after it) and what was expected there."""
    if not _NAME_START.match(text, 1):
        return 1, "expected a target name after '@'"
    i = _NAME_REST.match(text, 2).end()
    if text.startswith(":", i):
        m = _ROLE.match(text, i + 1)
        if m is None:
            return i + 1, "expected a role name after ':'"
        i = m.end()
    if text.startswith("[", i):
        i += 1
        while True:
            m = _SELECTOR_ITEM.match(text, i)
            if m is None:
                return i, "expected a host name or index in '[...]'"
            i = m.end()
            if text.startswith(",", i):
                i += 1
                continue
            if text.startswith("]", i):
                i += 1
                break
            return i, "expected ']' to close the host selector"
    if i < len(text):
        if "[" in text[:i]:
            wanted = "the end of the target"
        elif ":" in text[:i]:
            wanted = "'[hosts]' or the end of the target"
        else:
            wanted = "':role', '[hosts]' or the end of the target"
        return i, f"unexpected {text[i]!r}, expected {wanted}"
    return 0, "expected @name, @name:role or @name[hosts]"


SYMBOL_HINT = "targets look like @staging, @prod:web, @prod[web-1] or @prod[0]"


class SymbolError(ValueError):
    """Text that is not an @symbol; ``at`` is the index of the fault in it."""

    def __init__(self, text: str, at: int, expected: str):
        super().__init__(f"invalid target {text!r}: {expected}")
        self.at = at


def parse_symbol(text: str, column: int = 0) -> Symbol:
    """Read an @symbol: the one rule for a literal ``@prod:web`` and for a value
    that must be a target (``exec $t``, ``--target=@x``).  Raises SymbolError.

    >>> parse_symbol("@prod:web[web-1]").selector
    ('web-1',)
    """
    m = _SYMBOL.match(text)
    if m is None:
        if not text.startswith("@"):
            raise SymbolError(text, 0, "a target starts with '@'")
        at, expected = _symbol_problem(text)
        raise SymbolError(text, at, expected)
    sel = m.group("sel")
    return Symbol(m.group("name"), m.group("role"),
                  tuple(sel.split(",")) if sel is not None else None, column)


def _classify(text: str, column: int, offset: int, passthrough: bool) -> Arg:
    if _PLAIN.match(text):
        return Word((text,), column)
    if text[0] == "@" and not passthrough:
        try:
            return parse_symbol(text, column)
        except SymbolError as exc:
            # @$env, @prod:${role}: a word with a variable is read as a target
            # once expanded, where the command wants one (tetra_repl.dispatch)
            pieces = _pieces(text)
            if any(kind == "var" for kind, _ in pieces):
                return Word(_merge(pieces), column)
            raise ParseError(
                str(exc), line=_state.text.count("\n", 0, offset) + _state.first_line,
                column=column + exc.at, source_line=_source_line(_state.text, offset),
                hint=SYMBOL_HINT) from None
    pieces = [("bare", text)] if _UNQUOTED.match(text) else _pieces(text)
    if passthrough or pieces[0][0] != "bare":
        return Word(_merge(pieces), column)
    head = pieces[0][1]
    if head.startswith("-"):
        m = _FLAG.match(head)
        if m and m.group(2):
            rest = [("bare", head[m.end():])] + pieces[1:]
            return Flag(m.group(1), Word(_merge(rest), column), column)
        if m and m.end() == len(head) and len(pieces) == 1:
            return Flag(head, None, column)
        return Word(_merge(pieces), column)
    m = _ASSIGN.match(head)
    if m:
        rest = [("bare", head[m.end():])] + pieces[1:]
        return Assignment(m.group(1), Word(_merge(rest), column), column)
    return Word(_merge(pieces), column)


def parse_assignment(text: str) -> tuple[str, str] | None:
    """``NAME=VALUE`` text as ``(name, value)`` (the rule of a literal assignment), else None."""
    m = _ASSIGN.match(text)
    return (m.group(1), text[m.end():]) if m else None

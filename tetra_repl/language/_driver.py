"""The LALR driver: lark's parse table for tetra.lark, run without lark.

lark compiles ``grammar/tetra.lark`` (in :mod:`._lark`); what parsing needs
from that is small: the terminals' regular expressions, the table of states
and the rules' child filters.  :func:`export` is given them and writes them
as JSON to the user's cache directory, keyed on the grammar's sha256;
:func:`load` reads them back.  A process that finds the table parses without
importing lark at all (lark's import and set-up are ~40 ms of every start).

On a syntax error :meth:`Parser.parse` raises :class:`NoParse` and the caller
re-parses with lark itself, so error messages stay lark's.  The statement
builders are here too, shared by both paths.
"""

from __future__ import annotations

import hashlib
import json
import os
import re

from ..errors import ParseError
from .ast import Arg, Statement, Word
from .parser import _PLAIN, _bad_character, _classify, _source_line, _state

FORMAT = 1  # bump when the JSON layout or the builders' contract changes


class NoParse(Exception):
    """The table has no action for a token: a syntax error lark will describe."""


class Tok:
    """One token: what the builders read of lark's Token."""

    __slots__ = ("type", "value", "start_pos", "line", "column")

    def __init__(self, type_: str, value: str, start_pos: int, line: int, column: int):
        self.type, self.value, self.start_pos, self.line, self.column = \
            type_, value, start_pos, line, column


class Scanner:
    """Scans with one regular expression built from the grammar's terminals."""

    def __init__(self, terminals: list[tuple[str, str]], word: str, ignore):
        self.terminals, self.word_pattern, self.ignore = terminals, word, frozenset(ignore)
        self.word = re.compile(word)
        self.scanner = re.compile("|".join(f"(?P<{name}>{regexp})" for name, regexp in terminals))

    def tokens(self, text: str, make=Tok, end_token: bool = True) -> list:
        """Every token of ``text`` (plus ``$END``); a character no terminal
        matches raises ParseError at once."""
        out = []
        end = len(text)
        match = self.scanner.match
        ignore = self.ignore
        pos = 0
        line = _state.first_line
        line_start = 0
        while pos < end:
            m = match(text, pos)
            if m is None:
                raise _bad_character(text, pos, line, pos - line_start + 1)
            kind = m.lastgroup
            value = m.group()
            if kind not in ignore:
                out.append(make(kind, value, pos, line, pos - line_start + 1))
            if "\n" in value:
                line += value.count("\n")
                line_start = pos + value.rindex("\n") + 1
            pos = m.end()
        if end_token:
            out.append(make("$END", "", pos, line, pos - line_start + 1))
        return out


class _Inline:
    """An inlined helper rule's children (lark's ``__start_star_0`` trees)."""

    __slots__ = ("children",)

    def __init__(self, children: list):
        self.children = children


class Parser:
    """``parse(text)``: the table driven over the scanner's tokens."""

    def __init__(self, scanner: Scanner, start: int, states: dict, rules: list):
        self.scanner = scanner
        self._start = start
        self._states = states
        self._rules = [(origin, size, _callback(include, builder))
                       for origin, size, include, builder in rules]

    def parse(self, text: str) -> list[Statement]:
        states, rules = self._states, self._rules
        stack = [self._start]
        values: list = []
        try:
            for tok in self.scanner.tokens(text):
                kind = tok.type
                while True:
                    shift, arg = states[stack[-1]][kind]
                    if shift:
                        stack.append(arg)
                        values.append(tok)
                        break
                    origin, size, callback = rules[arg]
                    if size:
                        children = values[-size:]
                        del stack[-size:], values[-size:]
                    else:
                        children = []
                    value = callback(children)
                    if kind == "$END" and origin == "start":
                        return value
                    stack.append(states[stack[-1]][origin][1])
                    values.append(value)
        except KeyError:
            pass
        raise NoParse()


def _callback(include, builder: str):
    build = _BUILDERS[builder]
    if include is None:
        return build

    def filtered(children: list):  # lark's ChildFilterLALR_NoPlaceholders
        kept: list = []
        for i, expand in include:
            if expand:
                kept = kept + children[i].children if kept else children[i].children
            else:
                kept.append(children[i])
        return build(kept)
    return filtered


def statement(tokens) -> Statement:
    """``statement: WORDS BG?`` -> one ast.Statement (WORDS split into words)."""
    words = tokens[0]
    value = words.value
    base = words.start_pos
    column = first_column = words.column
    multiline = "\n" in value
    plain = _PLAIN.match
    args: list[Arg] = []
    rest: list[Word] | None = None
    for m in _WORD.finditer(value):
        text = m.group()
        start = m.start()
        if multiline and (newline := value.rfind("\n", 0, start)) >= 0:
            column = start - newline
        else:
            column = first_column + start
        if rest is not None:
            rest.append(_classify(text, column, base + start, True))
        elif plain(text):
            args.append(Word((text,), column))
        elif text == "--":
            rest = []
        else:
            args.append(_classify(text, column, base + start, False))
    if not args:
        raise ParseError("a statement must start with a command or an @target, not '--'",
                         line=words.line, column=first_column,
                         source_line=_source_line(_state.text, base))
    background = len(tokens) > 1
    # the statement's own text (a job's description), not the whole line it is on
    source = value.replace("\\\n", " ") + (" &" if background else "")
    return Statement(tuple(args), None if rest is None else tuple(rest), background,
                     words.line, first_column, source)


def start(items) -> list[Statement]:
    return [s for s in items if isinstance(s, Statement)]


_BUILDERS = {"statement": statement, "start": start, "inline": _Inline}

_WORD: re.Pattern  # the WORD terminal: set by use() from whichever path built the scanner


def use(scanner: Scanner) -> Scanner:
    """Make ``scanner``'s WORD the one the builders split WORDS with."""
    global _WORD
    _WORD = scanner.word
    return scanner


# -- the cache --------------------------------------------------------------

def grammar_text() -> str:
    from .. import grammar as grammar_package  # grammar/ is installed as tetra_repl.grammar

    with open(os.path.join(os.path.dirname(grammar_package.__file__), "tetra.lark")) as f:
        return f.read()


def cache_dir() -> str | None:
    """The user's own cache dir, never a shared /tmp (lark's pickled tables are
    kept there too, and loading a pickle someone else planted would run their code)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if not os.path.isabs(base):  # no home directory: no cache rather than one in the cwd
        return None
    folder = os.path.join(base, "tetra")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return None
    return folder


def _key(grammar: str) -> str:
    return hashlib.sha256(f"{FORMAT}\n{grammar}".encode()).hexdigest()


def _table_file() -> str | None:
    folder = cache_dir()
    return os.path.join(folder, "grammar.table.json") if folder else None


def load(grammar: str) -> Parser | None:
    """The parser from the cached table, or None (absent, stale or damaged)."""
    path = _table_file()
    if path is None:
        return None
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        if data.get("key") != _key(grammar):
            return None
        states = {int(s): {t: (bool(a[0]), int(a[1])) for t, a in acts.items()}
                  for s, acts in data["states"].items()}
        rules = [(str(o), int(n), None if inc is None else [(int(i), bool(e)) for i, e in inc],
                  str(b)) for o, n, inc, b in data["rules"]]
        if any(r[3] not in _BUILDERS for r in rules):
            return None
        scanner = Scanner([(str(n), str(r)) for n, r in data["terminals"]], str(data["word"]),
                          [str(i) for i in data["ignore"]])
        return Parser(use(scanner), int(data["start"]), states, rules)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, re.error):
        return None


def export(grammar: str, scanner: Scanner, start: int, states: dict, rules: list) -> None:
    """Write the table for :func:`load` (temp + rename: readers never see half)."""
    path = _table_file()
    if path is None:
        return
    data = {"key": _key(grammar), "terminals": scanner.terminals, "word": scanner.word_pattern,
            "ignore": sorted(scanner.ignore), "start": start,
            "states": {str(s): {t: [int(a[0]), a[1]] for t, a in acts.items()}
                       for s, acts in states.items()},
            "rules": [list(r) for r in rules]}
    tmp = f"{path}.{os.getpid()}.tmp"
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass

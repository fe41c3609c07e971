"""The lark side of the parser: the compiled grammar, a fast lexer, the AST builder.

Imported only when a line is parsed (lark is expensive to import).  The
compiled LALR tables are cached on disk by lark (keyed on the grammar's hash),
so a process start does not recompile the grammar.

:class:`GrammarParser` drives lark's own LALR table with the same lexer and
callbacks that ``Lark.parse`` uses.  It skips lark's per-call set-up (lexer
thread, parser state, postlex connector), about 19 us a call, which is most of
the budget for parsing one line.  On a syntax error it re-parses with
``Lark.parse`` so messages are exactly lark's.
"""

from __future__ import annotations

import os
import re

from lark import Lark, Transformer
from lark.lexer import Lexer, Token
from lark.parsers.lalr_analysis import Shift

from ..errors import ParseError
from .ast import Arg, Statement, Word
from .parser import _PLAIN, _bad_character, _classify, _source_line, _state


def build() -> "GrammarParser":
    from .. import grammar as grammar_package  # grammar/ is installed as tetra_repl.grammar

    with open(os.path.join(os.path.dirname(grammar_package.__file__), "tetra.lark")) as f:
        grammar = f.read()
    return GrammarParser(Lark(grammar, parser="lalr", lexer=WordLexer, transformer=Builder(),
                              postlex=KeepWord(), maybe_placeholders=False,
                              cache=_cache_file()))


class GrammarParser:
    """``parse(text)`` with lark's LALR table for tetra.lark (see the module doc)."""

    def __init__(self, lark: Lark):
        self.lark = lark
        try:
            inner = lark.parser.parser.parser
            self._states = inner.parse_table.states
            self._start = inner.parse_table.start_states["start"]
            self._callbacks = inner.callbacks
            lexer = lark.parser.lexer
            self._lexer: WordLexer = getattr(lexer, "lexer", lexer)
            self._lexer.tokens  # noqa: B018 -- fail here, not mid-parse, if lark changed
        except (AttributeError, KeyError):
            self._states = None  # a lark whose internals differ: use its public parse

    def parse(self, text: str):
        states = self._states
        if states is None:
            return self.lark.parse(text)
        callbacks = self._callbacks
        stack = [self._start]
        values: list = []
        try:
            for tok in self._lexer.tokens(text):
                kind = tok.type
                while True:
                    action, arg = states[stack[-1]][kind]
                    if action is Shift:
                        stack.append(arg)
                        values.append(tok)
                        break
                    size = len(arg.expansion)
                    if size:
                        children = values[-size:]
                        del stack[-size:], values[-size:]
                    else:
                        children = []
                    value = callbacks[arg](children)
                    if kind == "$END" and arg.origin.name == "start":
                        return value
                    stack.append(states[stack[-1]][arg.origin.name][1])
                    values.append(value)
        except KeyError:
            pass  # no action for this token: a syntax error
        return self.lark.parse(text)  # raises lark's own error, mapped by the caller


def _cache_file() -> str | bool:
    """Lark's pickled tables live in the user's own cache dir, never a shared /tmp
    (loading a pickle someone else planted would run their code)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    folder = os.path.join(base, "tetra")
    try:
        os.makedirs(folder, mode=0o700, exist_ok=True)
    except OSError:
        return False
    return os.path.join(folder, "grammar.lark-cache")


class KeepWord:
    """Keeps the WORD terminal (used only inside WORDS) so its pattern can split WORDS."""

    always_accept = ("WORD",)

    def process(self, stream):
        return stream


_WORD: re.Pattern  # set from the grammar when the lexer is built


class WordLexer(Lexer):
    """Scans with one regular expression built from the grammar's terminals."""

    __future_interface__ = 2

    def __init__(self, conf):
        global _WORD
        self.ignore = frozenset(conf.ignore)
        by_name = {t.name: t.pattern.to_regexp() for t in conf.terminals}
        _WORD = re.compile(by_name.pop("WORD"))
        alternatives = [f"(?P<{name}>{regexp})" for name, regexp in by_name.items()]
        self.scanner = re.compile("|".join(alternatives))

    def lex(self, lexer_state, parser_state):
        yield from self.tokens(lexer_state.text.text, end_token=False)

    def tokens(self, text: str, end_token: bool = True) -> list[Token]:
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
                out.append(Token(kind, value, pos, line, pos - line_start + 1))
            if "\n" in value:
                line += value.count("\n")
                line_start = pos + value.rindex("\n") + 1
            pos = m.end()
        if end_token:
            out.append(Token("$END", "", pos, line, pos - line_start + 1))
        return out


class Builder(Transformer):
    """Turns each statement's tokens into an ast.Statement while parsing (no tree)."""

    def statement(self, tokens):
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

    def start(self, items):
        return [s for s in items if isinstance(s, Statement)]

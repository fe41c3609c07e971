"""The lark side of the parser: compiles tetra.lark, exports its table, reports errors.

Imported only when no cached table fits the grammar (see :mod:`._driver`),
and on a syntax error, so that the message is lark's own.  lark's compiled
LALR tables are cached on disk by lark as well (keyed on the grammar's hash),
so even this path does not recompile the grammar.
"""

from __future__ import annotations

import os

from lark import Lark, Transformer
from lark.lexer import Lexer, Token
from lark.parsers.lalr_analysis import Shift

from . import _driver


def build() -> Lark:
    """lark's parser for tetra.lark; the table is exported for :func:`_driver.load`."""
    grammar = _driver.grammar_text()
    folder = _driver.cache_dir()
    lark = Lark(grammar, parser="lalr", lexer=WordLexer, transformer=Builder(),
                postlex=KeepWord(), maybe_placeholders=False,
                cache=os.path.join(folder, "grammar.lark-cache") if folder else False)
    return lark


def driver(lark: Lark, grammar: str) -> _driver.Parser | None:
    """The table driver over ``lark``'s table (exported to the cache), or None
    for a lark whose internals differ: then lark parses every line itself."""
    try:
        inner = lark.parser.parser.parser
        table = inner.parse_table
        lexer = lark.parser.lexer
        scanner = getattr(lexer, "lexer", lexer).scanner
        rule_index: dict = {}
        rules: list = []
        states: dict = {}
        for state, actions in table.states.items():
            out = {}
            for token, (action, arg) in actions.items():
                if action is Shift:
                    out[token] = (True, arg)
                    continue
                if arg not in rule_index:
                    rule_index[arg] = len(rules)
                    rules.append((arg.origin.name, len(arg.expansion),
                                  *_filter_of(inner.callbacks[arg])))
                out[token] = (False, rule_index[arg])
            states[state] = out
        start = table.start_states["start"]
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    _driver.export(grammar, scanner, start, states, rules)
    return _driver.Parser(scanner, start, states, rules)


def _filter_of(callback) -> tuple:
    """(include, builder) of one rule's lark callback: which children it keeps
    (None: all) and what it builds from them."""
    include = getattr(callback, "to_include", None)
    build = getattr(callback, "node_builder", callback)
    name = getattr(build, "__name__", None) or getattr(getattr(build, "func", None), "__name__", "")
    if getattr(build, "__self__", None).__class__ is Builder and name in ("statement", "start"):
        builder = name
    elif name == "default_callback":  # an inlined helper rule: its parent takes the children
        builder = "inline"
    else:
        raise ValueError(f"unknown lark callback {callback!r}")
    return ([list(pair) for pair in include] if include is not None else None), builder


class KeepWord:
    """Keeps the WORD terminal (used only inside WORDS) so its pattern can split WORDS."""

    always_accept = ("WORD",)

    def process(self, stream):
        return stream


class WordLexer(Lexer):
    """lark's view of :class:`_driver.Scanner` (built from the grammar's terminals)."""

    __future_interface__ = 2

    def __init__(self, conf):
        by_name = {t.name: t.pattern.to_regexp() for t in conf.terminals}
        word = by_name.pop("WORD")
        self.scanner = _driver.use(_driver.Scanner(list(by_name.items()), word, conf.ignore))

    def lex(self, lexer_state, parser_state):
        yield from self.scanner.tokens(lexer_state.text.text, make=Token, end_token=False)


class Builder(Transformer):
    """Turns each statement's tokens into an ast.Statement while parsing (no tree)."""

    def statement(self, tokens):
        return _driver.statement(tokens)

    def start(self, items):
        return _driver.start(items)

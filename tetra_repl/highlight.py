"""A Pygments lexer for the tetra command language, and ANSI highlighting.

The lexer mirrors ``grammar/tetra.lark`` and the word classification of
:mod:`tetra_repl.language.parser`: a statement is words separated by blanks;
the first word is the command (or an ``@target`` followed by a remote
command); a word is a flag, an assignment, an @symbol or a plain word
according to its first unquoted piece; ``--`` ends classification.  It is
tolerant where the parser is strict, because it colours text *while it is
typed*: an unterminated quote runs to the end of the text, a half-written
``@prod:`` is still a target.

The same lexer drives the shell's live highlighting (prompt_toolkit's
``PygmentsLexer``), the ``help`` examples (:func:`highlight_ansi`) and the
shell's completer (:func:`words_before`), so there is one set of lexical
rules outside the grammar, not three.

Importing this module imports pygments: only the shell and ``help`` with
colour on do.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from pygments.lexer import RegexLexer, bygroups, default, include
from pygments.style import Style
from pygments.token import (Comment, Error, Name, Operator, Punctuation, String, Text, Whitespace)

__all__ = ["TetraLexer", "TetraStyle", "highlight_ansi", "words_before", "TokenWord",
           "COMMAND", "SYMBOL", "ROLE", "SELECTOR", "FLAG", "ASSIGN", "VARIABLE",
           "PASSTHROUGH", "BACKGROUND", "SEPARATOR", "WORD"]

# Token types, one per thing a user should tell apart at a glance.  The custom
# subtypes (Operator.Passthrough...) fall back to their parent's colour in any
# stock Pygments style; TetraStyle gives each its own.
COMMAND = Name.Function  # the command word and a group's subcommand
SYMBOL = Name.Tag  # @name
ROLE = Name.Tag.Role  # :role of @name:role
SELECTOR = Name.Tag.Selector  # web-1,web-2 of @name[web-1,web-2]
FLAG = Name.Attribute  # --name, -f
ASSIGN = Name.Constant  # NAME of NAME=value
VARIABLE = Name.Variable  # $x, ${x}, $?
PASSTHROUGH = Operator.Passthrough  # the `--` that ends flag parsing
BACKGROUND = Operator.Background  # trailing &
SEPARATOR = Punctuation.Separator  # ; and new line
WORD = Text  # a plain argument

_BARE = r"""[^\s;&"'$#\\]+"""  # unquoted run inside a word (the grammar's _TAIL)
_VAR = r"\$(?:\?|[A-Za-z_][A-Za-z0-9_]*|\{[A-Za-z_][A-Za-z0-9_]*\})"
_WORD_END = r"(?=[\s;&#]|\Z)"
_GAP = r"(?:[ \t\r\f\v]|\\\n)+"
# Entering a word state must be sure to consume something there: a zero-width
# `default` would loop for ever at the end of the text.
_AT_WORD = r"(?=[^\s;&])"


def _nothing(lexer, match):
    return iter(())


class TetraLexer(RegexLexer):
    """Lexer for tetra statements (``deploy @staging a.tgz --dry-run &``).

    Option ``groups``: command words that take a subcommand (``tsm``, ``txn``);
    the word after one of them is coloured as a command too.
    """

    name = "tetra"
    aliases = ["tetra"]
    filenames = ["*.tetra"]
    mimetypes = ["text/x-tetra"]

    tokens = {
        # The start of a statement: a command word or an @target.
        "root": [
            include("blank"),
            (r"@[A-Za-z_][A-Za-z0-9_.\-]*|@", SYMBOL, ("args", "remote", "symbol")),
            (_AT_WORD, _nothing, ("args", "command")),
        ],
        # Between words of a statement, and what may follow any word.
        "blank": [
            (_GAP, Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r"[;\n]", SEPARATOR),
            (r"&", BACKGROUND),
            (r"\s", Error),  # blanks the grammar does not allow (\x1c...)
        ],
        "command": [
            (_BARE, COMMAND),
            include("pieces"),
            default("#pop"),
        ],
        # After `@target`: blanks, then the command run on the target.
        "remote": [
            (_GAP, Whitespace),
            (r"#[^\n]*", Comment.Single),
            default(("#pop", "command")),
        ],
        "symbol": [
            (r"(:)([A-Za-z0-9_.\-]*)", bygroups(Punctuation, ROLE)),
            (r"(\[)([^\]\s;&]*)(\]?)", bygroups(Punctuation, SELECTOR, Punctuation)),
            default("#pop"),
        ],
        "args": [
            (_GAP, Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r"[;\n]", SEPARATOR, "#pop"),
            (r"&", BACKGROUND),
            (r"\s", Error),
            (r"--" + _WORD_END, PASSTHROUGH, ("#pop", "passthrough")),
            (r"(--[A-Za-z][A-Za-z0-9_\-]*)(=)", bygroups(FLAG, Operator), "word"),
            (r"--?[A-Za-z][A-Za-z0-9_\-]*" + _WORD_END, FLAG),
            (r"([A-Za-z_][A-Za-z0-9_]*)(=)", bygroups(ASSIGN, Operator), "word"),
            (r"@[A-Za-z_][A-Za-z0-9_.\-]*|@", SYMBOL, "symbol"),
            (_AT_WORD, _nothing, "word"),
        ],
        # After `--`: every word is verbatim (no flags, no targets).
        "passthrough": [
            (_GAP, Whitespace),
            (r"#[^\n]*", Comment.Single),
            (r"[;\n]", SEPARATOR, "#pop"),
            (r"&", BACKGROUND),
            (r"\s", Error),
            (_AT_WORD, _nothing, "word"),
        ],
        "word": [
            (_BARE, WORD),
            include("pieces"),
            default("#pop"),
        ],
        # Quoted strings, variables and escapes: the pieces of any word.
        "pieces": [
            (r'"', String.Double, "dq"),
            (r"'[^']*'?", String.Single),  # unterminated: to the end, as typed
            (_VAR, VARIABLE),
            (r"\$", Error),  # `$(`, a lone `$`: the parser refuses them
            (r"\\[^\n]", String.Escape),
            (r"\\\Z", String.Escape),  # a trailing backslash continues the line
        ],
        "dq": [
            (r'"', String.Double, "#pop"),
            (r"\\[\s\S]", String.Escape),
            (_VAR, VARIABLE),
            (r'[^"\\$]+|\$', String.Double),
        ],
    }

    def __init__(self, **options):
        # Keep the text exactly as given: the shell lexes what is being typed.
        options.setdefault("stripnl", False)
        options.setdefault("ensurenl", False)
        super().__init__(**options)
        # kept by reference: the shell passes the registry's live `groups` dict
        groups = options.get("groups")
        self.groups = groups if groups is not None else frozenset()

    def get_tokens_unprocessed(self, text, stack=("root",)):
        """As RegexLexer, plus: the plain word after a group command is a subcommand."""
        expect_sub = False
        for index, token, value in super().get_tokens_unprocessed(text, stack):
            if expect_sub and token is WORD:
                token = COMMAND
                expect_sub = False
            elif token is not Whitespace:
                expect_sub = token is COMMAND and value in self.groups
            yield index, token, value


class TetraStyle(Style):
    """Colours for a dark or light terminal (ANSI names, so the user's palette rules)."""

    styles = {
        Comment: "italic ansibrightblack",
        COMMAND: "bold ansiblue",
        SYMBOL: "bold ansimagenta",
        ROLE: "nobold ansimagenta",
        SELECTOR: "nobold ansicyan",
        FLAG: "ansiyellow",
        ASSIGN: "ansicyan",
        VARIABLE: "bold ansicyan",
        String: "ansigreen",
        String.Escape: "bold ansigreen",
        PASSTHROUGH: "bold ansiyellow",
        BACKGROUND: "bold ansired",
        SEPARATOR: "bold",
        Error: "ansired underline",
    }


def highlight_ansi(text: str, groups: Iterable[str] = ()) -> str:
    """``text`` with ANSI colour codes, for a terminal (``help`` examples)."""
    from pygments import highlight
    from pygments.formatters import Terminal256Formatter

    out = highlight(text, TetraLexer(groups=groups), Terminal256Formatter(style=TetraStyle))
    return out[:-1] if out.endswith("\n") and not text.endswith("\n") else out


# -- words, for the completer ---------------------------------------------------


@dataclass
class TokenWord:
    """One word of a statement as typed: its raw text, start offset and first token type."""

    text: str
    start: int
    kind: object = WORD
    tokens: list = field(default_factory=list)  # (token type, value) pairs

    @property
    def closed(self) -> bool:
        """False while a quote in the word is still open (being typed)."""
        double_open = False
        for token, value in self.tokens:
            if token is String.Double and value == '"':  # content tokens are never a lone quote
                double_open = not double_open
        if double_open:
            return False
        token, value = self.tokens[-1] if self.tokens else (WORD, "")
        return token is not String.Single or (len(value) > 1 and value.endswith("'"))


def words_before(text: str, lexer: TetraLexer | None = None) -> tuple[list[TokenWord], bool]:
    """The words of the statement that ``text`` (the text before the cursor) ends in.

    Returns ``(words, in_comment)``.  When ``text`` ends in a blank the last
    word is an empty one starting at the end, so ``words[-1]`` is always the
    word being typed.
    """
    lexer = lexer or TetraLexer()
    words: list[TokenWord] = []
    current: TokenWord | None = None
    in_comment = False
    for index, token, value in lexer.get_tokens_unprocessed(text):
        in_comment = False
        if token in (SEPARATOR, BACKGROUND):
            words, current = [], None
        elif token is Whitespace or token in Comment:
            current = None
            in_comment = token in Comment
        else:
            if current is None:
                current = TokenWord("", index, token)
                words.append(current)
            current.text += value
            current.tokens.append((token, value))
    if current is None:
        words.append(TokenWord("", len(text)))
    return words, in_comment

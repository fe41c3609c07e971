"""Context completion, generated from the command specs in the registry.

What is completed where (``|`` is the cursor)::

    ts|                      command names            tsm, txn
    tsm st|                  a group's subcommands    start, stop
    tsm logs --l|            the command's flags      --lines (with its help)
    tsm logs --lines=|       a flag's value           choices, completer kind, paths
    deploy |                 the parameter's values   @targets for type="target"
    put @web ./bu|           paths for type/complete="path"
    tsm stop w|              plugin completers        registry.completers["tsm.process"]
    echo $ve|                shell variables          $version

The text before the cursor is split into words by the language's lexer
(:func:`tetra_repl.highlight.words_before`), which copes with a quote that is
still open.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from pygments.token import String

from ..highlight import FLAG, PASSTHROUGH, SYMBOL, TetraLexer, TokenWord, words_before
from ..spec import CommandSpec, Option, Param

_NEEDS_QUOTES = re.compile(r"""[\s;&"'$#\\]""")
_TRAILING_VAR = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)?\Z")


class TetraCompleter(Completer):
    """Completes the statement at the cursor from ``session.registry``."""

    def __init__(self, session):
        self.session = session
        self.lexer = TetraLexer()

    def get_completions(self, document: Document, complete_event: CompleteEvent) -> Iterator[Completion]:
        words, in_comment = words_before(document.text_before_cursor, self.lexer)
        if in_comment:
            return
        current = words[-1]
        done = words[:-1]
        var = _TRAILING_VAR.search(current.text)
        if var is not None and current.tokens and current.tokens[-1][0] is not String.Single:
            yield from self._variables(var.group(1) or "", var.group())
            return
        prefix = unquote(current.text)
        for text, display, meta in self._candidates(done, current, prefix):
            yield Completion(text, start_position=-len(current.text), display=display,
                             display_meta=meta)

    # -- what fits where ------------------------------------------------------
    def _candidates(self, done: list[TokenWord], current: TokenWord, prefix: str):
        registry = self.session.registry
        if not done:
            if prefix.startswith("@"):
                return self._plugin("target", prefix, current)
            return self._commands(prefix, current)
        first = done[0]
        if first.kind is SYMBOL:
            return []  # `@web CMD…`: the words belong to the remote side
        name = unquote(first.text)
        if len(done) == 1 and name in registry.groups and name not in registry.commands:
            return self._subcommands(name, prefix, current)
        spec, skip = self._spec(done)
        if spec is None:
            return []
        return self._for_spec(spec, done[skip:], current, prefix)

    def _spec(self, done: list[TokenWord]) -> tuple[CommandSpec | None, int]:
        commands = self.session.registry.commands
        names = [unquote(w.text) for w in done[:2]]
        if len(names) == 2 and " ".join(names) in commands:
            return commands[" ".join(names)], 2
        return commands.get(names[0]), 1

    def _for_spec(self, spec: CommandSpec, args: list[TokenWord], current: TokenWord, prefix: str):
        fixed = [p for p in spec.params if not p.rest]
        rest = next((p for p in spec.params if p.rest), None)
        positional = 0
        verbatim = False  # after `--`, or inside a greedy rest: no flags, no targets
        in_rest = False  # verbatim because a greedy rest began (its trailing flags still apply)
        pending: Option | None = None  # a flag still waiting for its value
        given: set[str] = set()
        for word in args:
            if pending is not None:
                pending = None
                continue
            if in_rest and word.text.split("=", 1)[0] in spec.trailing:
                given.add(word.text.split("=", 1)[0])
                continue
            if verbatim:
                continue
            if word.kind is PASSTHROUGH:
                verbatim = True
                continue
            if word.kind is FLAG:
                flag, eq, _ = word.text.partition("=")  # `--restart=always` gives --restart
                option = spec.option(flag)
                if option is not None:
                    given.update(option.names)
                    if option.takes_value and not option.optional_value and not eq:
                        pending = option
                continue
            if "=" in word.text and word.text.startswith("--"):
                option = spec.option(word.text.split("=", 1)[0])
                given.update(option.names if option else ())
                continue
            if rest is not None and rest.greedy and positional >= len(fixed):
                verbatim = in_rest = True
                continue
            positional += 1

        if pending is not None:
            return self._values(pending, prefix, current)
        if in_rest and prefix.startswith("--") and "=" not in prefix:
            return [c for c in self._flags(spec, prefix, given) if c[0] in spec.trailing]
        if not verbatim and current.kind is FLAG or (not verbatim and prefix.startswith("-")
                                                      and current.closed):
            head, eq, value = prefix.partition("=")
            if eq:
                option = spec.option(head)
                if option is None or not option.takes_value:
                    return []
                return [(head + "=" + text, display, meta)
                        for text, display, meta in self._values(option, value, current)]
            return self._flags(spec, prefix, given)
        if not verbatim and prefix.startswith("@"):
            return self._plugin("target", prefix, current)
        param = fixed[positional] if positional < len(fixed) else rest
        if param is None:
            return []
        if param.complete == "command":  # `help tsm st`: the words after help name a command
            named = [unquote(w.text) for w in args]
            if not named:
                return self._commands(prefix, current)
            if len(named) == 1 and named[0] in self.session.registry.groups:
                return self._subcommands(named[0], prefix, current)
            return []
        if verbatim and not param.rest:
            return []
        return self._values(param, prefix, current)

    # -- candidate sources --------------------------------------------------------
    def _commands(self, prefix: str, current: TokenWord):
        registry = self.session.registry
        seen = set()
        for name in sorted(registry.commands):
            word = name.split()[0]
            if word in seen or not word.startswith(prefix):
                continue
            seen.add(word)
            spec = registry.commands.get(word)
            meta = spec.help if spec else registry.groups.get(word, ("", ""))[1]
            yield word, word, meta

    def _subcommands(self, group: str, prefix: str, current: TokenWord):
        for sub in self.session.registry.subcommands(group):
            if sub.startswith(prefix):
                yield sub, sub, self.session.registry.commands[f"{group} {sub}"].help

    def _flags(self, spec: CommandSpec, prefix: str, given: set[str]):
        for option in spec.options:
            if any(n in given for n in option.names):
                continue
            for flag in option.names:
                # `-` alone lists every flag; `--` only the long ones
                if flag.startswith(prefix) and (prefix != "-" or flag.startswith("--")
                                                or len(option.names) == 1):
                    yield flag, flag + ("[=…]" if option.optional_value else ""), option.help
                    break

    def _values(self, item: Param | Option, prefix: str, current: TokenWord):
        """Values for a parameter or a flag: choices, then its completer kind, then paths."""
        if item.choices:
            return [(quote(c, current.text), c, "") for c in item.choices if c.startswith(prefix)]
        kind = item.complete or {"path": "path", "target": "target"}.get(item.type)
        if kind == "path" or (kind is None and isinstance(item, Param) and item.rest):
            return self._paths(prefix, current)
        if kind is None:
            return []
        return self._plugin(kind, prefix, current)

    def _plugin(self, kind: str, prefix: str, current: TokenWord):
        fn = self.session.registry.completers.get(kind)
        if fn is None:
            return []
        try:
            found = list(fn(self.session, prefix) or ())
        except Exception:  # a plugin's completer must never break the prompt
            if self.session.env.debug:
                raise
            return []
        out = []
        for item in found:
            text, meta = (item, "") if isinstance(item, str) else (str(item[0]), str(item[1]))
            if kind == "target" and not text.startswith("@"):
                text = "@" + text
            if text.startswith(prefix):
                out.append((text if kind == "target" else quote(text, current.text), text, meta))
        return out

    def _paths(self, prefix: str, current: TokenWord):
        folder, slash, stem = prefix.rpartition("/")
        where, base = (folder or "/", folder + "/") if slash else (".", "")
        try:
            entries = sorted(os.scandir(where), key=lambda e: e.name)
        except OSError:
            return []
        out = []
        for entry in entries:
            # dot files only when asked for, as in any shell
            if not entry.name.startswith(stem) or (entry.name[0] == "." and not stem.startswith(".")):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            suffix = "/" if is_dir else ""
            # a directory keeps its quote open so the next Tab can go on into it
            out.append((quote(base + entry.name + suffix, current.text, close=not is_dir),
                        entry.name + suffix, ""))
        return out

    def _variables(self, stem: str, typed: str) -> Iterable[Completion]:
        braced = typed.startswith("${")
        for name in sorted({*self.session.vars, "?"}):
            if name.startswith(stem):
                text = "${" + name + "}" if braced else "$" + name
                yield Completion(text, start_position=-len(typed), display="$" + name,
                                 display_meta=self.session.vars.get(name, "last exit status")[:40])


def unquote(raw: str) -> str:
    """The literal text of a word as typed so far (open quotes allowed, $vars kept)."""
    out = []
    i = 0
    quote_char = None
    while i < len(raw):
        ch = raw[i]
        if quote_char == "'":
            if ch == "'":
                quote_char = None
            else:
                out.append(ch)
        elif quote_char == '"':
            if ch == '"':
                quote_char = None
            elif ch == "\\" and i + 1 < len(raw):
                i += 1
                out.append({"n": "\n"}.get(raw[i], raw[i]) if raw[i] in '"\\n$' else "\\" + raw[i])
            else:
                out.append(ch)
        elif ch in "'\"":
            quote_char = ch
        elif ch == "\\" and i + 1 < len(raw):
            i += 1
            out.append(raw[i])
        else:
            out.append(ch)
        i += 1
    return "".join(out)


def quote(text: str, typed: str = "", close: bool = True) -> str:
    """``text`` written as one word, quoted the way the user started (if they did).

    ``close=False`` leaves the quote open (a directory, to go on completing).
    """
    if not typed.startswith(("'", '"')) and not _NEEDS_QUOTES.search(text):
        return text
    if typed.startswith('"') or ("'" in text):
        body = '"' + re.sub(r'(["\\$])', r"\\\1", text)
        return body + ('"' if close else "")
    return "'" + text + ("'" if close else "")

"""From a parsed statement to a running command: the one path for every mode.

``-c``, script files, stdin scripts, argv one-liners and the interactive shell
all call :func:`execute`.  Binding and validation come from the command's
:class:`~tetra_repl.spec.CommandSpec`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from .errors import UsageError
from .language import (SYMBOL_HINT, Assignment, Flag, Statement, Symbol, SymbolError, Var, Word,
                       parse_assignment, parse_symbol)
from .spec import Args, CommandSpec, Option, Param

EXEC_COMMAND = "exec"  # `@t CMD…` is `exec @t -- CMD…`


@dataclass
class Context:
    """What a handler gets besides its arguments: the session and output helpers."""

    session: Any
    spec: CommandSpec
    statement: Statement

    @property
    def env(self):
        return self.session.env

    @property
    def bus(self):
        return self.session.bus

    @property
    def json(self) -> bool:
        return self.session.env.json

    def cancel_event(self):
        """The event that says "stop now": when the handler runs as a background
        job, the job's own (set when the job is cancelled, e.g. by the second
        Ctrl-D); otherwise a fresh one for the handler to set on Ctrl-C."""
        import threading

        from .jobs import JobManager

        job = JobManager.current()
        return job.cancelled if job is not None else threading.Event()

    def out(self, text: str = "") -> None:
        self.session.out(text)

    def err(self, text: str) -> None:
        self.session.err(text)


def expand(word: Word, session) -> str:
    """The text of ``word`` with its variables replaced; unknown -> UsageError."""
    if len(word.pieces) == 1 and isinstance(word.pieces[0], str):
        return word.pieces[0]
    return "".join(p if isinstance(p, str) else session.lookup(p.name) for p in word.pieces)


def _raw(arg, session) -> str:
    """An argument as the verbatim word it was written as (after expansion)."""
    if isinstance(arg, Word):
        return expand(arg, session)
    if isinstance(arg, Symbol):
        return arg.text
    if isinstance(arg, Flag):
        return arg.name if arg.value is None else f"{arg.name}={expand(arg.value, session)}"
    return f"{arg.name}={expand(arg.value, session)}"


def expand_head(statement: Statement, session) -> Statement:
    """``statement`` with its first word expanded, as what runs is looked up by its
    text: ``$c hi`` runs the command in ``$c``; ``$t uptime`` (or ``@$env uptime``)
    runs on the target in ``$t``.  The value stays one word: it is never split, nor
    parsed as statements, and only a value starting with '@' is read, as an @symbol.
    """
    first = statement.args[0] if statement.args else None
    if not isinstance(first, Word) or (first.is_literal and not first.literal.startswith("@")):
        return statement
    text = expand(first, session)
    if text.startswith("@"):
        try:
            head: Word | Symbol = parse_symbol(text, first.column)
        except SymbolError as exc:
            raise UsageError(str(exc), hint=SYMBOL_HINT) from None
    else:
        head = Word((text,), first.column)
    return replace(statement, args=(head, *statement.args[1:]))


def find_command(statement: Statement, registry, session=None) -> tuple[CommandSpec, int]:
    """The spec a statement names and how many leading words name it.

    The first word is taken as written (see :func:`expand_head`); a subcommand
    written with a variable (``tsm $s``) is expanded here, given the ``session``.
    """
    first = statement.args[0] if statement.args else None
    if isinstance(first, Symbol):
        spec = registry.commands.get(EXEC_COMMAND)
        if spec is None:
            registry.ensure_discovered()
            spec = registry.commands.get(EXEC_COMMAND)
        if spec is None:
            raise UsageError("no plugin provides remote execution ('exec')",
                             hint="see 'plugins' for plugins that failed to load")
        return spec, 0
    if not isinstance(first, Word) or not first.is_literal:
        raise UsageError("a statement must start with a command name or an @target")
    name = first.literal
    second = statement.args[1] if len(statement.args) > 1 else None
    sub = second.literal if isinstance(second, Word) and second.is_literal else None
    for attempt in (0, 1):
        if sub is None and isinstance(second, Word) and name in registry.groups \
                and session is not None:
            sub = expand(second, session)  # only where it names a subcommand
        if sub is not None and f"{name} {sub}" in registry.commands:
            return registry.commands[f"{name} {sub}"], 2
        if name in registry.commands:
            return registry.commands[name], 1
        if name in registry.groups:
            choices = registry.subcommands(name)
            if sub is None:
                raise UsageError(f"{name}: missing subcommand (one of: {', '.join(choices)})",
                                 hint=f"see 'help {name}'")
            guess = registry.suggest(sub, choices)
            raise UsageError(f"{name}: unknown subcommand {sub!r}"
                             + (f" (did you mean {guess!r}?)" if guess else ""),
                             hint=f"see 'help {name}'")
        if attempt == 0:
            registry.ensure_discovered()  # plugins load on first need
    guess = registry.suggest(name, registry.names())
    raise UsageError(f"unknown command {name!r}" + (f" (did you mean {guess!r}?)" if guess else ""),
                     hint=None if guess else "type 'help' to list commands")


def bind(spec: CommandSpec, statement: Statement, skip: int, session) -> Args:
    """Check the statement's arguments against ``spec`` and convert them."""
    args = Args({o.dest: o.default for o in spec.options})
    for p in spec.params:
        args.values[p.name] = [] if p.rest else None
    rest_param = next((p for p in spec.params if p.rest), None)
    fixed = [p for p in spec.params if not p.rest]
    # A command that declares no flags and takes words greedily (echo, help)
    # gets flag-like words as words: `echo --name=web` prints `--name=web`.
    flags_are_words = rest_param is not None and rest_param.greedy and not spec.options
    positionals: list[Any] = []
    greedy: list[str] | None = None

    items = list(statement.args[skip:])
    if skip == 0:  # `@t CMD…`: everything after the symbol goes to the remote side
        positionals.append(items[0])
        greedy = [_raw(a, session) for a in items[1:]]
        if statement.passthrough is not None:
            greedy.append("--")
        items = []

    i = 0
    while i < len(items):
        arg = items[i]
        i += 1
        if greedy is not None:
            greedy.append(_raw(arg, session))
            continue
        if isinstance(arg, Flag) and not flags_are_words:
            option = spec.option(arg.name)
            if option is None:
                _unknown_flag(spec, arg.name)
            if not option.takes_value:
                if arg.value is not None:
                    raise UsageError(f"{spec.name}: flag {arg.name} takes no value",
                                     hint=f"see 'help {spec.name}'")
                value: Any = True
            elif arg.value is not None:
                value = _convert(spec, option, arg.name, arg.value, session)
            elif option.optional_value:
                value = option.const
            else:
                if i >= len(items) or isinstance(items[i], Flag):
                    raise UsageError(f"{spec.name}: flag {arg.name} needs a value"
                                     f" ({option.metavar or option.type})",
                                     hint=f"see 'help {spec.name}'")
                value = _convert(spec, option, arg.name, items[i], session)
                i += 1
            args.values[option.dest] = value
            args.given.add(option.dest)
            continue
        if rest_param is not None and rest_param.greedy and len(positionals) >= len(fixed):
            greedy = [_raw(arg, session)]
            continue
        positionals.append(arg)

    if statement.passthrough is not None or greedy is not None:
        words = (greedy or []) + [expand(w, session) for w in statement.passthrough or ()]
        if rest_param is None:
            raise UsageError(f"{spec.name}: takes no command after '--'", hint=_usage_hint(spec))
        args.values[rest_param.name] = words
        args.given.add(rest_param.name)
    _bind_positionals(spec, fixed, positionals, args, session)
    if rest_param is not None and rest_param.required and not args.values[rest_param.name]:
        raise UsageError(f"{spec.name}: missing {rest_param.name.upper()}",
                         hint=_usage_hint(spec))
    return args


def _bind_positionals(spec, fixed: list[Param], given: list, args: Args, session) -> None:
    required = sum(1 for p in fixed if p.required)
    if len(given) > len(fixed):
        extra = given[len(fixed)]
        raise UsageError(f"{spec.name}: unexpected argument {_raw(extra, session)!r}",
                         hint=_usage_hint(spec))
    if len(given) < required:
        missing = [p for p in fixed if p.required][len(given)]
        raise UsageError(f"{spec.name}: missing {_label(missing)}", hint=_usage_hint(spec))
    spare = len(given) - required  # optional params filled left to right
    values = iter(given)
    for p in fixed:
        if not p.required:
            if spare == 0:
                continue
            spare -= 1
        value = next(values)
        if isinstance(value, Symbol) and p.type != "target":
            # e.g. `txn new @local`: the description is missing
            raise UsageError(f"{spec.name}: expected {p.name.upper()}, got the @target "
                             f"{value.text!r}", hint=_usage_hint(spec))
        args.values[p.name] = _convert(spec, p, p.name.upper(), value, session)
        args.given.add(p.name)


def _usage_hint(spec: CommandSpec) -> str:
    """Where a usage error points: the command's usage line and its help."""
    return f"usage: {spec.usage} (see 'help {spec.name}')"


def _label(p: Param) -> str:
    return f"@{p.name}" if p.type == "target" else p.name.upper()


def _convert(spec, slot: Param | Option, label: str, arg, session):
    """One argument as the value of a parameter or a flag (``label`` names it in
    errors): the text, after expansion, is read by the slot's type."""
    if slot.type == "target":
        return _target(spec, label, arg, session)
    if slot.type == "assignment":
        if isinstance(arg, Assignment):
            return (arg.name, expand(arg.value, session))
        pair = parse_assignment(_raw(arg, session)) if isinstance(arg, Word) else None
        if pair is None:
            raise UsageError(f"{spec.name}: expected NAME=VALUE for {label}, "
                             f"got {_raw(arg, session)!r}", hint=f"see 'help {spec.name}'")
        return pair
    text = _raw(arg, session)
    if slot.choices and text not in slot.choices:
        raise UsageError(f"{spec.name}: {label} must be one of {', '.join(slot.choices)}"
                         f" (got {text!r})", hint=f"see 'help {spec.name}'")
    return _typed(spec, slot.type, label, text)


def _target(spec, label: str, arg, session) -> Symbol:
    """An @symbol as written, or a word whose text is one (``$t``, ``--target=@x``),
    read by the parser's own rule."""
    if isinstance(arg, Symbol):
        return arg
    text = _raw(arg, session)
    if isinstance(arg, Word) and text.startswith("@"):
        try:
            return parse_symbol(text, arg.column)
        except SymbolError as exc:
            raise UsageError(f"{spec.name}: {exc}", hint=SYMBOL_HINT) from None
    raise UsageError(f"{spec.name}: expected an @target for {label}, got {text!r}",
                     hint=f"targets look like @staging; see 'help {spec.name}'")


def _typed(spec, type_: str, label: str, text: str):
    try:
        if type_ == "int":
            return int(text)
        if type_ == "float":  # every float flag is seconds: a wait, a timeout, an interval
            value = float(text)
            if not value >= 0:  # NaN too
                raise UsageError(f"{spec.name}: {label} expects a number of seconds (0 or more), "
                                 f"got {text!r}", hint=f"see 'help {spec.name}'")
            return value
        if type_ == "duration":  # seconds that must pass: a timeout of 0 would end at once
            try:
                value = float(text)
                if value != value:  # NaN
                    raise ValueError(text)
            except ValueError:
                raise UsageError(f"{spec.name}: {label} expects a number of seconds (more than 0), "
                                 f"got {text!r}", hint=f"see 'help {spec.name}'") from None
            if not value > 0:
                raise UsageError(f"{spec.name}: {label} must be more than 0 seconds, got {text!r}",
                                 hint=f"see 'help {spec.name}'")
            return value
    except ValueError:
        raise UsageError(f"{spec.name}: {label} expects {'an integer' if type_ == 'int' else 'a number'}"
                         f", got {text!r}", hint=f"see 'help {spec.name}'") from None
    return text


def _unknown_flag(spec: CommandSpec, flag: str):
    names = [n for o in spec.options for n in o.names]
    found = [n for n in names if n.startswith("--")] if flag.startswith("--") else names
    guess = None
    import difflib

    close = difflib.get_close_matches(flag, found, n=1, cutoff=0.6)
    guess = close[0] if close else None
    raise UsageError(f"{spec.name}: unknown flag {flag!r}"
                     + (f" (did you mean {guess!r}?)" if guess else ""),
                     hint=f"see 'help {spec.name}'")


def execute(statement: Statement, session) -> int:
    """Run one statement; returns its exit status.  Raises TetraError on failure."""
    statement = expand_head(statement, session)
    spec, skip = find_command(statement, session.registry, session)
    args = bind(spec, statement, skip, session)
    ctx = Context(session, spec, statement)
    # Statements on a target go through the transaction runner, in the
    # background or not: one lane per target keeps their order (a foreground
    # deploy waits for a background one on the same target instead of racing
    # it for the lease); different targets run concurrently.
    target = next((a for a in statement.args if isinstance(a, Symbol)), None) or next(
        (v for v in args.values.values() if isinstance(v, Symbol)), None)  # e.g. `exec $t …`
    description = statement.source or spec.name
    if statement.background:
        session.jobs.start(description, lambda: _call(spec, ctx, args),
                           key=target.name if target is not None else None)
        return 0
    if target is None:
        return _call(spec, ctx, args)  # the runner is not even imported
    from .ttm import runner

    def waiting(work) -> None:
        session.err(f"tetra: @{work.key} is busy with earlier work; waiting for its turn"
                    " (Ctrl-C gives up)")

    # Runs in this thread once its turn comes: Ctrl-C reaches it as it always did.
    return runner.run_here(session, runner.Work(target.name, lambda cancel: _call(spec, ctx, args),
                                                description), on_wait=waiting)


def _call(spec: CommandSpec, ctx: Context, args: Args) -> int:
    result = spec.handler(ctx, args)
    return 0 if result is None else int(result)


__all__ = ["Context", "execute", "bind", "expand_head", "find_command", "expand", "Var"]

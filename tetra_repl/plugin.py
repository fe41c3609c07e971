"""What a plugin is: a named bundle of commands and hooks.

A plugin is registered through the entry-point group ``tetra_repl.plugins``
(the built-in ``txn``, ``tsm``, ``deploy`` and ``remote`` plugins too) or as a
``*.py`` file in ``DIR/plugins/`` that defines ``plugin``::

    from tetra_repl.plugin import Plugin, Param

    plugin = Plugin("hello", help="Says hello")

    @plugin.command("hello", help="Greet someone", params=[Param("who", required=False)])
    def hello(ctx, args):
        ctx.out(f"hello {args.who or 'world'}")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .spec import CommandSpec, Option, Param

__all__ = ["Plugin", "Param", "Option", "CommandSpec"]

Completer = Callable[[Any, str], Sequence[str]]  # (session, prefix) -> candidates


class Plugin:
    """Commands plus optional hooks, registered together."""

    def __init__(self, name: str, help: str = ""):
        self.name = name
        self.help = help
        self.commands: list[CommandSpec] = []
        self.groups: dict[str, str] = {}  # group word -> help ("tsm" -> "service manager")
        self.completers: dict[str, Completer] = {}
        self.variable_providers: list[Callable[[Any, str], str | None]] = []
        self.toolbar_providers: list[Callable[[Any], str | None]] = []
        self.prompt_providers: list[Callable[[Any], str | None]] = []
        self.load_hooks: list[Callable[[Any], None]] = []

    def command(self, name: str, *, help: str = "", params: Sequence[Param] = (),
                options: Sequence[Option] = (), examples: Sequence[str] = (),
                aliases: Sequence[str] = (), description: str = "", trailing: Sequence[str] = ()):
        """Decorator declaring a command; the function is its handler ``(ctx, args)``."""

        def decorate(fn):
            self.commands.append(CommandSpec(name, fn, help=help, params=params, options=options,
                                             examples=examples, plugin=self.name,
                                             aliases=aliases, description=description,
                                             trailing=trailing))
            return fn

        return decorate

    def group(self, word: str, help: str) -> None:
        """Describe a command group such as ``tsm`` for ``help``."""
        self.groups[word] = help

    def completer(self, kind: str):
        """Decorator: ``fn(session, prefix) -> [candidates]`` for params with ``complete=kind``."""

        def decorate(fn):
            self.completers[kind] = fn
            return fn

        return decorate

    def variables(self, fn):
        """Decorator: ``fn(session, name) -> value or None`` resolves ``$name``."""
        self.variable_providers.append(fn)
        return fn

    def toolbar(self, fn):
        """Decorator: ``fn(session) -> text or None`` for the shell's bottom toolbar."""
        self.toolbar_providers.append(fn)
        return fn

    def prompt(self, fn):
        """Decorator: ``fn(session) -> text or None`` shown in the prompt (``@staging``)."""
        self.prompt_providers.append(fn)
        return fn

    def on_load(self, fn):
        """Decorator: ``fn(session)`` runs once when the plugin is registered in a session."""
        self.load_hooks.append(fn)
        return fn

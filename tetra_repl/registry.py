"""The command registry and plugin discovery.

Core built-ins are registered at once.  The other plugins (entry points,
then ``DIR/plugins/*.py``) load when something first needs them, so that
``tetra -c 'echo hi'`` does not pay for importing every plugin -- unless
``DIR/plugins`` holds a ``*.py``: then all load at start, so a broken one
warns in every mode (SPEC 9) and clashes resolve in the same order always.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Terminated
from .plugin import Plugin
from .spec import CommandSpec

ENTRY_POINT_GROUP = "tetra_repl.plugins"


@dataclass
class PluginRecord:
    name: str
    source: str  # "entry point tetra_plugins.tsm:plugin" or a file path
    plugin: Plugin | None = None
    error: str | None = None


class Registry:
    def __init__(self) -> None:
        self.commands: dict[str, CommandSpec] = {}  # "tsm start" -> spec
        self.groups: dict[str, tuple[str, str]] = {}  # "tsm" -> (plugin, help)
        self.plugins: list[PluginRecord] = []
        self.completers: dict[str, Any] = {}
        self.variable_providers: list[Any] = []
        self.toolbar_providers: list[Any] = []
        self.prompt_providers: list[Any] = []
        self._owners: dict[str, str] = {}  # command name or alias -> source of its plugin
        self._group_owners: dict[str, str] = {}  # group word -> source of its plugin
        self._discovered = False
        self._session = None

    # -- registration -------------------------------------------------------
    # Who owns a name is the plugin's source (its file or entry point), never
    # its declared name: a second file saying Plugin("core") is still a
    # stranger.  The first plugin to claim a top-level word keeps it, as a
    # command or as a command group; a later plugin that claims a taken word
    # (or adds a subcommand to another plugin's group) is refused whole.
    def add_plugin(self, plugin: Plugin, source: str | None = None) -> None:
        """Register every command and hook of ``plugin``, or nothing (ValueError)
        if a command clashes with another plugin's, or if a load hook fails."""
        source = source or f"in-process plugin {plugin.name}"
        declared: set[str] = set()
        for spec in plugin.commands:
            for name in (spec.name, *spec.aliases):
                if name in declared:
                    raise ValueError(f"command {name!r} is declared twice")
                declared.add(name)
        # restored in place: the shell's lexer holds on to ``groups`` itself
        tables = (self.commands, self.groups, self.completers, self.variable_providers,
                  self.toolbar_providers, self.prompt_providers, self.plugins,
                  self._owners, self._group_owners)
        saved = [table.copy() for table in tables]
        try:
            self._register(plugin, source)
        except BaseException:
            for table, before in zip(tables, saved):
                table.clear()
                if isinstance(table, dict):
                    table.update(before)
                else:
                    table.extend(before)
            raise

    def _register(self, plugin: Plugin, source: str) -> None:
        for word, help in plugin.groups.items():
            self._claim_group(word, source)
            self.groups[word] = (plugin.name, help)
            self._group_owners[word] = source
        for spec in plugin.commands:
            self.add_command(spec, source)
        taken = next((r for r in self.plugins if r.plugin is not None
                      and r.name == plugin.name and r.source != source), None)
        if taken is not None:
            raise ValueError(f"the plugin name {plugin.name!r} is taken by {self._who(taken.source)}")
        self.completers.update(plugin.completers)
        self.variable_providers.extend(plugin.variable_providers)
        self.toolbar_providers.extend(plugin.toolbar_providers)
        self.prompt_providers.extend(plugin.prompt_providers)
        self.plugins.append(PluginRecord(plugin.name, source, plugin))
        if self._session is not None:
            for hook in plugin.load_hooks:
                hook(self._session)

    def add_command(self, spec: CommandSpec, source: str | None = None) -> None:
        """Register one command for ``source``; ValueError if a name it needs is taken."""
        source = source or f"in-process plugin {spec.plugin}"
        names = (spec.name, *spec.aliases)
        for name in names:
            self._claim_command(name, source)
        for name in names:
            self.commands[name] = spec
            self._owners[name] = source
            words = name.split()
            if len(words) > 1 and words[0] not in self.groups:
                self.groups[words[0]] = (spec.plugin, "")
                self._group_owners[words[0]] = source

    def _claim_command(self, name: str, source: str) -> None:
        owner = self._owners.get(name)
        if owner is not None and owner != source:
            raise ValueError(f"command {name!r} is already defined by {self._who(owner)}")
        first, _, sub = name.partition(" ")
        if not sub and first in self.groups:
            raise ValueError(f"command {name!r} would hide the command group {first!r} "
                             f"of {self._who(self._group_owners[first])}")
        if sub:
            self._claim_group(first, source, for_command=name)

    def _claim_group(self, word: str, source: str, for_command: str | None = None) -> None:
        what = f"command {for_command!r}" if for_command else f"command group {word!r}"
        if word in self.commands:
            raise ValueError(f"{what}: {word!r} is already a command of "
                             f"{self._who(self._owners[word])}")
        owner = self._group_owners.get(word)
        if owner is not None and owner != source:
            raise ValueError(f"{what}: the command group {word!r} belongs to {self._who(owner)}")

    def _who(self, source: str) -> str:
        """``plugin 'tsm' (entry point tetra_plugins.tsm:plugin)``: a source, worded."""
        record = next((r for r in self.plugins if r.source == source and r.plugin), None)
        if record is None:
            return source
        return f"plugin {record.name!r}" + ("" if record.source == record.name else f" ({source})")

    def bind_session(self, session) -> None:
        """Run the load hooks for ``session``; load every plugin now if
        ``DIR/plugins`` holds one, so that its warning shows in every mode."""
        self._session = session
        for record in self.plugins:
            if record.plugin is not None:
                for hook in record.plugin.load_hooks:
                    hook(session)
        if local_plugin_files(session.env.path("plugins")):
            session.load_plugins()

    # -- discovery ----------------------------------------------------------
    def discover(self, plugin_dir: Path | None, warn) -> None:
        """Load entry-point and directory plugins once; ``warn(msg)`` for each failure.

        Entry points first: an installed plugin keeps its commands whatever a
        file in ``DIR/plugins`` declares."""
        if self._discovered:
            return
        self._discovered = True
        from .entrypoints import entry_points

        for ep in entry_points(ENTRY_POINT_GROUP):
            self._load(ep.name, f"entry point {ep.value}", ep.load, warn)
        for path in local_plugin_files(plugin_dir):
            self._load(path.stem, str(path), lambda p=path: _load_file(p), warn)

    def ensure_discovered(self) -> None:
        if not self._discovered and self._session is not None:
            self._session.load_plugins()

    def _load(self, name: str, source: str, loader, warn) -> None:
        try:
            obj = loader()
            plugin = obj if isinstance(obj, Plugin) else getattr(obj, "plugin", None)
            if plugin is None and callable(getattr(obj, "register", None)):
                plugin = Plugin(name)
                obj.register(plugin)
            if not isinstance(plugin, Plugin):
                raise TypeError("defines no 'plugin' (a tetra_repl.plugin.Plugin)")
            self.add_plugin(plugin, source)
        except Terminated:
            raise  # SIGTERM still ends tetra
        except (Exception, SystemExit, KeyboardInterrupt) as exc:
            # a broken plugin must not stop the shell, whatever it raises at import
            message = one_line(exc)
            self.plugins.append(PluginRecord(name, source, None, message))
            warn(f"plugin {name!r} failed to load ({source}): {message}")

    # -- lookup -------------------------------------------------------------
    def names(self) -> list[str]:
        """Every first word a statement may start with."""
        return sorted({name.split()[0] for name in self.commands})

    def subcommands(self, group: str) -> list[str]:
        return sorted(n.split()[1] for n in self.commands if n.startswith(group + " ")
                      and len(n.split()) == 2)

    def suggest(self, word: str, choices) -> str | None:
        import difflib

        found = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
        return found[0] if found else None


def local_plugin_files(plugin_dir: Path | None) -> list[Path]:
    """The ``*.py`` plugins in ``DIR/plugins``, by name (none if it is missing)."""
    if plugin_dir is None:
        return []
    try:
        return sorted(p for p in plugin_dir.glob("*.py") if not p.name.startswith("."))
    except OSError:
        return []


def one_line(exc: BaseException) -> str:
    """``Type: message`` on one line, whatever newlines the message holds."""
    text = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _load_file(path: Path):
    import importlib.util

    module_name = f"tetra_user_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module_name, None)
        raise
    return module

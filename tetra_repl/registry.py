"""The command registry and plugin discovery.

Core built-ins are registered at once; plugins (entry points and
``DIR/plugins/*.py``) are discovered only when something needs them, so that
``tetra -c 'echo hi'`` does not pay for importing every plugin.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        self._discovered = False
        self._session = None

    # -- registration -------------------------------------------------------
    def add_plugin(self, plugin: Plugin, source: str = "core") -> None:
        """Register every command and hook of ``plugin``, or nothing if one clashes
        or one of its load hooks fails."""
        for spec in plugin.commands:
            for name in (spec.name, *spec.aliases):
                owner = self.commands.get(name)
                if owner is not None and owner.plugin != spec.plugin:
                    raise ValueError(f"command {name!r} is already defined by "
                                     f"plugin {owner.plugin!r}")
        # restored in place: the shell's lexer holds on to ``groups`` itself
        tables = (self.commands, self.groups, self.completers, self.variable_providers,
                  self.toolbar_providers, self.prompt_providers, self.plugins)
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
        for spec in plugin.commands:
            self.add_command(spec)
        for word, help in plugin.groups.items():
            self.groups[word] = (plugin.name, help)
        self.completers.update(plugin.completers)
        self.variable_providers.extend(plugin.variable_providers)
        self.toolbar_providers.extend(plugin.toolbar_providers)
        self.prompt_providers.extend(plugin.prompt_providers)
        self.plugins.append(PluginRecord(plugin.name, source, plugin))
        if self._session is not None:
            for hook in plugin.load_hooks:
                hook(self._session)

    def add_command(self, spec: CommandSpec) -> None:
        for name in (spec.name, *spec.aliases):
            self.commands[name] = spec
        words = spec.words
        if len(words) > 1 and words[0] not in self.groups:
            self.groups[words[0]] = (spec.plugin, "")

    def bind_session(self, session) -> None:
        self._session = session
        for record in self.plugins:
            if record.plugin is not None:
                for hook in record.plugin.load_hooks:
                    hook(session)

    # -- discovery ----------------------------------------------------------
    def discover(self, plugin_dir: Path | None, warn) -> None:
        """Load entry-point and directory plugins once; ``warn(msg)`` for each failure."""
        if self._discovered:
            return
        self._discovered = True
        from .entrypoints import entry_points

        for ep in entry_points(ENTRY_POINT_GROUP):
            self._load(ep.name, f"entry point {ep.value}", ep.load, warn)
        if plugin_dir is not None and plugin_dir.is_dir():
            for path in sorted(plugin_dir.glob("*.py")):
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
        except (Exception, SystemExit) as exc:  # a broken plugin must not stop the shell
            message = f"{type(exc).__name__}: {exc}"
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


def _load_file(path: Path):
    import importlib.util

    module_name = f"tetra_user_plugin_{path.stem}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    spec.loader.exec_module(module)
    return module

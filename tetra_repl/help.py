"""Render ``help`` and ``help CMD`` from the command specs."""

from __future__ import annotations

from .errors import UsageError


def render_help(session, topic: str = "") -> str:
    registry = session.registry
    registry.ensure_discovered()
    if not topic:
        return _overview(session)
    spec = registry.commands.get(topic)
    if spec is not None:
        return _command(session, spec)
    if topic in registry.groups:
        plugin, text = registry.groups[topic]
        lines = [f"{topic}: {text}" if text else topic, ""]
        for sub in registry.subcommands(topic):
            s = registry.commands[f"{topic} {sub}"]
            lines.append(f"  {s.name:<22} {s.help}")
        lines.append(f"\n'help {topic} SUBCOMMAND' for details")
        return "\n".join(lines)
    guess = registry.suggest(topic, list(registry.commands) + list(registry.groups))
    raise UsageError(f"help: no command {topic!r}" + (f" (did you mean {guess!r}?)" if guess else ""))


def _overview(session) -> str:
    registry = session.registry
    by_plugin: dict[str, list[str]] = {}
    for name, spec in sorted(registry.commands.items()):
        if name != spec.name:
            continue  # an alias
        shown = spec.name + (" / " + " / ".join(spec.aliases) if spec.aliases else "")
        by_plugin.setdefault(spec.plugin, []).append(f"  {shown:<22} {spec.help}")
    lines = []
    order = ["core"] + sorted(p for p in by_plugin if p != "core")
    for plugin in order:
        if plugin not in by_plugin:
            continue
        record = next((r for r in registry.plugins if r.name == plugin and r.plugin), None)
        title = plugin + (f" — {record.plugin.help}" if record and record.plugin.help else "")
        lines.append(title)
        lines.extend(by_plugin[plugin])
        lines.append("")
    failed = [r for r in registry.plugins if r.error]
    if failed:
        lines.append("failed to load: " + ", ".join(r.name for r in failed) + " (see 'plugins')")
    lines.append("'help CMD' for usage, flags and examples.  @target CMD… runs CMD on a target.")
    return "\n".join(lines)


def _command(session, spec) -> str:
    lines = [f"usage: {spec.usage}", ""]
    if spec.help:
        lines.append(spec.help)
    if spec.description:
        lines.extend(["", spec.description])
    if spec.params:
        lines.extend(["", "arguments:"])
        for p in spec.params:
            label = ("@" + p.name) if p.type == "target" else p.name.upper()
            choices = f" [{'|'.join(p.choices)}]" if p.choices else ""
            extra = "" if p.required else " (optional)"
            lines.append(f"  {label:<20} {p.help}{choices}{extra}")
    if spec.options:
        lines.extend(["", "flags:"])
        for o in spec.options:
            names = ", ".join(o.names)
            if o.takes_value:
                names += f" {o.metavar or o.dest.upper()}" if not o.optional_value else \
                    f"[={o.metavar or o.type.upper()}]"
            # 0 and 0.0 are defaults worth showing (0 == False: test identity, not equality)
            shown = o.takes_value and o.default is not None and o.default != ""
            default = f" (default: {o.default})" if shown else ""
            choices = f" [{'|'.join(o.choices)}]" if o.choices else ""
            lines.append(f"  {names:<24} {o.help}{choices}{default}")
    if spec.aliases:
        lines.extend(["", "aliases: " + ", ".join(spec.aliases)])
    if spec.examples:
        lines.extend(["", "examples:"])
        for ex in spec.examples:
            lines.append("  " + _highlight(session, ex))
    return "\n".join(lines)


def _highlight(session, text: str) -> str:
    if not session.env.color:
        return text
    try:
        from .highlight import highlight_ansi
    except ImportError:
        return text
    return highlight_ansi(text, groups=session.registry.groups)

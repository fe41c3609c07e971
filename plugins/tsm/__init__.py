"""tetra plugin: service manager."""

from tetra_repl.plugin import Plugin

plugin = Plugin("tsm", help="service manager")

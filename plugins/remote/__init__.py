"""tetra plugin: remote execution: targets, resolve, exec, put, get."""

from tetra_repl.plugin import Plugin

plugin = Plugin("remote", help="remote execution: targets, resolve, exec, put, get")

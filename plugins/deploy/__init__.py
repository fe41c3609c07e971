"""tetra plugin: deploy, rollback, releases."""

from tetra_repl.plugin import Plugin

plugin = Plugin("deploy", help="deploy, rollback, releases")

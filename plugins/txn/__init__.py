"""tetra plugin: transactions."""

from tetra_repl.plugin import Plugin

plugin = Plugin("txn", help="transactions")

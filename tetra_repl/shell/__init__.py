"""The interactive shell (prompt_toolkit): the only package importing prompt_toolkit.

``run_shell(session)`` is called by :mod:`tetra_repl.cli` when stdin is a
terminal; nothing else imports this package, so ``tetra -c`` never pays for
prompt_toolkit.
"""

from .repl import run_shell

__all__ = ["run_shell"]

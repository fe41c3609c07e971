"""Key bindings added to prompt_toolkit's defaults.

Defaults kept on purpose: Tab completes, Ctrl-R searches history backwards,
Right/Ctrl-E accept the grey auto-suggestion, Ctrl-C abandons the line (the
loop catches the KeyboardInterrupt), Ctrl-D on an empty line raises EOFError.
"""

from __future__ import annotations

from prompt_toolkit.filters import Condition
from prompt_toolkit.key_binding import KeyBindings

from ..errors import ParseError


def is_incomplete(text: str) -> bool:
    """True when ``text`` ends inside a quote or in a line-continuing backslash.

    Decided by the parser itself, so it agrees with how the line will run.
    """
    if not text or ("'" not in text and '"' not in text and not text.endswith("\\")):
        return False  # the common case, without parsing
    from ..language import parse

    try:
        parse(text)
    except ParseError as exc:
        return exc.message.startswith(("unterminated string", "nothing to escape"))
    return False


def shell_bindings() -> KeyBindings:
    kb = KeyBindings()

    @Condition
    def incomplete() -> bool:
        from prompt_toolkit.application import get_app

        return is_incomplete(get_app().current_buffer.text)

    @kb.add("enter", filter=incomplete)
    def _continue(event) -> None:
        """An open quote or a trailing backslash: go on on the next line."""
        event.current_buffer.insert_text("\n")

    return kb

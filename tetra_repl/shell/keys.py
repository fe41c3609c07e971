"""Key bindings added to prompt_toolkit's defaults.

Defaults kept on purpose: Tab completes, Ctrl-R searches history backwards,
Right/Ctrl-E accept the grey auto-suggestion, Ctrl-C abandons the line (the
loop catches the KeyboardInterrupt), Ctrl-D on an empty line raises EOFError.

Added: Ctrl-D at the end of an unfinished multi-line statement (an empty
continuation line, or an open quote) raises :class:`UnfinishedInput`: the
statement is dropped with a note, as bash does, and the shell stays.  Enter
in a Ctrl-R search runs the line found, as in bash (prompt_toolkit's default
only puts it back in the buffer).
"""

from __future__ import annotations

from prompt_toolkit.filters import Condition, is_searching
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


class UnfinishedInput(Exception):
    """Ctrl-D ended a statement that was not finished; ``text`` is what was typed."""

    def __init__(self, text: str):
        super().__init__(text)
        self.text = text


def is_unfinished_at_eof(text: str, cursor_at_end: bool, current_line: str) -> bool:
    """Ctrl-D would otherwise do nothing here: the cursor ends a multi-line
    statement that is on an empty continuation line or still inside a quote."""
    return (cursor_at_end and "\n" in text
            and (current_line == "" or is_incomplete(text)))


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

    @Condition
    def unfinished_at_eof() -> bool:
        from prompt_toolkit.application import get_app

        doc = get_app().current_buffer.document
        return is_unfinished_at_eof(doc.text, doc.is_cursor_at_the_end, doc.current_line)

    @kb.add("c-d", filter=unfinished_at_eof)
    def _drop_unfinished(event) -> None:
        """Ctrl-D in a continuation: end of input, so the statement cannot finish."""
        text = event.current_buffer.text
        event.app.exit(exception=UnfinishedInput(text), style="class:exiting")

    @kb.add("enter", filter=is_searching)
    def _run_found(event) -> None:
        """Enter in a reverse search: take the line found and run it."""
        from prompt_toolkit import search

        search.accept_search()
        event.app.current_buffer.validate_and_handle()

    return kb

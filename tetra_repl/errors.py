"""One root error type for everything a user can cause, and the exit codes.

Libraries raise these; only :mod:`tetra_repl.cli` and the shell render them.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0
    ERROR = 1  # a command failed
    USAGE = 2  # usage or parse error
    INTERRUPTED = 130
    OUTPUT_CLOSED = 141  # 128 + SIGPIPE: the reader of stdout went away (tetra ... | head)
    TERMINATED = 143  # 128 + SIGTERM


class TetraError(Exception):
    """An error the user can act on: one line of message, an optional hint."""

    exit_status = ExitStatus.ERROR

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        """The message, plus the hint on its own line when there is one."""
        if self.hint:
            return f"{self.message}\n  hint: {self.hint}"
        return self.message


class UsageError(TetraError):
    """Unknown command or flag, missing argument, wrong type."""

    exit_status = ExitStatus.USAGE


class ParseError(UsageError):
    """A line the grammar does not accept, with the position of the fault."""

    def __init__(self, message: str, *, line: int, column: int, source_line: str = "",
                 hint: str | None = None):
        super().__init__(message, hint=hint)
        self.line = line
        self.column = column
        self.source_line = source_line

    def render(self) -> str:
        out = f"parse error at {self.line}:{self.column}: {self.message}"
        if self.source_line:
            caret = _caret_padding(self.source_line, self.column) + "^"
            out += f"\n  {self.source_line}\n  {caret}"
        if self.hint:
            out += f"\n  hint: {self.hint}"
        return out


def _caret_padding(line: str, column: int) -> str:
    """What goes before the caret so it lands under ``line``'s ``column`` (1-based,
    in characters) on a terminal: the line's own tabs, so both expand alike, and two
    cells for an East Asian wide or fullwidth character."""
    import unicodedata  # only when an error is shown

    cells = []
    for ch in line[:column - 1]:
        if ch == "\t":
            cells.append("\t")
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            cells.append("  ")
        else:
            cells.append(" ")
    return "".join(cells) + " " * max(0, column - 1 - len(line))


class CommandError(TetraError):
    """A command ran and failed (exit status 1 in scripts)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop as Ctrl-C stops (running commands ended, local and remote;
    a deploy switched back), then exit 143 instead of 130."""


class Interrupted(TetraError):
    """The user pressed Ctrl-C while a command ran."""

    exit_status = ExitStatus.INTERRUPTED

    def __init__(self, message: str = "interrupted"):
        super().__init__(message)

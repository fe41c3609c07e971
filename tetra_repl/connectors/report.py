"""How a fan-out is sized and reported: shared by every command that runs on
a target's hosts (``exec``, ``put``/``get``, ``txn exec``/``txn validate``)."""

from __future__ import annotations

from ..errors import UsageError
from .base import ConnectorError, RunResult
from .group import GroupResult


def at_once(command: str, requested: int | None, plan) -> int:
    """Hosts to run on at once: ``--parallel`` when given (at least 1), else
    the plan's ``parallel`` setting."""
    if requested is not None:
        if requested < 1:
            raise UsageError(f"{command}: --parallel must be at least 1",
                             hint=f"see 'help {command}'")
        return requested
    return plan.parallel


def describe(value) -> str:
    """One host's outcome as text: a connector error's message, an exception,
    or a command's result."""
    if isinstance(value, ConnectorError):
        return value.message
    if isinstance(value, BaseException):
        return f"{type(value).__name__}: {value}"
    if isinstance(value, RunResult):
        return value.error or f"exit {value.exit_status}"
    return str(value)


def failure_hint(value) -> str | None:
    """What the user can do about one host's failure, when there is something:
    an error's own hint, or one for a command that could not run as asked."""
    if isinstance(value, BaseException):
        return getattr(value, "hint", None)  # TetraError (ConnectorError) carries one
    error = value.error if isinstance(value, RunResult) else None
    if error and error.startswith("command not found"):
        return "check the command name and the PATH on the host"
    if error and "connection lost" in error:
        return "the command may still be running on the host"
    return None


def hint_lines(results: GroupResult, most: int = 5) -> list[str]:
    """Each distinct hint of the failed hosts once, saying which hosts it is for:
    ``  hint (web-1, web-2): …``; ten hosts failing alike give one line."""
    hosts_for: dict[str, list[str]] = {}
    for name, value in results.items():
        text = failure_hint(value) if GroupResult.is_failure(value) else None
        if text:
            hosts_for.setdefault(text, []).append(name)
    lines = []
    for text, names in hosts_for.items():
        which = ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")
        lines.append(f"  hint ({which}): {text}")
    return lines


def summary_lines(results: GroupResult, width: int) -> list[str]:
    """``-- N hosts: a ok, b failed``, a line per host, then the failures' hints
    (``hint_lines``)."""
    failed = results.failed
    lines = [f"-- {len(results)} hosts: {len(results) - len(failed)} ok, {len(failed)} failed"]
    for name, value in results.items():
        status = "FAILED" if GroupResult.is_failure(value) else "ok"
        took = f"{value.duration_s:6.2f}s" if isinstance(value, RunResult) else ""
        text = describe(value).removeprefix(f"{name}: ")
        lines.append(f"   {name:<{width}}  {status:<6}  {took:>7}  {text}".rstrip())
    return lines + hint_lines(results)


def report_notes(err, pool, hosts) -> None:
    """Say once, through ``err``, what a connection did on the user's behalf
    (a host key recorded)."""
    for host in hosts:
        take_note = getattr(pool.get(host), "take_note", None)  # SSH connectors have notes
        note = take_note() if take_note is not None else None
        if note:
            err(f"tetra: {host.name}: {note}")

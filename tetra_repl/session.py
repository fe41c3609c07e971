"""A Session: one tetra process's registry, variables, bus, jobs and services.

Every mode (``-c``, scripts, stdin, argv, the interactive shell) runs
statements through :meth:`Session.run_source`, which parses with the one
parser and dispatches with the one dispatcher.
"""

from __future__ import annotations

import os
import threading
import traceback
from collections.abc import Callable
from typing import Any

from .dispatch import execute
from .env import Environment
from .errors import ExitStatus, Interrupted, ParseError, Terminated, TetraError, UsageError
from .events import EventBus
from .registry import Registry


class ExitRequest(Exception):
    """Raised by ``exit``/``quit`` to end the shell or script."""

    def __init__(self, status: int = 0):
        super().__init__(status)
        self.status = status


class OutputClosed(BaseException):
    """Whoever read stdout went away (``tetra … | head``): stop quietly, as
    ``yes | head`` does.  A BaseException: no command's handler may swallow it."""


class Session:
    def __init__(self, env: Environment | None = None):
        from . import builtins

        self.env = env or Environment()
        self.registry = Registry()
        self.bus = EventBus()
        self.vars: dict[str, str] = {}
        self.last_status = 0
        self._jobs = None
        self.services: dict[str, Any] = {}
        self._closers: list[Callable[[], None]] = []
        self._output_lock = threading.Lock()
        self.output_closed = False  # stdout's reader went away (see OutputClosed)
        self.registry.add_plugin(builtins.plugin, "core")
        self.registry.bind_session(self)

    @property
    def jobs(self):
        """Background jobs (created on first use: most runs never start one)."""
        if self._jobs is None:
            from .jobs import JobManager

            self._jobs = JobManager(self)
        return self._jobs

    @property
    def has_jobs(self) -> bool:
        """True once the job manager exists (asking never creates it)."""
        return self._jobs is not None

    # -- plugins and services ----------------------------------------------
    def load_plugins(self) -> None:
        self.registry.discover(self.env.path("plugins"), warn=self.warn)

    def service(self, key: str, factory: Callable[[], Any], close: Callable[[Any], None] | None = None):
        """A shared object created on first use (a connector pool, a runner...)."""
        if key not in self.services:
            value = factory()
            self.services[key] = value
            if close is not None:
                self._closers.append(lambda: close(value))
        return self.services[key]

    def close(self) -> None:
        for closer in reversed(self._closers):
            try:
                closer()
            except Exception:
                pass
        self._closers.clear()

    # -- variables ----------------------------------------------------------
    def lookup(self, name: str) -> str:
        """The value of ``$name``: ``$?``, ``set`` variables, plugins, then the OS environment."""
        if name == "?":
            return str(self.last_status)
        if name in self.vars:
            return self.vars[name]
        for attempt in (0, 1):
            for provider in self.registry.variable_providers:
                value = provider(self, name)
                if value is not None:
                    return value
            if attempt == 0 and not self.registry._discovered:
                self.load_plugins()
            else:
                break
        if name in os.environ:
            return os.environ[name]
        raise UsageError(f"unknown variable ${name}", hint=f"set it first: set {name}=VALUE")

    # -- output -------------------------------------------------------------
    def out(self, text: str = "") -> None:
        self.write(text + "\n")

    def err(self, text: str) -> None:
        with self._output_lock:
            self.env.stderr.write(text + "\n")
            self.env.stderr.flush()

    def write(self, data: str | bytes, *, err: bool = False) -> None:
        """Write a command's own output as it is (no newline added).  Bytes go
        to the stream's binary buffer after any text before them, so that
        ``tetra @h cat f > out`` copies ``f`` byte for byte; a stream with no
        buffer gets them as text, non-UTF-8 bytes as ``\\xNN``."""
        stream = self.env.stderr if err else self.env.stdout
        binary = getattr(stream, "buffer", None) if isinstance(data, bytes) else None
        if isinstance(data, bytes) and binary is None:
            data = data.decode("utf-8", "backslashreplace")
        with self._output_lock:
            if self.output_closed and not err:
                return
            try:
                if binary is not None:
                    stream.flush()  # text written before goes first
                    binary.write(data)
                    binary.flush()
                else:
                    stream.write(data)
                    stream.flush()
            except BrokenPipeError:
                if err:
                    raise
                first = not self.output_closed
                self._close_output(stream)
                if threading.current_thread() is threading.main_thread():
                    raise OutputClosed() from None
                if first:  # a command's reader thread: stop the command as Ctrl-C would
                    import _thread

                    _thread.interrupt_main()

    def _close_output(self, stream) -> None:
        """From now on stdout goes nowhere (also the flush at exit, which would
        fail again); the script stops after the statement that wrote."""
        self.output_closed = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)
        except (OSError, ValueError, AttributeError):
            pass

    def warn(self, text: str) -> None:
        self.err(f"tetra: warning: {text}")

    # -- running ------------------------------------------------------------
    def run_source(self, text: str, *, script: bool, first_line: int = 1) -> int:
        """Parse and run ``text``; returns the exit status for this source.

        In a script (``script=True``) errors are reported as ``tetra: line N:``
        and the first failure stops the run unless ``--keep-going``.
        """
        from .language import parse

        try:
            statements = parse(text, first_line=first_line)
        except ParseError as exc:
            self.report(exc)
            self.last_status = int(exc.exit_status)
            return self.last_status
        failed = 0
        for statement in statements:
            if self.output_closed:  # a background job's output found no reader
                return ExitStatus.OUTPUT_CLOSED
            try:
                status = self.run_statement(statement, script=script)
            except ExitRequest as request:
                # ``--keep-going``: a plain ``exit`` (or ``exit 0``) after a failed
                # statement still ends the script with 1; ``exit N`` keeps its N
                if failed and request.status == 0:
                    raise ExitRequest(failed) from None
                raise
            if status != 0:
                if status in (ExitStatus.INTERRUPTED, ExitStatus.TERMINATED):
                    return status
                if not script:
                    return status
                if not self.env.keep_going:
                    return status
                failed = ExitStatus.ERROR
        return failed

    def _ran(self, statement) -> str:
        """The command a statement ran, for its failure line: ``$c`` as what it expanded to."""
        name = statement.command_name
        if name and name.startswith("$"):
            from .dispatch import expand_head

            try:
                name = expand_head(statement, self).command_name
            except TetraError:
                pass
        return name or "exec"

    def run_statement(self, statement, *, script: bool) -> int:
        prefix = f"line {statement.line}: " if script else ""
        try:
            status = execute(statement, self)
            if status != 0 and script:
                name = self._ran(statement)
                self.err(f"tetra: {prefix}{name} failed (exit status {status})")
                # $? keeps the command's own status, as in the shell; the script
                # reports "a command failed" (1)
                self.last_status = status
                return ExitStatus.ERROR
        except (ExitRequest, OutputClosed):
            raise
        except KeyboardInterrupt as exc:
            if self.output_closed:  # the interrupt came from a write that found no reader
                raise OutputClosed() from None
            if isinstance(exc, Terminated):
                self.report(Interrupted("terminated (SIGTERM)"), prefix)
                status = ExitStatus.TERMINATED
            else:
                self.report(Interrupted(), prefix)
                status = ExitStatus.INTERRUPTED
        except TetraError as exc:
            self.report(exc, prefix)
            status = int(exc.exit_status)
        except OSError as exc:
            where = f": {exc.filename}" if exc.filename else ""
            self.report(TetraError(f"{exc.strerror or exc}{where}"), prefix)
            status = ExitStatus.ERROR
        except Exception as exc:
            if self.env.debug:
                self.err(traceback.format_exc().rstrip())
            self.report(TetraError(f"internal error: {type(exc).__name__}: {exc}",
                                   hint=None if self.env.debug else "run with --debug for the traceback"),
                        prefix)
            status = ExitStatus.ERROR
        self.last_status = status
        return status

    def report(self, exc: TetraError, prefix: str = "") -> None:
        if self.env.debug and exc.__traceback__ is not None:
            self.err("".join(traceback.format_exception(exc)).rstrip())
        self.err(f"tetra: {prefix}{exc.render()}")

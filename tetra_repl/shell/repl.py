"""The interactive loop: read a statement, run it through the session, repeat."""

from __future__ import annotations

import sys

from prompt_toolkit import PromptSession
from prompt_toolkit.auto_suggest import AutoSuggestFromHistory
from prompt_toolkit.completion import ThreadedCompleter
from prompt_toolkit.history import FileHistory, InMemoryHistory
from prompt_toolkit.output import ColorDepth
from prompt_toolkit.patch_stdout import StdoutProxy
from prompt_toolkit.styles import Style

from ..errors import ExitStatus, Terminated
from ..session import ExitRequest
from .completer import TetraCompleter
from .keys import UnfinishedInput, shell_bindings
from .toolbar import prompt_text, redraw_on_events, toolbar_text

# How long Ctrl-D waits for cancelled jobs to wind down before leaving anyway.
CANCEL_GRACE_S = 15.0

_UI_STYLE = {
    "prompt.name": "bold",
    "prompt.context": "bold ansimagenta",
    "prompt.arrow": "ansiblue",
    "bottom-toolbar.jobs": "bold",
    "bottom-toolbar.hint": "italic",
}


def _style(color: bool):
    ui = Style.from_dict(_UI_STYLE)
    if not color:
        return ui
    from prompt_toolkit.styles import merge_styles, style_from_pygments_cls

    from ..highlight import TetraStyle

    return merge_styles([style_from_pygments_cls(TetraStyle), ui])


class _History(FileHistory):
    """``DIR/history`` that a full disk or a lost file cannot break: the first
    failed write warns once, and the shell goes on with history in memory."""

    def __init__(self, path: str, warn):
        super().__init__(path)
        self._warn = warn
        self._broken = False

    def load_history_strings(self):
        try:
            return list(super().load_history_strings())
        except OSError as exc:
            self._give_up(exc)
            return []

    def store_string(self, string: str) -> None:
        if self._broken:
            return
        try:
            super().store_string(string)
        except OSError as exc:
            self._give_up(exc)

    def _give_up(self, exc: OSError) -> None:
        self._broken = True
        self._warn(f"history is not saved: cannot write {self.filename}: "
                   f"{exc.strerror or exc}")


class Shell:
    """One interactive session on a terminal."""

    def __init__(self, session):
        self.session = session
        self.env = session.env
        self.proxy: StdoutProxy | None = None
        self.prompt = PromptSession(
            message=lambda: prompt_text(session),
            history=self._history(),
            auto_suggest=AutoSuggestFromHistory(),
            completer=ThreadedCompleter(TetraCompleter(session)),
            complete_while_typing=False,
            lexer=self._lexer(),
            style=_style(self.env.color),
            include_default_pygments_style=False,
            color_depth=None if self.env.color else ColorDepth.MONOCHROME,
            bottom_toolbar=lambda: toolbar_text(session),
            refresh_interval=1.0,
            key_bindings=shell_bindings(),
            prompt_continuation=lambda width, line, wrap: "… ".rjust(width),
            enable_history_search=False,
            mouse_support=False,
        )

    def _history(self):
        path = self.env.path("history")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(exist_ok=True)
            return _History(str(path), self.session.warn)
        except OSError as exc:
            self.session.warn(f"history is not saved: cannot write {path}: {exc.strerror}")
            return InMemoryHistory()

    def _lexer(self):
        if not self.env.color:
            return None
        from prompt_toolkit.lexers import PygmentsLexer

        from ..highlight import TetraLexer

        groups = self.session.registry.groups  # live: plugins load after this

        class ShellLexer(TetraLexer):
            def __init__(self, **options):
                super().__init__(groups=groups, **options)

        return PygmentsLexer(ShellLexer, sync_from_start=True)

    # -- the loop ---------------------------------------------------------------
    def run(self) -> int:
        self.session.load_plugins()
        self.session.out("tetra — type 'help' for commands, Tab to complete, Ctrl-D to leave")
        unsubscribe = redraw_on_events(self.session, lambda: self.prompt.app)
        self.proxy = StdoutProxy(raw=True, sleep_between_writes=0.05)
        try:
            while True:
                try:
                    text = self._read()
                except Terminated:
                    return self._terminated()
                except KeyboardInterrupt:
                    continue  # Ctrl-C at the prompt drops the line, never the shell
                except UnfinishedInput as unfinished:
                    self._drop(unfinished.text)
                    continue
                except EOFError:
                    if self._leave():
                        return 0
                    continue
                except Exception as exc:  # the terminal went away, or a bug in rendering
                    if self.env.debug:
                        raise
                    self.session.err(f"tetra: the prompt failed: {type(exc).__name__}: {exc}"
                                     "\n  hint: run with --debug for the traceback")
                    return int(ExitStatus.ERROR)
                if not text.strip():
                    continue
                if self.session.has_jobs:
                    self.session.jobs.exit_asked = False  # a command since: Ctrl-D asks again
                try:
                    if self.session.run_source(text, script=False) == ExitStatus.TERMINATED:
                        return self._terminated()
                except Terminated:
                    return self._terminated()
                except KeyboardInterrupt:  # between statements, outside run_statement
                    self.session.err("tetra: interrupted")
                    self.session.last_status = int(ExitStatus.INTERRUPTED)
                except ExitRequest as request:
                    if self._leave(status=request.status):
                        return request.status
        finally:
            unsubscribe()
            self.proxy.close()

    def _read(self) -> str:
        """Prompt for one line; meanwhile other output goes above the prompt."""
        env, saved = self.env, (self.env.stdout, self.env.stderr, sys.stdout, sys.stderr)
        # background jobs print while we wait for input: through the proxy, so the
        # prompt is redrawn under their output instead of being torn apart
        env.stdout = env.stderr = sys.stdout = sys.stderr = self.proxy
        try:
            return self.prompt.prompt()
        finally:
            self.proxy.flush()
            env.stdout, env.stderr, sys.stdout, sys.stderr = saved

    def _terminated(self) -> int:
        """SIGTERM: the shell ends, and so do its background jobs (143)."""
        if self.session.has_jobs and self.session.jobs.running():
            self.session.jobs.cancel_all()
            self.session.jobs.wait(timeout=CANCEL_GRACE_S)
        return int(ExitStatus.TERMINATED)

    def _drop(self, text: str) -> None:
        """Ctrl-D inside an unfinished statement: like bash, say why and run nothing.
        The text goes to history, so Up brings it back to finish."""
        self.prompt.history.append_string(text.rstrip("\n"))
        self.session.err("tetra: unexpected end of input (Ctrl-D): "
                         "unterminated input discarded")
        self.session.last_status = int(ExitStatus.USAGE)

    def _leave(self, status: int = 0) -> bool:
        """Ctrl-D or `exit`: True to leave now.  Running jobs: warn once, then cancel."""
        if not self.session.has_jobs:
            return True
        jobs = self.session.jobs
        running = len(jobs.running())
        if running and jobs.exit_asked:
            self.session.err(f"tetra: cancelling {running} job(s)…")
        try:
            decision = jobs.request_exit(timeout=CANCEL_GRACE_S)
        except KeyboardInterrupt:
            return True
        if decision == "confirm":
            noun, pronoun = ("job", "it") if running == 1 else ("jobs", "them")
            how = "Ctrl-D" if status == 0 else "exit"
            self.session.err(f"tetra: {running} {noun} running; {how} again to cancel "
                             f"{pronoun} ('jobs' lists them)")
            return False
        if decision == "stuck":
            self.session.err(f"tetra: {len(jobs.running())} job(s) did not stop within "
                             f"{CANCEL_GRACE_S:.0f}s; leaving them")
        return True


def run_shell(session) -> int:
    """Run the interactive shell until Ctrl-D or ``exit``; returns the exit status."""
    return Shell(session).run()

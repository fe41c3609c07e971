"""Prompt text, toolbar, live redraw from the bus, and line continuation."""

from __future__ import annotations

import threading

import pytest

from tetra_repl.env import Environment
from tetra_repl.plugin import Plugin
from tetra_repl.session import Session
from tetra_repl.shell.keys import is_incomplete, is_unfinished_at_eof
from tetra_repl.shell.toolbar import HINT, job_summary, prompt_text, redraw_on_events, toolbar_text


def plain(formatted) -> str:
    return "".join(text for _, text in formatted)


@pytest.fixture
def session(tmp_path):
    return Session(Environment(state_dir=tmp_path, color=False))


def test_prompt_is_plain_without_providers_and_names_the_target_with_one(session):
    assert plain(prompt_text(session)) == "tetra ▸ "
    plugin = Plugin("p")
    plugin.prompt(lambda s: "@staging")
    plugin.prompt(lambda s: None)
    plugin.prompt(lambda s: 1 / 0)  # a broken provider is skipped, not fatal
    session.registry.add_plugin(plugin)
    assert plain(prompt_text(session)) == "tetra @staging ▸ "


def test_toolbar_shows_providers_and_running_jobs_else_a_hint(session):
    assert session._jobs is None and plain(toolbar_text(session)).strip() == HINT
    plugin = Plugin("p")
    plugin.toolbar(lambda s: "txn deploy-api-1 EXECUTE")
    session.registry.add_plugin(plugin)
    release = threading.Event()
    job = session.jobs.start("deploy @staging a.tgz", lambda: release.wait(5) and 0)
    try:
        text = plain(toolbar_text(session))
        assert "txn deploy-api-1 EXECUTE" in text
        assert "1 job: [1] deploy @staging a.tgz" in text
    finally:
        release.set()
        session.jobs.wait(job)
    assert job_summary(session) is None


def test_bus_events_redraw_the_running_prompt(session):
    class App:
        is_running = True
        redraws = 0

        def invalidate(self):
            self.redraws += 1

    app = App()
    unsubscribe = redraw_on_events(session, lambda: app)
    session.bus.publish("txn.stage_changed", {"stage": "EXECUTE"})
    session.bus.publish("job.finished", {"id": 1})
    assert app.redraws == 2
    unsubscribe()
    session.bus.publish("txn.stage_changed", {})
    assert app.redraws == 2


@pytest.mark.parametrize("text, incomplete", [
    ("echo hi", False), ('echo "hi', True), ("echo 'a;b", True), ("echo a \\", True),
    ("echo a\\\\", False), ('echo "a" \'b\'', False), ("echo $(x", False), ("", False),
])
def test_an_open_quote_or_trailing_backslash_continues_the_line(text, incomplete):
    assert is_incomplete(text) is incomplete


@pytest.mark.parametrize("text, at_end, line, drops", [
    ("echo 'x\n", True, "", True),            # Ctrl-D on the empty continuation line
    ("echo 'x\ny", True, "y", True),          # still inside the quote
    ("echo 'x\ny'", True, "y'", False),       # finished: Ctrl-D is delete-char as ever
    ("echo 'x", True, "echo 'x", False),       # one line: as bash, Ctrl-D does nothing
    ("echo 'x\n", False, "echo 'x", False),   # cursor moved back up
    ("", True, "", False),                     # the empty prompt: EOFError, exits
])
def test_ctrl_d_drops_only_an_unfinished_multiline_statement(text, at_end, line, drops):
    assert is_unfinished_at_eof(text, at_end, line) is drops

"""Completion after flags given as ``--flag=value``: the flag counts as given and
its value is not awaited (prompt_toolkit Documents, no terminal)."""

from __future__ import annotations

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from tetra_repl.env import Environment
from tetra_repl.plugin import Option, Param, Plugin
from tetra_repl.session import Session
from tetra_repl.shell.completer import TetraCompleter


@pytest.fixture
def session(tmp_path):
    session = Session(Environment(state_dir=tmp_path / "state", color=False))
    plugin = Plugin("fake")

    @plugin.command("ship", params=[Param("mode", choices=["fast", "slow"])],
                    options=[Option("--restart", choices=["always", "no"]),
                             Option("--lines", "-n", type="int"),
                             Option("--wait", type="float", optional_value=True),
                             Option("--dry-run", type="bool")])
    def ship(ctx, args): ...

    session.registry.add_plugin(plugin, "test")
    return session


def complete(session, text: str) -> list[str]:
    found = TetraCompleter(session).get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [text[: len(text) + c.start_position] + c.text for c in found]


def test_a_flag_given_with_equals_is_not_offered_again(session):
    assert complete(session, "ship --restart=always --") == [
        "ship --restart=always --lines", "ship --restart=always --wait",
        "ship --restart=always --dry-run"]
    assert complete(session, "ship --lines=3 --wait=1 --") == [
        "ship --lines=3 --wait=1 --restart", "ship --lines=3 --wait=1 --dry-run"]
    assert complete(session, "ship --restart=no --re") == []


def test_the_word_after_a_flag_given_with_equals_is_a_parameter_not_its_value(session):
    assert complete(session, "ship --restart=always f") == ["ship --restart=always fast"]
    assert complete(session, "ship --restart a") == ["ship --restart always"]  # still awaited

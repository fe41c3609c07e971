"""Completion by context, from the command specs (prompt_toolkit Documents, no terminal)."""

from __future__ import annotations

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from tetra_repl.env import Environment
from tetra_repl.plugin import Option, Param, Plugin
from tetra_repl.session import Session
from tetra_repl.shell.completer import TetraCompleter, quote, unquote


@pytest.fixture
def session(tmp_path):
    session = Session(Environment(state_dir=tmp_path / "state", color=False))
    plugin = Plugin("fake", help="specs shaped like the real plugins'")
    plugin.group("tsm", "service manager")

    @plugin.command("tsm start", help="start a process",
                    params=[Param("command", rest=True, greedy=True)],
                    options=[Option("--name", "-n", help="process name"),
                             Option("--restart", choices=["always", "on-failure", "no"]),
                             Option("--env", type="path")],
                    trailing=("--name",))
    def start(ctx, args): ...

    @plugin.command("tsm stop", help="stop a process", params=[Param("id", complete="tsm.process")])
    def stop(ctx, args): ...

    @plugin.command("deploy", help="deploy an artifact",
                    params=[Param("target", type="target"), Param("artifact", type="path")],
                    options=[Option("--dry-run", type="bool", help="plan only"),
                             Option("--wait", type="float", optional_value=True)])
    def deploy(ctx, args): ...

    @plugin.completer("target")
    def targets(session, prefix):
        return ["@staging", "@prod", "@prod:web", "prod[web-1]"]

    @plugin.completer("tsm.process")
    def processes(session, prefix):
        return ["web-7777", "api-8000"]

    session.registry.add_plugin(plugin, "test")
    return session


def complete(session, text: str) -> list[str]:
    found = TetraCompleter(session).get_completions(Document(text), CompleteEvent(completion_requested=True))
    return [text[: len(text) + c.start_position] + c.text for c in found]


def test_command_names(session):
    assert complete(session, "ech") == ["echo"]
    assert "tsm" in complete(session, "")


def test_group_subcommands(session):
    assert complete(session, "tsm st") == ["tsm start", "tsm stop"]


def test_flags_of_the_command_at_the_cursor_with_their_help(session):
    assert complete(session, "wait --ti") == ["wait --timeout"]
    found = list(TetraCompleter(session).get_completions(Document("tsm start --n"), CompleteEvent()))
    assert [(c.text, c.display_meta_text) for c in found] == [("--name", "process name")]


def test_a_flag_already_given_is_not_offered_again(session):
    assert complete(session, "deploy @x a --dry-run --") == ["deploy @x a --dry-run --wait"]


def test_trailing_flags_after_the_command_words_and_no_others(session):
    # `tsm start python3 -m http.server 7777 --name web`: tsm takes --name at the end
    assert complete(session, "tsm start python3 -m http.server 7777 --na") == [
        "tsm start python3 -m http.server 7777 --name"]
    assert complete(session, "tsm start python3 app.py --re") == []  # not a trailing flag
    assert complete(session, "tsm start python3 app.py --name web --na") == []  # given already
    assert complete(session, "tsm start -- python3 app.py --na") == []  # after --: all the command's


def test_flag_values_from_choices_in_both_forms(session):
    assert complete(session, "tsm start --restart on") == ["tsm start --restart on-failure"]
    assert complete(session, "tsm start --restart=al") == ["tsm start --restart=always"]


def test_targets_where_a_target_is_expected_and_at_statement_start(session):
    assert complete(session, "deploy @p") == ["deploy @prod", "deploy @prod:web", "deploy @prod[web-1]"]
    assert complete(session, "deploy ") == ["deploy @staging", "deploy @prod", "deploy @prod:web",
                                            "deploy @prod[web-1]"]
    assert complete(session, "@st") == ["@staging"]


def test_plugin_completer_kinds(session):
    assert complete(session, "tsm stop w") == ["tsm stop web-7777"]


def test_paths_for_path_parameters_quoted_when_needed(session, tmp_path, monkeypatch):
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "api v2.tar.gz").write_text("")
    (tmp_path / ".hidden").write_text("")
    monkeypatch.chdir(tmp_path)
    assert complete(session, "deploy @x bu") == ["deploy @x build/"]
    assert complete(session, "deploy @x build/a") == ["deploy @x 'build/api v2.tar.gz'"]
    assert complete(session, 'deploy @x "build/api') == ['deploy @x "build/api v2.tar.gz"']
    assert complete(session, "tsm start --env .h") == ["tsm start --env .hidden"]


def test_variables(session):
    session.vars["version"] = "2.1.0"
    assert complete(session, "echo $ve") == ["echo $version"]
    assert complete(session, 'echo "v${ve') == ['echo "v${version}']
    assert complete(session, "echo '$ve") == []


def test_help_completes_command_names(session):
    assert complete(session, "help ts") == ["help tsm"]
    assert complete(session, "help tsm sto") == ["help tsm stop"]


def test_nothing_inside_comments_or_after_a_remote_command(session):
    assert complete(session, "echo a # ec") == []
    assert complete(session, "@web ec") == []


def test_only_the_statement_at_the_cursor_counts(session):
    assert complete(session, "deploy @x a; wait --ti") == ["deploy @x a; wait --timeout"]


def test_a_failing_plugin_completer_gives_no_candidates(session):
    def broken(session, prefix):
        raise RuntimeError("boom")

    session.registry.completers["tsm.process"] = broken
    assert complete(session, "tsm stop w") == []


def test_quote_and_unquote_round_trip():
    for text in ["plain", "a b", "it's", 'say "hi"', "$HOME", "#x"]:
        assert unquote(quote(text)) == text
    assert unquote('"a b') == "a b"

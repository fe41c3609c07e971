"""The Pygments lexer: one token type per thing a user tells apart."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pygments.token import Comment, Error, Operator, Punctuation, String, Whitespace

from tetra_repl.highlight import (ASSIGN, BACKGROUND, COMMAND, FLAG, PASSTHROUGH, ROLE, SELECTOR,
                                  SEPARATOR, SYMBOL, VARIABLE, WORD, TetraLexer, highlight_ansi,
                                  words_before)


def tokens(text: str, groups=()) -> list[tuple[object, str]]:
    return [(t, v) for _, t, v in TetraLexer(groups=groups).get_tokens_unprocessed(text)
            if t is not Whitespace]


def test_command_target_word_flag_and_background():
    assert tokens("deploy @staging build/api-v2.1.0.tar.gz --dry-run &") == [
        (COMMAND, "deploy"), (SYMBOL, "@staging"), (WORD, "build/api-v2.1.0.tar.gz"),
        (FLAG, "--dry-run"), (BACKGROUND, "&")]


def test_symbol_with_role_and_selector_then_the_remote_command():
    assert tokens("@prod:web[web-1,web-2] uptime") == [
        (SYMBOL, "@prod"), (Punctuation, ":"), (ROLE, "web"), (Punctuation, "["),
        (SELECTOR, "web-1,web-2"), (Punctuation, "]"), (COMMAND, "uptime")]


def test_flag_with_value_short_flag_and_passthrough():
    assert tokens("tsm start --name=web -n 3 -- python3 -m http.server --port 1", groups={"tsm"}) == [
        (COMMAND, "tsm"), (COMMAND, "start"), (FLAG, "--name"), (Operator, "="), (WORD, "web"),
        (FLAG, "-n"), (WORD, "3"), (PASSTHROUGH, "--"), (WORD, "python3"), (WORD, "-m"),
        (WORD, "http.server"), (WORD, "--port"), (WORD, "1")]


def test_subcommand_only_after_a_group():
    assert tokens("echo start")[1] == (WORD, "start")
    assert tokens("txn status", groups={"txn"})[1] == (COMMAND, "status")


def test_assignment_strings_variables_comment_and_separator():
    assert tokens("""set PORT=3000; echo "v $x \\" ${y}" '$HOME' $? # note""") == [
        (COMMAND, "set"), (ASSIGN, "PORT"), (Operator, "="), (WORD, "3000"), (SEPARATOR, ";"),
        (COMMAND, "echo"), (String.Double, '"'), (String.Double, "v "), (VARIABLE, "$x"),
        (String.Double, " "), (String.Escape, '\\"'), (String.Double, " "), (VARIABLE, "${y}"),
        (String.Double, '"'), (String.Single, "'$HOME'"), (VARIABLE, "$?"),
        (Comment.Single, "# note")]


def test_hash_outside_quotes_starts_a_comment_even_inside_a_word():
    assert tokens("echo a#b c") == [(COMMAND, "echo"), (WORD, "a"), (Comment.Single, "#b c")]
    assert tokens("echo 'a#b'") == [(COMMAND, "echo"), (String.Single, "'a#b'")]


def test_a_new_line_starts_a_new_statement():
    assert tokens("echo a\n@web uptime")[2:] == [(SEPARATOR, "\n"), (SYMBOL, "@web"), (COMMAND, "uptime")]


def test_text_being_typed_is_coloured_not_refused():
    assert tokens('echo "open $v') == [(COMMAND, "echo"), (String.Double, '"'),
                                       (String.Double, "open "), (VARIABLE, "$v")]
    assert tokens("deploy @") == [(COMMAND, "deploy"), (SYMBOL, "@")]
    assert (Error, "$") in tokens("echo $(id)")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab -=@:[],;&#$\"'\\\n{}?_1\x1c")), max_size=40))
def test_any_text_lexes_to_itself(text):
    assert "".join(v for _, _, v in TetraLexer().get_tokens_unprocessed(text)) == text


def test_highlight_ansi_colours_and_keeps_the_text():
    out = highlight_ansi("tsm start @x --a 's' # c", groups={"tsm"})
    assert "\x1b[" in out
    import re

    assert re.sub(r"\x1b\[[0-9;]*m", "", out) == "tsm start @x --a 's' # c"


@pytest.mark.parametrize("text, expected", [
    ("tsm st", ["tsm", "st"]),
    ("tsm start ", ["tsm", "start", ""]),
    ('echo a; put @web "my fi', ["put", "@web", '"my fi']),
    ("echo x & ", [""]),
])
def test_words_before_the_cursor(text, expected):
    words, in_comment = words_before(text)
    assert [w.text for w in words] == expected
    assert not in_comment


def test_words_before_knows_an_open_quote_and_a_comment():
    words, _ = words_before('put "my fi')
    assert not words[-1].closed
    words, _ = words_before('put "my file"')
    assert words[-1].closed
    assert words_before("echo x # a comm")[1]


def test_pygments_itself_finds_the_lexer_by_name_and_by_file_name():
    """SPEC 4's "a Pygments lexer for the language", registered as Pygments looks them up."""
    from pygments.lexers import get_lexer_by_name, get_lexer_for_filename

    assert isinstance(get_lexer_by_name("tetra"), TetraLexer)
    assert isinstance(get_lexer_for_filename("deploy-all.tetra"), TetraLexer)

"""The parser: AST shapes, error positions, and properties over arbitrary input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tetra_repl.errors import ParseError
from tetra_repl.language import Assignment, Flag, Statement, Symbol, Var, Word, parse, to_source
from tetra_repl.language.printer import argv_to_source


def one(text: str) -> Statement:
    statements = parse(text)
    assert len(statements) == 1
    return statements[0]


def test_symbols_with_role_and_selector():
    s = one("deploy @prod:web[web-1,web-2] @stg @prod[0]")
    assert s.args[1] == Symbol("prod", "web", ("web-1", "web-2"))
    assert s.args[2] == Symbol("stg")
    assert s.args[3] == Symbol("prod", None, ("0",))


def test_flags_assignments_strings_and_variables():
    s = one("""tsm start --name=web -n 20 PORT=3000 "a $x b" 'lit $x' ${y}z $? a\\ b""")
    assert s.args[2] == Flag("--name", Word(("web",)))
    assert s.args[3] == Flag("-n")
    assert s.args[4] == Word(("20",))
    assert s.args[5] == Assignment("PORT", Word(("3000",)))
    assert s.args[6] == Word(("a ", Var("x"), " b"))
    assert s.args[7] == Word(("lit $x",))
    assert s.args[8] == Word((Var("y"), "z"))
    assert s.args[9] == Word((Var("?"),))
    assert s.args[10] == Word(("a b",))


def test_double_quote_escapes():
    assert one(r'echo "q\" b\\ n\n d\$"').args[1] == Word(('q" b\\ n\n d$',))


def test_passthrough_after_double_dash_is_never_classified():
    s = one("tsm start --name w -- python3 app.py --port 1 @x A=1")
    assert [a for a in s.args] == [Word(("tsm",)), Word(("start",)), Flag("--name"), Word(("w",))]
    assert s.passthrough == tuple(Word((t,)) for t in ("python3", "app.py", "--port", "1", "@x", "A=1"))


def test_statements_separators_comments_and_background():
    statements = parse("echo a; echo b &\n# only a comment\n\n echo c#a comment & ; x\necho 'd#e'")
    assert [s.line for s in statements] == [1, 1, 4, 5]
    assert statements[1].background is True
    # '#' outside quotes starts a comment, inside a word too (SPEC 3)
    assert statements[2].args[1:] == (Word(("c",)),) and not statements[2].background
    assert statements[3].args[1] == Word(("d#e",))


def test_an_at_word_with_a_variable_is_a_word_read_as_a_target_once_expanded():
    s = one("@$env uptime")
    assert s.args[0] == Word(("@", Var("env")))
    s = parse("exec @box:${r}[$h] --")[0]
    assert s.args[1] == Word(("@box:", Var("r"), "[", Var("h"), "]"))


def test_a_short_flag_takes_a_value_after_equals_as_a_long_one_does():
    s = one("greet -n=3 -v= -x'a b' -e=A=\"$v\"")
    assert s.args[1:] == (Flag("-n", Word(("3",))), Flag("-v", Word(("",))),
                          Word(("-xa b",)), Flag("-e", Word(("A=", Var("v")))))


def test_quoted_words_stay_plain_words():
    s = one("echo '--x' \"@y\" 'A=1'")
    assert s.args[1:] == (Word(("--x",)), Word(("@y",)), Word(("A=1",)))


@pytest.mark.parametrize("text, line, column, message", [
    ('deploy @staging "build', 1, 17, "unterminated string"),
    ("echo 'a", 1, 6, "unterminated string"),
    ("echo ok\n  x $(id)", 2, 5, "command substitution"),
    ("a & b", 1, 5, "unexpected word b, expected"),
    ('a & "b c" d', 1, 5, 'unexpected word "b c", expected'),
    ("@x[ y", 1, 4, "invalid target '@x[': expected a host name or index"),
    ('@x["a"] y', 1, 4, "invalid target '@x[\"a\"]': expected a host name or index"),
    ("@prod[web-1 uptime", 1, 12, "expected ']'"),
    ("echo x; @prod:", 1, 15, "expected a role name"),
    ("echo $", 1, 6, "variable name"),
    ("echo ${name x", 1, 12, "expected '}' after '${name'"),
])
def test_parse_errors_have_line_column_and_message(text, line, column, message):
    with pytest.raises(ParseError) as info:
        parse(text)
    assert (info.value.line, info.value.column) == (line, column)
    assert message in info.value.message
    rendered = info.value.render()
    assert rendered.splitlines()[2].index("^") == column + 1  # two spaces of indent


def test_argv_to_source_keeps_each_argv_word_one_word():
    words = ["deploy", "@staging", "a b.tgz", "--name=x y", "PORT=1 2", "$HOME", ";", "-f"]
    s = one(argv_to_source(words))
    assert s.args == (Word(("deploy",)), Symbol("staging"), Word(("a b.tgz",)),
                      Flag("--name", Word(("x y",))), Assignment("PORT", Word(("1 2",))),
                      Word(("$HOME",)), Word((";",)), Flag("-f"))


# -- properties ---------------------------------------------------------------

_alphabet = st.sampled_from(list("ab-_=@:[],.$?{}'\"\\#;&\n\t x0") + ["--", "${v}", "é", "\r"])


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_alphabet, max_size=40).map("".join))
def test_arbitrary_text_parses_or_raises_only_parse_error(text):
    try:
        statements = parse(text)
    except ParseError as exc:
        assert exc.line >= 1 and exc.column >= 1
        return
    for s in statements:
        assert isinstance(s, Statement) and s.args


_name = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,6}", fullmatch=True)
_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                max_size=12)
_word = st.builds(lambda parts: Word(tuple(parts)) if parts else Word(("",)),
                  st.lists(st.one_of(_text.filter(bool), _name.map(Var), st.just(Var("?"))),
                           min_size=1, max_size=4).map(
                      lambda ps: [p for i, p in enumerate(ps)
                                  if not (isinstance(p, str) and i and isinstance(ps[i - 1], str))]))
_symbol = st.builds(Symbol, st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,5}", fullmatch=True),
                    st.none() | st.from_regex(r"[a-z0-9]{1,4}", fullmatch=True),
                    st.none() | st.lists(st.from_regex(r"[a-z0-9\-]{1,4}", fullmatch=True),
                                         min_size=1, max_size=3).map(tuple))
_flag = st.builds(Flag, st.from_regex(r"--[a-z][a-z0-9\-]{0,5}|-[a-z]", fullmatch=True),
                  st.none() | _word)  # -n=3 is a flag with a value, as --times=3 is
_assign = st.builds(Assignment, _name, _word)
_arg = st.one_of(_word, _symbol, _flag, _assign)
_statement = st.builds(
    lambda first, rest, passthrough, bg: Statement((first, *rest), passthrough, bg),
    st.one_of(_word, _symbol), st.lists(_arg, max_size=5),
    st.none() | st.lists(_word, max_size=3).map(tuple), st.booleans())




@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_statement)
def test_printing_an_ast_and_parsing_it_again_gives_the_same_ast(statement):
    text = to_source(statement)
    assert parse(text) == [statement], text

"""A flag's value is checked and converted as a parameter's is (one path for
both), and a short flag takes '=' as a long flag does."""

from __future__ import annotations

import pytest
from tetra_testing import install_plugin

_PROBE = """\
from tetra_repl.plugin import Option, Param, Plugin
from tetra_repl.language import Symbol

plugin = Plugin("probe", help="shows what it was given")


def show(value):
    if isinstance(value, Symbol):
        return "Symbol " + value.text
    return type(value).__name__ + " " + repr(value)


@plugin.command("probe", help="Show the bound arguments",
                params=[Param("who", required=False)],
                options=[Option("--tgt", type="target"), Option("--env", "-e", type="assignment"),
                         Option("--times", "-n", type="int", default=1),
                         Option("--verbose", "-v", type="bool")])
def probe(ctx, args):
    for name in ("who", "tgt", "env", "times", "verbose"):
        ctx.out(name + "=" + show(getattr(args, name)))


@plugin.command("probe-target", help="A target parameter", params=[Param("target", type="target")])
def probe_target(ctx, args):
    ctx.out(show(args.target))
"""


@pytest.fixture
def probe(tetra_dir):
    install_plugin(tetra_dir, "probe", _PROBE)


def _bound(stdout: str) -> dict:
    return dict(line.split("=", 1) for line in stdout.splitlines())


@pytest.mark.parametrize("flag, key, value", [
    *[(f, "tgt", "Symbol @local") for f in ("--tgt @local", "--tgt=@local", "--tgt $t", "--tgt=$t")],
    *[(f, "env", "tuple ('PORT', '3000')") for f in ("--env PORT=3000", "--env=PORT=3000",
                                                     "-e PORT=3000", "-e=PORT=3000", "--env \"PORT=$p\"")],
])
def test_a_target_or_assignment_flag_gives_the_handler_a_symbol_or_a_pair(tetra, probe, flag, key, value):
    r = tetra("-c", f"set t=@local; set p=3000; probe {flag}")
    assert r.returncode == 0, r.stderr
    assert _bound(r.stdout)[key] == value


def test_a_target_flag_reads_role_and_selector_as_a_literal_target_does(tetra, probe):
    r = tetra("-c", "probe --tgt=@prod:web[web-1,web-2]")
    assert r.returncode == 0, r.stderr
    assert _bound(r.stdout)["tgt"] == "Symbol @prod:web[web-1,web-2]"
    r = tetra("-c", "probe-target @prod:web[web-1]")
    assert (r.returncode, r.stdout) == (0, "Symbol @prod:web[web-1]\n")


@pytest.mark.parametrize("flag, message", [
    ("--tgt local", "probe: expected an @target for --tgt, got 'local'"),
    ("--tgt=local", "probe: expected an @target for --tgt, got 'local'"),
    ("--tgt=@local[", "probe: invalid target '@local[': expected a host name or index in '[...]'"),
    ("--tgt=@9", "probe: invalid target '@9': expected a target name after '@'"),
    ("--env 3000", "probe: expected NAME=VALUE for --env, got '3000'"),
])
def test_a_target_or_assignment_flag_refuses_a_value_of_another_kind(tetra, probe, flag, message):
    r = tetra("-c", f"probe {flag}")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.splitlines()[0] == f"tetra: line 1: {message}"


def test_a_short_value_flag_takes_its_value_after_an_equals_sign(tetra, probe):
    r = tetra("-c", "probe -n=3 x")
    assert r.returncode == 0, r.stderr
    bound = _bound(r.stdout)
    assert (bound["times"], bound["who"]) == ("int 3", "str 'x'")
    r = tetra("-c", "probe -n='4'")
    assert r.returncode == 0, r.stderr
    assert _bound(r.stdout)["times"] == "int 4"


def test_a_short_switch_with_a_value_is_refused_as_a_long_one_is(tetra, probe):
    for flag in ("-v=1", "--verbose=1"):
        r = tetra("-c", f"probe {flag}")
        assert (r.returncode, r.stdout) == (2, ""), flag
        assert r.stderr.splitlines() == [f"tetra: line 1: probe: flag {flag.split('=')[0]} takes no value",
                                         "  hint: see 'help probe'"]


def test_a_short_flag_with_a_bad_value_names_the_flag(tetra, probe):
    r = tetra("-c", "probe -n=three")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.splitlines()[0] == "tetra: line 1: probe: -n expects an integer, got 'three'"


def test_a_short_flag_with_equals_from_argv_is_still_a_flag(tetra, probe):
    r = tetra("probe", "-n=2", "a b")
    assert r.returncode == 0, r.stderr
    bound = _bound(r.stdout)
    assert (bound["times"], bound["who"]) == ("int 2", "str 'a b'")


def test_echo_still_prints_short_flags_with_values_as_written(tetra):
    r = tetra("-c", "echo -v=1 -n='a b' --x=y")
    assert (r.returncode, r.stdout) == (0, "-v=1 -n=a b --x=y\n")

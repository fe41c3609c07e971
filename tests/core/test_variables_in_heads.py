"""Variables expand before dispatch (SPEC 3): in the command name, the
subcommand and an @target too, always as one word, never as more statements."""

from __future__ import annotations

import pytest

_BOX = ('[targets.box]\nconnector = "local"\n'
        'hosts = ["a", "bb", { name = "c", roles = ["odd"] }]\n')


@pytest.fixture
def box(tetra_dir):
    """A local target 'box' with hosts a, bb and c (role odd)."""
    (tetra_dir / "topology.toml").write_text(_BOX)


def test_a_variable_names_the_command(tetra):
    r = tetra("-c", "set c=echo; $c hi; ${c} ho")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hi\nho\n", "")


def test_a_variable_names_the_subcommand(tetra):
    r = tetra("-c", "set s=nosuch; tsm $s")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == "tetra: line 1: tsm: unknown subcommand 'nosuch'"
    r = tetra("-c", "set s=ls; tsm $s")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "no processes (start one: tsm start -- COMMAND…)\n"


def test_a_variable_holding_a_target_fills_a_target_parameter(tetra):
    r = tetra("-c", "set t=@local; exec $t -- echo hi")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hi\n", "")


def test_a_target_variable_may_carry_a_role_or_a_host_selector(tetra, box):
    r = tetra("-c", "set t=@box:odd; exec $t -- echo role; set t='@box[bb]'; exec \"$t\" -- echo sel")
    assert (r.returncode, r.stdout, r.stderr) == (0, "role\nsel\n", "")


def test_a_statement_starting_with_a_target_variable_runs_on_it(tetra, box):
    r = tetra("-c", "set t=@local; $t echo hi; set t=@box:odd; $t echo on-c")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hi\non-c\n", "")


def test_variables_inside_an_at_symbol_expand(tetra, box):
    r = tetra("-c", "set env=local; @$env echo one; @${env} echo two; exec @$env -- echo three\n"
                    "set r=odd; set h=bb; @box:$r echo four; @box[$h] echo five; @box:${r}[c] echo six")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "one\ntwo\nthree\nfour\nfive\nsix\n"


def test_a_target_variable_that_is_not_a_valid_symbol_is_one_usage_error(tetra):
    r = tetra("-c", "set t='@local[x'; exec $t -- echo no")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines() == [
        "tetra: line 1: exec: invalid target '@local[x': expected ']' to close the host selector",
        "  hint: targets look like @staging, @prod:web, @prod[web-1] or @prod[0]"]
    r = tetra("-c", "set t=local; exec $t -- echo no")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines()[0] == "tetra: line 1: exec: expected an @target for TARGET, got 'local'"
    r = tetra("-c", "set e=@; $e echo no")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines()[0] == \
        "tetra: line 1: invalid target '@': expected a target name after '@'"


def test_a_variables_value_is_never_parsed_as_statements_or_words(tetra, tmp_path):
    victim = tmp_path / "victim"
    victim.write_text("keep")
    r = tetra("-c", f"set c='echo a; rm {victim}'; $c")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines()[0] == f"tetra: line 1: unknown command 'echo a; rm {victim}'"
    r = tetra("-c", f"set t='@local rm {victim}'; $t")
    assert r.returncode == 2 and r.stdout == ""
    assert r.stderr.splitlines()[0] == (f"tetra: line 1: invalid target '@local rm {victim}': "
                                        "unexpected ' ', expected ':role', '[hosts]' or the end of the target")
    r = tetra("-c", "set s='ls; echo injected'; tsm $s")
    assert r.returncode == 2 and "injected" not in r.stdout
    assert r.stderr.splitlines()[0] == "tetra: line 1: tsm: unknown subcommand 'ls; echo injected'"
    assert victim.read_text() == "keep"


def test_an_unknown_variable_in_the_command_name_is_the_usual_error(tetra):
    r = tetra("-c", "$nope_not_set hi")
    assert r.returncode == 2
    assert r.stderr.splitlines() == ["tetra: line 1: unknown variable $nope_not_set",
                                     "  hint: set it first: set nope_not_set=VALUE"]


def test_a_failing_command_named_by_a_variable_is_reported_as_what_it_ran(tetra):
    r = tetra("-c", "set t=@local; $t sh -c 'exit 3'")
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == "tetra: line 1: exec failed (exit status 3)"
    r = tetra("-c", "set c=exec; $c @local -- sh -c 'exit 4'")
    assert r.returncode == 1
    assert r.stderr.splitlines()[-1] == "tetra: line 1: exec failed (exit status 4)"


def test_a_quoted_at_word_stays_a_plain_word_for_a_command(tetra):
    r = tetra("-c", "set t=@local; echo $t '@local' \"@$t\"")
    assert (r.returncode, r.stdout) == (0, "@local @local @@local\n")


def test_a_target_given_by_a_variable_keeps_its_targets_lane(tetra):
    # one lane per target (SPEC 6.5): the second statement waits for the first
    r = tetra("-c", "set t=@local; exec $t -- sh -c 'sleep 0.5; echo first' &\n@local echo second")
    assert (r.returncode, r.stdout) == (0, "first\nsecond\n"), r.stderr
    assert "tetra: @local is busy with earlier work; waiting for its turn" in r.stderr

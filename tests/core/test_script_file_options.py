"""`tetra FILE.tetra --keep-going`: a script takes no arguments, so global
options may follow it; any other word after it is a usage error (SPEC 2)."""

from __future__ import annotations

import pytest

_SCRIPT = "echo one\nnosuch\necho two\n"


@pytest.fixture
def script(tmp_path):
    path = tmp_path / "s1.tetra"
    path.write_text(_SCRIPT)
    return path


def test_keep_going_after_the_script_file_is_the_global_option(tetra, script):
    r = tetra(str(script), "--keep-going")
    assert (r.returncode, r.stdout) == (1, "one\ntwo\n")
    assert r.stderr.splitlines()[0] == "tetra: line 2: unknown command 'nosuch'"


def test_options_before_and_after_the_script_combine(tetra, tmp_path):
    other = tmp_path / "other-state"
    other.mkdir()
    (other / "topology.toml").write_text('[targets.only_here]\nconnector = "local"\nhosts = ["a"]\n')
    script = tmp_path / "s2.tetra"
    script.write_text("nosuch\n@only_here echo from-other-dir\n")
    r = tetra("--keep-going", str(script), f"--dir={other}", "--no-color")
    assert (r.returncode, r.stdout) == (1, "from-other-dir\n"), r.stderr


def test_without_keep_going_the_script_stops_at_the_failure(tetra, script):
    r = tetra(str(script))
    assert (r.returncode, r.stdout) == (2, "one\n")


@pytest.mark.parametrize("extra", [["extra"], ["--keep-going", "extra"], ["--", "x"]])
def test_another_word_after_a_script_file_is_a_usage_error(tetra, script, extra):
    r = tetra(str(script), *extra)
    assert (r.returncode, r.stdout) == (2, "")
    word = [w for w in extra if w != "--keep-going"][0]
    assert r.stderr.splitlines() == [
        f"tetra: unexpected argument {word!r} after the script {script}"
        " (a script takes no arguments; options go before or after it)",
        "  hint: tetra --help"]


def test_an_unknown_option_after_a_script_file_is_a_usage_error(tetra, script):
    r = tetra(str(script), "--keep-goign")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.splitlines() == ["tetra: unknown option '--keep-goign'", "  hint: tetra --help"]


def test_dash_c_and_a_script_file_together_is_a_usage_error(tetra, script):
    r = tetra(str(script), "-c", "echo x")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.splitlines()[0] == f"tetra: -c and the script {script} together: give one of them"


def test_a_missing_dot_tetra_script_with_options_says_it_cannot_be_read(tetra, tmp_path):
    r = tetra(str(tmp_path / "nope.tetra"), "--keep-going")
    assert (r.returncode, r.stdout) == (2, "")
    assert r.stderr.splitlines() == [
        f"tetra: cannot read script {tmp_path / 'nope.tetra'}: No such file or directory"]


def test_a_script_without_the_suffix_run_by_its_path_takes_options_too(tetra, tmp_path):
    # as a '#!/usr/bin/env tetra' line runs it: tetra ./deploy-all --keep-going
    (tmp_path / "deploy-all").write_text(_SCRIPT)
    r = tetra("./deploy-all", "--keep-going", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (1, "one\ntwo\n")
    r = tetra("./deploy-all", "now", cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.splitlines()[0].startswith("tetra: unexpected argument 'now' after the script ./deploy-all")


def test_a_command_that_shares_its_name_with_a_file_in_the_cwd_is_still_a_command(tetra, tmp_path):
    (tmp_path / "echo").write_text("nosuch\n")
    r = tetra("echo", "hi", "there", cwd=tmp_path)
    assert (r.returncode, r.stdout) == (0, "hi there\n")

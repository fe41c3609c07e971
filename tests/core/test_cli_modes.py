"""Every invocation mode of SPEC 2, through the real `tetra` entry point."""

from __future__ import annotations

import subprocess
import sys

from tetra_testing import TETRA, install_plugin


def test_dash_c_runs_statements_in_order(tetra):
    r = tetra("-c", "echo one; echo two\necho three")
    assert r.returncode == 0
    assert r.stdout == "one\ntwo\nthree\n"
    assert r.stderr == ""


def test_script_file_runs(tetra, tmp_path):
    script = tmp_path / "deploy.tetra"
    script.write_text("# a comment\nset v=2.1.0\necho \"version $v\"  # trailing\n")
    r = tetra(str(script))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "version 2.1.0\n"


def test_stdin_that_is_not_a_terminal_runs_as_a_script(tetra):
    r = tetra(input="echo from-stdin\necho $?\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from-stdin\n0\n"
    assert "tetra ▸" not in r.stdout  # no prompt


def test_argv_words_are_one_statement_each_word_one_argument(tetra):
    r = tetra("echo", "a b", "$HOME", "x;y", "'q'")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "a b $HOME x;y 'q'\n"


def test_python_dash_m_behaves_like_the_console_script(tetra_env):
    r = subprocess.run([sys.executable, "-m", "tetra_repl", "-c", "echo same"],
                       capture_output=True, text=True, env=tetra_env, timeout=60)
    assert r.returncode == 0 and r.stdout == "same\n"


def test_first_failing_statement_stops_the_script_with_its_line(tetra):
    r = tetra("-c", "echo a\nwait --nope\necho never")
    assert r.returncode == 2
    assert r.stdout == "a\n"
    assert r.stderr.startswith("tetra: line 2: wait: unknown flag '--nope'")


def test_keep_going_runs_on_and_exits_1(tetra):
    r = tetra("--keep-going", "-c", "echo a\nwait --nope\necho after")
    assert r.returncode == 1
    assert r.stdout == "a\nafter\n"
    assert "line 2:" in r.stderr


def test_parse_error_exits_2_with_position_and_caret(tetra):
    r = tetra("-c", 'deploy @staging "build')
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert lines[0] == "tetra: parse error at 1:17: unterminated string"
    assert lines[1] == '  deploy @staging "build'
    assert lines[2] == "  " + " " * 16 + "^"



def test_the_caret_keeps_the_source_lines_tabs_so_both_expand_alike(tetra, tmp_path):
    script = tmp_path / "s.tetra"
    script.write_text('echo a\n\techo "x\n')
    r = tetra(str(script))
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert lines[0] == "tetra: parse error at 2:7: unterminated string"  # characters, not cells
    assert lines[1] == '  \techo "x'
    assert lines[2] == "  \t     ^"


def test_the_caret_counts_two_cells_for_a_wide_character(tetra):
    r = tetra("-c", 'echo 日本語 "x')
    assert r.returncode == 2
    lines = r.stderr.splitlines()
    assert lines[0] == "tetra: parse error at 1:10: unterminated string"
    assert lines[1] == '  echo 日本語 "x'
    assert lines[2] == "  " + " " * 5 + " " * 6 + " " + "^"

def test_parse_error_anywhere_runs_nothing(tetra):
    r = tetra("-c", "echo first\necho 'unterminated")
    assert r.returncode == 2
    assert r.stdout == ""
    assert "parse error at 2:6" in r.stderr


def test_unknown_command_suggests_the_closest(tetra):
    r = tetra("-c", "ecoh hi")
    assert r.returncode == 2
    assert "unknown command 'ecoh' (did you mean 'echo'?)" in r.stderr
    assert "Traceback" not in r.stderr


def test_unknown_flag_names_the_command_and_points_to_help(tetra):
    r = tetra("-c", "wait --timeot 3")
    assert r.returncode == 2
    assert "wait: unknown flag '--timeot' (did you mean '--timeout'?)" in r.stderr
    assert "help wait" in r.stderr


def test_wrong_type_and_missing_argument_are_usage_errors(tetra):
    r = tetra("-c", "wait --timeout soon")
    assert r.returncode == 2 and "--timeout expects a number, got 'soon'" in r.stderr
    r = tetra("-c", "set")
    assert r.returncode == 2 and "set: missing ASSIGNMENT" in r.stderr


def test_an_at_target_where_a_plain_argument_belongs_is_a_usage_error(tetra, tetra_dir):
    r = tetra("-c", "txn new @local")  # the description was forgotten
    assert r.returncode == 2
    assert "txn new: expected DESCRIPTION, got the @target '@local'" in r.stderr
    assert "see 'help txn new'" in r.stderr
    assert not (tetra_dir / "ttm").exists()  # nothing was created
    r = tetra("-c", "echo @local")  # words after the command are still plain text
    assert r.returncode == 0 and r.stdout == "@local\n"


def test_unknown_variable_is_an_error_not_empty(tetra):
    r = tetra("-c", "echo $nope_not_set")
    assert r.returncode == 2
    assert "unknown variable $nope_not_set" in r.stderr


def test_variables_expand_in_words_and_double_quotes_not_single(tetra):
    r = tetra("-c", "set name=web; echo $name \"${name}-1\" '$name' $?")
    assert r.stdout == "web web-1 $name 0\n"


def test_exit_status_of_exit_command(tetra):
    r = tetra("-c", "echo a; exit 3; echo b")
    assert r.returncode == 3
    assert r.stdout == "a\n"


def test_background_statement_and_wait(tetra):
    r = tetra("-c", "echo bg &\nwait\njobs")
    assert r.returncode == 0, r.stderr
    assert "bg" in r.stdout
    assert "[1] done" in r.stdout


def test_help_lists_commands_grouped_and_shows_one_command(tetra):
    r = tetra("-c", "help")
    assert r.returncode == 0
    assert r.stdout.startswith("core")
    assert "  echo" in r.stdout
    r = tetra("-c", "help wait")
    assert r.returncode == 0
    assert "usage: wait [--timeout" in r.stdout
    assert "examples:" in r.stdout


def test_version_and_global_options(tetra, tmp_path):
    r = tetra("--version")
    assert r.returncode == 0 and r.stdout.startswith("tetra ")
    r = tetra("--bogus")
    assert r.returncode == 2 and "unknown option '--bogus'" in r.stderr
    state = tmp_path / "elsewhere"
    r = tetra("--dir", str(state), "--no-color", "-c", "echo ok")
    assert r.returncode == 0 and r.stdout == "ok\n"


def test_missing_script_file_is_a_clear_error(tetra):
    r = tetra("nope.tetra")
    assert r.returncode == 2
    assert "cannot read script nope.tetra" in r.stderr


def test_internal_errors_show_no_traceback_unless_debug(tetra, tetra_dir):
    install_plugin(tetra_dir, "boom",
        "from tetra_repl.plugin import Plugin\n"
        "plugin = Plugin('boom')\n"
        "@plugin.command('boom', help='raise a bug')\n"
        "def boom(ctx, args):\n"
        "    raise RuntimeError('kaput')\n")
    r = tetra("-c", "boom")
    assert r.returncode == 1
    assert "internal error: RuntimeError: kaput" in r.stderr
    assert "Traceback" not in r.stderr
    r = tetra("--debug", "-c", "boom")
    assert "Traceback" in r.stderr


def test_interrupted_command_exits_130(tetra_env, tetra_dir):
    import signal

    install_plugin(tetra_dir, "slow",
        "import time\nfrom tetra_repl.plugin import Plugin\nplugin = Plugin('slow')\n"
        "@plugin.command('slow')\ndef slow(ctx, args):\n"
        "    print('started', flush=True)\n    time.sleep(30)\n")
    proc = subprocess.Popen([TETRA, "-c", "slow; echo never"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=tetra_env)
    try:
        assert proc.stdout.readline() == "started\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "never" not in out
    assert "interrupted" in err


def test_echo_prints_flag_like_words_as_its_arguments(tetra):
    r = tetra("-c", "echo --name=web -f -n 20 PORT=3000")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "--name=web -f -n 20 PORT=3000\n"


def test_missing_unexpected_and_mistyped_arguments_point_to_help_cmd(tetra):
    for line, command in [("set", "set"), ("set x", "set"), ("exit 1 2", "exit"),
                          ("resolve local", "resolve"), ("put @local", "put")]:
        r = tetra("-c", line)
        assert r.returncode == 2, line
        assert r.stderr.startswith(f"tetra: line 1: {command}: "), r.stderr
        assert f"help {command}" in r.stderr, r.stderr


def test_dollar_question_keeps_a_failed_commands_own_status_in_a_script(tetra):
    r = tetra("--keep-going", "-c", "@local sh -c 'exit 7'\necho status=$?")
    assert r.returncode == 1
    assert r.stdout == "status=7\n"
    assert "line 1: exec failed (exit status 7)" in r.stderr


def test_a_background_job_is_announced_before_it_reports_done(tetra):
    r = tetra("-c", "echo quick &\nwait")
    assert r.returncode == 0, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("[1]")]
    assert lines == ["[1] started: echo quick &", "[1] done: echo quick &"]


def test_a_script_that_is_not_utf8_or_not_a_file_is_one_clear_line(tetra, tmp_path):
    script = tmp_path / "latin1.tetra"
    script.write_bytes(b"echo caf\xe9\n")
    r = tetra(str(script))
    assert r.returncode == 2
    assert r.stderr == f"tetra: cannot read script {script}: not UTF-8 text (byte 9)\n"
    r = tetra(str(tmp_path))
    assert r.returncode == 2
    assert r.stderr == f"tetra: cannot read script {tmp_path}: Is a directory\n"


def test_hash_outside_quotes_starts_a_comment_even_inside_a_word(tetra):
    r = tetra("-c", "echo a#b c\necho 'a#b' \"c#d\" e\\#f # g")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "a\na#b c#d e#f\n"


def test_a_word_after_a_background_ampersand_is_named_in_the_parse_error(tetra):
    r = tetra("-c", "echo a & wait")
    assert r.returncode == 2
    assert r.stderr.splitlines()[0] == (
        "tetra: parse error at 1:10: unexpected word wait, expected ';' or a new line"
        " or end of input")

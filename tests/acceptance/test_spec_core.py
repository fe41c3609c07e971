"""Black-box acceptance tests for SPEC.md sections 1-5, 9 and 10.

Written from the specification alone: every test runs the real `tetra` in a
subprocess (or a pty) with a temporary TETRA_DIR and HOME.  Messages and flags
are SPEC's literal wording where SPEC gives one; where SPEC is loose, only what
it promises is asserted.  README.md's "Deviations from SPEC.md" is honoured
(the parse-error column is the caret's column).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from sshd import free_port
from tetra_testing import TETRA, install_plugin, kill_tree, wait_for

ANSI = "\x1b["

SPEC_TOPOLOGY = """\
[defaults]
user = "deploy"
port = 22
deploy_path = "/srv/app"
host_key_policy = "reject"
parallel = 10

[aliases]
stg = "staging"

[targets.staging]
hosts = ["stg-1"]
deploy_path = "/srv/api"
health = "http://127.0.0.1:8080/health"
restart = "tsm restart api"

[targets.prod]
hosts = [
  { name = "web-1", host = "10.0.0.11", roles = ["web"] },
  { name = "web-2", host = "10.0.0.12", roles = ["web"] },
  { name = "db-1",  host = "10.0.0.21", port = 2222, user = "ops", roles = ["db"] },
]
"""

SPEC_TOPOLOGY_JSON = {
    "defaults": {"user": "deploy", "port": 22, "deploy_path": "/srv/app",
                 "host_key_policy": "reject", "parallel": 10},
    "aliases": {"stg": "staging"},
    "targets": {
        "staging": {"hosts": ["stg-1"], "deploy_path": "/srv/api"},
        "prod": {"hosts": [
            {"name": "web-1", "host": "10.0.0.11", "roles": ["web"]},
            {"name": "web-2", "host": "10.0.0.12", "roles": ["web"]},
            {"name": "db-1", "host": "10.0.0.21", "port": 2222, "user": "ops", "roles": ["db"]},
        ]},
    },
}

HELLO_PLUGIN = '''\
from tetra_repl.plugin import Option, Param, Plugin

plugin = Plugin("hello", help="says hello")

@plugin.command("hello", help="Greet someone", params=[Param("who", required=False)],
                options=[Option("--times", "-n", type="int", default=1)],
                examples=["hello world -n 2"])
def hello(ctx, args):
    for _ in range(args.times):
        ctx.out(f"hello {args.who or 'world'}")
'''

BOOM_PLUGIN = '''\
from tetra_repl.plugin import Plugin

plugin = Plugin("boom", help="fails at run time")

@plugin.command("boom", help="Raise an internal error")
def boom(ctx, args):
    raise RuntimeError("kaboom-internal")
'''


def no_traceback(text: str) -> bool:
    return "Traceback" not in text and 'File "' not in text


def lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip()]


def error_lines(text: str) -> list[str]:
    """The lines of an error message, without its hint (SPEC 10: "a clear one-line
    error (plus a hint where one helps)")."""
    return [ln for ln in lines(text) if not ln.strip().startswith("hint:")]


def processes_with(marker: str) -> list[psutil.Process]:
    """Live processes running ``marker`` (e.g. ``sleep 31.4``) as their own program,
    not tetra itself whose command line merely mentions it."""
    program, *args = marker.split()
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        try:
            cmd = p.info["cmdline"] or []
            if (p.info["status"] != psutil.STATUS_ZOMBIE and cmd
                    and os.path.basename(cmd[0]) == program and cmd[1:] == args):
                found.append(p)
        except psutil.Error:
            pass
    return found


def kill_all(procs) -> None:
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass


@pytest.fixture
def spec_topology(tetra_dir) -> Path:
    path = tetra_dir / "topology.toml"
    path.write_text(SPEC_TOPOLOGY)
    return path


# --------------------------------------------------------------------------
# 2. Invocation modes, global options, exit codes
# --------------------------------------------------------------------------

def test_dash_c_runs_statements_separated_by_semicolons_and_exits_0(tetra):
    r = tetra("-c", "echo one; echo two")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "one\ntwo\n"


def test_script_file_runs_in_order(tetra, tmp_path):
    script = tmp_path / "ops.tetra"
    script.write_text("# header comment\necho first\n\necho second  # trailing\necho third\n")
    r = tetra(str(script))
    assert r.returncode == 0, r.stderr
    assert r.stdout == "first\nsecond\nthird\n"


def test_stdin_not_a_terminal_is_a_script_without_prompt_or_colour(tetra_env):
    env = {k: v for k, v in tetra_env.items() if k != "NO_COLOR"}
    env["TERM"] = "xterm-256color"
    r = subprocess.run([TETRA], input="echo piped\nhelp\n", capture_output=True, text=True,
                       env=env, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("piped\n")
    assert "▸" not in r.stdout and "tetra>" not in r.stdout
    assert ANSI not in r.stdout and ANSI not in r.stderr


def test_argv_of_two_or_more_words_is_one_statement(tetra):
    r = tetra("echo", "hello", "world")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello world\n"


def test_python_dash_m_tetra_repl_is_the_same_program(tetra_env):
    r = subprocess.run([sys.executable, "-m", "tetra_repl", "-c", "echo via-m; echo $?"],
                       capture_output=True, text=True, env=tetra_env, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "via-m\n0\n"


def test_version(tetra):
    r = tetra("--version")
    assert r.returncode == 0
    assert re.search(r"\d+\.\d+", r.stdout + r.stderr)


def test_first_failing_statement_stops_script_with_line_number_and_exit_1(tetra, tmp_path):
    script = tmp_path / "fail.tetra"
    script.write_text("echo before\n# a comment line\n@local sh -c 'exit 3'\necho never\n")
    r = tetra(str(script))
    assert r.returncode == 1
    assert r.stdout == "before\n"
    assert "tetra: line 3: " in r.stderr
    assert no_traceback(r.stderr)


def test_dash_c_failure_reports_the_line_of_the_statement(tetra):
    r = tetra("-c", "echo a\necho b; exec @local -- false\necho c")
    assert r.returncode == 1
    assert r.stdout == "a\nb\n"
    assert "tetra: line 2: " in r.stderr


def test_keep_going_runs_every_statement_and_exits_1(tetra):
    r = tetra("--keep-going", "-c", "echo a; @local false; echo b; @local true")
    assert r.returncode == 1
    assert r.stdout == "a\nb\n"
    assert "tetra: line 1: " in r.stderr


def test_keep_going_with_no_failure_exits_0(tetra):
    r = tetra("--keep-going", "-c", "echo a; @local true")
    assert r.returncode == 0, r.stderr


def test_parse_error_exits_2_with_position_caret_and_message(tetra):
    source = 'deploy @staging "build'
    r = tetra("-c", source)
    assert r.returncode == 2
    assert r.stdout == ""
    err = r.stderr.splitlines()
    # README deviation: the column is the caret's column (the quote, 17)
    assert err[0] == "tetra: parse error at 1:17: unterminated string"
    assert err[1].strip() == source
    assert err[2].strip() == "^"
    assert err[2].index("^") == err[1].index('"')


def test_parse_error_in_script_file_names_its_line(tetra, tmp_path):
    script = tmp_path / "bad.tetra"
    script.write_text("echo one\necho two\necho 'three\n")
    r = tetra(str(script))
    assert r.returncode == 2
    assert "parse error at 3:6" in r.stderr
    assert "unterminated string" in r.stderr
    assert no_traceback(r.stderr)


def test_unclosed_selector_is_a_parse_error_saying_what_was_expected(tetra):
    r = tetra("-c", "@prod[web-1 uptime")
    assert r.returncode == 2
    assert "parse error at 1:12" in r.stderr  # the caret under the space where ']' belongs
    assert "expected" in r.stderr.lower()
    assert any(ln.strip() == "^" for ln in r.stderr.splitlines())


def test_unknown_global_option_is_a_usage_error(tetra):
    r = tetra("--no-such-option")
    assert r.returncode == 2
    assert no_traceback(r.stderr) and r.stderr.strip()


def test_missing_script_file_is_a_clear_error(tetra, tmp_path):
    r = tetra(str(tmp_path / "nope.tetra"))
    assert r.returncode != 0
    assert "nope.tetra" in r.stderr
    assert len(error_lines(r.stderr)) == 1 and no_traceback(r.stderr)


def test_empty_and_comment_only_input_succeeds(tetra):
    assert tetra("-c", "").returncode == 0
    r = tetra("-c", "# nothing here\n   \n;;")
    assert r.returncode in (0, 2)  # ';;' may be a parse error; a comment alone must not be
    r = tetra("-c", "# nothing here\n\n")
    assert r.returncode == 0 and r.stdout == ""


def test_sigint_exits_130_and_ends_the_child(tetra_env):
    marker = "31.4159"
    proc = subprocess.Popen([TETRA, "-c", f"@local sleep {marker}; echo never"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=tetra_env, start_new_session=True)
    try:
        assert wait_for(lambda: processes_with(f"sleep {marker}")), "child never started"
        os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
        out, err = proc.communicate(timeout=15)
        assert proc.returncode == 130
        assert "never" not in out
        assert no_traceback(err)
        assert wait_for(lambda: not processes_with(f"sleep {marker}"), timeout=5)
    finally:
        kill_tree(proc.pid)
        kill_all(processes_with(f"sleep {marker}"))


def test_dir_option_beats_tetra_dir_environment(tetra, tetra_dir, tmp_path):
    (tetra_dir / "topology.toml").write_text('[targets.from_env]\nhosts = ["a"]\n')
    other = tmp_path / "other-dir"
    other.mkdir()
    (other / "topology.toml").write_text('[targets.from_option]\nhosts = ["b"]\n')
    r = tetra("-c", "targets")
    assert r.returncode == 0, r.stderr
    assert "from_env" in r.stdout
    r = tetra("--dir", str(other), "-c", "targets")
    assert r.returncode == 0, r.stderr
    assert "from_option" in r.stdout and "from_env" not in r.stdout


def test_dir_defaults_to_home_dot_tetra(tetra, tetra_env, tmp_path):
    home = Path(tetra_env["HOME"])
    (home / ".tetra").mkdir()
    (home / ".tetra" / "topology.toml").write_text('[targets.in_home]\nhosts = ["h"]\n')
    env = {k: v for k, v in tetra_env.items() if k != "TETRA_DIR"}
    r = subprocess.run([TETRA, "-c", "targets"], capture_output=True, text=True, env=env,
                       timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert "in_home" in r.stdout


def test_topology_option_beats_env_beats_dir_file(tetra, tetra_dir, tmp_path):
    (tetra_dir / "topology.toml").write_text('[targets.t_dir]\nhosts = ["a"]\n')
    env_file = tmp_path / "env.toml"
    env_file.write_text('[targets.t_env]\nhosts = ["b"]\n')
    opt_file = tmp_path / "opt.toml"
    opt_file.write_text('[targets.t_opt]\nhosts = ["c"]\n')
    assert "t_dir" in tetra("-c", "targets").stdout
    r = tetra("-c", "targets", env={"TETRA_TOPOLOGY": str(env_file)})
    assert "t_env" in r.stdout and "t_dir" not in r.stdout
    r = tetra("--topology", str(opt_file), "-c", "targets", env={"TETRA_TOPOLOGY": str(env_file)})
    assert "t_opt" in r.stdout and "t_env" not in r.stdout and "t_dir" not in r.stdout


def test_topology_json_in_dir_is_accepted_with_the_same_structure(tetra, tetra_dir):
    (tetra_dir / "topology.json").write_text(json.dumps(SPEC_TOPOLOGY_JSON))
    r = tetra("-c", "targets")
    assert r.returncode == 0, r.stderr
    for word in ("staging", "prod", "web-1", "db-1"):
        assert word in r.stdout
    r = tetra("resolve", "@stg")
    assert r.returncode == 0, r.stderr
    assert "staging" in r.stdout and "/srv/api" in r.stdout


def test_json_output_of_resolve_is_an_object(tetra, spec_topology):
    r = tetra("--json", "-c", "resolve @prod[db-1]")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert isinstance(data, dict)
    text = json.dumps(data)
    assert "10.0.0.21" in text and "2222" in text and "ops" in text


def test_no_color_and_debug_are_accepted(tetra):
    r = tetra("--no-color", "--debug", "-c", "echo ok")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "ok\n"


def test_traceback_only_with_debug(tetra, tetra_dir):
    install_plugin(tetra_dir, "boom", BOOM_PLUGIN)
    r = tetra("-c", "boom")
    assert r.returncode != 0
    assert no_traceback(r.stderr)
    assert len(error_lines(r.stderr)) == 1
    r = tetra("--debug", "-c", "boom")
    assert r.returncode != 0
    assert "Traceback" in r.stderr and "kaboom-internal" in r.stderr


# --------------------------------------------------------------------------
# 3. The language
# --------------------------------------------------------------------------

def test_comments_outside_quotes_only(tetra):
    r = tetra("-c", "echo a # comment; echo hidden\necho '# kept' \"#also\"")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "a\n# kept #also\n"


def test_strings_double_escapes_and_single_literal(tetra):
    r = tetra("-c", r"""echo "a b" 'x;y' "q\"q" "back\\slash" 'lit\n'""")
    assert r.returncode == 0, r.stderr
    assert r.stdout == 'a b x;y q"q back\\slash lit\\n\n'
    r = tetra("-c", r'echo "one\ntwo"')
    assert r.stdout == "one\ntwo\n"


def test_paths_and_dotted_names_are_words(tetra):
    r = tetra("-c", "echo build/api.tar.gz 1.2.3 http.server")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "build/api.tar.gz 1.2.3 http.server\n"


def test_variables_set_and_expand_in_words_and_double_quotes(tetra):
    r = tetra("-c", "set name=world; echo $name ${name} \"hi $name\" '$name'")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "world world hi world $name\n"


def test_vars_lists_what_set_set(tetra):
    r = tetra("-c", "set region=eu-west; vars")
    assert r.returncode == 0, r.stderr
    assert "region" in r.stdout and "eu-west" in r.stdout


def test_unknown_variable_is_an_error_not_empty(tetra):
    r = tetra("-c", "echo before; echo x${nosuchvar}y; echo after")
    assert r.returncode != 0
    assert r.stdout == "before\n"
    assert "nosuchvar" in r.stderr
    assert "xy" not in r.stdout
    assert no_traceback(r.stderr)


def test_dollar_question_is_last_status(tetra):
    r = tetra("-c", "echo ok; echo $?")
    assert r.stdout == "ok\n0\n"
    r = tetra("--keep-going", "-c", "@local sh -c 'exit 3'; echo status=$?")
    assert r.returncode == 1
    status = r.stdout.strip().split("=")[1]
    assert status != "0"


def test_echo_prints_one_line_after_expansion(tetra):
    r = tetra("-c", "set v=2.1.0; echo deploy \"build/api-v$v.tar.gz\"")
    assert r.stdout == "deploy build/api-v2.1.0.tar.gz\n"


def test_at_statement_is_exec_and_each_word_is_one_argument(tetra):
    r = tetra("-c", "@local printf '%s' '$(id)'")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "$(id)"
    r = tetra("-c", "@local printf '[%s]\\n' 'a b' \"it's\" '*' ';' '|'")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "[a b]\n[it's]\n[*]\n[;]\n[|]\n"
    r = tetra("-c", "exec @local -- printf '[%s]\\n' 'a b'")
    assert r.stdout == "[a b]\n"


def test_shell_features_only_when_asked(tetra):
    r = tetra("-c", "@local sh -c 'echo $((40 + 2)) | wc -c'")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3"


def test_double_dash_passes_everything_verbatim_with_variables(tetra):
    r = tetra("-c", "set x=1; exec @local -- printf '%s\\n' --name=web -f -n 20 -- $x '$x' PORT=3000 @prod")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["--name=web", "-f", "-n", "20", "--", "1", "$x",
                                     "PORT=3000", "@prod"]


def test_variables_expand_in_at_statements(tetra):
    r = tetra("-c", "set greeting='hello there'; @local printf '[%s]' $greeting")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "[hello there]"


def test_background_job_and_wait(tetra):
    r = tetra("-c", "@local sh -c 'sleep 0.3; echo from-bg' &\necho fg\nwait")
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert "fg" in out and "from-bg" in " ".join(out)
    assert r.stdout.index("fg") < r.stdout.index("from-bg")


def test_jobs_lists_running_background_jobs(tetra):
    r = tetra("-c", "@local sleep 0.8 &\njobs\nwait")
    assert r.returncode == 0, r.stderr
    assert "sleep" in r.stdout or "@local" in r.stdout


def test_failed_background_job_fails_the_script(tetra):
    r = tetra("-c", "@local sh -c 'exit 4' &\nwait")
    assert r.returncode == 1


def test_unknown_command_suggests_closest(tetra):
    r = tetra("-c", "deplyo @staging x.tar.gz")
    assert r.returncode in (1, 2)
    assert "unknown command 'deplyo' (did you mean 'deploy'?)" in r.stderr
    assert len(error_lines(r.stderr)) == 1 and no_traceback(r.stderr)


@pytest.mark.parametrize("statement, command", [
    ("exec @local --bogus -- true", "exec"),            # unknown flag
    ("put @local onlyone", "put"),                      # missing argument
    ("exec @local --timeout soon -- true", "exec"),     # wrong type
    ("get @local", "get"),                              # missing arguments
])
def test_usage_errors_are_one_line_naming_command_and_help(tetra, statement, command):
    r = tetra("-c", statement)
    assert r.returncode == 2
    assert len(error_lines(r.stderr)) == 1, r.stderr
    assert command in r.stderr and f"help {command}" in r.stderr
    assert no_traceback(r.stderr)


def test_flag_forms_equal_and_space_and_short(tetra, tetra_dir):
    install_plugin(tetra_dir, "hello", HELLO_PLUGIN)
    r1 = tetra("-c", "hello ann --times 2")
    r2 = tetra("-c", "hello ann --times=2")
    r3 = tetra("-c", "hello ann -n 2")
    for r in (r1, r2, r3):
        assert r.returncode == 0, r.stderr
        assert r.stdout == "hello ann\nhello ann\n"


# --------------------------------------------------------------------------
# 4. help and other built-ins (non-interactive parts)
# --------------------------------------------------------------------------

def test_help_lists_builtin_commands_grouped_by_plugin(tetra):
    r = tetra("-c", "help")
    assert r.returncode == 0, r.stderr
    for cmd in ("help", "exit", "echo", "set", "vars", "plugins", "targets", "resolve",
                "exec", "put", "get", "jobs", "wait", "deploy", "txn", "tsm"):
        assert re.search(rf"\b{cmd}\b", r.stdout), cmd
    for group in ("remote", "txn", "deploy", "tsm"):
        assert group in r.stdout


def test_help_cmd_shows_usage_flags_and_examples(tetra, tetra_dir):
    r = tetra("help", "exec")
    assert r.returncode == 0, r.stderr
    assert "--timeout" in r.stdout and "--parallel" in r.stdout
    install_plugin(tetra_dir, "hello", HELLO_PLUGIN)
    r = tetra("help", "hello")
    assert r.returncode == 0, r.stderr
    assert "Greet someone" in r.stdout
    assert "--times" in r.stdout and "-n" in r.stdout
    assert "hello world -n 2" in r.stdout


def test_help_of_unknown_command(tetra):
    r = tetra("help", "deplyo")
    assert r.returncode != 0
    assert "deplyo" in r.stderr and no_traceback(r.stderr)


def test_exit_and_quit_end_a_script(tetra):
    r = tetra("-c", "echo a; exit; echo b")
    assert r.returncode == 0 and r.stdout == "a\n"
    r = tetra("-c", "echo a; quit; echo b")
    assert r.returncode == 0 and r.stdout == "a\n"


# --------------------------------------------------------------------------
# 4. interactive shell in a pty
# --------------------------------------------------------------------------

def _spawn_shell(tetra_env):
    pexpect = pytest.importorskip("pexpect")
    child = pexpect.spawn(TETRA, [], env=tetra_env, encoding="utf-8", timeout=15,
                          dimensions=(40, 160))
    return pexpect, child


def test_interactive_shell_prompt_runs_commands_keeps_history_and_ctrl_d_exits(tetra_env,
                                                                                tetra_dir):
    pexpect, child = _spawn_shell(tetra_env)
    try:
        child.expect("tetra")
        child.send("echo interactive-ok\r")
        child.expect("interactive-ok")
        child.expect("tetra")
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
        history = tetra_dir / "history"
        assert history.exists() and "echo interactive-ok" in history.read_text()
    finally:
        if child.isalive():
            kill_tree(child.pid)


def test_interactive_ctrl_c_interrupts_the_command_and_returns_to_prompt(tetra_env):
    marker = "47.123"
    pexpect, child = _spawn_shell(tetra_env)
    try:
        child.expect("tetra")
        child.send(f"@local sleep {marker}\r")
        assert wait_for(lambda: processes_with(f"sleep {marker}")), "child never started"
        child.sendcontrol("c")
        assert wait_for(lambda: not processes_with(f"sleep {marker}"), timeout=10)
        child.send("echo still-here\r")
        child.expect("still-here")
        child.sendcontrol("d")
        child.expect(pexpect.EOF)
    finally:
        if child.isalive():
            kill_tree(child.pid)
        kill_all(processes_with(f"sleep {marker}"))


# --------------------------------------------------------------------------
# 5. Topology and the resolver
# --------------------------------------------------------------------------

def test_local_exists_without_any_topology(tetra):
    r = tetra("-c", "targets")
    assert r.returncode == 0, r.stderr
    assert "local" in r.stdout
    r = tetra("resolve", "@local")
    assert r.returncode == 0, r.stderr
    assert "local" in r.stdout
    r = tetra("-c", "@local echo hi")
    assert r.returncode == 0 and r.stdout == "hi\n"


def test_resolve_prints_the_eight_levels(tetra, spec_topology):
    r = tetra("resolve", "@prod:web")
    assert r.returncode == 0, r.stderr
    for level in ("symbol", "alias", "target", "hosts", "address", "identity", "trust",
                  "connector"):
        assert level in r.stdout, level
    assert "web-1" in r.stdout and "web-2" in r.stdout


def test_resolve_json_is_plain_serialisable_data(tetra, spec_topology):
    r = tetra("resolve", "@prod", "--json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert isinstance(data, dict)
    text = json.dumps(data)
    for name in ("web-1", "web-2", "db-1", "10.0.0.11"):
        assert name in text


def test_targets_lists_targets_roles_and_hosts(tetra, spec_topology):
    r = tetra("-c", "targets")
    assert r.returncode == 0, r.stderr
    for word in ("staging", "prod", "web", "db", "web-1", "web-2", "db-1", "stg-1", "local"):
        assert word in r.stdout, word


def test_settings_merge_defaults_then_target_then_host(tetra, spec_topology):
    r = tetra("--json", "-c", "resolve @prod[db-1]")
    text = json.dumps(json.loads(r.stdout))
    assert "ops" in text and "2222" in text and "/srv/app" in text
    r = tetra("--json", "-c", "resolve @prod[web-1]")
    text = json.dumps(json.loads(r.stdout))
    assert '"deploy"' in text and "10.0.0.11" in text
    r = tetra("--json", "-c", "resolve @staging")
    text = json.dumps(json.loads(r.stdout))
    assert "/srv/api" in text and "stg-1" in text


def test_alias_expands(tetra, spec_topology):
    r = tetra("resolve", "@stg")
    assert r.returncode == 0, r.stderr
    assert "staging" in r.stdout and "stg-1" in r.stdout


def test_alias_cycle_is_an_error(tetra, tetra_dir):
    (tetra_dir / "topology.toml").write_text(
        '[aliases]\na = "b"\nb = "a"\n\n[targets.t]\nhosts = ["x"]\n')
    r = tetra("resolve", "@a")
    assert r.returncode != 0
    assert "cycle" in r.stderr.lower()
    assert len(error_lines(r.stderr)) <= 2 and no_traceback(r.stderr)


@pytest.mark.parametrize("symbol, present, absent", [
    ("@prod[0]", "10.0.0.11", "10.0.0.12"),
    ("@prod[db-1]", "10.0.0.21", "10.0.0.11"),
    ("@prod:db", "10.0.0.21", "10.0.0.12"),
])
def test_role_and_selector_filter_the_hosts(tetra, spec_topology, symbol, present, absent):
    r = tetra("--json", "-c", f"resolve {symbol}")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    text = json.dumps(data)
    assert present in text
    # level 4 (address) is per selected host: an unselected host's address is not there
    assert absent not in text


def test_selector_with_several_hosts(tetra, spec_topology):
    r = tetra("--json", "-c", "resolve @prod[web-1,web-2]")
    assert r.returncode == 0, r.stderr
    text = json.dumps(json.loads(r.stdout))
    assert "10.0.0.11" in text and "10.0.0.12" in text and "10.0.0.21" not in text


@pytest.mark.parametrize("symbol", ["@prod:nosuchrole", "@prod[nosuchhost]", "@prod[7]"])
def test_empty_host_list_is_an_error(tetra, spec_topology, symbol):
    r = tetra("resolve", symbol)
    assert r.returncode != 0
    assert r.stderr.strip() and no_traceback(r.stderr)
    assert len(error_lines(r.stderr)) <= 2


def test_unknown_target_is_a_clear_one_line_error(tetra, spec_topology):
    r = tetra("-c", "@nowhere uptime")
    assert r.returncode == 1
    assert "nowhere" in r.stderr
    assert r.stderr.startswith("tetra: line 1: ")
    assert len(error_lines(r.stderr)) <= 2 and no_traceback(r.stderr)


def test_topology_may_define_its_own_local(tetra, tetra_dir):
    (tetra_dir / "topology.toml").write_text(
        '[targets.local]\nhosts = [{ name = "mine", host = "10.9.9.9" }]\n')
    r = tetra("--json", "-c", "resolve @local")
    assert r.returncode == 0, r.stderr
    text = json.dumps(json.loads(r.stdout))
    assert "10.9.9.9" in text and "ssh" in text


def test_ssh_config_host_resolves_as_a_single_host(tetra, tmp_path, tetra_env):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host jumpy\n  HostName 10.1.2.3\n  Port 2200\n  User alice\n")
    r = tetra("--ssh-config", str(cfg), "-c", "resolve @jumpy --json")
    assert r.returncode == 0, r.stderr
    text = json.dumps(json.loads(r.stdout))
    assert "10.1.2.3" in text and "2200" in text and "alice" in text
    # the same through $TETRA_SSH_CONFIG and through ~/.ssh/config
    r = tetra("--json", "-c", "resolve @jumpy", env={"TETRA_SSH_CONFIG": str(cfg)})
    assert r.returncode == 0 and "10.1.2.3" in r.stdout
    ssh_dir = Path(tetra_env["HOME"]) / ".ssh"
    ssh_dir.mkdir()
    (ssh_dir / "config").write_text(cfg.read_text())
    r = tetra("--json", "-c", "resolve @jumpy")
    assert r.returncode == 0 and "10.1.2.3" in r.stdout
    r = tetra("resolve", "@notinconfig")
    assert r.returncode != 0


def test_host_entry_merges_with_ssh_config(tetra, tmp_path, tetra_dir):
    cfg = tmp_path / "ssh_config"
    cfg.write_text("Host stg-1\n  HostName 10.4.4.4\n  Port 2022\n")
    (tetra_dir / "topology.toml").write_text(SPEC_TOPOLOGY)
    r = tetra("--ssh-config", str(cfg), "-c", "resolve @staging --json")
    assert r.returncode == 0, r.stderr
    text = json.dumps(json.loads(r.stdout))
    assert "10.4.4.4" in text and "2022" in text


@pytest.mark.parametrize("content, needle", [
    ('[targets.web\nhosts = ["a"]\n', "line 1"),                       # TOML syntax
    ('[defaults]\nhost_key_policy = "yolo"\n', "host_key_policy"),     # bad value
    ('[targets.web]\nhosts = "not-a-list"\n', "hosts"),                # wrong type
    ('[targets.web]\nhosts = ["a"]\nport = "abc"\n', "port"),          # wrong type
])
def test_unreadable_topology_names_file_line_or_key(tetra, tetra_dir, content, needle):
    path = tetra_dir / "topology.toml"
    path.write_text(content)
    r = tetra("-c", "resolve @web")
    assert r.returncode != 0
    assert "topology.toml" in r.stderr
    assert needle in r.stderr
    assert len(error_lines(r.stderr)) <= 2 and no_traceback(r.stderr)


def test_bad_topology_json_names_the_file_and_line(tetra, tetra_dir):
    (tetra_dir / "topology.json").write_text('{"targets": {\n  "web": {"hosts": [}\n}}')
    r = tetra("-c", "targets")
    assert r.returncode != 0
    assert "topology.json" in r.stderr and "2" in r.stderr
    assert no_traceback(r.stderr)


def test_auto_add_is_never_accepted_as_a_policy(tetra, tetra_dir):
    (tetra_dir / "topology.toml").write_text(
        '[defaults]\nhost_key_policy = "auto-add"\n[targets.w]\nhosts = ["a"]\n')
    r = tetra("resolve", "@w")
    assert r.returncode != 0 and "host_key_policy" in r.stderr


# --------------------------------------------------------------------------
# 5. exec / put / get on @local
# --------------------------------------------------------------------------

def test_exec_local_streams_stdout_and_stderr_and_reports_status(tetra):
    r = tetra("-c", "@local sh -c 'echo out; echo err >&2; exit 5'")
    assert r.returncode == 1
    assert r.stdout == "out\n"
    assert "err" in r.stderr
    assert "5" in r.stderr


def test_exec_timeout_ends_the_command(tetra):
    marker = "29.2718"
    t0 = time.monotonic()
    try:
        r = tetra("-c", f"exec @local --timeout 1 -- sleep {marker}", timeout=30)
        assert time.monotonic() - t0 < 10
        assert r.returncode == 1
        assert "timeout" in r.stderr.lower() or "timed out" in r.stderr.lower()
        assert no_traceback(r.stderr)
        assert wait_for(lambda: not processes_with(f"sleep {marker}"), timeout=5)
    finally:
        kill_all(processes_with(f"sleep {marker}"))


def test_put_and_get_on_local(tetra, tmp_path):
    src = tmp_path / "src.bin"
    payload = os.urandom(200_000)
    src.write_bytes(payload)
    dst = tmp_path / "remote" / "dst.bin"
    dst.parent.mkdir()
    r = tetra("-c", f"put @local {src} {dst}")
    assert r.returncode == 0, r.stderr
    assert dst.read_bytes() == payload
    back = tmp_path / "back.bin"
    r = tetra("-c", f"get @local {dst} {back}")
    assert r.returncode == 0, r.stderr
    assert back.read_bytes() == payload


def test_put_missing_local_file_is_a_clear_error(tetra, tmp_path):
    r = tetra("-c", f"put @local {tmp_path}/no-such-artifact.tar.gz {tmp_path}/x")
    assert r.returncode == 1
    assert "no-such-artifact.tar.gz" in r.stderr
    assert r.stderr.startswith("tetra: line 1: ")
    assert len(error_lines(r.stderr)) <= 2 and no_traceback(r.stderr)
    assert not (tmp_path / "x").exists()


def test_get_missing_remote_file_is_a_clear_error(tetra, tmp_path):
    r = tetra("-c", f"get @local {tmp_path}/absent.txt {tmp_path}/copy.txt")
    assert r.returncode == 1
    assert "absent.txt" in r.stderr
    assert len(error_lines(r.stderr)) <= 2 and no_traceback(r.stderr)
    assert not (tmp_path / "copy.txt").exists()


def test_file_names_with_spaces_and_metacharacters(tetra, tmp_path):
    src = tmp_path / "a b;$(touch pwned).txt"
    src.write_text("content")
    dst = tmp_path / "d e'f.txt"
    r = tetra("-c", f"put @local \"{src}\" \"{dst}\"".replace("$(", "\\$("))
    if r.returncode != 0:  # `\$` may not be an escape: use single quotes instead
        r = tetra("-c", f"put @local '{src}' \"{dst}\"")
    assert r.returncode == 0, r.stderr
    assert dst.read_text() == "content"
    assert not (tmp_path / "pwned").exists() and not Path("pwned").exists()


# --------------------------------------------------------------------------
# 9. Plugins
# --------------------------------------------------------------------------

def test_plugin_in_state_dir_registers_commands_help_and_validation(tetra, tetra_dir):
    install_plugin(tetra_dir, "hello", HELLO_PLUGIN)
    r = tetra("-c", "hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello world\n"
    r = tetra("-c", "hello bob -n 3")
    assert r.stdout == "hello bob\n" * 3
    r = tetra("-c", "hello bob --times lots")
    assert r.returncode == 2
    assert "hello" in r.stderr and "help hello" in r.stderr and len(error_lines(r.stderr)) == 1
    r = tetra("-c", "plugins")
    assert r.returncode == 0
    assert "hello" in r.stdout
    r = tetra("-c", "help")
    assert "hello" in r.stdout


def test_third_party_plugin_through_the_entry_point_group(tetra, tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "acme_tetra_plugin.py").write_text(HELLO_PLUGIN.replace('"hello"', '"acme"')
                                               .replace("hello {", "acme {"))
    dist = site / "acme_tetra_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-tetra-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[tetra_repl.plugins]\nacme = acme_tetra_plugin:plugin\n")
    (dist / "RECORD").write_text("")
    env = {"PYTHONPATH": str(site)}
    r = tetra("-c", "acme there -n 2", env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "acme there\nacme there\n"
    r = tetra("-c", "plugins", env=env)
    assert "acme" in r.stdout
    r = tetra("help", "acme", env=env)
    assert "--times" in r.stdout


def test_broken_plugin_warns_once_and_the_shell_still_works(tetra, tetra_dir):
    install_plugin(tetra_dir, "broken", "import no_such_module_xyz\n")
    install_plugin(tetra_dir, "hello", HELLO_PLUGIN)
    r = tetra("-c", "hello; help; plugins")
    assert r.returncode == 0, r.stderr
    assert "hello world" in r.stdout
    warnings = [ln for ln in r.stderr.splitlines() if "broken" in ln]
    assert len(warnings) == 1, r.stderr
    assert no_traceback(r.stderr)
    # `plugins` lists what loaded and what failed
    r = tetra("-c", "plugins")
    assert "broken" in r.stdout and "hello" in r.stdout


def test_plugins_lists_the_builtin_plugins(tetra):
    r = tetra("-c", "plugins")
    assert r.returncode == 0, r.stderr
    for name in ("remote", "txn", "deploy", "tsm"):
        assert name in r.stdout


# --------------------------------------------------------------------------
# 10. Bad input and faults (core)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("source", [
    '"', "'", "@", "@:", "@prod[", "${", "$", "echo ${unclosed", "--", "&", "@prod:",
    "ééé @@@", "echo a &; echo b &&",
])
def test_garbage_never_tracebacks(tetra, source):
    r = tetra("-c", source)
    assert no_traceback(r.stderr), r.stderr
    assert r.returncode in (0, 1, 2)


def test_nul_and_control_characters_in_a_script_never_traceback(tetra):
    r = tetra(input="echo a\x00b\necho \x1b[31m\x07\n")
    assert no_traceback(r.stderr), r.stderr
    assert r.returncode in (0, 1, 2)


def test_refused_connection_is_a_one_line_error(tetra, tetra_dir):
    port = free_port()
    (tetra_dir / "topology.toml").write_text(
        f'[defaults]\nconnect_retries = 1\n[targets.dead]\n'
        f'hosts = [{{ name = "d1", host = "127.0.0.1", port = {port} }}]\n')
    t0 = time.monotonic()
    r = tetra("-c", "@dead true", timeout=60)
    assert time.monotonic() - t0 < 30
    assert r.returncode == 1
    assert "refused" in r.stderr.lower()
    assert no_traceback(r.stderr)


# --------------------------------------------------------------------------
# 5. SSH against a real OpenSSH server on loopback
# --------------------------------------------------------------------------

def _ssh_topology(tetra_dir: Path, keys, known_hosts: Path, hosts: dict[str, list[str]],
                  **defaults) -> Path:
    import getpass

    d = {"user": getpass.getuser(), "identity_file": str(keys.private),
         "known_hosts": str(known_hosts), "connect_retries": 1, **defaults}
    out = ["[defaults]"] + [f"{k} = {json.dumps(v)}" for k, v in d.items()]
    for name, entries in hosts.items():
        out += ["", f"[targets.{name}]", "hosts = [", *[f"  {h}," for h in entries], "]"]
    path = tetra_dir / "topology.toml"
    path.write_text("\n".join(out) + "\n")
    return path


def _host(name: str, server, **extra) -> str:
    fields = {"name": name, "host": server.host, "port": server.port, **extra}
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in fields.items()) + " }"


@pytest.fixture
def ssh_world(tetra_dir, tmp_path, sshd, ssh_keys):
    known = tmp_path / "known_hosts"
    sshd.write_known_hosts(known)
    _ssh_topology(tetra_dir, ssh_keys, known, {
        "one": [_host("s1", sshd)],
        "prod": [_host("web-1", sshd, roles=["web"]), _host("web-2", sshd, roles=["web"]),
                 _host("db-1", sshd, roles=["db"])],
    })
    return known


@pytest.mark.ssh
def test_ssh_exec_runs_remotely_and_quotes_every_word(tetra, ssh_world, sshd, tmp_path):
    r = tetra("-c", "@one sh -c 'echo $SSH_CONNECTION'")
    assert r.returncode == 0, r.stderr
    assert str(sshd.port) in r.stdout
    pwned = tmp_path / "pwned"
    r = tetra("-c", f"@one printf '%s' '$(touch {pwned})'")
    assert r.returncode == 0, r.stderr
    assert r.stdout == f"$(touch {pwned})"
    assert not pwned.exists()
    r = tetra("-c", "@one printf '[%s]' 'a b' \"it's\"")
    assert r.stdout == "[a b][it's]"


@pytest.mark.ssh
def test_ssh_exec_status_and_stderr(tetra, ssh_world):
    r = tetra("-c", "exec @one -- sh -c 'echo o; echo e >&2; exit 7'")
    assert r.returncode == 1
    assert r.stdout == "o\n" and "e" in r.stderr and "7" in r.stderr


@pytest.mark.ssh
def test_ssh_fan_out_prefixes_hosts_and_filters_roles(tetra, ssh_world):
    r = tetra("-c", "@prod:web echo hi")
    assert r.returncode == 0, r.stderr
    out = r.stdout + r.stderr
    assert "web-1" in out and "web-2" in out and "db-1" not in out
    hi_lines = [ln for ln in r.stdout.splitlines() if ln.rstrip().endswith("hi")]
    assert len(hi_lines) == 2
    assert any("web-1" in ln for ln in hi_lines) and any("web-2" in ln for ln in hi_lines)
    r = tetra("-c", "@prod[db-1] echo only-db")
    assert r.returncode == 0, r.stderr
    assert "only-db" in r.stdout and "web-1" not in r.stdout
    r = tetra("-c", "exec @prod --parallel 1 -- echo p")
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("p\n") >= 3 or len([ln for ln in r.stdout.splitlines()
                                               if ln.endswith("p")]) == 3


@pytest.mark.ssh
def test_ssh_fan_out_non_zero_if_any_host_fails(tetra, ssh_world, tmp_path):
    lockdir = tmp_path / "only-one-wins"
    r = tetra("-c", f"@prod mkdir {lockdir}")
    assert r.returncode == 1  # mkdir succeeds on exactly one of three hosts
    out = r.stdout + r.stderr
    for host in ("web-1", "web-2", "db-1"):
        assert host in out
    assert no_traceback(r.stderr)


@pytest.mark.ssh
def test_ssh_fan_out_with_one_dead_host(tetra, tetra_dir, ssh_keys, sshd, tmp_path):
    known = tmp_path / "known_hosts"
    sshd.write_known_hosts(known)
    dead = free_port()
    _ssh_topology(tetra_dir, ssh_keys, known, {"mixed": [
        _host("alive", sshd),
        f'{{ name = "dead", host = "127.0.0.1", port = {dead} }}']})
    r = tetra("-c", "@mixed echo hello", timeout=60)
    assert r.returncode == 1
    assert any("alive" in ln and "hello" in ln for ln in r.stdout.splitlines())
    out = r.stdout + r.stderr  # the per-host summary may be on stdout
    assert "dead" in out and "refused" in out.lower()
    assert no_traceback(r.stderr)


@pytest.mark.ssh
def test_ssh_unknown_host_key_is_refused_with_how_to_trust(tetra, tetra_dir, ssh_keys, sshd,
                                                           tmp_path):
    known = tmp_path / "empty_known_hosts"
    known.touch()
    _ssh_topology(tetra_dir, ssh_keys, known, {"one": [_host("s1", sshd)]})
    r = tetra("-c", "@one echo should-not-run")
    assert r.returncode == 1
    assert "should-not-run" not in r.stdout
    err = r.stderr.lower()
    assert "host key" in err or "known_hosts" in err
    assert "accept-new" in err or "known_hosts" in err or "ssh-keyscan" in err
    assert no_traceback(r.stderr)
    assert known.read_text() == ""


@pytest.mark.ssh
def test_ssh_accept_new_trusts_once_and_records_the_key(tetra, tetra_dir, ssh_keys, sshd,
                                                        tmp_path):
    known = tmp_path / "kh"
    known.touch()
    _ssh_topology(tetra_dir, ssh_keys, known, {"one": [_host("s1", sshd)]},
                  host_key_policy="accept-new")
    r = tetra("-c", "@one echo trusted")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "trusted\n"
    assert str(sshd.port) in known.read_text()


@pytest.mark.ssh
def test_ssh_mismatched_host_key_is_refused_even_with_accept_new(tetra, tetra_dir, ssh_keys,
                                                                sshd, sshd_factory, tmp_path):
    other = sshd_factory()
    known = tmp_path / "kh"
    # known_hosts says `other`'s key belongs to `sshd`'s address
    known.write_text(other.host_key_line.replace(f"]:{other.port} ", f"]:{sshd.port} "))
    assert str(sshd.port) in known.read_text()
    _ssh_topology(tetra_dir, ssh_keys, known, {"one": [_host("s1", sshd)]},
                  host_key_policy="accept-new")
    r = tetra("-c", "@one echo should-not-run")
    assert r.returncode == 1
    assert "should-not-run" not in r.stdout
    assert "key" in r.stderr.lower()
    assert no_traceback(r.stderr)


@pytest.mark.ssh
def test_ssh_put_and_get_verify_content(tetra, ssh_world, tmp_path):
    src = tmp_path / "artifact.tar.gz"
    payload = os.urandom(1_000_000)
    src.write_bytes(payload)
    remote = tmp_path / "remote dir" / "a.bin"
    remote.parent.mkdir()
    r = tetra("-c", f"put @one {src} '{remote}'")
    assert r.returncode == 0, r.stderr
    assert remote.read_bytes() == payload
    back = tmp_path / "back.bin"
    r = tetra("-c", f"get @one '{remote}' {back}")
    assert r.returncode == 0, r.stderr
    assert back.read_bytes() == payload


@pytest.mark.ssh
def test_ssh_get_missing_remote_file_is_a_clear_error(tetra, ssh_world, tmp_path):
    r = tetra("-c", f"get @one {tmp_path}/not-there.txt {tmp_path}/local.txt")
    assert r.returncode == 1
    assert "not-there.txt" in r.stderr
    assert no_traceback(r.stderr)
    assert not (tmp_path / "local.txt").exists()


@pytest.mark.ssh
def test_ssh_timeout_ends_the_remote_command(tetra, ssh_world):
    marker = "53.1234"
    try:
        t0 = time.monotonic()
        r = tetra("-c", f"exec @one --timeout 1 -- sleep {marker}", timeout=40)
        assert time.monotonic() - t0 < 15
        assert r.returncode == 1
        assert no_traceback(r.stderr)
        assert wait_for(lambda: not processes_with(f"sleep {marker}"), timeout=10)
    finally:
        kill_all(processes_with(f"sleep {marker}"))


@pytest.mark.ssh
def test_ssh_ctrl_c_exits_130_and_ends_the_remote_command(tetra_env, ssh_world):
    marker = "61.2468"
    proc = subprocess.Popen([TETRA, "-c", f"@one sleep {marker}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=tetra_env,
                            start_new_session=True)
    try:
        assert wait_for(lambda: processes_with(f"sleep {marker}"), timeout=15)
        os.killpg(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=20)
        assert proc.returncode == 130
        assert no_traceback(err)
        assert wait_for(lambda: not processes_with(f"sleep {marker}"), timeout=10)
    finally:
        kill_tree(proc.pid)
        kill_all(processes_with(f"sleep {marker}"))


@pytest.mark.ssh
def test_ssh_config_host_not_in_topology_is_reachable(tetra, tmp_path, sshd, ssh_keys, tetra_env):
    import getpass

    known = Path(tetra_env["HOME"]) / ".ssh" / "known_hosts"
    sshd.write_known_hosts(known)
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"Host loopy\n  HostName 127.0.0.1\n  Port {sshd.port}\n"
                   f"  User {getpass.getuser()}\n  IdentityFile {ssh_keys.private}\n"
                   f"  UserKnownHostsFile {known}\n")
    r = tetra("--ssh-config", str(cfg), "-c", "@loopy echo via-config")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "via-config\n"


@pytest.mark.ssh
def test_ssh_resolve_connect_checks_live(tetra, ssh_world):
    r = tetra("resolve", "@one", "--connect")
    assert r.returncode == 0, r.stderr
    assert "ssh" in r.stdout


@pytest.mark.ssh
def test_ssh_authentication_failure_is_not_retried_and_says_so(tetra, tetra_dir, ssh_keys, sshd,
                                                              tmp_path):
    known = tmp_path / "kh"
    sshd.write_known_hosts(known)
    stranger = tmp_path / "stranger_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)],
                   check=True, capture_output=True)
    _ssh_topology(tetra_dir, ssh_keys, known, {"one": [_host("s1", sshd)]},
                  identity_file=str(stranger), connect_retries=3)
    t0 = time.monotonic()
    r = tetra("-c", "@one echo should-not-run")
    assert time.monotonic() - t0 < 20
    assert r.returncode == 1
    assert "should-not-run" not in r.stdout
    assert "auth" in r.stderr.lower()
    assert len(error_lines(r.stderr)) == 1 and no_traceback(r.stderr)


@pytest.mark.ssh
def test_ssh_statements_share_one_pooled_connection(tetra, ssh_world):
    r = tetra("-c", "@one sh -c 'echo $PPID'; @one sh -c 'echo $PPID'")
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.split()
    assert first == second  # the same sshd session process: one connection, two channels


@pytest.mark.ssh
def test_ssh_parallel_bounds_how_many_hosts_run_at_once(tetra, ssh_world):
    statement = "exec @prod --parallel 1 -- sleep 0.4"
    t0 = time.monotonic()
    r = tetra("-c", statement)
    serial = time.monotonic() - t0
    assert r.returncode == 0, r.stderr
    assert serial >= 1.2  # three hosts, one at a time
    t0 = time.monotonic()
    r = tetra("-c", "exec @prod -- sleep 0.4")
    assert r.returncode == 0, r.stderr
    assert time.monotonic() - t0 < serial


@pytest.mark.ssh
@pytest.mark.parametrize("target", ["@one", "@local"])
def test_single_host_output_is_byte_for_byte(tetra_env, ssh_world, target):
    # bytes, not text: text mode would turn '\r\n' into '\n' on our side
    r = subprocess.run([TETRA, "-c", f"{target} printf 'a\\r\\nb'"], capture_output=True,
                       env=tetra_env, timeout=60, check=False)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"a\r\nb"


def test_unclosed_brace_variable_points_where_the_brace_belongs(tetra):
    r = tetra("-c", "echo ${name")
    assert r.returncode == 2
    err = r.stderr.splitlines()
    assert err[0].startswith("tetra: parse error at 1:12: ") and "'}'" in err[0]
    assert err[2].index("^") == len(err[1])  # just past 'echo ${name'


def test_a_changed_topology_file_takes_effect_for_later_statements(tetra, tetra_dir):
    topo = tetra_dir / "topology.toml"
    topo.write_text('[targets.first]\nhosts = ["a"]\n')
    new = tetra_dir.parent / "new-topology.toml"
    new.write_text('[targets.second]\nhosts = ["b"]\n')
    script = tetra_dir.parent / "change.tetra"
    script.write_text(f"resolve @first\n@local cp {new} {topo}\nresolve @second\n")
    r = tetra(str(script))
    assert r.returncode == 0, r.stderr
    assert "second" in topo.read_text()
    assert "@second" in r.stdout


def test_interactive_ctrl_d_with_a_job_running_asks_then_cancels(tetra_env):
    marker = "43.21"
    pexpect, child = _spawn_shell(tetra_env)
    try:
        child.expect("tetra")
        child.send(f"@local sleep {marker} &\r")
        assert wait_for(lambda: processes_with(f"sleep {marker}")), "job never started"
        child.sendcontrol("d")
        time.sleep(0.5)
        assert child.isalive()  # asked, did not exit
        assert processes_with(f"sleep {marker}")
        child.sendcontrol("d")
        child.expect(pexpect.EOF, timeout=15)
        assert wait_for(lambda: not processes_with(f"sleep {marker}"), timeout=10)
    finally:
        if child.isalive():
            kill_tree(child.pid)
        kill_all(processes_with(f"sleep {marker}"))


def test_put_and_get_report_which_way_the_file_went(tetra, tmp_path):
    src = tmp_path / "here.txt"
    src.write_text("x")
    r = tetra("-c", f"put @local {src} {tmp_path}/there.txt")
    assert r.returncode == 0, r.stderr
    assert f"{src} -> {tmp_path}/there.txt" in r.stdout
    r = tetra("-c", f"get @local {tmp_path}/there.txt {tmp_path}/back.txt")
    assert r.returncode == 0, r.stderr
    assert f"{tmp_path}/there.txt -> {tmp_path}/back.txt" in r.stdout


def test_put_into_an_unwritable_place_names_the_destination(tetra, tmp_path):
    src = tmp_path / "here.txt"
    src.write_text("x")
    r = tetra("-c", f"put @local {src} /proc/tetra-no-such-thing")
    assert r.returncode == 1
    assert "/proc/tetra-no-such-thing" in r.stderr and ".part" not in r.stderr
    assert r.stderr.startswith("tetra: line 1: put: ")
    assert no_traceback(r.stderr)


@pytest.mark.ssh
def test_ssh_put_into_an_unwritable_place_is_one_clear_line(tetra, ssh_world, tmp_path):
    src = tmp_path / "here.txt"
    src.write_text("x")
    r = tetra("-c", f"put @one {src} /proc/tetra-no-such-thing")
    assert r.returncode == 1
    assert "/proc/tetra-no-such-thing" in r.stderr
    assert "[Errno" not in r.stderr and no_traceback(r.stderr)
    assert len(error_lines(r.stderr)) == 1

"""Plugins that clash or are malformed: one warning each, the earlier owner keeps its
commands, and the shell runs on (SPEC 9, 10)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from tetra_testing import install_plugin


def command_plugin(plugin_name: str, command: str, says: str, extra: str = "") -> str:
    """A DIR/plugins file: ``Plugin(plugin_name)`` whose ``command`` prints ``says``."""
    return ("from tetra_repl.plugin import Option, Param, Plugin\n"
            f"plugin = Plugin({plugin_name!r})\n"
            f"{extra}"
            f"@plugin.command({command!r}, params=[Param('words', rest=True, greedy=True,"
            " required=False)])\n"
            "def run(ctx, args):\n"
            f"    ctx.out({says!r})\n")


def warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("tetra: warning:")]


def failed_line(r: subprocess.CompletedProcess, name: str) -> str:
    return next(line for line in r.stdout.splitlines() if line.startswith(f"  FAILED  {name} "))


# -- clashes: identity is the plugin's source, not its declared name ------------------------


def test_two_files_declaring_the_same_command_the_first_keeps_it(tetra, tetra_dir):
    first = install_plugin(tetra_dir, "a_hello", command_plugin("hello", "hello", "first"))
    second = install_plugin(tetra_dir, "b_hello", command_plugin("hello", "hello", "second"))
    r = tetra("-c", "hello")
    assert (r.returncode, r.stdout) == (0, "first\n"), r.stderr
    reason = f"ValueError: command 'hello' is already defined by plugin 'hello' ({first})"
    assert warnings(r.stderr) == [
        f"tetra: warning: plugin 'b_hello' failed to load ({second}): {reason}"]
    r = tetra("-c", "plugins")
    assert r.returncode == 0
    assert f"  loaded  hello      hello   ({first})" in r.stdout.splitlines()
    assert failed_line(r, "b_hello") == f"  FAILED  b_hello    {reason}   ({second})"


@pytest.mark.parametrize("plugin_name, command, reason, check, expected", [
    ("core", "echo",
     "command 'echo' is already defined by plugin 'core'",
     "echo safe", "safe\n"),
    ("tsm", "tsm ls",
     "command 'tsm ls' is already defined by plugin 'tsm' (entry point tetra_plugins.tsm:plugin)",
     "help tsm ls", "usage: tsm ls"),
    ("x", "tsm",
     "command 'tsm' would hide the command group 'tsm' of plugin 'tsm' "
     "(entry point tetra_plugins.tsm:plugin)",
     "help tsm", "tsm: service manager"),
    ("y", "echo sub",
     "command 'echo sub': 'echo' is already a command of plugin 'core'",
     "echo sub x", "sub x\n"),
    ("z", "txn frob",
     "command 'txn frob': the command group 'txn' belongs to plugin 'txn' "
     "(entry point tetra_plugins.txn:plugin)",
     "help txn", "txn: transactions"),
])
def test_a_file_cannot_take_over_a_builtin_command_or_group(tetra, tetra_dir, plugin_name,
                                                            command, reason, check, expected):
    path = install_plugin(tetra_dir, "intruder", command_plugin(plugin_name, command, "hijacked"))
    r = tetra("-c", check)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(expected) and "hijacked" not in r.stdout
    assert warnings(r.stderr) == [
        f"tetra: warning: plugin 'intruder' failed to load ({path}): ValueError: {reason}"]
    r = tetra("-c", "plugins")
    assert failed_line(r, "intruder") == f"  FAILED  intruder   ValueError: {reason}   ({path})"
    assert "  loaded  core       echo, exit, help, jobs, plugins, set, vars, wait   (core)" \
        in r.stdout.splitlines()


def test_txn_frob_is_not_added_to_the_builtin_group(tetra, tetra_dir):
    install_plugin(tetra_dir, "frob", command_plugin("frob", "txn frob", "frobbed"))
    r = tetra("-c", "txn frob")
    assert r.returncode == 2 and r.stdout == ""
    assert "tetra: line 1: txn: unknown subcommand 'frob'" in r.stderr.splitlines()


def test_a_group_belongs_to_the_plugin_that_declared_it_first(tetra, tetra_dir):
    owner = install_plugin(tetra_dir, "a_kv", command_plugin(
        "kv", "kv get", "got", extra="plugin.group('kv', 'a key-value store')\n"))
    other = install_plugin(tetra_dir, "b_more", command_plugin("more", "kv put", "put"))
    own_top = install_plugin(tetra_dir, "c_own", command_plugin("own", "kvput", "own put"))
    r = tetra("-c", "kv get; kvput; kv put")
    assert r.returncode == 2
    assert r.stdout == "got\nown put\n"
    assert warnings(r.stderr) == [
        f"tetra: warning: plugin 'b_more' failed to load ({other}): ValueError: command "
        f"'kv put': the command group 'kv' belongs to plugin 'kv' ({owner})"]
    assert r.stderr.splitlines()[1:] == ["tetra: line 1: kv: unknown subcommand 'put'",
                                         "  hint: see 'help kv'"]
    r = tetra("-c", "plugins")
    assert f"  loaded  own        kvput   ({own_top})" in r.stdout.splitlines()


def test_a_second_plugin_of_the_same_name_is_refused_even_without_a_clashing_command(
        tetra, tetra_dir):
    path = install_plugin(tetra_dir, "corelike", command_plugin("core", "frob", "frobbed"))
    r = tetra("-c", "frob")
    assert r.returncode == 2
    assert warnings(r.stderr) == [
        f"tetra: warning: plugin 'corelike' failed to load ({path}): "
        "ValueError: the plugin name 'core' is taken by plugin 'core'"]


# -- malformed specs -------------------------------------------------------------------------

BAD_SPECS = [
    ("@plugin.command('')",
     "ValueError: bad command name '': one or two words of lower-case letters, digits, "
     "'-' and '_' (like 'hello' or 'tsm start')"),
    ("@plugin.command('three word cmd')",
     "ValueError: bad command name 'three word cmd': one or two words of lower-case letters, "
     "digits, '-' and '_' (like 'hello' or 'tsm start')"),
    ("@plugin.command('Hello')",
     "ValueError: bad command name 'Hello': one or two words of lower-case letters, digits, "
     "'-' and '_' (like 'hello' or 'tsm start')"),
    ("@plugin.command('ok', aliases=['ok-2', 'o k 2'])",
     "ValueError: bad command name 'o k 2': one or two words of lower-case letters, digits, "
     "'-' and '_' (like 'hello' or 'tsm start')"),
    ("@plugin.command('ok', params=[Param('n')], options=[Option('--n')])",
     "ValueError: ok: flag --n and parameter n both set args.n"),
    ("@plugin.command('ok', params=[Param('n'), Param('n')])",
     "ValueError: ok: parameter n and parameter n both set args.n"),
    ("@plugin.command('ok', options=[Option('--dry-run', type='bool'), Option('--dry_run')])",
     "ValueError: ok: flag --dry_run and flag --dry-run both set args.dry_run"),
    ("@plugin.command('ok', params=[Param('given')])",
     "ValueError: ok: parameter given cannot be called 'given'"),
    ("@plugin.command('ok', params=[Param('rest', rest=True), Param('last')])",
     "ValueError: ok: only the last parameter may be rest=True"),
    ("@plugin.command('ok', params=[Param('words', greedy=True)])",
     "ValueError: param words: greedy=True needs rest=True"),
    ("@plugin.command('ok', params=[Param('my-file')])",
     "ValueError: bad param name 'my-file': it must be a Python identifier "
     "(the handler reads args.NAME)"),
    ("@plugin.command('ok', options=[Option('--')])",
     "ValueError: bad option names ('--',): each like '-n' or '--lines'"),
    ("@plugin.command('ok', options=[Option('--name')], trailing=['--port'])",
     "ValueError: ok: trailing flag --port is not one of its options"),
]


@pytest.mark.parametrize("decorator, reason", BAD_SPECS)
def test_a_bad_spec_fails_its_plugin_with_one_warning(tetra, tetra_dir, decorator, reason):
    path = install_plugin(tetra_dir, "bad",
        "from tetra_repl.plugin import Option, Param, Plugin\n"
        "plugin = Plugin('bad')\n"
        f"{decorator}\n"
        "def run(ctx, args):\n"
        "    ctx.out('ran')\n")
    r = tetra("-c", "echo hi")
    assert (r.returncode, r.stdout) == (0, "hi\n")
    assert r.stderr == f"tetra: warning: plugin 'bad' failed to load ({path}): {reason}\n"
    r = tetra("-c", "plugins")
    assert r.returncode == 0, r.stderr
    assert failed_line(r, "bad") == f"  FAILED  bad        {reason}   ({path})"
    r = tetra("-c", "nosuch")
    assert r.returncode == 2
    assert r.stderr.splitlines()[1:] == ["tetra: line 1: unknown command 'nosuch'",
                                         "  hint: type 'help' to list commands"]


def test_a_plugin_declaring_one_command_twice_fails(tetra, tetra_dir):
    path = install_plugin(tetra_dir, "twice",
        "from tetra_repl.plugin import Plugin\n"
        "plugin = Plugin('twice')\n"
        "@plugin.command('twice')\n"
        "def one(ctx, args):\n"
        "    ctx.out('one')\n"
        "@plugin.command('again', aliases=['twice'])\n"
        "def two(ctx, args):\n"
        "    ctx.out('two')\n")
    r = tetra("-c", "twice")
    assert r.returncode == 2
    assert warnings(r.stderr) == [f"tetra: warning: plugin 'twice' failed to load ({path}): "
                                  "ValueError: command 'twice' is declared twice"]


# -- what a plugin may raise at import ------------------------------------------------------


def test_a_multi_line_exception_makes_a_one_line_warning(tetra, tetra_dir):
    path = install_plugin(tetra_dir, "chatty",
                          "raise RuntimeError('cannot start\\n\\n  hint: pip install frob\\n')\n")
    r = tetra("-c", "echo hi")
    assert (r.returncode, r.stdout) == (0, "hi\n")
    reason = "RuntimeError: cannot start hint: pip install frob"
    assert r.stderr == f"tetra: warning: plugin 'chatty' failed to load ({path}): {reason}\n"
    r = tetra("-c", "plugins")
    assert failed_line(r, "chatty") == f"  FAILED  chatty     {reason}   ({path})"


@pytest.mark.parametrize("raise_it, reason", [
    ("raise KeyboardInterrupt", "KeyboardInterrupt"),
    ("raise SystemExit(3)", "SystemExit: 3"),
])
def test_keyboard_interrupt_or_system_exit_at_import_is_only_a_failed_plugin(
        tetra, tetra_dir, raise_it, reason):
    path = install_plugin(tetra_dir, "rude", raise_it + "\n")
    r = tetra("-c", "echo before; plugins; echo after")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "before" and lines[-1] == "after"
    assert f"  FAILED  rude       {reason}   ({path})" in lines
    assert r.stderr == f"tetra: warning: plugin 'rude' failed to load ({path}): {reason}\n"


# -- DIR/plugins load at start, in every mode ------------------------------------------------


def test_a_broken_local_plugin_warns_once_in_every_mode(tetra, tetra_dir, tmp_path):
    path = install_plugin(tetra_dir, "broken", "import no_such_module_xyz\n")
    line = (f"tetra: warning: plugin 'broken' failed to load ({path}): "
            "ModuleNotFoundError: No module named 'no_such_module_xyz'\n")
    script = tmp_path / "s.tetra"
    script.write_text("echo hi\necho again\n")
    for argv, stdin, out in [(("-c", "echo hi"), None, "hi\n"),
                             (("-c", "echo hi; help; plugins; nosuch"), None, None),
                             ((str(script),), None, "hi\nagain\n"),
                             ((), "echo hi\n", "hi\n"),
                             (("echo", "hi"), None, "hi\n")]:
        r = tetra(*argv, input=stdin)
        if out is not None:
            assert (r.returncode, r.stdout, r.stderr) == (0, out, line), argv
        else:
            assert r.stderr.count("failed to load") == 1 and r.stderr.startswith(line), r.stderr


def test_no_plugin_is_imported_for_echo_when_dir_plugins_has_no_python_file(tetra_env, tetra_dir):
    (tetra_dir / "plugins").mkdir()
    (tetra_dir / "plugins" / "notes.txt").write_text("not a plugin\n")
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "tetra_repl", "-c", "echo hi"],
                          capture_output=True, text=True, env=tetra_env, timeout=60)
    assert done.returncode == 0 and done.stdout == "hi\n"
    imported = [line.split("|")[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")]
    assert imported and not [m for m in imported if m.startswith("tetra_plugins")]


def test_with_a_local_plugin_the_builtin_ones_load_first_and_keep_their_commands(tetra, tetra_dir):
    install_plugin(tetra_dir, "aaa", command_plugin("aaa", "deploy", "not a deploy"))
    r = tetra("-c", "echo hi")  # loads everything at start: entry points before files
    assert r.stdout == "hi\n"
    assert warnings(r.stderr)[0].endswith(
        "ValueError: command 'deploy' is already defined by plugin 'deploy' "
        "(entry point tetra_plugins.deploy:plugin)")
    r = tetra("-c", "help deploy")
    assert r.stdout.startswith("usage: deploy ")


# -- help: defaults of 0, choices of parameters -----------------------------------------------


def test_help_shows_zero_defaults_and_parameter_choices(tetra, tetra_dir):
    install_plugin(tetra_dir, "knobs",
        "from tetra_repl.plugin import Option, Param, Plugin\n"
        "plugin = Plugin('knobs')\n"
        "@plugin.command('knobs', help='Turn knobs',\n"
        "                params=[Param('mode', choices=['fast', 'slow'], help='how fast')],\n"
        "                options=[Option('--retries', type='int', default=0, help='tries'),\n"
        "                         Option('--delay', type='float', default=0.0, help='wait'),\n"
        "                         Option('--level', choices=['a', 'b'], default='a'),\n"
        "                         Option('--force', type='bool', help='no questions')])\n"
        "def run(ctx, args):\n"
        "    ctx.out(f'{args.mode} {args.retries}')\n")
    r = tetra("-c", "help knobs")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        "usage: knobs [--retries RETRIES] [--delay DELAY] [--level LEVEL] [--force] MODE",
        "",
        "Turn knobs",
        "",
        "arguments:",
        "  MODE                 how fast [fast|slow]",
        "",
        "flags:",
        "  --retries RETRIES        tries (default: 0)",
        "  --delay DELAY            wait (default: 0.0)",
        "  --level LEVEL             [a|b] (default: a)",
        "  --force                  no questions",
    ]
    r = tetra("-c", "knobs slow")
    assert (r.returncode, r.stdout) == (0, "slow 0\n")

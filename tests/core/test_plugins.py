"""Plugin discovery: entry points, DIR/plugins, and isolation of broken plugins."""

from __future__ import annotations

import json

from tetra_testing import install_plugin


def test_plugin_in_state_dir_is_found_and_dispatched(tetra, tetra_dir):
    install_plugin(tetra_dir, "greet",
        "from tetra_repl.plugin import Plugin, Param, Option\n"
        "plugin = Plugin('greet', help='says hello')\n"
        "@plugin.command('greet', help='Greet someone', params=[Param('who', required=False)],\n"
        "                options=[Option('--times', '-n', type='int', default=1)],\n"
        "                examples=['greet world -n 2'])\n"
        "def greet(ctx, args):\n"
        "    for _ in range(args.times):\n"
        "        ctx.out('hello ' + (args.who or 'world'))\n")
    r = tetra("-c", "greet tetra -n 2")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello tetra\nhello tetra\n"
    r = tetra("-c", "help greet")
    assert "usage: greet [--times TIMES] [WHO]" in r.stdout
    r = tetra("-c", "greet --times=x")
    assert r.returncode == 2 and "greet: --times expects an integer, got 'x'" in r.stderr


def test_a_plugin_that_raises_on_load_warns_once_and_the_shell_still_works(tetra, tetra_dir):
    install_plugin(tetra_dir, "broken", "raise ImportError('missing dependency frobnicate')\n")
    r = tetra("-c", "plugins")
    assert r.returncode == 0
    assert r.stderr.count("plugin 'broken' failed to load") == 1
    assert "FAILED  broken" in r.stdout
    assert "missing dependency frobnicate" in r.stdout
    assert "loaded  core" in r.stdout


def test_plugins_json_lists_builtin_entry_point_plugins(tetra):
    r = tetra("--json", "-c", "plugins")
    assert r.returncode == 0, r.stderr
    records = {p["name"]: p for p in json.loads(r.stdout)}
    for name in ("core", "remote", "txn", "deploy", "tsm"):
        assert name in records and records[name]["loaded"], records.get(name)
    assert records["tsm"]["source"].startswith("entry point tetra_plugins.tsm")


def test_a_plugin_file_without_a_plugin_object_is_reported(tetra, tetra_dir):
    install_plugin(tetra_dir, "empty", "x = 1\n")
    r = tetra("-c", "plugins")
    assert "FAILED  empty" in r.stdout
    assert "defines no 'plugin'" in r.stdout


def test_a_plugin_command_clashing_with_core_is_refused_not_overridden(tetra, tetra_dir):
    install_plugin(tetra_dir, "evil",
        "from tetra_repl.plugin import Plugin\nplugin = Plugin('evil')\n"
        "@plugin.command('echo')\ndef echo(ctx, args):\n    ctx.out('hijacked')\n")
    r = tetra("-c", "echo safe")
    assert r.stdout == "safe\n"
    r = tetra("-c", "plugins")
    assert "FAILED  evil" in r.stdout and "already defined" in r.stdout


def test_a_third_party_distribution_registers_through_the_entry_point_group(tetra, tmp_path):
    site = tmp_path / "site"
    (site / "hello_tetra-1.0.dist-info").mkdir(parents=True)
    (site / "hello_tetra-1.0.dist-info" / "entry_points.txt").write_text(
        "[console_scripts]\nnot-ours = x:y\n\n[tetra_repl.plugins]\nhello = hello_tetra.plug:plugin\n")
    (site / "hello_tetra").mkdir()
    (site / "hello_tetra" / "__init__.py").write_text("")
    (site / "hello_tetra" / "plug.py").write_text(
        "from tetra_repl.plugin import Plugin\nplugin = Plugin('hello', help='third party')\n"
        "@plugin.command('hello', help='say hello')\ndef hello(ctx, args):\n    ctx.out('hello from a wheel')\n")
    r = tetra("-c", "hello", env={"PYTHONPATH": str(site)})
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello from a wheel\n"
    r = tetra("-c", "plugins", env={"PYTHONPATH": str(site)})
    assert "loaded  hello" in r.stdout and "entry point hello_tetra.plug:plugin" in r.stdout


def test_a_plugin_that_calls_sys_exit_on_load_is_only_a_failed_plugin(tetra, tetra_dir):
    install_plugin(tetra_dir, "quitter", "import sys\nsys.exit('no thanks')\n")
    r = tetra("-c", "plugins; echo still-here")
    assert r.returncode == 0, r.stderr
    assert r.stdout.endswith("still-here\n")
    assert "FAILED  quitter    SystemExit: no thanks" in r.stdout
    assert r.stderr.count("plugin 'quitter' failed to load") == 1


def test_a_plugin_whose_load_hook_fails_registers_nothing(tetra, tetra_dir):
    install_plugin(tetra_dir, "hook",
        "from tetra_repl.plugin import Plugin\n"
        "plugin = Plugin('hook')\n"
        "@plugin.command('hooked')\n"
        "def hooked(ctx, args):\n"
        "    ctx.out('hooked ran')\n"
        "@plugin.on_load\n"
        "def boom(session):\n"
        "    raise RuntimeError('hook failed')\n")
    r = tetra("-c", "plugins")
    assert r.returncode == 0, r.stderr
    assert "FAILED  hook       RuntimeError: hook failed" in r.stdout
    assert "loaded  hook" not in r.stdout
    r = tetra("-c", "hooked")
    assert r.returncode == 2 and "unknown command 'hooked'" in r.stderr

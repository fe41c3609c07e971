"""`tetra -c` stays light: the interactive and remote stacks load only when used."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("prompt_toolkit", "paramiko", "psutil", "pygments")


def test_echo_does_not_import_the_interactive_or_remote_stacks(tetra_env):
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "tetra_repl", "-c", "echo hi"],
                          capture_output=True, text=True, env=tetra_env, timeout=60)
    assert done.returncode == 0 and done.stdout == "hi\n"
    imported = {line.split("|")[-1].strip().split(".")[0]
                for line in done.stderr.splitlines() if line.startswith("import time:")}
    assert imported and not imported & set(HEAVY), sorted(imported & set(HEAVY))


def test_ssh_loads_paramiko_without_invoke_and_ssh_config_match_exec_still_works(tetra_env):
    """paramiko.config imports invoke (~50 ms) for ``Match exec`` only: it is
    deferred until an ssh_config actually uses it."""
    script = (
        "import sys\n"
        "import tetra_repl.connectors\n"
        "import paramiko\n"
        "print('invoke.tasks' in sys.modules)\n"
        "from paramiko.config import SSHConfig\n"
        "c = SSHConfig.from_text('Match exec \"true\"\\n  User bob\\n')\n"
        "print(c.lookup('x')['user'], 'invoke.tasks' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env=tetra_env, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "bob", "True"]


def _imports(env, *argv) -> tuple[subprocess.CompletedProcess, set]:
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "tetra_repl", *argv],
                          capture_output=True, text=True, env=env, timeout=60)
    return done, {line.split("|")[-1].strip().split(".")[0]
                  for line in done.stderr.splitlines() if line.startswith("import time:")}


def test_with_the_grammar_table_cached_a_statement_is_parsed_without_importing_lark(
        tetra_env, tmp_path):
    env = {**tetra_env, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    table = tmp_path / "cache" / "tetra" / "grammar.table.json"
    first, imported = _imports(env, "-c", "echo one")
    assert first.stdout == "one\n" and "lark" in imported and table.is_file()
    second, imported = _imports(env, "-c", 'set v="a b"; echo $v')
    assert second.stdout == "a b\n" and "lark" not in imported
    # a syntax error is described by lark itself, cache or not
    bad, imported = _imports(env, "-c", "echo a; & echo b")
    assert bad.returncode == 2 and "lark" in imported
    assert "parse error at 1:9: '&' must end a statement" in bad.stderr, bad.stderr


def test_a_damaged_or_stale_grammar_table_is_ignored_and_written_again(tetra_env, tmp_path):
    import json

    env = {**tetra_env, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    table = tmp_path / "cache" / "tetra" / "grammar.table.json"
    table.parent.mkdir(parents=True)
    for content in ("{not json", json.dumps({"key": "0" * 64, "states": {}, "rules": []})):
        table.write_text(content)
        done, imported = _imports(env, "-c", "echo fine")
        assert done.returncode == 0 and done.stdout == "fine\n", done.stderr
        assert "lark" in imported  # rebuilt from the grammar
        assert json.loads(table.read_text())["key"] != "0" * 64

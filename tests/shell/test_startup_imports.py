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

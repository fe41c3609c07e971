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

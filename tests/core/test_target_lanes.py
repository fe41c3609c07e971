"""SPEC 6.5 through the real `tetra`: statements on one @target keep their
order whether they run in the background or not; Ctrl-C still interrupts a
foreground one (rolled back, exit 130), also while it waits for its turn."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

from deploy_helpers import artifact
from deploy_helpers import current as current_release
from tetra_testing import TETRA


def deploy_path(tetra_dir: Path) -> Path:
    return tetra_dir / "deploy" / "hosts" / "local"


def current(tetra_dir: Path) -> str | None:
    return current_release(deploy_path(tetra_dir))


def served(tetra_dir: Path) -> str | None:
    page = deploy_path(tetra_dir) / "current" / "index.html"
    return page.read_text() if page.exists() else None


def deploys(tetra_dir: Path) -> list[dict]:
    """Every deploy transaction's state, oldest first."""
    found = [json.loads(p.read_text()) for p in (tetra_dir / "deploy" / "txns").glob("*/state.json")
             if not p.parent.is_symlink()]  # not the `active` link
    return sorted(found, key=lambda s: s["created_at"])


def wait_until(cond, proc, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not cond():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "never happened"
        time.sleep(0.05)


def test_a_foreground_deploy_runs_after_a_background_one_on_the_same_target(tetra, tetra_dir,
                                                                           tmp_path):
    one, two = artifact(tmp_path / "1.tar.gz", "v1"), artifact(tmp_path / "2.tar.gz", "v2")
    script = tmp_path / "two.tetra"
    script.write_text(f"deploy @local {one} --check 'sleep 1' &\ndeploy @local {two}\n")
    r = tetra(str(script))
    assert r.returncode == 0, r.stderr
    assert "locked" not in r.stderr
    assert "@local is busy with earlier work; waiting for its turn" in r.stderr
    first, second = deploys(tetra_dir)
    assert first["stage"] == second["stage"] == "DONE"
    out = r.stdout.splitlines()
    finished_first = next(i for i, line in enumerate(out) if line.startswith(f"deployed {first['id']}"))
    planned_second = next(i for i, line in enumerate(out) if line.startswith(f"plan {second['id']}"))
    assert finished_first < planned_second  # the foreground one started after the other ended
    assert current(tetra_dir) == second["id"] and served(tetra_dir) == "v2"


def test_foreground_exec_waits_for_background_exec_on_the_same_target(tetra):
    r = tetra("-c", "@local sh -c 'sleep 1; echo first' &\n@local echo second\necho after")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "first\nsecond\nafter\n"


def test_other_targets_do_not_wait(tetra, tetra_dir):
    (tetra_dir / "topology.toml").write_text(
        '[targets.slow]\nconnector = "local"\nhosts = ["s"]\n'
        '[targets.fast]\nconnector = "local"\nhosts = ["f"]\n')
    r = tetra("-c", "@slow sh -c 'sleep 2; echo slow' &\n@fast echo fast\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "fast\nslow\n"
    assert "waiting for its turn" not in r.stderr


def test_ctrl_c_of_a_queued_foreground_deploy_rolls_it_back_and_exits_130(tetra_env, tetra_dir,
                                                                         tmp_path):
    one, two = artifact(tmp_path / "1.tar.gz", "v1"), artifact(tmp_path / "2.tar.gz", "v2")
    script = tmp_path / "two.tetra"
    script.write_text(f"deploy @local {one} --check 'sleep 1' &\n"
                      f"deploy @local {two} --check 'sleep 60'\necho never\n")
    proc = subprocess.Popen([TETRA, str(script)], env=tetra_env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: served(tetra_dir) == "v2", proc)  # switched; now checking (sleep 60)
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "never" not in out and "Traceback" not in err
    first, second = deploys(tetra_dir)
    assert first["stage"] == "DONE"
    assert second["stage"] == "FAIL" and "interrupted" in second["error"]
    assert current(tetra_dir) == first["id"] and served(tetra_dir) == "v1"
    assert not (tetra_dir / "locks" / "local.lock").exists()


def test_ctrl_c_while_waiting_for_the_turn_gives_up_and_exits_130(tetra_env, tetra_dir, tmp_path):
    one = artifact(tmp_path / "1.tar.gz", "v1")
    proc = subprocess.Popen([TETRA, "-c", f"deploy @local {one} --check 'sleep 60' &\n"
                             "@local echo never\necho never-either"],
                            env=tetra_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        while "waiting for its turn" not in "".join(lines):
            line = proc.stderr.readline()
            assert line, "".join(lines)
            lines.append(line)
        time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "never" not in out
    # leaving cancels the background deploy, which rolls back (SPEC 6.5)
    [first] = deploys(tetra_dir)
    assert first["stage"] == "FAIL" and first["error"] == "cancelled"
    assert not (tetra_dir / "locks" / "local.lock").exists()


# -- the interactive shell --------------------------------------------------------

def _expect(child, pattern: str) -> None:
    """``child.expect``, answering prompt_toolkit's cursor-position requests."""
    import re

    while child.expect([re.escape("\x1b[6n"), pattern]) == 0:
        child.send("\x1b[1;1R")


def test_in_the_shell_ctrl_c_gives_up_a_queued_statement_and_the_lane_goes_on(tetra_env):
    import pexpect

    child = pexpect.spawn(TETRA, [], env={**tetra_env, "TERM": "xterm"}, encoding="utf-8",
                          dimensions=(24, 100), timeout=20)
    try:
        _expect(child, "▸")
        child.send("@local sleep 3 &\r")
        _expect(child, r"\[1\] started")
        child.send('@local echo never"x"\r')
        _expect(child, "waiting for its turn")
        child.send("\x03")  # gives up the queued statement; the background one goes on
        _expect(child, "interrupted")
        child.send('echo a"live"\r')
        _expect(child, "alive")
        _expect(child, r"\[1\] done")
        # a foreground one on the target, interrupted while it runs
        child.send("@local sh -c 'echo run\"ning\"; sleep 30'\r")
        _expect(child, "running")
        child.send("\x03")
        _expect(child, "interrupted")
        child.send('@local echo after"x"\r')  # the lane was released both times
        _expect(child, "afterx")
        assert "neverx" not in child.before
        child.send("\x04")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 0
    finally:
        if child.isalive():
            child.terminate(force=True)


def test_statements_without_a_target_do_not_import_the_runner(tetra_env):
    import sys

    def imported(source: str) -> set[str]:
        done = subprocess.run([sys.executable, "-X", "importtime", "-m", "tetra_repl", "-c", source],
                              capture_output=True, text=True, env=tetra_env, timeout=60)
        assert done.returncode == 0, done.stderr
        return {line.split("|")[-1].strip() for line in done.stderr.splitlines()
                if line.startswith("import time:")}

    assert "tetra_repl.ttm.runner" not in imported("echo hi")
    assert "tetra_repl.ttm.runner" in imported("@local true")

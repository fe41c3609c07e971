"""Logs: rotation without a lost, duplicated or split line; logs --lines across rotations."""

from __future__ import annotations

from tsm_helpers import PY, wait_for

COUNT = 60000


def test_rotation_keeps_every_line_exactly_once_and_whole(tsm, tmp_path):
    script = tmp_path / "numbers.py"
    # lines of varying length, written in odd-sized chunks, so pipe reads split lines
    script.write_text(
        "import os, sys\n"
        f"for i in range({COUNT}):\n"
        "    sys.stdout.write(f'line {i:06d} ' + 'x' * (i % 37) + '\\n')\n"
        "sys.stdout.flush()\n")
    tsm("start", "--name", "numbers", "--restart", "no", "--max-log-size", "200000",
        "--log-keep", "50", "--", PY, str(script), check=False)
    wait_for(lambda: tsm.meta("numbers")["status"] == "stopped", timeout=30)

    procdir = tsm.processes / "numbers"
    rotated = sorted((p for p in procdir.glob("current.out.*")), key=lambda p: -int(p.suffix[1:]))
    assert len(rotated) >= 5  # several rotations happened
    seen = []
    for path in [*rotated, procdir / "current.out"]:
        data = path.read_bytes()
        if path in rotated:
            assert data.endswith(b"\n") and len(data) <= 200000
        seen.extend(data.decode().splitlines())
    expected = [f"line {i:06d} " + "x" * (i % 37) for i in range(COUNT)]
    assert seen == expected  # every line exactly once, in order, none split

    tail = tsm("logs", "numbers", "--lines", "3").stdout.splitlines()
    assert tail == expected[-3:]
    wide = tsm("logs", "numbers", "-n", str(COUNT // 100 * 3)).stdout.splitlines()
    assert wide == expected[-(COUNT // 100 * 3):]  # reaches into rotated files


def test_logs_err_shows_stderr(tsm):
    tsm("start", "--name", "noisy", "--restart", "no", "--", PY, "-c",
        "import sys; print('to out'); print('to err', file=sys.stderr)", check=False)
    wait_for(lambda: tsm.meta("noisy")["status"] == "stopped")
    assert tsm("logs", "noisy").stdout == "to out\n"
    assert tsm("logs", "noisy", "--err").stdout == "to err\n"


def test_logs_follow_prints_every_line_once_across_rotations(tsm, tmp_path, tetra_env):
    import subprocess
    import threading

    from tsm_helpers import TETRA

    script = tmp_path / "slow.py"
    script.write_text("import sys, time\n"
                      "for i in range(3000):\n"
                      "    print(f'follow {i:05d} ' + 'y' * 60, flush=(i % 50 == 0))\n"
                      "    if i % 300 == 0: time.sleep(0.05)\n")
    tsm("start", "--name", "slow", "--restart", "no", "--max-log-size", "20000",
        "--log-keep", "100", "--", PY, str(script), check=False)
    follower = subprocess.Popen([TETRA, "tsm", "logs", "slow", "-f", "--lines", "100000"],
                                env=tetra_env, stdout=subprocess.PIPE, text=True)
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.extend(l.rstrip("\n") for l in follower.stdout),
                              daemon=True)
    reader.start()
    try:
        wait_for(lambda: len(got) >= 3000, timeout=30)
    finally:
        follower.kill()
        follower.wait()
        reader.join(5)
    assert got == [f"follow {i:05d} " + "y" * 60 for i in range(3000)]
    assert len(list((tsm.processes / "slow").glob("current.out.*"))) >= 5


def test_ctrl_c_ends_logs_follow_in_a_script_with_exit_130(tsm, tetra_env):
    import signal
    import subprocess

    from tsm_helpers import TETRA

    tsm("start", "--name", "ticker", "--", PY, "-c",
        "import time\nwhile True:\n    print('tick', flush=True); time.sleep(0.05)")
    follower = subprocess.Popen([TETRA, "tsm", "logs", "ticker", "-f"], env=tetra_env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert follower.stdout.readline() == "tick\n"  # following
        follower.send_signal(signal.SIGINT)
        _, err = follower.communicate(timeout=15)
    finally:
        follower.kill()
        follower.wait()
    assert follower.returncode == 130
    assert "Traceback" not in err and "interrupted" in err

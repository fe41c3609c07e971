"""`tsm logs -f` when rotation outruns it: every line still on disk is printed
once, in order, and a line on stderr says where lines may be missing.

The follower is frozen (SIGSTOP) while the process writes a burst, so the
number of rotations it misses is exact: with 10-byte lines and
--max-log-size 1000 each file holds exactly 100 lines."""

from __future__ import annotations

import signal
import subprocess
import threading

from tsm_helpers import PY, TETRA, wait_for

WRITER = """\
import os, sys, time
print("n 0000000", flush=True)  # line 0: the follower has opened the file once it shows
n = 1
for burst in range(1, 100):
    go = os.path.join(sys.argv[1], f"go{burst}")
    while not os.path.exists(go):
        time.sleep(0.01)
    for _ in range(int(open(go).read())):
        sys.stdout.write(f"n {n:07d}\\n")
        n += 1
    sys.stdout.flush()
"""
WARNING = ("tsm logs: current.out rotated faster than it could be followed: lines may be "
           "missing here (--max-log-size or --log-keep keep more)")


def _line(i: int) -> str:
    return f"n {i:07d}"


class Follower:
    """`tetra tsm logs NAME -f --lines 1`, its stdout and stderr read by threads."""

    def __init__(self, env, name: str):
        self.proc = subprocess.Popen([TETRA, "tsm", "logs", name, "-f", "--lines", "1"], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.out: list[str] = []
        self.err: list[str] = []
        for stream, into in ((self.proc.stdout, self.out), (self.proc.stderr, self.err)):
            threading.Thread(target=lambda s=stream, i=into: i.extend(l.rstrip("\n") for l in s),
                             daemon=True).start()

    def close(self):
        self.proc.kill()
        self.proc.wait()


def test_follow_prints_every_kept_line_and_warns_when_rotation_outran_it(tsm, tmp_path, tetra_env):
    (tmp_path / "writer.py").write_text(WRITER)
    tsm("start", "--name", "burst", "--max-log-size", "1000", "--log-keep", "3", "--",
        PY, str(tmp_path / "writer.py"), str(tmp_path))
    current = tsm.processes / "burst" / "current.out"

    def burst(k: int, lines: int, last: int) -> None:
        (tmp_path / "go.tmp").write_text(str(lines))
        (tmp_path / "go.tmp").rename(tmp_path / f"go{k}")
        wait_for(lambda: current.exists() and current.read_text().endswith(_line(last) + "\n"))

    follower = Follower(tetra_env, "burst")
    try:
        wait_for(lambda: follower.out == [_line(0)])
        burst(1, 49, 49)  # current.out: lines 0-49
        wait_for(lambda: len(follower.out) == 50)

        # 1. Three rotations while it is frozen: the file it holds is current.out.3
        # now, and everything after it is still there -- printed, no warning.
        follower.proc.send_signal(signal.SIGSTOP)
        burst(2, 300, 349)  # files: 0-99, 100-199, 200-299, current 300-349
        follower.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: len(follower.out) == 350)
        assert follower.out == [_line(i) for i in range(350)] and follower.err == []

        # 2. Four rotations: its file was dropped, but it still reads that to the
        # end, then all that is kept.  (Nothing is lost here; it cannot tell,
        # so it warns that lines *may* be missing.)
        follower.proc.send_signal(signal.SIGSTOP)
        burst(3, 400, 749)  # 300-399 dropped (held open), 400-499 … 600-699, current 700-749
        follower.proc.send_signal(signal.SIGCONT)
        wait_for(lambda: len(follower.out) == 750)
        assert follower.out[350:] == [_line(i) for i in range(350, 750)]
        wait_for(lambda: follower.err == [WARNING])

        # 3. Six rotations: two files came and went unseen.  The rest is printed
        # once, in order, after one warning.
        follower.proc.send_signal(signal.SIGSTOP)
        burst(4, 600, 1349)  # 700-799 held, 800-999 dropped unseen, 1000-1349 kept
        follower.proc.send_signal(signal.SIGCONT)
        expected = [_line(i) for i in (*range(750, 800), *range(1000, 1350))]
        wait_for(lambda: len(follower.out) == 750 + len(expected))
        assert follower.out[750:] == expected
        wait_for(lambda: follower.err == [WARNING, WARNING])
    finally:
        follower.close()

"""tsm figures, side by side with a bare subprocess.Popen of the same command.

* start -> alive and start -> port accepting (python -m http.server), measured
  in-process (as from the interactive shell, where tetra is already running),
  with the supervisor's own interpreter start-up subtracted, as a ratio to
  Popen -> alive / Popen -> accepting.  The CLI wall time is shown as well.
* ``tsm ls --json`` wall time (a whole ``tetra`` run) with 200 processes.
* ``tsm stop all`` wall time with 200 running.
* RSS of one supervisor.
"""

from __future__ import annotations

import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

PY = sys.executable
TETRA = str(Path(PY).with_name("tetra"))
N = 200


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _accepting(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.connect(("127.0.0.1", port))
            return True
        except OSError:
            return False


def _wall(argv, env, repeat=5) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=False)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def _wait_file(path: Path) -> None:
    while not path.exists():
        time.sleep(0.0005)


def _popen(command, port=None) -> tuple[float, float]:
    """(seconds to alive, seconds to accepting) for a bare Popen."""
    t = time.perf_counter()
    p = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    alive = time.perf_counter() - t
    accepting = 0.0
    if port:
        while not _accepting(port):
            time.sleep(0.005)
        accepting = time.perf_counter() - t
    p.kill()
    p.wait()
    return alive, accepting


def _session(state_dir: Path):
    from tetra_repl.env import Environment
    from tetra_repl.session import Session

    env = Environment(state_dir=state_dir, stdout=open(os.devnull, "w"),
                      stderr=open(os.devnull, "w"))
    session = Session(env)
    session.load_plugins()
    return session


def _kill_all(state_dir: Path) -> None:
    import json

    for meta_file in state_dir.glob("tsm/runtime/processes/*/meta.json"):
        try:
            meta = json.loads(meta_file.read_text())
        except (OSError, ValueError):
            continue
        for key in ("supervisor_pid", "pid"):
            try:
                if meta.get(key):
                    os.kill(meta[key], signal.SIGKILL)
            except OSError:
                pass


def run(report) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-tsm-") as tmp:
        state = Path(tmp)
        env = {**os.environ, "TETRA_DIR": str(state), "NO_COLOR": "1"}
        try:
            _run(report, state, env)
        finally:
            _kill_all(state)


def _run(report, state: Path, env: dict) -> None:
    from tetra_plugins.tsm.control import supervisor_argv

    # a supervisor's interpreter start-up: `python -S` plus its imports (it
    # prints its usage and exits when given no process directory)
    python_startup = _wall(supervisor_argv(Path("/"))[:-1], env, repeat=11)
    tetra_startup = _wall([TETRA, "-c", "echo hi"], env, repeat=11)
    report("supervisor interpreter start-up (python -S + imports)", python_startup * 1000, "ms")
    report("tetra start-up (tetra -c 'echo hi')", tetra_startup * 1000, "ms")

    session = _session(state)
    # "alive" = the child runs its first line of code (it creates a marker file):
    # the same event for Popen and for tsm, whatever either one reports.  tsm
    # start itself returns later: without a port, once the process has run 0.5 s.
    code = "import sys, time; open(sys.argv[1], 'w').close(); time.sleep(600)"
    popen_alive, tsm_alive, tsm_returned = [], [], []
    for i in range(5):
        marker = state / f"popen-{i}"
        t = time.perf_counter()
        p = subprocess.Popen([PY, "-c", code, str(marker)])
        _wait_file(marker)
        popen_alive.append(time.perf_counter() - t)
        p.kill()
        p.wait()
        marker = state / f"tsm-{i}"
        seen: list[float] = []
        watcher = threading.Thread(target=lambda m=marker: (_wait_file(m),
                                                            seen.append(time.perf_counter())))
        t = time.perf_counter()
        watcher.start()
        status = session.run_source(f"tsm start --name alive{i} -- {PY} -c \"{code}\" {marker}",
                                    script=True)
        tsm_returned.append(time.perf_counter() - t)
        assert status == 0
        watcher.join()
        tsm_alive.append(seen[0] - t)
    p_alive, t_alive = statistics.median(popen_alive), statistics.median(tsm_alive)
    report("Popen -> alive (child ran its first line)", p_alive * 1000, "ms")
    report("tsm start -> alive, in the shell", t_alive * 1000, "ms")
    report("  (tsm start returned: it ran 0.5 s)", statistics.median(tsm_returned) * 1000, "ms")
    report("  ratio to Popen", t_alive / p_alive, "x")
    report("  minus the supervisor's interpreter start-up, ratio",
           (t_alive - python_startup) / p_alive, "x", target="<= 1.5")

    popen_port, tsm_port = [], []
    for i in range(3):
        port = _free_port()
        popen_port.append(_popen([PY, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
                                 port)[1])
        port = _free_port()
        t = time.perf_counter()
        status = session.run_source(f"tsm start --name web{i} -- {PY} -m http.server {port} "
                                    "--bind 127.0.0.1", script=True)
        tsm_port.append(time.perf_counter() - t)
        assert status == 0 and _accepting(port)
    p_port, t_port = statistics.median(popen_port), statistics.median(tsm_port)
    report("Popen -> port accepting (http.server)", p_port * 1000, "ms")
    report("tsm start -> port accepting, in the shell", t_port * 1000, "ms")
    report("  ratio to Popen", t_port / p_port, "x")
    report("  minus the supervisor's interpreter start-up, ratio", (t_port - python_startup) / p_port,
           "x", target="<= 1.5")
    port = _free_port()
    cli = _wall([TETRA, "tsm", "start", "--name", "cli", "--", PY, "-m", "http.server", str(port),
                 "--bind", "127.0.0.1"], env, repeat=1)
    report("tetra tsm start (CLI wall, http.server, port accepting)", cli * 1000, "ms")
    report("  minus tetra start-up", (cli - tetra_startup) * 1000, "ms")

    sup = _supervisor_pid(state, f"cli-{port}")
    with open(f"/proc/{sup}/status") as f:
        rss = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    report("supervisor RSS", rss / 1024, "MB", target="< 15")

    t = time.perf_counter()
    bulk = [f"tsm start --name bulk{i} -- sleep 600 &" for i in range(N - 9)]  # 5 + 3 + 1 run
    for k in range(0, len(bulk), 16):  # as background jobs: each start waits its 0.5 s
        session.run_source("\n".join(bulk[k:k + 16] + ["wait"]), script=True)
    report(f"(setup: started {N - 9} more sleepers in the shell)", time.perf_counter() - t, "s")
    ls = _wall([TETRA, "tsm", "ls", "--json"], env)
    report(f"tetra tsm ls --json, {N} processes (whole CLI run)", ls * 1000, "ms", target="< 150")
    report("  minus tetra start-up", (ls - tetra_startup) * 1000, "ms")
    t = time.perf_counter()
    subprocess.run([TETRA, "tsm", "stop", "all"], env=env, stdout=subprocess.DEVNULL, check=True)
    stop = time.perf_counter() - t
    report(f"tetra tsm stop all, {N} processes (whole CLI run)", stop * 1000, "ms",
           target="< 1000")
    report("  minus tetra start-up", (stop - tetra_startup) * 1000, "ms")


def _supervisor_pid(state: Path, name: str) -> int:
    import json

    return json.loads((state / "tsm/runtime/processes" / name / "meta.json").read_text())[
        "supervisor_pid"]

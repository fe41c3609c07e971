"""Core figures: parse throughput, and what `tetra -c 'echo hi'` costs to start.

Parse throughput is measured over a mixed corpus of distinct, realistic lines
(deploys, @target commands with roles and selectors, tsm starts with flags,
txn commands, quoted strings, variables, comments), twice: line by line, as
the shell parses, and as one script text.  Start-up is the median wall time
of `tetra -c 'echo hi'` beside `python -c 'import lark'` (the same Python):
lark is the one heavy import `-c` cannot avoid, so the ratio shows what tetra
adds on top.  Targets (issue 2): >= 50,000 statements/s; ratio <= 1.3.
"""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STARTUP_RUNS = 21
PARSE_REPEATS = 15


def corpus() -> list[str]:
    """At least 200 distinct lines a person would type (deterministic)."""
    targets = ["@staging", "@prod", "@prod:web", "@prod:db", "@prod[web-1]", "@prod[0]",
               "@prod[web-1,web-2]", "@stg", "@local", "@edge:cache[2]"]
    artifacts = ["build/api-v2.1.0.tar.gz", "dist/web-1.4.2.tgz", "out/worker_3.0.0.tar.gz",
                 '"build/my api.tar.gz"', "$artifact"]
    lines: list[str] = []
    for i, (target, artifact) in enumerate(itertools.product(targets[:6], artifacts)):
        extra = ["", " --dry-run", " --keep 3", " --health http://127.0.0.1:8080/health",
                 " --check 'systemctl is-active api'", " --wait=30 --parallel 4"][i % 6]
        lines.append(f"deploy {target} {artifact}{extra}")
    remote = ["uptime", "df -h /srv", "systemctl status api --no-pager", "sh -c 'echo $HOME | wc -c'",
              "tail -n 50 /var/log/api.log", "printf '%s\\n' \"$version\"", "cat /etc/os-release",
              "ls -la /srv/app/releases"]
    for target, cmd in itertools.product(targets, remote):
        lines.append(f"{target} {cmd}")
    for port, name in zip(range(7000, 7024), itertools.cycle(["web", "api", "worker", "cache"])):
        lines.append(f"tsm start --name {name}{port} --port {port} --restart on-failure -- "
                     f"python3 -m http.server {port} --bind 127.0.0.1")
        lines.append(f"tsm start --env=env/{name}.env --cwd ~/src/{name} node server.js {port} &")
    for n, (stage, fmt) in enumerate(itertools.product(["NEW", "EXECUTE", "DONE", "FAIL"],
                                                       ["", " --json"])):
        lines.append(f"txn ls --stage {stage}{fmt}")
        lines.append(f'txn new "deploy api {n}" @staging --actor ops{n}')
        lines.append(f"txn ctx notes/{n}.md --kind runbook  # evidence {n}")
        lines.append(f"txn exec -- systemctl restart api-{n}")
        lines.append(f'txn fail deploy-api-20251017T1430{n:02d} "health check {n} failed"')
    for n in range(12):
        lines.append(f"set version=2.1.{n}; echo \"deploying $version to ${{target}}\"")
        lines.append(f"tsm logs web{n} --lines {n * 10 + 5} -f --err")
        lines.append(f"put @prod:web[web-{n}] build/conf-{n}.toml /srv/app/conf.toml")
        lines.append(f"exec @prod --timeout {n + 1} --parallel 4 -- journalctl -u api -n {n}")
        lines.append(f"# step {n}: check the release before the switch")
        lines.append(f"tsm stop web{n}; tsm delete web{n}; echo $? 'done {n}'")
    out = list(dict.fromkeys(lines))  # keep order, drop duplicates
    assert len(out) >= 200, len(out)
    return out


def parse_figures(lines: list[str]):
    """((median, best) line by line, (median, best) as a script, statements).

    The two ways are measured in alternating passes, so a burst of load on the
    machine hits both alike.  The best pass is what the code can do; the
    median shows what a loaded machine (tests running beside) made of it.
    """
    from tetra_repl.language import parse

    statements = sum(len(parse(line)) for line in lines)  # warm: grammar loaded, caches filled
    script = "\n".join(lines)
    assert len(parse(script)) == statements
    per_line: list[float] = []
    whole: list[float] = []
    for _ in range(PARSE_REPEATS):
        started = time.perf_counter()
        for line in lines:
            parse(line)
        per_line.append(time.perf_counter() - started)
        started = time.perf_counter()
        parse(script)
        whole.append(time.perf_counter() - started)

    def rates(times):
        return statements / statistics.median(times), statements / min(times)

    return rates(per_line), rates(whole), statements


def startup_figures(runs: int = STARTUP_RUNS) -> tuple[float, float]:
    """Median seconds of `tetra -c 'echo hi'` and of `python -c 'import lark'`, interleaved."""
    python = sys.executable
    tetra = str(Path(python).with_name("tetra"))
    with tempfile.TemporaryDirectory() as state:
        env = {**os.environ, "TETRA_DIR": state, "NO_COLOR": "1"}
        commands = {"tetra": [tetra, "-c", "echo hi"], "lark": [python, "-c", "import lark"]}
        times: dict[str, list[float]] = {k: [] for k in commands}
        for name, argv in commands.items():  # warm the OS caches and lark's grammar cache
            subprocess.run(argv, env=env, check=True, capture_output=True)
        for _ in range(runs):
            for name, argv in commands.items():
                started = time.perf_counter()
                subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL)
                times[name].append(time.perf_counter() - started)
    return statistics.median(times["tetra"]), statistics.median(times["lark"])


def run(report) -> None:
    lines = corpus()
    per_line, script, statements = parse_figures(lines)
    report(f"corpus: distinct lines ({statements} statements)", len(lines), "lines")
    report(f"parse line by line, as the shell does (median of {PARSE_REPEATS})", per_line[0],
           "stmt/s", ">= 50,000")
    report("parse line by line (best pass)", per_line[1], "stmt/s")
    report(f"parse as one script text (median of {PARSE_REPEATS})", script[0], "stmt/s", ">= 50,000")
    report("parse as one script text (best pass)", script[1], "stmt/s")
    tetra, lark = startup_figures()
    report(f"tetra -c 'echo hi' (median of {STARTUP_RUNS})", tetra * 1000, "ms")
    report(f"python -c 'import lark' (median of {STARTUP_RUNS})", lark * 1000, "ms")
    report("ratio tetra / import lark", tetra / lark, "x", "<= 1.3")

"""tsm inside the shell: events on the bus, completion, lazy imports, a small supervisor."""

from __future__ import annotations

import json
import subprocess
import textwrap
import time

import psutil
from tsm_helpers import PY, wait_for

LISTENER = textwrap.dedent("""
    import sys
    from tetra_repl.plugin import Plugin

    plugin = Plugin("listener")

    @plugin.on_load
    def listen(session):
        session.bus.subscribe("tsm.*", lambda topic, payload: sys.stderr.write(
            f"EVENT {topic} {payload['name']}\\n"))
""")


def test_start_stop_and_crash_are_published_on_the_bus(tsm, tetra):
    plugins = tsm.dir / "plugins"
    plugins.mkdir()
    (plugins / "listener.py").write_text(LISTENER)
    script = ("tsm start --name ev -- sleep 120\n"
              "tsm stop ev\n"
              "tsm start --name bad --restart no -- /nonexistent/x\n")
    result = tetra("--keep-going", input=script)
    events = [line for line in result.stderr.splitlines() if line.startswith("EVENT")]
    assert events == ["EVENT tsm.started ev", "EVENT tsm.stopped ev", "EVENT tsm.crashed bad"]


def test_process_completer_offers_names_and_ids(tsm):
    tsm("start", "--name", "alpha", "--", "sleep", "120")
    tsm("start", "--name", "beta", "--", "sleep", "120")
    code = textwrap.dedent(f"""
        from tetra_repl.env import Environment
        from tetra_repl.session import Session
        s = Session(Environment(state_dir={str(tsm.dir)!r}))
        s.load_plugins()
        complete = s.registry.completers["tsm.process"]
        print(complete(s, "al"), complete(s, ""), complete(s, "1"))
        spec = s.registry.commands["tsm stop"]
        print(spec.params[0].complete)
    """)
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout
    first, second = out.splitlines()
    assert first == "['all', 'alpha'] ['all', 'alpha', 'beta'] ['1']"
    assert second == "tsm.process"


def test_echo_does_not_import_psutil_and_the_supervisor_is_stdlib_only():
    code = ("import sys; from tetra_repl.cli import run; run(['-c', 'echo hi']); "
            "print('psutil' in sys.modules)")
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "hi\nFalse\n"
    code = ("import sys, tetra_plugins.tsm.supervisor; "
            "print(sorted(m for m in ('psutil', 'lark', 'prompt_toolkit', 'tetra_repl.session', "
            "'tetra_repl.plugin') if m in sys.modules))")
    out = subprocess.run([PY, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out == "[]\n"


def test_a_supervisor_stays_under_15_mb(tsm):
    tsm("start", "--name", "small", "--", "sleep", "120")
    pid = tsm.meta("small")["supervisor_pid"]
    with open(f"/proc/{pid}/status") as f:
        rss_kb = next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))
    assert rss_kb < 15 * 1024


def test_ls_describe_ports_monit_in_a_script(tsm, port):
    tsm("start", "--name", "site", "--", PY, "-m", "http.server", str(port), "--bind", "127.0.0.1")
    name = f"site-{port}"
    row = tsm.ls()[name]
    assert set(row) >= {"id", "name", "pid", "port", "status", "cpu", "mem", "uptime", "restarts"}
    table = tsm("ls").stdout.splitlines()
    assert table[0].split() == ["id", "name", "pid", "port", "status", "cpu", "mem", "uptime",
                                "restarts"]
    assert name in table[1] and "online" in table[1]
    info = json.loads(tsm("describe", name, "--json").stdout)
    assert info["pid"] == row["pid"] and info["supervised"] is True
    ports = json.loads(tsm("ports", "--json").stdout)
    assert ports == [{"name": name, "port": port, "id": 0, "status": "online", "listening": True}]
    monit = tsm("monit").stdout.splitlines()  # not a terminal: one sample, then exit
    assert monit[0].split()[:3] == ["id", "name", "status"] and name in monit[1]


def test_errors_are_one_line_with_a_hint_and_no_traceback(tsm):
    for words, needle in ((("logs", "nope"), "no process 'nope'"),
                          (("start", "--restart", "sometimes", "--", "sleep", "1"), "--restart"),
                          (("resurrect",), "nothing saved"),
                          (("start", "--env", "/nonexistent.env", "--", "sleep", "1"),
                           "cannot read env file")):
        result = tsm(*words, check=False)
        assert result.returncode != 0 and needle in result.stderr, (words, result.stderr)
        assert "Traceback" not in result.stderr


def test_ls_cpu_is_measured_since_the_previous_ls_not_since_start(tsm):
    tsm("start", "--name", "burst", "--", PY, "-c",
        "import time\nt = time.time()\nwhile time.time() - t < 1.0: pass\ntime.sleep(120)")
    proc = psutil.Process(tsm.meta("burst")["pid"])
    wait_for(lambda: proc.status() == psutil.STATUS_SLEEPING and sum(proc.cpu_times()[:2]) > 0.1)
    tsm.ls()  # the baseline
    time.sleep(0.7)
    assert tsm.ls()["burst"]["cpu"] <= 2.0  # idle since the previous ls
    lifetime = 100 * sum(proc.cpu_times()[:2]) / (time.time() - proc.create_time())
    assert lifetime > 5.0  # an average since start would have shown the burst

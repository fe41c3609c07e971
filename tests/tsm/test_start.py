"""Starting processes: waiting for the port, names, ports, layout, env files, failures."""

from __future__ import annotations

import json
import os
import socket
import urllib.request

import psutil
from tsm_helpers import PY, free_port, wait_for


def test_start_returns_once_the_port_accepts_and_lays_out_spec_files(tsm, port, tmp_path):
    env_file = tmp_path / "app.env"
    env_file.write_text("# settings\nSECRET_TOKEN='s3cr3t value'\nexport MODE=prod\n")
    out = tsm("start", "--name", "web", "--env", str(env_file), "--",
              PY, "-m", "http.server", str(port), "--bind", "127.0.0.1").stdout
    assert f"started web-{port}" in out
    # no waiting here: start returned only after the port accepted connections
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
        assert reply.status == 200

    name = f"web-{port}"
    procdir = tsm.processes / name
    meta = tsm.meta(name)
    for key in ("tsm_id", "name", "pid", "command", "port", "cwd", "interpreter", "process_type",
                "env_file", "prehook", "start_time", "status", "restarts", "unstable_restarts",
                "restart_policy"):
        assert key in meta, key
    assert meta["status"] == "online" and meta["port"] == port and meta["process_type"] == "python"
    assert meta["env_file"] == str(env_file)
    assert "s3cr3t" not in (procdir / "meta.json").read_text()
    assert (procdir / f"{name}.pid").read_text().strip() == str(meta["pid"])
    assert (procdir / "current.out").exists() and (procdir / "current.err").exists()
    assert (tsm.dir / "tsm" / "ports").read_text() == f"{name}:{port}\n"
    assert psutil.Process(meta["pid"]).create_time() == meta["pid_create_time"]
    # the env file reached the child, and only the child
    assert psutil.Process(meta["pid"]).environ()["SECRET_TOKEN"] == "s3cr3t value"
    assert "SECRET_TOKEN" not in os.environ

    row = tsm.ls()[name]
    assert row["status"] == "online" and row["pid"] == meta["pid"] and row["port"] == port
    assert row["mem"] > 0 and row["restarts"] == 0 and row["uptime"] is not None


def test_pm2_order_trailing_name_is_tsms_and_dash_dash_passes_flags_through(tsm, tmp_path):
    port = free_port()
    app = tmp_path / "my-api"
    app.mkdir()
    tsm("start", "python3", "-m", "http.server", str(port), "--bind", "127.0.0.1", "--name", "web",
        cwd=app)
    meta = tsm.meta(f"web-{port}")
    assert meta["command"] == ["python3", "-m", "http.server", str(port), "--bind", "127.0.0.1"]
    assert meta["cwd"] == str(app)

    port2 = free_port()
    tsm("start", PY, "-m", "http.server", str(port2), "--bind", "127.0.0.1", cwd=app)
    assert tsm.meta(f"my-api-http-{port2}")["port"] == port2  # {cwd}-{module}-{port}

    # after '--' a trailing --name belongs to the command
    tsm("start", "--name", "echoer", "--restart", "no", "--", PY, "-c",
        "import sys, time; print(sys.argv[1:], flush=True); time.sleep(60)", "--name", "x")
    assert tsm.meta("echoer")["command"][-2:] == ["--name", "x"]
    wait_for(lambda: (tsm.processes / "echoer" / "current.out").read_text() == "['--name', 'x']\n")


def test_the_spec_dash_dash_example_passes_the_commands_own_port_flag_through(tsm, tmp_path):
    """SPEC 3: `tsm start --name w -- python3 app.py --port 1`: `--port 1` is the
    app's own flag, not the port tsm waits for (SPEC 8's discovery order)."""
    (tmp_path / "app.py").write_text("import sys, time\nprint(sys.argv[1:], flush=True)\n"
                                     "time.sleep(60)\n")
    r = tsm("start", "--name", "w", "--", PY, "app.py", "--port", "1", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    meta = tsm.meta("w")
    assert (meta["port"], meta["command"][-2:]) == (None, ["--port", "1"])
    wait_for(lambda: (tsm.processes / "w" / "current.out").read_text() == "['--port', '1']\n")


def test_port_conflict_fails_and_names_the_holder(tsm, port):
    tsm("start", "--name", "first", "--", PY, "-m", "http.server", str(port), "--bind", "127.0.0.1")
    holder = tsm.meta(f"first-{port}")["pid"]
    result = tsm("start", "--name", "second", "--timeout", "5", "--",
                 PY, "-m", "http.server", str(port), "--bind", "127.0.0.1", check=False)
    assert result.returncode == 1
    assert f"port {port}" in result.stderr and f"pid {holder}" in result.stderr
    assert "http.server" in result.stderr and "Traceback" not in result.stderr


def test_a_port_held_outside_tsm_names_that_process(tsm, port):
    with socket.socket() as other:  # held by this test process, not by tsm
        other.bind(("127.0.0.1", port))
        other.listen()
        result = tsm("start", "--name", "late", "--port", str(port), "--", "sleep", "30",
                     check=False)
    assert result.returncode == 1
    assert f"port {port} is already in use by pid {os.getpid()}" in result.stderr


def test_a_port_taken_by_another_process_while_starting_is_a_conflict_not_a_start(
        tsm, port, tmp_path):
    """The port accepting is not enough: the listener must be the managed
    process (or its child).  Here a server outside tsm takes the port while
    `sleep` (which never listens) is starting."""
    import subprocess
    import sys

    script = tmp_path / "late.py"
    script.write_text("import socket, sys, time\n"
                      "s = socket.socket()\n"
                      "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                      "time.sleep(0.5)\n"
                      f"s.bind(('127.0.0.1', {port}))\n"
                      "s.listen()\n"
                      "time.sleep(60)\n")
    other = subprocess.Popen([sys.executable, str(script)])
    try:
        result = tsm("start", "--name", "late", "--port", str(port), "--timeout", "10", "--",
                     "sleep", "30.77", check=False)
        assert result.returncode == 1, result.stdout
        assert (f"port {port} is held by pid {other.pid}" in result.stderr
                and f"not by late-{port}" in result.stderr), result.stderr
        meta = tsm.meta(f"late-{port}")
        assert meta["status"] == "errored"
        assert not [p for p in psutil.process_iter(["cmdline"])
                    if p.info["cmdline"] == ["sleep", "30.77"]]  # stopped, not left running
    finally:
        other.kill()
        other.wait()


def test_a_server_started_by_a_wrapper_counts_as_the_process_listening(tsm, port):
    result = tsm("start", "--name", "wrap", "--port", str(port), "--", "sh", "-c",
                 f"{PY} -m http.server {port} --bind 127.0.0.1; echo ended")
    assert f"started wrap-{port}" in result.stdout
    listing = json.loads(tsm("ports", "--json").stdout)
    assert [(i["name"], i["listening"]) for i in listing] == [(f"wrap-{port}", True)]


def test_stderr_tail_explains_a_process_that_dies_at_start(tsm):
    result = tsm("start", "--name", "dies", "--restart", "no", "--", PY, "-c",
                 "import sys\nfor i in range(30): print('oops', i, file=sys.stderr)\nsys.exit(2)",
                 check=False)
    assert result.returncode == 1  # it did not run the 0.5 s a start without a port needs
    assert "exited with status 2" in result.stderr
    assert "oops 29" in result.stderr and "oops 19" not in result.stderr


def test_missing_program_is_one_clear_line(tsm):
    result = tsm("start", "--name", "ghost", "--", "/nonexistent/program", check=False)
    assert result.returncode == 1
    assert "cannot start" in result.stderr and "Traceback" not in result.stderr
    assert tsm.meta("ghost")["status"] == "errored"


def test_names_cannot_escape_the_state_directory(tsm):
    for bad in ("../evil", "a/b", "..", ".hidden"):
        result = tsm("start", "--name", bad, "--", "sleep", "30", check=False)
        assert result.returncode == 2, bad
        assert "invalid process name" in result.stderr and "Traceback" not in result.stderr
    assert not (tsm.dir / "tsm" / "runtime" / "evil").exists()


def test_service_definition_with_cwd_prehook_and_env(tsm, tmp_path):
    services = tsm.dir / "tsm" / "services"
    services.mkdir(parents=True)
    work = tmp_path / "work"
    work.mkdir()
    (work / "svc.env").write_text('GREETING="hello\\nworld"\n')
    (services / "greeter.toml").write_text(
        f'command = ["{PY}", "-c", "import os,time; print(os.environ[\'GREETING\']); '
        f'print(os.getcwd()); time.sleep(60)"]\n'
        f'cwd = "{work}"\nenv = "{work}/svc.env"\nprehook = "echo prehook-ran > hook.txt"\n')
    tsm("start", "greeter")
    wait_for(lambda: (tsm.processes / "greeter" / "current.out").read_text().count("\n") >= 3)
    assert (tsm.processes / "greeter" / "current.out").read_text() == f"hello\nworld\n{work}\n"
    assert (work / "hook.txt").read_text() == "prehook-ran\n"
    listing = json.loads(tsm("services", "--json").stdout)
    assert listing[0]["service"] == "greeter" and listing[0]["running"] is True


def test_a_service_with_a_port_starts_again_by_its_service_name(tsm, port):
    services = tsm.dir / "tsm" / "services"
    services.mkdir(parents=True)
    (services / "api.toml").write_text(
        f'command = ["{PY}", "-m", "http.server", "{port}", "--bind", "127.0.0.1"]\n')
    assert f"started api-{port} (id 0" in tsm("start", "api").stdout
    again = tsm("start", "api", check=False)
    assert again.returncode == 1 and f"api-{port} is already running" in again.stderr
    listing = json.loads(tsm("services", "--json").stdout)
    assert listing[0]["port"] == port and listing[0]["running"] is True
    tsm("stop", "api")
    assert f"started api-{port} (id 0" in tsm("start", "api").stdout  # same process, same id
    assert list(tsm.ls()) == [f"api-{port}"] and tsm.meta(f"api-{port}")["status"] == "online"


def test_script_types_and_interpreters_are_detected(tsm, tmp_path):
    (tmp_path / "app.py").write_text("import time\ntime.sleep(60)\n")
    tsm("start", "app.py", "--name", "py", cwd=tmp_path)
    meta = tsm.meta("py")
    assert meta["process_type"] == "python" and meta["command"][:2] == ["python3", "app.py"]
    tsm("start", "--name", "bin", "--", "sleep", "60")
    assert tsm.meta("bin")["process_type"] == "binary" and tsm.meta("bin")["port"] is None


SERVER = ("import os, http.server as h; h.HTTPServer(('127.0.0.1', int(os.environ['PORT'])), "
          "h.SimpleHTTPRequestHandler).serve_forever()")


def test_port_from_the_env_file_and_from_port_in_the_command(tsm, tmp_path):
    p1, p2 = free_port(), free_port()
    env_file = tmp_path / "port.env"
    env_file.write_text(f"PORT={p1}\n")
    tsm("start", "--name", "envport", "--env", str(env_file), "--", PY, "-c", SERVER)
    assert tsm.meta(f"envport-{p1}")["port"] == p1  # and start waited for it to accept
    tsm("start", "--name", "cmdport", "--", f"PORT={p2}", PY, "-c", SERVER)
    meta = tsm.meta(f"cmdport-{p2}")
    assert meta["port"] == p2 and meta["command"][0] == f"PORT={p2}"
    assert psutil.Process(meta["pid"]).environ()["PORT"] == str(p2)
    ports = (tsm.dir / "tsm" / "ports").read_text().splitlines()
    assert ports == [f"envport-{p1}:{p1}", f"cmdport-{p2}:{p2}"]


def test_the_env_file_path_is_used_to_find_the_program(tsm, tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    tool = bindir / "my-tool"
    tool.write_text("#!/bin/sh\necho tool-ran\nexec sleep 120\n")
    tool.chmod(0o755)
    (tmp_path / "path.env").write_text(f"PATH={bindir}:/usr/bin:/bin\n")
    tsm("start", "--name", "tool", "--env", str(tmp_path / "path.env"), "--", "my-tool")
    wait_for(lambda: (tsm.processes / "tool" / "current.out").read_text() == "tool-ran\n")

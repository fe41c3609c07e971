"""The PORT the child sees is the port tsm waits for, found in SPEC 8's order:
--port, then PORT= in the env file, … -- whatever the caller's environment says."""

from __future__ import annotations

import psutil
from tsm_helpers import PY, free_port

SERVER = ("import os, socket, time\n"
          "s = socket.socket()\n"
          "s.bind(('127.0.0.1', int(os.environ['PORT'])))\n"
          "s.listen()\n"
          "time.sleep(120)\n")


def test_port_flag_is_the_childs_port_over_env_file_and_caller(tsm, tetra, tmp_path):
    port, other, callers = free_port(), free_port(), free_port()
    env_file = tmp_path / "app.env"
    env_file.write_text(f"PORT={other}\nMODE=prod\n")
    result = tetra("tsm", "start", "--name", "api", "--port", str(port), "--env", str(env_file),
                   "--", PY, "-c", SERVER, env={"PORT": str(callers)})
    assert result.returncode == 0, result.stderr
    meta = tsm.meta(f"api-{port}")
    environ = psutil.Process(meta["pid"]).environ()
    assert (environ["PORT"], environ["MODE"]) == (str(port), "prod")
    assert meta["port"] == port
    files = [f for f in (tsm.processes / f"api-{port}").iterdir() if f.is_file()]
    assert not [f for f in files if "prod" in f.read_text()]  # env values are never written


def test_without_port_flag_the_env_file_port_beats_the_callers(tsm, tetra, tmp_path):
    port, callers = free_port(), free_port()
    env_file = tmp_path / "app.env"
    env_file.write_text(f"PORT={port}\n")
    result = tetra("tsm", "start", "--name", "api", "--env", str(env_file), "--", PY, "-c", SERVER,
                   env={"PORT": str(callers)})
    assert result.returncode == 0, result.stderr
    meta = tsm.meta(f"api-{port}")
    assert psutil.Process(meta["pid"]).environ()["PORT"] == str(port) == str(meta["port"])


def test_without_any_port_the_callers_port_is_left_alone(tsm, tetra):
    callers = free_port()
    result = tetra("tsm", "start", "--name", "plain", "--", "sleep", "120.63",
                   env={"PORT": str(callers)})
    assert result.returncode == 0, result.stderr
    meta = tsm.meta("plain")
    assert meta["port"] is None
    assert psutil.Process(meta["pid"]).environ()["PORT"] == str(callers)

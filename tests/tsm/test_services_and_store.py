"""Service definitions that change, damaged state, and the edges of save, startup and monit."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess

import pexpect
import psutil
import pytest
from tsm_helpers import PY, TETRA, free_port, wait_for


def _error_lines(result, status: int) -> list[str]:
    """stderr of a failed run: exit ``status``, one ``tetra: line 1:`` line (+ a hint)."""
    assert result.returncode == status, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    lines = result.stderr.splitlines()
    assert lines[0].startswith("tetra: line 1: ") and all(
        line.startswith("  ") for line in lines[1:]), result.stderr
    return [lines[0].removeprefix("tetra: line 1: ")] + [line.strip() for line in lines[1:]]


def _service(tsm, name: str, text: str):
    services = tsm.dir / "tsm" / "services"
    services.mkdir(parents=True, exist_ok=True)
    path = services / f"{name}.toml"
    path.write_text(text)
    return path


def _cmdline(pid: int) -> list[str]:
    return psutil.Process(pid).cmdline()


# -- an edited service definition ---------------------------------------------------

def test_an_edited_toml_is_applied_to_the_errored_process_of_its_service(tsm):
    _service(tsm, "svc", 'command = "sleeep 100"\n')
    failed = _error_lines(tsm("start", "svc", check=False), 1)
    assert failed[0].startswith("tsm start: svc did not start: errored: cannot start 'sleeep'")
    _service(tsm, "svc", 'command = "sleep 100"\n')
    result = tsm("start", "svc")
    pid = tsm.meta("svc")["pid"]
    assert result.stdout.splitlines() == [
        "applied the changed definition of service svc to svc (command)",
        f"started svc (id 0, pid {pid})"]
    assert _cmdline(pid) == ["sleep", "100"] and tsm.meta("svc")["command"] == ["sleep", "100"]


def test_a_running_service_says_it_runs_an_older_definition_until_restarted(tsm):
    _service(tsm, "svc", 'command = "sleep 100"\n')
    tsm("start", "svc")
    old = tsm.meta("svc")["pid"]
    _service(tsm, "svc", 'command = "sleep 101"\n')
    assert _error_lines(tsm("start", "svc", check=False), 1) == [
        "svc is running an older definition of service svc (changed: command)",
        "hint: 'tsm restart svc' applies it"]
    assert tsm.meta("svc")["pid"] == old and _cmdline(old) == ["sleep", "100"]
    result = tsm("restart", "svc")
    new = tsm.meta("svc")["pid"]
    assert result.stdout.splitlines() == [f"restarted svc (id 0, pid {new}, changed: command)"]
    assert _cmdline(new) == ["sleep", "101"]
    assert tsm("restart", "svc").stdout.splitlines() == [  # nothing changed since
        f"restarted svc (id 0, pid {tsm.meta('svc')['pid']})"]


def test_a_changed_port_renames_the_process_keeping_its_id_and_logs(tsm):
    p1, p2 = free_port(), free_port()
    server = f'command = ["{PY}", "-m", "http.server", "{{}}", "--bind", "127.0.0.1"]\n'
    _service(tsm, "api", server.format(p1))
    tsm("start", "api")
    wait_for(lambda: (tsm.processes / f"api-{p1}" / "current.err").stat().st_size > 0
             or (tsm.processes / f"api-{p1}" / "current.out").stat().st_size > 0)
    _service(tsm, "api", server.format(p2))
    result = tsm("restart", "api")
    meta = tsm.meta(f"api-{p2}")
    assert result.stdout.splitlines() == [
        f"restarted api-{p2} (id 0, pid {meta['pid']}, changed: name, command, port)"]
    assert meta["port"] == p2 and meta["tsm_id"] == 0 and meta["service"] == "api"
    assert sorted(os.listdir(tsm.processes)) == [f"api-{p2}"]
    assert (tsm.dir / "tsm" / "ports").read_text() == f"api-{p2}:{p2}\n"
    logs = (tsm.processes / f"api-{p2}" / "current.err").read_text() + \
        (tsm.processes / f"api-{p2}" / "current.out").read_text()
    assert f"port {p1}" in logs  # the first run's line came along
    assert psutil.Process(meta["pid"]).cmdline()[3] == str(p2)


def test_flags_given_to_a_service_start_survive_its_restart(tsm):
    _service(tsm, "jobs", 'command = "sleep 100"\nname = "worker"\nmax_restarts = 7\n')
    tsm("start", "--max-restarts", "3", "jobs")
    assert tsm.meta("worker")["max_restarts"] == 3
    assert tsm.meta("worker")["service_overrides"] == {"max_restarts": 3}
    result = tsm("restart", "jobs")  # the service's name finds its process 'worker'
    assert result.stdout.splitlines() == [f"restarted worker (id 0, pid {tsm.meta('worker')['pid']})"]
    assert tsm.meta("worker")["max_restarts"] == 3


def test_a_broken_toml_leaves_its_running_process_alone_on_restart(tsm):
    path = _service(tsm, "svc", 'command = "sleep 100"\n')
    tsm("start", "svc")
    pid = tsm.meta("svc")["pid"]
    _service(tsm, "svc", 'command = "sleep 100"\nmax_restarts = "lots"\n')
    assert _error_lines(tsm("restart", "svc", check=False), 1) == [
        f"tsm restart: svc: not restarted: {path}: 'max_restarts' must be an integer ≥ 0, "
        "got 'lots'"]
    assert tsm.meta("svc")["pid"] == pid and tsm.meta("svc")["status"] == "online"


# -- every key of a service toml is checked -----------------------------------------

@pytest.mark.parametrize("line, message, hint", [
    ('colour = "blue"', "unknown key 'colour'",
     "hint: known keys: command, name, port, cwd, env, env_file, restart, max_restarts, prehook"),
    ("max_restart = 3", "unknown key 'max_restart' (did you mean 'max_restarts'?)", None),
    ('restart = "sometimes"', "'restart' must be one of always, on-failure, no, got 'sometimes'",
     None),
    ('max_restarts = "lots"', "'max_restarts' must be an integer ≥ 0, got 'lots'", None),
    ("max_restarts = -3", "'max_restarts' must be an integer ≥ 0, got -3", None),
    ("prehook = 5", "'prehook' must be a shell command (a string), got 5",
     'hint: e.g. prehook = "make build"'),
    ("port = true", "'port' must be an integer from 1 to 65535, got true", None),
    ("port = 70000", "'port' must be an integer from 1 to 65535, got 70000", None),
    ("cwd = [1]", "'cwd' must be a directory path (a non-empty string), got a list", None),
    ('env = ""', "'env' must be an env file path (a non-empty string), got ''", None),
])
def test_a_bad_key_in_a_service_toml_names_the_file_and_the_key(tsm, line, message, hint):
    path = _service(tsm, "svc", f'command = "sleep 100"\n{line}\n')
    lines = _error_lines(tsm("start", "svc", check=False), 1)
    assert lines == [f"{path}: {message}"] + ([hint] if hint else [])
    assert not tsm.processes.exists() or os.listdir(tsm.processes) == []


def test_services_lists_a_broken_definition_as_broken(tsm):
    _service(tsm, "good", 'command = "sleep 100"\n')
    _service(tsm, "noisy", 'command = "sleep 100"\ncolour = "blue"\n')
    _service(tsm, "bad name", 'command = "sleep 100"\n')
    (tsm.dir / "tsm" / "services" / "folder.toml").mkdir()
    lines = tsm("services").stdout.splitlines()
    assert [line.split("  ")[0] for line in lines] == ["service", "bad name", "folder", "good",
                                                       "noisy"]
    assert "broken: 'bad name' is not a valid service name" in lines[1]
    assert "broken: not a file" in lines[2]
    assert " sleep 100 " in lines[3] and "broken: unknown key 'colour'" in lines[4]


# -- an empty reference ---------------------------------------------------------------

def test_an_empty_name_or_prefix_is_a_usage_error_that_touches_nothing(tsm):
    tsm("start", "--name", "only", "--", "sleep", "100")
    pid = tsm.meta("only")["pid"]
    for words in (["stop", ""], ["restart", ""], ["delete", ""], ["logs", ""], ["describe", ""],
                  ["stop", " "]):
        assert _error_lines(tsm(*words, check=False), 2) == [
            f"{words[1]!r} names no process",
            "hint: give an id, a name, a unique name prefix, or 'all'"], words
    assert tsm.meta("only")["pid"] == pid and tsm.meta("only")["status"] == "online"
    assert _error_lines(tsm("start", "", check=False), 2)[0] == (
        "tsm start: the command is an empty word")
    assert os.listdir(tsm.processes) == ["only"]


# -- the systemd unit -----------------------------------------------------------------

def test_startup_systemd_has_an_absolute_dir_and_the_callers_path(tsm, tetra, tmp_path):
    (tmp_path / "state 100%").mkdir()
    path = f"/opt/my tools/bin:{os.environ['PATH']}"
    result = tetra("--dir", "state 100%", "tsm", "startup", "systemd", cwd=tmp_path,
                   env={"PATH": path})
    assert result.returncode == 0, result.stderr
    unit = result.stdout.splitlines()
    state = f"{tmp_path}/state 100%%"
    assert f'Environment="TETRA_DIR={state}"' in unit
    assert f'Environment="PATH={path}"' in unit
    assert f'ExecStart={TETRA} --dir "{state}" tsm resurrect' in unit
    assert f'ExecStop={TETRA} --dir "{state}" tsm stop all' in unit
    for line in ("Type=oneshot", "RemainAfterExit=yes", "KillMode=process",
                 "WantedBy=default.target"):
        assert line in unit
    if shutil.which("systemd-analyze"):  # systemd's own parser accepts it
        unit_file = tmp_path / "tetra-tsm.service"
        unit_file.write_text(result.stdout)
        check = subprocess.run(["systemd-analyze", "verify", str(unit_file)],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stderr


# -- damaged meta.json ----------------------------------------------------------------

def test_a_damaged_meta_json_is_skipped_with_one_warning_and_doctor_reports_it(tsm):
    tsm.processes.mkdir(parents=True)
    for name, meta in (("x1", {"tsm_id": 5}), ("x2", {"tsm_id": "7", "name": "x2"})):
        (tsm.processes / name).mkdir()
        (tsm.processes / name / "meta.json").write_text(json.dumps(meta))
    warnings = [f"tetra: warning: skipping {tsm.processes}/x1/meta.json: "
                "no 'name', 'status', 'command'",
                f"tetra: warning: skipping {tsm.processes}/x2/meta.json: "
                "'tsm_id' must be an integer >= 0, got '7'"]
    started = tsm("start", "--name", "ok", "--", "sleep", "100")
    assert started.stderr.splitlines() == warnings
    listed = tsm("ls", "--json")
    assert [row["name"] for row in json.loads(listed.stdout)] == ["ok"]
    assert listed.stderr.splitlines() == warnings
    stopped = tsm("stop", "all")
    assert stopped.stdout.splitlines() == ["stopped ok (id 0)"]
    assert stopped.stderr.splitlines() == warnings
    doctor = tsm("doctor", check=False)
    assert doctor.returncode == 1 and doctor.stderr.splitlines()[0].endswith("2 problems found")
    assert doctor.stdout.splitlines() == [
        f"bad_meta: {tsm.processes}/x1/meta.json: no 'name', 'status', 'command'  -> needs you",
        f"bad_meta: {tsm.processes}/x2/meta.json: 'tsm_id' must be an integer >= 0, got '7'"
        "  -> needs you"]


# -- a file where a directory belongs ------------------------------------------------

def test_a_file_in_place_of_the_runtime_directory_is_a_finding_and_one_clear_line(tsm):
    runtime = tsm.dir / "tsm" / "runtime"
    runtime.parent.mkdir(parents=True)
    runtime.write_text("")
    doctor = tsm("doctor", check=False)
    assert doctor.returncode == 1
    assert doctor.stdout.splitlines() == [
        f"unwritable_dir: {runtime} is not a directory  -> needs you"]
    assert _error_lines(tsm("ls", check=False), 1) == [
        f"cannot read {runtime}/processes: {runtime} is not a directory",
        "hint: 'tsm doctor' checks tsm's directories"]
    assert _error_lines(tsm("start", "--", "sleep", "100", check=False), 1) == [
        f"cannot create {runtime}/processes: {runtime} is not a directory",
        "hint: 'tsm doctor' checks tsm's directories"]


# -- save ---------------------------------------------------------------------------------

def test_save_with_nothing_running_keeps_the_dump_unless_forced(tsm):
    tsm("start", "--name", "worker", "--", "sleep", "100")
    assert tsm("save").stdout.splitlines() == [
        f"saved 1 process to {tsm.dir / 'tsm' / 'dump.json'}"]
    dump = (tsm.dir / "tsm" / "dump.json").read_bytes()
    tsm("stop", "all")
    assert _error_lines(tsm("save", check=False), 1) == [
        f"nothing is running: {tsm.dir / 'tsm' / 'dump.json'} was left as it is",
        "hint: 'tsm resurrect' brings back what it holds; 'tsm save --force' saves an empty list"]
    assert (tsm.dir / "tsm" / "dump.json").read_bytes() == dump
    assert tsm("save", "--force").stdout.splitlines() == [
        f"saved 0 processes to {tsm.dir / 'tsm' / 'dump.json'}"]
    assert json.loads((tsm.dir / "tsm" / "dump.json").read_text())["processes"] == []


def test_save_includes_a_crashed_process_waiting_for_its_restart(tsm, tmp_path):
    flag = tmp_path / "fail-now"
    tsm("start", "--name", "flaky", "--restart", "always", "--",
        "sh", "-c", f"test -e {flag} && exit 3; exec sleep 100")
    flag.touch()
    os.kill(tsm.meta("flaky")["pid"], signal.SIGKILL)  # from now on each run exits at once
    wait_for(lambda: tsm.meta("flaky")["status"] == "crashed"
             and (tsm.meta("flaky")["next_restart_delay"] or 0) >= 0.8)
    assert tsm("save").stdout.splitlines() == [
        f"saved 1 process to {tsm.dir / 'tsm' / 'dump.json'}"]
    dump = json.loads((tsm.dir / "tsm" / "dump.json").read_text())
    assert [p["name"] for p in dump["processes"]] == ["flaky"]


# -- monit into a pipe ---------------------------------------------------------------

def test_monit_in_the_shell_with_stdout_not_a_terminal_prints_one_sample(tsm, tetra_env, tmp_path):
    tsm("start", "--name", "watched", "--", "sleep", "100")
    out = tmp_path / "shell.out"
    env = {**tetra_env, "PROMPT_TOOLKIT_NO_CPR": "1", "TERM": "xterm"}
    child = pexpect.spawn("/bin/sh", ["-c", f'exec "{TETRA}" > "{out}"'], env=env,
                          encoding="utf-8", dimensions=(24, 120), timeout=15)
    try:
        wait_for(lambda: out.exists() and "▸" in out.read_text())
        child.send("tsm monit --interval 0.1\r")
        child.send("echo after-monit\r")
        wait_for(lambda: "after-monit\n" in out.read_text())
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.terminate(force=True)
    text = out.read_text()
    assert text.count("watched") == 1 and "Ctrl-C to leave" not in text
    assert "\x1b[H\x1b[2J" not in text


# -- --env is relative to the caller ---------------------------------------------------

def test_a_relative_env_file_is_relative_to_the_callers_directory(tsm, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "local.env").write_text("GREETING=from-caller\n")
    tsm("start", "--name", "greeter", "--cwd", "sub", "--env", "local.env", "--",
        "sh", "-c", 'echo "$GREETING in $PWD"; exec sleep 100', cwd=tmp_path)
    assert tsm.meta("greeter")["env_file"] == str(tmp_path / "local.env")
    out = tsm.processes / "greeter" / "current.out"
    wait_for(lambda: out.read_text().endswith("\n"))
    assert out.read_text() == f"from-caller in {tmp_path / 'sub'}\n"


def test_a_relative_env_in_a_service_toml_is_relative_to_the_toml(tsm, tmp_path):
    path = _service(tsm, "svc", 'command = "sleep 100"\nenv = "svc.env"\ncwd = "../.."\n')
    (path.parent / "svc.env").write_text("A=1\n")
    tsm("start", "svc", cwd=tmp_path)
    meta = tsm.meta("svc")
    assert meta["env_file"] == str(path.parent / "svc.env") and meta["cwd"] == str(tsm.dir)


# -- a small number is not a port -------------------------------------------------------

def test_a_script_with_a_small_numeric_argument_has_no_port(tsm, tmp_path):
    (tmp_path / "sleeper.py").write_text("import sys, time\ntime.sleep(int(sys.argv[1]))\n")
    result = tsm("start", "--", PY, "sleeper.py", "60", cwd=tmp_path)
    meta = tsm.meta(f"{tmp_path.name}-sleeper")
    assert result.stdout.splitlines() == [
        f"started {tmp_path.name}-sleeper (id 0, pid {meta['pid']})"]
    assert meta["port"] is None and (tsm.dir / "tsm" / "ports").read_text() == ""

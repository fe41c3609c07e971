"""Edges of ssh_config and of the remote command line, against the loopback sshd."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sshworld import host_table, start_tetra

from tetra_repl.connectors.sshconnect import keepalive_timing
from tetra_repl.topology.model import ResolvedHost

pytestmark = pytest.mark.ssh


@pytest.fixture
def world(world, sshd):
    """tests/remote/conftest.py's world, with @one = the loopback sshd."""
    world.write({"one": [host_table("s1", sshd)]})
    return world


def test_a_command_starting_with_a_dash_is_the_remote_shells_not_found(tetra, world):
    r = tetra("-c", "@one --timeout 1 sleep 2")
    assert r.returncode == 1
    assert "exec:" not in r.stderr
    assert "--timeout: " in r.stderr and "not found" in r.stderr
    assert "command not found: --timeout" in r.stderr
    r = tetra("-c", "exec @one -- -n")
    assert r.returncode == 1 and "command not found: -n" in r.stderr


def _config(tmp_path, world, name: str, server, *extra: str) -> str:
    cfg = tmp_path / f"ssh_config_{name}"
    body = "\n".join(f"    {line}" for line in extra)
    cfg.write_text(f"""\
Host {name}
    HostName 127.0.0.1
    Port {server.port}
    User {server.user}
    IdentityFile {world.keys.private}
    UserKnownHostsFile {world.known_hosts}
{body}
""")
    return str(cfg)


def _json_plan(tetra, cfg: str, symbol: str) -> dict:
    r = tetra("--ssh-config", cfg, "-c", f"resolve {symbol} --json")
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


@pytest.mark.parametrize("line", ["ServerAliveInterval 0", "ServerAliveCountMax 0",
                                  "ConnectTimeout 0"])
def test_ssh_config_zeros_mean_tetras_defaults(tetra, world, tmp_path, line):
    cfg = _config(tmp_path, world, "zero", world.sshd, line)
    r = tetra("--ssh-config", cfg, "-c", "@zero echo fine; @zero echo again")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "fine\nagain\n"
    settings = _json_plan(tetra, cfg, "@zero")["hosts"][0]["settings"]
    assert (settings["keepalive_interval"], settings["keepalive_count_max"],
            settings["connect_timeout"]) == (5.0, 3, 10.0)


def test_keepalive_budget_is_capped_at_30_seconds():
    def host(**settings):
        return ResolvedHost("h", "127.0.0.1", 22, "u", "ssh", settings=settings)

    assert keepalive_timing(host()) == (5.0, 15.0)
    assert keepalive_timing(host(keepalive_interval=60.0, keepalive_count_max=3)) == (15.0, 30.0)
    assert keepalive_timing(host(keepalive_interval=10.0, keepalive_count_max=1)) == (5.0, 10.0)
    assert keepalive_timing(host(keepalive_interval=2.0, keepalive_count_max=100)) == (2.0, 30.0)


def test_a_frozen_server_is_reported_within_30s_whatever_ssh_config_says(
        tetra_env, world, sshd_factory, tmp_path):
    server = sshd_factory()
    world.trust(server)
    cfg = _config(tmp_path, world, "slow", server, "ServerAliveInterval 60",
                  "ServerAliveCountMax 3")
    proc = start_tetra({**tetra_env, "TETRA_SSH_CONFIG": cfg},
                       "@slow sh -c 'echo started; sleep 600'")
    try:
        assert proc.stdout.readline() == "started\n"
        assert server.signal_connections(signal.SIGSTOP) > 0
        out, err = proc.communicate(timeout=45)  # a bound on a hang, not a measurement
    finally:
        proc.kill()
        proc.wait()
        server.signal_connections(signal.SIGCONT)
    assert proc.returncode == 1
    assert "slow: connection lost during the command: the server stopped answering" in err
    assert "no reply to keepalive for 30s" in err or "no reply to keepalive for 31s" in err


def test_host_key_alias_on_another_port_is_looked_up_as_written(tetra, world, tmp_path):
    sshd = world.sshd
    known = tmp_path / "aliased_known_hosts"
    cfg = _config(tmp_path, world, "aliased", sshd, "HostKeyAlias myserver")
    Path(cfg).write_text(Path(cfg).read_text().replace(str(world.known_hosts), str(known)))
    known.write_text("")
    r = tetra("--ssh-config", cfg, "-c", "@aliased echo hi")
    assert r.returncode == 1
    assert "unknown host key for myserver (" in r.stderr
    hint = next(line for line in r.stderr.splitlines() if "ssh-keyscan" in line)
    command = hint.split("if that fingerprint is right: ", 1)[1].split("  (or set")[0]
    assert command == (f"ssh-keyscan -p {sshd.port} -t ed25519 127.0.0.1 | sed "
                       f"'s/^[^ ]*/myserver/' >> {known}")
    subprocess.run(["sh", "-c", command], check=True, capture_output=True)
    assert known.read_text().startswith("myserver ssh-ed25519 ")
    r = tetra("--ssh-config", cfg, "-c", "@aliased echo hi")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hi\n"
    plan = _json_plan(tetra, cfg, "@aliased")
    assert plan["levels"][6]["hosts"][0]["known_hosts_name"] == "myserver"


def test_proxy_command_is_shown_and_refused_in_one_line(tetra, world, tmp_path):
    cfg = _config(tmp_path, world, "proxied", world.sshd,
                  "ProxyCommand ssh -W %h:%p bastion")
    r = tetra("--ssh-config", cfg, "-c", "resolve @proxied")
    assert r.returncode == 0, r.stderr
    assert ("  note: proxied: ssh_config ProxyCommand 'ssh -W 127.0.0.1:"
            f"{world.sshd.port} bastion' is not supported; use ProxyJump") in r.stdout
    plan = _json_plan(tetra, cfg, "@proxied")
    assert plan["hosts"][0]["settings"]["proxy_command"] == \
        f"ssh -W 127.0.0.1:{world.sshd.port} bastion"
    r = tetra("--ssh-config", cfg, "-c", "@proxied echo hi")
    assert r.returncode == 1 and r.stdout == ""
    errors = [line for line in r.stderr.splitlines() if not line.lstrip().startswith("hint:")]
    assert errors == ["tetra: line 1: proxied: ssh_config ProxyCommand is not supported; "
                      "use ProxyJump"], r.stderr
    assert "proxy_jump" in r.stderr
    r = tetra("--ssh-config", cfg, "-c", "resolve @proxied --connect")
    assert r.returncode == 1
    assert "FAILED: proxied: ssh_config ProxyCommand is not supported; use ProxyJump" in r.stdout


def test_connection_attempts_is_the_retry_count(tetra, world, tmp_path):
    cfg = _config(tmp_path, world, "tries", world.sshd, "ConnectionAttempts 4")
    assert _json_plan(tetra, cfg, "@tries")["hosts"][0]["settings"]["connect_retries"] == 3
    cfg = _config(tmp_path, world, "none", world.sshd, "ProxyCommand none")
    r = tetra("--ssh-config", cfg, "-c", "@none echo direct")
    assert r.returncode == 0 and r.stdout == "direct\n", r.stderr


def _binary_blob(path: Path) -> bytes:
    data = bytes(range(256)) * 4 + b"\r\n\xff\xfe caf\xe9\n" + os.urandom(300_000) + b"no newline \xe9"
    path.write_bytes(data)
    return data


@pytest.mark.parametrize("target", ["@local", "@one"])
def test_one_hosts_output_in_a_script_is_byte_for_byte(tetra_env, world, tmp_path, target):
    blob = tmp_path / "blob.bin"
    data = _binary_blob(blob)
    tetra_bin = str(Path(sys.executable).with_name("tetra"))
    r = subprocess.run([tetra_bin, "-c", f"{target} cat {blob}"], capture_output=True,
                       env=tetra_env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == data
    r = subprocess.run([tetra_bin, "-c", f"{target} sh -c \"echo before; printf 'caf\\\\351' >&2\""],
                       capture_output=True, env=tetra_env, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"before\n" and r.stderr == b"caf\xe9"


def test_prefixed_output_of_many_hosts_keeps_bytes_that_are_not_utf8(tetra, world, tmp_path):
    world.write({"two": [host_table("a1", world.sshd), host_table("a2", world.sshd)]})
    r = tetra("-c", "@two printf 'caf\\351\\n'")
    assert r.returncode == 0, r.stderr
    assert sorted(line for line in r.stdout.splitlines() if "|" in line) == \
        ["a1 | caf\\xe9", "a2 | caf\\xe9"]


def test_a_closed_reader_of_binary_output_ends_the_script(tetra_env, world, tmp_path):
    blob = tmp_path / "big.bin"
    blob.write_bytes(os.urandom(4_000_000))
    tetra_bin = shlex.quote(str(Path(sys.executable).with_name("tetra")))
    r = subprocess.run(["bash", "-c", f"{tetra_bin} -c '@one cat {blob}; @one echo after' "
                        "| head -c 10 >/dev/null; echo ${PIPESTATUS[0]}"],
                       capture_output=True, text=True, env=tetra_env, timeout=60)
    assert r.stdout == "141\n", r.stderr
    assert "Traceback" not in r.stderr

"""Host entries that are one login on one machine share one SSH connection
(tetra_repl/connectors/ssh.py ``Link``): what sharing must not break, through
`tetra` against the loopback OpenSSH server (tests/sshd.py)."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
from sshworld import alive_with, host_table, start_tetra
from tetra_testing import wait_for

from sshd import silent_listener

pytestmark = pytest.mark.ssh


def _connections(server) -> list:
    """The server's per-connection sshd processes (not what they run)."""
    found = []
    for p in server.children():
        try:
            if p.name().startswith("sshd"):
                found.append(p)
        except psutil.Error:
            pass
    return found


# a statement that waits until the file named after it exists: the test acts meanwhile
_WAIT_FOR = "@local sh -c 'while [ ! -e \"$0\" ]; do sleep 0.02; done' "


@pytest.mark.parametrize("second", ["e1", "e0"])
def test_the_other_entry_reconnects_after_the_shared_connection_is_killed(
        tetra_env, world, sshd_factory, tmp_path, second):
    server = sshd_factory()
    world.trust(server)
    world.write({"box": [host_table("e0", server), host_table("e1", server)]})
    flag = tmp_path / "flag"
    # the kill comes once the first command has ended: while the script waits
    proc = start_tetra(tetra_env, f"@box[e0] echo first; @local echo waiting; {_WAIT_FOR}{flag}; "
                             f"@box[{second}] echo second; put @box[{second}] {flag} {tmp_path}/sent")
    try:
        assert proc.stdout.readline() == "first\n"
        assert proc.stdout.readline() == "waiting\n"
        wait_for(lambda: _connections(server))
        assert server.signal_connections(signal.SIGKILL) > 0
        wait_for(lambda: not _connections(server))
        flag.touch()
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    # the same for the entry whose connection it was and for the one sharing it
    assert proc.returncode == 0, err
    assert out.startswith("second\n"), out
    assert (tmp_path / "sent").exists()
    assert "connection lost" not in err


def test_a_frozen_server_is_reported_for_every_entry_sharing_its_connection(
        tetra_env, world, sshd_factory):
    server = sshd_factory()
    world.trust(server)
    names = ["f1", "f2", "f3"]
    world.write({"frozen": [host_table(n, server) for n in names]},
                defaults={"keepalive_interval": 1.0, "keepalive_count_max": 3})
    proc = start_tetra(tetra_env, "@frozen sh -c 'echo started; sleep 600'")
    try:
        seen = {proc.stdout.readline().split(" | ")[0] for _ in names}
        assert seen == set(names)
        assert server.signal_connections(signal.SIGSTOP) > 0
        out, err = proc.communicate(timeout=30)  # not a hang: the keepalive budget ends it
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "-- 3 hosts: 0 ok, 3 failed" in out
    for n in names:
        assert any(line.split()[:2] == [n, "FAILED"] and "connection lost during the command: "
                   "the server stopped answering" in line for line in out.splitlines()), out


def test_put_and_get_on_four_entries_of_one_machine(tetra, world, tmp_path):
    names = [f"e{i}" for i in range(4)]
    world.write({"four": [host_table(n, world.sshd) for n in names]})
    src = tmp_path / "payload.bin"
    src.write_bytes(os.urandom(2 * 1024 * 1024 + 7))
    other = tmp_path / "other.bin"
    other.write_bytes(os.urandom(1024 * 1024 + 3))
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "existing.bin").write_bytes(other.read_bytes())
    r = tetra("-c", f"put @four {src} {remote}/; get @four {remote}/payload.bin '{tmp_path}/a/{{host}}'",
              timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("-- 4 hosts: 4 ok, 0 failed") == 2
    assert (remote / "payload.bin").read_bytes() == src.read_bytes()
    for n in names:
        assert (tmp_path / "a" / n).read_bytes() == src.read_bytes()
    # a put and a get running at once, as background jobs, on the same connection
    r = tetra("-c", f"put @four {src} {remote}/again.bin &\n"
                    f"get @four {remote}/existing.bin '{tmp_path}/b/{{host}}' &\nwait", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert (remote / "again.bin").read_bytes() == src.read_bytes()
    for n in names:
        assert (tmp_path / "b" / n).read_bytes() == other.read_bytes()
    assert sorted(p.name for p in remote.iterdir()) == ["again.bin", "existing.bin", "payload.bin"]
    digest = hashlib.sha256(other.read_bytes()).hexdigest()[:16]
    assert r.stdout.count(f"sha256 {digest}") == 4


def test_proxy_jump_when_the_jump_and_the_targets_share_logins(tetra, world, sshd_factory):
    jump = sshd_factory(log_level="DEBUG1")
    world.trust(jump)
    world.write({"bastion": [host_table("b1", jump)],
                 "jumpers": [host_table("b2", jump), host_table("b3", jump)],
                 "inside": [host_table("i1", world.sshd, proxy_jump="bastion"),
                            host_table("i2", world.sshd, proxy_jump="bastion")]},
                defaults={"parallel": 10})
    pid = "sh -c 'echo $PPID'"
    r = tetra("-c", f"@inside {pid}; @jumpers {pid}; @bastion {pid}", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    parents = {}
    for line in r.stdout.splitlines():
        if " | " in line:
            name, ppid = line.split(" | ")
            parents[name.strip()] = ppid
    single = [line for line in r.stdout.splitlines() if line.isdigit()]
    parents["b1"] = single[-1]
    assert parents["i1"] == parents["i2"]  # one connection through the jump
    assert parents["b1"] == parents["b2"] == parents["b3"]  # the jump's own login is shared too
    assert jump.log.read_text().count("direct-tcpip") >= 1
    # the jump carrying commands and a tunnel at once
    r = tetra("-c", "@inside sh -c 'sleep 0.3; echo in' &\n@jumpers sh -c 'sleep 0.3; echo out' &\n"
                    "@bastion echo b &\nwait", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    for expected in ("i1 | in", "i2 | in", "b2 | out", "b3 | out"):
        assert expected in r.stdout


def test_timeout_on_twelve_entries_under_max_sessions_ends_every_command(
        tetra, world, sshd_factory):
    server = sshd_factory(max_sessions=10)
    world.trust(server)
    world.write({"box": [host_table(f"i{i:02d}", server) for i in range(12)]},
                defaults={"parallel": 12})
    marker = f"{server.port}.5"
    r = tetra("-c", f"exec @box --timeout 1 -- sleep {marker}", timeout=30)
    assert r.returncode == 1
    assert "-- 12 hosts: 0 ok, 12 failed" in r.stdout
    failed = [line for line in r.stdout.splitlines() if "FAILED" in line]
    assert len(failed) == 12 and all("timed out after 1s" in line for line in failed), r.stdout
    assert "could not end" not in r.stdout + r.stderr
    deadline = time.monotonic() + 3
    while alive_with(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive_with(f"sleep {marker}") == []
    # the connection is fine afterwards: every session was given back
    r = tetra("--keep-going", "-c", f"exec @box --timeout 1 -- sleep {marker}; @box true",
              timeout=30)
    assert r.stdout.count("-- 12 hosts: 12 ok, 0 failed") == 1, r.stdout + r.stderr


def test_accept_new_on_entries_sharing_a_connection_records_and_says_it_once(tetra, world):
    world.known_hosts.write_text("")
    world.write({"three": [host_table(n, world.sshd) for n in ("a1", "a2", "a3")]},
                defaults={"host_key_policy": "accept-new"})
    r = tetra("-c", "resolve @three --connect; @three true")
    assert r.returncode == 0, r.stdout + r.stderr
    assert world.known_hosts.read_text() == world.sshd.host_key_line
    assert (r.stdout + r.stderr).count("recorded ssh-ed25519") == 1, r.stdout + r.stderr
    assert f"in {world.known_hosts}" in r.stdout + r.stderr
    assert r.stdout.count("  ssh  ok ") == 3


def test_a_silent_machine_with_several_entries_fails_as_fast_as_one(tetra, world):
    with silent_listener() as (port, accepted):
        world.write({"mute": [f'{{ name = "m{i}", host = "127.0.0.1", port = {port} }}'
                              for i in range(6)]},
                    defaults={"connect_timeout": 0.5, "connect_retries": 1, "parallel": 6})
        r = tetra("-c", "@mute true", timeout=60)
    assert r.returncode == 1
    assert "-- 6 hosts: 0 ok, 6 failed" in r.stdout
    for i in range(6):
        assert f"m{i}  FAILED" in r.stdout and (f"cannot connect to 127.0.0.1:{port}: timed out "
                                                 "after 0.5s") in r.stdout
    # one entry alone makes two attempts; the six share them, not make twelve
    assert len(accepted) == 2, len(accepted)


def test_a_failed_connection_attempt_is_retried_by_the_next_statement(tetra, world, sshd_factory):
    server = sshd_factory()
    world.known_hosts.write_text("")  # unknown host key: every entry waits on one refused attempt
    world.write({"box": [host_table(f"k{i}", server) for i in range(4)]})
    r = tetra("--keep-going", "-c", f"@box true; @local sh -c 'cat {server.host_key}.pub "
                                    f"| sed \"s/^/[127.0.0.1]:{server.port} /\" >> {world.known_hosts}'; "
                                    "@box true")
    assert "-- 4 hosts: 0 ok, 4 failed" in r.stdout, r.stdout + r.stderr
    for i in range(4):  # each entry's failure names that entry
        assert f"   k{i}  FAILED           unknown host key for [127.0.0.1]:{server.port}" in r.stdout
    assert "-- 4 hosts: 4 ok, 0 failed" in r.stdout, r.stdout + r.stderr


def test_a_connection_killed_under_many_commands_is_lost_for_each_then_comes_back(
        tetra_env, world, sshd_factory, tmp_path):
    # 12 entries, sshd's default MaxSessions: 8 commands run, 4 wait for a session
    server = sshd_factory(max_sessions=10)
    world.trust(server)
    world.write({"box": [host_table(f"i{i:02d}", server) for i in range(12)]},
                defaults={"parallel": 12})
    flag = tmp_path / "flag"
    marker = f"{server.port}.25"
    proc = start_tetra(tetra_env, f"exec @box -- sh -c 'echo started; sleep {marker}'; "
                             f"{_WAIT_FOR}{flag}; @box echo back")
    try:
        assert "started" in proc.stdout.readline()
        wait_for(lambda: len([p for p in alive_with(f"sleep {marker}")
                              if p.name() == "sleep"]) >= 8)
        assert server.signal_connections(signal.SIGKILL) > 0
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        for p in alive_with(f"sleep {marker}"):  # the commands outlive their connection
            try:
                p.kill()
            except psutil.Error:
                pass
    assert proc.returncode == 1
    assert "-- 12 hosts: 0 ok, 12 failed" in out
    failed = [line for line in out.splitlines() if "FAILED" in line]
    assert len(failed) == 12 and all("connection lost during the command" in line
                                     for line in failed), out
    assert "-1" not in out + err
    # the script stopped there; a new run on the same machine is fine
    flag.touch()
    r = subprocess.run([str(Path(sys.executable).with_name("tetra")), "-c", "@box echo back"],
                       capture_output=True, text=True, env=tetra_env, timeout=30)
    assert "-- 12 hosts: 12 ok, 0 failed" in r.stdout, r.stdout + r.stderr


def test_timeouts_on_a_frozen_shared_connection_end_within_the_keepalive_budget(
        tetra_env, world, sshd_factory):
    server = sshd_factory(max_sessions=10)
    world.trust(server)
    world.write({"box": [host_table(f"i{i:02d}", server) for i in range(12)]},
                defaults={"parallel": 12, "keepalive_interval": 1.0, "keepalive_count_max": 3})
    proc = start_tetra(tetra_env, "exec @box --timeout 1.5 -- sh -c 'echo started; sleep 600'")
    try:
        for _ in range(8):
            assert "started" in proc.stdout.readline()
        assert server.signal_connections(signal.SIGSTOP) > 0
        out, err = proc.communicate(timeout=30)  # not a hang: timeouts and keepalive end it
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "-- 12 hosts: 0 ok, 12 failed" in out, out + err
    failed = [line for line in out.splitlines() if "FAILED" in line]
    assert len(failed) == 12 and all("timed out after 1.5s" in line or "connection lost" in line
                                     for line in failed), out


def test_quick_commands_queued_on_a_full_connection_are_never_refused(tetra, world, sshd_factory):
    # sshd frees an ended session's slot a moment after its close: a queued
    # command that takes the slot at once must not be refused for it
    server = sshd_factory(max_sessions=10)
    world.trust(server)
    world.write({"box": [host_table(f"i{i:02d}", server) for i in range(12)]},
                defaults={"parallel": 12})
    for _ in range(4):
        r = tetra("-c", "@box true; @box true; @box true; @box true", timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        assert r.stdout.count("-- 12 hosts: 12 ok, 0 failed") == 4

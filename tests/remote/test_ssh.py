"""SSH against a real OpenSSH server on 127.0.0.1 (tests/sshd.py), through `tetra`."""

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

from sshd import free_port, silent_listener

pytestmark = pytest.mark.ssh


@pytest.fixture
def world(world, sshd):
    """tests/remote/conftest.py's world, with @one = the loopback sshd."""
    world.write({"one": [host_table("s1", sshd)]})
    return world


def _kill_all(procs) -> None:
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass


def test_exec_runs_on_the_host_and_returns_its_status(tetra, world):
    r = tetra("-c", "@one sh -c 'echo out; echo err >&2; exit 3'")
    assert r.stdout == "out\n"
    assert "err" in r.stderr and "exit status 3" in r.stderr
    assert r.returncode == 1
    r = tetra("-c", "exec @one -- sh -c 'echo $SSH_CONNECTION'")
    assert r.returncode == 0 and f" {world.sshd.port}" in r.stdout


def test_hostile_arguments_arrive_intact_and_run_nothing(tetra, world, tmp_path):
    pwned = tmp_path / "pwned"
    words = ["a b", "it's", 'say "hi"', "x;touch " + str(pwned), f"$(touch {pwned})",
             f"`touch {pwned}`", "*", "-n", "back\\slash", "$HOME"]
    tetra_words = " ".join("'" + w.replace("'", "") + "'" if "'" not in w else '"' + w + '"'
                           for w in words)
    r = tetra("-c", f"@one printf '[%s]\\n' {tetra_words}")
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [f"[{w}]" for w in words]
    assert not pwned.exists()


def test_several_statements_share_one_pooled_connection(tetra, world):
    r = tetra("-c", "@one true; @one true; @one true; @one true")
    assert r.returncode == 0, r.stderr
    # the loopback sshd logged nothing at ERROR; count connections from its children instead
    r = tetra("-c", "@one sh -c 'echo $PPID'; @one sh -c 'echo $PPID'")
    parents = r.stdout.split()
    assert len(parents) == 2 and parents[0] == parents[1]  # same sshd session process


def test_fan_out_over_twelve_host_entries(tetra, world):
    names = [f"h{i:02d}" for i in range(12)]
    world.write({"fleet": [host_table(n, world.sshd) for n in names]},
                defaults={"parallel": 5})
    r = tetra("-c", "@fleet echo up")
    assert r.returncode == 0, r.stderr
    assert sorted(l for l in r.stdout.splitlines() if l.endswith("| up")) == \
        [f"{n} | up" for n in names]
    assert "-- 12 hosts: 12 ok, 0 failed" in r.stdout
    for n in names:
        assert any(l.split() [:2] == [n, "ok"] for l in r.stdout.splitlines())


def test_entries_of_one_login_share_a_connection_within_max_sessions(tetra, world, sshd_factory):
    # sshd's own default MaxSessions: 12 commands at once on one connection
    # must queue for sessions, not be refused
    server = sshd_factory(max_sessions=10)
    world.trust(server)
    names = [f"i{i:02d}" for i in range(12)]
    world.write({"box": [host_table(n, server) for n in names],
                 "other": [host_table("o1", server, identities_only=True)]},
                defaults={"parallel": 12})
    r = tetra("-c", "@box sh -c 'sleep 0.3; echo $PPID'", timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "-- 12 hosts: 12 ok, 0 failed" in r.stdout
    parents = {line.split(" | ")[1] for line in r.stdout.splitlines() if " | " in line}
    assert len(parents) == 1  # one sshd session process: one connection
    # a different login setting is a different connection
    r = tetra("-c", "@box[0] sh -c 'echo $PPID'; @other sh -c 'echo $PPID'")
    assert r.returncode == 0, r.stderr
    first, second = r.stdout.split()
    assert first != second


def test_fan_out_with_a_dead_host_reports_it_and_fails(tetra, world):
    dead = free_port()
    world.write({"mixed": [host_table("good", world.sshd),
                           f'{{ name = "dead", host = "127.0.0.1", port = {dead} }}']})
    r = tetra("-c", "@mixed echo alive")
    assert r.returncode == 1
    assert "good | alive" in r.stdout
    assert "-- 2 hosts: 1 ok, 1 failed" in r.stdout
    assert "dead" in r.stdout and "connection refused" in r.stdout


def test_refused_port_fails_after_retries_with_a_clear_message(tetra, world):
    port = free_port()
    world.write({"gone": [f'{{ name = "gone-1", host = "127.0.0.1", port = {port} }}']},
                defaults={"connect_retries": 2})
    r = tetra("-c", "@gone true", timeout=30)
    assert r.returncode == 1
    assert f"gone-1: cannot connect to 127.0.0.1:{port}: connection refused (3 attempts" in r.stderr
    assert "hint: is sshd listening" in r.stderr
    assert "Traceback" not in r.stderr


def test_command_timeout_ends_the_command_on_the_server(tetra, world):
    marker = f"{world.sshd.port}.5"
    r = tetra("-c", f"exec @one --timeout 1 -- sh -c 'sleep {marker} & sleep {marker}; echo never'")
    assert r.returncode == 1
    assert "s1: timed out after 1s; the command was ended on the host" in r.stderr
    assert "never" not in r.stdout
    assert alive_with(f"sleep {marker}") == []


def test_remote_command_not_found(tetra, world):
    r = tetra("-c", "@one no-such-command-xyz --flag")
    assert r.returncode == 1
    assert "s1: command not found: no-such-command-xyz" in r.stderr


def test_unknown_host_key_is_refused_with_the_command_that_trusts_it(tetra, world):
    world.known_hosts.write_text("")
    r = tetra("-c", "@one true")
    assert r.returncode == 1
    assert f"s1: unknown host key for [127.0.0.1]:{world.sshd.port} (ssh-ed25519 SHA256:" in r.stderr
    assert f"ssh-keyscan -p {world.sshd.port} -t ed25519 127.0.0.1 >> {world.known_hosts}" in r.stderr
    assert world.known_hosts.read_text() == ""


def test_accept_new_records_the_key_once(tetra, world):
    world.known_hosts.write_text("")
    world.write({"one": [host_table("s1", world.sshd), host_table("s2", world.sshd)]},
                defaults={"host_key_policy": "accept-new"})
    r = tetra("-c", "@one true; @one true")
    assert r.returncode == 0, r.stderr
    assert world.known_hosts.read_text() == world.sshd.host_key_line
    assert "recorded ssh-ed25519 SHA256:" in r.stderr
    assert f"for [127.0.0.1]:{world.sshd.port} in {world.known_hosts}" in r.stderr


def test_accept_new_says_so_for_a_jump_hosts_key_too(tetra, world, sshd_factory):
    """A jump host's new key is recorded with a note as a direct host's is,
    never silently."""
    jump = sshd_factory()
    world.known_hosts.write_text(world.sshd.host_key_line)  # the target is known, the jump is not
    world.write({"bastion": [host_table("b1", jump)],
                 "inside": [host_table("i1", world.sshd, proxy_jump="bastion")]},
                defaults={"host_key_policy": "accept-new"})
    r = tetra("-c", "@inside echo hidden")
    assert r.returncode == 0, r.stderr
    assert jump.host_key_line in world.known_hosts.read_text()
    assert ("i1: jump host b1: recorded ssh-ed25519 SHA256:" in r.stderr
            and f"for [127.0.0.1]:{jump.port} in {world.known_hosts}" in r.stderr), r.stderr


def test_changed_host_key_is_refused_even_with_accept_new(tetra, world, tmp_path):
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, blob = (tmp_path / "other_key.pub").read_text().split()[:2]
    world.known_hosts.write_text(f"# old\n[127.0.0.1]:{world.sshd.port} {kind} {blob}\n")
    world.write({"one": [host_table("s1", world.sshd)]}, defaults={"host_key_policy": "accept-new"})
    r = tetra("-c", "@one true")
    assert r.returncode == 1
    assert f"HOST KEY CHANGED for [127.0.0.1]:{world.sshd.port}: {world.known_hosts}:2" in r.stderr
    assert f"ssh-keygen -R '[127.0.0.1]:{world.sshd.port}' -f {world.known_hosts}" in r.stderr


def test_authentication_failure_is_not_retried_and_says_so(tetra, world, tmp_path):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    world.write({"one": [host_table("s1", world.sshd)]},
                defaults={"identity_file": str(stranger), "connect_retries": 3})
    r = tetra("-c", "@one true")
    assert r.returncode == 1
    assert f"s1: authentication failed for {world.sshd.user}@127.0.0.1:{world.sshd.port}" in r.stderr
    assert "attempts" not in r.stderr


def test_put_then_get_of_a_large_file_round_trips(tetra, world, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(24 * 1024 * 1024 + 123))
    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()
    back = tmp_path / "back.bin"
    r = tetra("-c", f"put @one {src} {remote_dir}/; get @one {remote_dir}/big.bin {back}")
    assert r.returncode == 0, r.stderr
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert hashlib.sha256((remote_dir / "big.bin").read_bytes()).hexdigest() == digest
    assert hashlib.sha256(back.read_bytes()).hexdigest() == digest
    assert r.stdout.count(f"sha256 {digest[:16]}") == 2
    assert [p.name for p in remote_dir.iterdir()] == ["big.bin"]  # no temp file left


def test_get_of_a_missing_remote_file_and_put_to_a_missing_directory(tetra, world, tmp_path):
    r = tetra("-c", f"get @one {tmp_path}/absent.txt {tmp_path}/x")
    assert r.returncode == 1 and f"get: s1: no such remote file: {tmp_path}/absent.txt" in r.stderr
    (tmp_path / "f").write_text("x")
    r = tetra("-c", f"put @one {tmp_path}/f {tmp_path}/no/such/dir/f")
    assert r.returncode == 1 and f"put: s1: no such directory: {tmp_path}/no/such/dir" in r.stderr


def test_proxy_jump_from_ssh_config(tetra, world, sshd_factory, tmp_path, ssh_keys):
    jump = sshd_factory(log_level="DEBUG1")
    world.trust(jump)
    cfg = tmp_path / "ssh_config"
    cfg.write_text(f"""\
Host jumpbox
    HostName 127.0.0.1
    Port {jump.port}
    User {jump.user}
    IdentityFile {ssh_keys.private}
    UserKnownHostsFile {world.known_hosts}

Host inner
    HostName 127.0.0.1
    Port {world.sshd.port}
    User {world.sshd.user}
    IdentityFile {ssh_keys.private}
    UserKnownHostsFile {world.known_hosts}
    ProxyJump jumpbox
""")
    r = tetra("--ssh-config", str(cfg), "-c", "resolve @inner; @inner echo through")
    assert r.returncode == 0, r.stderr
    assert f"via {jump.user}@127.0.0.1:{jump.port}" in r.stdout
    assert r.stdout.rstrip().endswith("through")
    assert f"port {world.sshd.port}" in jump.log.read_text()  # the jump opened the tunnel
    assert "direct-tcpip" in jump.log.read_text()


def test_resolve_connect_checks_every_host(tetra, world):
    r = tetra("-c", "resolve @one --connect")
    assert r.returncode == 0, r.stderr
    assert "7  connector  s1  ssh  ok" in r.stdout and "OpenSSH" in r.stdout


def test_frozen_server_is_reported_within_the_keepalive_budget(tetra_env, world, sshd_factory):
    server = sshd_factory()
    world.trust(server)
    world.write({"frozen": [host_table("f1", server)]},
                defaults={"keepalive_interval": 1.0, "keepalive_count_max": 3})
    proc = start_tetra(tetra_env, "@frozen sh -c 'echo started; sleep 600'")
    try:
        assert proc.stdout.readline() == "started\n"
        assert server.signal_connections(signal.SIGSTOP) > 0
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert "f1: connection lost during the command: the server stopped answering" in err
    assert "keepalive" in err


def test_dropped_connection_is_reported_as_lost_not_as_an_exit_status(tetra_env, world,
                                                                      sshd_factory):
    server = sshd_factory()
    world.trust(server)
    world.write({"drop": [host_table("d1", server)]})
    proc = start_tetra(tetra_env, "@drop sh -c 'echo started; sleep 600'")
    tree = []
    try:
        assert proc.stdout.readline() == "started\n"
        tree = server.children()
        server.signal_connections(signal.SIGKILL)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
        _kill_all(tree)
    assert proc.returncode == 1
    assert "tetra: line 1: d1: connection lost during the command" in err  # named once
    assert "-1" not in err


def test_ctrl_c_cancels_and_ends_the_remote_command(tetra_env, world):
    marker = f"{world.sshd.port}.75"
    proc = start_tetra(tetra_env, f"@one sh -c 'echo started; sleep {marker}'")
    try:
        assert proc.stdout.readline() == "started\n"
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "interrupted" in err
    deadline = time.monotonic() + 5
    while alive_with(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive_with(f"sleep {marker}") == []


def test_ctrl_c_ends_every_command_on_a_shared_connection(tetra_env, world, sshd_factory):
    # 12 entries, one connection, sshd's default MaxSessions: eight commands
    # run, four wait; Ctrl-C must end the running ones and start no others
    server = sshd_factory(max_sessions=10)
    world.trust(server)
    world.write({"box": [host_table(f"i{i:02d}", server) for i in range(12)]},
                defaults={"parallel": 12})
    marker = f"{server.port}.25"
    proc = start_tetra(tetra_env, f"@box sh -c 'echo started; sleep {marker}'")
    try:
        assert "started" in proc.stdout.readline()
        deadline = time.monotonic() + 10
        while len(alive_with(f"sleep {marker}")) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 130
    assert "could not end" not in out + err
    deadline = time.monotonic() + 5
    while alive_with(f"sleep {marker}") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert alive_with(f"sleep {marker}") == []


def test_transfer_shows_progress_on_a_terminal(tetra_env, world, tmp_path):
    import pexpect

    src = tmp_path / "p.bin"
    src.write_bytes(os.urandom(8 * 1024 * 1024))
    tetra = str(Path(sys.executable).with_name("tetra"))
    child = pexpect.spawn(tetra, ["-c", f"put @one {src} {tmp_path}/q.bin"], env=tetra_env,
                          encoding="utf-8", timeout=30)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert "put p.bin: 100.0%  8.4 MB/8.4 MB" in child.before
    assert "MB/s  ETA 0:00" in child.before


def test_transfer_prints_no_progress_when_not_a_terminal(tetra, world, tmp_path):
    (tmp_path / "small").write_text("hello\n")
    r = tetra("-c", f"put @one {tmp_path}/small {tmp_path}/small2")
    assert r.returncode == 0, r.stderr
    assert "ETA" not in r.stderr and "\r" not in r.stderr
    assert (tmp_path / "small2").read_text() == "hello\n"


@pytest.fixture
def agent(tmp_path, ssh_keys):
    sock = tmp_path / "agent.sock"
    proc = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        subprocess.run(["ssh-add", "-q", str(ssh_keys.private)], check=True,
                       env={**os.environ, "SSH_AUTH_SOCK": str(sock)}, capture_output=True)
        yield sock
    finally:
        proc.kill()
        proc.wait()


def test_ssh_agent_keys_authenticate(tetra, world, agent):
    world.write({"one": [host_table("s1", world.sshd)]}, defaults={"identity_file": []})
    r = tetra("-c", "@one echo agent-ok; resolve @one", env={"SSH_AUTH_SOCK": str(agent)})
    assert r.returncode == 0, r.stderr
    assert "agent-ok" in r.stdout and "; agent" in r.stdout
    r = tetra("-c", "@one true", env={"SSH_AUTH_SOCK": ""})
    assert r.returncode == 1
    assert f"s1: no key to offer {world.sshd.user}@127.0.0.1" in r.stderr


def test_a_server_that_never_speaks_times_out_while_connecting(tetra, world):
    with silent_listener() as (port, _):
        world.write({"mute": [f'{{ name = "m1", host = "127.0.0.1", port = {port} }}']},
                    defaults={"connect_timeout": 0.5, "connect_retries": 1})
        r = tetra("-c", "@mute true", timeout=30)
    assert r.returncode == 1
    assert (f"m1: cannot connect to 127.0.0.1:{port}: timed out after 0.5s waiting for the SSH "
            "handshake (2 attempts") in r.stderr


def test_ctrl_c_while_connecting_ends_the_attempt_and_the_retries(tetra_env, world):
    """Ctrl-C during the handshake with a silent server: no further attempt is
    made (the listener counts them), and the run ends interrupted (130)."""
    import signal
    import subprocess

    from tetra_testing import TETRA, wait_for

    with silent_listener() as (port, accepted):
        world.write({"mute": [f'{{ name = "m1", host = "127.0.0.1", port = {port} }}']},
                    defaults={"connect_timeout": 3, "connect_retries": 3})
        proc = subprocess.Popen([TETRA, "-c", "@mute true"], env=tetra_env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: accepted)  # the first attempt is under way
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
        finally:
            proc.kill()
        assert proc.returncode == 130, err
        assert len(accepted) == 1
    assert "interrupted" in err and "Traceback" not in err


def test_ctrl_c_ends_a_tcp_connect_to_a_host_that_drops_syn_packets(tetra_env, world):
    """A full listen backlog drops SYN packets, as a firewall would: the TCP
    connect waits; Ctrl-C ends it then, not after connect_timeout (60 s)."""
    import signal
    import socket
    import subprocess

    from tetra_testing import TETRA, wait_for

    def syn_sent(port: int, besides: set[int]) -> bool:
        """A connect to ``port`` from a local port not in ``besides`` awaits an answer."""
        with open("/proc/net/tcp") as f:
            rows = [line.split() for line in list(f)[1:]]
        return any(r[2].endswith(f":{port:04X}") and r[3] == "02"
                   and int(r[1].rsplit(":", 1)[1], 16) not in besides for r in rows)

    with socket.socket() as full:
        full.bind(("127.0.0.1", 0))
        full.listen(0)
        port = full.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        try:
            for c in fillers:
                c.setblocking(False)
                c.connect_ex(("127.0.0.1", port))
            world.write({"black": [f'{{ name = "h1", host = "127.0.0.1", port = {port} }}']},
                        defaults={"connect_timeout": 60, "connect_retries": 0})
            proc = subprocess.Popen([TETRA, "-c", "@black true"], env=tetra_env,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                ours = {c.getsockname()[1] for c in fillers}
                wait_for(lambda: syn_sent(port, ours))
                proc.send_signal(signal.SIGINT)
                _, err = proc.communicate(timeout=20)  # far less than the connect timeout
            finally:
                proc.kill()
        finally:
            for c in fillers:
                c.close()
    assert proc.returncode == 130, err
    assert "interrupted" in err and "Traceback" not in err


def test_proxy_jump_through_a_topology_target(tetra, world, sshd_factory):
    jump = sshd_factory(log_level="DEBUG1")
    world.trust(jump)
    world.write({"bastion": [host_table("b1", jump)],
                 "inside": [host_table("i1", world.sshd, proxy_jump="bastion"),
                            host_table("i2", world.sshd, proxy_jump="bastion")]})
    r = tetra("-c", "@inside echo hidden")
    assert r.returncode == 0, r.stderr
    assert "i1 | hidden" in r.stdout and "i2 | hidden" in r.stdout
    assert jump.log.read_text().count("direct-tcpip") >= 2


def test_an_unreachable_jump_host_is_named_with_its_own_hint_and_retries(tetra, world):
    world.write({"bastion": ['{ name = "b1", host = "127.0.0.1", port = 1 }'],
                 "inside": [host_table("i1", world.sshd, proxy_jump="bastion")]})
    r = tetra("-c", "@inside true")
    assert r.returncode == 1
    line = next(l for l in r.stderr.splitlines() if l.startswith("tetra: line 1:"))
    assert line == (f"tetra: line 1: i1: cannot reach 127.0.0.1:{world.sshd.port} via the jump host: "
                    + line.split("via the jump host: ", 1)[1])
    assert "b1: cannot connect to 127.0.0.1:1: connection refused (2 attempts" in line
    assert line.count("attempts") == 1  # the jump host's retries, not retried again around them
    assert "is sshd listening on 127.0.0.1:1?" in r.stderr


def test_fan_out_options_json_and_parallel_one(tetra, world):
    names = ["a1", "a2", "a3"]
    world.write({"three": [host_table(n, world.sshd) for n in names]})
    r = tetra("-c", "exec @three --parallel 1 -- sh -c 'echo one; sleep 0.05; echo two'")
    assert r.returncode == 0, r.stderr
    body = [l for l in r.stdout.splitlines() if " | " in l]
    assert body == [f"{n} | {w}" for n in names for w in ("one", "two")]  # one host at a time
    r = tetra("--json", "-c", "@three[a2] sh -c 'echo out; exit 4'")
    import json

    data = json.loads(r.stdout)
    assert r.returncode == 1
    assert data["hosts"]["a2"] == {"ok": False, "exit_status": 4, "stdout": "out\n", "stderr": "",
                                   "error": None, "duration_s": data["hosts"]["a2"]["duration_s"]}


def test_get_from_several_hosts_names_files_by_host(tetra, world, tmp_path):
    world.write({"pair": [host_table("p1", world.sshd), host_table("p2", world.sshd)]})
    (tmp_path / "src.txt").write_text("same on both\n")
    r = tetra("-c", f"get @pair {tmp_path}/src.txt '{tmp_path}/out/{{host}}.txt'")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "p1.txt").read_text() == "same on both\n"
    assert (tmp_path / "out" / "p2.txt").read_text() == "same on both\n"
    assert "-- 2 hosts: 2 ok, 0 failed" in r.stdout
    r = tetra("-c", f"get @pair {tmp_path}/src.txt {tmp_path}/flat.txt")
    assert r.returncode == 2 and "LOCAL must contain {host}" in r.stderr


def test_remote_command_gets_no_stdin(tetra, world):
    r = tetra("-c", "@one cat; @one sh -c 'read line || echo eof'", input="typed\n", timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "eof\n"


def test_put_to_one_path_from_several_entries_of_one_machine(tetra, world, tmp_path):
    world.write({"same": [host_table(f"e{i}", world.sshd) for i in range(4)]})
    src = tmp_path / "payload"
    src.write_bytes(os.urandom(3 * 1024 * 1024))
    r = tetra("-c", f"put @same {src} {tmp_path}/landed")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "landed").read_bytes() == src.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "landed", "payload", "tetra-state"]


def test_ctrl_c_in_the_interactive_shell_ends_the_remote_command(tetra_env, world):
    import pexpect

    marker = f"{world.sshd.port}.25"
    tetra = str(Path(sys.executable).with_name("tetra"))
    shell = pexpect.spawn(tetra, env=tetra_env, encoding="utf-8", timeout=30,
                          dimensions=(40, 200))
    shell.logfile_read = open(os.environ.get("TETRA_PEXPECT_LOG", os.devnull), "w")
    try:
        shell.expect("tetra")
        shell.sendline(f"@one sh -c 'echo go-$((1+1)); sleep {marker}'")
        shell.expect("go-2")  # the output, not the echo of the typed line
        assert alive_with(f"sleep {marker}")
        shell.sendintr()
        shell.expect("interrupted")
        deadline = time.monotonic() + 5
        while alive_with(f"sleep {marker}") and time.monotonic() < deadline:
            time.sleep(0.1)
        assert alive_with(f"sleep {marker}") == []
        shell.sendline("@one sh -c 'echo still-$((2+3))'")  # the shell and connection live on
        shell.expect("still-5")
        shell.sendline("exit")
        shell.expect(pexpect.EOF)
    finally:
        shell.close(force=True)


def test_resolve_connect_reports_a_failing_host_with_its_hint(tetra, world):
    world.known_hosts.write_text("")
    r = tetra("-c", "resolve @one --connect")
    assert r.returncode == 1
    assert "7  connector  s1  ssh  FAILED: s1: unknown host key" in r.stdout
    assert "hint: if that fingerprint is right: ssh-keyscan" in r.stdout


def test_ctrl_c_during_an_upload_stops_it_and_leaves_no_partial_file(tetra_env, world, tmp_path):
    src = tmp_path / "sparse.bin"
    with open(src, "wb") as f:
        f.truncate(4 * 1024 ** 3)  # 4 GB of holes: far longer to send than to wait for
    dest = tmp_path / "dest"
    dest.mkdir()
    proc = start_tetra(tetra_env, f"put @one {src} {dest}/")
    try:
        deadline = time.monotonic() + 20
        while not any(dest.iterdir()) and time.monotonic() < deadline:
            time.sleep(0.05)  # the temp file appears once the upload runs
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err
    assert list(dest.iterdir()) == []

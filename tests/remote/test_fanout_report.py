"""A fan-out's per-host summary keeps each failure's hint (SPEC 5, 10): after
the table, every distinct hint once with the hosts it is for; and exec's
--timeout gives one consistent message for every value it refuses.  Through
`tetra` against the loopback OpenSSH server (tests/sshd.py)."""

from __future__ import annotations

import re
import subprocess

import pytest
from sshworld import host_table

from sshd import free_port

pytestmark = pytest.mark.ssh


def _changed_known_hosts(tmp_path, port: int):
    """A known_hosts file holding another key for the server's address."""
    other = tmp_path / "other_key"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    kind, blob = (tmp_path / "other_key.pub").read_text().split()[:2]
    path = tmp_path / "changed_known_hosts"
    path.write_text(f"[127.0.0.1]:{port} {kind} {blob}\n")
    return path


def _hints(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.lstrip().startswith("hint (")]


def test_summary_of_a_mixed_fan_out_gives_each_failures_hint_after_the_table(tetra, world,
                                                                            tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    changed = _changed_known_hosts(tmp_path, world.sshd.port)
    dead = free_port()
    port = world.sshd.port
    world.write({"mixkh": [host_table("good", world.sshd),
                           host_table("u", world.sshd, known_hosts=str(empty)),
                           host_table("c", world.sshd, known_hosts=str(changed)),
                           f'{{ name = "dead", host = "127.0.0.1", port = {dead} }}']})
    r = tetra("-c", "@mixkh hostname", timeout=60)
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert "-- 4 hosts: 1 ok, 3 failed" in lines
    rows = {name: next(l for l in lines if re.match(rf"\s+{name}\s+(ok|FAILED)\b", l))
            for name in ("good", "u", "c", "dead")}
    assert "unknown host key" in rows["u"] and "HOST KEY CHANGED" in rows["c"]
    assert "connection refused" in rows["dead"]
    hints = _hints(r.stdout)
    assert len(hints) == 3, r.stdout
    # after the table, one per failing host here, each naming its host
    assert lines.index(hints[0]) > max(lines.index(row) for row in rows.values())
    assert any(h.startswith("  hint (u): if that fingerprint is right: ")
               and f"ssh-keyscan -p {port} -t ed25519 127.0.0.1 >> {empty}" in h for h in hints)
    assert any(h.startswith("  hint (c): ")
               and f"ssh-keygen -R '[127.0.0.1]:{port}' -f {changed}" in h for h in hints)
    assert any(h.startswith(f"  hint (dead): is sshd listening on 127.0.0.1:{dead}?")
               for h in hints)
    assert not any("good" in h for h in hints)
    # nothing trusted on the way
    assert empty.read_text() == ""


def test_hosts_failing_alike_share_one_hint_line(tetra, world, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    names = [f"u{i}" for i in range(1, 8)]
    world.write({"untrusted": [host_table(n, world.sshd, known_hosts=str(empty)) for n in names]
                 + [host_table("good", world.sshd)]})
    r = tetra("-c", "@untrusted true", timeout=60)
    assert r.returncode == 1
    assert "-- 8 hosts: 1 ok, 7 failed" in r.stdout
    hints = _hints(r.stdout)
    assert len(hints) == 1, r.stdout
    assert hints[0].startswith("  hint (u1, u2, u3, u4, u5 and 2 more): if that fingerprint is right:")


def test_no_hint_lines_when_every_host_succeeds(tetra, world):
    world.write({"pair": [host_table("p1", world.sshd), host_table("p2", world.sshd)]})
    r = tetra("-c", "@pair true")
    assert r.returncode == 0, r.stderr
    assert "-- 2 hosts: 2 ok, 0 failed" in r.stdout
    assert _hints(r.stdout) == []


def test_command_not_found_on_several_hosts_gives_its_hint_once(tetra, world):
    world.write({"pair": [host_table("p1", world.sshd), host_table("p2", world.sshd)]})
    r = tetra("-c", "@pair no-such-command-xyz")
    assert r.returncode == 1
    assert _hints(r.stdout) == ["  hint (p1, p2): check the command name and the PATH on the host"]


def test_put_and_txn_exec_summaries_give_the_hints_too(tetra, world, tmp_path):
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    world.write({"mixkh": [host_table("good", world.sshd),
                           host_table("u", world.sshd, known_hosts=str(empty))]})
    src = tmp_path / "src.txt"
    src.write_text("x\n")
    r = tetra("-c", f"put @mixkh {src} {tmp_path}/dst.txt", timeout=60)
    assert r.returncode == 1
    assert "u: put FAILED: unknown host key" in r.stderr
    hints = _hints(r.stdout)
    assert len(hints) == 1 and hints[0].startswith("  hint (u): if that fingerprint is right:"), r.stdout
    r = tetra("-c", 'txn new "hints" @mixkh; txn resolve; txn exec -- true', timeout=60)
    assert "-- 2 hosts: 1 ok, 1 failed" in r.stdout, r.stdout + r.stderr
    hints = _hints(r.stdout)
    assert len(hints) == 1 and hints[0].startswith("  hint (u): if that fingerprint is right:"), r.stdout


@pytest.mark.parametrize("value", ["-1", "0", "=-1", "=0", "-0.5"])
def test_exec_timeout_not_above_zero_gets_one_message(tetra, world, tmp_path, value):
    world.write({"two": [host_table("t1", world.sshd), host_table("t2", world.sshd)]})
    ran = tmp_path / "ran"
    flag = f"--timeout{value}" if value.startswith("=") else f"--timeout {value}"
    r = tetra("-c", f"exec @two {flag} -- touch {ran}")
    assert r.returncode == 2
    shown = value.removeprefix("=")
    assert f"exec: --timeout must be more than 0 seconds, got '{shown}'" in r.stderr
    assert "0 or more" not in r.stderr
    assert "hint: see 'help exec'" in r.stderr
    assert not ran.exists()


def test_exec_timeout_that_is_not_a_number(tetra, world):
    world.write({"two": [host_table("t1", world.sshd), host_table("t2", world.sshd)]})
    for text in ("soon", "nan"):
        r = tetra("-c", f"exec @two --timeout {text} -- true")
        assert r.returncode == 2
        assert f"exec: --timeout expects a number of seconds (more than 0), got '{text}'" in r.stderr
    r = tetra("-c", "exec @two --timeout 0.5 -- true")
    assert r.returncode == 0, r.stderr

"""The local connector through `tetra`: exec, fan-out, timeout, put/get."""

from __future__ import annotations

import hashlib
import os

import psutil


def _alive_with(marker: str) -> list:
    found = []
    for p in psutil.process_iter(["cmdline", "status"]):
        if p.info["status"] != psutil.STATUS_ZOMBIE and marker in " ".join(p.info["cmdline"] or ()):
            found.append(p)
    return found


def test_exec_local_streams_output_and_returns_the_exit_status(tetra):
    r = tetra("-c", "@local sh -c 'echo out; echo err >&2; exit 3'")
    assert r.stdout == "out\n"
    assert "err" in r.stderr and "exit status 3" in r.stderr
    assert r.returncode == 1


def test_each_word_is_one_argument(tetra):
    r = tetra("-c", "@local printf '%s|' 'a b' 'x;y' '$(id)'")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "a b|x;y|$(id)|"  # byte for byte: printf wrote no newline


def test_fan_out_over_local_hosts_prefixes_and_summarises(tetra, tetra_dir):
    (tetra_dir / "topology.toml").write_text(
        '[targets.box]\nconnector = "local"\n'
        'hosts = ["a", "bb", { name = "c", roles = ["odd"] }]\n')
    r = tetra("-c", "@box echo hello")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert sorted(l for l in lines if "| hello" in l) == ["a  | hello", "bb | hello", "c  | hello"]
    assert "-- 3 hosts: 3 ok, 0 failed" in r.stdout
    r = tetra("-c", "@box:odd false")
    assert r.returncode == 1


def test_local_timeout_ends_the_whole_process_group(tetra):
    marker = "4711.25"
    r = tetra("-c", f"exec @local --timeout 1 -- sh -c 'sleep {marker} & sleep {marker}; true'")
    assert r.returncode == 1
    assert "timed out after 1s" in r.stderr
    assert _alive_with(f"sleep {marker}") == []


def test_put_and_get_on_local_verify_and_round_trip(tetra, tmp_path):
    src = tmp_path / "a.bin"
    src.write_bytes(os.urandom(300_000))
    r = tetra("-c", f"put @local {src} {tmp_path}/b.bin; get @local {tmp_path}/b.bin {tmp_path}/c.bin")
    assert r.returncode == 0, r.stderr
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    assert hashlib.sha256((tmp_path / "c.bin").read_bytes()).hexdigest() == digest
    assert f"sha256 {digest[:16]}" in r.stdout


def test_put_of_a_missing_local_file_is_one_clear_line(tetra, tmp_path):
    r = tetra("-c", f"put @local {tmp_path}/nope.tar.gz /tmp/x")
    assert r.returncode == 1
    assert f"put: no such local file: {tmp_path}/nope.tar.gz" in r.stderr
    assert "Traceback" not in r.stderr


def test_get_into_a_directory_reports_the_file_it_wrote(tetra, tmp_path):
    src = tmp_path / "app.log"
    src.write_bytes(b"x" * 1234)
    into = tmp_path / "into"
    into.mkdir()
    r = tetra("-c", f"get @local {src} {into}")
    assert r.returncode == 0, r.stderr
    assert (into / "app.log").read_bytes() == src.read_bytes()
    assert f"{src} -> {into}/app.log  1.2 KB in" in r.stdout  # from the host to here


def test_a_bad_parallel_value_names_the_command(tetra, tmp_path):
    r = tetra("-c", "exec @local --parallel 0 -- true")
    assert r.returncode == 2
    assert "exec: --parallel must be at least 1" in r.stderr and "help exec" in r.stderr

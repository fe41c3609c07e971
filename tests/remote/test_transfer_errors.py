"""put/get faults name the side that failed: a local write failure in `get` is
not blamed on the remote file, and an unwritable remote path is described in
words, not as paramiko's bare "Failure" or a false "No such file"."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess

import pytest
from sshworld import host_table

pytestmark = pytest.mark.ssh


@pytest.fixture
def world(world, sshd):
    """tests/remote/conftest.py's world, with @one = the loopback sshd."""
    world.write({"one": [host_table("s1", sshd)]})
    return world


@contextlib.contextmanager
def immutable(path):
    """``chattr +i path`` for the block (skips the test where that is not possible)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not available")
    r = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"chattr +i does not work here: {r.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)


def _error_line(r) -> str:
    lines = [line for line in r.stderr.splitlines() if not line.startswith("  hint:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def _no_traceback(r) -> None:
    assert "Traceback" not in r.stderr, r.stderr


def test_get_onto_an_immutable_local_file_names_the_local_side(tetra, world, tmp_path):
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "big.bin").write_bytes(os.urandom(300_000))
    dest = tmp_path / "local" / "immut"
    dest.parent.mkdir()
    dest.write_text("old\n")
    with immutable(dest):
        r = tetra("-c", f"get @one {remote}/big.bin {dest}")
    assert r.returncode == 1
    _no_traceback(r)
    line = _error_line(r)
    assert f"get: cannot write {dest} here (local): permission denied" in line, r.stderr
    assert f"{remote}/big.bin" not in line and "s1" not in line  # not the remote's fault
    assert dest.read_text() == "old\n"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["immut"]  # no temp file left
    # the same remote file downloads fine elsewhere
    r = tetra("-c", f"get @one {remote}/big.bin {tmp_path}/ok.bin")
    assert r.returncode == 0, r.stderr


def test_get_into_an_immutable_local_directory(tetra, world, tmp_path):
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "f.txt").write_text("data\n")
    locked = tmp_path / "locked"
    locked.mkdir()
    with immutable(locked):
        r = tetra("-c", f"get @one {remote}/f.txt {locked}/f.txt")
    assert r.returncode == 1
    _no_traceback(r)
    line = _error_line(r)
    assert f"get: cannot write {locked}/f.txt here (local)" in line, r.stderr
    assert f"cannot create a file in {locked}" in line and "permission denied" in line
    assert f"{remote}/f.txt" not in line


def test_get_onto_a_proc_file_does_not_say_the_remote_file_is_missing(tetra, world, tmp_path):
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "big.bin").write_bytes(b"x" * 1000)
    r = tetra("-c", f"get @one {remote}/big.bin /proc/version")
    assert r.returncode == 1
    _no_traceback(r)
    line = _error_line(r)
    assert "get: cannot write /proc/version here (local)" in line, r.stderr
    assert "cannot create a file in /proc" in line
    assert f"{remote}/big.bin" not in line and "No such file" not in line


def test_get_failures_on_the_remote_side_still_name_host_and_path(tetra, world, tmp_path):
    r = tetra("-c", f"get @one {tmp_path}/absent.bin {tmp_path}/x")
    assert r.returncode == 1
    assert f"get: s1: no such remote file: {tmp_path}/absent.bin" in _error_line(r)


def test_get_from_several_hosts_says_which_side_failed(tetra, world, tmp_path, sshd):
    world.write({"two": [host_table("s1", sshd), host_table("s2", sshd)]})
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "f.txt").write_text("data\n")
    out = tmp_path / "out"
    for h in ("s1", "s2"):
        (out / h).mkdir(parents=True)
        (out / h / "f.txt").write_text("old\n")
    with immutable(out / "s2" / "f.txt"):
        r = tetra("-c", f"get @two {remote}/f.txt '{out}/{{host}}/f.txt'")
    assert r.returncode == 1
    _no_traceback(r)
    assert f"s2: get FAILED: cannot write {out}/s2/f.txt here (local): permission denied" in r.stderr
    assert (out / "s1" / "f.txt").read_text() == "data\n"


def test_put_over_an_immutable_remote_file_says_it_cannot_be_replaced(tetra, world, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(300_000))
    remote = tmp_path / "remote"
    remote.mkdir()
    dest = remote / "immut"
    dest.write_text("old\n")
    with immutable(dest):
        r = tetra("-c", f"put @one {src} {dest}")
    assert r.returncode == 1
    _no_traceback(r)
    line = _error_line(r)
    assert f"put: s1: cannot replace {dest} (remote): permission denied" in line, r.stderr
    assert not line.rstrip().endswith("Failure")
    assert dest.read_text() == "old\n"
    assert sorted(p.name for p in remote.iterdir()) == ["immut"]  # the temp file was removed


def test_put_into_an_immutable_remote_directory(tetra, world, tmp_path):
    src = tmp_path / "f.txt"
    src.write_text("data\n")
    locked = tmp_path / "locked"
    locked.mkdir()
    with immutable(locked):
        r = tetra("-c", f"put @one {src} {locked}/f.txt")
    assert r.returncode == 1
    _no_traceback(r)
    line = _error_line(r)
    assert f"put: s1: cannot create a file in {locked} (remote): permission denied" in line, r.stderr
    assert "hint:" in r.stderr


def test_put_onto_an_existing_proc_file_does_not_claim_it_is_missing(tetra, world, tmp_path):
    src = tmp_path / "big.bin"
    src.write_bytes(b"x" * 1000)
    r = tetra("-c", f"put @one {src} /proc/version")
    assert r.returncode == 1
    _no_traceback(r)
    line = _error_line(r)
    assert "put: s1: cannot create a file in /proc (remote)" in line, r.stderr
    assert "No such file" not in line
    assert "hint:" in r.stderr and "/proc/version" in r.stderr


def test_put_from_several_hosts_says_which_side_failed(tetra, world, tmp_path, sshd):
    world.write({"two": [host_table("s1", sshd), host_table("s2", sshd)]})
    src = tmp_path / "f.txt"
    src.write_text("data\n")
    r = tetra("-c", f"put @two {src} /proc/version")
    assert r.returncode == 1
    _no_traceback(r)
    for h in ("s1", "s2"):
        assert f"{h}: put FAILED: cannot create a file in /proc (remote)" in r.stderr, r.stderr


def test_local_connector_put_and_get_describe_unwritable_places(tetra, tmp_path):
    src = tmp_path / "f.txt"
    src.write_text("data\n")
    r = tetra("-c", f"get @local {src} /proc/version")
    assert r.returncode == 1
    _no_traceback(r)
    line = _error_line(r)
    assert "get: cannot write /proc/version: cannot create a file in /proc" in line, r.stderr
    assert "No such file" not in line
    dest = tmp_path / "immut"
    dest.write_text("old\n")
    with immutable(dest):
        r = tetra("-c", f"put @local {src} {dest}")
    assert r.returncode == 1
    _no_traceback(r)
    assert f"put: cannot write {dest} on local: permission denied" in _error_line(r), r.stderr
    assert "immutable" in r.stderr  # the hint
    assert dest.read_text() == "old\n"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []

"""Edges of ssh_config and of the remote command line, against the loopback sshd."""

from __future__ import annotations

import pytest
from sshworld import host_table

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

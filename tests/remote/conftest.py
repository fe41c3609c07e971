"""Fixtures of the remote tests (the sshd fixtures come from tests/sshd.py)."""

from __future__ import annotations

import pytest
from sshworld import SSHWorld


@pytest.fixture
def world(tetra_dir, tmp_path, sshd, ssh_keys):
    """A state dir whose known_hosts trusts the loopback ``sshd``; no topology
    yet (``world.write`` makes one)."""
    w = SSHWorld(tetra_dir, tmp_path / "home", sshd, ssh_keys)
    w.trust(sshd)
    return w

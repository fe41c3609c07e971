"""Fixtures of the remote tests (helpers live in sshworld.py)."""

from __future__ import annotations

import pytest
from sshworld import SSHWorld, host_table


@pytest.fixture
def world(tetra_dir, tmp_path, sshd, ssh_keys):
    w = SSHWorld(tetra_dir, tmp_path / "home", sshd, ssh_keys)
    w.trust(sshd)
    w.write({"one": [host_table("s1", sshd)]})
    return w

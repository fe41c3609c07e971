"""Shared fixtures: run the real `tetra` entry point in a subprocess.

Each area keeps its own fixtures in its own module under tests/ (listed in
pytest_plugins below), e.g. the loopback OpenSSH server.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from tetra_testing import TETRA

pytest_plugins: list[str] = ["sshd"]


@pytest.fixture
def tetra_dir(tmp_path) -> Path:
    """A fresh state directory (DIR) for one test."""
    d = tmp_path / "tetra-state"
    d.mkdir()
    return d


@pytest.fixture
def tetra_env(tetra_dir, tmp_path) -> dict:
    env = dict(os.environ)
    env.update(TETRA_DIR=str(tetra_dir), HOME=str(tmp_path / "home"), NO_COLOR="1",
               XDG_CACHE_HOME=str(Path.home() / ".cache"))
    for key in ("TETRA_TOPOLOGY", "TETRA_SSH_CONFIG"):
        env.pop(key, None)
    (tmp_path / "home").mkdir(exist_ok=True)
    return env


@pytest.fixture
def tetra(tetra_env):
    """``tetra(*argv, input=None, timeout=60, cwd=None) -> CompletedProcess`` (text)."""

    def run(*argv: str, input: str | None = None, timeout: float = 60, cwd=None,
            env: dict | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([TETRA, *argv], input=input, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd, env={**tetra_env, **(env or {})})

    return run

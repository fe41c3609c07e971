"""tsm fixtures (helpers live in tsm_helpers.py: several test folders have a conftest)."""

from __future__ import annotations

import pytest
from tsm_helpers import Tsm, cleanup, free_port


@pytest.fixture
def tsm(tetra, tetra_dir):
    """``tsm("start", …)`` runs `tetra tsm start …`; every process started is killed after."""
    runner = Tsm(tetra, tetra_dir)
    yield runner
    cleanup(tetra_dir)


@pytest.fixture
def port() -> int:
    return free_port()

"""Names every test folder shares.  Import from here, not from ``conftest``:
pytest keeps one module called ``conftest`` when several folders have one."""

from __future__ import annotations

import sys
from pathlib import Path

TETRA = str(Path(sys.executable).with_name("tetra"))  # the installed console script

"""A test-only crash hook: ``TETRA_CRASH_AT=<point>[@N]`` ends the process there.

Crash tests set it in a child's environment to die (``os._exit``, no cleanup,
like SIGKILL) at a named point: the Nth time (default 1st) that point is
passed.  Several points may be given, comma-separated.  With the variable
unset, :func:`point` costs one environment lookup.  Points:

- ``append.before`` / ``append.after`` / ``state.after``: around each write
  of a transaction (before the event append, between it and state.json, after
  both); ``append.torn``: half an append written, then death
- ``lease.written``: a lease file written, its event not yet recorded
- ``deploy.<step>`` (prepare, upload, verify, extract, switch, restart,
  validate): before that per-host step; ``deploy.switch.mid``: the new
  ``current`` symlink made but not yet renamed into place
"""

from __future__ import annotations

import os
import sys

_hits: dict[str, int] = {}
EXIT_CODE = 137  # what a SIGKILLed child reports through a shell


def point(name: str) -> None:
    """Die here if ``TETRA_CRASH_AT`` names this point (and hit count)."""
    if due(name):
        sys.stderr.flush()
        os._exit(EXIT_CODE)


def due(name: str) -> bool:
    """Count a pass of ``name``; True when this pass is the one to crash at
    (for points that must do something special first, like a torn write)."""
    spec = os.environ.get("TETRA_CRASH_AT")
    if not spec:
        return False
    _hits[name] = _hits.get(name, 0) + 1
    for item in spec.split(","):
        want, _, nth = item.strip().partition("@")
        if want == name and _hits[name] == int(nth or 1):
            return True
    return False

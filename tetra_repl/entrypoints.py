"""Entry points of one group, read from installed distributions' metadata.

``importlib.metadata`` costs ~20 ms to import (it parses e-mail style headers
with the ``email`` package) and tetra needs only one file of each
distribution: ``entry_points.txt``.  This reads those files from the
``*.dist-info`` / ``*.egg-info`` folders on ``sys.path`` in path order; the
first distribution of a name wins, as with importlib.metadata.  Zipped eggs
are not searched.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

_DIST_FOLDER = re.compile(r"(?P<name>[^-]+)(?:-[^-]*)?\.(?:dist|egg)-info\Z")


@dataclass(frozen=True)
class EntryPoint:
    name: str
    value: str  # "package.module:attr"

    def load(self) -> Any:
        module_name, _, attrs = self.value.partition(":")
        obj = importlib.import_module(module_name.strip())
        for attr in filter(None, attrs.split("[")[0].strip().split(".")):
            obj = getattr(obj, attr)
        return obj


def entry_points(group: str) -> list[EntryPoint]:
    """Every entry point declared in ``group``, one per name, sorted by name."""
    found: dict[str, EntryPoint] = {}
    seen: set[str] = set()
    for base in sys.path:
        try:
            names = sorted(os.listdir(base or "."))
        except OSError:
            continue
        for folder in names:
            m = _DIST_FOLDER.match(folder)
            if m is None:
                continue
            dist = m.group("name").lower().replace("-", "_").replace(".", "_")
            if dist in seen:
                continue
            seen.add(dist)
            try:
                with open(os.path.join(base or ".", folder, "entry_points.txt"),
                          encoding="utf-8") as f:
                    text = f.read()
            except OSError:
                continue
            for name, value in _section(text, group):
                found.setdefault(name, EntryPoint(name, value))
    return [found[n] for n in sorted(found)]


def _section(text: str, group: str) -> list[tuple[str, str]]:
    out = []
    inside = False
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            inside = line[1:-1].strip() == group
            continue
        if inside and "=" in line:
            name, _, value = line.partition("=")
            out.append((name.strip(), value.strip()))
    return out

"""Deferred imports of third-party modules that are imported but rarely used.

paramiko's ``config`` module imports ``invoke`` (which pulls in asyncio,
unittest.mock and email: ~50 ms, a third of paramiko's import time) only to
run ``Match exec`` lines of an ssh_config.  :func:`defer_invoke` registers
``invoke`` as a lazy module first: ``import invoke`` costs nothing, and the
real import happens on first use, so ``Match exec`` still works.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
import types


class _Deferred(types.ModuleType):
    """Stands in for a module until one of its attributes is asked for."""

    def __getattr__(self, attr: str):
        name = self.__name__
        if sys.modules.get(name) is self:
            del sys.modules[name]
        return getattr(importlib.import_module(name), attr)


def defer(name: str) -> None:
    """Make ``import name`` cost nothing until the module is used.  A module
    already imported, or not installed, is left alone."""
    if name in sys.modules:
        return
    spec = importlib.util.find_spec(name)
    if spec is None:
        return
    stub = _Deferred(name)
    stub.__spec__ = None  # the import system sees a plain, initialised module
    sys.modules[name] = stub


def defer_invoke() -> None:
    """Call before the first ``import paramiko``."""
    defer("invoke")

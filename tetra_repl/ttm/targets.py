"""From an @target to hosts and connectors, for transactions.

A thin seam over the resolver (``tetra_repl.topology.resolve``) and the
session connector pool (``tetra_repl.connectors.pool_for``), so the TTM and
its plugins depend on one small surface.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Resolution:
    symbol: str
    levels: list[dict]
    plan: dict
    hosts: list[Any]  # topology.ResolvedHost
    parallel: int = 10


def resolve(session, symbol) -> Resolution:
    """Resolve ``symbol`` (a language Symbol or ``"@name"`` text)."""
    from ..topology import resolve as topo_resolve

    plan = topo_resolve(session, symbol)
    return Resolution(plan.symbol, list(plan.levels), plan.to_dict(), list(plan.hosts),
                      int(getattr(plan, "parallel", 10) or 10))


def connector(session, host):
    """The pooled connector for a ResolvedHost."""
    from ..connectors import pool_for

    return pool_for(session).get(host)


def fan_out(hosts, fn, *, parallel: int = 10, cancel=None):
    """``fn(host)`` on every host at once (at most ``parallel``): name -> value or exception."""
    from ..connectors import fan_out as _fan_out

    return _fan_out(hosts, fn, parallel=parallel, cancel=cancel)

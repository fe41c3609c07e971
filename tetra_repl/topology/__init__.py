"""Topology files and the eight-level TES resolver: data in, data out, no sockets.

    plan = resolve(session, symbol)          # Symbol or "@prod:web"
    plan.levels   # 8 JSON-able dicts, level 0 symbol … level 7 connector
    plan.hosts    # [ResolvedHost]
    plan.to_dict()
"""

from .loader import HostEntry, TargetEntry, Topology, TopologyError, load
from .model import LEVEL_NAMES, Plan, ResolvedHost
from .resolver import (TopologyStore, UnknownTarget, describe_targets, parse_symbol, resolve,
                       store_for)
from .schema import SETTINGS, declare

__all__ = ["resolve", "Plan", "ResolvedHost", "LEVEL_NAMES", "Topology", "TopologyError",
           "UnknownTarget", "TopologyStore", "store_for", "describe_targets", "parse_symbol",
           "load", "declare", "SETTINGS", "HostEntry", "TargetEntry"]

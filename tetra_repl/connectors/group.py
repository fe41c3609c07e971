"""Fan-out: one function over many hosts, at most ``parallel`` at once.

Like fabric's GroupResult, many hosts give a value, not an exception storm::

    results = fan_out(plan.hosts, lambda h: pool.get(h).run(["uptime"]), parallel=10)
    for name, value in results.failed.items(): ...
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any

from .base import Cancelled


class GroupResult(dict):
    """Host name -> result or exception, in the order the hosts were given.

    A value counts as failed when it is an exception or has ``ok`` false
    (a :class:`RunResult` with a non-zero exit).
    """

    @staticmethod
    def is_failure(value: Any) -> bool:
        return isinstance(value, BaseException) or getattr(value, "ok", True) is False

    @property
    def succeeded(self) -> dict[str, Any]:
        return {k: v for k, v in self.items() if not self.is_failure(v)}

    @property
    def failed(self) -> dict[str, Any]:
        return {k: v for k, v in self.items() if self.is_failure(v)}

    @property
    def ok(self) -> bool:
        return not self.failed


def fan_out(hosts: Iterable, fn: Callable[[Any], Any], *, parallel: int = 10,
            cancel: threading.Event | None = None, grace: float = 10.0) -> GroupResult:
    """Run ``fn(host)`` for every host (``host.name`` keys the result).

    Ctrl-C in the calling thread sets ``cancel`` (so running commands end,
    remotely too), waits up to ``grace`` seconds for them, then re-raises.
    Hosts not started by then get a :class:`Cancelled` value.
    """
    hosts = list(hosts)
    cancel = cancel if cancel is not None else threading.Event()
    results = GroupResult((h.name, None) for h in hosts)

    def call(host):
        if cancel.is_set():
            return Cancelled(f"{host.name}: cancelled before it started")
        try:
            return fn(host)
        except Exception as exc:  # each host's failure is its own value
            return exc

    if not hosts:
        return results
    workers = max(1, min(parallel, len(hosts)))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="tetra-fanout")
    futures: dict[Future, str] = {}
    pending: set[Future] = set()
    try:  # the submits too: a Ctrl-C between them must still cancel what started
        for h in hosts:
            future = pool.submit(call, h)
            futures[future] = h.name
            pending.add(future)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in done:
                results[futures[future]] = future.result()
    except KeyboardInterrupt:
        cancel.set()
        wait(pending, timeout=grace)
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    return results

"""An in-process publish/subscribe bus.

Topics are strings such as ``txn.stage_changed``; subscribers are callables
taking ``(topic, payload)``.  A subscriber to ``"txn.*"`` receives every topic
starting with ``txn.``; ``"*"`` receives everything.  A failing subscriber is
isolated: it never breaks the publisher.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

Subscriber = Callable[[str, Any], None]


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._lock = threading.Lock()
        self.errors: list[BaseException] = []

    def subscribe(self, topic: str, callback: Subscriber) -> Callable[[], None]:
        """Register ``callback``; returns a function that unsubscribes it."""
        with self._lock:
            self._subscribers.setdefault(topic, []).append(callback)

        def unsubscribe() -> None:
            with self._lock:
                callbacks = self._subscribers.get(topic, [])
                if callback in callbacks:
                    callbacks.remove(callback)

        return unsubscribe

    def publish(self, topic: str, payload: Any = None) -> None:
        with self._lock:
            targets = list(self._subscribers.get(topic, ()))
            for pattern, callbacks in self._subscribers.items():
                if pattern == "*" or (pattern.endswith(".*") and topic.startswith(pattern[:-1])):
                    targets.extend(callbacks)
        for callback in targets:
            try:
                callback(topic, payload)
            except Exception as exc:  # a broken subscriber must not break the publisher
                self.errors.append(exc)

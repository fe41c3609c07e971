"""The in-process runner of SPEC 6.5.

Lifecycle ``NEW → BOOTING → RUNNING ⇄ PROCESSING → STOPPING → STOPPED``.  The
runner reports RUNNING only once its dispatch loop is waiting for work.
:meth:`Runner.submit` hands a :class:`Work` over and blocks until the loop has
taken it (a rendezvous: nothing sits in a buffer that a crash or stop could
drop).  The loop routes each item to its target's *lane*: one thread per
target with work, running that target's items in submission order; lanes of
different targets run concurrently.  A topology reload is an item on the same
hand-off, so it applies to everything submitted after it and to nothing
before.

Background work (``deploy @t … &``) runs on its lane's thread.  Foreground
work (:meth:`Runner.run_here`) is handed over the same way and keeps its place
in the same lane, but when its turn comes the lane hands the turn back and the
*caller's* thread runs it, while the lane waits: so Ctrl-C (SIGINT, delivered
to the main thread) reaches the command exactly where it always did, and its
own clean-up (kill the remote command, roll back) runs as before.
"""

from __future__ import annotations

import collections
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

NEW, BOOTING, RUNNING, PROCESSING, STOPPING, STOPPED = (
    "NEW", "BOOTING", "RUNNING", "PROCESSING", "STOPPING", "STOPPED")
_TRANSITIONS = {NEW: {BOOTING}, BOOTING: {RUNNING, STOPPING}, RUNNING: {PROCESSING, STOPPING},
                PROCESSING: {RUNNING, STOPPING}, STOPPING: {STOPPED}, STOPPED: set()}


class RunnerStopped(Exception):
    """Work handed to a runner that is stopping or stopped."""


@dataclass
class Work:
    """One unit: ``fn(cancel_event)`` run in the lane of ``key`` (a target)."""

    key: str
    fn: Callable[[threading.Event], Any]
    description: str = ""
    kind: str = "work"  # "work" | "reload"
    cancel: threading.Event = field(default_factory=threading.Event)
    taken: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)
    result: Any = None
    error: BaseException | None = None
    generation: int = 0  # topology generation in force when it was taken
    inline: bool = False  # run by the submitter on its own thread (foreground)
    turn: threading.Event = field(default_factory=threading.Event)  # inline: your turn
    owner: Any = None  # inline: (thread id, frame) of the submitter's run_here
    behind: int = 0  # unfinished items ahead of it in its lane when it was taken


_held = threading.local()  # lane key -> the frame (on this thread) holding its turn


def _on_stack(frame, thread_id: int | None = None) -> bool:
    """True while ``frame`` is on the stack of thread ``thread_id`` (default: this one)."""
    f = sys._getframe() if thread_id is None else sys._current_frames().get(thread_id)
    while f is not None:
        if f is frame:
            return True
        f = f.f_back
    return False


def _holds(key: str) -> bool:
    """True when this thread is inside work that holds ``key``'s turn.  Judged by
    the stack, not by a flag a Ctrl-C could stop us from clearing."""
    frame = getattr(_held, "keys", {}).get(key)
    return frame is not None and _on_stack(frame)


def _hold(key: str, frame) -> None:
    if getattr(_held, "keys", None) is None:
        _held.keys = {}
    _held.keys[key] = frame


class Runner:
    """``runner.start(); runner.submit(Work("@staging", fn)); runner.stop()``.

    ``on_state(old, new)`` observes lifecycle changes (published on the bus
    by the session as ``runner.state``); ``on_reload(payload)`` applies a
    topology reload inside the loop.
    """

    def __init__(self, *, on_state: Callable[[str, str], None] | None = None,
                 on_reload: Callable[[Any], None] | None = None):
        self.state = NEW
        self.generation = 0
        self._on_state = on_state
        self._on_reload = on_reload
        self._cond = threading.Condition()
        self._slot: Work | None = None  # the rendezvous: at most one item in hand-off
        self._lanes: dict[str, collections.deque[Work]] = {}
        self._busy = 0
        self._loop: threading.Thread | None = None
        self.history: list[str] = [NEW]

    # -- lifecycle ----------------------------------------------------------
    def _set(self, new: str) -> None:
        """Change state (caller holds ``_cond``)."""
        if new == self.state:
            return
        if new not in _TRANSITIONS[self.state]:
            raise RuntimeError(f"runner: illegal transition {self.state} → {new}")
        old, self.state = self.state, new
        self.history.append(new)
        self._cond.notify_all()
        if self._on_state is not None:
            try:
                self._on_state(old, new)
            except Exception:
                pass

    def start(self) -> "Runner":
        """Boot the loop; returns once it is RUNNING (accepting work)."""
        with self._cond:
            if self.state != NEW:
                return self
            self._set(BOOTING)
        self._loop = threading.Thread(target=self._main, name="tetra-runner", daemon=True)
        self._loop.start()
        with self._cond:
            self._cond.wait_for(lambda: self.state != BOOTING)
        return self

    def stop(self, *, cancel: bool = False, timeout: float | None = None) -> bool:
        """Stop taking work; with ``cancel`` signal every queued and running item.
        Waits for lanes to drain; True when STOPPED within ``timeout``."""
        with self._cond:
            if self.state in (NEW, STOPPED):
                if self.state == NEW:
                    self.state = STOPPED
                    self.history.append(STOPPED)
                return True
            if self.state != STOPPING:
                self._set(STOPPING)
            if cancel:
                for lane in self._lanes.values():
                    for w in lane:
                        w.cancel.set()
            ok = self._cond.wait_for(lambda: not self._lanes and self._slot is None, timeout)
            if ok:
                self._set(STOPPED)
            return ok

    # -- hand-off -----------------------------------------------------------
    def submit(self, work: Work, timeout: float | None = None) -> Work:
        """Hand ``work`` over; returns once the loop has taken it."""
        with self._cond:
            if self.state == NEW:
                raise RunnerStopped("runner not started")
            ok = self._cond.wait_for(lambda: self._slot is None or self.state in (STOPPING, STOPPED),
                                     timeout)
            if self.state in (STOPPING, STOPPED):
                raise RunnerStopped("runner is stopping; work not accepted")
            if not ok:
                raise TimeoutError("runner did not take the work in time")
            self._slot = work
            self._cond.notify_all()
            self._cond.wait_for(lambda: work.taken.is_set())
        return work

    def run_here(self, work: Work, on_wait: Callable[[Work], None] | None = None) -> Any:
        """Foreground: hand ``work`` over, wait for its turn on its lane, then run
        ``work.fn`` in *this* thread and return its result (exceptions pass
        through).  ``on_wait(work)`` is called first when earlier items are
        ahead of it.  An exception while waiting (Ctrl-C) withdraws the work:
        it never runs and the lane moves on.  Re-entrant: a thread already
        holding ``work.key``'s turn runs it at once."""
        if _holds(work.key):  # nested in work of the same lane: waiting would deadlock
            try:
                work.result = work.fn(work.cancel)
                return work.result
            finally:
                work.done.set()
        work.inline = True
        here = sys._getframe()
        work.owner = (threading.get_ident(), here)  # the lane watches this frame
        try:
            self.submit(work)
            if work.behind and on_wait is not None:
                on_wait(work)
            work.turn.wait()
            _hold(work.key, here)
            work.result = work.fn(work.cancel)
            return work.result
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                work.cancel.set()
            work.error = exc
            raise
        finally:
            work.done.set()  # releases the lane (or, if withdrawn, lets it skip the item)
            _held.__dict__.get("keys", {}).pop(work.key, None)  # drop the frame early

    def reload(self, payload: Any = None) -> Work:
        """Deliver a topology reload through the hand-off (ordered with work)."""
        return self.submit(Work("*", lambda cancel: payload, "topology reload", kind="reload"))

    def cancel_all(self) -> list[Work]:
        """Set the cancel event of every queued and running item."""
        with self._cond:
            items = [w for lane in self._lanes.values() for w in lane]
        for w in items:
            w.cancel.set()
        return items

    def pending(self) -> list[Work]:
        with self._cond:
            return [w for lane in self._lanes.values() for w in lane]

    # -- the loop ------------------------------------------------------------
    def _main(self) -> None:
        with self._cond:
            self._set(RUNNING)  # the loop is about to wait: work is accepted from now
            while True:
                self._cond.wait_for(lambda: self._slot is not None or self.state == STOPPING)
                if self._slot is None:  # stopping with nothing in hand
                    return
                work, self._slot = self._slot, None
                if work.kind == "reload":
                    self.generation += 1
                    if self._on_reload is not None:
                        try:
                            self._on_reload(work.fn(work.cancel))
                        except Exception as exc:
                            work.error = exc
                    work.generation = self.generation
                    work.taken.set()
                    work.done.set()
                    self._cond.notify_all()
                    continue
                work.generation = self.generation
                lane = self._lanes.get(work.key)
                if lane is None:
                    lane = self._lanes[work.key] = collections.deque()
                    threading.Thread(target=self._lane, args=(work.key, lane), daemon=True,
                                     name=f"tetra-lane-{work.key}").start()
                # Only unfinished items count: one that is done but not yet
                # popped by its lane (a moment's lag) is not "earlier work".
                work.behind = sum(1 for w in lane if not w.done.is_set())
                lane.append(work)
                if self.state == RUNNING:
                    self._set(PROCESSING)
                work.taken.set()
                self._cond.notify_all()

    @staticmethod
    def _wait_inline(work: Work, poll: float = 0.25) -> None:
        """Until the submitter is done with its turn.  Normally it says so
        (``done``); if a second Ctrl-C cut its clean-up short, its frame having
        left the stack says so instead, and the lane never sticks."""
        thread_id, frame = work.owner
        try:
            while not work.done.wait(poll):
                if not _on_stack(frame, thread_id):
                    break
        finally:
            work.owner = None  # drop the frame (it refers back to the work)

    def _lane(self, key: str, lane: collections.deque) -> None:
        while True:
            with self._cond:
                work = lane[0]
            try:
                if work.inline:
                    work.turn.set()  # the submitter runs it on its own thread; the lane waits
                    self._wait_inline(work)
                else:
                    _hold(key, sys._getframe())
                    work.result = work.fn(work.cancel)
            except BaseException as exc:  # one failing item never stops its lane
                work.error = exc
            finally:
                work.done.set()
            with self._cond:
                lane.popleft()
                if not lane:
                    del self._lanes[key]
                    if not self._lanes and self.state == PROCESSING:
                        self._set(RUNNING)
                    self._cond.notify_all()
                    return


def for_session(session) -> Runner:
    """The session's runner (started on first use, stopped when the session closes).

    Lifecycle changes are published as ``runner.state``; a changed topology
    file is handed over as a reload before the next work item, and applied in
    the loop by dropping the session's cached topology and publishing
    ``topology.reloaded``.
    """

    def factory() -> Runner:
        def on_reload(path):
            for key in [k for k in session.services if k.startswith("topology")]:
                session.services.pop(key, None)
            session.bus.publish("topology.reloaded", {"path": str(path) if path else None})

        runner = Runner(on_state=lambda old, new: session.bus.publish(
            "runner.state", {"from": old, "to": new}), on_reload=on_reload)
        runner.topology_stamp = _topology_stamp(session)
        return runner.start()

    return session.service("ttm.runner", factory, close=lambda r: r.stop(cancel=True, timeout=30))


def submit(session, work: Work) -> Work:
    """Hand ``work`` to the session's runner, first delivering a topology reload
    through the same hand-off if the topology file changed since the last one."""
    runner = for_session(session)
    stamp = _topology_stamp(session)
    if stamp != getattr(runner, "topology_stamp", None):
        runner.topology_stamp = stamp
        runner.reload(stamp[0] if stamp else None)
    return runner.submit(work)


def run_here(session, work: Work, on_wait: Callable[[Work], None] | None = None) -> Any:
    """Foreground: :meth:`Runner.run_here` on the session's runner, after the
    same topology check as :func:`submit`."""
    runner = for_session(session)
    if not _holds(work.key):
        stamp = _topology_stamp(session)
        if stamp != getattr(runner, "topology_stamp", None):
            runner.topology_stamp = stamp
            runner.reload(stamp[0] if stamp else None)
    return runner.run_here(work, on_wait)


def _topology_stamp(session):
    path = session.env.find_topology()
    if path is None:
        return None
    try:
        st = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path), st.st_mtime_ns, st.st_size)

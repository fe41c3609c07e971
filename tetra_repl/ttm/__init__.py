"""The transaction manager (TTM): store, state machine, leases, runner.

A plain library (it never prints).  The pieces:

- :mod:`.states`    the stages and the one transition check
- :mod:`.log`       events.ndjson reading (torn-line detection) and the reducer
- :mod:`.store`     ``Store``/``Transaction``: ids, layout, ``record()``, versions
- :mod:`.leases`    per-host leases on ``locking.FileLock``
- :mod:`.lifecycle` leases/steps/commit/fail/resume/verify/rebuild
- :mod:`.runner`    the in-process runner (SPEC 6.5)
- :mod:`.targets`   @target → hosts and connectors (through topology/connectors)
- :mod:`.crash`     the test-only ``TETRA_CRASH_AT`` hook
"""

from __future__ import annotations


def session_store(session):
    """The session's :class:`~.store.Store` (publishes on the session bus)."""
    from .store import Store

    return session.service("ttm.store", lambda: Store(session.env.state_dir, bus=session.bus))


def session_leases(session):
    """The session's :class:`~.leases.Leases`."""
    from .leases import Leases

    return session.service("ttm.leases", lambda: Leases(session.env.state_dir))


def set_active(session, txn) -> None:
    """Make ``txn`` the active transaction: the on-disk ``active`` symlink, and
    this session's own pointer (so another shell changing the symlink never
    redirects this session's ``txn`` commands mid-script)."""
    session_store(session).set_active(txn)
    session.services["ttm.active"] = (txn.module, txn.id)


def active(session):
    """This session's active transaction, else the most recently activated one."""
    store = session_store(session)
    mine = session.services.get("ttm.active")
    if mine is not None:
        from .store import Transaction

        path = store.txns_dir(mine[0]) / mine[1]
        if path.is_dir():
            return Transaction(store, path)
    return store.active()

"""The transaction state machine of SPEC 6.2, written out (as supervisor's states.py).

    NEW → SELECT → ASSEMBLE → EXECUTE → VALIDATE → DONE
       (any non-terminal stage) → FAIL

:func:`check_transition` is the one place a stage change is allowed or refused.
"""

from __future__ import annotations

from ..errors import TetraError

NEW, SELECT, ASSEMBLE, EXECUTE, VALIDATE, DONE, FAIL = (
    "NEW", "SELECT", "ASSEMBLE", "EXECUTE", "VALIDATE", "DONE", "FAIL")

STAGES = (NEW, SELECT, ASSEMBLE, EXECUTE, VALIDATE, DONE, FAIL)
TERMINAL = frozenset({DONE, FAIL})
FORWARD = {NEW: SELECT, SELECT: ASSEMBLE, ASSEMBLE: EXECUTE, EXECUTE: VALIDATE, VALIDATE: DONE}


class IllegalTransition(TetraError):
    """A stage change the state machine does not allow; nothing was written."""


def allowed(src: str, dst: str) -> bool:
    """True when ``src → dst`` is an edge of the state machine."""
    if src in TERMINAL:
        return False
    return dst == FAIL or FORWARD.get(src) == dst


def check_transition(txn_id: str, src: str, dst: str) -> None:
    """Raise :class:`IllegalTransition` unless ``src → dst`` is allowed."""
    if allowed(src, dst):
        return
    if src in TERMINAL:
        raise IllegalTransition(f"{txn_id}: is {src} (terminal); cannot move to {dst}",
                                hint="start a new transaction with 'txn new'")
    expected = FORWARD.get(src)
    raise IllegalTransition(f"{txn_id}: illegal transition {src} → {dst}",
                            hint=f"from {src} the next stage is {expected} (or FAIL)")


def path_to(src: str, dst: str) -> list[str]:
    """The forward stages from ``src`` up to ``dst`` (``[]`` when already there).

    Commands walk through stages with no work of their own (``txn resolve`` on
    a NEW transaction passes SELECT), each step a legal transition.
    """
    if src == dst:
        return []
    if src in TERMINAL or dst not in STAGES or STAGES.index(dst) < STAGES.index(src):
        return [dst]  # let check_transition name the refusal
    out, cur = [], src
    while cur != dst and cur in FORWARD:
        cur = FORWARD[cur]
        out.append(cur)
    return out if cur == dst else [dst]

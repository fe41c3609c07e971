"""Compensation: after a failed deploy, point every host this release was
switched on back at its previous release, then remove what the deploy left."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from tetra_repl.errors import TetraError
from tetra_repl.ttm import targets

from . import plan as P
from .hosts import HostPlan

if TYPE_CHECKING:
    from .engine import Deploy


def compensate(run: Deploy, hps: list[HostPlan]) -> tuple[list[tuple[str, str | None]], list[str]]:
    """Point every host whose ``current`` is this release back at its previous
    one, then remove what this deploy left on the hosts it reached."""
    steps = run.txn.state()["steps"]
    candidates = [hp for hp in hps if f"prepare:{hp.name}" in steps]
    touched = [hp for hp in candidates if f"switch:{hp.name}" in steps
               or _current_is(run, hp)]
    rolled, problems, stuck = _switch_back(run, touched, steps) if touched else ([], [], set())
    run.discard([hp for hp in candidates if hp.name not in stuck], steps)  # stuck: still current
    return rolled, problems


def _switch_back(run: Deploy, touched: list[HostPlan], steps: dict):
    """(hosts switched back and to what, problems, hosts still on this release)."""
    run.txn.record("rollback_started", {"hosts": [hp.name for hp in touched]})
    rolled, problems, stuck = [], [], set()
    for hp in touched:
        previous = (steps[f"prepare:{hp.name}"] or {}).get("previous")
        try:
            if previous:
                run.run_op(hp, "rollback", P.link(hp.layout, previous), timeout=60, cancellable=False)
                run.run_op(hp, "rollback", P.rename(hp.layout), timeout=60, cancellable=False)
            else:
                run.run_op(hp, "rollback", P.unlink_current(hp.layout), timeout=60, cancellable=False)
        except TetraError as exc:
            problems.append(f"{hp.name}: {exc.message}")
            stuck.add(hp.name)
            continue
        rolled.append((hp.name, previous))
        shown = f"releases/{previous}" if previous else "(none)"
        run.say(f"[{hp.name}] rolled back: current → {shown}")
        if previous and hp.restart:
            try:
                run.run_op(hp, "rollback", P.restart(hp.layout, hp.restart), timeout=300,
                           cancellable=False)
            except TetraError as exc:
                problems.append(f"{hp.name}: switched back, but its restart failed: {exc.message}")
    run.txn.record("rollback_finished", {"restored": {h: p for h, p in rolled}, "problems": problems})
    return rolled, problems, stuck


def _current_is(run: Deploy, hp: HostPlan) -> bool:
    """Whether the host's current points at this release (a switch cut short)."""
    try:
        conn = targets.connector(run.session, hp.host)
        r = conn.run(["readlink", "--", hp.layout.current], timeout=30)
        return r.ok and Path(r.stdout.strip()).name == run.target_release(hp)
    except TetraError:
        return False

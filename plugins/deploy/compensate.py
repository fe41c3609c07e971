"""Compensation: after a failed deploy, point every host this release was
switched on back at its previous release, then remove what the deploy left."""

from __future__ import annotations

import shlex
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
    touched = []
    for hp in candidates:
        now = current_release(run, hp)
        if now is not None and now == run.target_release(hp):
            touched.append(hp)
        elif f"switch:{hp.name}" in steps:
            if now is None:  # cannot tell (host unreachable): switch back as recorded
                touched.append(hp)
            else:  # a later deploy or rollback has moved current since: leave it be
                run.say(f"[{hp.name}] current is now {('releases/' + now) if now else '(none)'}, "
                        f"not this release: left as it is")
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


def current_release(run: Deploy, hp: HostPlan) -> str | None:
    """The release the host's ``current`` points at now ("" when it has none),
    or None when that cannot be read (host unreachable)."""
    try:
        conn = targets.connector(run.session, hp.host)
        r = conn.run(["sh", "-c", f"readlink -- {shlex.quote(hp.layout.current)} || true"], timeout=30)
    except TetraError:
        return None
    if not r.ok:
        return None
    link = r.stdout.strip()
    return Path(link).name if link else ""

"""``rollback @t [--to RELEASE]``: its own transaction, on the deploy pipeline.

Per host: find the release to go back to (``--to``, else the newest before
``current`` that no rollback went back from), switch ``current`` to it
atomically, restart, validate; a failure switches every touched host back to
what it ran before.  Once it succeeds, the release it left is marked as rolled
back from, so that a later rollback does not return to it (deploy v1, v2;
rollback → v1; deploy v3; rollback → v1, not v2).
"""

from __future__ import annotations

from tetra_repl.errors import TetraError
from tetra_repl.ttm import lifecycle, targets

from . import plan as P
from .engine import Deploy
from .hosts import HostFailure, HostPlan


class Rollback(Deploy):
    """The deploy pipeline with no artifact: EXECUTE switches to an old release."""

    kind = "rollback"

    def select(self) -> None:
        from tetra_repl.ttm import states

        if self.stage() == states.NEW:
            self.txn.advance(states.SELECT)

    def print_plan(self, res, hps: list[HostPlan]) -> None:
        to = self.params.get("to") or "the release before current"
        self.say(f"plan {self.txn.id}: {res.symbol} → {len(hps)} host(s); roll back to {to}")
        for hp in hps:
            self.say(f"  {hp.name:<12} {hp.layout.deploy_path}  restart: {hp.restart or '-'}")

    def print_dry_run(self, hps):
        for hp in hps:
            self.say(f"  [{hp.name}] {P.list_releases(hp.layout).text()}")

    def prune(self, hps) -> list:
        """A rollback never deletes releases: it marks the one each host left."""
        self.abort.clear()
        steps = self.txn.state()["steps"]
        busy = [hp for hp in hps if f"mark:{hp.name}" not in steps]
        if busy:
            targets.fan_out(busy, self.mark_host, parallel=len(busy), cancel=self.cancel)
        return []

    def mark_host(self, hp: HostPlan) -> None:
        prep = self.txn.state()["steps"].get(f"prepare:{hp.name}") or {}
        left, to = prep.get("previous"), prep.get("to")
        if to is None:
            return
        back = left is not None and P.release_order(to) < P.release_order(left)
        with lifecycle.step(self.txn, f"mark:{hp.name}") as s, self.batching(s):
            if s.done:
                return
            try:  # housekeeping: never fails the rollback
                self.run_op(hp, "mark", P.mark_rolled_back(hp.layout, left if back else None, to))
                s.result = {"rolled_back_from": left if back else None}
            except TetraError as exc:
                s.result = {"error": exc.message}

    def discard(self, hps, steps) -> None:
        pass  # nor does a failed one: its target release was there before it

    def target_release(self, hp: HostPlan) -> str | None:
        return (self.txn.state()["steps"].get(f"prepare:{hp.name}") or {}).get("to")

    def execute_host(self, hp: HostPlan) -> None:
        lay = hp.layout
        with lifecycle.step(self.txn, f"prepare:{hp.name}") as s, self.batching(s):
            if not s.done:
                self.checkpoint()
                out = self.run_op(hp, "prepare", P.list_releases(lay)).stdout
                names, current = P.parse_listing(out)
                to = self.params.get("to")
                if to is None:
                    older = [n for n in names if current is None or P.release_order(n) < P.release_order(current)]
                    left = P.rolled_back(out)
                    if not names:
                        raise HostFailure(hp.name, "prepare", f"no releases in {lay.releases}: "
                                          f"nothing to roll back to")
                    if not older:
                        raise HostFailure(hp.name, "prepare",
                                          f"no release before {current} to roll back to")
                    if not [n for n in older if n not in left]:
                        raise HostFailure(hp.name, "prepare",
                                          f"every release before {current} was rolled back from "
                                          f"({', '.join(older)}); name one with --to")
                    to = [n for n in older if n not in left][-1]
                elif to not in names:
                    raise HostFailure(hp.name, "prepare", f"release {to} is not on the host "
                                      f"(have: {', '.join(names) or 'none'})")
                s.result = {"previous": current, "to": to}
        to = self.target_release(hp)
        with lifecycle.step(self.txn, f"switch:{hp.name}") as s, self.batching(s):
            if not s.done:
                self.checkpoint()
                self.run_op(hp, "switch", P.link(lay, to))
                self.run_op(hp, "switch", P.rename(lay))
                self.say(f"[{hp.name}] current → releases/{to}")
        if hp.restart:
            with lifecycle.step(self.txn, f"restart:{hp.name}") as s, self.batching(s):
                if not s.done:
                    self.run_op(hp, "restart", P.restart(lay, hp.restart))

    def done_message(self, hps) -> str:
        targets = {self.target_release(hp) for hp in hps}
        if len(targets) == 1:  # the usual case: one line names the release once
            return (f"rolled back {len(hps)} host(s) to {targets.pop()}: "
                    f"{', '.join(hp.name for hp in hps)}  ({self.txn.id} DONE)")
        return (f"rolled back {len(hps)} host(s): " + ", ".join(
            f"{hp.name} → {self.target_release(hp)}" for hp in hps) + f"  ({self.txn.id} DONE)")

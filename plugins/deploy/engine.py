"""The deploy pipeline (SPEC 7) on the TTM: one transaction, module ``deploy``.

Every per-host action is a recorded step (``upload:web-1``, ``switch:web-1``…),
so a resumed run skips what is done.  Any host failing EXECUTE or VALIDATE
aborts the others between steps and compensates every host whose ``current``
was switched: it is pointed back at the release it had before.

What runs on each host is planned in :mod:`hosts` (and :mod:`plan`, the
commands themselves); switching back after a failure is :mod:`compensate`.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager

from tetra_repl.errors import CommandError, Terminated, TetraError
from tetra_repl.ttm import crash, lifecycle, session_leases, states, targets
from tetra_repl.ttm.leases import Locked

from . import plan as P
from .compensate import compensate, current_release
from .hosts import (
    HostFailure,
    HostPlan,
    config_op,
    dry_run_lines,
    hashed_by_upload,
    host_plans,
    leaders,
    machine,
    plan_lines,
    shared_deploy_path,
    upload_progress,
)

# tar's closing lines say that it failed, not why: the line before them does
_TRAILERS = ("tar: Error is not recoverable", "tar: Exiting with failure status")


def _cause(stderr: str) -> str | None:
    """The line of a failed command's stderr that says why (its last, but not tar's trailer)."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    meaningful = [line for line in lines if not line.startswith(_TRAILERS)]
    return (meaningful or lines or [None])[-1]


# Steps a leader announces to the entries on its machine as soon as they are recorded.
SIGNALLED = ("prepare", "verify", "extract")


class Deploy:
    """One run of the pipeline over a transaction (fresh or resumed)."""

    def __init__(self, ctx, txn, *, wait: float | None = None):
        self.ctx, self.txn, self.wait = ctx, txn, wait
        self.session = ctx.session
        self.leases = session_leases(ctx.session)
        from tetra_plugins.txn.work import cancel_event

        self.cancel = cancel_event()
        self.abort = threading.Event()  # one host failed: the others stop between steps
        self.failures: list[HostFailure] = []
        self.params = txn.state()["params"]
        self._evidence_cache: dict[str, dict] = {}
        self._tl = threading.local()  # per host thread: events held for step_done
        self._held: list = []  # hosts' last step_done, written when the fan-out ends
        self._held_lock = threading.Lock()
        self._hold_last = False
        self._read_source: str | None = None  # the artifact itself, while unchanged

    # -- helpers ------------------------------------------------------------
    def say(self, text: str) -> None:
        self.ctx.out(text)

    def stage(self) -> str:
        return self.txn.state()["stage"]

    def _evidence(self, kind: str) -> dict | None:
        # Evidence is append-only: once found it never changes, so it is read
        # once, not on every step of every host (each state() parses state.json).
        found = self._evidence_cache.get(kind)
        if found is None:
            found = next((ev for ev in self.txn.state()["evidence"] if ev["kind"] == kind), None)
            if found is not None:
                self._evidence_cache[kind] = found
        return found

    def evidence(self, kind: str) -> str | None:
        ev = self._evidence(kind)
        return str(self.txn.path / ev["file"]) if ev else None

    def config_op(self, hp: HostPlan) -> P.Op | None:
        return config_op(hp.layout, self._evidence("config"), self.evidence("config"))

    def sha(self) -> str:
        return self._evidence("artifact")["sha256"]

    def run_op(self, hp: HostPlan, step: str, op: P.Op, *, timeout: float | None = 600,
               cancellable: bool = True):
        """Run one op on one host, recorded as exec_started/exec_finished.

        ``cancellable=False`` for the clean-up after a failure: Ctrl-C or a
        cancelled job is what set it off, and must not cut it short.

        Inside a step (``self._tl.batch`` set) a successful op's two events are
        written with the step's ``step_done`` (one write, not three); a failed
        op's are written at once, with any held back before it.
        """
        started = ("exec_started", {"host": hp.name, "step": step, "command": op.text()}, None)
        batch = getattr(self._tl, "batch", None)
        if batch is None:
            self.txn.record_many([started])
        try:
            warm = self._warm_error(hp)
            if warm is not None:
                raise warm
            conn = targets.connector(self.session, hp.host)
            if op.kind == "put":
                progress = upload_progress(self.say, hp.name) if step == "upload" else None
                value = conn.put(op.local, op.remote, progress=progress,
                                 expect_sha256=op.sha256 or None)
                finished = {"ok": True, "sha256": value}
            else:
                value = conn.run(op.argv, timeout=timeout, cancel=self.cancel if cancellable else None)
                finished = {"ok": value.ok, "exit": value.exit_status, "error": value.error}
        except TetraError as exc:  # connection-level: refused, host key, lost, transfer
            value, finished = None, {"ok": False, "error": exc.message}
        done = ("exec_finished", {"host": hp.name, "step": step, **finished}, None)
        if finished["ok"] and batch is not None:
            batch += [started, done]
            return value
        held = list(batch or []) + ([started] if batch is not None else [])
        if batch:
            batch.clear()
        self.txn.record_many(held + [done])
        if finished["ok"]:
            return value
        detail = finished["error"] or _cause(value.stderr) or f"exit {value.exit_status}"
        raise HostFailure(hp.name, step, detail)

    def warm_up(self) -> None:
        """Open every host's SSH connection in the background (handshake and
        login only: nothing runs on a host before its lease) while SELECT
        copies and hashes the artifact; a failure is reported by the host's
        first command instead of being retried a second time."""
        self._warm: dict[str, threading.Thread] = {}
        self._warm_errors: dict[str, TetraError] = {}
        if self.params.get("dry_run"):
            return
        try:
            hosts = targets.resolve(self.session, self.txn.state()["target"]).hosts
        except (TetraError, OSError):
            return  # assemble reports it
        # Entries that are one login on one machine share one connection: they
        # wait for its one handshake (and share its failure, not retry it).
        # The first entry of each machine uploads: once connected, it opens
        # its SFTP session on the side (the upload's first 50 ms).
        uploaders: set[tuple] = set()
        for h in hosts:
            conn = targets.connector(self.session, h)
            if getattr(conn, "connect", None) is None or h.name in self._warm:
                continue
            uploads = machine(h) not in uploaders
            uploaders.add(machine(h))

            def open_one(h=h, conn=conn, uploads=uploads):
                try:
                    conn.connect()
                    if uploads:
                        threading.Thread(target=conn.open_sftp, daemon=True,
                                         name=f"tetra-sftp-{h.name}").start()
                except TetraError as exc:
                    self._warm_errors[h.name] = exc
                except Exception:  # noqa: BLE001, S110 (reported again by the first command)
                    pass

            t = threading.Thread(target=open_one, name=f"tetra-connect-{h.name}", daemon=True)
            self._warm[h.name] = t
            t.start()

    def _warm_error(self, hp: HostPlan) -> TetraError | None:
        """Wait for the host's background connect; its error, once."""
        t = self._warm.pop(hp.name, None) if hasattr(self, "_warm") else None
        if t is not None:
            t.join()
        return self._warm_errors.pop(hp.name, None) if t is not None else None

    kind = "deploy"

    def target_release(self, hp: HostPlan) -> str | None:
        """The release this run switches ``hp`` to."""
        return hp.layout.release

    def checkpoint(self) -> None:
        """Between steps: stop if cancelled or another host failed."""
        if self.cancel.is_set():
            raise TetraError("cancelled")
        if self.abort.is_set():
            raise TetraError("aborted: another host failed")

    # -- phases -------------------------------------------------------------
    def run(self) -> int:
        # The whole run is an open step: if this process dies anywhere, even
        # between two steps, the transaction shows as interrupted.  It is
        # closed by txn_commit / txn_fail.
        self.txn.record("step_started", {"step": "run"})
        try:
            self.warm_up()  # connections open while SELECT copies and hashes
            if self.stage() in (states.NEW, states.SELECT):
                self.select()
            res = self.assemble()
            hps = host_plans(self.session, res.hosts, self.txn.id, self.params)
            shared = shared_deploy_path(hps)
            if shared is not None:
                a, b = shared
                raise CommandError(f"host entries {a.name} and {b.name} are one machine with one "
                                   f"deploy_path ({a.layout.deploy_path}): they would overwrite "
                                   f"each other's release",
                                   hint="give each entry its own deploy_path, or select one of them")
        except (TetraError, OSError) as exc:  # before any host was touched: just end it
            reason = getattr(exc, "message", None) or str(exc)
            lifecycle.fail(self.txn, self.leases, reason)
            raise CommandError(f"{self.kind} {self.txn.id} FAIL: {reason}",
                               hint=getattr(exc, "hint", None)) from None
        self.print_plan(res, hps)
        if self.params.get("dry_run"):
            self.print_dry_run(hps)
            lifecycle.fail(self.txn, self.leases, "dry run: stopped after ASSEMBLE; nothing changed")
            return 0
        try:
            if self.stage() in (states.EXECUTE, states.VALIDATE):  # resumed
                self.check_unmoved(hps)
            if self.stage() in (states.ASSEMBLE, states.EXECUTE):
                self.execute(hps)
            if self.stage() in (states.EXECUTE, states.VALIDATE):
                self.validate(hps)
            lifecycle.commit(self.txn, self.leases, before=self.prune(hps))
        except Locked as exc:
            lifecycle.fail(self.txn, self.leases, exc.message)
            raise
        except (HostFailure, TetraError) as exc:
            return self.fail(hps, exc)
        except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM: stop the hosts, switch back, exit
            self.cancel.set()
            why = "SIGTERM" if isinstance(exc, Terminated) else "Ctrl-C"
            try:
                self.fail(hps, TetraError("interrupted"), reason=f"interrupted ({why})")
            except CommandError as exc:
                self.ctx.err(f"tetra: {exc.message}")
            raise
        self.say(self.done_message(hps))
        return 0

    def check_unmoved(self, hps: list[HostPlan]) -> None:
        """On resume: every host this run reached must still be where the run
        left it (this release if switched, else the release prepare saw).  A
        deploy or rollback since the interruption moved it: going on would
        validate (and report as deployed) a release that is not running."""
        steps = self.txn.state()["steps"]
        for hp in hps:
            prep = steps.get(f"prepare:{hp.name}")
            if prep is None:
                continue
            mine = self.target_release(hp)
            expected = mine if f"switch:{hp.name}" in steps else ((prep or {}).get("previous") or "")
            now = current_release(self, hp)
            if now is not None and now not in (expected, mine):
                raise HostFailure(hp.name, "resume",
                                  f"current is now {('releases/' + now) if now else '(none)'}, "
                                  f"moved since {self.txn.id} was interrupted")

    def discard(self, hps: list[HostPlan], steps: dict) -> None:
        """After a failed deploy: remove this release's files from each host it
        reached (none is ``current`` any more), so no half state stays behind."""
        for hp in hps:
            prep = steps.get(f"prepare:{hp.name}") or {}
            first = not prep.get("releases") and not prep.get("previous")
            try:
                self.run_op(hp, "cleanup", P.discard(hp.layout, drop_releases_dir=first), timeout=120,
                            cancellable=False)
                self.say(f"[{hp.name}] removed the failed release releases/{hp.layout.release}")
            except TetraError as exc:
                self.ctx.err(f"tetra: warning: {hp.name}: could not remove releases/"
                             f"{hp.layout.release}: {exc.message}")

    def done_message(self, hps) -> str:
        return (f"deployed {self.txn.id} to {len(hps)} host(s): "
                f"{', '.join(h.name for h in hps)}  (DONE)")

    def select(self) -> None:
        if self.stage() == states.NEW:
            self.txn.advance(states.SELECT)
        if self.evidence("artifact") is None:
            source = os.path.abspath(self.params["artifact"])
            before = _identity(source)
            self.txn.add_evidence(source, "artifact")
            if before is not None and _identity(source) == before:
                self._read_source = source
        if self.params.get("config") and self.evidence("config") is None:
            self.txn.add_evidence(self.params["config"], "config")

    def assemble(self):
        from tetra_plugins.txn.work import resolve_into

        st = self.txn.state()
        if st["stage"] in (states.NEW, states.SELECT) or st["tes_plan"] is None:
            return resolve_into(self.ctx, self.txn)
        res = targets.resolve(self.session, st["target"])
        wanted = set(st["hosts"])
        res.hosts = [h for h in res.hosts if h.name in wanted]
        if {h.name for h in res.hosts} != wanted:
            raise CommandError(f"{self.txn.id}: the target's hosts changed since it was resolved",
                               hint=f"txn fail {self.txn.id} \"topology changed\"")
        return res

    def print_plan(self, res, hps: list[HostPlan]) -> None:
        ev = next(e for e in self.txn.state()["evidence"] if e["kind"] == "artifact")
        for line in plan_lines(self.txn.id, res.symbol, hps, ev):
            self.say(line)

    def print_dry_run(self, hps: list[HostPlan]) -> None:
        # the upload reads the artifact itself while it is unchanged since SELECT (as now)
        source = self._read_source or self.evidence("artifact")
        for line in dry_run_lines(hps, source, self.sha(), self.config_op, self.keep):
            self.say(line)

    def execute(self, hps: list[HostPlan]) -> None:
        names = [hp.name for hp in hps]
        move = [("stage_changed", None, states.EXECUTE)] if self.stage() == states.ASSEMBLE else []
        lifecycle.take_leases(self.txn, self.leases, names, label=self.txn.state()["target"],
                              wait=self.wait, then=move, cancel=self.cancel)
        lead = leaders(hps)
        # Leaders first: a follower waits for its leader's upload, so leaders
        # must hold the first fan-out slots.
        hps = sorted(hps, key=lambda hp: lead[hp.name] is not None)
        # Leaders signal followers when a step they can reuse is recorded.
        self.ready = {(hp.name, step): threading.Event() for hp in hps if lead[hp.name] is None
                      for step in SIGNALLED}
        self.lead = lead
        self.fan(hps, self.execute_host)

    def fan(self, hps, fn) -> None:
        parallel = int(self.params.get("parallel") or max(
            [int(hp.settings.get("parallel") or 10) for hp in hps] or [10]))

        def one(hp):
            try:
                fn(hp)
            except HostFailure as exc:
                self.failures.append(exc)
                self.abort.set()
                raise
            except TetraError as exc:
                if not self.abort.is_set():
                    self.failures.append(HostFailure(hp.name, "?", exc.message))
                    self.abort.set()
                raise
            except Exception as exc:
                self.failures.append(HostFailure(hp.name, "?", f"{type(exc).__name__}: {exc}"))
                self.abort.set()
                raise

        self._hold_last = parallel >= len(hps)
        try:
            targets.fan_out(hps, one, parallel=parallel, cancel=self.cancel)
        finally:
            with self._held_lock:
                held, self._held = self._held, []
            if held:
                self.txn.record_many(held)
        if self.failures:
            raise self.failures[0]
        if self.cancel.is_set():
            raise TetraError("cancelled")

    def execute_host(self, hp: HostPlan) -> None:
        # Each step's closing events are written with the next step's start
        # (one write per step, not two); the last ones when the host is done.
        carry: list = []
        try:
            self._execute_steps(hp, carry)
        except BaseException:
            if carry:
                self.txn.record_many(carry)
            raise
        self._signal(hp)
        if not self._hold_last:
            if carry:
                self.txn.record_many(carry)
            return
        with self._held_lock:  # all hosts run at once: fan() writes them together (one write)
            self._held += carry

    def _signal(self, hp: HostPlan) -> None:
        """Wake the followers of a leader whose step (of SIGNALLED) is now recorded."""
        waiting = [st for st in SIGNALLED
                   if (hp.name, st) in self.ready and not self.ready[(hp.name, st)].is_set()]
        if waiting:
            steps = self.txn.state()["steps"]
            for st in waiting:
                if f"{st}:{hp.name}" in steps:
                    self.ready[(hp.name, st)].set()

    def _execute_steps(self, hp: HostPlan, carry: list) -> None:
        lay, txn = hp.layout, self.txn
        artifact, config = self.evidence("artifact"), self.config_op(hp)
        for name in ("prepare", "upload", "verify", "extract", "switch", "restart"):
            if name == "restart" and not hp.restart:
                continue
            with lifecycle.step(txn, f"{name}:{hp.name}", carry=carry) as s, self.batching(s):
                self._signal(hp)  # the previous step is on disk now: followers may reuse it
                if s.done:
                    continue
                self.checkpoint()
                crash.point(f"deploy.{name}")
                if name == "prepare":
                    leader = self.lead.get(hp.name)
                    if leader is not None:
                        # The leader's prepare goes first, alone on the connection
                        # (its upload waits for it); this one runs during the upload.
                        if not self._leader_ready(leader, "prepare"):
                            self.checkpoint()  # it failed, or Ctrl-C: stop here
                    names, previous = P.parse_listing(self.run_op(hp, name, P.prepare(lay)).stdout)
                    s.result = {"previous": previous, "releases": names}
                elif name == "upload":
                    leader = self.lead.get(hp.name)
                    if leader is not None and self._leader_ready(leader, "verify"):
                        src = leader.layout.tarball
                        self.say(f"[{hp.name}] same machine as {leader.name}: "
                                 f"reusing its verified upload, not sending it again")
                        self.run_op(hp, name, P.copy_from(lay, src))
                        s.result = {"from": leader.name}
                    else:
                        self.checkpoint()
                        self.say(f"[{hp.name}] upload → {lay.tarball}")
                        # The upload reads the artifact itself when it is unchanged
                        # since SELECT copied it: its pages are still in memory, the
                        # copy's went to disk.  The host's sha256 must equal the
                        # evidence's either way (checked here or at verify).
                        local = self._read_source or artifact
                        if hashed_by_upload(hp):
                            op = P.upload(lay, local, self.sha())
                            s.result = {"sha256": self.run_op(hp, name, op), "hashed_on_host": True}
                        else:
                            s.result = {"sha256": self.run_op(hp, name, P.upload(lay, local))}
                elif name == "verify":
                    up = self.txn.state()["steps"].get(f"upload:{hp.name}") or {}
                    source = up.get("from")
                    if source is None and up.get("hashed_on_host") and up.get("sha256") == self.sha():
                        # the host hashed the file before it was renamed into place
                        s.result = {"sha256": up["sha256"], "hashed_by": "upload"}
                        continue
                    if source is not None:
                        src = next(x for x in self.lead.values() if x and x.name == source).layout.tarball
                        got = self.run_op(hp, name, P.verify_copy(lay, src)).stdout.lower().split()[:1]
                        if got == ["same"]:  # the very inode verified on the leader
                            s.result = {"sha256": self.sha(), "same_file_as": source}
                            continue
                    else:
                        got = self.run_op(hp, name, P.verify(lay)).stdout.lower().split()[:1]
                    if got != [self.sha()]:
                        raise HostFailure(hp.name, name, f"sha256 on the host {got[0] if got else '?'} "
                                          f"≠ artifact {self.sha()}")
                    s.result = {"sha256": got[0]}
                elif name == "extract":
                    leader = self.lead.get(hp.name)
                    if leader is not None and self._leader_ready(leader, "extract"):
                        # Same machine: copy the tree the leader unpacked from
                        # the same verified file (a copy is far cheaper than gunzip).
                        self.run_op(hp, name, P.copy_tree(leader.layout.release_dir, lay))
                        s.result = {"copied_from": leader.name}
                    else:
                        self.checkpoint()
                        self.run_op(hp, name, P.extract(lay))
                    if config is not None:
                        self.run_op(hp, name, config)
                elif name == "switch":
                    self.run_op(hp, name, P.link(lay, lay.release))
                    crash.point("deploy.switch.mid")  # new link made, not yet renamed
                    self.run_op(hp, name, P.rename(lay))
                    self.say(f"[{hp.name}] current → releases/{lay.release}")
                elif name == "restart":
                    self.run_op(hp, name, P.restart(lay, hp.restart))

    @contextmanager
    def batching(self, s):
        """Hold this thread's op events for the step's ``step_done`` write."""
        self._tl.batch = s.before_done
        try:
            yield
        finally:
            self._tl.batch = None

    def _leader_ready(self, leader: HostPlan, step: str) -> bool:
        """Wait until the leader has recorded ``step``; False if it never will."""
        event = self.ready.get((leader.name, step))
        if event is not None:  # set by the leader once the step is recorded (no polling the state)
            done = event.is_set
        else:
            done = lambda: f"{step}:{leader.name}" in self.txn.state()["steps"]
        while not done():
            if self.abort.is_set() or self.cancel.is_set():
                return False
            if event is not None:
                event.wait(0.2)
            else:
                time.sleep(0.2)
        return True

    def validate(self, hps: list[HostPlan]) -> None:
        items = [("stage_changed", None, states.VALIDATE)] if self.stage() == states.EXECUTE else []
        # A host with no health URL and no check has nothing to run: its step
        # is recorded whole ("skipped"), with the stage move, in one write.
        steps = self.txn.state()["steps"]
        idle = [hp for hp in hps if not (hp.health or hp.check) and f"validate:{hp.name}" not in steps]
        for hp in idle:
            crash.point("deploy.validate")
            name = f"validate:{hp.name}"
            items += [("step_started", {"step": name}, None),
                      ("step_done", {"step": name, "result": {
                          "skipped": "no health URL or check command configured"}}, None)]
        busy = [hp for hp in hps if hp not in idle]
        passed = ("validate_passed", {"hosts": [hp.name for hp in hps]}, None)
        if not busy:
            items.append(passed)
        if items:
            self.txn.record_many(items)
        if len(idle) == 1:
            self.say(f"[{idle[0].name}] validate skipped (no health/check configured)")
        elif idle:
            self.say(f"validate skipped on {len(idle)} hosts: {', '.join(hp.name for hp in idle)} "
                     f"(no health/check configured)")
        if busy:
            try:
                self.fan(busy, self.validate_host)
            except (HostFailure, TetraError):
                # SPEC 6.2: a failed VALIDATE is recorded as such (validate_passed's twin)
                failed = [f for f in self.failures if f.step == "validate"]
                if failed:
                    self.txn.record("validate_failed", {
                        "hosts": [f.host for f in failed],
                        "reason": "; ".join(f.message for f in failed)})
                raise
            self.txn.record_many([passed])

    def validate_host(self, hp: HostPlan) -> None:
        with lifecycle.step(self.txn, f"validate:{hp.name}") as s, self.batching(s):
            if s.done:
                return
            crash.point("deploy.validate")
            if hp.health:
                timeout = self.health_timeout(hp)
                deadline = time.monotonic() + timeout
                while True:  # polled until it answers or the time is up
                    self.checkpoint()
                    try:
                        self.run_op(hp, "validate", P.health(hp.health), timeout=10)
                        break
                    except HostFailure as exc:
                        if time.monotonic() >= deadline:
                            raise HostFailure(hp.name, "validate",
                                              f"health {hp.health} not ok after {timeout:g}s "
                                              f"({exc.detail})") from None
                        time.sleep(0.5)
                s.result = {"health": hp.health}
            elif hp.check:
                self.checkpoint()
                self.run_op(hp, "validate", P.check(hp.layout, hp.check))
                s.result = {"check": hp.check}
            else:
                s.result = {"skipped": "no health URL or check command configured"}
            self.say(f"[{hp.name}] validate " + ("ok" if hp.health or hp.check
                                                  else "skipped (no health/check configured)"))

    def health_timeout(self, hp: HostPlan) -> float:
        """How long a health URL is polled: ``--health-timeout``, else the
        topology's ``health_timeout``, else 30 s."""
        for value in (self.params.get("health_timeout"), hp.settings.get("health_timeout")):
            if value is not None:
                return float(value)
        return 30.0

    def prune(self, hps: list[HostPlan]) -> list:
        """Keep the newest ``--keep`` releases per host (all hosts at once).

        The releases are known from ``prepare`` (the hosts are leased since),
        so a host with nothing to remove runs nothing: its step is returned
        whole, to be written with the commit.
        """
        self.abort.clear()
        steps = self.txn.state()["steps"]
        idle, busy = [], []
        for hp in hps:
            name = f"prune:{hp.name}"
            if name in steps:
                continue
            prep = steps.get(f"prepare:{hp.name}") or {}
            if "releases" in prep and not self._to_prune(hp, prep["releases"], prep):
                idle += [("step_started", {"step": name}, None),
                         ("step_done", {"step": name, "result": {"removed": []}}, None)]
            else:
                busy.append(hp)
        if busy:
            targets.fan_out(busy, self.prune_host, parallel=len(busy), cancel=self.cancel)
        return idle

    def keep(self, hp: HostPlan) -> int:
        """Releases kept per host: ``--keep``, else the topology's ``keep``, else 5."""
        return int(self.params.get("keep") or hp.settings.get("keep") or 5)

    def _to_prune(self, hp: HostPlan, releases: list[str], prep: dict) -> list[str]:
        """Beyond the newest ``keep``, but never this release, nor (when two or
        more are kept) the one that ran before it: what a rollback goes back to."""
        keep = self.keep(hp)
        names = sorted(set(releases) | {hp.layout.release}, key=P.release_order)
        protect = {hp.layout.release}
        if keep >= 2 and prep.get("previous") in names:
            protect.add(prep["previous"])
        return P.to_prune(names, keep, protect)

    def prune_host(self, hp: HostPlan) -> None:
        with lifecycle.step(self.txn, f"prune:{hp.name}") as s, self.batching(s):
            if s.done:
                return
            try:
                prep = self.txn.state()["steps"].get(f"prepare:{hp.name}") or {}
                if "releases" not in prep:  # a transaction begun before prepare listed them
                    prep = dict(prep)
                    prep["releases"], _ = P.parse_listing(
                        self.run_op(hp, "prune", P.list_releases(hp.layout)).stdout)
                gone = self._to_prune(hp, prep["releases"], prep)
                if gone:
                    self.run_op(hp, "prune", P.remove(hp.layout, gone))
                s.result = {"removed": gone}
            except HostFailure as exc:  # pruning is housekeeping: never fails a deploy
                s.result = {"error": exc.detail}

    # -- failure and compensation ---------------------------------------------
    def fail(self, hps: list[HostPlan], exc: TetraError, *, reason: str | None = None) -> int:
        failed: dict[str, str] = {}  # every host that failed, once, in the order they failed
        for f in self.failures:
            failed.setdefault(f.host, f.message)
        reason = reason or ("cancelled" if self.cancel.is_set()
                            else "; ".join(failed.values()) or exc.message)
        rolled, problems = compensate(self, hps)
        lifecycle.fail(self.txn, self.leases, reason)
        back = ", ".join(f"{h} (to {p or 'no release'})" for h, p in rolled)
        what = f"rolled back {back}" if rolled else "nothing was switched, nothing to roll back"
        if problems:
            what += f"; ROLLBACK PROBLEMS: {'; '.join(problems)}"
        raise CommandError(f"{self.kind} {self.txn.id} FAIL: {reason}; {what}",
                           hint=f"details: txn events {self.txn.id}")


def _identity(path: str) -> tuple | None:
    """What changes when a file is rewritten: inode, size, mtime, ctime."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns

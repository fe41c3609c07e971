"""Background jobs: statements ending in ``&``.

A job on an @target runs on that target's lane of the transaction runner
(after earlier work on the target, foreground or not); any other job on its
own thread.  ``jobs`` lists them and ``wait`` joins them.
Cancelling sets the job's ``cancelled`` event, which long-running handlers
poll (``ctx.session.jobs.current_cancelled()``) to stop and roll back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .errors import TetraError

_local = threading.local()


@dataclass
class Job:
    id: int
    description: str
    thread: threading.Thread | None = None
    status: str = "running"  # running | done | failed | cancelled
    exit_status: int | None = None
    error: str | None = None
    started: float = field(default_factory=time.time)
    cancelled: threading.Event = field(default_factory=threading.Event)
    done: threading.Event = field(default_factory=threading.Event)


class JobManager:
    def __init__(self, session) -> None:
        self.session = session
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()
        self._next = 1
        self.exit_asked = False  # the first Ctrl-D with jobs running asked; the next cancels

    def start(self, description: str, fn: Callable[[], int], key: str | None = None) -> Job:
        """Start ``fn`` in the background.  With ``key`` (the statement's
        target) it goes through the transaction runner (:mod:`tetra_repl.ttm.runner`):
        the call returns once the runner has taken it, and jobs on one target
        run in submission order."""
        with self._lock:
            job = Job(self._next, description)
            self._next += 1
            self._jobs[job.id] = job
        # said before the job runs: a quick job's "done" line must not come first
        self.session.err(f"[{job.id}] started: {description}")
        if key is not None:
            from .ttm import runner

            runner.submit(self.session, runner.Work(key, lambda cancel: self._run(job, fn),
                                                    description, cancel=job.cancelled))
            self.session.bus.publish("job.started", {"id": job.id, "description": description})
            return job
        job.thread = threading.Thread(target=self._run, args=(job, fn), daemon=True,
                                      name=f"tetra-job-{job.id}")
        job.thread.start()
        self.session.bus.publish("job.started", {"id": job.id, "description": description})
        return job

    def _run(self, job: Job, fn: Callable[[], int]) -> None:
        _local.job = job
        try:
            job.exit_status = fn()
            job.status = "cancelled" if job.cancelled.is_set() else (
                "done" if job.exit_status == 0 else "failed")
        except TetraError as exc:
            job.status = "cancelled" if job.cancelled.is_set() else "failed"
            job.exit_status, job.error = int(exc.exit_status), exc.message
        except BaseException as exc:  # a job must never kill the shell
            job.status, job.exit_status, job.error = "failed", 1, f"{type(exc).__name__}: {exc}"
        finally:
            line = f"[{job.id}] {job.status}: {job.description}"
            if job.error:
                line += f" — {job.error}"
            elif job.status != "done" and job.exit_status:
                line += f" — exit status {job.exit_status}"
            try:
                # said before 'wait' returns: its own report comes after this line
                self.session.err(line)
            finally:
                job.done.set()
            self.session.bus.publish("job.finished", {"id": job.id, "status": job.status})

    def list(self) -> list[Job]:
        with self._lock:
            return list(self._jobs.values())

    def running(self) -> list[Job]:
        return [j for j in self.list() if not j.done.is_set()]

    def get(self, job_id: int) -> Job | None:
        return self._jobs.get(job_id)

    def wait(self, job: Job | None = None, timeout: float | None = None) -> bool:
        """Wait for one job, or all; True when everything waited for finished."""
        jobs = [job] if job is not None else self.list()
        deadline = None if timeout is None else time.monotonic() + timeout
        for j in jobs:
            remaining = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not j.done.wait(remaining):
                return False
        return True

    def cancel_all(self) -> list[Job]:
        jobs = self.running()
        for job in jobs:
            job.cancelled.set()
        return jobs

    def request_exit(self, timeout: float | None = None) -> str:
        """The two-step Ctrl-D.  ``"exit"`` when no job runs; the first call with
        jobs running returns ``"confirm"`` (ask the user); the next one cancels
        them (each cancelled transaction rolls back and ends FAIL "cancelled"),
        waits up to ``timeout`` and returns ``"cancelled"``, or ``"stuck"`` when
        some are still running.  Set ``exit_asked = False`` to start over."""
        if not self.running():
            return "exit"
        if not self.exit_asked:
            self.exit_asked = True
            return "confirm"
        self.cancel_all()
        return "cancelled" if self.wait(timeout=timeout) else "stuck"

    @staticmethod
    def current_cancelled() -> bool:
        """True inside a background job that has been cancelled."""
        job = getattr(_local, "job", None)
        return bool(job and job.cancelled.is_set())

    @staticmethod
    def current() -> Job | None:
        return getattr(_local, "job", None)

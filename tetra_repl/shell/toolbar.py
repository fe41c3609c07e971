"""The prompt text and the bottom toolbar, both fed by plugins' providers.

The toolbar shows what plugins report (the active transaction and its stage)
and the running background jobs.  It is redrawn whenever anything is published
on the session's event bus (``txn.stage_changed``, ``job.started``…) and, as
a fallback, every second by the prompt's ``refresh_interval``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prompt_toolkit.formatted_text import FormattedText

PROMPT_ARROW = "▸"


def _provided(session, providers) -> list[str]:
    texts = []
    for provider in providers:
        try:
            text = provider(session)
        except Exception:  # a broken plugin must not break the prompt
            continue
        if text:
            texts.append(str(text))
    return texts


def prompt_text(session) -> FormattedText:
    """``tetra @staging ▸ `` (or ``tetra ▸ ``): the active target or transaction."""
    parts: list[tuple[str, str]] = [("class:prompt.name", "tetra")]
    for text in _provided(session, session.registry.prompt_providers):
        parts += [("", " "), ("class:prompt.context", text)]
    parts += [("", " "), ("class:prompt.arrow", PROMPT_ARROW), ("", " ")]
    return FormattedText(parts)


def job_summary(session, now: float | None = None) -> str | None:
    """``2 jobs: [1] deploy @stg… 12s · [2] tsm start… 3s``, or None with no jobs running."""
    if not session.has_jobs:  # created lazily: no `&` yet, no jobs
        return None
    running = session.jobs.running()
    if not running:
        return None
    now = time.time() if now is None else now
    shown = []
    for job in running[:3]:
        label = job.description if len(job.description) <= 30 else job.description[:29] + "…"
        shown.append(f"[{job.id}] {label} {now - job.started:.0f}s")
    more = f" +{len(running) - 3} more" if len(running) > 3 else ""
    noun = "job" if len(running) == 1 else "jobs"
    return f"{len(running)} {noun}: " + " · ".join(shown) + more


HINT = "help: commands · Tab: complete · Ctrl-R: search history · Ctrl-D: exit"


def toolbar_text(session) -> FormattedText:
    """The bottom toolbar: plugin texts and running jobs, else a short hint."""
    parts: list[tuple[str, str]] = []
    for text in _provided(session, session.registry.toolbar_providers):
        if parts:
            parts.append(("class:bottom-toolbar.sep", "  │  "))
        parts.append(("class:bottom-toolbar.text", text))
    jobs = job_summary(session)
    if jobs:
        if parts:
            parts.append(("class:bottom-toolbar.sep", "  │  "))
        parts.append(("class:bottom-toolbar.jobs", jobs))
    if not parts:
        parts.append(("class:bottom-toolbar.hint", HINT))
    return FormattedText([("", " ")] + parts)


def redraw_on_events(session, get_app: Callable[[], object]) -> Callable[[], None]:
    """Invalidate the running prompt on every bus event; returns the unsubscriber.

    Publishers run on any thread: ``Application.invalidate`` is thread-safe.
    """

    def on_event(topic, payload) -> None:
        app = get_app()
        if app is not None and getattr(app, "is_running", False):
            app.invalidate()

    return session.bus.subscribe("*", on_event)

"""Background jobs for a page: the server's one runner, and results computed off the script
thread (e.g. generated audio), kept per session and shown when ready."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

from frmdn.jobs.pool import Job, JobRunner, QueueFull, shared_runner

__all__ = ["job_result", "job_runner", "owner", "queue_sentence"]

POLL_SECONDS = 0.5


def owner() -> str:
    """This browser session's id: jobs belong to it and die with it."""
    ctx = get_script_run_ctx()
    return ctx.session_id if ctx is not None else "no-session"


def _session_alive(session_id: str) -> bool:
    """False once Streamlit has dropped the browser session that owns a job."""
    from streamlit import runtime

    if not runtime.exists():  # AppTest and bare scripts: nobody to lose
        return True
    return runtime.get_instance().is_active_session(session_id)


@st.cache_resource(show_spinner=False)
def job_runner() -> JobRunner:
    """The server's one job runner; it cancels the jobs of sessions that went away."""
    runner = shared_runner()
    runner.set_owner_check(_session_alive)
    return runner


def queue_sentence(job: Job, counts: dict[str, int] | None = None) -> str:
    """Where a queued job stands, in words (``counts``: the runner's, by default). A job
    submitted while a slot is free waits only for the runner to hand it over: it is starting,
    and the page says so rather than that the server is busy."""
    counts = counts if counts is not None else job_runner().counts()
    if counts["running"] < counts["workers"] and job.position <= 1:
        return "Starting…"
    return (
        f"The server is busy: your run is queued (position {job.position}). It starts as soon "
        f"as one of the {counts['workers']} training slots is free ({counts['running']} "
        f"running, {counts['queued']} waiting)."
    )


def job_result(slot: str, key: str, fn: Callable, *args: Any, what: str) -> Any | None:
    """The result of ``fn(context, *args)`` from the job runner, or None while it is computed.

    One result per ``slot`` and session: a new ``key`` (other inputs) cancels the slot's
    unfinished job and starts another. While it runs the page shows ``what`` is being done
    (or the queue position) and reruns itself when the result is ready.
    """
    slots = st.session_state.setdefault("job_results", {})
    held_key, held = slots.get(slot, (None, None))
    if held_key != key:
        if isinstance(held, Job):
            held.cancel()
        try:
            held = job_runner().submit(fn, *args, owner=owner(), label=what)
        except QueueFull as error:
            slots.pop(slot, None)
            st.warning(f"{what} has to wait: {error}.", icon=":material/hourglass:")
            return None
        slots[slot] = (key, held)
    if not isinstance(held, Job):
        return held
    if held.status == "done":
        slots[slot] = (key, held.result)
        return held.result
    if not held.active:
        slots.pop(slot, None)
        st.warning(f"{what} failed: {held.error}", icon=":material/warning:")
        return None
    st.fragment(run_every=POLL_SECONDS)(_wait_for)(held, what)
    return None


def _wait_for(job: Job, what: str) -> None:
    if not job.active:
        st.rerun(scope="app")
    st.info(
        queue_sentence(job) if job.status == "queued" else f"{what}…",
        icon=":material/hourglass_top:",
    )

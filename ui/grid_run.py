"""The Compare page's in-page grid run: one data set's quick grid as a job of the server's
runner, its progress, Stop and resume, and the table it leaves as a source."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from frmdn.data.stream import cache_dir
from frmdn.experiments import grid, grid_stats
from frmdn.experiments.grid import QUICK_DATA
from frmdn.jobs.pool import Job, QueueFull
from frmdn.resources import data_dir
from ui import links
from ui.jobs import job_runner, owner, queue_sentence
from ui.links import Choice

__all__ = ["MY_RUN", "my_run_path", "run_section", "sync_grid"]

MY_RUN = "My in-page run"  # the Compare page's source for this session's run
RUNNABLE = list(QUICK_DATA)  # the quick suite's data sets
SHELL_COMMAND = "python -m frmdn experiments --suite quick --data SPEC --out DIR"
POLL_SECONDS = 1.0
SUITE_CHOICES = {  # label -> suite of frmdn.experiments.grid
    "Quick (the shipped suite's budget)": "quick",
    "Smoke test (every kind, 30 steps: seconds, to check this server)": "smoke",
}
state = st.session_state


def my_run_path() -> Path | None:
    """The results.csv of this session's in-page run, once it has one."""
    run = state.get("compare_grid")
    path = Path(run["out_dir"]) / "results.csv" if run and run["out_dir"] else None
    return path if path is not None and path.is_file() else None


@st.cache_data(show_spinner=False)
def quick_seconds() -> dict[str, float]:
    """Training seconds per data set of the shipped quick grid (one job slot runs them in
    turn); empty without it."""
    try:
        table = grid_stats.read_results(data_dir() / "results" / "quick" / "results.csv")
    except (OSError, ValueError):
        return {}
    return table.groupby("data")["train_seconds"].sum().to_dict()


def run_time(spec: str) -> str:
    """How long the quick grid on ``spec`` took when the shipped results were made."""
    seconds = quick_seconds().get(spec)
    if seconds is None:
        return "time unknown"
    return f"about {max(round(seconds / 60), 1)} min of training"


@st.cache_resource(show_spinner=False)
def running_grids() -> dict[str, Job]:
    """The server's in-page grid jobs by output folder: one run per folder at a time."""
    return {}


def grid_dir(suite: str, spec: str) -> Path:
    """Where ``suite`` on ``spec`` keeps its cells: shared, so finished cells are reused."""
    name = "".join(c if c.isalnum() else "-" for c in spec).strip("-")
    return cache_dir() / "grids" / f"{suite}-{name}"


def start_grid(suite: str, spec: str) -> None:
    """Submit ``suite`` on ``spec`` (finished cells are read back, not trained again)."""
    run = {"spec": spec, "out_dir": "", "job": None, "message": None}
    state["compare_grid"] = run
    try:
        run["out_dir"] = out_dir = str(grid_dir(suite, spec))
    except OSError as error:
        run["message"] = ("error", f"No folder for the run: {error}")
        return
    other = running_grids().get(out_dir)
    if other is not None and other.active and other.owner != owner():
        run["message"] = (
            "warning",
            f"Someone else is running the {suite} grid on `{spec}` right now. Press **Run** again "
            "when it has finished: its cells are then read back, not trained again.",
        )
        return
    try:
        run["job"] = job_runner().submit(
            grid.grid_job, suite, spec, out_dir, owner=owner(), label=f"{suite} grid {spec}"
        )
    except QueueFull as error:
        run["message"] = ("warning", f"The run has to wait: {error}.")
        return
    running_grids()[out_dir] = run["job"]


def sync_grid() -> None:
    """Take the outcome of this session's finished run; a table makes it the source."""
    run = state.get("compare_grid")
    job: Job | None = run["job"] if run else None
    if job is None or job.active:
        return
    run["job"] = None
    if running_grids().get(run["out_dir"]) is job:
        del running_grids()[run["out_dir"]]
    cells = (job.progress or {}).get("cells", 0)
    rows = job.result or []
    if job.status == "failed":
        run["message"] = ("error", f"The grid run on `{run['spec']}` failed: {job.error}")
    elif job.status == "cancelled":
        run["message"] = ("info", f"The grid run on `{run['spec']}` stopped before it started.")
    elif job.status == "done" and cells and len(rows) >= cells and my_run_path() is not None:
        run["message"] = (
            "success",
            f"Finished all {cells} cells on `{run['spec']}`: shown above.",  # `: no emoji codes
        )
        state["compare_source"] = MY_RUN
    else:
        run["message"] = (
            "info",
            f"Stopped after {len(rows)} of {cells or 'its'} cells"
            + (f" (source: {MY_RUN})" if rows else "")
            + ". **Run** continues: finished cells are kept and the interrupted one resumes "
            "from its last validation pass.",
        )


def stop_grid() -> None:
    """Stop this session's run between two steps and take what it finished."""
    job: Job | None = state["compare_grid"]["job"]
    if job is not None:
        job.cancel()
        job.wait(timeout=30)
    sync_grid()


def progress_text(spec: str, report: dict | None) -> tuple[float, str]:
    """The bar's fraction and words for a GridProgress report (as a dict)."""
    if not report:
        return 0.0, f"Loading {spec} and planning the cells…"
    done, cells, step, steps = (report[k] for k in ("cells_done", "cells", "step", "steps"))
    partial = step / steps if 0 < step < steps else 0.0
    now = f"training {report['cell']}: step {step} of {steps}" if partial else "next cell…"
    text = f"{done} of {cells} cells done · {now}"
    return min((done + partial) / max(cells, 1), 1.0), text


def grid_status(run: dict) -> None:
    """The live part: the queue or the progress of this session's run."""
    job: Job | None = run["job"]
    if job is None or not job.active:
        st.rerun(scope="app")  # finished: its table becomes a source
    if job.status == "queued":
        st.info(queue_sentence(job), icon=":material/hourglass_top:")
        return
    fraction, text = progress_text(run["spec"], job.progress)
    st.progress(fraction, text=text)


def run_section() -> None:
    st.subheader("Run a grid here")
    st.markdown(
        "Every model kind over the quick suite's seeds (3 on toy sets, 1 elsewhere) on one "
        "data set, in a background slot of this server; the times are those of the shipped "
        "run, and a busy server takes longer. Finished cells are checkpoints: **Stop** keeps "
        "them, and **Run** again continues where it stopped. Several data sets at once run "
        f"best from a shell, `{SHELL_COMMAND}`; then point this page at DIR."
    )
    run = state.get("compare_grid")
    busy = bool(run and run["job"] is not None and run["job"].active)
    run_links = [
        Choice("suite", "compare_run_suite", list(SUITE_CHOICES)),
        Choice("run_data", "compare_run_data", RUNNABLE),
    ]
    asked = links.follow("compare", run_links)
    st.radio(
        "Suite",
        list(SUITE_CHOICES),
        key="compare_run_suite",
        persist_state="session",
        disabled=busy,
    )
    pick, play, stop, _ = st.columns([3, 1, 1, 3], vertical_alignment="bottom")
    pick.selectbox(
        "Data set",
        RUNNABLE,
        format_func=lambda spec: f"{spec} (quick: {run_time(spec)})",
        key="compare_run_data",
        persist_state="session",
        disabled=busy,
    )
    links.record("compare", run_links, asked)
    play.button(
        "Run",
        icon=":material/play_arrow:",
        type="primary",
        disabled=busy,
        width="stretch",
        on_click=lambda: start_grid(  # before the page reruns
            SUITE_CHOICES[state["compare_run_suite"]], state["compare_run_data"]
        ),
    )
    stop.button(
        "Stop", icon=":material/stop:", disabled=not busy, width="stretch", on_click=stop_grid
    )
    if run and run["message"]:
        kind, text = run["message"]
        getattr(st, kind)(text)
    if busy:
        st.fragment(run_every=POLL_SECONDS)(grid_status)(run)

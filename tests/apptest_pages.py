"""Helpers shared by the AppTest page tests: open a page through app.py, find a button."""

from __future__ import annotations

import time
from pathlib import Path

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button

from frmdn.jobs.pool import Job

APP = Path(__file__).resolve().parents[1] / "app.py"


def open_page(page: str, query: dict[str, str] | None = None, timeout: int = 180) -> AppTest:
    """Run app.py (with URL ``query``), switch to ``page`` and check it ran without exception."""
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def button(at: AppTest, label: str) -> Button:
    """The page's button labelled ``label``."""
    return next(b for b in at.button if b.label == label)


def settle(at: AppTest, timeout: float = 120) -> AppTest:
    """Rerun until this session's jobs (training, generation) have all finished.

    Jobs run in the server's worker processes and the page polls them with a timer, which
    AppTest cannot run: each rerun here is one poll.
    """
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        runs = at.session_state["trained_runs"] if "trained_runs" in at.session_state else []
        slots = at.session_state["job_results"] if "job_results" in at.session_state else {}
        training = any(run["live"].job is not None for run in runs if "live" in run)
        if not training and not any(isinstance(held, Job) for _, held in slots.values()):
            return at  # every job has finished and the page has shown its result
        assert time.monotonic() < deadline, "training jobs did not finish in time"
        time.sleep(0.2)


def pause_early(at: AppTest, *, min_steps: int = 25) -> AppTest:
    """Press Pause once the job has reported ``min_steps``, and wait until it has paused."""
    deadline = time.monotonic() + 120
    while live_run(at).steps < min_steps:
        assert time.monotonic() < deadline, "training reported no progress"
        time.sleep(0.2)
        at.run()
    button(at, "Pause").click().run()
    return settle(at)


def live_run(at: AppTest):
    """The LiveRun of the run trained last in this session."""
    return at.session_state["trained_runs"][-1]["live"]


def assert_trained_to_the_end(at: AppTest, steps: int) -> None:
    """The last run trained its whole budget, its validation NLL fell, and the controls say
    so: nothing left to play or step."""
    live = live_run(at)
    assert live.done and live.steps == steps, (live.steps, live.progress)
    for progress in live.progress.values():
        assert progress.history[-1].valid_nll < progress.history[0].valid_nll
    assert button(at, "Step").disabled and button(at, "Play").disabled
    assert any("Training finished" in p.proto.text for p in at.get("progress"))


def checked_fit_verdict(at: AppTest, chart_key: str) -> tuple[dict[str, float], str]:
    """The KS numbers of the page's Q-Q chart (key ending in ``chart_key``) and its verdict
    caption, checked to name the model those numbers favour."""
    import json
    import re

    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(chart_key)]
    titles = [a["text"] for a in json.loads(chart.proto.spec)["layout"]["annotations"]]
    ks = {t.split(" · ")[0]: float(re.search(r"KS ([\d.]+)", t).group(1)) for t in titles[:2]}
    (caption,) = [
        c.value for c in at.caption if "fit more closely" in c.value or "equally" in c.value
    ]
    if abs(ks["RMDN"] - ks["FRMDN"]) < 0.005:
        assert "both fit about equally well" in caption
    else:
        assert f"Here the {min(ks, key=ks.get)}'s Gaussians fit more closely" in caption
    return ks, caption

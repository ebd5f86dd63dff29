"""Live side-by-side training of an RMDN and an FRMDN as a background job, with its controls.

A *run* is a plain dict kept in ``st.session_state`` (models, source, timings and, once trained
here, a :class:`LiveRun`), so a page keeps one per data set and training survives reruns and
page switches. Training never runs in the page's script thread: **Train both** submits a job
to the server's shared :class:`~frmdn.jobs.pool.JobRunner` (a few single-threaded worker
processes),
and the page polls it. When the workers are busy the run waits in a queue and the page says
where it stands, instead of every session slowing everyone down.
"""

from __future__ import annotations

import copy
import math
import uuid
from dataclasses import dataclass, field

import streamlit as st
from torch import Tensor

from frmdn import SequenceDensityModel, TrainConfig, plots
from frmdn.data import SequenceSplit
from frmdn.experiments.pair import build_pair
from frmdn.jobs.live_training import (
    ModelProgress,
    TrainingRequest,
    progress_of,
    train_side_by_side,
)
from frmdn.jobs.pool import Job, QueueFull
from frmdn.models.config import ModelConfig
from frmdn.models.sequence import FRMDN_FLOW_LAYERS
from frmdn.training.trainer import SequenceData
from ui import links
from ui.jobs import job_runner, owner, queue_sentence
from ui.links import Choice, Whole

CHUNK = 25  # training steps per live update, per model
POLL_SECONDS = 1.0  # how often a page polls its job while it is queued or running
MAX_TRAINED_RUNS = 3  # trained pairs one session keeps; older ones go back to pretrained
STEP_OPTIONS = [50, 100, 200, 300, 400, 600, 1000]  # Train both's step budgets


@dataclass
class LiveRun:
    """A pair trained in this session: its request, progress, saved states and current job."""

    request: TrainingRequest
    totals: int
    states: dict[str, dict] | None = None
    progress: dict[str, ModelProgress] = field(default_factory=dict)
    job: Job | None = None
    intent: str = "play"  # what the user asked last: play, step, pause or stop
    stopped: bool = False  # Stop was pressed: the best weights are shown
    version: int = 0  # bumped whenever the models' weights change (cache keys)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)  # unique across sessions
    error: str = ""
    seen_progress: int = field(default=0, repr=False)
    synced_by_page: bool = field(default=False, repr=False)  # the fragment need not poll
    loss_chart: tuple[int, object] | None = field(default=None, repr=False)  # (stamp, figure)

    @property
    def steps(self) -> int:
        return min((p.steps for p in self.progress.values()), default=0)

    @property
    def done(self) -> bool:
        return bool(self.progress) and all(p.done for p in self.progress.values())

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.active


def session_run(page: str, key: str) -> dict:
    """This session's run of ``page`` for one data set (``key``), kept across reruns and page
    switches, so choosing another data set never discards a trained pair."""
    return st.session_state.setdefault(f"{page}_runs", {}).setdefault(key, {})


def session_seed(default: int = 0) -> int:
    """The global seed; app.py owns its widget, so a page run on its own (AppTest) uses
    ``default``."""
    return int(st.session_state["seed"]) if "seed" in st.session_state else default


def session_device() -> str:
    """The device the sidebar names (app.py), or the best available one."""
    from frmdn.device import default_device

    return str(st.session_state.get("device") or default_device())


def model_settings(
    key: str,
    *,
    hidden_options: list[int],
    default_steps: int,
    note: str,
    defaults: dict[str, int] | None = None,
) -> dict:
    """Expander with the shared model widgets for **Train both** (widget keys ``{key}_K``,
    ..., each in the page's URL); returns K, rank, flow_layers, hidden, steps and the session seed.

    The widgets start at the library's defaults (:class:`ModelConfig`), or at a page's
    ``defaults`` for any of K, rank, flow_layers and hidden (e.g. its bundled pair's)."""
    start = {
        "K": ModelConfig.n_components,
        "rank": ModelConfig.rank,
        "flow_layers": FRMDN_FLOW_LAYERS,
        "hidden": ModelConfig.hidden_size,
    } | (defaults or {})
    model_links = [
        Whole("K", f"{key}_K", 1, 10),
        Whole("rank", f"{key}_rank", 0, 4),
        Whole("couplings", f"{key}_flow", 1, 8),
        Choice("lstm", f"{key}_hidden", hidden_options),
        Choice("steps", f"{key}_steps", STEP_OPTIONS, nearest=True),
    ]
    with (
        st.expander("Model settings for **Train both**", expanded=False),
        links.linked(key, model_links),
    ):
        cols = st.columns(5)
        K = cols[0].number_input(
            "Components K", 1, 10, start["K"], key=f"{key}_K", persist_state="session"
        )
        rank = cols[1].number_input(
            "Precision rank r", 0, 4, start["rank"], key=f"{key}_rank", persist_state="session"
        )
        flow_layers = cols[2].number_input(
            "Flow couplings",
            1,
            8,
            start["flow_layers"],
            key=f"{key}_flow",
            persist_state="session",
        )
        hidden = cols[3].select_slider(
            "LSTM width",
            hidden_options,
            start["hidden"],
            key=f"{key}_hidden",
            persist_state="session",
        )
        steps = cols[4].select_slider(
            "Training steps",
            STEP_OPTIONS,
            default_steps,
            key=f"{key}_steps",
            persist_state="session",
        )
        st.caption(note)
    return dict(
        K=int(K),
        rank=int(rank),
        flow_layers=int(flow_layers),
        hidden=int(hidden),
        steps=int(steps),
        seed=session_seed(),
    )


def models_settings(models: dict[str, SequenceDensityModel]) -> dict[str, int]:
    """K, rank, LSTM width and flow couplings of the models on screen (from their configs)."""
    rmdn, frmdn_model = models["RMDN"].config, models["FRMDN"].config
    return dict(
        K=rmdn.n_components,
        rank=rmdn.rank,
        hidden=rmdn.hidden_size,
        flow_layers=frmdn_model.flow_layers,
    )


def settings_note(run: dict, settings: dict) -> None:
    """Say so when the models on screen were made with other settings than the panel shows
    (e.g. a shared link with ``K=5`` over the pretrained K = 3 models)."""
    models = run.get("models")
    if not models:
        return
    shown = models_settings(models)
    labels = {"K": "K", "rank": "rank r", "hidden": "LSTM width", "flow_layers": "flow couplings"}
    differ = [
        f"{labels[k]} = {shown[k]} (the panel says {settings[k]})"
        for k in labels
        if k in settings and settings[k] != shown[k]
    ]
    if differ:
        st.info(
            f"The models on screen, {run.get('source', 'loaded')}, have "
            + ", ".join(differ)
            + ". Press **Train both** to train a pair with the panel's settings.",
            icon=":material/tune:",
        )


def start_run(
    run: dict,
    models: dict[str, SequenceDensityModel],
    train: SequenceData,
    valid: SequenceData,
    config: TrainConfig,
    source: str,
) -> None:
    """Replace ``run`` by freshly built ``models`` and submit their training as a job."""
    request = TrainingRequest(
        {name: (m.config, copy.deepcopy(m.state_dict())) for name, m in models.items()},
        train,
        valid,
        config,
        chunk=CHUNK,
    )
    _cancel(run)
    run.clear()
    run.update(
        models=models,
        source=source,
        seconds={},
        settings=models_settings(models),
        live=LiveRun(request, config.steps),
    )
    _keep_few_trained_runs(run)
    _submit(run, "play")


PAIR_OPTIONS = ("dropout", "input_noise", "pitch_max_lag")  # build_pair's, when a page has them
TRAIN_OPTIONS = ("batch_size", "weight_decay")  # TrainConfig's, when a page has them


def start_pair_run(run: dict, settings: dict, split: SequenceSplit, source: str) -> None:
    """Start ``run`` on a fresh RMDN and FRMDN of equal size, standardised on ``split.train``
    and reading its conditioning inputs (actions) if it has any, trained in CHUNK-step slices
    on the session's device.

    ``settings`` are those :func:`model_settings` returns, plus any of :data:`PAIR_OPTIONS`
    and :data:`TRAIN_OPTIONS` a page offers (the library's defaults otherwise)."""
    pair = build_pair(
        split.dim,
        n_components=settings["K"],
        rank=settings["rank"],
        hidden_size=settings["hidden"],
        flow_layers=settings["flow_layers"],
        seed=settings["seed"],
        cond_dim=split.cond_dim,
        **{name: settings[name] for name in PAIR_OPTIONS if name in settings},
    )
    for model in pair.values():
        model.standardize_on(split.train)
    config = TrainConfig(
        steps=settings["steps"],
        eval_every=CHUNK,
        patience=0,
        seed=settings["seed"],
        device=session_device(),
        **{name: settings[name] for name in TRAIN_OPTIONS if name in settings},
    )
    start_run(run, pair, split.part("train"), split.part("valid"), config, source)


def trained_here(run: dict) -> bool:
    """True when the run's models were trained (or are training) in this session."""
    return "live" in run


def weights_token(run: dict) -> str:
    """Changes whenever the models' weights may have changed (for cache keys)."""
    live = run.get("live")
    return f"{live.id}:{live.version}" if live is not None else run.get("token", "pretrained")


def _keep_few_trained_runs(run: dict) -> None:
    """Remember ``run`` as trained; free the oldest trained pairs beyond MAX_TRAINED_RUNS."""
    trained = st.session_state.setdefault("trained_runs", [])
    trained[:] = [r for r in trained if r is not run and "live" in r] + [run]
    while len(trained) > MAX_TRAINED_RUNS:
        old = trained.pop(0)
        _cancel(old)
        old.clear()  # the page loads its pretrained pair again on the next visit


def _cancel(run: dict) -> None:
    live = run.get("live")
    if live is not None and live.job is not None:
        live.job.cancel()


def _submit(run: dict, intent: str) -> None:
    """Queue the run's next training job (``intent``: play to the end, or step one chunk)."""
    live: LiveRun = run["live"]
    if live.busy:  # one job per run: a second would continue from stale states
        return
    request = TrainingRequest(
        live.request.models,
        live.request.train,
        live.request.valid,
        live.request.config,
        states=live.states,
        max_steps=CHUNK if intent == "step" else None,
        chunk=CHUNK,
    )
    try:
        live.job = job_runner().submit(
            train_side_by_side, request, owner=owner(), label=run.get("source", "")
        )
    except QueueFull as error:
        live.error = str(error)
        return
    live.intent, live.stopped, live.error = intent, False, ""


def _show(run: dict, weights: dict[str, dict[str, Tensor]]) -> None:
    """Load each model's ``weights`` into the copy on screen (new cache keys)."""
    for name, state in weights.items():
        run["models"][name].load_state_dict(state)
    run["live"].version += 1


def _apply_weights(run: dict, states: dict[str, dict], best: bool) -> None:
    """Show each model's best (``best``) or current weights from trainer ``states``."""
    _show(run, {name: state["best" if best else "model"] for name, state in states.items()})


def sync(run: dict) -> None:
    """Bring ``run`` up to date with its job: progress, live weights, the final states."""
    live: LiveRun | None = run.get("live")
    if live is None or live.job is None:
        return
    job = live.job
    report = job.progress
    if report is not None and job.progress_count != live.seen_progress:
        live.seen_progress = job.progress_count
        live.progress = report["models"]
        if report["weights"] is not None:
            _show(run, report["weights"])
    if job.active:
        return
    live.job, live.seen_progress = None, 0
    if job.status == "failed":
        live.error = f"Training failed: {job.error}. The weights shown are from step {live.steps}."
        return
    if job.status == "done":
        live.states = job.result
        for name, state in job.result.items():
            live.progress[name] = progress_of(state["result"], live.totals, state["done"])
            run["seconds"][name] = state["result"].elapsed
    live.stopped = live.intent == "stop"
    if live.states is not None:
        _apply_weights(run, live.states, best=live.stopped)


def views_wait_for_training(run: dict) -> bool:
    """True (and a note on the page) while the run is queued or training: the views would
    show a half-trained pair and cost the shared server a full redraw; they return when the
    run finishes, pauses or stops."""
    live = run.get("live")
    if live is None or live.job is None:
        return False
    st.info(
        "The views below return when training finishes, or when you pause or stop it.",
        icon=":material/hourglass_top:",
    )
    return True


def _button(column: object, label: str, icon: str, disabled: bool, help: str) -> bool:
    return column.button(label, icon=icon, disabled=disabled, width="stretch", help=help)


def training_controls(run: dict, key: str) -> None:
    """Play / pause / step / stop buttons, what the run is doing, and the live progress."""
    live: LiveRun | None = run.get("live")
    if live is None:
        return
    sync(run)
    busy, done = live.busy, live.done
    play, pause, step, stop, _ = st.columns([1.2, 1, 1, 1, 3.8])
    if _button(
        play,
        "Continue" if live.stopped else "Play",
        ":material/play_arrow:",
        busy or done,
        "Train on to the step budget",
    ):
        _submit(run, "play")
        st.rerun()
    if _button(pause, "Pause", ":material/pause:", not busy, "Pause after this chunk"):
        live.intent = "pause"
        live.job.cancel()
        live.job.wait(timeout=30)
        sync(run)
        st.rerun()
    if _button(step, "Step", ":material/skip_next:", busy or done, f"Train {CHUNK} more steps"):
        _submit(run, "step")
        st.rerun()
    if _button(
        stop,
        "Stop",
        ":material/stop:",
        done or (not busy and live.stopped),
        "End training now and show the best weights so far",
    ):
        live.intent = "stop"
        if live.job is not None:
            live.job.cancel()
            live.job.wait(timeout=30)
            sync(run)
        else:
            live.stopped = True
            if live.states is not None:
                _apply_weights(run, live.states, best=True)
        st.rerun()
    if live.error:
        st.warning(live.error, icon=":material/warning:")
    live.synced_by_page = True
    st.fragment(run_every=POLL_SECONDS if busy else None)(_progress)(run, key)


def _status(live: LiveRun) -> str:
    """One sentence on what the run is doing now."""
    job = live.job
    if job is not None and job.status == "queued":
        return queue_sentence(job)
    if job is not None:
        return f"Training: step {live.steps} of {live.totals}."
    if live.done:
        return f"Training finished at step {live.steps}; the best validation weights are shown."
    if live.stopped:
        best = ", ".join(
            f"{name} from step {p.best_step}" for name, p in live.progress.items() if p.best_step
        )
        return (
            f"Training stopped at step {live.steps} of {live.totals}. Shown: the best validation "
            f"weights ({best or 'the initial weights: no evaluation yet'}). **Continue** "
            "resumes from step "
            f"{live.steps}."
        )
    return f"Paused at step {live.steps} of {live.totals}: the current weights are shown."


def _progress(run: dict, key: str) -> None:
    """The live part: polls the job, then redraws status, progress and losses."""
    live: LiveRun = run["live"]
    if live.synced_by_page:  # part of a whole-page run that has just polled
        live.synced_by_page = False
    else:
        had_job = live.job is not None  # not live.busy: the job's status changes by itself
        sync(run)
        if had_job and live.job is None:
            st.rerun(scope="app")  # the final weights: redraw every view
    st.progress(min(live.steps / live.totals, 1.0), text=_status(live))
    for name, progress in live.progress.items():
        if progress.diverged:
            best = (
                f"its best weights from step {progress.best_step} (validation NLL "
                f"{progress.best_valid_nll:.3f}) are shown"
                if math.isfinite(progress.best_valid_nll)
                else "its initial weights are kept"
            )
            st.warning(
                f"{name} diverged at step {progress.steps} (the loss was not a number in "
                f"10 batches in a row); {best}. Lower the learning rate or the step budget, "
                "or check the data.",
                icon=":material/warning:",
            )
    if any(p.history for p in live.progress.values()):
        st.plotly_chart(_loss_chart(live), key=f"{key}_loss")


def _loss_chart(live: LiveRun) -> object:
    """The loss curves, rebuilt only when new progress came in (the page polls every second,
    and a room of sessions polling would otherwise keep a core busy drawing the same chart)."""
    stamp = hash(tuple(len(p.history) for p in live.progress.values()))
    if live.loss_chart is None or live.loss_chart[0] != stamp:
        histories = {name: p.history for name, p in live.progress.items()}
        live.loss_chart = (stamp, plots.loss_figure(histories))
    return live.loss_chart[1]

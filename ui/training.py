"""Live side-by-side training of an RMDN and an FRMDN: play, pause, step, stop and progress.

A *run* is a plain dict kept in ``st.session_state`` (models, their Trainers, source, timings),
so a page can keep one per data set and training survives reruns and page switches.
"""

from __future__ import annotations

import streamlit as st
from torch import Tensor

from frmdn import SequenceDensityModel, TrainConfig, Trainer, plots
from frmdn.data import SequenceSplit
from frmdn.experiments import build_pair

CHUNK = 25  # training steps per live update, per model


def session_run(page: str, key: str) -> dict:
    """This session's run of ``page`` for one data set (``key``), kept across reruns and page
    switches, so choosing another data set never discards a trained pair."""
    return st.session_state.setdefault(f"{page}_runs", {}).setdefault(key, {})


def session_seed(default: int = 0) -> int:
    """The global seed; app.py owns its widget, so a page run on its own (AppTest) uses
    ``default``."""
    return int(st.session_state["seed"]) if "seed" in st.session_state else default


def model_settings(key: str, *, hidden_options: list[int], default_steps: int, note: str) -> dict:
    """Expander with the shared model widgets for **Train both** (widget keys ``{key}_K``,
    ...); returns K, rank, flow_layers, hidden, steps and the session seed."""
    with st.expander("Model settings for **Train both**", expanded=False):
        cols = st.columns(5)
        K = cols[0].number_input("Components K", 1, 10, 5, key=f"{key}_K")
        rank = cols[1].number_input("Precision rank r", 0, 4, 2, key=f"{key}_rank")
        flow_layers = cols[2].number_input("Flow couplings", 1, 8, 4, key=f"{key}_flow")
        hidden = cols[3].select_slider("LSTM width", hidden_options, 64, key=f"{key}_hidden")
        steps = cols[4].select_slider(
            "Training steps",
            [50, 100, 200, 300, 400, 600, 1000],
            default_steps,
            key=f"{key}_steps",
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


def start_run(
    run: dict,
    models: dict[str, SequenceDensityModel],
    train: Tensor,
    valid: Tensor,
    config: TrainConfig,
    source: str,
) -> None:
    """Replace ``run`` by freshly built ``models``, each with its own Trainer, playing."""
    trainers = {name: Trainer(model, train, valid, config) for name, model in models.items()}
    run.clear()
    run.update(models=models, trainers=trainers, playing=True, seconds={}, source=source)


def start_pair_run(run: dict, settings: dict, split: SequenceSplit, source: str) -> None:
    """Start ``run`` on a fresh RMDN and FRMDN of equal size (``settings`` as returned by
    :func:`model_settings`), standardised on ``split.train``, trained in CHUNK-step slices."""
    pair = build_pair(
        split.dim,
        n_components=settings["K"],
        rank=settings["rank"],
        hidden_size=settings["hidden"],
        flow_layers=settings["flow_layers"],
        seed=settings["seed"],
    )
    for model in pair.values():
        model.standardize_on(split.train)
    config = TrainConfig(
        steps=settings["steps"], eval_every=CHUNK, patience=0, seed=settings["seed"], device="cpu"
    )
    start_run(run, pair, split.train, split.valid, config, source)


def advance(run: dict, n_steps: int = CHUNK) -> None:
    """Train every model ``n_steps`` further; a finished one gets its best weights back."""
    for trainer in run["trainers"].values():
        if trainer.run(n_steps):
            trainer.finish()
    run["seconds"] = {m: t.result.elapsed for m, t in run["trainers"].items()}


def training_done(run: dict) -> bool:
    return all(t.done for t in run["trainers"].values())


def training_controls(run: dict, key: str) -> None:
    """Play / pause / step / stop buttons and the live progress fragment (if training)."""
    if "trainers" not in run:
        return
    done = training_done(run)
    playing = run.get("playing", False) and not done
    play, pause, step, stop, _ = st.columns([1, 1, 1, 1, 4])
    if play.button(
        "Play", icon=":material/play_arrow:", disabled=playing or done, width="stretch"
    ):
        run["playing"] = True
        st.rerun()
    if pause.button("Pause", icon=":material/pause:", disabled=not playing, width="stretch"):
        run["playing"] = False
        st.rerun()
    if step.button(
        "Step",
        icon=":material/skip_next:",
        disabled=playing or done,
        width="stretch",
        help=f"Train {CHUNK} more steps",
    ):
        advance(run)
    if stop.button(
        "Stop",
        icon=":material/stop:",
        disabled=done,
        width="stretch",
        help="End training now and keep the best weights so far",
    ):
        for trainer in run["trainers"].values():
            trainer.finish()
        run["playing"] = False
        st.rerun()
    st.fragment(run_every=0.3 if playing else None)(_progress)(run, key)


def _progress(run: dict, key: str) -> None:
    """The live part: steps the models while playing, then redraws progress and losses."""
    trainers = run["trainers"]
    if run.get("playing") and not training_done(run):
        advance(run)
        if training_done(run):
            run["playing"] = False
            st.rerun(scope="app")
    first = next(iter(trainers.values()))
    total = first.config.steps
    st.progress(min(first.result.steps / total, 1.0), text=f"Step {first.result.steps} / {total}")
    for name, trainer in trainers.items():
        if trainer.result.stop_reason.startswith("non-finite"):
            st.error(f"{name}: {trainer.result.stop_reason}. Its best weights so far are kept.")
    histories = {name: t.result.history for name, t in trainers.items()}
    st.plotly_chart(plots.loss_figure(histories), key=f"{key}_loss")

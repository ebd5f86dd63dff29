"""Audio: listen to what an RMDN and an FRMDN make of speech, side by side.

Layout only: audio reading, models, training, scores and figures come from :mod:`frmdn`
(the speech rules from :mod:`frmdn.data.speech`). Over 400 lines on purpose: one page with
three sources (bundled, upload, recording), a model panel and five views (scoreboard,
listening, NLL along the clip, mixture weights, the predictive mixture's draws), each a short
layout function.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import streamlit as st
import torch

import frmdn
from frmdn import plots, views
from frmdn.checkpoint_archive import data_info
from frmdn.data import SequenceSplit, speech
from frmdn.data.audio import (
    AudioError,
    Clip,
    clip_plan,
    from_frames,
    read_audio,
    to_frames,
    wav_bytes,
)
from frmdn.data.speech import TRAIN_SCORED
from frmdn.device import on_cpu
from frmdn.generation import continue_side_by_side
from ui import predictive
from ui.checkpoint_upload import checkpoint_upload
from ui.jobs import job_result
from ui.navigation import serve_pages_through_app
from ui.pretrained import MODELS, PRETRAINED, place_on_session_device, pretrained_pair
from ui.training import (
    session_device,
    session_run,
    session_seed,
    settings_note,
    start_pair_run,
    trained_here,
    training_controls,
    views_wait_for_training,
    weights_token,
)

SPEECH = speech.speech_dir()  # $FRMDN_DATA_DIR, else the installed or checkout assets
RATE = 8000  # Hz: every clip is read (and resampled) at this rate
FRAME = 80  # samples per time step (10 ms) for models trained here
LENGTH = 50  # frames per training sequence (0.5 s)
EMPHASIS = 0.9  # pre-emphasis of the audio for models trained here (frmdn.data.audio)
PITCH_MAX_LAG = 160  # samples: the pitch predictor's longest period (50 Hz at 8 kHz)
BATCH_SIZE = 16  # sequences per step: a 3 s clip gives only a few dozen training sequences
DEFAULT_TEMPERATURE = 0.9  # see the slider's help and bench/voicing.py
DEFAULT_CLIP_SECONDS = 3.0  # the default bundled clip is the first test file this long
BUNDLED_PARTS = (
    f"Train: the bundled training files (at most {TRAIN_SCORED} evenly spaced sequences); "
    "held-out: the bundled test files."
)
MAX_VIEW_SECONDS = 30.0  # per-step NLL and predictive views use at most this much of a clip
WEIGHTS_SECONDS = 3.0  # the mixture weights view shows the first seconds of the clip
OVERFIT_GAP = 0.1  # nats per sample between held-out and train NLL that counts as overfitting
SOURCES = ("Bundled speech", "Upload a file", "Record your voice")
CREDIT = "Speech: Asterisk core sounds, recorded by Allison Smith (Digium), CC-BY-SA-3.0."
state = st.session_state


@dataclass(frozen=True)
class Source:
    """The clip the page shows and the data the models train on."""

    clip: Clip
    key: str  # identifies the clip for caches, e.g. "bundled:hello.flac" or "upload:<sha1>"
    run_key: str  # which run (trained models) belongs to this source
    label: str  # for captions, e.g. "bundled speech"


# ----------------------------------------------------------------------------- cached resources
@st.cache_data(show_spinner=False)
def bundled_split_files() -> dict[str, list[str]]:
    """The bundled speech's split.json (file names per part), or {} when it is not bundled."""
    return speech.split_files(SPEECH)


@st.cache_resource(show_spinner="Reading the bundled speech…")
def bundled_clip(name: str) -> Clip:
    return read_audio(SPEECH / name, sample_rate=RATE)


@st.cache_resource(show_spinner="Cutting the bundled speech into sequences…")
def bundled_split(frame: int, length: int, emphasis: float) -> SequenceSplit:
    """The bundled speech's train/valid/test split (shared read-only by every session)."""
    return speech.bundled_split(rate=RATE, frame_size=frame, length=length, emphasis=emphasis)


@st.cache_data(show_spinner=False, max_entries=64)
def uploaded_clip(data: bytes, name: str) -> Clip:
    return read_audio(data, sample_rate=RATE, name=name)


@st.cache_data(show_spinner="Scoring…", max_entries=32)
def split_scores(_models: dict, _split: SequenceSplit, token: str) -> dict[str, dict[str, float]]:
    """Per model: NLL (nats/step) of the training (at most TRAIN_SCORED, evenly spaced, so a
    large bundled set scores in a second or two) and held-out (test) sequences."""
    return views.split_nll(_models, speech.scored_train(_split.train, TRAIN_SCORED), _split.test)


def generate(
    models: dict,
    prime: torch.Tensor,
    steps: int,
    temperature: float,
    seed: int,
    emphasis: float,
    bound: float,
    key: str,
) -> dict[str, np.ndarray] | None:
    """Each model's continuation of ``prime`` (T0, frame) as a waveform, made by the server's
    job runner (off this script thread); None while it is being made (the page says so)."""
    device = session_device()
    frames = job_result(
        "audio_generation",
        f"{key}|{len(prime)}|{steps}|{temperature}|{seed}|{bound}|{device}",
        continue_side_by_side,
        {name: (model.config, on_cpu(model.state_dict())) for name, model in models.items()},
        prime,
        steps,
        temperature,
        seed,
        bound,
        device,
        what="Generating both continuations",
    )
    if frames is None:
        return None
    return {name: from_frames(value, emphasis) for name, value in frames.items()}


def generation_bound(run: dict) -> float:
    """Generated frame values stay within the loudest value of the models' training audio
    (full scale when that audio is not at hand)."""
    split = run.get("split")
    if split is None:
        return speech.generation_bound(None, run.get("emphasis", 0.0))
    if "peak" not in run:  # remembered with the run
        run["peak"] = speech.generation_bound(split.train)
    return run["peak"]


@st.cache_data(show_spinner=False, max_entries=32)
def clip_nll(_models: dict, _frames: torch.Tensor, token: str, clip_key: str) -> dict:
    """Each model's NLL of every frame of the clip (T,), given the real frames before it."""
    return {name: views.per_step_nll(model, _frames) for name, model in _models.items()}


@st.cache_data(show_spinner=False, max_entries=32)
def clip_weights(_models: dict, _frames: torch.Tensor, token: str, clip_key: str) -> dict:
    """Each model's mixture weights α_k(t) (T, K) along the first WEIGHTS_SECONDS of a clip."""
    return {name: views.mixture_weights(model, _frames) for name, model in _models.items()}


# ----------------------------------------------------------------------------- source
def digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:12]


def chosen_clip(names: list[str]) -> str:
    """The remembered bundled clip, else the first test file long enough to listen to."""
    if state.get("audio_clip_choice") not in names:
        try:
            long = (n for n in names if bundled_clip(n).seconds >= DEFAULT_CLIP_SECONDS)
            state["audio_clip_choice"] = next(long, names[0])
        except AudioError:  # an unreadable bundled file: bundled_source says so
            state["audio_clip_choice"] = names[0]
    return state["audio_clip_choice"]


def bundled_source() -> Source | None:
    """The chosen bundled test clip (remembered across source switches), or None."""
    names = speech.held_out_clips(bundled_split_files(), SPEECH)
    if not names:
        return None
    name = chosen_clip(names)
    try:
        clip = bundled_clip(name)
    except AudioError as error:
        st.error(f"Could not read the bundled clip: {error}")
        return None
    return Source(clip, f"bundled:{name}", "bundled", "bundled speech")


def own_source(kind: str, file: object) -> Source | None:
    """An uploaded or recorded clip; a one-line error (and None) when it is not usable audio."""
    data = file.getvalue()
    name = getattr(file, "name", "") or ("recording.wav" if kind == "record" else "upload")
    try:
        clip = uploaded_clip(data, name)
    except AudioError as error:
        st.error(f"Cannot use this file: {error}.", icon=":material/error:")
        return None
    label = "your recording" if kind == "record" else f"uploaded {name}"
    key = f"{kind}:{digest(data)}"
    return Source(clip, key, key, label)


def source_panel() -> Source | None:
    """The source widgets; returns the clip to show (the bundled one when an upload fails)."""
    with st.container(border=True):
        st.markdown("**Audio**")
        choice = st.radio("Source", SOURCES, horizontal=True, key="audio_source")
        names = speech.held_out_clips(bundled_split_files(), SPEECH)
        if choice == SOURCES[0]:
            if names:
                state["audio_clip_choice"] = st.selectbox(
                    "Held-out clip (never used for training)",
                    names,
                    index=names.index(chosen_clip(names)),
                    key="audio_clip",
                )
            else:
                st.info(
                    "The bundled speech (assets/speech) is not in this copy of the app: "
                    "upload a file or record your voice instead.",
                    icon=":material/info:",
                )
        source = None
        if choice == SOURCES[1]:
            file = st.file_uploader(
                "Sound file (WAV, FLAC, OGG, MP3 or M4A; up to 10 minutes are used)",
                type=["wav", "flac", "ogg", "mp3", "m4a"],
                key="audio_upload",
            )
            source = own_source("upload", file) if file is not None else None
        elif choice == SOURCES[2]:
            file = st.audio_input(
                "Record a few seconds (at least 1 s to train on it; longer is better)"
            )
            source = own_source("record", file) if file is not None else None
        if source is None:
            source = bundled_source()
            if choice != SOURCES[0] and source is not None:
                st.caption(f"Showing the bundled clip {source.clip.name} until then.")
        if source is not None:
            clip = source.clip
            notes = "; ".join(clip.notes) if clip.notes else "used as recorded"
            st.caption(
                f"**{clip.name}**: {clip.seconds:.2f} s at {clip.sample_rate} Hz, mono ({notes})."
            )
            if source.run_key != "bundled":
                plan_caption(clip)
    return source


def plan_caption(clip: Clip) -> None:
    """Say how training cuts one's own clip (a short one gets shorter sequences)."""
    try:
        plan = clip_plan(len(clip.waveform), sample_rate=RATE, frame_size=FRAME, length=LENGTH)
    except AudioError:  # too short: "Training is off" below says how long it must be
        return
    st.caption(f"Training on it: {plan.sentence}.")


# ----------------------------------------------------------------------------- models
def model_panel() -> dict:
    """Model and training widgets; returns the settings."""
    with st.container(border=True):
        st.markdown("**Models (for training)**")
        cols = st.columns(4)
        K = cols[0].number_input("Components K", 1, 10, 4, key="audio_K")
        rank = cols[1].number_input("Precision rank r", 0, 8, 2, key="audio_rank")
        hidden = cols[2].select_slider("LSTM width", [16, 32, 64, 128], 64, key="audio_hidden")
        flow_layers = cols[3].number_input("Flow couplings", 1, 8, 4, key="audio_flow")
        cols = st.columns(4)
        steps = cols[0].select_slider(
            "Training steps", [50, 100, 200, 400, 600, 1000, 1500], 600, key="audio_steps"
        )
        weight_decay = cols[1].select_slider(
            "Weight decay",
            [0.0, 1e-4, 1e-3, 1e-2, 1e-1],
            0.0,
            format_func=lambda v: f"{v:g}",
            key="audio_wd",
            help="AdamW weight decay: pulls weights towards zero against overfitting.",
        )
        dropout = cols[2].slider(
            "Dropout",
            0.0,
            0.5,
            0.0,
            0.05,
            key="audio_dropout",
            help="Drops LSTM outputs at random before the mixture head while training.",
        )
        noise = cols[3].slider(
            "Input noise",
            0.0,
            0.5,
            0.0,
            0.05,
            key="audio_noise",
            help="Std of Gaussian noise added to the (standardised) past frames the LSTM reads "
            "while training.",
        )
        pitch = st.toggle(
            "Pitch predictor (both models)",
            True,
            key="audio_pitch",
            help="Guess each sample by repeating the audio one pitch period earlier "
            "(periods of 2.5-20 ms) and put the mixture and the flow on what is left. Without "
            "it the models learn the loudness and colour of speech but not its periodicity: "
            "their speech comes out whispered.",
        )
    seed = session_seed()
    return dict(
        K=int(K),
        rank=int(rank),
        hidden=int(hidden),
        flow_layers=int(flow_layers),
        steps=int(steps),
        weight_decay=float(weight_decay),
        dropout=float(dropout),
        input_noise=float(noise),
        pitch=bool(pitch),
        seed=seed,
    )


def pretrained_available() -> bool:
    return all((PRETRAINED / f"speech-{m.lower()}").is_dir() for m in MODELS)


def load_pretrained(run: dict) -> None:
    if not pretrained_available():
        return
    try:
        models = pretrained_pair("speech")
    except (frmdn.CheckpointError, OSError) as error:
        st.error(f"Could not load the pretrained speech models: {error}. Train them instead.")
        return
    info = models["FRMDN"].metadata.get("data", {}).get("info", {})
    frame = models["FRMDN"].config.dim
    emphasis = float(info.get("emphasis", 0.0))
    if int(info.get("sample_rate", RATE)) != RATE:
        st.error(
            f"The pretrained speech models expect {info['sample_rate']} Hz audio, not {RATE}."
        )
        return
    split = None
    if bundled_split_files():
        try:
            split = bundled_split(frame, int(info.get("length", LENGTH)), emphasis)
        except AudioError as error:
            st.warning(f"Cannot score on the bundled speech: {error}")
    run.clear()
    run.update(
        models=models,
        source="pretrained on the bundled speech (assets/pretrained)",
        token=f"pretrained:{frame}",
        split=split,
        emphasis=emphasis,
        parts=BUNDLED_PARTS,
        seconds={
            m: model.metadata.get("metrics", {}).get("seconds", float("nan"))
            for m, model in models.items()
        },
    )


def training_split(source: Source, seed: int) -> tuple[SequenceSplit | None, str]:
    """The split to train on for this source, or None and the reason it cannot be had."""
    return speech.training_split(
        None if source.run_key == "bundled" else source.clip,
        lambda: bundled_split(FRAME, LENGTH, EMPHASIS),
        frame_size=FRAME,
        length=LENGTH,
        emphasis=EMPHASIS,
        seed=seed,
    )


def start_training(run: dict, settings: dict, source: Source, split: SequenceSplit) -> None:
    pitch = {"pitch_max_lag": PITCH_MAX_LAG if settings["pitch"] else 0}
    label = f"trained in this session on {source.label}"
    start_pair_run(run, settings | pitch | {"batch_size": BATCH_SIZE}, split, label)
    parts = (
        BUNDLED_PARTS
        if source.run_key == "bundled"
        else "Train: the first 80 % of the clip; held-out: its last 10 %."
    )
    run.update(split=split, parts=parts, emphasis=EMPHASIS)


# ----------------------------------------------------------------------------- views
def overfit_reason(run: dict, source: Source) -> str:
    """Why a train/held-out gap appears, for the models on screen (pretrained, trained here on
    the bundled speech, or trained here on one clip)."""
    if not trained_here(run):
        return (
            "These bundled models trained for thousands of steps on the bundled speech's "
            "training files, and the flow's extra capacity let the FRMDN fit them closer."
        )
    if source.run_key == "bundled":
        return "The flow adds capacity, and the longer the training, the more it memorises."
    return (
        f"These models trained on the first 80 % of {source.clip.name} alone: one short "
        "clip offers little to learn from, and the flow's extra capacity memorises it."
    )


def scoreboard(models: dict, run: dict, source: Source, clip_nll: dict[str, np.ndarray]) -> None:
    st.subheader("Train vs held-out NLL")
    split = run.get("split")
    measured = split_scores(models, split, weights_token(run)) if split is not None else None
    scores = views.nll_scores(clip_nll, measured)
    frame = next(iter(models.values())).config.dim
    gaps = views.overfitting_gaps(scores, frame, held_out="held-out")
    table = views.nll_table(models, scores, run.get("seconds", {}))
    style = table.style.format("{:.4f}", na_rep="–")
    for row, pattern in (
        (table.index[table.index.str.contains("step")], "{:.1f}"),
        (["parameters"], "{:,.0f}"),
        (["training time (s)"], "{:.1f}"),
    ):
        style = style.format(pattern, na_rep="–", subset=pd.IndexSlice[row, :])
    left, right = st.columns([3, 2], gap="large")
    left.dataframe(style, width="stretch")
    with right:
        parts = run.get("parts", "")
        st.markdown(
            f"Negative log-likelihood, lower is better. One step is a frame of {frame} samples "
            f"({1000 * frame / RATE:.0f} ms); nats per sample = nats per step / {frame}. "
            f"{parts} *Clip*: the clip shown below ({source.clip.name})."
        )
        over = {name: gap for name, gap in gaps.items() if gap > OVERFIT_GAP}
        if over:
            which = " and ".join(f"the {name} by {gap:.2f}" for name, gap in over.items())
            st.warning(
                f"**Overfitting:** train NLL is lower than held-out NLL, {which} nats/sample: "
                "a model that fits its own training audio much better than new audio is partly "
                f"memorising it rather than learning speech. {overfit_reason(run, source)} "
                "Weight decay, dropout, input noise or fewer flow couplings narrow the gap.",
                icon=":material/warning:",
            )
        elif gaps:
            st.info(
                f"Train and held-out NLL are within {OVERFIT_GAP} nats/sample for both models: "
                "no sign of overfitting. Train on a short upload or recording to see the FRMDN "
                "fit its training audio far better than held-out audio.",
                icon=":material/check_circle:",
            )


def listen_view(models: dict, run: dict, source: Source, frames: torch.Tensor, seed: int) -> None:
    st.subheader("Listen: the same start, continued by each model")
    clip, frame = source.clip, next(iter(models.values())).config.dim
    cols = st.columns(3)
    prime_s = cols[0].slider("Prime length (s)", 0.25, 2.0, 0.5, 0.25, key="audio_prime")
    cont_s = cols[1].slider("Continuation length (s)", 0.5, 3.0, 1.5, 0.25, key="audio_cont")
    temperature = cols[2].slider(
        "Temperature",
        0.3,
        1.5,
        DEFAULT_TEMPERATURE,
        0.05,
        key="audio_temperature",
        help="Below 1 sharpens the mixture weights and shrinks every covariance. "
        f"{DEFAULT_TEMPERATURE} by default: at 1 the pretrained FRMDN's voiced stretches "
        "come out more than twice as loud as real speech (a draw from a wide component keeps "
        "ringing through the pitch predictor); at 0.9 under twice.",
    )
    prime_steps = min(round(prime_s * RATE / frame), len(frames))
    steps = round(cont_s * RATE / frame)
    prime_seconds = prime_steps * frame / RATE
    note = (
        f" (the clip is only {clip.seconds:.2f} s long: all of it is the prime)"
        if prime_steps < round(prime_s * RATE / frame)
        else ""
    )
    emphasis, bound = run.get("emphasis", 0.0), generation_bound(run)
    st.caption(
        f"Both models read the first {prime_seconds:.2f} s of {clip.name}{note}, then generate "
        f"{steps * frame / RATE:.2f} s, one {frame}-sample frame at a time, from the same random "
        f"seed ({seed}). Levels are kept as generated: quiet output plays quietly. Every "
        f"generated {'pre-emphasised ' if emphasis else ''}value is kept within ±{bound:.2f}, "
        "the loudest "
        f"{'(pre-emphasised) ' if emphasis else ''}value of the training audio: a flow's "
        "inverse now and then maps a rare draw far beyond "
        "anything it was trained on, which would play as a loud click."
    )
    generated = generate(
        models,
        frames[:prime_steps].clone(),
        steps,
        temperature,
        seed,
        emphasis,
        bound,
        f"{weights_token(run)}|{source.key}",
    )
    if generated is None:
        return
    loud = [name for name, wave in generated.items() if np.abs(wave).max() > 1.0]
    if loud:
        why = (
            f" after de-emphasis, which adds {emphasis:g} × the previous sample to each one, "
            f"so values within ±{bound:.2f} before it can add up past ±1"
            if emphasis
            else ""
        )
        st.caption(
            f"{' and '.join(loud)} output went beyond full scale{why}: it is clipped to ±1 "
            "here, in the player and in the download, as any 16-bit WAV would be."
        )
    original = clip.waveform[: (prime_steps + steps) * frame]
    waves = {"Real": original, **{n: np.clip(w, -1.0, 1.0) for n, w in generated.items()}}
    top = max(float(np.abs(w).max()) for w in waves.values()) or 1.0
    spectra = {name: views.spectrogram_db(w, RATE) for name, w in waves.items()}
    db_top = max(float(s[2].max()) for s in spectra.values())
    db_range = (db_top - 70.0, db_top)  # one colour scale for the three panels
    titles = {
        "Real": "Original",
        "RMDN": "RMDN continuation",
        "FRMDN": "FRMDN continuation",
    }
    colors = {"Real": "gray", "RMDN": "blue", "FRMDN": "orange"}
    for col, (name, wave) in zip(st.columns(3, gap="medium"), waves.items(), strict=True):
        data = wav_bytes(wave, RATE)
        with col:
            st.markdown(f"#### :{colors[name]}[{titles[name]}]")
            st.audio(data, format="audio/wav")
            st.plotly_chart(
                plots.waveform_figure(
                    wave, RATE, name, prime_seconds, top, title=f"{titles[name]}: waveform"
                ),
                width="stretch",
                key=f"audio_wave_{name}",
            )
            times, freqs, db = spectra[name]
            st.plotly_chart(
                plots.spectrogram_figure(
                    times,
                    freqs,
                    db,
                    name,
                    prime_seconds,
                    db_range,
                    title=f"{titles[name]}: spectrogram",
                ),
                width="stretch",
                key=f"audio_spec_{name}",
            )
            st.download_button(
                "Download WAV",
                data,
                file_name=f"{Path(clip.name).stem}-{titles[name].split()[0].lower()}.wav",
                mime="audio/wav",
                icon=":material/download:",
                on_click="ignore",
                key=f"audio_download_{name}",
            )


def clip_nll_view(
    models: dict,
    run: dict,
    source: Source,
    frames: torch.Tensor,
    nll: dict,
) -> None:
    st.subheader("How surprised is each model, moment by moment?")
    frame = next(iter(models.values())).config.dim
    times = (np.arange(len(frames)) + 0.5) * frame / RATE
    shown = len(frames) * frame / RATE
    cut = f" (the first {shown:.1f} s)" if shown < source.clip.seconds - frame / RATE else ""
    st.caption(
        f"−log p(frame | all earlier frames) for every {1000 * frame / RATE:.0f} ms frame of "
        f"{source.clip.name}{cut}. Peaks are onsets and sounds a model did not expect; "
        "silence is cheap for both."
    )
    spans = run["split"].info.get("spans", {}) if trained_here(run) and "split" in run else {}
    parts = []
    for part, label in (("valid", "valid (early stopping)"), ("test", "held-out")):
        if part in spans and spans[part][0] < shown:
            parts.append((label, spans[part][0], min(spans[part][1], shown)))
    if parts:
        st.caption(
            "Shaded: the end of the clip the models never trained on; the rest is training audio."
        )
    st.plotly_chart(
        plots.nll_along_clip_figure(times, nll, parts=parts),
        width="stretch",
        key="audio_nll_along",
    )


def loudest_step(frames: torch.Tensor, seconds: float) -> int:
    """The loudest frame (largest RMS) in the first ``seconds`` of the clip, at least frame 1:
    the default moment of the predictive view, voiced speech rather than silence."""
    frame = frames.shape[-1]
    first = frames[1 : max(int(seconds * RATE) // frame, 2)]
    return 1 + int(first.square().mean(-1).argmax())


def predictive_view(models: dict, run: dict, source: Source, frames: torch.Tensor) -> None:
    frame = next(iter(models.values())).config.dim
    seconds = len(frames) * frame / RATE
    default = loudest_step(frames, WEIGHTS_SECONDS) * frame / RATE
    predictive.heading()
    moment = st.slider(
        "Moment in the clip (s)",
        frame / RATE,
        float(max(seconds - frame / RATE, frame / RATE)),
        float(default),
        step=frame / RATE,
        format="%.2f",
        key=f"audio_moment_{source.key}",
        help="Which frame's predictive mixture to draw; it starts at the loudest frame of the "
        f"first {WEIGHTS_SECONDS:g} s.",
    )
    step = int(np.clip(round(moment * RATE / frame), 1, len(frames) - 1))
    pieces = max(1, min(predictive.FIT_SEQUENCES, len(frames) // LENGTH))
    length = min(LENGTH, len(frames))
    held_out = frames[: pieces * length].reshape(pieces, length, frame)
    key = f"{weights_token(run)}|{source.key}|{run.get('emphasis', 0.0)}"
    fits = predictive.mahalanobis_fits_of(models, held_out, key)
    pitch = all(model.pitch is not None for model in models.values())
    samples = predictive.samples_view(
        models,
        frames[: step + 1],
        step,
        f"{key}|{step}",
        page="audio",
        what=f"{frame}-sample frame (at {step * frame / RATE:.2f} s)",
        rmdn_space="standardised y − pitch guess" if pitch else "standardised y",
        fits=fits,
    )
    emphasised = run.get("emphasis", 0.0) > 0
    peak = generation_bound(run)
    flung = {name: float((np.abs(s.y).max(-1) > peak).mean()) for name, s in samples.items()}
    st.caption(
        "The same draws as sound: each thin line is one drawn frame, coloured by its component, "
        "the thick black line the real frame"
        + (" (pre-emphasised, as the models see it). " if emphasised else ". ")
        + "Draws beyond the loudest value of the training audio (±"
        + f"{peak:.2f}), which generation clips: "
        + ", ".join(f"{name} {share:.0%}" for name, share in flung.items())
        + ". The FRMDN's inverse flow sends some draws of z, not only far-out ones, beyond any "
        "training audio: it was trained only where real frames land, so a good fit of the "
        "real frames (the fit numbers below) does not make every draw sound right. The "
        "vertical range leaves the farthest values out."
    )
    st.plotly_chart(
        plots.predictive_traces_figure(
            samples,
            x=np.arange(frame) * 1000 / RATE,
            x_title="time within the frame (ms)",
            y_title="pre-emphasised sample" if emphasised else "sample",
            n=30,
        ),
        width="stretch",
        key="audio_predictive_traces",
    )
    predictive.fit_view(
        fits,
        f"{pieces} piece{'s' if pieces > 1 else ''} of {length * frame / RATE:.1f} s of "
        f"{source.clip.name}",
        page="audio",
        lesson="Speech puts loud onsets next to near-silence, so its frames have heavier tails "
        "than a Gaussian: where a model's Gaussians miss them, its Q-Q curve bends away from "
        "the diagonal at both ends.",
    )


def weights_view(models: dict, run: dict, source: Source, frames: torch.Tensor, nll: dict) -> None:
    st.subheader("Mixture weights over time: which Gaussian predicts each frame")
    frame = next(iter(models.values())).config.dim
    shown = frames[: max(int(WEIGHTS_SECONDS * RATE) // frame, 2)]
    st.caption(
        f"The first {len(shown) * frame / RATE:.1f} s of {source.clip.name}. Top: each model's "
        "NLL of every frame, as above. Below: each model's mixture weights $\\alpha_k(t)$, "
        "given the real frames before t. Each colour is one component; where the stack "
        "changes colour the LSTM has switched which Gaussian predicts the next frame (watch "
        "onsets and silences). Component numbers of the two models are unrelated."
    )
    weights = clip_weights(models, shown, weights_token(run), source.key)
    figure = plots.mixture_weights_figure(
        weights,
        x=(np.arange(len(shown)) + 0.5) * frame / RATE,
        x_title="time (s)",
        above={name: values[: len(shown)] for name, values in nll.items()},
        above_title="NLL (nats/frame)",
    )
    st.plotly_chart(figure, width="stretch", key="audio_weights")


def upload_nll(model: frmdn.SequenceDensityModel) -> float:
    """Held-out NLL of an uploaded model on the bundled test speech, pre-emphasised as the model
    records (0 or EMPHASIS: each other value would cache another copy of the speech)."""
    emphasis = data_info(model.metadata).get("emphasis", 0.0)
    if emphasis not in (0.0, EMPHASIS):
        raise ValueError(f"this page scores models trained with pre-emphasis 0 or {EMPHASIS}")
    return frmdn.evaluate_nll(model, bundled_split(FRAME, LENGTH, float(emphasis)).test)


# ----------------------------------------------------------------------------- page
serve_pages_through_app()  # a deep link opened first on a fresh server
st.title("Audio: listen to RMDN vs FRMDN")
st.markdown(
    "Raw speech, 8000 samples per second, cut into frames of 80 samples (10 ms). Each model "
    "reads the frames so far and predicts a distribution over the **next whole frame** — an "
    "80-dimensional Gaussian mixture, in data space for the RMDN and after an invertible flow "
    "for the FRMDN. Prime both with the same start of a clip, let them continue, and listen."
)
st.caption(
    "With the pitch predictor (in the pretrained models, and on by default for training), both "
    "models first guess every sample by repeating the audio one pitch period earlier, as "
    "speech codecs do (a soft choice among periods of 2.5-20 ms, steered by the LSTM), and put "
    "their mixture on what is left; generating runs that guess backwards, so a drawn residual "
    "comes out with the pitch put back. Each guess reads only earlier samples, so the NLL is "
    "still the waveform's. Without it the models learn the loudness and colour of speech but "
    "not its pitch, and their continuations sound whispered."
)
st.caption(
    f"The audio is pre-emphasised before framing (eₙ = yₙ − {EMPHASIS} yₙ₋₁) "
    "and generated frames are de-emphasised back: the model's leftover noise then comes out "
    "with speech's low-frequency tilt instead of as hiss. The filter is exactly invertible "
    "with Jacobian determinant 1, so every NLL here is the NLL of the waveform itself."
)
source = source_panel()
settings = model_panel()
seed = settings["seed"]

models = None
run: dict = {}
if source is not None:
    run = session_run("audio", source.run_key)
    split, why_not = training_split(source, seed)
    load_col, train_col, _ = st.columns([1, 1, 3])
    if load_col.button(
        "Load pretrained",
        icon=":material/download:",
        width="stretch",
        disabled=not pretrained_available(),
        help=None if pretrained_available() else "Not bundled in this copy of the app",
    ):
        load_pretrained(run)
    if train_col.button(
        "Train both",
        icon=":material/model_training:",
        type="primary",
        width="stretch",
        disabled=split is None,
        help=why_not or f"Train on {source.label}: under a minute at the default settings",
    ):
        start_training(run, settings, source, split)
    if split is None and why_not:
        st.caption(f"Training is off: {why_not}.")
    place_on_session_device(run)
    if "models" not in run:
        load_pretrained(run)
    if not pretrained_available() and not trained_here(run):
        st.info(
            "Pretrained speech models are not bundled in this copy of the app "
            "(assets/pretrained/speech-rmdn and speech-frmdn). Press **Train both** to train an "
            "RMDN and an FRMDN here: under a minute at the default settings.",
            icon=":material/info:",
        )
    settings_note(run, settings)
    training_controls(run, key="audio")
    models = run.get("models")

st.sidebar.markdown(f"**Models:** {run.get('source', 'none loaded')}")
if models and source is not None and not views_wait_for_training(run):
    frame = models["FRMDN"].config.dim
    limit = int(MAX_VIEW_SECONDS * RATE) // frame
    emphasis = run.get("emphasis", 0.0)
    frames = torch.from_numpy(to_frames(source.clip.waveform, frame, emphasis)[:limit])
    if len(frames) < 2:
        st.warning(f"{source.clip.name} is shorter than two {frame}-sample frames.")
    else:
        nll = clip_nll(models, frames, weights_token(run), source.key)
        scoreboard(models, run, source, nll)
        listen_view(models, run, source, frames, seed)
        clip_nll_view(models, run, source, frames, nll)
        weights_view(models, run, source, frames, nll)
        predictive_view(models, run, source, frames)

if bundled_split_files():
    checkpoint_upload(
        "audio",
        expect={"kind": "audio", "dim": FRAME, "sample_rate": RATE},
        evaluate=upload_nll,
        pretrained=lambda: pretrained_pair("speech"),
        data_label="the bundled held-out speech (nats per 80-sample frame)",
    )
st.divider()
st.caption(CREDIT)

"""Audio: listen to what an RMDN and an FRMDN make of speech, side by side.

Layout only: the sources, the model panel and the listening view are in ``ui/audio_*.py``;
audio reading, models, training, scores and figures come from :mod:`frmdn`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st
import torch

from frmdn import evaluate_nll, plots, views
from frmdn.data import SequenceSplit, speech
from frmdn.data.audio import AudioError, to_frames
from frmdn.data.speech import TRAIN_SCORED
from ui import links, predictive
from ui.audio_listen import generation_bound, listen_view
from ui.audio_models import (
    load_pretrained,
    model_panel,
    pair_picker,
    pretrained_available,
    start_training,
)
from ui.audio_source import (
    EMPHASIS,
    FRAME,
    LENGTH,
    RATE,
    VOICES,
    Source,
    bundled_split_files,
    corpus_split,
    source_panel,
    training_split,
    upload_nll,
    voice_names,
)
from ui.checkpoint_upload import checkpoint_upload
from ui.formats import negative_nll_note
from ui.links import Number
from ui.navigation import serve_pages_through_app
from ui.pretrained import place_on_session_device, pretrained_pair
from ui.training import (
    session_run,
    settings_note,
    trained_here,
    training_controls,
    views_wait_for_training,
    weights_token,
)

MAX_VIEW_SECONDS = 30.0  # per-step NLL and predictive views use at most this much of a clip
WEIGHTS_SECONDS = 3.0  # the mixture weights view shows the first seconds of the clip
OVERFIT_GAP = 0.1  # nats per sample between held-out and train NLL that counts as overfitting
CREDIT = (
    "Speech: Asterisk core sounds, recorded by Allison Smith (Digium), CC-BY-SA-3.0, and seven "
    "more voices of Debian's Asterisk prompt packages (assets/voices: each voice's speaker and "
    "licence in assets/README.md)."
)
UNSEEN_SCORED = 64  # evenly spaced sequences of the unseen voices scored per model
BLOW_UP = 1000.0  # nats per frame: a frame this costly lies far outside the training audio


@st.cache_data(show_spinner="Scoring…", max_entries=32)
def split_scores(_models: dict, _split: SequenceSplit, token: str) -> dict[str, dict[str, float]]:
    """Per model: NLL (nats/step) of the training (at most TRAIN_SCORED, evenly spaced, so a
    large bundled set scores in a second or two) and held-out (test) sequences."""
    return views.split_nll(_models, speech.scored_train(_split.train, TRAIN_SCORED), _split.test)


@st.cache_data(show_spinner="Scoring voices the models never heard…", max_entries=16)
def unseen_scores(
    _models: dict, frame: int, emphasis: float, token: str
) -> tuple[str, dict[str, dict[str, float]]]:
    """The corpus's held-out voices, and per model {UNSEEN: NLL (nats/step)} of UNSEEN_SCORED
    of their sequences, framed as the models were trained; ("", {}) without the corpus."""
    try:
        split = corpus_split(frame, LENGTH, emphasis)
    except (AudioError, OSError):
        return "", {}
    sequences = speech.scored_train(split.test, UNSEEN_SCORED)
    scores = {
        name: {views.UNSEEN: evaluate_nll(model, sequences)} for name, model in _models.items()
    }
    return voice_names(split.info["voices"]["held_out"]), scores


@st.cache_data(show_spinner="Scoring the clip's voice…", max_entries=32)
def voice_scores(
    _models: dict, voice: str, frame: int, emphasis: float, token: str
) -> tuple[int, dict[str, dict[str, float]]]:
    """Per model {CLIP_VOICE: NLL (nats/step)} of every sequence of the bundled ``voice`` that
    no corpus model heard, and how many; (0, {}) when it cannot be read."""
    try:
        sequences = speech.voice_sequences(
            voice, rate=RATE, frame_size=frame, length=LENGTH, emphasis=emphasis
        )
    except (AudioError, OSError):
        return 0, {}
    if len(sequences) == 0:
        return 0, {}
    scores = {
        name: {views.CLIP_VOICE: evaluate_nll(model, sequences)} for name, model in _models.items()
    }
    return len(sequences), scores


@st.cache_data(show_spinner=False, max_entries=32)
def clip_nll(_models: dict, _frames: torch.Tensor, token: str, clip_key: str) -> dict:
    """Each model's NLL of every frame of the clip (T,), given the real frames before it."""
    return {name: views.per_step_nll(model, _frames) for name, model in _models.items()}


@st.cache_data(show_spinner=False, max_entries=32)
def clip_weights(_models: dict, _frames: torch.Tensor, token: str, clip_key: str) -> dict:
    """Each model's mixture weights α_k(t) (T, K) along the first WEIGHTS_SECONDS of a clip."""
    return {name: views.mixture_weights(model, _frames) for name, model in _models.items()}


# ----------------------------------------------------------------------------- views
def overfit_reason(run: dict, source: Source) -> str:
    """Why a train/held-out gap appears, for the models on screen (pretrained, trained here on
    the bundled speech, or trained here on one clip)."""
    if not trained_here(run):
        return (
            "These bundled models trained for thousands of steps on the training files of "
            f"{voice_names(run.get('voices', []))}, and the flow's extra capacity let the FRMDN "
            "fit them closer."
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
    measured = split_scores(models, split, weights_token(run)) if split is not None else {}
    frame = next(iter(models.values())).config.dim
    emphasis, token = run.get("emphasis", 0.0), weights_token(run)
    voices, unseen = unseen_scores(models, frame, emphasis, token)
    heard = run.get("voices", [])
    new_voice = bool(source.voice) and source.voice not in heard
    count, voice = (
        voice_scores(models, source.voice, frame, emphasis, token) if new_voice else (0, {})
    )
    measured = {
        name: measured.get(name, {}) | unseen.get(name, {}) | voice.get(name, {})
        for name in models
    }
    scores = views.nll_scores(clip_nll, measured)
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
            + (
                f" *Unseen voices*: {UNSEEN_SCORED} sequences of voices these models never "
                f"heard ({voices}; `{VOICES}`, whose test part they are)."
                if voices
                else ""
            )
            + (
                f" *The clip's voice*: all {count} sequences of {source.label} that no bundled "
                "model heard."
                if count
                else ""
            )
            + negative_nll_note(table.loc[table.index.str.contains("step")].to_numpy().ravel())
        )
        voices_note(run, source, scores)
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


def voices_note(run: dict, source: Source, scores: dict[str, dict[str, float]]) -> None:
    """Say which voices the models on screen trained on and, when the clip's voice is not one
    of them, set its score beside theirs (nats/step)."""
    heard = run.get("voices", [])
    if not heard:  # trained on this very clip: the held-out row is its end
        return
    trained = voice_names(heard)
    if source.voice in heard:
        st.caption(f"These models trained on {trained}; this clip is a held-out file of one.")
        return
    part = views.CLIP_VOICE if source.voice else "clip"
    what = source.label if source.voice else "this clip"
    figures = "; ".join(
        f"the {name} {parts[part]:.1f} on {what} against {parts['held-out']:.1f} on the training "
        "voices' held-out files"
        for name, parts in scores.items()
        if part in parts and "held-out" in parts
    )
    st.info(
        f"**A voice these models never heard.** They trained on {trained}; {what} is not "
        f"among them, so its NLL measures how far the models carry over to a new voice, "
        f"not how well they fit: {figures} (nats per step).",
        icon=":material/record_voice_over:",
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
    far_out(nll)


def far_out(nll: dict[str, np.ndarray]) -> None:
    """Warn, with the numbers, when a model scores some frames of the clip beyond BLOW_UP: the
    clip lies far outside the audio that model trained on."""
    worst = {name: float(values.max()) for name, values in nll.items()}
    for name, (beyond, top) in views.frames_beyond(nll, BLOW_UP).items():
        others = ", ".join(f"the {o}'s worst {w:,.0f}" for o, w in worst.items() if o != name)
        st.warning(
            f"**Far outside the training audio:** {beyond} of {len(nll[name])} frames of this "
            f"clip cost the {name} more than {BLOW_UP:,.0f} nats each (its worst {top:,.0f}; "
            f"{others}). A voice or recording unlike the ones a model trained on can land in "
            "its Gaussians' far tails; the README's *Speech across voices* measures where.",
            icon=":material/warning:",
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
    low, high = frame / RATE, float(max(seconds - frame / RATE, frame / RATE))
    moment_link = [Number("moment", f"audio_moment_{source.key}", low, high)]
    asked = links.follow("audio", moment_link)
    moment = st.slider(
        "Moment in the clip (s)",
        frame / RATE,
        float(max(seconds - frame / RATE, frame / RATE)),
        float(default),
        step=frame / RATE,
        format="%.2f",
        key=f"audio_moment_{source.key}",
        persist_state="session",
        help="Which frame's predictive mixture to draw; it starts at the loudest frame of the "
        f"first {WEIGHTS_SECONDS:g} s.",
    )
    links.record("audio", moment_link, asked)
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
        + ". The vertical range leaves the farthest values out."
    )
    with st.expander("Why the FRMDN flings some draws"):
        st.caption(
            "The FRMDN's inverse flow sends some draws of z, not only far-out ones, beyond any "
            "training audio: it was trained only where real frames land, so a good fit of the "
            "real frames (the fit numbers below) does not make every draw sound right."
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


# ----------------------------------------------------------------------------- page
serve_pages_through_app()  # a deep link opened first on a fresh server
st.title("Audio: listen to RMDN vs FRMDN")
link_note = st.empty()  # filled at the end: what a link asked that the page cannot show
st.markdown(
    "Raw speech, 8000 samples per second, cut into frames of 80 samples (10 ms). Each model "
    "reads the frames so far and predicts a distribution over the **next whole frame** — an "
    "80-dimensional Gaussian mixture, in data space for the RMDN and after an invertible flow "
    "for the FRMDN. Prime both with the same start of a clip, let them continue, and listen."
)
st.caption(
    "With the pitch predictor (in the pretrained models, and on by default for training), both "
    "models first guess every sample by repeating the audio one pitch period earlier, as "
    "speech codecs do, and put their mixture on what is left. Without it their continuations "
    "sound whispered."
)
with st.expander("How the pitch predictor works"):
    st.caption(
        "The guess is a soft choice among periods of 2.5-20 ms, steered by the LSTM; generating "
        "runs it backwards, so a drawn residual comes out with the pitch put back. Each guess "
        "reads only earlier samples, so the NLL is still the waveform's. Without it the models "
        "learn the loudness and colour of speech but not its pitch."
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
    pair_col, load_col, train_col, _ = st.columns([2, 1, 1, 1])
    with pair_col:
        pair = pair_picker()
    if load_col.button(
        "Load pretrained",
        icon=":material/download:",
        width="stretch",
        disabled=not pretrained_available(pair),
        help=None if pretrained_available(pair) else "Not bundled in this copy of the app",
    ):
        load_pretrained(run, pair)
    if train_col.button(
        "Train both",
        icon=":material/model_training:",
        type="primary",
        width="stretch",
        disabled=split is None,
        help=why_not or f"Train on {source.label}: about a minute at the default settings",
    ):
        start_training(run, settings, source, split)
    if split is None and why_not:
        st.caption(f"Training is off: {why_not}.")
    place_on_session_device(run)
    if "models" not in run or run.get("pair", pair) != pair:  # a pretrained pair, another
        load_pretrained(run, pair)
    if not pretrained_available() and not trained_here(run):
        st.info(
            "Pretrained speech models are not bundled in this copy of the app "
            "(assets/pretrained/speech-rmdn and speech-frmdn). Press **Train both** to train an "
            "RMDN and an FRMDN here: about a minute at the default settings.",
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
links.tell(link_note)

"""The audio page's listening view: both models continue the same start of a clip."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import streamlit as st
import torch

from frmdn import plots, views
from frmdn.data import speech
from frmdn.data.audio import from_frames, wav_bytes
from frmdn.device import on_cpu
from frmdn.jobs.generation import continue_side_by_side
from ui import links
from ui.audio_source import RATE, Source
from ui.jobs import job_result
from ui.links import Number
from ui.training import session_device, weights_token

# the warmest temperature whose FRMDN continuations clip under CLIP_LIMIT of their samples in
# bench/results/voicing.json (a test holds it to that file)
DEFAULT_TEMPERATURE = 0.9
CLIP_LIMIT = 0.001


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


ROOT = Path(__file__).resolve().parents[1]
VOICING = {  # bundled pair -> its measured continuations (bench/voicing.py; in a source checkout)
    "speech": ROOT / "bench" / "results" / "voicing.json",
    "speech-english": ROOT / "bench" / "results" / "voicing_english_pair.json",
}
VOICED_GOAL, LEVEL_GOAL = 0.9, 0.2  # issue 22: voiced share, and level within 20 % of real


@st.cache_data(show_spinner=False)
def measured_voicing(path: Path) -> tuple[int, dict[str, tuple[float, float]]] | None:
    """How many clips a voicing result file continued, and the mean voiced share and level
    (RMS) at T = 1 per model, "Real" too; None when the file is not at hand (an installed app
    has no bench/ folder)."""
    try:
        results = json.loads(path.read_text())
        runs = {"Real": results["real"]}
        runs |= {m: results[f"speech-{m.lower()} T=1"] for m in ("RMDN", "FRMDN")}
        clips = int(results["run"]["clips"])
    except (OSError, ValueError, KeyError):
        return None
    return clips, {
        name: (float(np.nanmean(r["voiced"])), float(np.mean(r["rms"])))
        for name, r in runs.items()
    }


def voicing_note(run: dict) -> None:
    """How speech-like the bundled pair's continuations measured, against issue 22's goal."""
    measured = measured_voicing(VOICING[run["pair"]]) if run.get("pair") in VOICING else None
    if measured is None:
        return
    clips, figures = measured
    real_voiced, real_rms = figures["Real"]
    parts = [
        f"the {name} {voiced:.2f} voiced at {rms / real_rms:.0%} of the real level"
        for name, (voiced, rms) in figures.items()
        if name != "Real"
    ]
    st.caption(
        f"Measured over {clips} held-out English clips continued at T = 1 (`bench/voicing.py`): "
        f"{', '.join(parts)}; real speech {real_voiced:.2f} voiced. Speech-like continuations "
        f"would be at least {VOICED_GOAL:.0%} voiced and within {LEVEL_GOAL:.0%} of the real "
        "level: these models are not there yet, so expect a voiced buzz with pauses, not words."
    )


def listen_view(models: dict, run: dict, source: Source, frames: torch.Tensor, seed: int) -> None:
    st.subheader("Listen: the same start, continued by each model")
    clip, frame = source.clip, next(iter(models.values())).config.dim
    cols = st.columns(3)
    listen_links = [
        Number("prime", "audio_prime", 0.25, 2.0),
        Number("continuation", "audio_cont", 0.5, 3.0),
        Number("temperature", "audio_temperature", 0.3, 1.5),
    ]
    asked = links.follow("audio", listen_links)
    prime_s = cols[0].slider(
        "Prime length (s)", 0.25, 2.0, 0.5, 0.25, key="audio_prime", persist_state="session"
    )
    cont_s = cols[1].slider(
        "Continuation length (s)", 0.5, 3.0, 1.5, 0.25, key="audio_cont", persist_state="session"
    )
    temperature = cols[2].slider(
        "Temperature",
        0.3,
        1.5,
        DEFAULT_TEMPERATURE,
        0.05,
        key="audio_temperature",
        persist_state="session",
        help="Below 1 sharpens the mixture weights and shrinks every covariance. "
        f"{DEFAULT_TEMPERATURE} by default, the warmest at which the bundled four-voice "
        "FRMDN's continuations clip under 0.1 % of their samples (a draw from a wide "
        "component can keep ringing through the pitch predictor and pass full scale); the "
        "README's voicing table has the figures.",
    )
    links.record("audio", listen_links, asked)
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
    voicing_note(run)
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

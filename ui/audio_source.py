"""The audio page's sources: the bundled speech, an uploaded file or a recording.

Holds the page's audio constants (rate, frame, sequence length, pre-emphasis), the cached
readers shared by every session and the source panel's widgets (keys ``audio_source``,
``audio_clip``, ``audio_upload``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import streamlit as st

import frmdn
from frmdn.checkpoints.archive import data_info
from frmdn.data import SequenceSplit, speech
from frmdn.data.audio import AudioError, Clip, clip_plan, read_audio
from ui import links
from ui.links import Choice

SPEECH = speech.speech_dir()  # $FRMDN_DATA_DIR, else the installed or checkout assets
RATE = 8000  # Hz: every clip is read (and resampled) at this rate
FRAME = 80  # samples per time step (10 ms) for models trained here
LENGTH = 50  # frames per training sequence (0.5 s)
EMPHASIS = 0.9  # pre-emphasis of the audio for models trained here (frmdn.data.audio)
DEFAULT_CLIP_SECONDS = 3.0  # the default bundled clip is the first test file this long
SOURCES = ("Bundled speech", "Upload a file", "Record your voice")
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
        names = speech.held_out_clips(bundled_split_files(), SPEECH)
        source_links = [
            Choice("source", "audio_source", SOURCES),
            Choice("clip", "audio_clip", names),
        ]
        asked = links.follow("audio", source_links)
        choice = st.radio(
            "Source", SOURCES, horizontal=True, key="audio_source", persist_state="session"
        )
        if choice == SOURCES[0]:
            if names:
                state["audio_clip_choice"] = st.selectbox(
                    "Held-out clip (never used for training)",
                    names,
                    index=names.index(chosen_clip(names)),
                    key="audio_clip",
                    persist_state="session",
                )
            else:
                st.info(
                    "The bundled speech (assets/speech) is not in this copy of the app: "
                    "upload a file or record your voice instead.",
                    icon=":material/info:",
                )
        links.record("audio", source_links, asked)
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


def upload_nll(model: frmdn.SequenceDensityModel) -> float:
    """Held-out NLL of an uploaded model on the bundled test speech, pre-emphasised as the model
    records (0 or EMPHASIS: each other value would cache another copy of the speech)."""
    emphasis = data_info(model.metadata).get("emphasis", 0.0)
    if emphasis not in (0.0, EMPHASIS):
        raise ValueError(f"this page scores models trained with pre-emphasis 0 or {EMPHASIS}")
    return frmdn.evaluate_nll(model, bundled_split(FRAME, LENGTH, float(emphasis)).test)

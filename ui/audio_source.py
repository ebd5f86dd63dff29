"""The audio page's sources: a bundled voice, an uploaded file or a recording.

Holds the page's audio constants (rate, frame, sequence length, pre-emphasis), the cached
readers shared by every session and the source panel's widgets (keys ``audio_source``,
``audio_voice``, ``audio_clip`` (the English voice) or ``audio_clip_<voice>``,
``audio_upload``). The bundled voices are those of ``assets/voices``; each offers the clips no
model trained on the corpus heard (:func:`frmdn.data.voices.listening_files`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

import frmdn
from frmdn.checkpoints.archive import data_info
from frmdn.data import SequenceSplit, load_data, speech
from frmdn.data.audio import AUDIO_SUFFIXES, AudioError, Clip, clip_plan, read_audio
from frmdn.data.voices import Voice, listening_files
from ui import links
from ui.links import Choice

SPEECH = speech.speech_dir()  # $FRMDN_DATA_DIR, else the installed or checkout assets
RATE = 8000  # Hz: every clip is read (and resampled) at this rate
FRAME = 80  # samples per time step (10 ms) for models trained here
LENGTH = 50  # frames per training sequence (0.5 s)
EMPHASIS = 0.9  # pre-emphasis of the audio for models trained here (frmdn.data.audio)
DEFAULT_CLIP_SECONDS = 3.0  # the default bundled clip is the first test file this long
SOURCES = ("Bundled speech", "Upload a file", "Record your voice")
ENGLISH = "../speech"  # the corpus's label of the bundled English voice, assets/speech
VOICES = "audio:assets/voices"  # the bundled corpus of voices
state = st.session_state


@dataclass(frozen=True)
class Source:
    """The clip the page shows and the data the models train on."""

    clip: Clip
    key: str  # identifies the clip for caches, e.g. "bundled:es-co/hola.flac" or "upload:<sha1>"
    run_key: str  # which run (trained models) belongs to this source
    label: str  # for captions, e.g. "bundled speech"
    voice: str = ""  # the corpus label of a bundled clip's voice ("" for one's own clip)


@dataclass(frozen=True)
class BundledVoice:
    """A voice to listen to: its corpus entry and the clips no corpus model heard."""

    voice: Voice
    clips: dict[str, Path]  # file name -> file

    @property
    def slug(self) -> str:
        """Its name in widgets and links: the folder's name (``speech`` for English)."""
        return Path(self.voice.label).name


# ----------------------------------------------------------------------------- cached resources
@st.cache_data(show_spinner=False)
def bundled_split_files() -> dict[str, list[str]]:
    """The bundled speech's split.json (file names per part), or {} when it is not bundled."""
    return speech.split_files(SPEECH)


@st.cache_resource(show_spinner=False)
def bundled_voices() -> dict[str, BundledVoice]:
    """Slug -> voice of the bundled corpus, in its order; the English voice alone (its test
    files) when the corpus is not bundled; {} when neither is."""
    corpus = speech.voices()
    if corpus:
        try:
            files = listening_files(speech.voices_dir(), AUDIO_SUFFIXES)
        except AudioError:
            corpus = []
    if not corpus:
        names = speech.held_out_clips(bundled_split_files(), SPEECH)
        english = Voice(ENGLISH, SPEECH, "train", {"language": "en-US"})
        return {"speech": BundledVoice(english, {n: SPEECH / n for n in names})} if names else {}
    voices = [BundledVoice(v, {p.name: p for p in files[v.label]}) for v in corpus]
    return {voice.slug: voice for voice in voices}


@st.cache_resource(show_spinner="Reading the bundled speech…")
def bundled_clip(path: Path) -> Clip:
    return read_audio(path, sample_rate=RATE)


@st.cache_resource(show_spinner="Cutting the bundled speech into sequences…")
def bundled_split(frame: int, length: int, emphasis: float) -> SequenceSplit:
    """The bundled speech's train/valid/test split (shared read-only by every session)."""
    return speech.bundled_split(rate=RATE, frame_size=frame, length=length, emphasis=emphasis)


@st.cache_resource(show_spinner="Cutting the bundled voices into sequences…")
def corpus_split(frame: int, length: int, emphasis: float) -> SequenceSplit:
    """The bundled corpus ``audio:assets/voices``: train and valid from the training voices,
    test from the held-out voices (shared read-only by every session).

    Raises:
        AudioError, OSError: The corpus is missing or unreadable.
    """
    return load_data(f"{VOICES}?frame={frame}&length={length}&emphasis={emphasis:g}")


@st.cache_data(show_spinner=False, max_entries=64)
def uploaded_clip(data: bytes, name: str) -> Clip:
    return read_audio(data, sample_rate=RATE, name=name)


def digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()[:12]


def chosen_clip(voice: BundledVoice) -> str:
    """The voice's remembered clip, else its first clip long enough to listen to."""
    remembered, names = f"audio_clip_choice_{voice.slug}", list(voice.clips)
    if state.get(remembered) not in names:
        try:
            long = (
                n for n in names if bundled_clip(voice.clips[n]).seconds >= DEFAULT_CLIP_SECONDS
            )
            state[remembered] = next(long, names[0])
        except AudioError:  # an unreadable bundled file: bundled_source says so
            state[remembered] = names[0]
    return state[remembered]


def voice_names(labels: list[str]) -> str:
    """The titles of the bundled voices ``labels`` (corpus labels), e.g. "en-US · Allison
    Smith and fr-CA · June Wallack"."""
    titles = {v.voice.label: v.voice.title for v in bundled_voices().values()}
    names = [titles.get(label, label) for label in labels]
    return " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)


def voice_title(voice: BundledVoice) -> str:
    role = "a training voice" if voice.voice.role == "train" else "a held-out voice"
    return f"{voice.voice.title} ({role})"


def bundled_source(voice: BundledVoice | None) -> Source | None:
    """The voice's chosen clip (remembered across source switches), or None."""
    if voice is None:
        return None
    name = chosen_clip(voice)
    try:
        clip = bundled_clip(voice.clips[name])
    except AudioError as error:
        st.error(f"Could not read the bundled clip: {error}")
        return None
    label = "bundled speech" if voice.voice.label == ENGLISH else f"the voice {voice.voice.title}"
    return Source(clip, f"bundled:{voice.slug}/{name}", "bundled", label, voice.voice.label)


def voice_picker(voices: dict[str, BundledVoice]) -> BundledVoice:
    """The voice and clip widgets; returns the chosen voice (its clip remembered)."""
    slugs = list(voices)
    if len(slugs) > 1:
        with links.linked("audio", [Choice("voice", "audio_voice", slugs)]):
            slug = st.selectbox(
                "Voice",
                slugs,
                format_func=lambda s: voice_title(voices[s]),
                key="audio_voice",
                persist_state="session",
                help="The bundled corpus (assets/voices): training voices offer their held-out "
                "files, held-out voices every file. The bundled models trained on the training "
                "voices only.",
            )
    else:
        slug = slugs[0]
    voice = voices[slug]
    names = list(voice.clips)
    key = "audio_clip" if voice.voice.label == ENGLISH else f"audio_clip_{slug}"
    with links.linked("audio", [Choice("clip", key, names)]):
        state[f"audio_clip_choice_{slug}"] = st.selectbox(
            "Clip (never used to train the bundled models)",
            names,
            index=names.index(chosen_clip(voice)),
            key=key,
            persist_state="session",
        )
    return voice


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
        voices = bundled_voices()
        with links.linked("audio", [Choice("source", "audio_source", SOURCES)]):
            choice = st.radio(
                "Source", SOURCES, horizontal=True, key="audio_source", persist_state="session"
            )
        voice = None
        if choice == SOURCES[0]:
            if voices:
                voice = voice_picker(voices)
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
            remembered = voices.get(state.get("audio_voice", "speech"))
            source = bundled_source(voice or remembered or next(iter(voices.values()), None))
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

"""The audio page's model panel, its pretrained pair and training on the chosen source."""

from __future__ import annotations

from dataclasses import replace

import streamlit as st

import frmdn
from frmdn.data import SequenceSplit
from frmdn.data.audio import AudioError
from frmdn.data.speech import TRAIN_SCORED
from ui import links
from ui.audio_source import (
    EMPHASIS,
    ENGLISH,
    LENGTH,
    RATE,
    Source,
    bundled_split,
    bundled_split_files,
    corpus_split,
    voice_names,
)
from ui.links import Choice, Flag, Number, Whole
from ui.pretrained import MODELS, PRETRAINED, pretrained_pair
from ui.training import session_seed, start_pair_run

PITCH_MAX_LAG = 160  # samples: the pitch predictor's longest period (50 Hz at 8 kHz)
HIDDEN_OPTIONS = [16, 32, 64, 128, 160, 256]  # 160: the bundled pair's width (256: English)
BATCH_SIZE = 16  # sequences per step: a 3 s clip gives only a few dozen training sequences
BUNDLED_PARTS = (
    f"Train: the bundled training files (at most {TRAIN_SCORED} evenly spaced sequences); "
    "held-out: the bundled test files."
)
CORPUS_PARTS = (
    f"Train: the training voices' training files (at most {TRAIN_SCORED} evenly spaced "
    "sequences); held-out: their held-out files."
)


STEP_OPTIONS = [50, 100, 200, 400, 600, 1000, 1500]
DECAY_OPTIONS = [0.0, 1e-4, 1e-3, 1e-2, 1e-1]
MODEL_LINKS = [
    Whole("K", "audio_K", 1, 10),
    Whole("rank", "audio_rank", 0, 8),
    Choice("lstm", "audio_hidden", HIDDEN_OPTIONS),
    Whole("couplings", "audio_flow", 1, 8),
    Choice("steps", "audio_steps", STEP_OPTIONS, nearest=True),
    Choice("decay", "audio_wd", DECAY_OPTIONS, nearest=True),
    Number("dropout", "audio_dropout", 0.0, 0.5),
    Number("noise", "audio_noise", 0.0, 0.5),
    Flag("pitch", "audio_pitch"),
]


def model_panel() -> dict:
    """Model and training widgets, each in the page's URL; returns the settings."""
    with st.container(border=True), links.linked("audio", MODEL_LINKS):
        st.markdown("**Models (for training)**")
        cols = st.columns(4)
        K = cols[0].number_input("Components K", 1, 10, 5, key="audio_K", persist_state="session")
        rank = cols[1].number_input(
            "Precision rank r", 0, 8, 2, key="audio_rank", persist_state="session"
        )
        hidden = cols[2].select_slider(
            "LSTM width", HIDDEN_OPTIONS, 160, key="audio_hidden", persist_state="session"
        )
        flow_layers = cols[3].number_input(
            "Flow couplings", 1, 8, 4, key="audio_flow", persist_state="session"
        )
        cols = st.columns(4)
        steps = cols[0].select_slider(
            "Training steps",
            STEP_OPTIONS,
            600,
            key="audio_steps",
            persist_state="session",
        )
        weight_decay = cols[1].select_slider(
            "Weight decay",
            DECAY_OPTIONS,
            0.0,
            format_func=lambda v: f"{v:g}",
            key="audio_wd",
            persist_state="session",
            help="AdamW weight decay: pulls weights towards zero against overfitting.",
        )
        dropout = cols[2].slider(
            "Dropout",
            0.0,
            0.5,
            0.0,
            0.05,
            key="audio_dropout",
            persist_state="session",
            help="Drops LSTM outputs at random before the mixture head while training.",
        )
        noise = cols[3].slider(
            "Input noise",
            0.0,
            0.5,
            0.0,
            0.05,
            key="audio_noise",
            persist_state="session",
            help="Std of Gaussian noise added to the (standardised) past frames the LSTM reads "
            "while training.",
        )
        pitch = st.toggle(
            "Pitch predictor (both models)",
            True,
            key="audio_pitch",
            persist_state="session",
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


PAIRS = {  # the bundled speech pairs: checkpoint prefix -> what the picker calls it
    "speech": "Pretrained on four voices",
    "speech-english": "Pretrained on English Allison only (the earlier pair)",
}


def pretrained_available(prefix: str = "speech") -> bool:
    return all((PRETRAINED / f"{prefix}-{m.lower()}").is_dir() for m in MODELS)


def pair_picker() -> str:
    """Which bundled speech pair "Load pretrained" loads (linked as ``pair=``)."""
    prefixes = [p for p in PAIRS if pretrained_available(p)] or ["speech"]
    with links.linked("audio", [Choice("pair", "audio_pair", prefixes)]):
        return st.selectbox(
            "Pretrained pair",
            prefixes,
            format_func=PAIRS.get,
            key="audio_pair",
            persist_state="session",
            label_visibility="collapsed",
            help="Four voices: the default, trained on the corpus's four training voices, "
            "with capped coupling log-scales; English only: trained on Allison Smith's English "
            "prompts alone, more voiced but thrown far off by some voices it never heard.",
        )


def load_pretrained(run: dict, prefix: str = "speech") -> None:
    if not pretrained_available(prefix):
        return
    try:
        models = pretrained_pair(prefix)
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
    length = int(info.get("length", LENGTH))
    voices = info.get("voices", {}).get("train", [ENGLISH])  # a corpus, else assets/speech
    try:
        split, parts = pretrained_split(bool(info.get("voices")), frame, length, emphasis)
    except (AudioError, OSError) as error:
        st.warning(f"Cannot score on the bundled speech: {error}")
        split, parts = None, ""
    run.clear()
    run.update(
        models=models,
        source=f"pretrained on {voice_names(voices)} (assets/pretrained/{prefix}-*)",
        token=f"pretrained:{prefix}:{frame}",
        pair=prefix,
        split=split,
        emphasis=emphasis,
        parts=parts,
        voices=voices,
        seconds={
            m: model.metadata.get("metrics", {}).get("seconds", float("nan"))
            for m, model in models.items()
        },
    )


def pretrained_split(
    corpus: bool, frame: int, length: int, emphasis: float
) -> tuple[SequenceSplit | None, str]:
    """What the bundled pair trained on, its held-out part as ``test``, and the words for it:
    the corpus's training voices (their held-out files: its valid part) or the bundled speech;
    None when that data is not bundled."""
    if corpus:
        split = corpus_split(frame, length, emphasis)
        return replace(split, test=split.valid), CORPUS_PARTS
    if not bundled_split_files():
        return None, ""
    return bundled_split(frame, length, emphasis), BUNDLED_PARTS


def start_training(run: dict, settings: dict, source: Source, split: SequenceSplit) -> None:
    pitch = {"pitch_max_lag": PITCH_MAX_LAG if settings["pitch"] else 0}
    label = f"trained in this session on {source.label}"
    start_pair_run(run, settings | pitch | {"batch_size": BATCH_SIZE}, split, label)
    parts = (
        BUNDLED_PARTS
        if source.run_key == "bundled"
        else "Train: the first 80 % of the clip; held-out: its last 10 %."
    )
    voices = [ENGLISH] if source.run_key == "bundled" else []
    run.update(split=split, parts=parts, emphasis=EMPHASIS, voices=voices)

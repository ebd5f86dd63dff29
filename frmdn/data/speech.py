"""The bundled speech (``speech/`` of the bundled data): its files, splits, scoring and bounds."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import torch

from frmdn import resources
from frmdn.data.audio import (
    AUDIO_SUFFIXES,
    audio_split,
    clip_sequences,
    load_audio_data,
    read_audio,
)
from frmdn.data.audio_convert import full_scale
from frmdn.data.audio_read import AudioError, Clip
from frmdn.data.splits import SequenceSplit
from frmdn.data.voices import Voice, listening_files, read_manifest

__all__ = [
    "TRAIN_SCORED",
    "bundled_split",
    "generation_bound",
    "held_out_clips",
    "scored_train",
    "speech_dir",
    "split_files",
    "training_split",
    "voice_sequences",
    "voices",
    "voices_dir",
]

TRAIN_SCORED = 256
"""Training sequences scored for a train NLL (evenly spaced: see :func:`scored_train`)."""


def speech_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder of the bundled speech clips and their ``split.json``.

    Arguments:
        data_dir: The bundled-data folder (None: see :func:`frmdn.resources.data_dir`).

    Raises:
        FileNotFoundError: No bundled-data folder (see :func:`frmdn.resources.data_dir`).
    """
    return resources.data_dir(data_dir) / "speech"


def voices_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder of the bundled corpus of voices (``voices/``, holding ``voices.json``)."""
    return resources.data_dir(data_dir) / "voices"


def voices(data_dir: str | os.PathLike | None = None) -> list[Voice]:
    """The bundled corpus's voices in manifest order; [] when it is not bundled or unreadable."""
    try:
        return read_manifest(voices_dir(data_dir))
    except (AudioError, OSError):
        return []


def voice_sequences(
    label: str,
    *,
    rate: int,
    frame_size: int,
    length: int,
    emphasis: float,
    data_dir: str | os.PathLike | None = None,
) -> torch.Tensor:
    """Every sequence (N, ``length``, ``frame_size``) of the bundled corpus's voice ``label``
    that no model trained on the corpus heard (:func:`~frmdn.data.voices.listening_files`),
    cut as the data spec cuts them: to score a model on one voice.

    Raises:
        AudioError: The corpus or the voice is missing or unreadable.
    """
    files = listening_files(voices_dir(data_dir), AUDIO_SUFFIXES)
    if label not in files:
        raise AudioError(f"the bundled corpus has no voice {label!r}")
    clips = [read_audio(file, sample_rate=rate) for file in files[label]]
    return clip_sequences(clips, frame_size=frame_size, length=length, emphasis=emphasis)


def split_files(folder: str | os.PathLike) -> dict[str, list[str]]:
    """The file names per part (``train``, ``valid``, ``test``) in ``folder/split.json``;
    ``{}`` when the file is missing or unreadable (the speech is not bundled)."""
    try:
        return json.loads((Path(folder) / "split.json").read_text())
    except (OSError, ValueError):
        return {}


def held_out_clips(files: dict[str, list[str]], folder: str | os.PathLike) -> list[str]:
    """The held-out (``test``) names of ``files`` (see :func:`split_files`) that are files in
    ``folder``, in their listed order: the clips never trained on."""
    return [name for name in files.get("test", []) if (Path(folder) / name).is_file()]


def bundled_split(
    *,
    rate: int,
    frame_size: int,
    length: int,
    emphasis: float,
    data_dir: str | os.PathLike | None = None,
) -> SequenceSplit:
    """The bundled speech's train/valid/test split by file (its ``split.json``), sequences
    (N, ``length``, ``frame_size``) at ``rate`` Hz (see :func:`~frmdn.data.audio.load_audio_data`).

    Raises:
        AudioError: The bundled speech is missing or unreadable.
        FileNotFoundError: No bundled-data folder.
    """
    folder = speech_dir(data_dir)
    return load_audio_data(
        str(folder), rate=rate, frame=frame_size, length=length, emphasis=emphasis
    )


def training_split(
    clip: Clip | None,
    bundled: Callable[[], SequenceSplit],
    *,
    frame_size: int,
    length: int,
    emphasis: float,
    seed: int = 0,
) -> tuple[SequenceSplit | None, str]:
    """The split to train on, and ``""``; or None and why it cannot be had (one line).

    Arguments:
        clip: One clip, split by time (shorter sequences for a short clip, see
            :func:`~frmdn.data.audio.clip_plan`); None for the bundled speech.
        bundled: Returns the bundled speech's split (e.g. a cached :func:`bundled_split`).
        frame_size: Samples per frame d of the clip's sequences (N, T, d).
        length: Frames per sequence T (at most) of the clip's sequences.
        emphasis: Pre-emphasis coefficient of the clip's sequences.
        seed: Seed of the clip's dequantisation noise.
    """
    try:
        if clip is None:
            return bundled(), ""
        split = audio_split(
            clip, frame_size=frame_size, length=length, seed=seed, emphasis=emphasis
        )
        return split, ""
    except AudioError as error:
        return None, str(error)


def generation_bound(train: torch.Tensor | None, emphasis: float = 0.0) -> float:
    """The largest magnitude a generated frame value may take: the loudest value of the
    training sequences ``train`` (N, T, d), or full scale after pre-emphasis by ``emphasis``
    (:func:`~frmdn.data.audio.full_scale`) when the training audio is not at hand (None)."""
    if train is None:
        return full_scale(emphasis)
    return float(train.abs().max())


def scored_train(train: torch.Tensor, limit: int = TRAIN_SCORED) -> torch.Tensor:
    """At most ``limit`` evenly spaced training sequences (N, T, d) to score a train NLL on:
    every ceil(N / ``limit``)-th one, starting with the first, so a large set scores fast.

    Example:
        >>> scored_train(torch.arange(10).reshape(10, 1, 1), limit=4).flatten().tolist()
        [0, 3, 6, 9]
    """
    if limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    return train[:: max(1, -(-len(train) // limit))]

r"""Raw audio as sequence data: a waveform cut into frames of consecutive samples.

A time step is one *frame* of ``frame_size`` consecutive samples, so the target dimension is
:math:`d` = ``frame_size`` (80 samples = 10 ms at 8 kHz; the FRMDN paper uses 200 samples at
16 kHz). Training sequences are non-overlapping windows of ``length`` frames (50 × 10 ms =
0.5 s), never spanning two files.

:func:`read_audio` turns a file (or its bytes) into a mono :class:`Clip` at the requested
rate and refuses unusable input with a one-line :class:`AudioError`; :func:`audio_split` and
:func:`load_audio_data` (the ``audio:PATH?rate=..&frame=..&length=..`` data spec) build the
train/valid/test :class:`~frmdn.data.splits.SequenceSplit`, one clip cut by time as
:func:`clip_plan` says (shorter sequences for a clip of a few seconds); :func:`to_frames`,
:func:`from_frames` and :func:`wav_bytes` convert between waveforms, frames and WAV files.

Reading lives in :mod:`frmdn.data.audio_read`, the waveform conversions in
:mod:`frmdn.data.audio_convert` and the choice of what trains, validates and tests in
:mod:`frmdn.data.audio_plan`; their public names are importable from here too.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from frmdn import resources
from frmdn.data.audio_convert import (
    LSB,
    _check_emphasis,
    de_emphasis,
    from_frames,
    full_scale,
    pre_emphasis,
    to_frames,
    wav_bytes,
)
from frmdn.data.audio_plan import MIN_LENGTH, SPLITS, ClipPlan, _file_split, clip_plan
from frmdn.data.audio_read import MAX_BYTES, MAX_SECONDS, AudioError, Clip, read_audio
from frmdn.data.augment import augmented_copy
from frmdn.data.splits import SequenceSplit
from frmdn.data.voices import MANIFEST, read_corpus

__all__ = [
    "AUDIO_SUFFIXES",
    "MAX_BYTES",
    "MAX_SECONDS",
    "MIN_LENGTH",
    "AudioError",
    "Clip",
    "ClipPlan",
    "audio_split",
    "clip_plan",
    "clip_sequences",
    "de_emphasis",
    "from_frames",
    "full_scale",
    "load_audio_data",
    "pre_emphasis",
    "read_audio",
    "to_frames",
    "wav_bytes",
]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a")
"""The file types :func:`load_audio_data` picks up in a folder."""

STREAM_BYTES = 256 * 2**20
"""Folders with more bytes of audio files than this are read from a decoded-audio cache."""


def _windows(waveform: np.ndarray, frame_size: int, length: int) -> np.ndarray:
    """Non-overlapping windows of ``length`` frames, shape (N, length, frame_size)."""
    frames = to_frames(waveform, frame_size)
    count = len(frames) // length
    return frames[: count * length].reshape(count, length, frame_size)


def _dequantised(
    waveform: np.ndarray, generator: np.random.Generator, emphasis: float
) -> np.ndarray:
    """The waveform (n,) plus U(0, one 16-bit step) noise, then pre-emphasised, float64."""
    noisy = waveform.astype(np.float64) + generator.uniform(0.0, LSB, size=waveform.shape)
    return pre_emphasis(noisy, emphasis)


def clip_sequences(
    clips: Sequence[Clip],
    *,
    frame_size: int = 80,
    length: int = 50,
    emphasis: float = 0.0,
    seed: int = 0,
) -> torch.Tensor:
    """Every sequence of ``clips`` as :func:`audio_split` cuts a part: dequantised, pre-emphasised,
    non-overlapping windows within each clip, shape (N, ``length``, ``frame_size``) float32.

    For scoring a set of clips as a whole (a voice, say) rather than splitting it.
    """
    generator = np.random.default_rng(seed)
    windows = [
        _windows(_dequantised(clip.waveform, generator, emphasis), frame_size, length)
        for clip in clips
    ]
    stacked = np.concatenate(windows) if windows else np.zeros((0, length, frame_size))
    return torch.from_numpy(stacked.astype(np.float32))


def audio_split(
    clips: Sequence[Clip] | Clip,
    *,
    frame_size: int = 80,
    length: int = 50,
    split: dict[str, list[str]] | None = None,
    seed: int = 0,
    emphasis: float = 0.0,
    augment: int = 0,
) -> SequenceSplit:
    r"""Train/valid/test sequences of frames, shape (N, ``length``, ``frame_size``) each.

    With one clip the split is by time (:func:`clip_plan`): the first 80 % trains, the next 10 %
    validates and the last 10 % tests (the end of the clip is held out), and ``length`` is
    shortened for a clip too short to give each part a sequence that long (a 3 s clip gets
    sequences of 30 frames of 10 ms); ``info["length"]`` is the length used, ``info["spans"]``
    where each part lies (in seconds) and ``info["plan"]`` the choice in words. With several
    clips the split is by file:
    ``split`` (``{"train": [names], "valid": [...], "test": [...]}``) when given, else every
    10th file of the sorted names (starting with the first) tests and the file after it
    validates. Sequences are non-overlapping and never span two files.

    Dequantisation: 16-bit PCM samples are multiples of :math:`2^{-15}`, so a continuous density
    could put unbounded mass on them. Uniform noise :math:`\mathcal{U}(0, 2^{-15})` (one least
    significant bit, from a numpy generator seeded by ``seed``) is added to every sample, which
    makes the NLL a proper density; NLL + d·log(32768) nats per frame then upper-bounds the
    discrete code length of the 16-bit samples. (Resampled audio is not discrete; the noise is
    then harmless.)

    ``emphasis`` > 0 pre-emphasises each clip as a whole (:func:`pre_emphasis`) before it is
    cut; ``info["emphasis"]`` records it so generated frames can be put back with
    ``from_frames(frames, emphasis)``.

    Raises:
        AudioError: If one clip is too short to train on (see :func:`clip_plan`) or a part of
            several clips would hold no complete sequence (the messages say how much audio is
            needed), if the clips differ in sample rate, or if ``split`` names unknown files.
    """
    clips = [clips] if isinstance(clips, Clip) else list(clips)
    if not clips:
        raise AudioError("no audio clips given")
    if frame_size < 1 or length < 1:
        raise ValueError(f"frame_size and length must be at least 1, got {frame_size}, {length}")
    rates = sorted({clip.sample_rate for clip in clips})
    if len(rates) > 1:
        raise AudioError(f"all clips must share one sample rate, got {rates} Hz")
    rate = rates[0]
    names = [clip.name for clip in clips]
    if len(set(names)) != len(names):
        raise AudioError("clip names must be unique")
    generator = np.random.default_rng(seed)
    noisy = {clip.name: _dequantised(clip.waveform, generator, emphasis) for clip in clips}
    notes = [f"{clip.name}: {note}" for clip in clips for note in clip.notes]
    pieces: dict[str, list[np.ndarray]] = {part: [] for part in SPLITS}
    spans: dict[str, list[float]] = {}
    plan = None
    raw_train: list[np.ndarray] = []  # the training audio as recorded, for augmentation
    if len(clips) == 1 and split is None:
        wave = noisy[names[0]]
        plan = clip_plan(
            len(wave), sample_rate=rate, frame_size=frame_size, length=length, name=names[0]
        )
        length = plan.length
        for part, (start, end) in plan.spans.items():
            pieces[part].append(wave[start * frame_size : end * frame_size])
            spans[part] = list(plan.seconds(part))
        start, end = plan.spans["train"]
        raw_train.append(clips[0].waveform[start * frame_size : end * frame_size])
        files = {part: [names[0]] for part in SPLITS}
        notes.append("split by time: first 80 % train, next 10 % valid, last 10 % test")
    else:
        files = _file_split(names, split)
        for part in SPLITS:
            pieces[part] = [noisy[name] for name in files[part]]
        by_name = {clip.name: clip for clip in clips}
        raw_train = [by_name[name].waveform for name in files["train"]]
        unused = sorted(set(names) - {n for part in SPLITS for n in files[part]})
        if unused:
            notes.append(f"{len(unused)} file(s) in no split, not used: {', '.join(unused[:5])}")
        notes.append("split by file")
    if augment:
        augmenter = np.random.default_rng([seed, 1])  # apart from the dequantisation noise
        pieces["train"] += [
            pre_emphasis(augmented_copy(wave, rate, augmenter), emphasis)
            for _ in range(augment)
            for wave in raw_train
        ]
        notes.append(f"training audio augmented: {augment} randomised copies added")

    window_seconds = frame_size * length / rate
    tensors: dict[str, torch.Tensor] = {}
    seconds: dict[str, float] = {}
    for part in SPLITS:
        windows = [_windows(w, frame_size, length) for w in pieces[part]]
        stacked = np.concatenate(windows) if windows else np.zeros((0, length, frame_size))
        if len(stacked) == 0:
            have = sum(len(w) for w in pieces[part]) / rate
            raise AudioError(
                f"the {part} split has {have:.2f} s of audio in {len(pieces[part])} file(s) but "
                f"one sequence needs {window_seconds:.2f} s in one file ({length} frames × "
                f"{frame_size} samples at {rate} Hz)"
            )
        tensors[part] = torch.from_numpy(stacked.astype(np.float32))
        seconds[part] = round(len(stacked) * window_seconds, 3)
    info = _split_info(rate, frame_size, length, emphasis, files, seconds, notes)
    if augment:
        info["augment"] = augment
    if plan is not None:
        info["spans"] = spans  # where each part lies in the clip, in seconds
        info["plan"] = plan.sentence
    name = names[0] if len(clips) == 1 else f"{len(clips)} clips"
    return SequenceSplit(tensors["train"], tensors["valid"], tensors["test"], name, info)


def _split_info(
    rate: int,
    frame_size: int,
    length: int,
    emphasis: float,
    files: dict[str, list[str]],
    seconds: dict[str, float],
    notes: list[str],
) -> dict:
    """The ``info`` of an audio split, in memory or streamed: what generation and scoring read
    back (rate, framing, emphasis) and where each part came from."""
    return {
        "kind": "audio",
        "sample_rate": rate,
        "frame_size": frame_size,
        "length": length,
        "emphasis": emphasis,
        "files": files,
        "seconds": seconds,
        "notes": notes,
    }


def _streamed_split(
    files: list[Path],
    split: dict[str, list[str]] | None,
    rate: int,
    frame_size: int,
    length: int,
    emphasis: float,
    seed: int,
) -> SequenceSplit:
    """A split by file whose parts read their sequences from the decoded-audio cache."""
    from frmdn.data.stream import DiskSequences, cache_dir, cached_waveform

    _check_emphasis(emphasis)
    by_name = {file.name: file for file in files}
    chosen = _file_split(sorted(by_name), split)
    directory = cache_dir()
    parts, seconds = {}, {}
    window_seconds = frame_size * length / rate
    for part in SPLITS:
        waves = []
        for name in chosen[part]:
            cache, n, _ = cached_waveform(
                by_name[name], rate=rate, emphasis=emphasis, seed=seed, directory=directory
            )
            waves.append((cache, n))
        parts[part] = DiskSequences(waves, frame_size, length)
        if len(parts[part]) == 0:
            raise AudioError(
                f"the {part} split has no complete sequence of {window_seconds:.2f} s in "
                f"{len(waves)} file(s)"
            )
        seconds[part] = round(len(parts[part]) * window_seconds, 3)
    notes = [f"split by file; sequences read from the decoded-audio cache in {directory}"]
    info = _split_info(rate, frame_size, length, emphasis, chosen, seconds, notes)
    info["streamed"] = True
    return SequenceSplit(
        parts["train"], parts["valid"], parts["test"], f"{len(files)} clips", info
    )


def load_audio_data(
    path: str,
    *,
    rate: int = 8000,
    frame: int = 80,
    length: int = 50,
    emphasis: float = 0.0,
    seed: int = 0,
    stream: int = -1,
    augment: int = 0,
    data_dir: str | os.PathLike | None = None,
) -> SequenceSplit:
    """The data spec ``audio:PATH?rate=..&frame=..&length=..&emphasis=..``: a file or a folder.

    A folder contributes every .wav/.flac/.ogg/.mp3/.m4a file directly inside it (sorted); its
    ``split.json`` (``{"train": [...], "valid": [...], "test": [...]}``), if present, fixes the
    split by file. A relative PATH that does not exist in the working directory is also looked
    up in the bundled-data folder (:func:`frmdn.resources.resolve`), so ``audio:assets/speech``
    (the bundled speech) works from anywhere. A folder holding ``voices.json`` is a corpus of
    voices (:func:`frmdn.data.voices.read_corpus`), read into memory: ``audio:assets/voices``
    takes train and valid from the training voices and test from the held-out voices, and its
    ``info["voices"]`` is ``{"train": [...], "held_out": [...]}``.

    Arguments:
        path: A sound file or a folder.
        rate: Sample rate to resample to (Hz).
        frame: Samples per frame, the target dimension d.
        length: Frames per training sequence (shorter for one short clip: see :func:`clip_plan`).
        emphasis: Pre-emphasis coefficient in [0, 1) (see :func:`pre_emphasis`).
        seed: Seed of the dequantisation noise.
        stream: For a folder, 1 reads sequences from an on-disk cache of the decoded audio
            (:mod:`frmdn.data.stream`) instead of holding it in memory, 0 never does, and the
            default (-1) does for folders over :data:`STREAM_BYTES` of files.
        augment: Randomised copies of the training audio added to the train part (level,
            pitch, speed, noise; see :func:`audio_split`); not for streamed folders.
        data_dir: The bundled-data folder for a relative PATH (default: ``$FRMDN_DATA_DIR``,
            else the installed copy; see :func:`frmdn.resources.data_dir`).

    Returns:
        A split with tensors (N, ``length``, ``frame``); see :func:`audio_split`. A streamed
        split holds :class:`~frmdn.data.stream.DiskSequences` instead, which index like them.
    """
    source = resources.resolve(path, data_dir)
    if not source.exists():
        raise AudioError(f"no such audio file or folder: {path}")
    if (source / MANIFEST).is_file():  # a corpus of voices
        corpus = read_corpus(source, AUDIO_SUFFIXES)
        clips = [read_audio(file, sample_rate=rate, name=n) for n, file in corpus.files.items()]
        result = audio_split(
            clips,
            frame_size=frame,
            length=length,
            split=corpus.split,
            seed=seed,
            emphasis=emphasis,
            augment=augment,
        )
        result.info.update(voices=corpus.voices, path=str(path))
        return replace(result, name=source.name)
    split = None
    if source.is_dir():
        files = sorted(
            p for p in source.iterdir() if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
        )
        if not files:
            raise AudioError(f"{path} holds no {'/'.join(AUDIO_SUFFIXES)} files")
        split_file = source / "split.json"
        if split_file.exists():
            try:
                split = json.loads(split_file.read_text())
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
                raise AudioError(f"cannot read {split_file}: {error}") from None
            if not isinstance(split, dict):
                raise AudioError(f"{split_file} must hold an object with train, valid and test")
    else:
        files = [source]
    big = sum(file.stat().st_size for file in files) > STREAM_BYTES
    if len(files) > 1 and (stream == 1 or (stream == -1 and big)):
        if augment:
            raise AudioError("augment needs the audio in memory: use stream=0 or fewer files")
        result = _streamed_split(files, split, rate, frame, length, emphasis, seed)
        result.info["path"] = str(path)
        return replace(result, name=source.name or str(path))
    clips = [read_audio(file, sample_rate=rate) for file in files]
    result = audio_split(
        clips,
        frame_size=frame,
        length=length,
        split=split,
        seed=seed,
        emphasis=emphasis,
        augment=augment,
    )
    result.info["path"] = str(path)
    return replace(result, name=source.name or str(path))

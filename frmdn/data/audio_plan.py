"""Which audio trains, validates and tests: one clip cut by time (:func:`clip_plan`), or
several clips split by file."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from frmdn.data.audio_read import AudioError

__all__ = ["MIN_LENGTH", "ClipPlan", "clip_plan"]

MIN_LENGTH = 8
"""The shortest training sequence (frames) :func:`clip_plan` shrinks to for a short clip."""

SPLITS = ("train", "valid", "test")


@dataclass(frozen=True)
class ClipPlan:
    """How one clip is cut for training: the sequence length and where each part lies.

    Arguments:
        length: Frames per training sequence.
        spans: ``{"train": (start, end), "valid": ..., "test": ...}`` in frames, end excluded:
            consecutive, not overlapping, each holding at least one sequence.
        frame_size: Samples per frame.
        sample_rate: Samples per second.
        sentence: The choice in words, for a caption.
    """

    length: int
    spans: dict[str, tuple[int, int]]
    frame_size: int
    sample_rate: int
    sentence: str

    def seconds(self, part: str) -> tuple[float, float]:
        """Where ``part`` lies in the clip, (start, end) in seconds."""
        start, end = self.spans[part]
        return start * self.frame_size / self.sample_rate, end * self.frame_size / self.sample_rate


def clip_plan(
    n_samples: int,
    *,
    sample_rate: int = 8000,
    frame_size: int = 80,
    length: int = 50,
    name: str = "the clip",
) -> ClipPlan:
    """The sequence length and the train/valid/test spans of one clip split by time.

    The last tenth of the clip's whole frames tests and the tenth before it validates (the end
    of the clip is held out); the rest trains. Sequences are ``length`` frames long, or as long
    as a tenth of the clip when that is shorter (down to :data:`MIN_LENGTH` frames): a short
    recording then still gives every part a sequence, and training at least eight.

    Example:
        >>> plan = clip_plan(24000)  # 3 s at 8 kHz, frames of 80 samples (10 ms)
        >>> plan.length, plan.spans
        (30, {'train': (0, 240), 'valid': (240, 270), 'test': (270, 300)})

    Arguments:
        n_samples: The clip's length in samples.
        sample_rate: Samples per second.
        frame_size: Samples per frame.
        length: Frames per sequence for a clip long enough (the longest chosen).
        name: The clip's name, for the error message.

    Raises:
        AudioError: For a clip shorter than ``10 * min(MIN_LENGTH, length)`` frames (0.8 s at
            8 kHz with frames of 80 samples); the message says how long it must be.
    """
    if frame_size < 1 or length < 1 or sample_rate < 1:
        raise ValueError(
            f"frame_size, length and sample_rate must be at least 1, got {frame_size}, "
            f"{length}, {sample_rate}"
        )
    frames, frame_seconds = n_samples // frame_size, frame_size / sample_rate
    held, shortest = frames // 10, min(MIN_LENGTH, length)
    if held < shortest:
        need = math.ceil(1000 * frame_seconds * 10 * shortest) / 1000
        have = math.floor(1000 * n_samples / sample_rate) / 1000
        raise AudioError(
            f"{name} is too short to train on ({have:g} s); it needs at least {need:g} s, so "
            f"that its last tenth and the tenth before it each hold a sequence of {shortest} "
            f"frames ({shortest * frame_seconds:g} s)"
        )
    chosen = min(length, held)
    cuts = (0, frames - 2 * held, frames - held, frames)
    spans = {part: (cuts[i], cuts[i + 1]) for i, part in enumerate(SPLITS)}
    train, valid, test = (frame_seconds * (end - start) for start, end in spans.values())
    shortened = f", as {length} would not fit" if chosen < length else ""
    sentence = (
        f"{n_samples / sample_rate:.3g} s clip: sequences of {chosen} frames "
        f"({chosen * frame_seconds:.3g} s{shortened}); train on the first {train:.3g} s, "
        f"validate on the next {valid:.3g} s, hold out the last {test:.3g} s"
    )
    return ClipPlan(chosen, spans, frame_size, sample_rate, sentence)


def _file_split(names: list[str], split: dict[str, list[str]] | None) -> dict[str, list[str]]:
    """Which clip names go to train, valid and test."""
    if split is None:  # deterministic: every 10th file (from the first) to test, the next to valid
        ordered = sorted(names)
        chosen: dict[str, list[str]] = {part: [] for part in SPLITS}
        for i, name in enumerate(ordered):
            chosen[{0: "test", 1: "valid"}.get(i % 10, "train")].append(name)
        return chosen
    if not isinstance(split, dict) or any(
        not isinstance(split.get(part, []), list)
        or not all(isinstance(n, str) for n in split.get(part, []))
        for part in SPLITS
    ):
        raise AudioError("the split must map train, valid and test to lists of file names")
    known = set(names)
    stems = {Path(n).stem: n for n in names}
    chosen = {part: [] for part in SPLITS}
    for part in SPLITS:
        for entry in split.get(part, []):
            name = entry if entry in known else stems.get(entry)
            if name is None:
                raise AudioError(
                    f"the split lists {entry!r} under {part}, but there is no such file"
                )
            chosen[part].append(name)
    listed = [n for part in SPLITS for n in chosen[part]]
    if len(listed) != len(set(listed)):
        twice = sorted({n for n in listed if listed.count(n) > 1})
        raise AudioError(f"the split lists {twice[:3]} in more than one part")
    return chosen

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
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf
import torch

from frmdn import resources
from frmdn.data.content import MAX_UPLOAD_BYTES, check_size, describe, one_line, sniff
from frmdn.data.errors import DataError
from frmdn.data.splits import SequenceSplit

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
    "de_emphasis",
    "from_frames",
    "full_scale",
    "load_audio_data",
    "pre_emphasis",
    "read_audio",
    "to_frames",
    "wav_bytes",
]

MAX_SECONDS = 600.0
"""Longer input is trimmed to its first ``MAX_SECONDS`` seconds (with a note)."""

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a")
"""The file types :func:`load_audio_data` picks up in a folder."""

LSB = 1.0 / 32768
"""One least significant bit of 16-bit PCM audio scaled to [-1, 1): the dequantisation width."""

SILENCE_PEAK = 1e-4
"""Clips whose peak absolute value is below this are refused as silent."""

MIN_SECONDS = 0.1
"""Clips shorter than this are refused as too short."""

MAX_BYTES = MAX_UPLOAD_BYTES
STREAM_BYTES = 256 * 2**20
"""Folders with more bytes of audio files than this are read from a decoded-audio cache."""
"""In-memory input (bytes, an upload) above this many bytes is refused before decoding; files
on disk are streamed, and only their first ``max_seconds`` are decoded."""

MAX_VALUES = 2**26
"""At most this many decoded samples, all channels together (256 MB as float32): input with
many channels or a very high rate is trimmed to fewer seconds (with a note)."""

RATES = (1000, 768_000)
"""The plausible sample rates (Hz); a header declaring another rate is refused."""

MIN_LENGTH = 8
"""The shortest training sequence (frames) :func:`clip_plan` shrinks to for a short clip."""

SPLITS = ("train", "valid", "test")

# Kinds of content (frmdn.data.content.sniff) that may hold audio: libsndfile's, then FFmpeg's.
_AUDIO_KINDS = {"wav", "flac", "ogg", "mp3", "aac", "aiff", "au", "mp4", "matroska"}
_BLOCK = 2**16  # frames read from libsndfile at a time


class AudioError(DataError):
    """A file that is not usable audio (empty, truncated, not audio, silent, ...)."""


@dataclass(frozen=True)
class Clip:
    """A mono waveform and what was done to get it.

    Arguments:
        waveform: float32 samples, shape (n,), values in about [-1, 1].
        sample_rate: Samples per second.
        name: A short name, e.g. the file name.
        notes: Human-readable changes made to the input, e.g. ``"mixed 2 channels to mono"``.
    """

    waveform: np.ndarray
    sample_rate: int
    name: str
    notes: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        """The duration in seconds."""
        return len(self.waveform) / self.sample_rate


# --------------------------------------------------------------------------------- reading
def _check_format(rate: int, channels: int, name: str) -> None:
    """Refuse a header's implausible sample rate or channel count before reading samples."""
    if not RATES[0] <= rate <= RATES[1]:
        raise AudioError(
            f"{name} declares {rate} samples per second; audio has {RATES[0]}-{RATES[1]}"
        )
    if channels < 1:
        raise AudioError(f"{name} declares {channels} channels")


def _frame_limit(rate: int, channels: int, limit_seconds: float) -> int:
    """Frames to read at most: ``limit_seconds``, and at most :data:`MAX_VALUES` samples."""
    return max(1, min(math.ceil(limit_seconds * rate), MAX_VALUES // channels))


def _decode_soundfile(
    source: str | io.BytesIO, name: str, limit_seconds: float
) -> tuple[np.ndarray, int, list[str]]:
    """Samples (n, channels) float32, the rate and notes via libsndfile; raises its errors."""
    notes: list[str] = []
    with sf.SoundFile(source) as file:
        rate, declared = int(file.samplerate), int(file.frames)
        _check_format(rate, int(file.channels), name)
        limit = _frame_limit(rate, file.channels, limit_seconds)
        blocks: list[np.ndarray] = []
        total = 0
        while total <= limit:  # one frame more than is kept tells whether the input goes on
            try:
                block = file.read(min(_BLOCK, limit + 1 - total), dtype="float32", always_2d=True)
            except Exception as error:  # libsndfile's errors, of several kinds
                if not blocks:
                    raise
                reason = _reason(error)
                notes.append(f"decoding stopped after {total / rate:.2f} s ({reason}); kept that")
                break
            if len(block) == 0:
                break
            blocks.append(block)
            total += len(block)
    data = np.concatenate(blocks) if blocks else np.zeros((0, 1), np.float32)
    if len(data) > limit:
        data = data[:limit]
        notes.append(f"trimmed to the first {limit / rate:.4g} s")
    elif not notes and 0 < len(data) < min(declared, limit) and declared < 2**62:
        notes.append(
            f"the file ended after {len(data)} of the {declared} samples its header declares "
            "(truncated?)"
        )
    return data, rate, notes


def _decode_av(
    source: str | bytes, name: str, kind: str, limit_seconds: float
) -> tuple[np.ndarray, int, list[str]]:
    """The same via PyAV (FFmpeg), in memory, for what libsndfile cannot read (M4A, WebM, ...).

    A stream that breaks off mid-way keeps the samples decoded so far, with a note.
    """
    try:
        import av
    except ModuleNotFoundError:  # an optional dependency: the video extra
        raise AudioError(
            f"{name} is {describe(kind)}, which libsndfile cannot read; decoding it needs PyAV "
            "(FFmpeg): pip install 'frmdn[video]'"
        ) from None

    notes: list[str] = []
    chunks: list[np.ndarray] = []
    rate = total = 0
    limit = 1
    with av.open(io.BytesIO(source) if isinstance(source, bytes) else source) as container:
        if not container.streams.audio:
            raise AudioError(f"{name} has no audio stream (it is {describe(kind)})")
        resampler = av.AudioResampler(format="fltp")  # float planes, rate and layout kept
        try:
            for frame in container.decode(container.streams.audio[0]):
                if not chunks:
                    rate, channels = int(frame.sample_rate), len(frame.layout.channels)
                    _check_format(rate, channels, name)
                    limit = _frame_limit(rate, channels, limit_seconds)
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray())  # (channels, n)
                    total += chunks[-1].shape[1]
                if total > limit:
                    notes.append(f"trimmed to the first {limit / rate:.4g} s")
                    break
        except (av.FFmpegError, ValueError) as error:
            if not chunks:
                raise
            notes.append(
                f"decoding stopped after {total / rate:.2f} s ({one_line(error)}); kept that"
            )
    if not chunks:
        return np.zeros((0, 1), np.float32), max(rate, 1), notes
    return np.concatenate(chunks, axis=1).T[:limit], rate, notes


def _reason(error: BaseException) -> str:
    """An exception's message on one line, without the library's prefixes."""
    text = " ".join(str(error).split(":")[-1].split()).strip(" '.")
    if text.startswith("File does not exist"):  # libsndfile's words for no decodable data
        return "no decodable data"
    return text or type(error).__name__


def _decode(
    source: str | bytes, name: str, limit_seconds: float
) -> tuple[np.ndarray, int, list[str]]:
    """Decode a path or bytes by content: libsndfile, else FFmpeg; every failure an AudioError.

    Content that is known not to be audio (an image, an array, a document, text) is refused
    before any decoder sees it; unknown content goes to libsndfile only.
    """
    if isinstance(source, bytes):
        head = source[:512]
    else:
        with open(source, "rb") as file:
            head = file.read(512)
    if not head:
        raise AudioError(f"{name} is empty (0 bytes)")
    kind = sniff(head)
    if kind is not None and kind not in _AUDIO_KINDS:
        raise AudioError(f"{name} is not audio: it looks like {describe(kind)}")
    try:
        return _decode_soundfile(
            io.BytesIO(source) if isinstance(source, bytes) else source, name, limit_seconds
        )
    except AudioError:
        raise
    except Exception as error:  # libsndfile raises several kinds: all become AudioError
        first = _reason(error)
    if kind is None:
        raise AudioError(f"{name} is not a recognised audio file ({first})")
    try:
        return _decode_av(source, name, kind, limit_seconds)
    except AudioError:
        raise
    except Exception:  # FFmpeg could not either: libsndfile's reason is the clearer one
        pass
    raise AudioError(f"{name} is truncated or corrupt ({describe(kind)}: {first})")


def read_audio(
    source: str | os.PathLike | bytes | BinaryIO,
    *,
    sample_rate: int = 8000,
    max_seconds: float = MAX_SECONDS,
    name: str | None = None,
) -> Clip:
    """Read a sound file as a mono float32 :class:`Clip` at ``sample_rate``.

    The content decides how, never the name: known non-audio content (an image, an array,
    text, ...) is refused, audio is decoded with libsndfile (WAV, FLAC, OGG, MP3, AIFF, ...)
    and, where that fails, with FFmpeg through PyAV (M4A/AAC, Opus or Vorbis in WebM, ...),
    all in memory (no temporary files). Several channels are averaged to mono, input longer
    than ``max_seconds`` is trimmed *before* resampling, and other rates are resampled with
    ``librosa.resample`` (soxr); each of these adds a note to the clip.

    Arguments:
        source: A path, the file's bytes, or a binary file object (e.g. an upload).
        sample_rate: The rate of the returned clip, e.g. 8000 or 16000.
        max_seconds: Keep at most this many seconds of the input.
        name: The clip's name (default: the file name, or ``"clip"``).

    Returns:
        A clip with waveform shape (n,), n = duration × ``sample_rate``.

    Raises:
        AudioError: For a missing, empty, truncated or corrupt file, one that is not audio,
            in-memory input over :data:`MAX_BYTES`, an implausible sample rate, NaN or
            infinite samples, silence (peak below 1e-4) or less than 0.1 s of sound.
    """
    if isinstance(sample_rate, bool) or int(sample_rate) != sample_rate or sample_rate < 1:
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    if not max_seconds > 0:
        raise ValueError(f"max_seconds must be positive, got {max_seconds!r}")
    sample_rate = int(sample_rate)
    data: str | bytes
    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        name = name or path.name
        if not path.exists():
            raise AudioError(f"no such audio file: {path}")
        if path.is_dir():
            raise AudioError(f"{path} is a folder, not an audio file")
        data = str(path)
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        name = name or "clip"
    elif hasattr(source, "read"):
        name = name or Path(str(getattr(source, "name", "") or "clip")).name
        data = source.read()
        if not isinstance(data, bytes):
            raise ValueError("source must be opened in binary mode")
    else:
        raise TypeError(f"source must be a path, bytes or a binary file, got {type(source)}")
    if isinstance(data, bytes):
        check_size(len(data), MAX_BYTES, name, AudioError)

    try:
        frames, rate, notes = _decode(data, name, max_seconds)
    except OSError as error:
        raise AudioError(f"cannot read {name}: {error.strerror or error}") from None
    except MemoryError:
        raise AudioError(f"{name} is too large to decode") from None
    if frames.size == 0:
        raise AudioError(f"{name} contains no samples")
    if not np.isfinite(frames).all():
        raise AudioError(f"{name} contains NaN or infinite samples")
    channels = frames.shape[1]
    waveform = frames.mean(axis=1) if channels > 1 else frames[:, 0]
    if channels > 1:
        notes.append(f"mixed {channels} channels to mono")
    if rate != sample_rate:
        import librosa

        waveform = librosa.resample(waveform, orig_sr=rate, target_sr=sample_rate)
        notes.append(f"resampled {rate} Hz -> {sample_rate} Hz")
    waveform = np.ascontiguousarray(waveform, dtype=np.float32)
    seconds = len(waveform) / sample_rate
    if seconds < MIN_SECONDS:
        raise AudioError(f"{name} is too short ({seconds:.3f} s; need at least {MIN_SECONDS} s)")
    peak = float(np.abs(waveform).max())
    if peak < SILENCE_PEAK:
        raise AudioError(f"{name} is silent (peak {peak:.1e}, below {SILENCE_PEAK:g})")
    return Clip(waveform, sample_rate, name, tuple(notes))


# --------------------------------------------------------------------------------- conversion
def _check_emphasis(emphasis: float) -> None:
    if not 0.0 <= emphasis < 1.0:
        raise ValueError(f"emphasis must be in [0, 1), got {emphasis}")


def pre_emphasis(waveform: np.ndarray, emphasis: float) -> np.ndarray:
    r"""The first-difference filter :math:`e_n = y_n - a\,y_{n-1}` (with :math:`y_{-1} = 0`).

    Speech has most of its energy below 1 kHz; the filter flattens that tilt, so a model's
    white-ish prediction errors, put back through :func:`de_emphasis`, come out with speech's
    low-pass colour instead of as hiss. The map is unit lower-triangular (Jacobian determinant
    1), so NLLs of filtered frames are NLLs of the waveform itself. ``emphasis`` 0 is a no-op.

    Arguments:
        waveform: Samples, shape (..., n); filtered along the last axis.
        emphasis: The coefficient a in [0, 1).
    """
    return _emphasis_filter(waveform, emphasis, inverse=False)


def de_emphasis(waveform: np.ndarray, emphasis: float) -> np.ndarray:
    """The exact inverse of :func:`pre_emphasis`, shape (..., n) -> (..., n)."""
    return _emphasis_filter(waveform, emphasis, inverse=True)


def _emphasis_filter(waveform: np.ndarray, emphasis: float, inverse: bool) -> np.ndarray:
    """librosa's pre-/de-emphasis along the last axis, started from rest (zero state)."""
    _check_emphasis(emphasis)
    waveform = np.asarray(waveform)
    if emphasis == 0.0:
        return waveform
    import librosa  # slow to import: only when filtering is asked for

    apply = librosa.effects.deemphasis if inverse else librosa.effects.preemphasis
    start = np.zeros((*waveform.shape[:-1], 1), dtype=waveform.dtype)
    return apply(waveform, coef=emphasis, zi=start)


def full_scale(emphasis: float) -> float:
    """The largest magnitude a full-scale waveform (|y| <= 1) reaches after :func:`pre_emphasis`.

    Generation clamps to it (``model.sample(..., bound=full_scale(a))``): nothing beyond it is
    audio a 16-bit file could hold.
    """
    _check_emphasis(emphasis)
    return 1.0 + emphasis


def to_frames(waveform: np.ndarray, frame_size: int, emphasis: float = 0.0) -> np.ndarray:
    """Cut a waveform into frames of consecutive samples, dropping the incomplete tail.

    Example:
        >>> to_frames(np.arange(7.0), 3)
        array([[0., 1., 2.],
               [3., 4., 5.]])

    Arguments:
        waveform: Samples, shape (n,).
        frame_size: Samples per frame d.
        emphasis: Pre-emphasis coefficient applied first (see :func:`pre_emphasis`).

    Returns:
        Shape (n // d, d).
    """
    waveform = np.asarray(waveform)
    if waveform.ndim != 1:
        raise ValueError(f"waveform must have shape (n,), got {waveform.shape}")
    if frame_size < 1:
        raise ValueError(f"frame_size must be at least 1, got {frame_size}")
    waveform = pre_emphasis(waveform, emphasis)
    count = len(waveform) // frame_size
    return np.ascontiguousarray(waveform[: count * frame_size].reshape(count, frame_size))


def from_frames(frames: np.ndarray | torch.Tensor, emphasis: float = 0.0) -> np.ndarray:
    """Join frames back into waveforms: shape (..., T, d) -> (..., T * d).

    ``emphasis`` undoes the pre-emphasis of :func:`to_frames` (exactly, when the frames start
    where the filtered waveform started).
    """
    if isinstance(frames, torch.Tensor):
        frames = frames.detach().cpu().numpy()
    frames = np.asarray(frames)
    if frames.ndim < 2:
        raise ValueError(f"frames must have shape (..., T, d), got {frames.shape}")
    joined = frames.reshape(*frames.shape[:-2], frames.shape[-2] * frames.shape[-1])
    return de_emphasis(joined, emphasis)


def wav_bytes(waveform: np.ndarray, sample_rate: int) -> bytes:
    """A 16-bit PCM mono WAV file in memory, e.g. for ``st.audio`` or a download button.

    Samples are clipped to [-1, 1] but not normalised, so quiet audio stays quiet (unlike
    ``st.audio`` given an array, which peak-normalises). NaN becomes 0.

    Arguments:
        waveform: Samples, shape (n,).
        sample_rate: Samples per second.
    """
    waveform = np.asarray(waveform, dtype=np.float64)
    if waveform.ndim != 1:
        raise ValueError(f"waveform must have shape (n,), got {waveform.shape}")
    if sample_rate < 1:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    clipped = np.clip(np.nan_to_num(waveform, nan=0.0), -1.0, 1.0)
    buffer = io.BytesIO()
    sf.write(buffer, clipped, int(sample_rate), format="WAV", subtype="PCM_16")
    return buffer.getvalue()


# --------------------------------------------------------------------------------- splits
def _windows(waveform: np.ndarray, frame_size: int, length: int) -> np.ndarray:
    """Non-overlapping windows of ``length`` frames, shape (N, length, frame_size)."""
    frames = to_frames(waveform, frame_size)
    count = len(frames) // length
    return frames[: count * length].reshape(count, length, frame_size)


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


def audio_split(
    clips: Sequence[Clip] | Clip,
    *,
    frame_size: int = 80,
    length: int = 50,
    split: dict[str, list[str]] | None = None,
    seed: int = 0,
    emphasis: float = 0.0,
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
    noisy = {
        clip.name: pre_emphasis(
            clip.waveform.astype(np.float64)
            + generator.uniform(0.0, LSB, size=clip.waveform.shape),
            emphasis,
        )
        for clip in clips
    }
    notes = [f"{clip.name}: {note}" for clip in clips for note in clip.notes]
    pieces: dict[str, list[np.ndarray]] = {part: [] for part in SPLITS}
    spans: dict[str, list[float]] = {}
    plan = None
    if len(clips) == 1 and split is None:
        wave = noisy[names[0]]
        plan = clip_plan(
            len(wave), sample_rate=rate, frame_size=frame_size, length=length, name=names[0]
        )
        length = plan.length
        for part, (start, end) in plan.spans.items():
            pieces[part].append(wave[start * frame_size : end * frame_size])
            spans[part] = list(plan.seconds(part))
        files = {part: [names[0]] for part in SPLITS}
        notes.append("split by time: first 80 % train, next 10 % valid, last 10 % test")
    else:
        files = _file_split(names, split)
        for part in SPLITS:
            pieces[part] = [noisy[name] for name in files[part]]
        unused = sorted(set(names) - {n for part in SPLITS for n in files[part]})
        if unused:
            notes.append(f"{len(unused)} file(s) in no split, not used: {', '.join(unused[:5])}")
        notes.append("split by file")

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
    data_dir: str | os.PathLike | None = None,
) -> SequenceSplit:
    """The data spec ``audio:PATH?rate=..&frame=..&length=..&emphasis=..``: a file or a folder.

    A folder contributes every .wav/.flac/.ogg/.mp3/.m4a file directly inside it (sorted); its
    ``split.json`` (``{"train": [...], "valid": [...], "test": [...]}``), if present, fixes the
    split by file. A relative PATH that does not exist in the working directory is also looked
    up in the bundled-data folder (:func:`frmdn.resources.resolve`), so ``audio:assets/speech``
    (the bundled speech) works from anywhere.

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
        data_dir: The bundled-data folder for a relative PATH (default: ``$FRMDN_DATA_DIR``,
            else the installed copy; see :func:`frmdn.resources.data_dir`).

    Returns:
        A split with tensors (N, ``length``, ``frame``); see :func:`audio_split`. A streamed
        split holds :class:`~frmdn.data.stream.DiskSequences` instead, which index like them.
    """
    source = resources.resolve(path, data_dir)
    if not source.exists():
        raise AudioError(f"no such audio file or folder: {path}")
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
        result = _streamed_split(files, split, rate, frame, length, emphasis, seed)
        result.info["path"] = str(path)
        return replace(result, name=source.name or str(path))
    clips = [read_audio(file, sample_rate=rate) for file in files]
    result = audio_split(
        clips, frame_size=frame, length=length, split=split, seed=seed, emphasis=emphasis
    )
    result.info["path"] = str(path)
    return replace(result, name=source.name or str(path))

"""Decoding a sound file, or its bytes, into a mono :class:`Clip` at a chosen rate
(:func:`read_audio`); unusable input is refused with a one-line :class:`AudioError`."""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import soundfile as sf

from frmdn.data.content import MAX_UPLOAD_BYTES, check_size, describe, one_line, sniff
from frmdn.data.errors import DataError

__all__ = ["MAX_BYTES", "MAX_SECONDS", "AudioError", "Clip", "read_audio"]

MAX_SECONDS = 600.0
"""Longer input is trimmed to its first ``MAX_SECONDS`` seconds (with a note)."""

SILENCE_PEAK = 1e-4
"""Clips whose peak absolute value is below this are refused as silent."""

MIN_SECONDS = 0.1
"""Clips shorter than this are refused as too short."""

MAX_BYTES = MAX_UPLOAD_BYTES
"""In-memory input (bytes, an upload) above this many bytes is refused before decoding; files
on disk are streamed, and only their first ``max_seconds`` are decoded."""

MAX_VALUES = 2**26
"""At most this many decoded samples, all channels together (256 MB as float32): input with
many channels or a very high rate is trimmed to fewer seconds (with a note)."""

RATES = (1000, 768_000)
"""The plausible sample rates (Hz); a header declaring another rate is refused."""

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

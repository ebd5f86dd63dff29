"""Conversions of waveforms: pre-/de-emphasis, frames of consecutive samples and back, and
16-bit WAV bytes."""

from __future__ import annotations

import io

import numpy as np
import soundfile as sf
import torch

__all__ = [
    "LSB",
    "de_emphasis",
    "from_frames",
    "full_scale",
    "pre_emphasis",
    "to_frames",
    "wav_bytes",
]

LSB = 1.0 / 32768
"""One least significant bit of 16-bit PCM audio scaled to [-1, 1): the dequantisation width."""


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

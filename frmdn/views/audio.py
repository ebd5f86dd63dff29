"""Audio views: the spectrogram of a clip in dB relative to full scale."""

from __future__ import annotations

import numpy as np

__all__ = [
    "spectrogram_db",
]


def spectrogram_db(
    waveform: np.ndarray,
    sample_rate: int,
    n_fft: int = 256,
    hop_length: int = 64,
    floor_db: float = -90.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Magnitude spectrogram of a mono waveform in dB relative to full scale (amplitude 1).

    The reference is fixed (not the clip's own peak), so equal colours mean equal levels
    across clips. Values are floored at ``floor_db``.

    Returns:
        times (F,) in seconds, freqs (n_fft // 2 + 1,) in Hz, and dB (n_fft // 2 + 1, F).
    """
    import librosa  # slow to import: only when a spectrogram is asked for

    y = np.asarray(waveform, dtype=np.float32).reshape(-1)
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    magnitude = np.abs(librosa.stft(y, n_fft=n_fft, hop_length=hop_length))
    # a full-scale sine gives a peak of about n_fft / 4 under a Hann window: scale it to 1
    db = librosa.amplitude_to_db(magnitude / (n_fft / 4), ref=1.0, amin=1e-6, top_db=None)
    db = np.maximum(db, floor_db)
    times = librosa.frames_to_time(np.arange(db.shape[1]), sr=sample_rate, hop_length=hop_length)
    freqs = librosa.fft_frequencies(sr=sample_rate, n_fft=n_fft)
    return times, freqs, db

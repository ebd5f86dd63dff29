"""Waveform augmentation: new versions of a recording that sound like another take or speaker.

A model trained on few voices meets other pitches, tempos and levels; :func:`augmented_copy` makes
randomised copies of a training clip with librosa, each a change of level, of pitch (a phase
vocoder shift that keeps the tempo), of speed (a resampling that changes tempo and pitch
together, like a tape played faster) and added white noise at a set signal-to-noise ratio.
Only training data is augmented; valid and test stay as recorded.
"""

from __future__ import annotations

from dataclasses import dataclass

import librosa
import numpy as np

__all__ = ["Augmentation", "augmented_copy"]


@dataclass(frozen=True)
class Augmentation:
    """The ranges each copy's changes are drawn from, uniformly.

    Arguments:
        gain_db: Level change within ± this many decibels.
        semitones: Pitch shift within ± this many semitones (tempo kept).
        speed: Speed factor within 1 ± this (tempo and pitch together).
        snr_db: White noise at this signal-to-noise ratio (the clip's RMS against the noise's).
    """

    gain_db: float = 6.0
    semitones: float = 2.0
    speed: float = 0.1
    snr_db: float = 30.0

    def __post_init__(self) -> None:
        if min(self.gain_db, self.semitones, self.speed) < 0 or not 0 <= self.speed < 1:
            raise ValueError("need gain_db, semitones >= 0 and 0 <= speed < 1")


def augmented_copy(
    waveform: np.ndarray,
    sample_rate: int,
    rng: np.random.Generator,
    ranges: Augmentation = Augmentation(),
) -> np.ndarray:
    """One randomised copy of a mono ``waveform`` (n,) in [-1, 1], float64, clipped to ±1.

    The copy's length changes with its speed: about n / speed factor samples.
    """
    wave = np.asarray(waveform, dtype=np.float64)
    if ranges.semitones:
        steps = rng.uniform(-ranges.semitones, ranges.semitones)
        wave = librosa.effects.pitch_shift(wave, sr=sample_rate, n_steps=steps)
    if ranges.speed:
        factor = rng.uniform(1 - ranges.speed, 1 + ranges.speed)
        # read at factor × the rate: factor times faster, pitch up by the same ratio
        wave = librosa.resample(wave, orig_sr=sample_rate * factor, target_sr=sample_rate)
    wave = wave * 10 ** (rng.uniform(-ranges.gain_db, ranges.gain_db) / 20)
    rms = float(np.sqrt(np.mean(wave**2))) if len(wave) else 0.0
    if rms > 0:
        wave = wave + rng.normal(0.0, rms * 10 ** (-ranges.snr_db / 20), size=wave.shape)
    return np.clip(wave, -1.0, 1.0)

"""Waveform augmentation: each change does what it says on a tone, and only training grows."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from frmdn.data.audio import AudioError, Clip, audio_split, load_audio_data
from frmdn.data.augment import Augmentation, augmented_copy

RATE = 8000
NONE = Augmentation(gain_db=0.0, semitones=0.0, speed=0.0, snr_db=np.inf)


def tone(hz: float, seconds: float = 2.0, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return level * np.sin(2 * np.pi * hz * t)


def peak_hz(wave: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    return float(np.fft.rfftfreq(len(wave), 1 / RATE)[spectrum.argmax()])


def test_no_change_is_the_identity() -> None:
    wave = tone(220)
    np.testing.assert_array_equal(augmented_copy(wave, RATE, np.random.default_rng(0), NONE), wave)


def test_gain_scales_by_the_drawn_decibels_and_clips_at_full_scale() -> None:
    wave = tone(220, level=0.9)
    ranges = Augmentation(gain_db=6.0, semitones=0.0, speed=0.0, snr_db=np.inf)
    gain = 10 ** (np.random.default_rng(3).uniform(-6.0, 6.0) / 20)  # the copy's first draw
    copy = augmented_copy(wave, RATE, np.random.default_rng(3), ranges)
    np.testing.assert_allclose(copy, np.clip(wave * gain, -1, 1))
    loud = augmented_copy(wave, RATE, np.random.default_rng(0), Augmentation(6.0, 0, 0, np.inf))
    assert np.abs(loud).max() <= 1.0


def test_pitch_shift_moves_the_tone_and_keeps_the_length() -> None:
    wave = tone(200)
    ranges = Augmentation(gain_db=0.0, semitones=12.0, speed=0.0, snr_db=np.inf)
    rng = np.random.default_rng(5)
    steps = np.random.default_rng(5).uniform(-12.0, 12.0)
    copy = augmented_copy(wave, RATE, rng, ranges)
    assert len(copy) == len(wave)
    assert peak_hz(copy) == pytest.approx(200 * 2 ** (steps / 12), rel=0.02)


def test_speed_changes_length_and_pitch_together() -> None:
    wave = tone(200)
    ranges = Augmentation(gain_db=0.0, semitones=0.0, speed=0.2, snr_db=np.inf)
    factor = np.random.default_rng(7).uniform(0.8, 1.2)
    copy = augmented_copy(wave, RATE, np.random.default_rng(7), ranges)
    assert len(copy) == pytest.approx(len(wave) / factor, abs=2)
    assert peak_hz(copy) == pytest.approx(200 * factor, rel=0.02)


def test_noise_lies_at_the_requested_signal_to_noise_ratio() -> None:
    wave = tone(220, seconds=10.0)
    ranges = Augmentation(gain_db=0.0, semitones=0.0, speed=0.0, snr_db=20.0)
    noise = augmented_copy(wave, RATE, np.random.default_rng(0), ranges) - wave
    snr = 20 * np.log10(np.sqrt(np.mean(wave**2)) / np.sqrt(np.mean(noise**2)))
    assert snr == pytest.approx(20.0, abs=0.2)


def test_bad_ranges_are_refused() -> None:
    with pytest.raises(ValueError):
        Augmentation(speed=1.0)
    with pytest.raises(ValueError):
        Augmentation(gain_db=-1.0)


def clips() -> list[Clip]:
    rng = np.random.default_rng(0)
    return [
        Clip((0.2 * rng.standard_normal(RATE * 2)).astype(np.float32), RATE, f"c{i}.wav")
        for i in range(10)
    ]


def test_augment_adds_only_training_sequences_and_leaves_the_rest_as_it_was() -> None:
    plain = audio_split(clips(), frame_size=80, length=20, seed=4)
    more = audio_split(clips(), frame_size=80, length=20, seed=4, augment=2)
    again = audio_split(clips(), frame_size=80, length=20, seed=4, augment=2)
    for part in ("valid", "test"):
        assert torch.equal(getattr(plain, part), getattr(more, part))
    assert torch.equal(more.train[: len(plain.train)], plain.train)
    extra = more.train[len(plain.train) :]
    assert len(extra) >= len(plain.train)  # two copies, each 0.9-1.1 times as long
    assert not torch.equal(extra[: len(plain.train)], plain.train)
    assert torch.equal(more.train, again.train)  # seeded
    assert more.info["augment"] == 2 and "augment" not in plain.info


def test_one_clip_augments_its_training_span_only() -> None:
    clip = clips()[0]
    long = Clip(np.tile(clip.waveform, 10), RATE, "long.wav")
    plain = audio_split(long, frame_size=80, length=20)
    more = audio_split(long, frame_size=80, length=20, augment=1)
    assert torch.equal(plain.test, more.test) and torch.equal(plain.valid, more.valid)
    assert len(more.train) == pytest.approx(2 * len(plain.train), rel=0.15)


def test_a_streamed_folder_refuses_augmentation(tmp_path) -> None:
    import soundfile

    for i, clip in enumerate(clips()):
        soundfile.write(tmp_path / f"c{i}.wav", clip.waveform, RATE)
    with pytest.raises(AudioError, match="augment needs the audio in memory"):
        load_audio_data(str(tmp_path), length=20, stream=1, augment=1)

"""Tests for raw audio data (``frmdn.data.audio``), the bundled speech and the audio CLI."""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from frmdn import RMDN
from frmdn.checkpoints.load import read_metadata
from frmdn.cli.main import main
from frmdn.data import load_data
from frmdn.data.audio import (
    LSB,
    AudioError,
    Clip,
    audio_split,
    clip_plan,
    de_emphasis,
    from_frames,
    full_scale,
    load_audio_data,
    pre_emphasis,
    read_audio,
    to_frames,
    wav_bytes,
)
from frmdn.data.speech import (
    bundled_split,
    generation_bound,
    held_out_clips,
    scored_train,
    speech_dir,
    split_files,
    training_split,
)
from frmdn.resources import data_dir

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "assets" / "speech"
PRETRAINED = ROOT / "assets" / "pretrained"


def sine(freq: float = 440.0, seconds: float = 1.0, rate: int = 8000, amp: float = 0.5):
    t = np.arange(int(round(seconds * rate))) / rate
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def speechy(seconds: float, rate: int = 8000, seed: int = 0) -> np.ndarray:
    """A sine sweep with noise bursts: something with structure to model."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate)) / rate
    sweep = 0.3 * np.sin(2 * np.pi * (200 * t + 150 * t**2 / seconds))
    bursts = 0.1 * rng.standard_normal(len(t)) * (np.sin(2 * np.pi * 3 * t) > 0.5)
    return (sweep + bursts).astype(np.float32)


def peak_hz(waveform: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(waveform * np.hanning(len(waveform))))
    return float(np.argmax(spectrum) * rate / len(waveform))


def encoded(data: np.ndarray, rate: int, fmt: str, subtype: str | None = None) -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, data, rate, format=fmt, subtype=subtype)
    return buffer.getvalue()


# ------------------------------------------------------------------ reading
@pytest.mark.parametrize(
    ("fmt", "subtype", "rate", "stereo", "notes"),
    [
        ("WAV", "PCM_16", 44100, True, ["mixed 2 channels to mono", "resampled 44100 Hz -> 8000 Hz"]),  # noqa: E501
        ("FLAC", "PCM_24", 16000, False, ["resampled 16000 Hz -> 8000 Hz"]),
        ("OGG", "VORBIS", 22050, False, ["resampled 22050 Hz -> 8000 Hz"]),
        ("WAV", "PCM_16", 16000, False, ["resampled 16000 Hz -> 8000 Hz"]),
    ],
)  # fmt: skip
def test_odd_but_valid_files_load(
    tmp_path: Path, fmt: str, subtype: str, rate: int, stereo: bool, notes: list[str]
) -> None:
    wave = sine(rate=rate)
    data = np.stack([wave, 0.5 * wave], axis=1) if stereo else wave
    path = tmp_path / f"odd.{fmt.lower()}"
    sf.write(path, data, rate, format=fmt, subtype=subtype)
    clip = read_audio(path)
    assert clip.sample_rate == 8000 and clip.name == path.name
    assert clip.waveform.dtype == np.float32 and clip.waveform.ndim == 1
    assert abs(clip.seconds - 1.0) < 0.01
    assert list(clip.notes) == notes
    assert peak_hz(clip.waveform, 8000) == pytest.approx(440, abs=2)


def test_upsampling_to_16k_keeps_the_pitch(tmp_path: Path) -> None:
    clip = read_audio(encoded(sine(), 8000, "WAV"), sample_rate=16000, name="up.wav")
    assert clip.sample_rate == 16000 and len(clip.waveform) == 16000
    assert clip.notes == ("resampled 8000 Hz -> 16000 Hz",)
    assert peak_hz(clip.waveform, 16000) == pytest.approx(440, abs=2)


def test_16_bit_input_at_the_target_rate_is_unchanged(tmp_path: Path) -> None:
    ints = (sine() * 32768).astype(np.int16)
    path = tmp_path / "exact.wav"
    sf.write(path, ints, 8000, subtype="PCM_16")
    clip = read_audio(path)
    assert clip.notes == ()
    np.testing.assert_array_equal(clip.waveform, ints / 32768)
    with open(path, "rb") as file:  # a binary file object, as a web upload gives
        assert np.array_equal(read_audio(file).waveform, clip.waveform)
    assert read_audio(path.read_bytes()).name == "clip"


def test_too_long_input_is_trimmed_before_resampling() -> None:
    data = encoded(sine(seconds=3.0, rate=44100), 44100, "WAV")
    clip = read_audio(data, max_seconds=1.0)
    assert clip.seconds == pytest.approx(1.0, abs=1e-3)
    assert clip.notes == ("trimmed to the first 1 s", "resampled 44100 Hz -> 8000 Hz")


def _broken(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.wav"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "zero-length":
        sf.write(path, np.zeros(0), 8000)
    elif kind == "truncated":
        path = tmp_path / "cut.flac"
        data = encoded(sine(seconds=2.0), 8000, "FLAC")
        path.write_bytes(data[: len(data) // 4])  # the header and no whole block
    elif kind == "random":
        path.write_bytes(np.random.default_rng(0).bytes(4000))
    elif kind == "png":
        path = tmp_path / "picture.png"
        path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    elif kind == "text":
        path.write_text("this is a text file, not a recording\n" * 20)
    elif kind == "silent":
        sf.write(path, np.zeros(8000), 8000)
    elif kind == "nan":
        sf.write(path, np.full(8000, np.nan), 8000, subtype="FLOAT")
    elif kind == "short":
        sf.write(path, sine(seconds=0.05), 8000)
    return path


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("empty", "is empty (0 bytes)"),
        ("zero-length", "contains no samples"),
        ("truncated", "truncated or corrupt"),
        ("random", "not a recognised audio file"),
        ("png", "not audio: it looks like a PNG image"),
        ("text", "not audio: it looks like plain text"),
        ("silent", "is silent"),
        ("nan", "NaN or infinite"),
        ("short", "too short"),
    ],
)
def test_broken_files_give_one_clear_audio_error(tmp_path: Path, kind: str, message: str) -> None:
    path = _broken(tmp_path, kind)
    with pytest.raises(AudioError) as error:
        read_audio(path)
    text = str(error.value)
    assert message in text and "\n" not in text
    assert text.startswith(path.name)


def test_a_file_cut_short_keeps_what_decodes_with_a_note() -> None:
    data = encoded(sine(seconds=2.0), 8000, "FLAC")
    clip = read_audio(data[: len(data) // 2], name="cut.flac")
    assert 0.4 < clip.seconds < 1.0
    (note,) = clip.notes
    assert note.startswith("decoding stopped after ") and note.endswith("; kept that")


def test_missing_paths_and_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such audio file"):
        read_audio(tmp_path / "nothing.wav")
    with pytest.raises(AudioError, match="is a folder"):
        read_audio(tmp_path)
    with pytest.raises(ValueError, match="sample_rate"):
        read_audio(b"RIFF", sample_rate=0)
    with pytest.raises(AudioError, match="no such audio file or folder"):
        load_audio_data(str(tmp_path / "nowhere"))


# ------------------------------------------------------------------ conversion
def test_frames_round_trip() -> None:
    wave = np.arange(10, dtype=np.float32)
    frames = to_frames(wave, 3)
    assert frames.shape == (3, 3)
    np.testing.assert_array_equal(from_frames(frames), wave[:9])  # the tail is dropped
    batch = torch.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(from_frames(batch), batch.reshape(2, 12).numpy())
    with pytest.raises(ValueError):
        to_frames(np.zeros((2, 2)), 2)


def test_wav_bytes_keeps_the_level() -> None:
    quiet = sine(amp=0.1)
    back, rate = sf.read(io.BytesIO(wav_bytes(quiet, 8000)), dtype="float32")
    assert rate == 8000 and sf.info(io.BytesIO(wav_bytes(quiet, 8000))).subtype == "PCM_16"
    assert np.abs(back).max() == pytest.approx(0.1, abs=1e-3)  # not peak-normalised
    np.testing.assert_allclose(back, quiet, atol=2 * LSB)
    loud, _ = sf.read(io.BytesIO(wav_bytes(np.array([2.0, -3.0, 0.0]), 8000)))
    assert loud.max() <= 1.0 and loud.min() == -1.0


@pytest.mark.parametrize("emphasis", [0.0, 0.5, 0.9, 0.97])
def test_pre_emphasis_is_a_unit_triangular_matrix_and_de_emphasis_its_inverse(
    emphasis: float,
) -> None:
    rng = np.random.default_rng(int(100 * emphasis))
    y = rng.standard_normal((3, 50))
    matrix = np.eye(50) - emphasis * np.eye(50, k=-1)  # e_n = y_n - a y_(n-1), y_(-1) = 0
    filtered = pre_emphasis(y, emphasis)
    np.testing.assert_allclose(filtered, y @ matrix.T, atol=1e-12)
    assert np.linalg.slogdet(matrix) == (1.0, 0.0)  # NLLs of filtered frames = of the waveform
    np.testing.assert_allclose(de_emphasis(filtered, emphasis), y, atol=1e-10)
    np.testing.assert_allclose(de_emphasis(y, emphasis), y @ np.linalg.inv(matrix).T, atol=1e-10)
    frames = to_frames(y[0], 10, emphasis)
    np.testing.assert_allclose(frames.reshape(-1), filtered[0], atol=1e-12)
    np.testing.assert_allclose(from_frames(frames, emphasis), y[0], atol=1e-10)
    with pytest.raises(ValueError, match="emphasis"):
        pre_emphasis(y, 1.0)
    # the largest filtered value of full-scale audio: +1, -1, +1, ... gives 1 + a
    alternating = np.tile([1.0, -1.0], 25)
    assert np.abs(pre_emphasis(alternating, emphasis)).max() == pytest.approx(full_scale(emphasis))
    assert np.abs(pre_emphasis(rng.uniform(-1, 1, 1000), emphasis)).max() <= full_scale(emphasis)


def test_a_pre_emphasised_split_filters_each_clip_and_records_the_coefficient(
    tmp_path: Path,
) -> None:
    clip = Clip(sine(seconds=10.0), 8000, "tone.wav")
    plain = audio_split(clip, frame_size=80, length=10, seed=3)
    split = audio_split(clip, frame_size=80, length=10, seed=3, emphasis=0.9)
    assert plain.info["emphasis"] == 0.0 and split.info["emphasis"] == 0.9
    whole = torch.cat([plain.train, plain.valid, plain.test]).reshape(-1).double().numpy()
    parts = torch.cat([split.train, split.valid, split.test]).reshape(-1).double().numpy()
    np.testing.assert_allclose(parts, pre_emphasis(whole, 0.9), atol=1e-5)
    sf.write(tmp_path / "tone.wav", clip.waveform, 8000, subtype="PCM_16")
    loaded = load_data(f"audio:{tmp_path / 'tone.wav'}?emphasis=0.9&length=10")
    assert loaded.info["emphasis"] == 0.9


# ------------------------------------------------------------------ splits
def test_one_clip_is_split_by_time_with_the_end_held_out() -> None:
    clip = Clip(sine(seconds=10.0), 8000, "tone.wav")
    split = audio_split(clip, frame_size=80, length=10, seed=3)
    assert split.train.shape == (80, 10, 80)
    assert split.valid.shape == (10, 10, 80) and split.test.shape == (10, 10, 80)
    info = split.info
    assert info["kind"] == "audio" and info["sample_rate"] == 8000
    assert info["frame_size"] == 80 and info["length"] == 10
    assert info["files"] == {"train": ["tone.wav"], "valid": ["tone.wav"], "test": ["tone.wav"]}
    assert info["seconds"] == {"train": 8.0, "valid": 1.0, "test": 1.0}
    assert info["spans"] == {"train": [0.0, 8.0], "valid": [8.0, 9.0], "test": [9.0, 10.0]}
    raw = clip.waveform.reshape(-1, 10, 80)
    for part, start in (("train", 0), ("valid", 80), ("test", 90)):
        values = getattr(split, part).numpy().astype(np.float64)
        noise = values - raw[start : start + len(values)]
        assert noise.min() >= -1e-7 and noise.max() <= LSB + 1e-7  # one LSB of dequantisation
    again = audio_split(clip, frame_size=80, length=10, seed=3)
    other = audio_split(clip, frame_size=80, length=10, seed=4)
    assert torch.equal(again.train, split.train) and not torch.equal(other.train, split.train)
    assert float((split.train.numpy() - raw[:80]).std()) == pytest.approx(LSB / 12**0.5, rel=0.1)


def test_several_clips_are_split_by_file() -> None:
    clips = [Clip(speechy(2.0, seed=i), 8000, f"f{i}.wav") for i in range(4)]
    default = audio_split(clips, frame_size=40, length=10)
    assert default.info["files"] == {
        "train": ["f2.wav", "f3.wav"],
        "valid": ["f1.wav"],
        "test": ["f0.wav"],
    }
    assert default.train.shape == (80, 10, 40) and default.test.shape == (40, 10, 40)
    assert "spans" not in default.info  # whole files, no spans within a clip
    chosen = {"train": ["f0.wav", "f1"], "valid": ["f2.wav"], "test": ["f3.wav"]}
    split = audio_split(clips, frame_size=40, length=10, split=chosen)
    assert split.info["files"]["train"] == ["f0.wav", "f1.wav"]  # stems are accepted
    assert split.info["seconds"] == {"train": 4.0, "valid": 2.0, "test": 2.0}
    with pytest.raises(AudioError, match="no such file"):
        audio_split(clips, split={"train": ["f9.wav"], "valid": [], "test": []})
    with pytest.raises(AudioError, match="the test split has 0.00 s"):
        audio_split(clips, split={"train": ["f0.wav"], "valid": ["f1.wav"], "test": []})


@pytest.mark.parametrize(
    ("seconds", "length", "parts"),
    [
        (1.0, 10, (80, 10, 10)),
        (2.0, 20, (160, 20, 20)),
        (3.0, 30, (240, 30, 30)),
        (5.0, 50, (400, 50, 50)),
        (0.85, 8, (69, 8, 8)),  # 85 whole frames: a tenth is 8 of them
        (8.0, 50, (640, 80, 80)),
    ],
)
def test_a_short_clip_gets_shorter_sequences_and_every_part_a_sequence(
    seconds: float, length: int, parts: tuple[int, int, int]
) -> None:
    clip = Clip(speechy(seconds), 8000, "short.wav")
    plan = clip_plan(len(clip.waveform), sample_rate=8000, frame_size=80, length=50)
    assert plan.length == length
    spans = [plan.spans[part] for part in ("train", "valid", "test")]
    assert spans[0][0] == 0 and spans[-1][1] == len(clip.waveform) // 80
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:], strict=False))  # no overlap
    assert tuple(end - start for start, end in spans) == parts
    split = audio_split(clip, frame_size=80, length=50, seed=1)
    assert split.info["length"] == length and split.info["plan"] == plan.sentence
    for part, frames in zip(("train", "valid", "test"), parts, strict=True):
        tensor = getattr(split, part)
        assert tensor.shape == (frames // length, length, 80) and len(tensor) >= 1
        assert torch.isfinite(tensor).all()
    assert len(split.train) >= 8
    assert split.info["spans"] == {
        part: [start / 100, end / 100] for part, (start, end) in plan.spans.items()
    }
    # each part is cut from its own stretch of the clip: no sample is in two parts
    raw = torch.from_numpy(clip.waveform.astype(np.float64))
    for part, (start, _) in plan.spans.items():
        first = getattr(split, part)[0].reshape(-1).double()
        assert torch.allclose(first, raw[start * 80 : start * 80 + first.numel()], atol=2 * LSB)


def test_the_plan_says_what_it_chose_and_how_long_a_clip_must_be() -> None:
    plan = clip_plan(24_000)  # 3 s at 8 kHz
    assert plan.sentence == (
        "3 s clip: sequences of 30 frames (0.3 s, as 50 would not fit); train on the first "
        "2.4 s, validate on the next 0.3 s, hold out the last 0.3 s"
    )
    assert plan.seconds("test") == pytest.approx((2.7, 3.0))
    assert "would not fit" not in clip_plan(80_000).sentence  # 10 s: the full 50 frames
    with pytest.raises(AudioError) as error:
        clip_plan(6000, name="hello.wav")  # 0.75 s
    assert str(error.value) == (
        "hello.wav is too short to train on (0.75 s); it needs at least 0.8 s, so that its "
        "last tenth and the tenth before it each hold a sequence of 8 frames (0.08 s)"
    )
    clip_plan(6400)  # exactly 0.8 s is enough
    with pytest.raises(AudioError, match="at least 1.6 s"):  # frames of 200 at 10 kHz
        clip_plan(15_000, sample_rate=10_000, frame_size=200)
    assert clip_plan(3200, length=4).length == 4  # a length below MIN_LENGTH is kept
    with pytest.raises(AudioError, match="too short to train on"):
        audio_split(Clip(sine(seconds=0.5), 8000, "short.wav"))


def test_load_audio_data_reads_a_folder_with_split_json(tmp_path: Path) -> None:
    for i, fmt in enumerate(["wav", "flac", "ogg"]):
        sf.write(tmp_path / f"c{i}.{fmt}", speechy(1.0, seed=i), 8000)
    (tmp_path / "notes.txt").write_text("not audio, not picked up")
    split_json = {"train": ["c2.ogg", "c0.wav"], "valid": ["c1.flac"], "test": []}
    (tmp_path / "split.json").write_text(json.dumps(split_json))
    with pytest.raises(AudioError, match="test split"):
        load_audio_data(str(tmp_path), frame=40, length=10)
    split_json["test"] = ["c0.wav"]
    split_json["train"] = ["c2.ogg"]
    (tmp_path / "split.json").write_text(json.dumps(split_json))
    split = load_audio_data(str(tmp_path), frame=40, length=10)
    assert split.name == tmp_path.name and split.dim == 40
    assert split.info["files"] == {"train": ["c2.ogg"], "valid": ["c1.flac"], "test": ["c0.wav"]}
    assert split.train.shape == (20, 10, 40)
    (tmp_path / "split.json").write_text("{not json")
    with pytest.raises(AudioError, match="split.json"):
        load_audio_data(str(tmp_path))


def test_load_data_spec_options(tmp_path: Path) -> None:
    path = tmp_path / "clip.wav"
    sf.write(path, speechy(6.0), 16000)
    split = load_data(f"audio:{path}?frame=40&length=10&rate=16000")
    assert split.dim == 40 and split.train.shape[1] == 10
    assert split.info["sample_rate"] == 16000 and split.info["notes"][-1].startswith("split by")
    assert load_data(f"audio:{path}?frame=40&length=10").info["sample_rate"] == 8000
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['hop'\]"):
        load_data(f"audio:{path}?hop=3")


# ------------------------------------------------------------------ bundled speech
def test_bundled_speech_loads_with_its_fixed_split() -> None:
    fixed = json.loads((SPEECH / "split.json").read_text())
    split = load_data("audio:assets/speech")
    info = split.info
    assert info["kind"] == "audio" and info["sample_rate"] == 8000 and info["frame_size"] == 80
    assert info["files"] == fixed
    assert not set(fixed["test"]) & set(fixed["train"])
    assert (split.train.shape, split.valid.shape, split.test.shape) == (
        (1503, 50, 80),
        (221, 50, 80),
        (255, 50, 80),
    )
    assert len(list(SPEECH.glob("*.flac"))) == 299
    total = sum(sf.info(p).duration for p in SPEECH.glob("*.flac"))
    assert 17 * 60 < total < 18.5 * 60
    assert sum(p.stat().st_size for p in SPEECH.iterdir()) < 12e6
    assert all(sf.info(p).samplerate == 8000 for p in SPEECH.glob("*.flac"))


def test_speech_dir_and_split_files_of_the_bundled_speech(tmp_path: Path) -> None:
    assert speech_dir() == data_dir() / "speech"  # assets/speech in a source checkout
    assert speech_dir(tmp_path) == tmp_path / "speech"
    assert split_files(SPEECH) == json.loads((SPEECH / "split.json").read_text())
    assert split_files(tmp_path) == {}  # no split.json: the speech is not bundled
    (tmp_path / "split.json").write_text("{not json")
    assert split_files(tmp_path) == {}


def test_held_out_clips_are_the_listed_test_files_present(tmp_path: Path) -> None:
    for name in ("b.flac", "a.flac", "train.flac"):
        (tmp_path / name).write_bytes(b"")
    (tmp_path / "folder.flac").mkdir()
    files = {"train": ["train.flac"], "test": ["b.flac", "gone.flac", "folder.flac", "a.flac"]}
    assert held_out_clips(files, tmp_path) == ["b.flac", "a.flac"]
    assert held_out_clips({"train": ["train.flac"]}, tmp_path) == []
    assert held_out_clips({}, tmp_path) == []


def test_bundled_split_reads_the_bundled_speech_folder(tmp_path: Path) -> None:
    speech = tmp_path / "speech"
    speech.mkdir()
    for i in range(3):
        sf.write(speech / f"{i}.wav", sine(seconds=0.5, amp=0.1 * (i + 1)), 8000)
    (speech / "split.json").write_text(
        json.dumps({"train": ["2.wav"], "valid": ["1.wav"], "test": ["0.wav"]})
    )
    split = bundled_split(rate=8000, frame_size=40, length=10, emphasis=0.5, data_dir=tmp_path)
    assert split.train.shape == (10, 10, 40) and split.test.shape == (10, 10, 40)
    assert split.info["files"] == {"train": ["2.wav"], "valid": ["1.wav"], "test": ["0.wav"]}
    assert split.info["emphasis"] == 0.5 and split.info["sample_rate"] == 8000
    with pytest.raises(AudioError):
        bundled_split(rate=8000, frame_size=40, length=10, emphasis=0.0, data_dir=speech)


def test_training_split_is_the_bundled_split_or_the_clip_cut_by_time() -> None:
    bundled = audio_split(Clip(sine(seconds=2.0), 8000, "bundled"), frame_size=40, length=10)
    calls = []

    def load() -> object:
        calls.append(1)
        return bundled

    assert training_split(None, load, frame_size=80, length=50, emphasis=0.9) == (bundled, "")
    assert calls == [1]
    clip = Clip(sine(seconds=5.0), 8000, "own.wav")
    split, why = training_split(clip, load, frame_size=80, length=50, emphasis=0.9, seed=3)
    assert calls == [1] and why == ""  # the bundled speech is not read for one's own clip
    expected = audio_split(clip, frame_size=80, length=50, emphasis=0.9, seed=3)
    assert torch.equal(split.train, expected.train) and torch.equal(split.test, expected.test)
    assert split.info["emphasis"] == 0.9 and split.name == "own.wav"
    short = Clip(sine(seconds=0.5), 8000, "short.wav")
    split, why = training_split(short, load, frame_size=80, length=50, emphasis=0.9)
    assert split is None and "too short to train on (0.5 s)" in why and "\n" not in why

    def broken() -> object:
        raise AudioError("no bundled speech")

    assert training_split(None, broken, frame_size=80, length=50, emphasis=0.9) == (
        None,
        "no bundled speech",
    )


def test_generation_bound_is_the_loudest_training_value_or_full_scale() -> None:
    train = torch.tensor([[[0.1, -0.7], [0.3, 0.2]], [[0.65, -0.05], [0.0, 0.4]]])
    assert generation_bound(train) == pytest.approx(0.7)
    assert generation_bound(train, emphasis=0.9) == pytest.approx(0.7)  # the data decides
    assert generation_bound(None) == 1.0
    assert generation_bound(None, emphasis=0.9) == pytest.approx(1.9)


@pytest.mark.parametrize("n", [1, 5, 255, 256, 257, 511, 512, 513, 1503])
def test_scored_train_keeps_at_most_the_limit_evenly_spaced(n: int) -> None:
    train = torch.arange(n).reshape(n, 1, 1)
    kept = scored_train(train).flatten().tolist()
    step = math.ceil(n / 256)
    assert kept == list(range(0, n, step)) and len(kept) <= 256
    assert kept[0] == 0 and (n <= 256 or len(kept) > 128)  # spread over the whole set
    assert scored_train(train, limit=n).flatten().tolist() == list(range(n))
    with pytest.raises(ValueError, match="at least 1"):
        scored_train(train, limit=0)


@pytest.mark.skipif(not (PRETRAINED / "speech-frmdn").exists(), reason="no speech checkpoints")
def test_pretrained_speech_models_record_frmdn_beating_rmdn_on_seen_and_unseen_voices() -> None:
    metrics = {}
    for kind in ("rmdn", "frmdn"):
        meta = read_metadata(PRETRAINED / f"speech-{kind}")
        assert meta["data"]["spec"] == "audio:assets/voices?emphasis=0.9"
        assert meta["data"]["info"]["kind"] == "audio"
        assert meta["data"]["info"]["emphasis"] == 0.9
        assert meta["data"]["info"]["voices"]["held_out"]  # test_nll: voices never trained on
        assert meta["config"]["pitch_max_lag"] == 160  # both carry the pitch predictor
        metrics[kind] = meta["metrics"]
        for score in ("training_voices_nll", "english_test_nll", "test_nll"):
            # stored in half precision only where that leaves the NLL as it was
            assert metrics[kind][f"{score}_half"] == pytest.approx(metrics[kind][score], abs=0.05)
    for score in ("training_voices_nll", "english_test_nll", "test_nll"):
        assert metrics["frmdn"][score] < metrics["rmdn"][score], score


# ------------------------------------------------------------------ CLI
def _run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("emphasis", "pitch"), [(0.0, 0), (0.9, 60)])
def test_cli_trains_evaluates_and_samples_audio(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], emphasis: float, pitch: int
) -> None:
    wav = tmp_path / "clip.wav"
    sf.write(wav, speechy(6.0), 8000)
    spec = f"audio:{wav}?frame=40&length=10&emphasis={emphasis}"
    checkpoint = tmp_path / "ck"
    tiny = ["--hidden", "8", "--components", "2", "--flow-layers", "2", "--flow-hidden", "8"]
    code, out, err = _run(
        capsys, "train", "--data", spec, "--model", "frmdn", "--out", checkpoint, *tiny,
        "--steps", 5, "--batch-size", 8, "--eval-every", 5, "--pitch-max-lag", pitch, "--quiet",
    )  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["steps"] == 5
    assert read_metadata(checkpoint)["config"]["pitch_max_lag"] == pitch

    code, out, err = _run(capsys, "eval", "--checkpoint", checkpoint)
    assert code == 0, err
    line = json.loads(out)
    assert line["sample_rate"] == 8000
    assert line["nll_per_sample"] == pytest.approx(line["nll"] / 40)
    assert line["log_likelihood_per_half_second"] == pytest.approx(-line["nll"] * 100)

    wav_out = tmp_path / "gen.wav"
    code, out, err = _run(
        capsys, "sample", "--checkpoint", checkpoint, "--out", wav_out, "-n", 2, "--steps", 10,
        "--prime-seconds", 0.2,
    )  # fmt: skip
    assert code == 0, err
    line = json.loads(out)
    assert line["prime_steps"] == 40 and line["shape"] == [2, 50, 40]
    audio, rate = sf.read(wav_out)
    assert rate == 8000 and len(audio) == 2 * 50 * 40 + 2000  # two sequences, 0.25 s apart
    assert np.isfinite(audio).all()
    # the real start first, de-emphasised back to the waveform (after the filter's start-up:
    # the test part begins mid-clip, where the de-emphasis starts from rest)
    plain = f"audio:{wav}?frame=40&length=10"
    test_start = load_data(plain).test.reshape(-1, 40)[:40].reshape(-1).numpy()
    settled = 200 if emphasis else 0
    np.testing.assert_allclose(audio[settled:1600], test_start[settled:], atol=2 * LSB)
    assert np.abs(audio).max() <= 1.0

    npy = tmp_path / "gen.npy"
    code, _, err = _run(capsys, "sample", "--checkpoint", checkpoint, "--out", npy, "-n", 2,
                        "--steps", 3, "--prime-seconds", 0.1)  # fmt: skip
    assert code == 0, err
    assert np.load(npy).shape == (2, 23, 40)

    code, out, err = _run(capsys, "sample", "--checkpoint", checkpoint, "--out", npy,
                          "--prime-seconds", 100)  # fmt: skip
    assert code == 2 and "longer than the test audio" in err


def _assert_one_error_line(code: int, out: str, err: str, message: str) -> None:
    assert code == 2 and out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], err


def test_cli_bad_audio_is_one_error_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_text("hello, not a sound\n" * 10)
    code, out, err = _run(capsys, "train", "--data", f"audio:{bad}", "--out", tmp_path / "ck")
    _assert_one_error_line(code, out, err, "bad.wav is not audio")
    code, out, err = _run(capsys, "train", "--data", "audio:/no/such/place", "--out", tmp_path)
    _assert_one_error_line(code, out, err, "no such audio file or folder")


def test_cli_audio_options_need_an_audio_checkpoint(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = RMDN(2, n_components=2, hidden_size=4).save(
        tmp_path / "toy", data={"spec": "toy:ring", "seed": 0, "info": {"kind": "toy"}}
    )
    code, out, err = _run(
        capsys, "sample", "--checkpoint", checkpoint, "--out", tmp_path / "x.wav"
    )
    _assert_one_error_line(code, out, err, "needs a checkpoint trained on audio")
    code, out, err = _run(
        capsys, "sample", "--checkpoint", checkpoint, "--out", tmp_path / "x.npy",
        "--prime-seconds", 1,
    )  # fmt: skip
    _assert_one_error_line(code, out, err, "needs a checkpoint trained on audio")
    line = json.loads(_run(capsys, "eval", "--checkpoint", checkpoint)[1])
    assert math.isfinite(line["nll"]) and "nll_per_sample" not in line

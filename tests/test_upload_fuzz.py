"""Property-based fuzzing of the loaders the pages call on uploaded bytes.

``read_audio`` (then ``audio_split``, as the audio page trains), ``read_images`` and
``read_video`` get random bytes, valid small files cut at random points or with random bytes
overwritten, known magic numbers followed by junk, and valid files under the wrong name.
Every outcome must be usable data (finite, the right shape and dtype) or one
:class:`~frmdn.data.DataError` of the loader's own class with a one-line message: never
another exception, a crash, a hang or a temporary file left behind. The examples run are
counted and printed at the end ("files fuzzed: N").
"""

from __future__ import annotations

import io
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from upload_files import valid_files

from frmdn.data import DataError
from frmdn.data.audio import AudioError, audio_split, read_audio
from frmdn.data.content import KINDS, sniff
from frmdn.data.frames import FrameDataError, read_video
from frmdn.data.images import ImageDataError, read_images

SECONDS_PER_EXAMPLE = 10.0  # a generous bound: a hang, not a slow machine, should trip it
# No st.floats: torch or librosa may switch the CPU to flush subnormals to zero, which
# hypothesis's float strategies refuse to run under.
FUZZ = settings(
    max_examples=1500,
    deadline=None,  # the per-example bound above replaces it (2 shared cores are noisy)
    database=None,  # no .hypothesis folder in the working tree
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
COUNT = {"examples": 0}
NAMES = ("upload.wav", "upload.flac", "upload.mp3", "upload.png", "upload.npz", "upload.mp4")


# ------------------------------------------------------------------ what counts as a good outcome
def _audio(data: bytes, name: str) -> None:
    clip = read_audio(data, sample_rate=8000, name=name)
    assert clip.sample_rate == 8000 and clip.name == name
    assert clip.waveform.dtype == np.float32 and clip.waveform.ndim == 1
    assert len(clip.waveform) >= 800 and np.isfinite(clip.waveform).all()
    assert all(isinstance(note, str) and "\n" not in note for note in clip.notes)
    try:  # what the audio page does next with an upload
        split = audio_split(clip, frame_size=80, length=50)
    except AudioError as error:
        assert "too short to train on" in str(error)
        return
    length = split.info["length"]
    for part in (split.train, split.valid, split.test):
        assert part.ndim == 3 and part.shape[1:] == (length, 80) and len(part) >= 1
        assert part.isfinite().all()


def _images(data: bytes, name: str) -> None:
    images = read_images(data, name=name)
    assert images.dtype == np.uint8 and images.ndim == 3 and len(images) >= 1
    assert 2 <= images.shape[1] <= 128 and 2 <= images.shape[2] <= 128


def _frames(data: bytes, name: str) -> None:
    frames, notes = read_video(data, size=16, max_frames=60, name=name)
    assert frames.dtype == np.uint8 and frames.shape[1:] == (16, 16)
    assert 1 <= len(frames) <= 60
    assert all(isinstance(note, str) for note in notes)


LOADERS: dict[str, tuple[Callable[[bytes, str], None], type[DataError]]] = {
    "audio": (_audio, AudioError),
    "images": (_images, ImageDataError),
    "video": (_frames, FrameDataError),
}


def check(loader: str, data: bytes, name: str) -> str | None:
    """Run one loader on one file: valid data, or its own one-line error (returned)."""
    load, error_class = LOADERS[loader]
    start = time.perf_counter()
    COUNT["examples"] += 1
    try:
        load(data, name)
        message = None
    except DataError as error:
        assert type(error) is error_class, (type(error), error)
        message = str(error)
        assert message and "\n" not in message and len(message) < 400, message
    assert time.perf_counter() - start < SECONDS_PER_EXAMPLE
    return message


@pytest.fixture(autouse=True)
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private, empty temporary folder for every test: it must still be empty afterwards."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(folder))
    monkeypatch.setenv("TMPDIR", str(folder))
    yield folder
    assert sorted(p.name for p in folder.iterdir()) == [], "a loader left temporary files"


@pytest.fixture(scope="module", autouse=True)
def report(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print how many files were fuzzed (quoted in the README)."""
    yield
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\nfiles fuzzed: {COUNT['examples']}")


# ------------------------------------------------------------------ the properties
ACCEPTS = {  # which loader reads which valid file, whatever its name
    "audio": ("wav", "flac", "ogg", "mp3", "m4a"),
    "images": ("png", "jpeg", "npy", "npz"),
    "video": ("mp4", "webm", "avi", "gif"),
}
loaders = st.sampled_from(sorted(LOADERS))
names = st.sampled_from(NAMES)
# a loader and a file it reads, to be damaged: the decoders themselves get the bad bytes
readable = st.sampled_from([(loader, kind) for loader, kinds in ACCEPTS.items() for kind in kinds])


@FUZZ
@given(loader=loaders, data=st.binary(max_size=2048), name=names)
def test_random_bytes(loader: str, data: bytes, name: str) -> None:
    check(loader, data, name)


MAGIC = (
    b"RIFF\x24\x00\x00\x00WAVEfmt ",
    b"RIFF\x24\x00\x00\x00AVI LIST",
    b"fLaC\x00\x00\x00\x22",
    b"OggS\x00\x02",
    b"ID3\x04\x00",
    b"\xff\xfb\x90\x64",
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    b"\xff\xd8\xff\xe0",
    b"GIF89a",
    b"\x93NUMPY\x01\x00v\x00{'descr': '<f8', 'fortran_order': False, 'shape': (",
    b"PK\x03\x04",
    b"\x00\x00\x00\x18ftypisom",
    b"\x1a\x45\xdf\xa3",
)


@FUZZ
@given(loader=loaders, magic=st.sampled_from(MAGIC), tail=st.binary(max_size=1024), name=names)
def test_magic_numbers_followed_by_junk(loader: str, magic: bytes, tail: bytes, name: str) -> None:
    check(loader, magic + tail, name)


@settings(FUZZ, max_examples=3000)
@given(pair=readable, cut=st.integers(0, 10_000), name=names)
def test_valid_files_cut_short(pair: tuple[str, str], cut: int, name: str) -> None:
    loader, kind = pair
    data = valid_files()[kind]
    check(loader, data[: cut * len(data) // 10_000], name)


@settings(FUZZ, max_examples=3000)
@given(
    pair=readable,
    changes=st.lists(
        st.tuples(st.integers(0, 2**20), st.integers(0, 255)), min_size=1, max_size=8
    ),
    name=names,
)
def test_valid_files_with_bytes_overwritten(
    pair: tuple[str, str], changes: list[tuple[int, int]], name: str
) -> None:
    loader, kind = pair
    data = bytearray(valid_files()[kind])
    for where, value in changes:  # positions spread over the whole file, whatever its size
        data[where * len(data) // 2**20 % len(data)] = value
    check(loader, bytes(data), name)


@settings(FUZZ, max_examples=200)
@given(loader=loaders, kind=st.sampled_from(sorted(valid_files())), name=names)
def test_mislabelled_files_are_read_by_content_or_named(loader: str, kind: str, name: str) -> None:
    data = valid_files()[kind]
    message = check(loader, data, name)
    if kind in ACCEPTS[loader]:
        assert message is None, message  # read by its content, whatever the name says
    else:
        assert message is not None and message.startswith(name)
        what = KINDS[sniff(data[:512])]
        assert what in message, message


@settings(FUZZ, max_examples=300)
@given(
    centiseconds=st.integers(0, 600),
    rate=st.sampled_from([4000, 8000, 11025, 16000, 44100]),
    channels=st.integers(1, 3),
    fmt=st.sampled_from(["WAV", "FLAC"]),
)
def test_recordings_of_any_length_train_or_say_how_long_they_must_be(
    centiseconds: int, rate: int, channels: int, fmt: str
) -> None:
    n = centiseconds * rate // 100
    t = np.arange(n) / rate
    wave = 0.3 * np.sin(2 * np.pi * 220 * t)[:, None] * np.linspace(0.5, 1, channels)
    buffer = io.BytesIO()
    sf.write(buffer, wave.astype(np.float32), rate, format=fmt)
    message = check("audio", buffer.getvalue(), "recording.wav")
    if centiseconds >= 85:  # 0.8 s is the shortest clip that trains: a margin for resampling
        assert message is None, message

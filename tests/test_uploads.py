"""Uploads: size limits, type by content, no temporary files, bounded .npy/.npz decoding."""

from __future__ import annotations

import io
import tempfile
import tracemalloc
import zipfile
from pathlib import Path

import numpy as np
import pytest
from upload_files import valid_files

from frmdn.data import DataError
from frmdn.data import audio_read as audio_module
from frmdn.data import image_read as images_module
from frmdn.data import video as video_module
from frmdn.data.audio import AudioError, read_audio
from frmdn.data.content import MAX_UPLOAD_BYTES, megabytes, sniff
from frmdn.data.frames import FrameDataError, read_video
from frmdn.data.images import MAX_ARRAY_BYTES, ImageDataError, read_images

CONFIG = Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml"


def test_every_loader_error_is_a_data_error_and_still_a_value_error() -> None:
    for error in (AudioError, ImageDataError, FrameDataError):
        assert issubclass(error, DataError) and issubclass(error, ValueError)


def test_the_content_not_the_name_says_what_a_file_is() -> None:
    files = valid_files()
    expected = {"m4a": "mp4", "npz": "zip", "webm": "matroska"}
    for kind, data in files.items():
        assert sniff(data[:512]) == expected.get(kind, kind), kind
    assert sniff(b"") is None and sniff(bytes(range(256))) is None
    assert sniff(b'{"a": 1}') == "text"


# ------------------------------------------------------------------ size limits
def test_the_byte_limit_matches_the_app_and_reads_well() -> None:
    assert "maxUploadSize = 50" in CONFIG.read_text()
    assert MAX_UPLOAD_BYTES == 50 * 2**20
    assert megabytes(int(80.3 * 2**20)) == "80.3 MB" and megabytes(MAX_UPLOAD_BYTES) == "50 MB"


@pytest.mark.parametrize(
    ("module", "load", "error"),
    [
        (audio_module, lambda data: read_audio(data, name="big.wav"), AudioError),
        (images_module, lambda data: read_images(data, name="big.wav"), ImageDataError),
        (video_module, lambda data: read_video(data, name="big.wav"), FrameDataError),
    ],
)
def test_too_large_uploads_are_refused_before_decoding(module, load, error, monkeypatch) -> None:
    monkeypatch.setattr(module, "MAX_BYTES", 2**20)
    data = valid_files()["wav"] + bytes(int(2.3 * 2**20))  # valid content, too many bytes
    with pytest.raises(error) as raised:
        load(data)
    assert str(raised.value) == "big.wav is 2.3 MB; the limit is 1 MB"
    with pytest.raises(error, match=r"is 1,048,577 bytes; the limit is 1 MB"):
        load(bytes(2**20 + 1))


def test_the_real_limit_is_fifty_megabytes() -> None:
    with pytest.raises(AudioError, match=r"^voice\.wav is 52,428,801 bytes; the limit is 50 MB$"):
        read_audio(bytes(MAX_UPLOAD_BYTES + 1), name="voice.wav")


# ------------------------------------------------------------------ type by content
def test_mislabelled_files_are_named_for_what_they_are() -> None:
    files = valid_files()
    with pytest.raises(AudioError) as error:
        read_audio(files["png"], name="voice.wav")
    assert str(error.value) == "voice.wav is not audio: it looks like a PNG image"
    with pytest.raises(AudioError, match=r"^film\.wav has no audio stream \(it is an MP4/MOV"):
        read_audio(files["mp4"], name="film.wav")
    with pytest.raises(ImageDataError, match=r"^x\.npz is not supported: .*a WAV audio file\)$"):
        read_images(files["wav"], name="x.npz")
    with pytest.raises(FrameDataError) as error:
        read_video(files["wav"], name="clip.mp4")
    assert str(error.value) == "clip.mp4 has no video stream (it looks like a WAV audio file)"
    with pytest.raises(FrameDataError, match=r"is not a video \(it looks like a NumPy \.npy"):
        read_video(files["npy"], name="clip.mp4")


def test_mislabelled_files_that_a_loader_can_read_are_read_by_content(tmp_path: Path) -> None:
    files = valid_files()
    clip = read_audio(files["m4a"], name="voice.png")  # AAC in MP4, via FFmpeg
    assert clip.seconds > 0.4 and np.isfinite(clip.waveform).all()
    assert read_audio(files["flac"], name="voice.mp3").seconds == pytest.approx(0.5)
    stack = read_images(files["npy"], name="digits.png")
    assert stack.shape == (5, 8, 6) and stack.dtype == np.uint8
    one = read_images(files["png"], name="digits.npz")
    assert one.shape == (1, 12, 10)
    (tmp_path / "digits.npz").write_bytes(files["png"])  # on disk too: the content decides
    assert np.array_equal(read_images(tmp_path / "digits.npz"), one)
    frames, _ = read_video(files["gif"], size=16, name="clip.mp4")
    assert frames.shape == (5, 16, 16)


# ------------------------------------------------------------------ no temporary files
def test_no_loader_touches_temporary_files(monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise AssertionError("a loader asked for a temporary file")

    for function in ("mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryDirectory"):
        monkeypatch.setattr(tempfile, function, refuse)
    files = valid_files()
    for kind in ("wav", "flac", "ogg", "mp3", "m4a"):
        assert read_audio(files[kind], name=f"x.{kind}").seconds > 0.4
    for kind in ("png", "jpeg", "npy", "npz"):
        assert read_images(files[kind]).ndim == 3
    for kind in ("mp4", "webm", "avi", "gif"):
        assert len(read_video(files[kind], size=16)[0]) >= 5
    for data in (files["mp4"][:500], files["flac"][:300], b"RIFF" + bytes(100)):
        with pytest.raises(AudioError):
            read_audio(data)


# ------------------------------------------------------------------ .npy/.npz bombs
def _npy_header(shape: tuple[int, ...], descr: str = "|u1") -> bytes:
    buffer = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(buffer, header)
    return buffer.getvalue()


def test_a_small_npz_that_expands_to_gigabytes_is_refused_before_allocating() -> None:
    shape = (20_000, 128, 128)  # 328 MB of zeros, a few hundred kB compressed
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as bomb:
        with bomb.open("images.npy", "w") as member:
            member.write(_npy_header(shape))
            for _ in range(shape[0] // 1000):
                member.write(bytes(1000 * 128 * 128))
    data = archive.getvalue()
    assert len(data) < 2**20
    tracemalloc.start()
    try:
        with pytest.raises(ImageDataError) as error:
            read_images(data, name="bomb.npz")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 * 2**20, peak  # the 328 MB were never allocated
    assert str(error.value) == (
        "bomb.npz holds a uint8 array of shape (20000, 128, 128), 312.5 MB when read; the "
        "limit is 256 MB"
    )


def test_a_header_that_lies_about_its_shape_is_refused() -> None:
    huge = _npy_header((10**6, 10**6, 10**6), "<f8") + bytes(64)
    with pytest.raises(ImageDataError, match=r"shape \(1000000, 1000000, 1000000\)"):
        read_images(huge, name="liar.npy")
    small = _npy_header((50, 8, 8)) + bytes(100)  # declares 3,200 bytes, holds 100
    with pytest.raises(ImageDataError, match="truncated: 100 of the 3200 bytes"):
        read_images(small, name="short.npy")
    assert MAX_ARRAY_BYTES == 2**28


def test_a_quoted_reason_is_one_short_line() -> None:
    from frmdn.data.content import REASON_CHARS, one_line

    assert one_line(ValueError("bad\n  header.")) == "bad header"
    long = one_line(ValueError("header b'" + "\\x01" * 300 + "' differ"))
    assert len(long) == REASON_CHARS and long.endswith("…") and "\n" not in long
    assert one_line(ValueError("x" * REASON_CHARS)) == "x" * REASON_CHARS

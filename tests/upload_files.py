"""Small valid files of every kind the upload loaders meet, built in memory (shared by tests)."""

from __future__ import annotations

import io
from functools import cache

import av
import numpy as np
import soundfile as sf
from PIL import Image


def _sound(fmt: str, seconds: float = 0.5, rate: int = 8000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    buffer = io.BytesIO()
    sf.write(buffer, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, format=fmt)
    return buffer.getvalue()


def _m4a(seconds: float = 0.5, rate: int = 8000) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("aac", rate=rate, layout="mono")
        t = np.arange(int(seconds * rate)) / rate
        frame = av.AudioFrame.from_ndarray(
            (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)[None],
            format="fltp",
            layout="mono",
        )
        frame.sample_rate = rate
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    return buffer.getvalue()


def _picture(fmt: str) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (12, 10), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt)
    return buffer.getvalue()


def _array(compressed: bool) -> bytes:
    images = np.random.default_rng(0).integers(0, 256, (5, 8, 6), dtype=np.uint8)
    buffer = io.BytesIO()
    if compressed:
        np.savez_compressed(buffer, images=images)
    else:
        np.save(buffer, images)
    return buffer.getvalue()


def _video(container: str = "mp4", codec: str = "mpeg4") -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=10)
        stream.width = stream.height = 16
        stream.pix_fmt = "yuv420p"
        for t in range(8):
            image = np.zeros((16, 16, 3), dtype=np.uint8)
            image[4:10, t : t + 6] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def _gif() -> bytes:
    frames = [Image.fromarray(np.full((16, 16), 40 * t, dtype=np.uint8)) for t in range(5)]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:])
    return buffer.getvalue()


@cache
def valid_files() -> dict[str, bytes]:
    """One small valid file of each kind the loaders meet, built in memory once."""
    return {
        "wav": _sound("WAV"),
        "flac": _sound("FLAC"),
        "ogg": _sound("OGG"),
        "mp3": _sound("MP3"),
        "m4a": _m4a(),
        "png": _picture("PNG"),
        "jpeg": _picture("JPEG"),
        "npy": _array(False),
        "npz": _array(True),
        "mp4": _video(),
        "webm": _video("webm", "libvpx"),
        "avi": _video("avi", "mpeg4"),
        "gif": _gif(),
    }

"""Decoding a user's video with PyAV (FFmpeg) into greyscale, square uint8 frames: whole
(:func:`read_video`) or a chunk at a time (:func:`iter_video`)."""

from __future__ import annotations

import io
import os
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from frmdn.data.content import MAX_UPLOAD_BYTES, check_size, looks_like, one_line, sniff
from frmdn.data.errors import DataError

if TYPE_CHECKING:
    import av

__all__ = [
    "MAX_BYTES",
    "MAX_FRAMES",
    "MAX_FRAME_PIXELS",
    "FrameDataError",
    "iter_video",
    "read_video",
]

MAX_FRAMES = 600
"""Longer videos are trimmed to their first ``MAX_FRAMES`` frames (with a note)."""

MAX_BYTES = MAX_UPLOAD_BYTES
"""In-memory input (bytes, an upload) above this many bytes is refused before decoding."""

MAX_FRAME_PIXELS = 4096 * 4096
"""Videos whose frames have more pixels are refused (a frame is checked before conversion)."""

_MAX_SIZE = 256
# Kinds of content (frmdn.data.content.sniff) that are sound, and that may be video; any other
# known kind is refused without decoding, unknown content goes to FFmpeg.
_SOUND_KINDS = {"wav", "flac", "mp3", "aac", "aiff", "au"}
_VIDEO_KINDS = {"mp4", "matroska", "avi", "gif", "ogg"}


class FrameDataError(DataError):
    """Frames that cannot be used (not a video, empty, corrupt, too short, ...)."""


def _square(frame: np.ndarray, size: int) -> np.ndarray:
    """A greyscale frame (H, W) centre-cropped to a square and area-resized to size × size."""
    from PIL import Image

    h, w = frame.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = frame[top : top + side, left : left + side]
    if side == size:
        return np.ascontiguousarray(crop)
    image = Image.fromarray(np.ascontiguousarray(crop))
    return np.asarray(image.resize((size, size), Image.Resampling.BOX), dtype=np.uint8)


def read_video(
    path: str | os.PathLike | bytes,
    *,
    size: int = 48,
    max_frames: int = MAX_FRAMES,
    name: str | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Decode a video into greyscale square frames, uint8 (T, size, size), and notes.

    The content decides, not the name: sound, images, arrays and documents are refused with
    a message naming what they are; anything else goes to FFmpeg (through PyAV: MP4, AVI,
    MKV, WebM, MOV, GIF, ...), in memory for bytes. The first video stream is decoded, each
    frame converted to greyscale, centre-cropped to a square and resized to ``size`` ×
    ``size`` by area averaging. Videos longer than ``max_frames`` frames are trimmed; a stream
    that breaks off mid-way keeps the frames decoded so far. Each change is described in the
    returned notes.

    Arguments:
        path: A video file path, or the file's bytes (e.g. an upload; at most
            :data:`MAX_BYTES`).
        size: The side of the returned frames in pixels.
        max_frames: Keep at most this many frames.
        name: The name for messages (default: the file name, or ``"the video data"``).

    Returns:
        (frames, notes): frames uint8 (T, size, size), notes a list of strings.

    Raises:
        FrameDataError: For a missing, empty or too large file, one that is not a video (or
            has no video stream), frames larger than :data:`MAX_FRAME_PIXELS`, or one from
            which no frame decodes, or PyAV (the ``video`` extra) is not installed.

    :func:`iter_video` decodes the same frames a chunk at a time, for a video too long to hold
    (:func:`frmdn.data.stream.cached_video` writes them to a cache file that way).
    """
    notes: list[str] = []
    chunks = list(iter_video(path, size=size, max_frames=max_frames, name=name, notes=notes))
    return np.concatenate(chunks), notes


def iter_video(
    path: str | os.PathLike | bytes,
    *,
    size: int = 48,
    max_frames: int = MAX_FRAMES,
    name: str | None = None,
    notes: list[str] | None = None,
    chunk: int = 256,
) -> Iterator[np.ndarray]:
    """:func:`read_video` a chunk at a time: yields uint8 arrays (at most ``chunk``, size,
    size) of consecutive frames as they decode, so a long video is never held whole.

    ``notes``, if given, receives :func:`read_video`'s notes (the crop and resize notes once
    the last chunk is out); its errors are raised by the first ``next`` (or a later one, for
    a stream that breaks off with no frame decoded).
    """
    notes = [] if notes is None else notes
    if chunk < 1:
        raise ValueError(f"chunk must be at least 1, got {chunk}")
    try:
        import av
    except ModuleNotFoundError:  # an optional dependency
        raise FrameDataError(
            "reading a video needs PyAV (FFmpeg): pip install 'frmdn[video]'"
        ) from None

    if not 8 <= size <= _MAX_SIZE:
        raise ValueError(f"size must be between 8 and {_MAX_SIZE} pixels, got {size}")
    if max_frames < 1:
        raise ValueError(f"max_frames must be at least 1, got {max_frames}")
    if isinstance(path, (bytes, bytearray, memoryview)):
        name, data = name or "the video data", bytes(path)
        if not data:
            raise FrameDataError(f"{name} is empty (0 bytes)")
        check_size(len(data), MAX_BYTES, name, FrameDataError)
        head, source = data[:512], io.BytesIO(data)
    else:
        file = Path(path)
        name = name or file.name
        if not file.exists():
            raise FrameDataError(f"no such video file: {path}")
        if file.is_dir():
            raise FrameDataError(f"{path} is a folder, not a video file")
        if file.stat().st_size == 0:
            raise FrameDataError(f"{name} is empty (0 bytes)")
        with open(file, "rb") as opened:
            head, source = opened.read(512), str(file)
    kind = sniff(head)
    if kind in _SOUND_KINDS:
        raise FrameDataError(f"{name} has no video stream ({looks_like(kind)})")
    if kind is not None and kind not in _VIDEO_KINDS:
        raise FrameDataError(f"{name} is not a video ({looks_like(kind)})")
    try:
        container = av.open(source, mode="r")
    except Exception as error:  # FFmpeg refuses unknown content with errors of many kinds
        raise FrameDataError(f"{name} is not a readable video ({one_line(error)})") from None
    with container:
        if not container.streams.video:
            what = looks_like(kind) if kind else "audio only?"
            raise FrameDataError(f"{name} has no video stream ({what})")
        shape = yield from _decode_frames(container, name, size, max_frames, notes, chunk)
    h, w = shape
    if h != w:
        side = min(h, w)
        notes.append(f"centre-cropped {w}×{h} frames to {side}×{side}")
    if min(h, w) != size:
        notes.append(f"resized frames to {size}×{size}")


def _decode_frames(
    container: av.container.InputContainer,
    name: str,
    size: int,
    max_frames: int,
    notes: list[str],
    chunk: int,
) -> Generator[np.ndarray, None, tuple[int, int]]:
    """Square greyscale frames of the first video stream, ``chunk`` at a time (N, size,
    size); notes what it changed and returns the source frame shape."""
    frames: list[np.ndarray] = []
    shape = (0, 0)
    count = 0
    try:
        for frame in container.decode(container.streams.video[0]):
            if count == max_frames:
                notes.append(f"trimmed to the first {max_frames} frames")
                break
            if frame.width * frame.height > MAX_FRAME_PIXELS:
                raise FrameDataError(
                    f"{name} has {frame.width}×{frame.height} frames; at most "
                    f"{MAX_FRAME_PIXELS:,} pixels a frame are decoded"
                )
            grey = frame.to_ndarray(format="gray")  # (H, W) uint8
            shape = grey.shape
            frames.append(_square(grey, size))
            count += 1
            if len(frames) == chunk:
                yield np.stack(frames)
                frames = []
    except FrameDataError:
        raise
    except Exception as error:  # FFmpeg's decoding errors are of many kinds
        if not count:
            raise FrameDataError(f"{name} is corrupt ({one_line(error)})") from None
        notes.append(f"decoding stopped after {count} frames ({one_line(error)}); kept those")
    if not count:
        raise FrameDataError(f"{name} holds no decodable video frames")
    if frames:
        yield np.stack(frames)
    return shape

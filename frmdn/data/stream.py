"""Data larger than memory: decoded once into an on-disk cache, sequences read on demand.

Without this, a large folder or a long video is decoded whole into RAM (and a split copies it
again). Instead, each source is decoded once, a piece at a time, into a cache file named by
the SHA-256 of its bytes and the options that change the decoding, so a changed file or other
options decode again and a second run decodes nothing. What streams, and when:

- ``audio:FOLDER`` (:mod:`frmdn.data.audio`): each file decoded, dequantised and
  pre-emphasised on its own, written as raw float32 samples (:func:`cached_waveform`). A folder
  holding more than :data:`~frmdn.data.audio.STREAM_BYTES` (256 MiB) of audio files streams.
- ``images:FOLDER`` (:mod:`frmdn.data.images`): all of the folder's images, each decoded
  once, in one uint8 file laid out as an (N, H, W) array (the layout of ``np.memmap``),
  named by the names and SHA-256 of every image file. A folder whose images hold more than
  :data:`~frmdn.data.images.STREAM_PIXELS` (2**25) pixels, or that holds more than
  :data:`~frmdn.data.images.MAX_IMAGES` images (which in memory would be trimmed), streams.
  Only the drawn batch is dequantised and logit-transformed, when it is read, with noise
  seeded per image, so an image reads the same every time.
- ``frames:PATH``/``video:PATH`` (:mod:`frmdn.data.latents`): the video decoded a chunk at a
  time into a uint8 file (T, size, size) (:func:`cached_video`), named by its SHA-256, the
  frame size and the frame limit; the VAE encodes it into latents in batches read from that
  file (the latents, ``latent_dim`` floats a frame, stay in memory). A video whose header
  declares more than :data:`~frmdn.data.frames.MAX_FRAMES` frames (or no frame count) streams,
  and is then read up to :data:`MAX_STREAM_FRAMES` frames instead of being trimmed.

``?stream=1`` in the spec streams a folder or video of any size, ``?stream=0`` never does
(the default, -1, decides by size or length as above). A :class:`DiskSequences` stands in for
the (N, T, d) tensor of a split part: indexing it reads just the requested sequences from the
cache files with positional reads, never mapping the files (the pages of a mapped file that
are touched count as the process's resident memory), so the training process holds a batch,
not the data.

Every cache file is written under a temporary name and renamed once complete, so a killed
decode leaves at most a stray ``*.tmp`` file, never half a cache file. The cache lives in
``$FRMDN_CACHE``, else ``$FRMDN_CACHE_DIR``, else ``~/.cache/frmdn``; nothing removes old
entries (delete the folder to reclaim the space).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from numpy.typing import DTypeLike
from torch import Tensor

__all__ = [
    "MAX_STREAM_FRAMES",
    "CachedFrames",
    "DiskSequences",
    "build_cache",
    "cache_dir",
    "cache_key",
    "cached_video",
    "cached_waveform",
    "declared_frames",
]

CACHE_ENV = "FRMDN_CACHE"
CACHE_ENV_ALIAS = "FRMDN_CACHE_DIR"  # the name the README's settings table and the VAE cache use
FORMAT = "frmdn-audio-cache-1"  # part of every key: a new layout never reads an old file
VIDEO_FORMAT = "frmdn-video-cache-1"
BLOCK = 2**18  # samples filtered and written at a time: a long file never doubles in memory
VIDEO_CHUNK = 256  # frames decoded before they are written out
MOMENT_NUMBERS = 2**20  # values read at a time for the normalisation pass (~24 MiB in all)

MAX_STREAM_FRAMES = 500_000
"""A streamed video is read up to this many frames (4.6 hours at 30 frames a second, 1.1 GB of
cache at 48 × 48), with a note; in memory the limit is :data:`~frmdn.data.frames.MAX_FRAMES`."""

Transform = Callable[[np.ndarray, np.ndarray], Tensor]
"""Raw elements read (B, T, d) and each sequence's first element in its file (B,) -> float32
sequences (B, T, d)."""


def cache_dir() -> Path:
    """Where decoded data is cached (created on first use): ``$FRMDN_CACHE``, else
    ``$FRMDN_CACHE_DIR``, else ``~/.cache/frmdn``."""
    configured = os.environ.get(CACHE_ENV) or os.environ.get(CACHE_ENV_ALIAS)
    directory = Path(configured or Path.home() / ".cache" / "frmdn")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def cache_key(*parts: object) -> str:
    """A cache entry's name: 32 hex digits of the SHA-256 of ``parts`` (a format tag first)."""
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:32]


def _temporary(target: Path) -> Path:
    return target.with_name(f"{target.name}.{os.getpid()}.tmp")


def _replace_when_written(target: Path, write: Callable[[BinaryIO], None]) -> None:
    """Run ``write`` on a temporary file and rename it to ``target`` once it has finished; a
    write that fails (or is killed) leaves no ``target`` behind."""
    temporary = _temporary(target)
    try:
        with open(temporary, "wb") as out:
            write(out)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


def build_cache(
    key: str, write: Callable[[BinaryIO], dict], directory: Path | None = None
) -> tuple[Path, dict]:
    """The cache entry ``key``: its data file and its metadata, built on first use.

    ``write(file)`` writes the data and returns the metadata (JSON-friendly, e.g. the array's
    shape and the decoding notes); it is kept beside the data as ``KEY.json`` together with
    the data's size, and an entry whose data does not have that size is built again.
    """
    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    data, meta = directory / f"{key}.bin", directory / f"{key}.json"
    if data.is_file() and meta.is_file():
        try:
            info = json.loads(meta.read_text())
            if info.get("bytes") == data.stat().st_size:
                return data, info
        except (OSError, ValueError):
            pass  # damaged: build it again
    info: dict = {}

    def run(out: BinaryIO) -> None:
        info.update(write(out))
        out.flush()
        info["bytes"] = out.tell()

    _replace_when_written(data, run)
    _replace_when_written(meta, lambda out: out.write(json.dumps(info).encode()))
    return data, info


# --------------------------------------------------------------------------------- audio
def cached_waveform(
    path: Path, *, rate: int, emphasis: float, seed: int, directory: Path | None = None
) -> tuple[Path, int, int]:
    """The cache file of ``path`` decoded at ``rate``, dequantised (noise seeded by ``seed``)
    and pre-emphasised, written on first use; returns it, its sample count and sample rate."""
    from frmdn.data.audio_convert import LSB, pre_emphasis
    from frmdn.data.audio_read import read_audio
    from frmdn.storage import file_sha256

    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    key = cache_key(FORMAT, file_sha256(path), rate, emphasis, seed)
    target = directory / f"{key}.f32"
    if not target.is_file():
        waveform = read_audio(path, sample_rate=rate).waveform  # (n,) float32, this file only
        generator = np.random.default_rng([seed, int(key[:8], 16)])

        def write(out: BinaryIO) -> None:
            previous = 0.0  # the filter's state: the sample before each block (0 first)
            for start in range(0, len(waveform), BLOCK):
                block = waveform[start : start + BLOCK].astype(np.float64)
                block += generator.uniform(0, LSB, block.shape)
                filtered = pre_emphasis(np.concatenate([[previous], block]), emphasis)[1:]
                filtered.astype(np.float32).tofile(out)
                previous = block[-1]

        _replace_when_written(target, write)
    return target, target.stat().st_size // 4, rate


# --------------------------------------------------------------------------------- video
@dataclass(frozen=True)
class CachedFrames:
    """A video decoded into a cache file of uint8 frames (``count``, ``size``, ``size``)."""

    path: Path
    count: int
    size: int
    notes: list[str] = field(default_factory=list)

    def read(self, start: int, stop: int) -> np.ndarray:
        """Frames ``start`` to ``stop`` (clipped to the video), uint8 (n, size, size), read
        from the file with one positional read."""
        start, stop = max(0, start), min(stop, self.count)
        frame = self.size * self.size
        if stop <= start:
            return np.zeros((0, self.size, self.size), dtype=np.uint8)
        data = np.fromfile(self.path, dtype=np.uint8, count=(stop - start) * frame,
                           offset=start * frame)  # fmt: skip
        return data.reshape(stop - start, self.size, self.size)

    def memmap(self) -> np.memmap:
        """All frames as a read-only memory map (T, size, size), without reading them."""
        return np.memmap(self.path, np.uint8, "r", shape=(self.count, self.size, self.size))


def declared_frames(path: Path) -> int | None:
    """The frame count a video's header declares (or its duration times its frame rate), 0
    when it declares neither, None when PyAV cannot open it as a video (the reader then says
    why)."""
    try:
        import av

        with av.open(str(path), mode="r") as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            if stream.frames:
                return int(stream.frames)
            rate = stream.average_rate or stream.guessed_rate
            if stream.duration and stream.time_base and rate:
                return round(float(stream.duration * stream.time_base * rate))
            if container.duration and rate:
                return round(container.duration / 1e6 * float(rate))
            return 0
    except Exception:  # not installed, or FFmpeg refuses the content: errors of many kinds
        return None


def cached_video(
    path: Path,
    *,
    size: int,
    max_frames: int = MAX_STREAM_FRAMES,
    directory: Path | None = None,
) -> CachedFrames:
    """The frames of the video at ``path`` as :func:`~frmdn.data.frames.read_video` decodes
    them (greyscale, centre-cropped, ``size`` × ``size``, at most ``max_frames``), written to
    the cache :data:`VIDEO_CHUNK` frames at a time on first use, so the whole video is never
    in memory; the entry is named by the file's SHA-256, ``size`` and ``max_frames``."""
    from frmdn.data.video import iter_video
    from frmdn.storage import file_sha256

    path = Path(path)
    key = cache_key(VIDEO_FORMAT, file_sha256(path), size, max_frames)

    def write(out: BinaryIO) -> dict:
        notes: list[str] = []
        count = 0
        chunks = iter_video(path, size=size, max_frames=max_frames, notes=notes,
                            chunk=VIDEO_CHUNK)  # fmt: skip
        for chunk in chunks:
            chunk.tofile(out)
            count += len(chunk)
        return {"shape": [count, size, size], "notes": notes}

    data, info = build_cache(key, write, directory)
    return CachedFrames(data, int(info["shape"][0]), size, list(info["notes"]))


# --------------------------------------------------------------------------------- sequences
class DiskSequences:
    """Sequences (N, T, d) kept in cache files and read when indexed: behaves like a float32
    tensor (N, ``length``, ``frame_size``) for ``len``, ``shape``, ``dim``, ``moments`` and
    indexing by an integer tensor, a list, a slice or an int (what
    :class:`~frmdn.training.trainer.Trainer`,
    :func:`~frmdn.training.trainer.evaluate_nll` and ``standardize_on`` use).

    Built from ``waves``, the sequences are the non-overlapping windows of ``length`` frames
    of ``frame_size`` samples of each cached waveform (audio); :meth:`at` places them at given
    offsets of one file instead (images: one image per sequence).

    Arguments:
        waves: Per file, its cache file and element count (:func:`cached_waveform`).
        frame_size: Elements per frame (d).
        length: Frames per sequence (T).
        dtype: The elements' type in the files (float32 samples, uint8 pixels).
        transform: Turns what was read, (B, T, d) of ``dtype``, and each sequence's first
            element in its file (B,) into float32 sequences; by default the elements are
            the values. The offsets let a transform key its randomness to the data (an
            image's dequantisation noise to the image), so a sequence reads the same each time.
    """

    def __init__(
        self,
        waves: Sequence[tuple[Path, int]],
        frame_size: int,
        length: int,
        *,
        dtype: DTypeLike = np.float32,
        transform: Transform | None = None,
    ) -> None:
        window = frame_size * length
        counts = [n // window for _, n in waves]
        starts = [np.arange(c, dtype=np.int64) * window for c in counts]
        self._setup(
            [path for path, _ in waves],
            np.repeat(np.arange(len(waves)), counts),
            np.concatenate(starts or [np.zeros(0, np.int64)]),
            frame_size,
            length,
            dtype,
            transform,
        )

    @classmethod
    def at(
        cls,
        file: Path,
        starts: Sequence[int] | np.ndarray,
        frame_size: int,
        length: int,
        *,
        dtype: DTypeLike = np.float32,
        transform: Transform | None = None,
    ) -> DiskSequences:
        """The sequences of ``length`` × ``frame_size`` elements starting at ``starts``
        (element offsets, in this order) of one cache ``file``."""
        starts = np.asarray(starts, dtype=np.int64).reshape(-1)
        sequences = cls.__new__(cls)
        sequences._setup(
            [file], np.zeros(len(starts), np.int64), starts, frame_size, length, dtype, transform
        )
        return sequences

    def _setup(
        self,
        files: list[Path],
        which: np.ndarray,
        starts: np.ndarray,
        frame_size: int,
        length: int,
        dtype: DTypeLike,
        transform: Transform | None,
    ) -> None:
        self.frame_size, self.length = frame_size, length
        self.dtype, self.transform = np.dtype(dtype), transform
        self._files = list(files)
        self._file = which  # (N,) which file
        self._start = starts  # (N,) first element

    def __len__(self) -> int:
        return len(self._file)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), self.length, self.frame_size))

    def dim(self) -> int:
        return 3

    def __getitem__(self, index: Tensor | Sequence[int] | slice | int) -> Tensor:
        """The sequences at ``index``, read from disk: (len(index), T, d), or (T, d) for an int."""
        if isinstance(index, int):
            return self[[index]][0]
        rows = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        rows = rows.reshape(-1).astype(np.int64)
        window = self.frame_size * self.length
        raw = np.empty((len(rows), window), dtype=self.dtype)
        opened: dict[int, BinaryIO] = {}
        try:
            for row, i in enumerate(rows.tolist()):
                which = int(self._file[i])
                if which not in opened:
                    opened[which] = open(self._files[which], "rb")  # noqa: SIM115
                file = opened[which]
                file.seek(self.dtype.itemsize * int(self._start[i]))
                if file.readinto(raw[row]) != raw[row].nbytes:  # type: ignore[arg-type]
                    raise OSError(f"the cache file {self._files[which]} is truncated")
        finally:
            for file in opened.values():
                file.close()
        raw = raw.reshape(len(rows), self.length, self.frame_size)
        if self.transform is not None:
            return self.transform(raw, self._start[rows])
        return torch.from_numpy(raw.astype(np.float32, copy=False))

    def moments(self, numbers: int = MOMENT_NUMBERS) -> tuple[Tensor, Tensor]:
        """Per-dimension mean and standard deviation (d,) of every frame, read a chunk of at
        most ``numbers`` values at a time, so the pass's memory does not grow with the
        sequences' size (a chunk of 256 images of 128 x 128 took ~100 MiB)."""
        chunk = max(1, numbers // (self.length * self.frame_size))  # sequences per chunk
        total = np.zeros(self.frame_size)
        squares = np.zeros(self.frame_size)
        for start in range(0, len(self), chunk):
            frames = self[start : start + chunk].reshape(-1, self.frame_size).double().numpy()
            total += frames.sum(0)
            squares += np.square(frames).sum(0)
        count = max(len(self) * self.length, 2)
        mean = total / count
        variance = np.maximum(squares / count - np.square(mean), 0) * count / (count - 1)
        return torch.from_numpy(mean).float(), torch.from_numpy(np.sqrt(variance)).float()

"""Audio larger than memory: each file decoded once into an on-disk cache, windows read on demand.

``audio:FOLDER`` with hours of audio would otherwise decode every file into RAM (and the split
copies it twice more). Here each file is decoded, dequantised and pre-emphasised on its own and
written as raw float32 samples to a cache file named by the SHA-256 of the file's bytes and the
options (so a changed file or other options decode again, and a second run decodes nothing).
A :class:`DiskSequences` then stands in for the (N, T, d) tensor of a split: indexing it reads
just the requested windows from the cache files with positional reads, never mapping the
files, so the training process holds a batch, not the data set.

The cache lives in ``$FRMDN_CACHE``, else ``~/.cache/frmdn``.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

__all__ = ["DiskSequences", "cache_dir", "cached_waveform"]

CACHE_ENV = "FRMDN_CACHE"
FORMAT = "frmdn-audio-cache-1"  # part of every key: a new layout never reads an old file
BLOCK = 2**18  # samples filtered and written at a time: a long file never doubles in memory


def cache_dir() -> Path:
    """Where decoded audio is cached (created on first use)."""
    directory = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "frmdn")
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def cached_waveform(
    path: Path, *, rate: int, emphasis: float, seed: int, directory: Path | None = None
) -> tuple[Path, int, int]:
    """The cache file of ``path`` decoded at ``rate``, dequantised (noise seeded by ``seed``)
    and pre-emphasised, written on first use; returns it, its sample count and sample rate."""
    from frmdn.checkpoint_files import file_sha256
    from frmdn.data.audio import LSB, pre_emphasis, read_audio

    directory = directory or cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    key = hashlib.sha256(
        f"{FORMAT}|{file_sha256(path)}|{rate}|{emphasis}|{seed}".encode()
    ).hexdigest()[:32]
    target = directory / f"{key}.f32"
    if not target.is_file():
        waveform = read_audio(path, sample_rate=rate).waveform  # (n,) float32, this file only
        generator = np.random.default_rng([seed, int(key[:8], 16)])
        temporary = target.with_suffix(f".{os.getpid()}.tmp")
        previous = 0.0  # the filter's state: the sample before each block (0 before the first)
        with open(temporary, "wb") as out:
            for start in range(0, len(waveform), BLOCK):
                block = waveform[start : start + BLOCK].astype(np.float64)
                block += generator.uniform(0, LSB, block.shape)
                filtered = pre_emphasis(np.concatenate([[previous], block]), emphasis)[1:]
                filtered.astype(np.float32).tofile(out)
                previous = block[-1]
        os.replace(temporary, target)  # a killed decode never leaves half a cache file
    return target, target.stat().st_size // 4, rate


class DiskSequences:
    """Non-overlapping windows of ``length`` frames of ``frame_size`` samples, cut from cached
    waveforms and read when indexed: behaves like a float32 tensor (N, length, frame_size)
    for ``len``, ``shape``, ``dim`` and indexing by an integer tensor, a list or a slice.

    Arguments:
        waves: Per file, its cache file and sample count (:func:`cached_waveform`).
        frame_size: Samples per frame (d).
        length: Frames per sequence (T).
    """

    def __init__(self, waves: Sequence[tuple[Path, int]], frame_size: int, length: int) -> None:
        self.frame_size, self.length = frame_size, length
        window = frame_size * length
        self._files = [path for path, _ in waves]
        counts = [n // window for _, n in waves]
        self._file = np.repeat(np.arange(len(waves)), counts)  # (N,) which file
        self._start = np.concatenate(  # (N,) first sample
            [np.arange(c, dtype=np.int64) * window for c in counts] or [np.zeros(0, np.int64)]
        )

    def __len__(self) -> int:
        return len(self._file)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self), self.length, self.frame_size))

    def dim(self) -> int:
        return 3

    def __getitem__(self, index: Tensor | Sequence[int] | slice | int) -> Tensor:
        """The windows at ``index``, read from disk: (len(index), T, d), or (T, d) for an int."""
        if isinstance(index, int):
            return self[[index]][0]
        rows = np.arange(len(self))[index] if isinstance(index, slice) else np.asarray(index)
        window = self.frame_size * self.length
        out = np.empty((len(rows), window), dtype=np.float32)
        for row, i in enumerate(rows.tolist()):
            out[row] = np.fromfile(
                self._files[self._file[i]], dtype=np.float32, count=window,
                offset=4 * int(self._start[i]),
            )  # fmt: skip
        return torch.from_numpy(out.reshape(len(rows), self.length, self.frame_size))

    def moments(self, chunk: int = 256) -> tuple[Tensor, Tensor]:
        """Per-dimension mean and standard deviation (d,) of every frame, read in chunks."""
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

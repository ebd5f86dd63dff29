r"""Single greyscale images as sequences: one row of pixels per time step.

An :math:`H \times W` image becomes a sequence of :math:`T = H` rows of dimension
:math:`d = W`, so a sequence model predicts each row from the rows above it
(:math:`p(\text{row}_{t} \mid \text{rows}_{<t})`), much like PixelRNN's row LSTM but with a whole
row per step. The bundled data set is 5,000 real MNIST digits (28 × 28, ``images:digits``).

Pixels are 8-bit integers :math:`k \in \{0, \dots, 255\}`. They are dequantised,
:math:`v = (k + u) / 256` with :math:`u \sim \mathcal{U}(0, 1)`, and moved to logit space as in
RealNVP,

.. math:: y = \operatorname{logit}(\lambda + (1 - 2\lambda)\, v), \qquad \lambda = 0.05,

so :math:`y \in [-2.94, 2.94)` is unbounded-support friendly and the flat black background
does not sit on a hard edge. A density :math:`p_Y` fitted in :math:`y`-space gives the
density of :math:`v` by the change of variables
:math:`\log p_V(v) = \log p_Y(y) + \sum_i \log \lvert \partial y_i / \partial v_i \rvert` with

.. math:: \log \frac{\partial y}{\partial v} = \log(1 - 2\lambda) - \log s - \log(1 - s)
          = \log(1 - 2\lambda) + \operatorname{softplus}(y) + \operatorname{softplus}(-y),

where :math:`s = \lambda + (1 - 2\lambda) v = \sigma(y)`. Uniform dequantisation then bounds the
discrete code length of the 8-bit image: :math:`-\log P(k) \leq -\mathbb{E}_u \log p_V(v) +
D \log 256` nats for :math:`D` pixels. :func:`bits_per_dim` does this conversion from the
model's per-row log-densities, so models stay unaware of the transform.

:func:`read_images` reads user data by its content (``.npz``/``.npy`` arrays, a PNG/JPEG image
or a folder of them; a path or an upload's bytes),
:func:`image_split` and :func:`load_image_data` (the ``images:digits`` / ``images:PATH`` data
spec) build the :class:`~frmdn.data.splits.SequenceSplit`, and :func:`to_pixels` turns model
output back into uint8 images.

Reading lives in :mod:`frmdn.data.image_read` and the logit transform with bits/dim in
:mod:`frmdn.data.image_logit`; their public names are importable from here too.

A large folder is streamed rather than held (:mod:`frmdn.data.stream`): when its images hold
more than :data:`STREAM_PIXELS` pixels or it holds more than :data:`MAX_IMAGES` images (which
in memory would be trimmed), or with ``images:FOLDER?stream=1``, each image is decoded once
into a uint8 cache file (N, H, W) and the split's parts are
:class:`~frmdn.data.stream.DiskSequences` that dequantise and logit-transform just the drawn
batch; see :func:`load_image_data`.

References:
    Dinh, Sohl-Dickstein and Bengio, "Density estimation using Real NVP", arXiv:1605.08803
    (the logit transform, section 4.1). Theis, van den Oord and Bethge, "A note on the
    evaluation of generative models", arXiv:1511.01844 (uniform dequantisation bound).
    LeCun, Cortes and Burges, "The MNIST database of handwritten digits" (CC-BY-SA-3.0).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import Tensor

from frmdn import resources
from frmdn.data.content import megabytes
from frmdn.data.image_logit import (
    LEVELS,
    LOGIT_LAMBDA,
    _logit,
    bits_per_dim,
    log_jacobian,
    to_pixels,
)
from frmdn.data.image_read import (
    DIGITS_FILE,
    IMAGE_SUFFIXES,
    MAX_ARRAY_BYTES,
    MAX_BYTES,
    MAX_IMAGES,
    MAX_PIXELS,
    MAX_SIDE,
    ImageDataError,
    _first_size,
    _folder_images,
    _image_files,
    load_digits_array,
    read_images,
)
from frmdn.data.splits import SequenceSplit, dequantize

__all__ = [
    "DIGITS_FILE",
    "IMAGE_SUFFIXES",
    "LEVELS",
    "LOGIT_LAMBDA",
    "MAX_ARRAY_BYTES",
    "MAX_BYTES",
    "MAX_IMAGES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "STREAM_PIXELS",
    "ImageDataError",
    "bits_per_dim",
    "image_split",
    "load_digits_array",
    "load_image_data",
    "log_jacobian",
    "read_images",
    "to_pixels",
]

STREAM_PIXELS = 2**25
"""A folder whose images hold more pixels than this (32 MiB of 8-bit pixels, 128 MiB as the
float32 tensors of an in-memory split; e.g. 2,048 images of 128 × 128), or that holds more
than :data:`MAX_IMAGES` images, is streamed from a decoded-image cache instead of being read
into memory (see :func:`load_image_data`); a streamed folder is not trimmed."""

_CACHE_FORMAT = "frmdn-image-cache-1"  # in every cache key: a new layout never reads an old file


# --------------------------------------------------------------------------------- splits
def image_split(
    images: np.ndarray,
    *,
    n_valid: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    name: str = "images",
    source: str = "array",
) -> SequenceSplit:
    r"""Train/valid/test sequences of image rows, float32 tensors (N, H, W) in logit space.

    Image :math:`i` becomes one sequence of :math:`T = H` rows of :math:`d = W` pixels, each
    dequantised (:func:`~frmdn.data.splits.dequantize` with 256 levels, torch generator seeded
    with ``seed``) and logit-transformed with :data:`LOGIT_LAMBDA` (see the module docstring).
    The split is by image: a permutation of the indices drawn with ``seed`` sends the first
    ``n_test`` to test, the next ``n_valid`` to valid and the rest to train (default: 10 % each,
    at least 1; for the bundled digits 4000 / 500 / 500).

    Arguments:
        images: uint8 images, shape (N, H, W), N >= 3.
        n_valid: Validation images (default ``max(1, round(N / 10))``).
        n_test: Test images (default ``max(1, round(N / 10))``).
        seed: Seed of the permutation and of the dequantisation noise.
        name: The split's name.
        source: Where the images came from, recorded in ``info["source"]``.

    Returns:
        A split with ``info = {"kind": "images", "height", "width", "logit_lambda", "levels",
        "source", "seed", "n_images"}``.

    Example:
        >>> images = np.zeros((10, 4, 3), dtype=np.uint8)
        >>> image_split(images, seed=1).train.shape
        torch.Size([8, 4, 3])
    """
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3:
        raise ImageDataError(
            f"images must be a uint8 array (N, H, W), got {images.dtype} {images.shape}"
        )
    count, height, width = images.shape
    parts = _split_indices(count, n_valid, n_test, seed)
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for part in ("train", "valid", "test"):
        v = dequantize(torch.from_numpy(images[parts[part]]), LEVELS, generator)  # (N, H, W)
        tensors[part] = _logit(v)
    info = _split_info(height, width, source, seed, count)
    return SequenceSplit(tensors["train"], tensors["valid"], tensors["test"], name, info)


def _split_indices(
    count: int, n_valid: int | None, n_test: int | None, seed: int
) -> dict[str, np.ndarray]:
    """The images of each part, in memory or streamed: a permutation drawn with ``seed`` sends
    the first ``n_test`` to test, the next ``n_valid`` to valid and the rest (sorted) to train."""
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    default = max(1, round(count / 10))
    n_valid = default if n_valid is None else int(n_valid)
    n_test = default if n_test is None else int(n_test)
    if n_valid < 1 or n_test < 1:
        raise ValueError(f"n_valid and n_test must be at least 1, got {n_valid} and {n_test}")
    if count - n_valid - n_test < 1:
        raise ImageDataError(
            f"{count} images cannot give {n_valid} valid, {n_test} test and at least one "
            "training image"
        )
    order = np.random.default_rng(seed).permutation(count)
    return {
        "test": order[:n_test],
        "valid": order[n_test : n_test + n_valid],
        "train": np.sort(order[n_test + n_valid :]),
    }


def _split_info(height: int, width: int, source: str, seed: int, count: int) -> dict:
    return {
        "kind": "images",
        "height": height,
        "width": width,
        "logit_lambda": LOGIT_LAMBDA,
        "levels": LEVELS,
        "source": source,
        "seed": seed,
        "n_images": count,
    }


# --------------------------------------------------------------------------------- streaming
def _noise_seed(seed: int, image: int) -> int:
    """The seed of one streamed image's dequantisation noise: (split seed, index in folder)."""
    return int(np.random.SeedSequence([seed, image]).generate_state(1, np.uint64)[0])


@dataclass(frozen=True)
class _LogitPixels:
    """What a streamed split's parts do to the pixels they read: (B, H, W) uint8 -> float32
    logit-space rows, dequantised like :func:`image_split` with noise drawn per image from
    :func:`_noise_seed`, so an image reads the same every time it is drawn."""

    seed: int
    pixels: int  # per image: an image's offset in the cache file / pixels = its index

    def __call__(self, raw: np.ndarray, starts: np.ndarray) -> Tensor:
        values = torch.from_numpy(raw)
        v = torch.empty(raw.shape, dtype=torch.float32)
        for row, start in enumerate(starts.tolist()):
            generator = torch.Generator().manual_seed(_noise_seed(self.seed, start // self.pixels))
            v[row] = dequantize(values[row], LEVELS, generator)
        return _logit(v)


def _cached_folder(files: list[Path], size: tuple[int, int]) -> tuple[Path, int, list[str]]:
    """The folder's images decoded once into a uint8 cache file (N, H, W) named by every
    file's name and SHA-256 and the image size: the file, N and the decoding notes."""
    from frmdn.data.stream import build_cache, cache_dir, cache_key
    from frmdn.storage import file_sha256

    width, height = size
    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.name}|{file_sha256(file)}\n".encode())
    directory = cache_dir()

    def write(out: BinaryIO) -> dict:
        needed, free = len(files) * width * height, shutil.disk_usage(directory).free
        if needed > free:
            raise ImageDataError(
                f"decoding {len(files)} images of {width}×{height} needs {megabytes(needed)} "
                f"in the cache folder {directory}, which has {megabytes(free)} free; set "
                "$FRMDN_CACHE to a folder with more room"
            )
        notes: list[str] = []
        for image in _folder_images(files, notes):
            out.write(image.tobytes())
        return {"shape": [len(files), height, width], "notes": notes}

    key = cache_key(_CACHE_FORMAT, digest.hexdigest(), width, height)
    path, info = build_cache(key, write, directory)
    return path, int(info["shape"][0]), list(info["notes"])


def _streamed_split(
    files: list[Path],
    size: tuple[int, int],
    *,
    n_valid: int | None,
    n_test: int | None,
    seed: int,
    name: str,
    source: str,
) -> SequenceSplit:
    """A split of a folder's images whose parts read their images from the decoded-image
    cache a batch at a time (see :func:`load_image_data`)."""
    from frmdn.data.stream import DiskSequences

    cache, count, notes = _cached_folder(files, size)
    width, height = size
    pixels = width * height
    transform = _LogitPixels(seed, pixels)
    parts = {
        part: DiskSequences.at(
            cache, index * pixels, width, height, dtype=np.uint8, transform=transform
        )
        for part, index in _split_indices(count, n_valid, n_test, seed).items()
    }
    info = _split_info(height, width, source, seed, count) | {"streamed": True}
    info["notes"] = [*notes, f"images read a batch at a time from the decoded-image cache {cache}"]
    return SequenceSplit(parts["train"], parts["valid"], parts["test"], name, info)


def load_image_data(
    argument: str,
    *,
    seed: int = 0,
    n_valid: int | None = None,
    n_test: int | None = None,
    stream: int = -1,
    data_dir: str | os.PathLike | None = None,
) -> SequenceSplit:
    """The data spec ``images:digits`` (bundled MNIST) or ``images:PATH``; see :func:`read_images`.

    A folder too large to hold is streamed: when its images hold more than
    :data:`STREAM_PIXELS` pixels (every image takes the first one's size, so that is the file
    count times that size, known before anything is decoded), when it holds more than
    :data:`MAX_IMAGES` images, or with ``stream=1`` (``images:FOLDER?stream=1``). Each image
    is then decoded once into a uint8 cache file (N, H, W) in
    :func:`~frmdn.data.stream.cache_dir`, named by the SHA-256 of every file's name and bytes
    and the image size (a changed, added or removed file decodes again; a second load decodes
    nothing), and the parts are :class:`~frmdn.data.stream.DiskSequences`, which index like
    the tensors and dequantise and logit-transform only the images read. A streamed folder
    is never trimmed; decoding refuses to start if the cache folder lacks the room.

    A streamed split holds the same images in each part as the in-memory split of the same
    folder and seed (when that was not trimmed), with the same pixels, but not the same
    dequantisation noise: in memory the noise is one draw over each part in turn, which cannot
    be reproduced for an image read on its own, so a streamed image's noise comes from a
    generator seeded by (``seed``, the image's index in the folder). It is as uniform and as
    fixed: an image reads the same every time it is drawn, so validation and test NLLs are
    deterministic, and the two paths' NLLs of one model differ only by another draw of noise
    within one grey level, a difference that shrinks with the number of pixels scored.

    Arguments:
        argument: ``"digits"``, or an .npz/.npy file or a folder of PNG/JPEG files.
        seed: Seed of the split and the dequantisation noise.
        n_valid: Validation images (default 10 %).
        n_test: Test images (default 10 %).
        stream: For a folder, 1 streams it from the decoded-image cache, 0 never does (large
            folders are then trimmed, see :func:`read_images`), and the default (-1) does
            for the large folders above. Arrays (.npz/.npy) and the digits are always read
            into memory.
        data_dir: The bundled-data folder, for the digits and a relative PATH (default: see
            :func:`frmdn.resources.data_dir`).

    Returns:
        A split with tensors (N, H, W), or for a streamed folder ``DiskSequences`` and
        ``info["streamed"]``; read notes, if any, are in ``info["notes"]``.
    """
    if stream not in (-1, 0, 1):
        raise ValueError(f"stream must be 1 (always), 0 (never) or -1 (by size), got {stream}")
    notes: list[str] = []
    if argument == "digits":
        images, _ = load_digits_array(data_dir)
        name, source = "digits", "digits: 5,000 MNIST digits bundled in assets/digits"
    else:
        name, source = Path(argument).stem or str(argument), str(argument)
        folder = resources.resolve(argument, data_dir)
        if stream != 0 and folder.is_dir():
            files = _image_files(folder)
            size = _first_size(files[0])
            many = len(files) > MAX_IMAGES or len(files) * size[0] * size[1] > STREAM_PIXELS
            if stream == 1 or many:
                options = {"n_valid": n_valid, "n_test": n_test, "seed": seed}
                return _streamed_split(files, size, name=name, source=source, **options)
        images = read_images(argument, notes=notes, data_dir=data_dir)
    split = image_split(
        images, n_valid=n_valid, n_test=n_test, seed=seed, name=name, source=source
    )
    if notes:
        split.info["notes"] = notes
    return split

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
import io
import math
import os
import shutil
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
from torch import Tensor

from frmdn import resources
from frmdn.data.content import MAX_UPLOAD_BYTES, check_size, looks_like, megabytes, one_line, sniff
from frmdn.data.errors import DataError
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

DIGITS_FILE = Path("digits") / "mnist_5k.npz"
"""The bundled 5,000 MNIST digits, in the bundled-data folder (:func:`frmdn.resources.data_dir`;
rebuilt by ``assets/make_digits.py`` of the source repository)."""

LOGIT_LAMBDA = 0.05
r"""The :math:`\lambda` of the logit transform (RealNVP's choice for MNIST-like data)."""

LEVELS = 256
"""Grey levels of 8-bit images."""

MAX_IMAGES = 20_000
"""More images than this are trimmed to the first ``MAX_IMAGES`` (with a note)."""

MAX_SIDE = 128
"""Images taller or wider than this are refused (one row is one time step of dimension W)."""

MAX_PIXELS = 50_000_000
"""At most this many pixels in all (200 MB as float32); more images are trimmed (with a note)."""

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
"""The files :func:`read_images` picks up in a folder."""

MAX_BYTES = MAX_UPLOAD_BYTES
"""In-memory input (bytes, an upload) above this many bytes is refused before decoding."""

MAX_ARRAY_BYTES = 2**28
"""An .npy/.npz array whose header declares more bytes (256 MB) is refused before it is read."""

STREAM_PIXELS = 2**25
"""A folder whose images hold more pixels than this (32 MiB of 8-bit pixels, 128 MiB as the
float32 tensors of an in-memory split; e.g. 2,048 images of 128 × 128), or that holds more
than :data:`MAX_IMAGES` images, is streamed from a decoded-image cache instead of being read
into memory (see :func:`load_image_data`); a streamed folder is not trimmed."""

_CACHE_FORMAT = "frmdn-image-cache-1"  # in every cache key: a new layout never reads an old file

_MIN_SIDE = 2


class ImageDataError(DataError):
    """Image data that cannot be used (missing, empty, wrong shape or type, too large, ...)."""


# --------------------------------------------------------------------------------- reading
def load_digits_array(data_dir: str | os.PathLike | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The bundled MNIST digits: images uint8 (5000, 28, 28) and labels uint8 (5000,).

    White digits on black (0 = background, 255 = ink), 500 of each label, sorted by label.
    ``data_dir`` is the bundled-data folder (default: see :func:`frmdn.resources.data_dir`).

    Example:
        >>> images, labels = load_digits_array()
        >>> images.shape, images.dtype, labels[:3]
        ((5000, 28, 28), dtype('uint8'), array([0, 0, 0], dtype=uint8))
    """
    try:
        path = resources.data_dir(data_dir) / DIGITS_FILE
    except FileNotFoundError as error:
        raise ImageDataError(f"the bundled digits are missing: {error}") from None
    if not path.exists():
        raise ImageDataError(
            f"the bundled digits are missing ({path}); rebuild them with assets/make_digits.py"
        )
    with np.load(path, allow_pickle=False) as archive:
        images, labels = archive["images"], archive["labels"]
    if images.dtype != np.uint8 or images.ndim != 3 or labels.shape != images.shape[:1]:
        raise ImageDataError(f"{path} is damaged: images {images.shape} {images.dtype}")
    return images, labels


def _read_npy(file: BinaryIO, name: str) -> np.ndarray:
    """The array of one .npy stream, its header checked before any data is read or allocated."""
    version = np.lib.format.read_magic(file)
    readers = {
        (1, 0): np.lib.format.read_array_header_1_0,
        (2, 0): np.lib.format.read_array_header_2_0,
    }
    if version not in readers:
        raise ImageDataError(f"{name} is a .npy file of format {version}, which is not read")
    shape, fortran, dtype = readers[version](file)
    if dtype.hasobject:
        raise ImageDataError(
            f"{name} holds Python objects (a pickled array); only plain numeric arrays are "
            "read, never unpickled"
        )
    size = math.prod(shape) * dtype.itemsize
    if size > MAX_ARRAY_BYTES:
        raise ImageDataError(
            f"{name} holds a {dtype} array of shape {shape}, {megabytes(size)} when read; "
            f"the limit is {megabytes(MAX_ARRAY_BYTES)}"
        )
    data = file.read(size)
    if len(data) < size:
        raise ImageDataError(
            f"{name} is not a readable numpy file (truncated: {len(data)} of the {size} bytes "
            "its header declares)"
        )
    array = np.frombuffer(data, dtype=dtype, count=math.prod(shape))
    return array.reshape(shape, order="F" if fortran else "C").copy()


def _load_array(file: BinaryIO, kind: str, name: str) -> np.ndarray:
    """The array in a .npy file or an .npz archive (``kind`` "npy" or "zip"), never unpickled.

    A header declaring more than :data:`MAX_ARRAY_BYTES` is refused before anything is
    allocated, so a small archive of zeros that would expand to gigabytes costs nothing.
    """
    try:
        if kind == "npy":
            return _read_npy(file, name)
        with zipfile.ZipFile(file) as archive:
            members = [m for m in archive.namelist() if m.endswith(".npy")]
            keys = [m.removesuffix(".npy") for m in members]
            if not members:
                raise ImageDataError(f"{name} is a ZIP archive without .npy arrays, not an .npz")
            if "images" not in keys and len(keys) > 1:
                raise ImageDataError(
                    f"{name} holds several arrays ({', '.join(keys[:5])}); name the "
                    "images array 'images'"
                )
            with archive.open("images.npy" if "images" in keys else members[0]) as member:
                return _read_npy(member, name)
    except ImageDataError:
        raise
    except Exception as error:  # zipfile, zlib and numpy's header errors are of many kinds
        raise ImageDataError(f"{name} is not a readable numpy file ({one_line(error)})") from None


def _read_picture(file: BinaryIO, name: str) -> np.ndarray:
    """One PNG or JPEG image as greyscale uint8 (1, H, W), its size checked before decoding."""
    from PIL import Image

    try:
        with Image.open(file, formats=["PNG", "JPEG"]) as opened:
            _check_side(*opened.size, name)
            grey = opened.convert("L")
    except ImageDataError:
        raise
    except Exception as error:  # Pillow raises many kinds for a damaged file
        raise ImageDataError(f"{name} is not a readable image ({one_line(error)})") from None
    return np.asarray(grey, dtype=np.uint8)[None]


def _check_side(width: int, height: int, name: str) -> None:
    """Refuse images larger than :data:`MAX_SIDE` or smaller than 2 pixels on a side."""
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ImageDataError(
            f"{name} is {width}×{height} pixels; images may be at most {MAX_SIDE}×{MAX_SIDE} "
            "(one row is one time step): shrink them first"
        )
    if width < _MIN_SIDE or height < _MIN_SIDE:
        raise ImageDataError(f"{name} is only {width}×{height} pixels")


def _read_file(file: BinaryIO, name: str, notes: list[str]) -> np.ndarray:
    """Images (N, H, W) uint8 from one file, told apart by its content, not its name."""
    head = file.read(512)
    file.seek(0)
    if not head:
        raise ImageDataError(f"{name} is empty (0 bytes)")
    kind = sniff(head)
    if kind in ("npy", "zip"):
        return _to_greyscale_uint8(_load_array(file, kind, name), name, notes)
    if kind in ("png", "jpeg"):
        return _read_picture(file, name)
    raise ImageDataError(
        f"{name} is not supported: it is not a numpy .npy/.npz array (N, H, W) or a PNG/JPEG "
        f"image ({looks_like(kind)})"
    )


def _to_greyscale_uint8(array: np.ndarray, name: str, notes: list[str]) -> np.ndarray:
    """An (N, H, W) uint8 array from an array of images, or an ImageDataError."""
    if array.dtype.kind not in "uif":
        raise ImageDataError(
            f"{name} has dtype {array.dtype}; expected uint8 grey levels 0-255 (or floats in "
            "[0, 1])"
        )
    channels = array.shape[-1] if array.ndim == 4 and array.shape[-1] in (1, 3, 4) else 0
    if array.ndim == 2:
        raise ImageDataError(
            f"{name} holds one image of shape {array.shape}; expected a stack of images "
            "with shape (N, H, W)"
        )
    if array.ndim != 3 and not channels:
        raise ImageDataError(f"{name} has shape {array.shape}; expected images (N, H, W)")
    if array.size == 0:
        raise ImageDataError(f"{name} holds no images (shape {array.shape})")
    if array.dtype.kind == "f":
        if not np.isfinite(array).all():
            raise ImageDataError(f"{name} contains NaN or infinite pixels")
        low, high = float(array.min()), float(array.max())
        if low >= 0.0 and high <= 1.0:
            notes.append("scaled float pixels in [0, 1] to 8-bit grey levels 0-255")
            array = np.rint(array * 255.0).astype(np.uint8)
        elif low >= 0.0 and high <= 255.0 and (array == np.rint(array)).all():
            notes.append("converted integer-valued float pixels to uint8")
            array = array.astype(np.uint8)
        else:
            raise ImageDataError(
                f"{name} has float pixels in [{low:g}, {high:g}]; expected [0, 1] or uint8 0-255"
            )
    elif array.dtype != np.uint8:
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise ImageDataError(
                f"{name} has {array.dtype} pixels in [{low}, {high}]; expected 8-bit grey "
                "levels 0-255"
            )
        notes.append(f"converted {array.dtype} pixels to uint8")
        array = array.astype(np.uint8)
    if channels == 1:
        array = array[..., 0]
    elif channels:  # ITU-R 601 luma, as Pillow's convert("L")
        luma = array[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        array = np.clip(np.rint(luma), 0, 255).astype(np.uint8)
        notes.append(f"converted {channels}-channel colour images to greyscale")
    return array


def _crop_resize(image: object, width: int, height: int) -> object:
    """A PIL image centre-cropped to the aspect ratio width:height, then resized."""
    from PIL import Image

    w, h = image.size  # type: ignore[attr-defined]
    if (w, h) == (width, height):
        return image
    if w * height > h * width:  # too wide: crop the sides
        new_w = max(1, round(h * width / height))
        left = (w - new_w) // 2
        image = image.crop((left, 0, left + new_w, h))  # type: ignore[attr-defined]
    elif w * height < h * width:  # too tall: crop top and bottom
        new_h = max(1, round(w * height / width))
        top = (h - new_h) // 2
        image = image.crop((0, top, w, top + new_h))  # type: ignore[attr-defined]
    return image.resize((width, height), Image.Resampling.BOX)  # type: ignore[attr-defined]


def _image_files(folder: Path) -> list[Path]:
    """The PNG/JPEG files directly in a folder, sorted by name."""
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not files:
        raise ImageDataError(f"{folder} holds no {'/'.join(IMAGE_SUFFIXES)} files")
    return files


def _unreadable(file: Path, error: Exception) -> ImageDataError:
    kind = "empty" if file.stat().st_size == 0 else "not a readable image"
    return ImageDataError(f"{file.name} is {kind} ({one_line(error)})")


def _first_size(file: Path) -> tuple[int, int]:
    """(width, height) of the image that sizes a folder, from its header, checked."""
    from PIL import Image

    try:
        with Image.open(file, formats=["PNG", "JPEG"]) as opened:
            _check_side(*opened.size, file.name)
            return opened.size
    except ImageDataError:
        raise
    except Exception as error:  # Pillow raises many kinds for a damaged file
        raise _unreadable(file, error) from None


def _folder_images(files: list[Path], notes: list[str]) -> Iterator[np.ndarray]:
    """The images of a folder one at a time, greyscale uint8 (H, W), sized like the first:
    others are centre-cropped and resized, with a note once the last is out."""
    from PIL import Image

    size: tuple[int, int] | None = None
    resized = 0
    for file in files:
        try:
            with Image.open(file, formats=["PNG", "JPEG"]) as opened:
                if size is None:  # the first image sets the size: checked before decoding
                    _check_side(*opened.size, file.name)
                    size = opened.size
                grey = opened.convert("L")
        except ImageDataError:
            raise
        except Exception as error:  # Pillow raises many kinds for a damaged file
            raise _unreadable(file, error) from None
        if grey.size != size:
            grey = _crop_resize(grey, *size)
            resized += 1
        yield np.asarray(grey, dtype=np.uint8)
    if resized:
        notes.append(
            f"centre-cropped and resized {resized} of {len(files)} images to the first "
            f"image's {size[0]}×{size[1]}"
        )


def _read_folder(folder: Path, notes: list[str]) -> np.ndarray:
    """The PNG/JPEG files in a folder as greyscale uint8 (N, H, W), sized like the first."""
    files = _image_files(folder)
    if len(files) > MAX_IMAGES:
        notes.append(f"read only the first {MAX_IMAGES} of {len(files)} image files")
        files = files[:MAX_IMAGES]
    width, height = _first_size(files[0])
    images = np.empty((len(files), height, width), dtype=np.uint8)  # filled one at a time
    for i, image in enumerate(_folder_images(files, notes)):
        images[i] = image
    return images


def read_images(
    source: str | os.PathLike | bytes,
    *,
    notes: list[str] | None = None,
    name: str | None = None,
    data_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """Read a stack of greyscale 8-bit images, shape (N, H, W) uint8.

    A file is read by its content, whatever its name says:

    - a ``.npy`` array or an ``.npz`` archive holding an (N, H, W) array (an archive's array
      named ``images``, else its only array). Only plain numeric arrays are read, never
      unpickled, and a header declaring more than :data:`MAX_ARRAY_BYTES` is refused before
      anything is allocated. uint8 is used as is; other integers in 0-255, floats in [0, 1]
      (scaled by 255) and (N, H, W, 1/3/4) channel-last arrays (to greyscale) are converted
      with a note;
    - one PNG or JPEG image, converted to greyscale: a stack of one.

    A folder contributes its PNG/JPEG files (sorted by name, decoded with Pillow, converted to
    greyscale); images of another size than the first are centre-cropped to its aspect ratio
    and resized to it, with a note. More than :data:`MAX_IMAGES` images, or more than
    :data:`MAX_PIXELS` pixels in all, are trimmed to the first ones with a note.

    Arguments:
        source: An .npy/.npz/PNG/JPEG file, a folder, or a file's bytes (e.g. an upload; at
            most :data:`MAX_BYTES`).
        notes: If given, human-readable notes on what was changed are appended to it.
        name: The name for messages (default: the file name, or ``"the upload"``).
        data_dir: Where a relative path missing from the working directory is looked up
            (default: the bundled-data folder; see :func:`frmdn.resources.resolve`).

    Raises:
        ImageDataError: For a missing path, an unreadable, pickled, too large or unsupported
            file, no images, a wrong shape or dtype, or images larger than :data:`MAX_SIDE` ×
            :data:`MAX_SIDE`.
    """
    notes = [] if notes is None else notes
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "the upload"
        check_size(len(source), MAX_BYTES, name, ImageDataError)
        images = _read_file(io.BytesIO(source), name, notes)
    else:
        path = resources.resolve(source, data_dir)
        if not path.exists():
            raise ImageDataError(f"no such image file or folder: {source}")
        name = name or path.name or str(source)
        if path.is_dir():
            images = _read_folder(path, notes)
        else:
            with open(path, "rb") as file:
                images = _read_file(file, name, notes)
    count, height, width = images.shape
    if height > MAX_SIDE or width > MAX_SIDE:
        raise ImageDataError(
            f"{name} holds {height}×{width} images (H×W); at most {MAX_SIDE}×{MAX_SIDE} "
            "(one row is one time step): shrink them first"
        )
    if height < _MIN_SIDE or width < _MIN_SIDE:
        raise ImageDataError(f"{name} holds {height}×{width} images; need at least 2×2")
    limit = min(MAX_IMAGES, MAX_PIXELS // (height * width))
    if count > limit:
        notes.append(f"trimmed to the first {limit} of {count} images")
        images = images[:limit]
    return np.ascontiguousarray(images)


# --------------------------------------------------------------------------------- transform
def _logit_lambda(info: dict) -> tuple[float, int]:
    if info.get("kind") != "images":
        raise ValueError(f"expected the info of an image split (kind 'images'), got {info!r}")
    return float(info["logit_lambda"]), int(info["levels"])


def to_pixels(y: Tensor | np.ndarray, *, logit_lambda: float = LOGIT_LAMBDA) -> np.ndarray:
    r"""Logit-space values back to 8-bit pixels: :math:`k = \lfloor 256 v \rfloor`, clipped.

    Inverts :math:`y = \operatorname{logit}(\lambda + (1 - 2\lambda) v)` for any shape, e.g.
    model samples (B, T, d) -> images (B, H, W). Values outside the data's range (possible for
    samples) are clipped to 0-255; NaN becomes 0. Dequantised pixels near the edge of a grey
    level may come back one level off through float32 rounding.

    Example:
        >>> to_pixels(torch.tensor([-10.0, 0.0, 10.0]))
        array([  0, 128, 255], dtype=uint8)
    """
    if isinstance(y, Tensor):
        y = y.detach().cpu().numpy()
    y = np.nan_to_num(np.asarray(y, dtype=np.float64), nan=-np.inf)
    s = 1.0 / (1.0 + np.exp(-y))
    v = (s - logit_lambda) / (1.0 - 2.0 * logit_lambda)
    return np.clip(np.floor(v * LEVELS), 0, LEVELS - 1).astype(np.uint8)


def log_jacobian(y: Tensor, *, logit_lambda: float = LOGIT_LAMBDA) -> Tensor:
    r""":math:`\log \lvert \partial y / \partial v \rvert` per entry of y, same shape, float64."""
    y = y.detach().double()
    softplus = torch.nn.functional.softplus
    return math.log1p(-2.0 * logit_lambda) + softplus(y) + softplus(-y)


def bits_per_dim(log_prob_y: Tensor, y: Tensor, info: dict) -> float:
    r"""Bits per pixel of the 8-bit images from a model's log-densities in logit space.

    For sequences y (B, T, d) of an image split and the model's per-row log-densities
    :math:`\log p(y_t \mid y_{<t})` (B, T) in nats,

    .. math:: \text{bpd} = \frac{1}{D \log 2} \Big( -\sum \log p_Y(y) - \sum_{i}
              \log \frac{\partial y_i}{\partial v_i} \Big) + \log_2 256,

    summed over the batch with :math:`D = B T d` pixels. It upper-bounds (in expectation over
    the dequantisation noise) the model's discrete code length of the 8-bit pixels, the number
    reported as bits/dim for MNIST (RealNVP, PixelCNN).

    Arguments:
        log_prob_y: Log-densities of each row in y-space, shape (B, T).
        y: The scored sequences, shape (B, T, d), as in the split (a tensor, or a streamed
            split's :class:`~frmdn.data.stream.DiskSequences`).
        info: The split's ``info`` (for ``logit_lambda`` and ``levels``).

    Returns:
        The mean bits per pixel, a float.
    """
    lam, levels = _logit_lambda(info)
    if y.dim() != 3 or tuple(log_prob_y.shape) != tuple(y.shape[:2]):
        raise ValueError(
            f"log_prob_y must have shape (B, T) and y (B, T, d), got {tuple(log_prob_y.shape)} "
            f"and {tuple(y.shape)}"
        )
    pixels = math.prod(y.shape)
    if pixels == 0:
        raise ValueError("y holds no pixels")
    if isinstance(y, Tensor):
        jacobian = log_jacobian(y, logit_lambda=lam).sum()
    else:  # sequences read from disk (a streamed split), a chunk at a time
        chunks = (y[i : i + 256] for i in range(0, len(y), 256))
        jacobian = sum(log_jacobian(c, logit_lambda=lam).sum() for c in chunks)
    log_p_v = log_prob_y.detach().double().sum() + jacobian
    return float(-log_p_v / (pixels * math.log(2.0)) + math.log2(levels))


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


def _logit(v: Tensor) -> Tensor:
    """Dequantised pixels v in [0, 1) to the model's logit space (see the module docstring)."""
    return torch.logit(LOGIT_LAMBDA + (1.0 - 2.0 * LOGIT_LAMBDA) * v)


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
    from frmdn.checkpoint_files import file_sha256
    from frmdn.data.stream import build_cache, cache_dir, cache_key

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

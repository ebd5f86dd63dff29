"""Reading greyscale 8-bit images by their content (:func:`read_images`: .npy/.npz arrays,
PNG/JPEG files, folders of them, bytes) and the bundled digits."""

from __future__ import annotations

import io
import math
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from frmdn import resources
from frmdn.data.content import MAX_UPLOAD_BYTES, check_size, looks_like, megabytes, one_line, sniff
from frmdn.data.errors import DataError

__all__ = [
    "DIGITS_FILE",
    "IMAGE_SUFFIXES",
    "MAX_ARRAY_BYTES",
    "MAX_BYTES",
    "MAX_IMAGES",
    "MAX_PIXELS",
    "MAX_SIDE",
    "ImageDataError",
    "load_digits_array",
    "read_images",
]

DIGITS_FILE = Path("digits") / "mnist_5k.npz"
"""The bundled 5,000 MNIST digits, in the bundled-data folder (:func:`frmdn.resources.data_dir`;
rebuilt by ``assets/make_digits.py`` of the source repository)."""

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

_MIN_SIDE = 2


class ImageDataError(DataError):
    """Image data that cannot be used (missing, empty, wrong shape or type, too large, ...)."""


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

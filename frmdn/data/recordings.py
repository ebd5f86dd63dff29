"""A user's own recordings of an environment: ``frames:PATH.npz`` with ``frames`` and optional
``actions``, checked from the archive's headers before anything is read.

The file holds ``frames``, (N, T, H, W, 3) uint8 RGB, and optionally ``actions``,
(N, T, A) floats (the action taken after frame t), as ``numpy.savez`` writes them. Shapes,
dtypes and sizes are read from each member's ``.npy`` header, so a huge or mislabelled file is
refused in one clear line before its arrays are allocated; nothing is unpickled.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from frmdn.data.video import FrameDataError

__all__ = ["MAX_RECORDING_BYTES", "MAX_ACTION_DIM", "read_recording"]

MAX_RECORDING_BYTES = 2 * 1024**3  # the frames, uncompressed
MAX_SIDE = 512  # pixels: larger frames are surely not an environment's
MAX_ACTION_DIM = 64
MIN_SEQUENCES = 3  # one each for training, validation and test


def _header(archive: zipfile.ZipFile, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of the member ``name.npy``, read from its header only."""
    with archive.open(f"{name}.npy") as member:
        try:
            version = np.lib.format.read_magic(member)
            reader = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, fortran, dtype = reader(member)
        except ValueError as error:
            raise FrameDataError(f"{name} is not a numpy array ({error})") from error
    if dtype.hasobject:
        raise FrameDataError(f"{name} holds Python objects, which are never unpickled")
    del fortran
    return tuple(shape), dtype


def _read(archive: zipfile.ZipFile, name: str) -> np.ndarray:
    with archive.open(f"{name}.npy") as member:
        return np.lib.format.read_array(member, allow_pickle=False)


def read_recording(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray | None]:
    """The frames (N, T, H, W, 3) uint8 and actions (N, T, A) float32 (or None) of a recording.

    Raises:
        FrameDataError: One line naming what is wrong: not an .npz archive, no ``frames``,
            a wrong shape or dtype, too few sequences or frames, too large, or actions that
            do not match the frames.
    """
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as error:
        raise FrameDataError(f"{path.name} is not a readable .npz archive ({error})") from error
    with archive:
        members = {Path(n).stem for n in archive.namelist() if n.endswith(".npy")}
        if "frames" not in members:
            found = ", ".join(sorted(members)) or "none"
            raise FrameDataError(f"{path.name} has no 'frames' array (it has: {found})")
        shape, dtype = _header(archive, "frames")
        if len(shape) != 5 or shape[-1] != 3 or dtype != np.uint8:
            raise FrameDataError(f"frames must be uint8 (N, T, H, W, 3) RGB, got {dtype} {shape}")
        n, t, h, w, _ = shape
        if n < MIN_SEQUENCES or t < 2:
            raise FrameDataError(
                f"need at least {MIN_SEQUENCES} sequences of at least 2 frames, got N={n}, T={t}"
            )
        if not (8 <= h <= MAX_SIDE and 8 <= w <= MAX_SIDE):
            raise FrameDataError(f"frames must be 8 to {MAX_SIDE} pixels a side, got {h} × {w}")
        if n * t * h * w * 3 > MAX_RECORDING_BYTES:
            raise FrameDataError(
                f"frames take {n * t * h * w * 3 / 1024**3:.1f} GiB; at most "
                f"{MAX_RECORDING_BYTES / 1024**3:.0f} GiB"
            )
        actions = None
        if "actions" in members:
            a_shape, a_dtype = _header(archive, "actions")
            if len(a_shape) != 3 or a_shape[:2] != (n, t):
                raise FrameDataError(
                    f"actions must be (N, T, A) = ({n}, {t}, A) like the frames, got {a_shape}"
                )
            if not (np.issubdtype(a_dtype, np.floating) or np.issubdtype(a_dtype, np.integer)):
                raise FrameDataError(f"actions must be numbers, got {a_dtype}")
            if not 1 <= a_shape[2] <= MAX_ACTION_DIM:
                raise FrameDataError(
                    f"actions need 1 to {MAX_ACTION_DIM} dimensions, got {a_shape[2]}"
                )
            actions = _read(archive, "actions").astype(np.float32)
            if not np.isfinite(actions).all():
                raise FrameDataError("actions hold NaN or infinite values")
        frames = _read(archive, "frames")
    return frames, actions

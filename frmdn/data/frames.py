r"""Image sequences (video frames), world-model style: synthetic scenes or a user's video.

A world model (Ha and Schmidhuber) compresses each frame with a VAE and models the sequence
of latent codes with an MDN-RNN; FRMDN replaces the MDN-RNN. This module delivers the frames:
uint8 arrays (N, T, H, W) of greyscale, square frames in a :class:`FrameSplit`. The encoder
that turns them into :class:`~frmdn.data.splits.SequenceSplit` latents lives elsewhere.

Two synthetic scenes with different dynamics:

- ``moving-digits`` (:func:`moving_digits`): real MNIST digits gliding at constant velocity
  and bouncing off the walls, overlapping by the pixel-wise maximum (Srivastava et al.,
  Moving MNIST);
- ``bouncing-balls`` (:func:`bouncing_balls`): anti-aliased balls falling under gravity and
  bouncing elastically off the floor, walls and ceiling, an accelerating motion.

:func:`read_video` decodes a user's video with PyAV (greyscale, centre-cropped to a square,
area-resized), :func:`video_sequences` cuts it into windows, :func:`time_split` splits them by
time, and :func:`load_frames` builds the train/valid/test split for a generator name or a
video path. The decoding lives in :mod:`frmdn.data.video`; its public names are
importable from here too.

References:
    Ha and Schmidhuber, "World Models", arXiv:1803.10122. Srivastava, Mansimov and
    Salakhutdinov, "Unsupervised learning of video representations using LSTMs",
    arXiv:1502.04681 (Moving MNIST).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from frmdn import resources
from frmdn.data.video import (
    _MAX_SIZE,
    MAX_BYTES,
    MAX_FRAME_PIXELS,
    MAX_FRAMES,
    FrameDataError,
    iter_video,
    read_video,
)

__all__ = [
    "FRAME_GENERATORS",
    "MAX_BYTES",
    "MAX_FRAMES",
    "MAX_FRAME_PIXELS",
    "FrameDataError",
    "FrameSplit",
    "bouncing_balls",
    "load_frames",
    "moving_digits",
    "iter_video",
    "read_video",
    "time_split",
    "video_sequences",
]


@dataclass(frozen=True)
class FrameSplit:
    """Train/valid/test image sequences of one data set, uint8 arrays (N, T, H, W).

    Arguments:
        train: Training sequences, shape (N_train, T, H, W).
        valid: Validation sequences, shape (N_valid, T, H, W).
        test: Test sequences, shape (N_test, T, H, W).
        name: Short name, e.g. ``"moving-digits"``.
        info: JSON-friendly description, e.g. ``{"kind": "frames", "source": "generator"}``.
    """

    train: np.ndarray
    valid: np.ndarray
    test: np.ndarray
    name: str
    info: dict

    def __post_init__(self) -> None:
        for part in ("train", "valid", "test"):
            x = getattr(self, part)
            if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 4:
                raise ValueError(
                    f"{part} must be a uint8 array (N, T, H, W), got "
                    f"{getattr(x, 'dtype', type(x))} {getattr(x, 'shape', '')}"
                )
            if x.shape[1:] != self.train.shape[1:]:
                raise ValueError(
                    f"{part} has (T, H, W) = {x.shape[1:]} but train has {self.train.shape[1:]}"
                )

    @property
    def length(self) -> int:
        """The sequence length T."""
        return self.train.shape[1]

    @property
    def frame_shape(self) -> tuple[int, int]:
        """The frame size (H, W)."""
        return self.train.shape[2], self.train.shape[3]


# --------------------------------------------------------------------------------- generators
def _check(n: int, length: int, size: int, count: int, what: str) -> None:
    if n < 1:
        raise ValueError(f"the number of sequences must be at least 1, got {n}")
    if length < 2:
        raise ValueError(f"sequence length must be at least 2 to have a next step, got {length}")
    if not 8 <= size <= _MAX_SIZE:
        raise ValueError(f"size must be between 8 and {_MAX_SIZE} pixels, got {size}")
    if count < 1:
        raise ValueError(f"the number of {what} must be at least 1, got {count}")


def _bounce(start: np.ndarray, velocity: np.ndarray, span: float, length: int) -> np.ndarray:
    """Positions in [0, span] of points moving at constant velocity and reflecting at both
    ends, shape start.shape + (length,), via the unfolded (triangle-wave) path."""
    t = np.arange(length)
    unfolded = start[..., None] + velocity[..., None] * t  # (..., length)
    folded = np.mod(unfolded, 2 * span)
    return np.where(folded <= span, folded, 2 * span - folded)


def moving_digits(
    n: int,
    length: int,
    *,
    size: int = 48,
    n_digits: int = 2,
    generator: np.random.Generator,
    digits: np.ndarray | None = None,
) -> np.ndarray:
    """Real MNIST digits moving at constant velocity and bouncing off the canvas walls.

    Each sequence draws ``n_digits`` digits from ``digits`` (default: the bundled 5,000 MNIST
    digits), a start position inside the canvas, a direction uniform on the circle and a speed
    uniform in [1.5, 3] pixels per frame. A digit that reaches a wall reflects (its velocity
    component flips); overlapping digits combine by the pixel-wise maximum, like occlusion
    by bright ink.

    Arguments:
        n: The number of sequences.
        length: Frames per sequence T.
        size: The side of the square canvas in pixels (larger than the digits).
        n_digits: Digits per sequence.
        generator: The numpy random generator.
        digits: Optional uint8 sprites (M, h, w) to move instead of the bundled digits.

    Returns:
        A uint8 array, shape (n, T, size, size).
    """
    _check(n, length, size, n_digits, "digits")
    if digits is None:
        from frmdn.data.image_read import load_digits_array

        digits = load_digits_array()[0]
    digits = np.asarray(digits)
    if digits.dtype != np.uint8 or digits.ndim != 3 or len(digits) == 0:
        raise ValueError(
            f"digits must be uint8 sprites (M, h, w), got {digits.dtype} {digits.shape}"
        )
    _, h, w = digits.shape
    if h >= size or w >= size:
        raise ValueError(f"the canvas ({size} px) must be larger than the digits ({h}×{w})")
    chosen = generator.integers(0, len(digits), size=(n, n_digits))
    angle = generator.uniform(0.0, 2 * np.pi, size=(n, n_digits))
    speed = generator.uniform(1.5, 3.0, size=(n, n_digits))
    span_y, span_x = size - h, size - w
    y0 = generator.uniform(0.0, span_y, size=(n, n_digits))
    x0 = generator.uniform(0.0, span_x, size=(n, n_digits))
    top = np.rint(_bounce(y0, speed * np.sin(angle), span_y, length)).astype(np.int64)
    left = np.rint(_bounce(x0, speed * np.cos(angle), span_x, length)).astype(np.int64)
    frames = np.zeros((n, length, size, size), dtype=np.uint8)
    seq = np.arange(n)[:, None, None, None]  # (n, 1, 1, 1)
    step = np.arange(length)[None, :, None, None]  # (1, T, 1, 1)
    rows, cols = np.arange(h)[:, None], np.arange(w)[None, :]  # (h, 1), (1, w)
    for k in range(n_digits):
        layer = np.zeros_like(frames)
        r = top[:, k, :, None, None] + rows  # (n, T, h, 1)
        c = left[:, k, :, None, None] + cols  # (n, T, 1, w)
        layer[seq, step, r, c] = digits[chosen[:, k]][:, None]  # (n, 1, h, w) sprites
        np.maximum(frames, layer, out=frames)
    return frames


def bouncing_balls(
    n: int,
    length: int,
    *,
    size: int = 48,
    n_balls: int = 2,
    gravity: float = 0.5,
    radius: float | None = None,
    generator: np.random.Generator,
) -> np.ndarray:
    """Anti-aliased balls falling under gravity and bouncing elastically off the walls.

    Each ball starts at rest-ish (vertical speed in ±0.5, horizontal in ±2 pixels per frame)
    somewhere in the upper half, accelerates downwards by ``gravity`` pixels per frame² and
    reflects without loss off the floor, the ceiling and the side walls. Balls pass through
    each other and combine by the pixel-wise maximum. Unlike :func:`moving_digits` the motion
    accelerates, so the next frame depends on more than the last position.

    Arguments:
        n: The number of sequences.
        length: Frames per sequence T.
        size: The side of the square canvas in pixels.
        n_balls: Balls per sequence.
        gravity: Downward acceleration in pixels per frame², >= 0.
        radius: Ball radius in pixels (default ``size / 10``).
        generator: The numpy random generator.

    Returns:
        A uint8 array, shape (n, T, size, size); row 0 is the top (the ceiling).
    """
    _check(n, length, size, n_balls, "balls")
    if not gravity >= 0:
        raise ValueError(f"gravity must be non-negative, got {gravity}")
    radius = size / 10 if radius is None else float(radius)
    if not 0.5 <= radius < size / 4:
        raise ValueError(f"radius must lie in [0.5, {size / 4:g}) pixels, got {radius}")
    low, high = radius - 0.5, size - 0.5 - radius  # centre range inside the canvas
    x = generator.uniform(low, high, size=(n, n_balls))
    y = generator.uniform(low, low + (high - low) / 2, size=(n, n_balls))
    vx = generator.uniform(-2.0, 2.0, size=(n, n_balls))
    vy = generator.uniform(-0.5, 0.5, size=(n, n_balls))
    energy = vy**2 / 2 - gravity * y  # per unit mass, conserved
    grid = np.arange(size, dtype=np.float64)
    frames = np.empty((n, length, size, size), dtype=np.uint8)
    for t in range(length):
        dy = grid[None, None, :, None] - y[:, :, None, None]  # (n, balls, size, 1)
        dx = grid[None, None, None, :] - x[:, :, None, None]  # (n, balls, 1, size)
        coverage = np.clip(radius + 0.5 - np.sqrt(dx**2 + dy**2), 0.0, 1.0)  # (n, balls, S, S)
        frames[:, t] = np.rint(255 * coverage.max(axis=1))
        # Exact constant-acceleration step, reflect at the walls, then restore the energy
        # vy²/2 - g·y so the bounces stay elastic (y grows downwards).
        x, y = x + vx, y + vy + gravity / 2
        vy = vy + gravity
        for position, velocity in ((x, vx), (y, vy)):
            under, over = position < low, position > high
            position[under] = 2 * low - position[under]
            position[over] = 2 * high - position[over]
            velocity[under | over] *= -1
            np.clip(position, low, high, out=position)
        vy = np.where(vy < 0, -1.0, 1.0) * np.sqrt(np.maximum(2 * (energy + gravity * y), 0.0))
    return frames


FRAME_GENERATORS: dict[str, Callable[..., np.ndarray]] = {
    "moving-digits": moving_digits,
    "bouncing-balls": bouncing_balls,
}
"""The synthetic scenes: ``f(n, length, *, size, generator) -> (n, length, size, size)``."""

_DESCRIPTIONS = {
    "moving-digits": "Two real MNIST digits gliding at constant velocity and bouncing off the "
    "walls of the frame.",
    "bouncing-balls": "Two balls falling under gravity and bouncing off the floor and walls.",
}


# --------------------------------------------------------------------------------- splits
def video_sequences(frames: np.ndarray, *, length: int = 16) -> np.ndarray:
    """Non-overlapping windows of ``length`` consecutive frames, dropping the tail.

    Example:
        >>> video_sequences(np.zeros((10, 4, 4), dtype=np.uint8), length=3).shape
        (3, 3, 4, 4)

    Arguments:
        frames: Frames (T, H, W).
        length: Frames per window.

    Returns:
        Shape (T // length, length, H, W); empty along the first axis if T < length.
    """
    frames = np.asarray(frames)
    if frames.ndim != 3:
        raise ValueError(f"frames must have shape (T, H, W), got {frames.shape}")
    if length < 1:
        raise ValueError(f"length must be at least 1, got {length}")
    count = len(frames) // length
    return np.ascontiguousarray(frames[: count * length].reshape(count, length, *frames.shape[1:]))


def time_split(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Train, valid and test windows of one video, split by time: the first 80 % train, the
    next 10 % validate and the last 10 % test (at least one each).

    Fewer than 3 windows cannot give one to each part: then all of them train and test and
    none validates (enough to show a model on them, not to train one).

    Example:
        >>> [len(part) for part in time_split(np.zeros((30, 2, 1, 1), dtype=np.uint8))]
        [24, 3, 3]

    Arguments:
        windows: Consecutive windows (N, T, H, W), e.g. from :func:`video_sequences`.

    Returns:
        Views of ``windows``: (N_train, T, H, W), (N_valid, T, H, W) and (N_test, T, H, W).
    """
    count = len(windows)
    hold = max(1, round(count / 10)) if count >= 3 else 0
    train = count - 2 * hold
    test = windows[train + hold :] if hold else windows
    return windows[:train], windows[train : train + hold], test


def load_frames(
    argument: str,
    *,
    n_train: int = 512,
    n_valid: int = 64,
    n_test: int = 64,
    length: int = 16,
    size: int = 48,
    seed: int = 0,
    data_dir: str | os.PathLike | None = None,
) -> FrameSplit:
    """Train/valid/test image sequences from a scene generator or a video file.

    For a name in :data:`FRAME_GENERATORS`, each split draws ``n_*`` sequences from its own
    numpy generator seeded with ``[seed, 0]``, ``[seed, 1]`` and ``[seed, 2]``. For a video
    path, the frames (see :func:`read_video`) are cut into non-overlapping windows of
    ``length`` and split by time: the first 80 % of the windows train, the next 10 % validate
    and the last 10 % test (at least one each); ``n_*`` and ``seed`` are then unused.

    Arguments:
        argument: ``"moving-digits"``, ``"bouncing-balls"`` or a path to a video file.
        n_train: Training sequences (generators only).
        n_valid: Validation sequences (generators only).
        n_test: Test sequences (generators only).
        length: Frames per sequence T, at least 2.
        size: Frame side in pixels.
        seed: A non-negative integer seed (generators only).
        data_dir: The bundled-data folder, for the digits of ``moving-digits`` and a relative
            video path (default: see :func:`frmdn.resources.data_dir`).

    Returns:
        A :class:`FrameSplit` of uint8 arrays (N, T, size, size).
    """
    if length < 2:
        raise ValueError(f"sequence length must be at least 2 to have a next step, got {length}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if argument in FRAME_GENERATORS:
        for split, count in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test)):
            if count < 1:
                raise ValueError(f"{split} must be at least 1, got {count}")
        function = FRAME_GENERATORS[argument]
        sprites: dict[str, np.ndarray] = {}
        if function is moving_digits:
            from frmdn.data.image_read import load_digits_array

            sprites["digits"] = load_digits_array(data_dir)[0]
        parts = [
            function(
                count, length, size=size, generator=np.random.default_rng([seed, i]), **sprites
            )
            for i, count in enumerate((n_train, n_valid, n_test))
        ]
        info = {
            "kind": "frames",
            "source": "generator",
            "generator": argument,
            "description": _DESCRIPTIONS[argument],
            "length": length,
            "size": size,
            "seed": seed,
        }
        return FrameSplit(*parts, name=argument, info=info)
    source = resources.resolve(argument, data_dir)
    if not source.exists():
        raise FrameDataError(
            f"{argument!r} is neither a scene ({', '.join(FRAME_GENERATORS)}) nor a video file"
        )
    frames, notes = read_video(source, size=size)
    windows = video_sequences(frames, length=length)
    count = len(windows)
    if count < 3:
        raise FrameDataError(
            f"{source.name} has {len(frames)} frames: need at least {3 * length} for one "
            f"train, valid and test sequence of {length} frames"
        )
    train, valid, test = time_split(windows)
    info = {
        "kind": "frames",
        "source": str(argument),
        "length": length,
        "size": size,
        "frames": len(frames),
        "notes": notes,
    }
    return FrameSplit(train, valid, test, name=source.stem or str(argument), info=info)

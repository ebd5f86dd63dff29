r"""2D toy sequence data sets with known, curved next-step distributions.

A sequence model predicts :math:`p(y_{t+1} \mid y_{\leq t})`. A Gaussian mixture fits this
badly when the next-step distribution is curved or has sharp edges in fixed coordinates,
while an invertible flow can bend it into something a mixture fits. The non-clustered sets
(``ring``, ``spiral``, ``moons``, ``checkerboard``) therefore take large jumps along curves or
between sharp-edged regions, and the clustered control (``clusters``) hops between tight
Gaussian blobs that a mixture already fits. All values lie roughly within :math:`[-3, 3]^2`.

Each generator has the signature ``f(n, length, *, noise, generator) -> (n, length, 2)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from frmdn.data.splits import SequenceSplit

__all__ = [
    "GENERATORS",
    "TOY_NAMES",
    "ToySpec",
    "checkerboard",
    "clusters",
    "load_toy",
    "moons",
    "ring",
    "spiral",
]

_RING_RADIUS = 2.0
_SPIRAL_TURNS = 1.5
_SPIRAL_RADII = (0.5, 2.5)
_MOONS_SCALE = 4 / 3
_BLOBS = 8


def _check(n: int, length: int, noise: float) -> None:
    if n < 1:
        raise ValueError(f"the number of sequences must be at least 1, got {n}")
    if length < 2:
        raise ValueError(f"sequence length must be at least 2 to have a next step, got {length}")
    if not noise >= 0:
        raise ValueError(f"noise must be a non-negative standard deviation, got {noise}")


def ring(
    n: int, length: int, *, noise: float = 0.05, generator: np.random.Generator
) -> np.ndarray:
    r"""Points on an annulus of radius 2 whose angle takes large uniform steps in
    :math:`\pm 0.8 \pi`, so the next point lies on a long arc of the ring.

    Arguments:
        n: The number of sequences.
        length: The sequence length T.
        noise: The standard deviation of the radius around 2.
        generator: The numpy random generator.

    Returns:
        A float32 array, shape (n, T, 2).
    """
    _check(n, length, noise)
    steps = generator.uniform(-0.8 * np.pi, 0.8 * np.pi, size=(n, length - 1))
    start = generator.uniform(0.0, 2 * np.pi, size=(n, 1))
    theta = np.concatenate([start, start + np.cumsum(steps, axis=1)], axis=1)
    radius = _RING_RADIUS + noise * generator.standard_normal((n, length))
    y = radius[..., None] * np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    return y.astype(np.float32)


def spiral(
    n: int, length: int, *, noise: float = 0.05, generator: np.random.Generator
) -> np.ndarray:
    r"""Points on an Archimedean spiral (1.5 turns, radius 0.5 to 2.5) whose angle takes large
    uniform steps in :math:`\pm \pi`, reflected at the ends, so the next point lies on a long
    curved stretch of the spiral.

    Arguments:
        n: The number of sequences.
        length: The sequence length T.
        noise: The standard deviation of the isotropic Gaussian noise off the curve.
        generator: The numpy random generator.

    Returns:
        A float32 array, shape (n, T, 2).
    """
    _check(n, length, noise)
    end = 2 * np.pi * _SPIRAL_TURNS
    s = np.empty((n, length))
    s[:, 0] = generator.uniform(0.0, end, size=n)
    for t in range(1, length):
        step = s[:, t - 1] + generator.uniform(-np.pi, np.pi, size=n)
        s[:, t] = end - np.abs(end - np.abs(step))  # reflect into [0, end]
    low, high = _SPIRAL_RADII
    radius = low + (high - low) * s / end
    y = radius[..., None] * np.stack([np.cos(s), np.sin(s)], axis=-1)
    y += noise * generator.standard_normal(y.shape)
    return y.astype(np.float32)


def _moon_points(moon: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """The points at angle ``phi`` in [0, pi] on the upper (0) or lower (1) moon, shape (n, 2)."""
    upper = np.stack([np.cos(phi), np.sin(phi)], axis=-1)
    lower = np.stack([1 - np.cos(phi), 0.5 - np.sin(phi)], axis=-1)
    y = np.where(moon[:, None] == 0, upper, lower)
    return _MOONS_SCALE * (y - np.array([0.5, 0.25]))


def moons(
    n: int, length: int, *, noise: float = 0.05, generator: np.random.Generator
) -> np.ndarray:
    """Hops between the two classic interleaved half-circles, scaled to about [-2, 2] x [-1, 1]:
    each step jumps to a uniformly random point on the other moon, a crescent.

    Arguments:
        n: The number of sequences.
        length: The sequence length T.
        noise: The standard deviation of the isotropic Gaussian noise off the moons.
        generator: The numpy random generator.

    Returns:
        A float32 array, shape (n, T, 2).
    """
    _check(n, length, noise)
    first = generator.integers(0, 2, size=n)
    y = np.empty((n, length, 2))
    for t in range(length):
        y[:, t] = _moon_points((first + t) % 2, generator.uniform(0.0, np.pi, size=n))
    y += noise * generator.standard_normal(y.shape)
    return y.astype(np.float32)


def checkerboard(
    n: int, length: int, *, noise: float = 0.0, generator: np.random.Generator
) -> np.ndarray:
    """Jumps between the 8 dark squares of a 4 x 4 checkerboard on [-2, 2]^2: each step lands
    uniformly inside one of the 7 other dark squares, a sharp-edged next-step density.

    Dark squares are the unit squares whose column and row indices (0 to 3) have an even sum.

    Arguments:
        n: The number of sequences.
        length: The sequence length T.
        noise: The standard deviation of isotropic Gaussian noise blurring the edges.
        generator: The numpy random generator.

    Returns:
        A float32 array, shape (n, T, 2).
    """
    _check(n, length, noise)
    square = np.empty((n, length), dtype=np.int64)
    square[:, 0] = generator.integers(0, 8, size=n)
    for t in range(1, length):
        square[:, t] = (square[:, t - 1] + generator.integers(1, 8, size=n)) % 8
    row = square // 2
    col = 2 * (square % 2) + row % 2
    corner = np.stack([col, row], axis=-1) - 2.0
    y = corner + generator.uniform(0.0, 1.0, size=(n, length, 2))
    y += noise * generator.standard_normal(y.shape)
    return y.astype(np.float32)


def clusters(
    n: int, length: int, *, noise: float = 0.1, generator: np.random.Generator
) -> np.ndarray:
    """Hops between 8 tight Gaussian blobs on a circle of radius 2: the next blob is the current
    one plus 1 or 3 (counter-clockwise), each with probability 1/2. A mixture fits this.

    Arguments:
        n: The number of sequences.
        length: The sequence length T.
        noise: The standard deviation of each blob.
        generator: The numpy random generator.

    Returns:
        A float32 array, shape (n, T, 2).
    """
    _check(n, length, noise)
    start = generator.integers(0, _BLOBS, size=(n, 1))
    steps = generator.choice([1, 3], size=(n, length - 1))
    blob = np.concatenate([start, start + np.cumsum(steps, axis=1)], axis=1) % _BLOBS
    angle = 2 * np.pi * blob / _BLOBS
    y = _RING_RADIUS * np.stack([np.cos(angle), np.sin(angle)], axis=-1)
    y += noise * generator.standard_normal(y.shape)
    return y.astype(np.float32)


@dataclass(frozen=True)
class ToySpec:
    """A toy data set: its generator, whether a mixture already fits it, and a description.

    Arguments:
        name: The registry name, e.g. ``"ring"``.
        function: The generator ``f(n, length, *, noise, generator) -> (n, length, 2)``.
        clustered: Whether the next-step distribution is a few Gaussian blobs (a control).
        description: One plain-English sentence for the app.
    """

    name: str
    function: Callable[..., np.ndarray]
    clustered: bool
    description: str

    @property
    def default_noise(self) -> float:
        """The default ``noise`` of the generator."""
        return inspect.signature(self.function).parameters["noise"].default


GENERATORS: dict[str, ToySpec] = {
    spec.name: spec
    for spec in (
        ToySpec(
            "ring",
            ring,
            False,
            "A point on a ring of radius 2 that jumps a large random angle each step, so the "
            "next point lies on a long curved arc.",
        ),
        ToySpec(
            "spiral",
            spiral,
            False,
            "A point on a spiral that jumps a large random distance along the curve each step, "
            "so the next point lies on a curved stretch of the spiral.",
        ),
        ToySpec(
            "moons",
            moons,
            False,
            "A point that hops to a random spot on the other of two interleaved half-moons "
            "each step, so the next point lies on a crescent.",
        ),
        ToySpec(
            "checkerboard",
            checkerboard,
            False,
            "A point that jumps to a random spot in another dark square of a 4 x 4 "
            "checkerboard each step, a next-step density with sharp edges.",
        ),
        ToySpec(
            "clusters",
            clusters,
            True,
            "A point that hops 1 or 3 places around 8 tight blobs on a circle, a control "
            "that a plain Gaussian mixture already fits well.",
        ),
    )
}

TOY_NAMES: tuple[str, ...] = tuple(GENERATORS)


def load_toy(
    name: str,
    *,
    n_train: int = 512,
    n_valid: int = 128,
    n_test: int = 128,
    length: int = 32,
    noise: float | None = None,
    seed: int = 0,
) -> SequenceSplit:
    """Generates the train/valid/test splits of a toy data set.

    Each split draws from its own numpy generator seeded with ``[seed, 0]``, ``[seed, 1]`` and
    ``[seed, 2]``, so splits are reproducible and never share sequences.

    Arguments:
        name: One of :data:`TOY_NAMES`.
        n_train: The number of training sequences.
        n_valid: The number of validation sequences.
        n_test: The number of test sequences.
        length: The sequence length T, at least 2.
        noise: The generator's noise level, or ``None`` for its default.
        seed: A non-negative integer seed.

    Returns:
        A :class:`SequenceSplit` of float32 tensors, shapes (N, T, 2).
    """
    if name not in GENERATORS:
        raise ValueError(f"unknown toy data set {name!r}, expected one of {', '.join(TOY_NAMES)}")
    spec = GENERATORS[name]
    noise = spec.default_noise if noise is None else noise
    for split, size in (("n_train", n_train), ("n_valid", n_valid), ("n_test", n_test)):
        if size < 1:
            raise ValueError(f"{split} must be at least 1, got {size}")
    _check(1, length, noise)
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    parts = [
        torch.from_numpy(
            spec.function(size, length, noise=noise, generator=np.random.default_rng([seed, i]))
        )
        for i, size in enumerate((n_train, n_valid, n_test))
    ]
    info = {
        "kind": "toy",
        "clustered": spec.clustered,
        "description": spec.description,
        "noise": noise,
        "length": length,
        "seed": seed,
    }
    return SequenceSplit(*parts, name=name, info=info)

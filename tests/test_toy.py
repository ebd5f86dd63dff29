"""Tests for the 2D toy sequence data sets and the split/dequantisation helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from frmdn.data.splits import SequenceSplit, dequantize
from frmdn.data.toy import (
    GENERATORS,
    TOY_NAMES,
    checkerboard,
    clusters,
    load_toy,
    moons,
    ring,
    spiral,
)

NON_CLUSTERED = [name for name in TOY_NAMES if not GENERATORS[name].clustered]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def test_registry() -> None:
    assert set(TOY_NAMES) == {"ring", "spiral", "moons", "checkerboard", "clusters"}
    assert NON_CLUSTERED == ["ring", "spiral", "moons", "checkerboard"]
    for name, spec in GENERATORS.items():
        assert spec.name == name
        assert spec.description.endswith(".")
        assert spec.default_noise >= 0


@pytest.mark.parametrize("name", TOY_NAMES)
def test_generator_shape_dtype_range(name: str) -> None:
    y = GENERATORS[name].function(7, 5, generator=_rng())
    assert y.shape == (7, 5, 2)
    assert y.dtype == np.float32
    assert np.isfinite(y).all()
    assert np.abs(y).max() < 3.0


@pytest.mark.parametrize("name", TOY_NAMES)
def test_load_toy_shapes_and_info(name: str) -> None:
    split = load_toy(name, n_train=6, n_valid=4, n_test=3, length=9)
    assert isinstance(split, SequenceSplit)
    assert split.name == name
    assert split.dim == 2
    assert split.train.shape == (6, 9, 2)
    assert split.valid.shape == (4, 9, 2)
    assert split.test.shape == (3, 9, 2)
    for x in (split.train, split.valid, split.test):
        assert x.dtype == torch.float32
        assert torch.isfinite(x).all()
    assert split.info["kind"] == "toy"
    assert split.info["clustered"] == GENERATORS[name].clustered
    assert split.info["noise"] == GENERATORS[name].default_noise


@pytest.mark.parametrize("name", TOY_NAMES)
def test_load_toy_reproducible_and_distinct(name: str) -> None:
    a = load_toy(name, n_train=8, n_valid=8, n_test=8, length=6, seed=3)
    b = load_toy(name, n_train=8, n_valid=8, n_test=8, length=6, seed=3)
    c = load_toy(name, n_train=8, n_valid=8, n_test=8, length=6, seed=4)
    for part in ("train", "valid", "test"):
        assert torch.equal(getattr(a, part), getattr(b, part))
        assert not torch.equal(getattr(a, part), getattr(c, part))
    assert not torch.equal(a.train, a.valid)
    assert not torch.equal(a.train, a.test)
    assert not torch.equal(a.valid, a.test)
    # No sequence of one split appears in another.
    flat = torch.cat([a.train, a.valid, a.test]).flatten(1)
    assert torch.unique(flat, dim=0).shape[0] == flat.shape[0]


def test_load_toy_noise_override() -> None:
    split = load_toy("ring", n_train=4, length=4, noise=0.0)
    assert split.info["noise"] == 0.0
    radius = split.train.norm(dim=-1)
    assert torch.allclose(radius, torch.full_like(radius, 2.0), atol=1e-5)


def test_ring_radius_and_large_angle_steps() -> None:
    y = ring(256, 16, generator=_rng())
    radius = np.linalg.norm(y, axis=-1)
    assert np.abs(radius - 2.0).max() < 0.5
    assert abs(radius.mean() - 2.0) < 0.01
    theta = np.arctan2(y[..., 1], y[..., 0])
    step = np.angle(np.exp(1j * np.diff(theta, axis=1)))  # wrapped to (-pi, pi]
    assert np.abs(step).max() <= 0.8 * np.pi + 1e-4
    assert np.abs(step).mean() > 1.0


def test_spiral_points_near_curve() -> None:
    y = spiral(256, 16, noise=0.0, generator=_rng())
    radius = np.linalg.norm(y, axis=-1)
    assert radius.min() >= 0.5 - 1e-5
    assert radius.max() <= 2.5 + 1e-5
    # On the curve r = 0.5 + 2 s / (3 pi), the angle of the point is s modulo 2 pi.
    s = (radius - 0.5) * 3 * np.pi / 2
    theta = np.arctan2(y[..., 1], y[..., 0])
    assert np.abs(np.angle(np.exp(1j * (theta - s)))).max() < 1e-3


def _moon_distance(y: np.ndarray, lower: bool) -> np.ndarray:
    """Distance of points (..., 2) to the upper or lower moon, in the unscaled frame."""
    x = y / (4 / 3) + np.array([0.5, 0.25])
    if lower:
        x = np.array([1.0, 0.5]) - x  # the lower moon is the upper one rotated by pi
    phi = np.arctan2(np.maximum(x[..., 1], 0.0), x[..., 0])  # nearest angle in [0, pi]
    nearest = np.stack([np.cos(phi), np.sin(phi)], axis=-1)
    return np.linalg.norm(x - nearest, axis=-1) * (4 / 3)


def test_moons_alternate() -> None:
    y = moons(256, 16, generator=_rng())
    upper, lower = _moon_distance(y, lower=False), _moon_distance(y, lower=True)
    assert np.minimum(upper, lower).max() < 0.3
    on_lower = lower < upper
    assert (on_lower[:, 1:] != on_lower[:, :-1]).all()
    assert 0.4 < on_lower[:, 0].mean() < 0.6
    assert np.abs(y[..., 0]).max() < 2.5


def test_checkerboard_dark_squares() -> None:
    y = checkerboard(256, 16, generator=_rng())
    assert np.abs(y).max() <= 2.0
    col, row = np.floor(y[..., 0] + 2), np.floor(y[..., 1] + 2)
    assert ((col + row) % 2 == 0).all()
    square = 4 * row + col
    assert (square[:, 1:] != square[:, :-1]).all()
    assert len(np.unique(square)) == 8


def test_clusters_near_blob_centres() -> None:
    y = clusters(256, 16, generator=_rng())
    angles = 2 * np.pi * np.arange(8) / 8
    centres = 2.0 * np.stack([np.cos(angles), np.sin(angles)], axis=-1)
    distance = np.linalg.norm(y[..., None, :] - centres, axis=-1)  # (n, T, 8)
    assert distance.min(axis=-1).max() < 0.6
    blob = distance.argmin(axis=-1)
    assert set(np.unique(np.diff(blob, axis=1) % 8)) == {1, 3}


@pytest.mark.parametrize("name", NON_CLUSTERED)
def test_non_clustered_steps_are_large(name: str) -> None:
    y = GENERATORS[name].function(256, 16, generator=_rng())
    step = np.linalg.norm(np.diff(y, axis=1), axis=-1)
    assert step.mean() > 1.0


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(ValueError, match="unknown toy data set 'nope'") as error:
        load_toy("nope")
    for name in TOY_NAMES:
        assert name in str(error.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_train": 0}, "n_train"),
        ({"n_valid": 0}, "n_valid"),
        ({"n_test": -1}, "n_test"),
        ({"length": 1}, "length"),
        ({"noise": -0.1}, "noise"),
        ({"noise": float("nan")}, "noise"),
        ({"seed": -1}, "seed"),
    ],
)
def test_load_toy_bad_sizes(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_toy("ring", **kwargs)


@pytest.mark.parametrize("generate", [ring, spiral, moons, checkerboard, clusters])
def test_generators_validate(generate) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        generate(0, 4, generator=_rng())
    with pytest.raises(ValueError, match="length"):
        generate(2, 1, generator=_rng())
    with pytest.raises(ValueError, match="noise"):
        generate(2, 4, noise=-1.0, generator=_rng())


def test_sequence_split_validates_shapes() -> None:
    x = torch.zeros(2, 3, 2)
    with pytest.raises(ValueError, match="shape"):
        SequenceSplit(x, x[0], x, name="bad", info={})
    with pytest.raises(ValueError, match="dimension"):
        SequenceSplit(x, x, torch.zeros(2, 3, 1), name="bad", info={})


def test_dequantize_range_and_reproducibility() -> None:
    values = torch.randint(0, 256, (64, 8, 3))
    a = dequantize(values, 256, torch.Generator().manual_seed(0))
    b = dequantize(values, 256, torch.Generator().manual_seed(0))
    assert a.dtype == torch.float32
    assert a.shape == values.shape
    assert torch.equal(a, b)
    assert ((a >= 0) & (a < 1)).all()
    assert torch.equal(torch.floor(a * 256).long(), values)
    # Float inputs holding integers work too, and the top level stays below 1.
    top = dequantize(torch.full((1000,), 255.0), 256)
    assert ((top >= 255 / 256) & (top < 1)).all()


@pytest.mark.parametrize(
    ("values", "levels", "message"),
    [
        (torch.tensor([0, 1, 4]), 4, "0..3"),
        (torch.tensor([-1, 0]), 4, "0..3"),
        (torch.tensor([0.5, 1.0]), 4, "integer-valued"),
        (torch.tensor([float("nan")]), 4, "finite"),
        (torch.tensor([0]), 0, "levels"),
    ],
)
def test_dequantize_validation(values: torch.Tensor, levels: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        dequantize(values, levels)

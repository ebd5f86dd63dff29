"""Tests of frmdn.data.images: bundled digits, reading user images, the logit split, bits/dim."""

import math
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from frmdn import views
from frmdn.data.images import (
    LOGIT_LAMBDA,
    MAX_IMAGES,
    ImageDataError,
    bits_per_dim,
    image_split,
    load_digits_array,
    load_image_data,
    log_jacobian,
    read_images,
    to_pixels,
)

PIL = pytest.importorskip("PIL.Image")


def _touch(path):
    """Called only if a pickle is loaded: leaves a file behind as evidence."""
    Path(path).write_text("unpickled")
    return "payload"


class _Evil:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return _touch, (self.path,)


def _id_images(count, height=6, width=5, seed=0):
    """Random uint8 images whose first row is the image's index, to trace them through."""
    images = np.random.default_rng(seed).integers(0, 256, (count, height, width), dtype=np.uint8)
    images[:, 0, :] = np.arange(count, dtype=np.uint8)[:, None]
    return images


# --------------------------------------------------------------------------------- digits
def test_bundled_digits_are_real_mnist():
    images, labels = load_digits_array()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (5000,) and labels.dtype == np.uint8
    assert np.bincount(labels).tolist() == [500] * 10
    ink = (images > 127).mean(axis=(1, 2))
    assert ink.min() > 0.01 and 0.08 < ink.mean() < 0.2  # strokes, not blank or noise
    assert (images[:, :2, :] == 0).mean() > 0.99  # black border, as in MNIST
    assert images.max() == 255


def test_digits_split_sizes_range_and_determinism():
    split = load_image_data("digits")
    assert [len(split.train), len(split.valid), len(split.test)] == [4000, 500, 500]
    assert split.train.shape[1:] == (28, 28) and split.train.dtype == torch.float32
    bound = math.log((1 - LOGIT_LAMBDA) / LOGIT_LAMBDA)
    assert split.train.min() >= -bound - 1e-5 and split.train.max() <= bound + 1e-5
    assert split.info == {
        "kind": "images",
        "height": 28,
        "width": 28,
        "logit_lambda": LOGIT_LAMBDA,
        "levels": 256,
        "source": split.info["source"],
        "seed": 0,
        "n_images": 5000,
    }
    again = load_image_data("digits", n_valid=500, n_test=500)
    assert torch.equal(split.test, again.test)
    other = load_image_data("digits", seed=1)
    assert not torch.equal(split.test, other.test)


def test_split_is_a_disjoint_permutation_and_round_trips():
    images = _id_images(200)
    split = image_split(images, n_valid=30, n_test=20, seed=3)
    ids = {}
    for part in ("train", "valid", "test"):
        pixels = to_pixels(getattr(split, part))  # (N, H, W) uint8
        assert pixels.dtype == np.uint8 and pixels.shape[1:] == (6, 5)
        ids[part] = np.median(pixels[:, 0, :], axis=1).astype(int)
        original = images[ids[part]]
        assert np.abs(pixels.astype(int) - original).max() <= 1
        assert (pixels != original).mean() < 1e-3  # off by one only at float32 edges
    assert [len(ids[p]) for p in ("train", "valid", "test")] == [150, 30, 20]
    assert sorted(np.concatenate(list(ids.values())).tolist()) == list(range(200))
    assert set(ids["test"]) != set(image_split(images, n_valid=30, n_test=20, seed=4).test)


def test_image_split_refuses_bad_input():
    with pytest.raises(ImageDataError, match="uint8"):
        image_split(np.zeros((5, 4, 4), dtype=np.float32))
    with pytest.raises(ImageDataError, match="training image"):
        image_split(np.zeros((2, 4, 4), dtype=np.uint8))
    with pytest.raises(ValueError, match="at least 1"):
        image_split(np.zeros((9, 4, 4), dtype=np.uint8), n_valid=0)


def test_to_pixels_clips_and_inverts():
    assert to_pixels(torch.tensor([-50.0, 50.0, float("nan")])).tolist() == [0, 255, 0]
    v = (np.arange(256) + 0.5) / 256
    y = torch.logit(torch.tensor(LOGIT_LAMBDA + (1 - 2 * LOGIT_LAMBDA) * v, dtype=torch.float64))
    assert to_pixels(y).tolist() == list(range(256))


# --------------------------------------------------------------------------------- bits/dim
def test_bits_per_dim_of_uniform_model_is_eight():
    """A model uniform on the pixel cube [0, 1)^D has density -log|dy/dv| in y-space."""
    split = image_split(_id_images(20), seed=0)
    y = split.test  # (B, T, d)
    log_prob_y = -log_jacobian(y).sum(-1)  # (B, T)
    assert bits_per_dim(log_prob_y, y, split.info) == pytest.approx(8.0, abs=1e-9)


def test_bits_per_dim_matches_float64_reference():
    """Standard normal in y-space; the Jacobian comes from autograd of v -> y in float64."""
    split = image_split(_id_images(30, height=4, width=3), seed=2)
    y = split.train.double()  # (B, T, d)
    log_prob_y = torch.distributions.Normal(0.0, 1.0).log_prob(y).sum(-1)  # (B, T)
    lam = LOGIT_LAMBDA
    v = ((torch.sigmoid(y) - lam) / (1 - 2 * lam)).requires_grad_(True)
    (dy_dv,) = torch.autograd.grad(torch.logit(lam + (1 - 2 * lam) * v).sum(), v)
    log_p_v = log_prob_y.sum() + dy_dv.log().sum()
    pixels = y.numel()
    expected = (-log_p_v.item() + pixels * math.log(256)) / (pixels * math.log(2))
    got = bits_per_dim(log_prob_y.float(), split.train, split.info)
    assert got == pytest.approx(expected, abs=1e-5)
    assert 8.0 < got < 20.0  # a poor model costs more than the 8 raw bits


def test_bits_per_dim_checks_shapes_and_info():
    split = image_split(_id_images(10), seed=0)
    y = split.test
    with pytest.raises(ValueError, match="shape"):
        bits_per_dim(torch.zeros(y.shape[0]), y, split.info)
    with pytest.raises(ValueError, match="images"):
        bits_per_dim(torch.zeros(y.shape[:2]), y, {"kind": "toy"})


# --------------------------------------------------------------------------------- reading
def test_read_npz_and_npy(tmp_path):
    images = _id_images(12)
    np.savez_compressed(tmp_path / "named.npz", labels=np.arange(12), images=images)
    np.savez(tmp_path / "single.npz", anything=images)
    np.save(tmp_path / "plain.npy", images)
    for name in ("named.npz", "single.npz", "plain.npy"):
        assert np.array_equal(read_images(tmp_path / name), images)
    np.savez(tmp_path / "two.npz", a=images, b=images)
    with pytest.raises(ImageDataError, match="several arrays"):
        read_images(tmp_path / "two.npz")


def test_read_converts_floats_ints_and_channels_with_notes(tmp_path):
    images = _id_images(6)
    np.save(tmp_path / "float.npy", images / 255.0)
    notes = []
    assert np.array_equal(read_images(tmp_path / "float.npy", notes=notes), images)
    assert any("[0, 1]" in note for note in notes)
    np.save(tmp_path / "int.npy", images.astype(np.int64))
    notes = []
    assert np.array_equal(read_images(tmp_path / "int.npy", notes=notes), images)
    assert notes == ["converted int64 pixels to uint8"]
    np.save(tmp_path / "rgb.npy", np.repeat(images[..., None], 3, axis=-1))
    notes = []
    grey = read_images(tmp_path / "rgb.npy", notes=notes)
    assert np.abs(grey.astype(int) - images).max() <= 1 and "greyscale" in notes[0]


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.zeros((0, 28, 28), dtype=np.uint8), "no images"),
        (np.zeros((28, 28), dtype=np.uint8), "one image"),
        (np.zeros((2, 3, 4, 5, 6), dtype=np.uint8), "shape"),
        (np.full((3, 8, 8), 300, dtype=np.uint16), "0-255"),
        (np.full((3, 8, 8), 2.5), "float pixels"),
        (np.full((3, 8, 8), np.nan), "NaN"),
        (np.zeros((3, 8, 8), dtype=bool), "dtype bool"),
        (np.zeros((3, 8, 8), dtype=np.complex64), "dtype complex64"),
        (np.zeros((2, 200, 100), dtype=np.uint8), "at most 128"),
        (np.zeros((2, 1, 8), dtype=np.uint8), "at least 2"),
    ],
)
def test_read_refuses_bad_arrays(tmp_path, array, match):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ImageDataError, match=match):
        read_images(tmp_path / "bad.npy")


def test_read_trims_too_many_images(tmp_path):
    np.save(tmp_path / "many.npy", np.zeros((MAX_IMAGES + 5, 2, 2), dtype=np.uint8))
    notes = []
    assert len(read_images(tmp_path / "many.npy", notes=notes)) == MAX_IMAGES
    assert notes == [f"trimmed to the first {MAX_IMAGES} of {MAX_IMAGES + 5} images"]


def test_read_never_unpickles(tmp_path):
    evidence = tmp_path / "unpickled.txt"
    objects = np.empty(2, dtype=object)
    objects[:] = [_Evil(str(evidence)), _Evil(str(evidence))]
    np.save(tmp_path / "objects.npy", objects, allow_pickle=True)
    np.savez(tmp_path / "objects.npz", images=objects)
    with open(tmp_path / "raw.npy", "wb") as file:
        pickle.dump(_Evil(str(evidence)), file)
    for name in ("objects.npy", "objects.npz", "raw.npy"):
        with pytest.raises(ImageDataError):
            read_images(tmp_path / name)
    assert not evidence.exists()
    with pytest.raises(ImageDataError, match="pickle"):
        read_images(tmp_path / "objects.npy")


def test_read_refuses_bad_files(tmp_path):
    with pytest.raises(ImageDataError, match="no such"):
        read_images(tmp_path / "missing.npz")
    (tmp_path / "empty.npz").write_bytes(b"")
    with pytest.raises(ImageDataError, match="empty"):
        read_images(tmp_path / "empty.npz")
    (tmp_path / "noise.npz").write_bytes(np.random.default_rng(0).bytes(500))
    with pytest.raises(ImageDataError, match="not a numpy"):
        read_images(tmp_path / "noise.npz")
    (tmp_path / "broken.npz").write_bytes(b"PK\x03\x04" + np.random.default_rng(0).bytes(500))
    with pytest.raises(ImageDataError, match="not a readable numpy file"):
        read_images(tmp_path / "broken.npz")
    np.save(tmp_path / "cut.npy", np.zeros((100, 8, 8), dtype=np.uint8))
    (tmp_path / "cut.npy").write_bytes((tmp_path / "cut.npy").read_bytes()[:300])
    with pytest.raises(ImageDataError, match="not a readable numpy file"):
        read_images(tmp_path / "cut.npy")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ImageDataError, match="not supported"):
        read_images(tmp_path / "notes.txt")


def test_read_png_folder(tmp_path):
    images = _id_images(4, height=10, width=12)
    for i, image in enumerate(images):
        PIL.fromarray(image).save(tmp_path / f"{i}.png")
    PIL.fromarray(np.zeros((20, 12, 3), dtype=np.uint8)).convert("RGB").save(tmp_path / "4.jpg")
    (tmp_path / "readme.txt").write_text("ignored")
    notes = []
    got = read_images(tmp_path, notes=notes)
    assert got.shape == (5, 10, 12) and got.dtype == np.uint8
    assert np.array_equal(got[:4], images)
    assert notes == ["centre-cropped and resized 1 of 5 images to the first image's 12×10"]
    split = load_image_data(str(tmp_path), n_valid=1, n_test=1)
    assert split.train.shape == (3, 10, 12) and split.info["notes"] == notes
    assert split.info["source"] == str(tmp_path)


def test_read_png_folder_errors(tmp_path):
    with pytest.raises(ImageDataError, match="holds no"):
        read_images(tmp_path)
    PIL.fromarray(np.zeros((200, 150), dtype=np.uint8)).save(tmp_path / "big.png")
    with pytest.raises(ImageDataError, match="at most 128"):
        read_images(tmp_path)
    (tmp_path / "big.png").unlink()
    PIL.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(b"not a png at all")
    with pytest.raises(ImageDataError, match=r"b\.png is not a readable image"):
        read_images(tmp_path)


def test_rows_in_context_put_each_drawn_row_under_the_real_rows_above_it():
    image = np.arange(12, dtype=np.uint8).reshape(4, 3) + 1
    drawn = np.array([[100, 101, 102], [200, 201, 202]], dtype=np.uint8)
    out = views.rows_in_context(image, 2, drawn)
    assert out.shape == (2, 4, 3) and out.dtype == np.uint8
    for i in range(2):
        np.testing.assert_array_equal(out[i, :2], image[:2])
        np.testing.assert_array_equal(out[i, 2], drawn[i])
        assert not out[i, 3:].any()
    with pytest.raises(ValueError, match="row must be"):
        views.rows_in_context(image, 4, drawn)
    with pytest.raises(ValueError, match="rows"):
        views.rows_in_context(image, 1, drawn[:, :2])

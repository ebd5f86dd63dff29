"""Tests of frmdn.resources: where the bundled data is, and how loaders find it."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from frmdn import resources
from frmdn.data import load_data
from frmdn.data.images import load_digits_array

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory outside the checkout, with no FRMDN_DATA_DIR."""
    monkeypatch.delenv(resources.DATA_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def own_data(tmp_path: Path) -> Path:
    """A data folder of one's own: 10 digits, all sevens."""
    folder = tmp_path / "mine"
    (folder / "digits").mkdir(parents=True)
    images = np.full((10, 28, 28), 7, dtype=np.uint8)
    np.savez(folder / "digits" / "mnist_5k.npz", images=images, labels=np.full(10, 7, np.uint8))
    return folder


def test_the_checkout_assets_are_found_from_anywhere(elsewhere: Path) -> None:
    assert resources.data_dir() == ROOT / "assets"
    assert resources.pretrained_dir() == ROOT / "assets" / "pretrained"
    # Paths written in the repository and their short forms resolve from any directory.
    assert resources.resolve("assets/speech") == ROOT / "assets" / "speech"
    assert resources.resolve("speech") == ROOT / "assets" / "speech"
    # Missing everywhere, absolute, or present here: the path as given.
    assert resources.resolve("assets/nothing") == Path("assets/nothing")
    assert resources.resolve(elsewhere) == elsewhere
    (elsewhere / "speech").mkdir()
    assert resources.resolve("speech") == Path("speech")


def test_the_argument_beats_the_variable_which_beats_the_installed_copy(
    elsewhere: Path, own_data: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = elsewhere / "other"
    other.mkdir()
    monkeypatch.setenv(resources.DATA_DIR_ENV, str(own_data))
    assert resources.data_dir() == own_data
    assert resources.data_dir(other) == other
    assert resources.resolve("digits") == own_data / "digits"
    assert resources.resolve("assets/digits", data_dir=ROOT / "assets") == ROOT / "assets/digits"
    images, labels = load_digits_array()
    assert images.shape == (10, 28, 28) and set(labels) == {7}


def test_load_data_passes_data_dir_to_the_loaders_that_read_bundled_data(
    elsewhere: Path, own_data: Path
) -> None:
    split = load_data("images:digits", data_dir=own_data, n_valid=2, n_test=2)
    assert split.info["n_images"] == 10
    # A scheme without bundled data ignores it.
    assert load_data("toy:ring", data_dir=own_data, n_train=2, n_valid=1, n_test=1, length=3)


def test_a_data_dir_that_is_not_a_folder_is_an_error(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(FileNotFoundError, match="data_dir="):
        resources.data_dir(elsewhere / "missing")
    monkeypatch.setenv(resources.DATA_DIR_ENV, str(elsewhere / "missing"))
    with pytest.raises(FileNotFoundError, match=resources.DATA_DIR_ENV):
        resources.resolve("speech")


def test_without_any_copy_of_the_data_the_error_says_what_to_set(
    elsewhere: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(resources, "_installed", lambda: None)
    monkeypatch.setattr(resources, "_checkout", lambda: None)
    with pytest.raises(FileNotFoundError, match=resources.DATA_DIR_ENV):
        resources.data_dir()
    assert resources.resolve("speech") == Path("speech")  # then "no such file" from the loader


def test_an_installed_copy_wins_over_the_checkout(
    elsewhere: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "site-packages" / "frmdn"
    shutil.copytree(ROOT / "assets" / "digits", package / "assets" / "digits")
    monkeypatch.setattr(resources.resources, "files", lambda name: package)
    assert resources.data_dir() == package / "assets"
    assert resources.resolve("assets/digits") == package / "assets" / "digits"

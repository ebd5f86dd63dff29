"""Where the bundled data sets and pretrained models are: one lookup for the whole library.

The bundled files are 5,000 MNIST digits (``digits/``), speech clips (``speech/``) and
pretrained checkpoints (``pretrained/``). :func:`data_dir` returns the folder holding them,
the first of:

1. an explicit ``data_dir`` argument (``load_data("images:digits", data_dir=...)``);
2. the folder named by the environment variable ``FRMDN_DATA_DIR``;
3. the copy installed with the package, ``frmdn/assets`` (``pip install frmdn``);
4. the ``assets/`` folder of a source checkout (an editable install, ``pip install -e .``).

A relative path that is missing from the working directory is then looked up in that folder
by :func:`resolve`, so ``audio:assets/speech`` (or ``audio:speech``) works from anywhere.

Example:
    >>> (data_dir() / "digits" / "mnist_5k.npz").is_file()
    True
    >>> resolve("pretrained/toy-ring-frmdn") == pretrained_dir() / "toy-ring-frmdn"
    True
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

__all__ = ["DATA_DIR_ENV", "data_dir", "pretrained_dir", "resolve"]

DATA_DIR_ENV = "FRMDN_DATA_DIR"
"""The environment variable naming the bundled-data folder (holding ``digits/``, ...)."""

_PREFIX = "assets"
"""The folder's name in a source checkout, as written in specs (``audio:assets/speech``)."""


def _explicit(path: str | os.PathLike | None) -> Path | None:
    """The folder given as an argument or in ``FRMDN_DATA_DIR``; None if neither is set."""
    if path is not None and str(path):
        chosen, origin = Path(path).expanduser(), "data_dir"
    elif os.environ.get(DATA_DIR_ENV):
        chosen, origin = Path(os.environ[DATA_DIR_ENV]).expanduser(), DATA_DIR_ENV
    else:
        return None
    if not chosen.is_dir():
        raise FileNotFoundError(f"{origin}={str(chosen)!r} is not a folder")
    return chosen


def _installed() -> Path | None:
    """The package data of an installed wheel, ``frmdn/assets``, if present."""
    root = resources.files(__package__ or "frmdn") / _PREFIX
    return root if isinstance(root, Path) and root.is_dir() else None


def _checkout() -> Path | None:
    """The ``assets/`` folder of the source checkout this package runs from, if it is one."""
    root = Path(__file__).resolve().parents[1]
    assets = root / _PREFIX
    return assets if (root / "pyproject.toml").is_file() and assets.is_dir() else None


def data_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder of the bundled data: ``path`` > ``$FRMDN_DATA_DIR`` > package data > checkout.

    Arguments:
        path: An explicit folder (wins over everything else); None for the usual lookup.

    Raises:
        FileNotFoundError: ``path`` or ``$FRMDN_DATA_DIR`` is not a folder, or neither is set
            and no bundled data is installed.
    """
    found = _explicit(path) or _installed() or _checkout()
    if found is None:
        raise FileNotFoundError(
            "the bundled data of frmdn is not installed (no frmdn/assets in the package, no "
            f"assets/ of a source checkout): set {DATA_DIR_ENV} or pass data_dir= to a folder "
            "holding digits/, speech/ and pretrained/"
        )
    return found


def pretrained_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder of the bundled checkpoints (``toy-ring-frmdn``, ``vae-moving-digits``, ...).

    Example:
        >>> import frmdn
        >>> frmdn.load(pretrained_dir() / "toy-ring-frmdn").config.dim
        2
    """
    return data_dir(path) / "pretrained"


def resolve(path: str | os.PathLike, data_dir: str | os.PathLike | None = None) -> Path:
    """``path``; if relative and missing from the working directory, the same in the data folder.

    A leading ``assets/`` is dropped in the data folder, so paths written in a source checkout
    (``audio:assets/speech``, a checkpoint's ``assets/pretrained/vae-moving-digits``) work
    from anywhere, as do the short forms (``speech``, ``pretrained/vae-moving-digits``).
    ``path`` itself comes back when the data folder does not have it either.

    Arguments:
        path: A file or folder.
        data_dir: The data folder (see :func:`data_dir`; None for the usual lookup).

    Raises:
        FileNotFoundError: An explicit ``data_dir`` or ``$FRMDN_DATA_DIR`` is not a folder.
    """
    candidate = Path(path).expanduser()
    if candidate.is_absolute() or candidate.exists():
        return candidate
    parts = candidate.parts[1:] if candidate.parts[:1] == (_PREFIX,) else candidate.parts
    root = _explicit(data_dir) or _installed() or _checkout()
    if root is None or not parts:
        return candidate
    inside = root.joinpath(*parts)
    return inside if inside.exists() else candidate

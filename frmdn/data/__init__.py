"""Data sets as train/valid/test sequence splits, named by specs such as ``toy:ring``.

A spec is ``scheme:argument`` with optional ``?key=value&...`` options passed to the scheme's
loader, e.g. ``toy:ring?noise=0.1&length=16`` or ``audio:assets/speech?frame=80``. Bundled data
(``images:digits``, ``audio:assets/speech``, the VAEs of ``frames:``) comes from the
bundled-data folder: ``data_dir=``, else ``$FRMDN_DATA_DIR``, else the installed copy (see
:mod:`frmdn.resources`).
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from urllib.parse import parse_qsl

from frmdn.data.errors import DataError
from frmdn.data.images import load_image_data
from frmdn.data.splits import SequenceSplit, dequantize
from frmdn.data.toy import TOY_NAMES, load_toy

__all__ = ["SCHEMES", "DataError", "SequenceSplit", "dequantize", "load_data", "parse_spec"]


def _audio_loader() -> Callable[..., SequenceSplit]:
    from frmdn.data.audio import load_audio_data  # librosa is slow to import: only when asked

    return load_audio_data


def _frames_loader() -> Callable[..., SequenceSplit]:
    from frmdn.data.world_latents import load_frame_spec  # torch VAE code: only when asked

    return load_frame_spec


SCHEMES: dict[str, tuple[Callable[[], Callable[..., SequenceSplit]], str]] = {
    "toy": (lambda: load_toy, "toy:NAME with NAME in " + ", ".join(TOY_NAMES)),
    "audio": (_audio_loader, "audio:PATH to a sound file or a folder of them"),
    "images": (
        lambda: load_image_data,
        "images:digits (5,000 bundled MNIST digits) or images:PATH (.npz/.npy N×H×W uint8, "
        "or a folder of PNG/JPEG files)",
    ),
    "frames": (
        _frames_loader,
        "frames:moving-digits, frames:bouncing-balls, frames:PATH to a video, "
        "frames:car-racing or frames:doom-take-cover (World Models rollouts with their "
        "actions; options seed, rollouts, length) or frames:PATH.npz (your recording)",
    ),
    "video": (_frames_loader, "video:PATH to a video clip (the same as frames:PATH)"),
}
"""The spec schemes: a function returning the scheme's loader, and a usage hint."""


def _value(text: str) -> int | float | str:
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_spec(spec: str) -> tuple[str, str, dict[str, int | float | str]]:
    """Split ``scheme:argument?key=value&...`` into (scheme, argument, options).

    Example:
        >>> parse_spec("toy:ring?noise=0.1&length=16")
        ('toy', 'ring', {'noise': 0.1, 'length': 16})
    """
    scheme, sep, rest = spec.partition(":")
    argument, _, query = rest.partition("?")
    if not sep or not argument:
        raise ValueError(f"data spec {spec!r} must look like scheme:argument, e.g. toy:ring")
    try:
        pairs = parse_qsl(query, keep_blank_values=False, strict_parsing=bool(query))
    except ValueError:
        raise ValueError(f"options in {spec!r} must look like ?key=value&key=value") from None
    return scheme, argument, {key: _value(value) for key, value in pairs}


def load_data(
    spec: str, *, seed: int = 0, data_dir: str | os.PathLike | None = None, **options: object
) -> SequenceSplit:
    """The data set named by ``spec``, split into train/valid/test.

    Options in the spec and keyword ``options`` (which win) go to the scheme's loader.
    ``data_dir`` is the bundled-data folder (default: ``$FRMDN_DATA_DIR``, else the installed
    copy; see :func:`frmdn.resources.data_dir`), for the schemes that read bundled data.
    Raises ValueError with the valid choices for an unknown scheme, name or option.

    Example:
        >>> load_data("toy:ring", n_train=8, n_valid=4, n_test=4, length=5).train.shape
        torch.Size([8, 5, 2])
    """
    scheme, argument, spec_options = parse_spec(spec)
    if scheme not in SCHEMES:
        hints = "; ".join(hint for _, hint in SCHEMES.values())
        raise ValueError(f"unknown data scheme {scheme!r}; use {hints}")
    loader = SCHEMES[scheme][0]()
    options = spec_options | options
    allowed = [
        name
        for name, p in inspect.signature(loader).parameters.items()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and name != "seed"
    ]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for {scheme} data; use {allowed}")
    if data_dir is not None and "data_dir" in allowed:
        options["data_dir"] = data_dir
    return loader(argument, seed=seed, **options)

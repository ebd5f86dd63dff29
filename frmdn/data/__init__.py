"""Data sets as train/valid/test sequence splits, named by specs such as ``toy:ring``."""

from __future__ import annotations

from frmdn.data.splits import SequenceSplit, dequantize
from frmdn.data.toy import TOY_NAMES, load_toy

__all__ = ["SCHEMES", "SequenceSplit", "dequantize", "load_data"]

SCHEMES = {"toy": "toy:NAME with NAME in " + ", ".join(TOY_NAMES)}
"""The data spec schemes this version understands, with a usage hint each."""


def load_data(spec: str, *, seed: int = 0, **options: object) -> SequenceSplit:
    """The data set named by ``spec`` (``scheme:argument``), split into train/valid/test.

    Extra keyword ``options`` go to the scheme's loader (e.g. ``length`` and ``noise`` for toy
    sets). Raises ValueError with the valid choices for an unknown scheme or name.

    Example:
        >>> load_data("toy:ring", n_train=8, n_valid=4, n_test=4, length=5).train.shape
        torch.Size([8, 5, 2])
    """
    scheme, sep, argument = spec.partition(":")
    if not sep or not argument:
        raise ValueError(f"data spec {spec!r} must look like scheme:argument, e.g. toy:ring")
    if scheme == "toy":
        return load_toy(argument, seed=seed, **options)
    hints = "; ".join(SCHEMES.values())
    raise ValueError(f"unknown data scheme {scheme!r}; use {hints}")

"""Train/valid/test sequence splits and dequantisation of integer-valued data."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["SequenceSplit", "dequantize"]


@dataclass(frozen=True)
class SequenceSplit:
    """Train/valid/test sequences of one data set, as float32 tensors (N, T, d).

    Arguments:
        train: Training sequences, shape (N_train, T, d).
        valid: Validation sequences, shape (N_valid, T, d).
        test: Test sequences, shape (N_test, T, d).
        name: Short name of the data set, e.g. ``"ring"``.
        info: Free-form description, e.g. ``{"kind": "toy", "clustered": False}``.
    """

    train: Tensor
    valid: Tensor
    test: Tensor
    name: str
    info: dict

    def __post_init__(self) -> None:
        parts = {"train": self.train, "valid": self.valid, "test": self.test}
        for part, x in parts.items():
            if x.dim() != 3:
                raise ValueError(f"{part} must have shape (N, T, d), got {tuple(x.shape)}")
            if x.shape[-1] != self.train.shape[-1]:
                raise ValueError(
                    f"{part} has dimension {x.shape[-1]} but train has {self.train.shape[-1]}"
                )

    @property
    def dim(self) -> int:
        """The dimension d of one observation."""
        return self.train.shape[-1]


def dequantize(values: Tensor, levels: int, generator: torch.Generator | None = None) -> Tensor:
    r"""Turns integer data in :math:`\{0, \dots, L-1\}` into continuous data on :math:`[0, 1)`.

    Returns :math:`(x + u) / L` with :math:`u \sim \mathcal{U}(0, 1)` independently per entry.
    A continuous density fitted to discrete values can put unbounded mass on the atoms, so its
    likelihood is meaningless. Uniform dequantisation fixes this: the NLL of the dequantised
    data upper-bounds the discrete NLL of the original values, after subtracting
    :math:`\log L` nats per dimension to undo the rescaling by :math:`1 / L`.

    Arguments:
        values: Integer-valued tensor (any shape, integer or float dtype) with entries in
            ``0, ..., levels - 1``.
        levels: The number of discrete levels :math:`L \geq 1`.
        generator: Optional random generator, on the same device as ``values``.

    Returns:
        A float32 tensor of the same shape as ``values``, with entries in :math:`[0, 1)`.
    """
    if levels < 1:
        raise ValueError(f"levels must be at least 1, got {levels}")
    if values.is_floating_point():
        if not bool(torch.isfinite(values).all()):
            raise ValueError("values must be finite integers, got NaN or infinite entries")
        if not bool((values == values.round()).all()):
            raise ValueError("values must be integer-valued, got non-integer entries")
    elif values.is_complex() or values.dtype == torch.bool:
        raise ValueError(f"values must be integer-valued numbers, got dtype {values.dtype}")
    if values.numel() > 0:
        low, high = values.min().item(), values.max().item()
        if low < 0 or high > levels - 1:
            raise ValueError(
                f"values must lie in 0..{levels - 1} for levels={levels}, "
                f"got range [{low:g}, {high:g}]"
            )
    noise = torch.rand(
        values.shape, generator=generator, dtype=torch.float32, device=values.device
    )
    out = (values.to(torch.float32) + noise) / levels
    # Float32 rounding can give exactly 1 for the top level; keep the interval half-open.
    return out.clamp(max=1.0 - torch.finfo(torch.float32).eps / 2)

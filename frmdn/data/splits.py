"""Train/valid/test sequence splits and dequantisation of integer-valued data."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["SequenceSplit", "dequantize"]


@dataclass(frozen=True)
class SequenceSplit:
    """Train/valid/test sequences of one data set, as float32 tensors (N, T, d), with
    optional conditioning inputs x (N, T, c) per part, e.g. the actions of World Models
    rollouts (x_t is known when y_t is predicted).

    Arguments:
        train: Training sequences, shape (N_train, T, d).
        valid: Validation sequences, shape (N_valid, T, d).
        test: Test sequences, shape (N_test, T, d).
        name: Short name of the data set, e.g. ``"ring"``.
        info: Free-form description, e.g. ``{"kind": "toy", "clustered": False}``.
        train_x: Conditioning inputs of the training sequences (N_train, T, c), or None.
        valid_x: Those of the validation sequences, or None.
        test_x: Those of the test sequences, or None.
    """

    train: Tensor
    valid: Tensor
    test: Tensor
    name: str
    info: dict
    train_x: Tensor | None = None
    valid_x: Tensor | None = None
    test_x: Tensor | None = None

    def __post_init__(self) -> None:
        parts = {"train": self.train, "valid": self.valid, "test": self.test}
        for part, x in parts.items():
            if x.dim() != 3:
                raise ValueError(f"{part} must have shape (N, T, d), got {tuple(x.shape)}")
            if x.shape[-1] != self.train.shape[-1]:
                raise ValueError(
                    f"{part} has dimension {x.shape[-1]} but train has {self.train.shape[-1]}"
                )
        inputs = {"train": self.train_x, "valid": self.valid_x, "test": self.test_x}
        if any(x is None for x in inputs.values()) != all(x is None for x in inputs.values()):
            raise ValueError("conditioning inputs must be given for all three parts or none")
        for part, x in inputs.items():
            if x is None:
                continue
            if x.dim() != 3 or x.shape[:2] != parts[part].shape[:2]:
                raise ValueError(
                    f"{part}_x must have shape (N, T, c) with {part}'s (N, T) = "
                    f"{tuple(parts[part].shape[:2])}, got {tuple(x.shape)}"
                )
            if x.shape[-1] != inputs["train"].shape[-1]:
                raise ValueError(f"{part}_x has {x.shape[-1]} inputs but train_x has others")

    @property
    def dim(self) -> int:
        """The dimension d of one observation."""
        return self.train.shape[-1]

    @property
    def cond_dim(self) -> int:
        """The number c of conditioning inputs per step (0 without any)."""
        return 0 if self.train_x is None else self.train_x.shape[-1]

    def part(self, name: str) -> Tensor | tuple[Tensor, Tensor]:
        """The sequences of part ``name`` (``"train"``, ``"valid"`` or ``"test"``) as the
        trainer takes them: y (N, T, d), or (y, x) when the data has conditioning inputs."""
        y, x = getattr(self, name), getattr(self, f"{name}_x")
        return y if x is None else (y, x)


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

"""The logit transform of dequantised 8-bit pixels (see :mod:`frmdn.data.images`), its
inverse :func:`to_pixels`, and :func:`bits_per_dim` from a model's log-densities."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = ["LEVELS", "LOGIT_LAMBDA", "bits_per_dim", "log_jacobian", "to_pixels"]

LOGIT_LAMBDA = 0.05
r"""The :math:`\lambda` of the logit transform (RealNVP's choice for MNIST-like data)."""

LEVELS = 256
"""Grey levels of 8-bit images."""


def _logit_lambda(info: dict) -> tuple[float, int]:
    if info.get("kind") != "images":
        raise ValueError(f"expected the info of an image split (kind 'images'), got {info!r}")
    return float(info["logit_lambda"]), int(info["levels"])


def to_pixels(y: Tensor | np.ndarray, *, logit_lambda: float = LOGIT_LAMBDA) -> np.ndarray:
    r"""Logit-space values back to 8-bit pixels: :math:`k = \lfloor 256 v \rfloor`, clipped.

    Inverts :math:`y = \operatorname{logit}(\lambda + (1 - 2\lambda) v)` for any shape, e.g.
    model samples (B, T, d) -> images (B, H, W). Values outside the data's range (possible for
    samples) are clipped to 0-255; NaN becomes 0. Dequantised pixels near the edge of a grey
    level may come back one level off through float32 rounding.

    Example:
        >>> to_pixels(torch.tensor([-10.0, 0.0, 10.0]))
        array([  0, 128, 255], dtype=uint8)
    """
    if isinstance(y, Tensor):
        y = y.detach().cpu().numpy()
    y = np.nan_to_num(np.asarray(y, dtype=np.float64), nan=-np.inf)
    s = 1.0 / (1.0 + np.exp(-y))
    v = (s - logit_lambda) / (1.0 - 2.0 * logit_lambda)
    return np.clip(np.floor(v * LEVELS), 0, LEVELS - 1).astype(np.uint8)


def log_jacobian(y: Tensor, *, logit_lambda: float = LOGIT_LAMBDA) -> Tensor:
    r""":math:`\log \lvert \partial y / \partial v \rvert` per entry of y, same shape, float64."""
    y = y.detach().double()
    softplus = torch.nn.functional.softplus
    return math.log1p(-2.0 * logit_lambda) + softplus(y) + softplus(-y)


def bits_per_dim(log_prob_y: Tensor, y: Tensor, info: dict) -> float:
    r"""Bits per pixel of the 8-bit images from a model's log-densities in logit space.

    For sequences y (B, T, d) of an image split and the model's per-row log-densities
    :math:`\log p(y_t \mid y_{<t})` (B, T) in nats,

    .. math:: \text{bpd} = \frac{1}{D \log 2} \Big( -\sum \log p_Y(y) - \sum_{i}
              \log \frac{\partial y_i}{\partial v_i} \Big) + \log_2 256,

    summed over the batch with :math:`D = B T d` pixels. It upper-bounds (in expectation over
    the dequantisation noise) the model's discrete code length of the 8-bit pixels, the number
    reported as bits/dim for MNIST (RealNVP, PixelCNN).

    Arguments:
        log_prob_y: Log-densities of each row in y-space, shape (B, T).
        y: The scored sequences, shape (B, T, d), as in the split (a tensor, or a streamed
            split's :class:`~frmdn.data.stream.DiskSequences`).
        info: The split's ``info`` (for ``logit_lambda`` and ``levels``).

    Returns:
        The mean bits per pixel, a float.
    """
    lam, levels = _logit_lambda(info)
    if y.dim() != 3 or tuple(log_prob_y.shape) != tuple(y.shape[:2]):
        raise ValueError(
            f"log_prob_y must have shape (B, T) and y (B, T, d), got {tuple(log_prob_y.shape)} "
            f"and {tuple(y.shape)}"
        )
    pixels = math.prod(y.shape)
    if pixels == 0:
        raise ValueError("y holds no pixels")
    if isinstance(y, Tensor):
        jacobian = log_jacobian(y, logit_lambda=lam).sum()
    else:  # sequences read from disk (a streamed split), a chunk at a time
        chunks = (y[i : i + 256] for i in range(0, len(y), 256))
        jacobian = sum(log_jacobian(c, logit_lambda=lam).sum() for c in chunks)
    log_p_v = log_prob_y.detach().double().sum() + jacobian
    return float(-log_p_v / (pixels * math.log(2.0)) + math.log2(levels))


def _logit(v: Tensor) -> Tensor:
    """Dequantised pixels v in [0, 1) to the model's logit space (see :mod:`frmdn.data.images`)."""
    return torch.logit(LOGIT_LAMBDA + (1.0 - 2.0 * LOGIT_LAMBDA) * v)

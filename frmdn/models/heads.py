"""Mixture heads: how the LSTM's linear head output becomes each step's Gaussian mixture.

A head knows how many numbers its mixture needs per step (:attr:`out_features`), how to start
them, and how to turn them into a mixture or a single draw. :class:`LowRankHead` is the
FRMDN's precision :math:`D + UU^\\top`; :class:`FullCovarianceHead` is the full-covariance
reference. The weights themselves stay in the model's ``nn.Linear``, so checkpoints keep their
names.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions.utils import vec_to_tril_matrix

from frmdn.models.full_covariance import FullCovarianceGMM
from frmdn.models.mixture import (
    GaussianMixture,
    LowRankPrecisionGMM,
    draw_component,
    draw_gaussian,
)

if TYPE_CHECKING:
    from frmdn.models.config import ModelConfig

__all__ = [
    "COVARIANCES",
    "PRECISION_FACTORS",
    "FullCovarianceHead",
    "LowRankHead",
    "MixtureHead",
    "mixture_head",
]

COVARIANCES = ("low-rank", "full")
"""The covariance kinds a :class:`~frmdn.models.config.ModelConfig` may name."""

PRECISION_FACTORS = ("absolute", "relative")
"""How the low-rank head makes the factor U from its output V: ``"absolute"``, U = V (the
paper's), or ``"relative"``, :math:`U = D^{1/2} V` (the factor measured against the
diagonal)."""


def _bounded(raw: Tensor, low: float, high: float) -> Tensor:
    """``raw`` mapped smoothly and monotonically into (low, high): softplus, then saturated."""
    excess = F.softplus(raw)
    room = high - low
    return low + excess / (1 + excess / room)


def _bounded_inverse(value: float, low: float, high: float) -> float:
    """The raw input that :func:`_bounded` maps to ``value``."""
    room = high - low
    excess = (value - low) / (1 - (value - low) / room)
    return math.log(math.expm1(excess))


class MixtureHead:
    """Per-step mixture parameters from the head's output (*, out_features)."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config

    @property
    def out_features(self) -> int:
        raise NotImplementedError

    def initialize(self, linear: nn.Linear) -> None:
        """Small weights; biases that spread the means and start unit (co)variances."""
        K, d = self.config.n_components, self.config.dim
        nn.init.normal_(linear.weight, std=0.01)
        with torch.no_grad():
            bias = linear.bias
            bias.zero_()
            bias[K : K + K * d] = torch.randn(K * d)  # loc
            self._start_spread(bias[K + K * d :])

    def _start_spread(self, raw: Tensor) -> None:
        """Set the raw (co)variance part of the head's bias to a unit spread, in place."""
        raise NotImplementedError

    def mixture(self, out: Tensor) -> GaussianMixture:
        """Each step's mixture, batch shape ``out.shape[:-1]``."""
        raise NotImplementedError

    def draw(self, out: Tensor, temperature: float) -> Tensor:
        """One draw z (n, d) per row of ``out`` (n, out_features) at ``temperature``."""
        return self.mixture(out).with_temperature(temperature).sample()


class LowRankHead(MixtureHead):
    r"""K weights, means, precision diagonals and rank-r factors: K(1 + d(2 + r)) numbers.

    With ``precision_factor="absolute"`` (the default, the paper's) the head's factor output V
    is U. With ``"relative"`` it is measured against the diagonal, :math:`U = D^{1/2} V`, so
    :math:`\Lambda = D^{1/2}(I + VV^\top)D^{1/2}`: V is dimensionless and tightens a direction
    by the same factor whatever the scale of D (docs/low-rank.md compares the two). The cap
    :math:`\|V\|_F^2 <` max_precision applies to V in both.
    """

    @property
    def out_features(self) -> int:
        c = self.config
        return c.n_components * (1 + c.dim * (2 + c.rank))

    def _start_spread(self, raw: Tensor) -> None:
        """Unit precision diagonals; the low-rank factors start near zero (small weights)."""
        K, d = self.config.n_components, self.config.dim
        raw[: K * d] = math.log(math.expm1(1.0))  # softplus^-1(1)

    def _split(self, out: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """logits (*, K), means (*, K, d), raw diagonals (*, K, d), raw factors (*, K, r, d)."""
        K, d, r = self.config.n_components, self.config.dim, self.config.rank
        lead = out.shape[:-1]
        logits, loc, raw_diag, raw_factor = out.split([K, K * d, K * d, K * d * r], dim=-1)
        return (
            logits,
            loc.reshape(*lead, K, d),
            raw_diag.reshape(*lead, K, d),
            raw_factor.reshape(*lead, K, r, d),
        )

    def _precision(self, raw_diag: Tensor, raw_factor: Tensor) -> tuple[Tensor, Tensor]:
        r"""Precision diagonals D (*, d) smoothly in (min, max) and factors U (*, r, d), from
        raw head outputs of the same shapes; :math:`\|V\|_F^2 <` max_precision."""
        c = self.config
        diag = _bounded(raw_diag, c.min_precision, c.max_precision)
        norm = raw_factor.square().sum((-2, -1), keepdim=True)
        factor = raw_factor * torch.rsqrt(1 + norm / c.max_precision)  # V
        if c.precision_factor == "relative":
            factor = factor * diag.sqrt().unsqueeze(-2)
        return diag, factor

    def mixture(self, out: Tensor) -> LowRankPrecisionGMM:
        logits, loc, raw_diag, raw_factor = self._split(out)
        diag, factor = self._precision(raw_diag, raw_factor)
        # factor is the transpose of a contiguous (K, r, d) block: the fast layout for the mixture
        return LowRankPrecisionGMM(logits, loc, diag, factor.mT, validate_args=False)

    def draw(self, out: Tensor, temperature: float) -> Tensor:
        """As ``mixture(out).with_temperature(temperature).sample()``, forming only the drawn
        component's precision: generation calls this every step."""
        logits, loc, raw_diag, raw_factor = self._split(out)
        component = draw_component(logits / temperature)  # (n,)
        rows = torch.arange(len(component), device=component.device)
        diag, factor = self._precision(raw_diag[rows, component], raw_factor[rows, component])
        if temperature != 1:  # covariances times the temperature
            diag, factor = diag / temperature, factor / math.sqrt(temperature)
        return draw_gaussian(loc[rows, component], diag, factor.mT)


class FullCovarianceHead(MixtureHead):
    """K weights, means and covariance Cholesky factors: K(1 + d + d(d+1)/2) numbers.

    The Cholesky diagonal lies smoothly in :math:`(1/\\sqrt{\\text{max\\_precision}},
    1/\\sqrt{\\text{min\\_precision}})`, the same bounds on the variances as the low-rank head
    puts on the precisions, so no component can collapse and run the likelihood to infinity.
    """

    @property
    def out_features(self) -> int:
        c = self.config
        return c.n_components * (1 + c.dim + c.dim * (c.dim + 1) // 2)

    @property
    def _diag_bounds(self) -> tuple[float, float]:
        c = self.config
        return 1 / math.sqrt(c.max_precision), 1 / math.sqrt(c.min_precision)

    def _start_spread(self, raw: Tensor) -> None:
        """Unit covariances: Cholesky diagonals 1, off-diagonals 0."""
        K, d = self.config.n_components, self.config.dim
        rows, cols = torch.tril_indices(d, d)
        raw.view(K, d * (d + 1) // 2)[:, rows == cols] = _bounded_inverse(1.0, *self._diag_bounds)

    def mixture(self, out: Tensor) -> FullCovarianceGMM:
        K, d = self.config.n_components, self.config.dim
        lead = out.shape[:-1]
        logits, loc, raw_tril = out.split([K, K * d, K * d * (d + 1) // 2], dim=-1)
        tril = vec_to_tril_matrix(raw_tril.reshape(*lead, K, -1))  # (*, K, d, d)
        diag = _bounded(tril.diagonal(dim1=-2, dim2=-1), *self._diag_bounds)
        scale_tril = tril.tril(-1) + torch.diag_embed(diag)
        return FullCovarianceGMM(logits, loc.reshape(*lead, K, d), scale_tril, validate_args=False)


def mixture_head(config: ModelConfig) -> MixtureHead:
    """The head for ``config.covariance``."""
    heads = {"low-rank": LowRankHead, "full": FullCovarianceHead}
    return heads[config.covariance](config)

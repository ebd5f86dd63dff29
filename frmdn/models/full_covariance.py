"""Gaussian mixtures with full covariances: the O(Kd²) reference the low-rank precision of
:class:`~frmdn.models.mixture.LowRankPrecisionGMM` saves on (the experiment grid's "full"
cells)."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal, constraints
from torch.distributions.utils import lazy_property

from frmdn.models.mixture import GaussianMixture
from frmdn.precision import at_least_float32, full_precision

__all__ = ["FullCovarianceGMM"]


class FullCovarianceGMM(GaussianMixture):
    r"""A mixture of K Gaussians with full covariances :math:`\Sigma_k = L_k L_k^\top`.

    The :math:`O(Kd^2)` reference that :class:`LowRankPrecisionGMM` saves on: each component
    carries a lower-triangular Cholesky factor :math:`L_k` (positive diagonal), and densities
    come from :class:`torch.distributions.MultivariateNormal` (triangular solves, no inverse).
    Only sensible for small d (the experiment grid uses it for d ≤ 32).

    Arguments:
        logits: Unnormalised log mixture weights, shape :math:`(*, K)`.
        loc: Component means :math:`\mu`, shape :math:`(*, K, d)`.
        scale_tril: Covariance Cholesky factors :math:`L`, shape :math:`(*, K, d, d)`.

    Example:
        >>> K, d = 3, 4
        >>> tril = torch.eye(d).expand(K, d, d)
        >>> gmm = FullCovarianceGMM(torch.zeros(K), torch.randn(K, d), tril)
        >>> gmm.sample((5,)).shape
        torch.Size([5, 4])
    """

    arg_constraints = {
        "logits": constraints.real_vector,
        "loc": constraints.independent(constraints.real, 2),
        "scale_tril": constraints.independent(constraints.lower_cholesky, 1),
    }

    def __init__(
        self, logits: Tensor, loc: Tensor, scale_tril: Tensor, validate_args: bool | None = None
    ) -> None:
        if loc.dim() < 2 or scale_tril.dim() < 3:
            raise ValueError("loc must be (..., K, d) and scale_tril (..., K, d, d)")
        K, d = loc.shape[-2:]
        if logits.shape[-1:] != (K,) or scale_tril.shape[-3:] != (K, d, d):
            raise ValueError(
                f"inconsistent shapes: logits {tuple(logits.shape)}, loc {tuple(loc.shape)}, "
                f"scale_tril {tuple(scale_tril.shape)}; expected (..., K), (..., K, d), "
                "(..., K, d, d)"
            )
        batch_shape = torch.broadcast_shapes(
            logits.shape[:-1], loc.shape[:-2], scale_tril.shape[:-3]
        )
        self.logits = at_least_float32(logits).expand(*batch_shape, K)
        self.loc = at_least_float32(loc).expand(*batch_shape, K, d)
        self.scale_tril = at_least_float32(scale_tril).expand(*batch_shape, K, d, d)
        super().__init__(batch_shape, torch.Size((d,)), validate_args=validate_args)

    @lazy_property
    def components(self) -> MultivariateNormal:
        """The K Gaussians, batch shape :math:`(*, K)`."""
        return MultivariateNormal(self.loc, scale_tril=self.scale_tril, validate_args=False)

    @full_precision
    def component_log_prob(self, z: Tensor) -> Tensor:
        """Log-density of ``z`` (shape :math:`(*, d)`) under each component, :math:`(*, K)`,
        in full precision (float32, or float64 for float64 parameters)."""
        z = z.to(self.loc.dtype)
        if self._validate_args:
            self._validate_sample(z)
        return self.components.log_prob(z.unsqueeze(-2))

    def component_covariance(self) -> Tensor:
        """Covariances :math:`L_k L_k^\top`, shape :math:`(*, K, d, d)`."""
        return self.scale_tril @ self.scale_tril.mT

    def at(self, index: object) -> FullCovarianceGMM:
        return FullCovarianceGMM(
            self.logits[index], self.loc[index], self.scale_tril[index], validate_args=False
        )

    def with_temperature(self, temperature: float) -> FullCovarianceGMM:
        """Weights sharpened (logits / τ) and every covariance times τ, as
        :meth:`LowRankPrecisionGMM.with_temperature`."""
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        return FullCovarianceGMM(
            self.logits / temperature,
            self.loc,
            self.scale_tril * math.sqrt(temperature),
            validate_args=False,
        )

    @torch.no_grad()
    def sample(self, sample_shape: torch.Size | tuple[int, ...] = torch.Size()) -> Tensor:
        """Exact samples, shape ``sample_shape + batch_shape + (d,)``."""
        mixture = MixtureSameFamily(
            Categorical(logits=self.logits, validate_args=False),
            self.components,
            validate_args=False,
        )
        return mixture.sample(torch.Size(sample_shape))

"""Gaussian mixtures whose precision matrices are diagonal plus low rank (the FRMDN's), and
what every mixture here shares (:class:`GaussianMixture`; the full-covariance reference is in
:mod:`frmdn.models.full_covariance`)."""

from __future__ import annotations

import math

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints
from torch.distributions.utils import lazy_property

from frmdn.precision import at_least_float32, full_precision

__all__ = [
    "GaussianMixture",
    "LowRankPrecisionGMM",
    "draw_component",
    "draw_gaussian",
]


class GaussianMixture(Distribution):
    """What every mixture here shares: weights from ``logits`` (*, K), means ``loc`` (*, K, d)
    and, from each subclass's :meth:`component_log_prob`, the mixture density."""

    logits: Tensor
    loc: Tensor
    support = constraints.real_vector
    has_rsample = False

    @property
    def n_components(self) -> int:
        return self.loc.shape[-2]

    @lazy_property
    def log_weights(self) -> Tensor:
        """Normalised log mixture weights :math:`\\log \\alpha`, shape :math:`(*, K)`."""
        return torch.log_softmax(self.logits, dim=-1)

    def component_log_prob(self, z: Tensor) -> Tensor:
        """Log-density of ``z`` (shape :math:`(*, d)`) under each component, :math:`(*, K)`."""
        raise NotImplementedError

    def at(self, index: object) -> GaussianMixture:
        """The mixtures at ``index`` of the batch dimensions (any tensor index: ``(0, t)``, a
        slice, or index tensors), e.g. to form :meth:`component_covariance` for a few steps
        without the d x d matrices of every step."""
        raise NotImplementedError

    @full_precision
    def log_prob(self, z: Tensor) -> Tensor:
        """Mixture log-density of ``z`` (shape :math:`(*, d)`), shape :math:`(*)`."""
        return torch.logsumexp(self.log_weights + self.component_log_prob(z), dim=-1)

    @full_precision
    def responsibilities(self, z: Tensor) -> Tensor:
        """Posterior component probabilities :math:`p(k \\mid z)`, shape :math:`(*, K)`."""
        return torch.softmax(self.log_weights + self.component_log_prob(z), dim=-1)

    @property
    def mean(self) -> Tensor:
        """Mixture mean :math:`\\sum_k \\alpha_k \\mu_k`, shape :math:`(*, d)`."""
        return (self.log_weights.exp().unsqueeze(-1) * self.loc).sum(-2)


class LowRankPrecisionGMM(GaussianMixture):
    r"""A mixture of K Gaussians whose k-th precision is diagonal plus low rank.

    .. math:: p(z) = \sum_k \alpha_k \mathcal{N}(z; \mu_k, \Lambda_k^{-1}),
        \quad \Lambda_k = \mathrm{diag}(D_k) + U_k U_k^\top

    Each component costs :math:`O(d(1 + r))` numbers instead of :math:`O(d^2)`. The log-determinant
    uses the matrix determinant lemma, :math:`\log|\Lambda| = \sum \log D + \log|C|` with the
    :math:`r \times r` capacitance :math:`C = I + U^\top D^{-1} U`, and the quadratic form is
    :math:`\sum D (z - \mu)^2 + \|U^\top (z - \mu)\|^2`: no :math:`d \times d` matrix is
    ever formed.
    ``r = 0`` is the diagonal case.

    References:
        | Flow-based Recurrent Mixture Density Networks (Razavi & Hosseini, 2020)
        | https://arxiv.org/abs/2008.02144

    Arguments:
        logits: Unnormalised log mixture weights, shape :math:`(*, K)`.
        loc: Component means :math:`\mu`, shape :math:`(*, K, d)`.
        diag: Positive precision diagonals :math:`D`, shape :math:`(*, K, d)`.
        factor: Precision factors :math:`U`, shape :math:`(*, K, d, r)` with :math:`r \geq 0`.

    Example:
        >>> K, d, r = 3, 4, 2
        >>> gmm = LowRankPrecisionGMM(torch.zeros(K), torch.randn(K, d), torch.ones(K, d),
        ...                           torch.randn(K, d, r))
        >>> gmm.sample((5,)).shape
        torch.Size([5, 4])
        >>> gmm.log_prob(torch.zeros(d)).shape
        torch.Size([])
    """

    arg_constraints = {
        "logits": constraints.real_vector,
        "loc": constraints.independent(constraints.real, 2),
        "diag": constraints.independent(constraints.positive, 2),
        "factor": constraints.independent(constraints.real, 3),
    }

    def __init__(
        self,
        logits: Tensor,
        loc: Tensor,
        diag: Tensor,
        factor: Tensor,
        validate_args: bool | None = None,
    ) -> None:
        if loc.dim() < 2 or factor.dim() < 3:
            raise ValueError("loc must be (..., K, d) and factor (..., K, d, r)")
        K, d = loc.shape[-2:]
        if logits.shape[-1:] != (K,) or diag.shape[-2:] != (K, d) or factor.shape[-3:-1] != (K, d):
            raise ValueError(
                f"inconsistent shapes: logits {tuple(logits.shape)}, loc {tuple(loc.shape)}, "
                f"diag {tuple(diag.shape)}, factor {tuple(factor.shape)}; expected (..., K), "
                "(..., K, d), (..., K, d), (..., K, d, r)"
            )
        batch_shape = torch.broadcast_shapes(
            logits.shape[:-1], loc.shape[:-2], diag.shape[:-2], factor.shape[:-3]
        )
        # parameters made under autocast (bf16) are kept in float32; float64 stays float64
        self.logits = at_least_float32(logits).expand(*batch_shape, K)
        self.loc = at_least_float32(loc).expand(*batch_shape, K, d)
        self.diag = at_least_float32(diag).expand(*batch_shape, K, d)
        self.factor = at_least_float32(factor).expand(*batch_shape, *factor.shape[-3:])
        super().__init__(batch_shape, torch.Size((d,)), validate_args=validate_args)

    @property
    def rank(self) -> int:
        return self.factor.shape[-1]

    @lazy_property
    def capacitance_tril(self) -> Tensor:
        """Cholesky factor of :math:`C = I + U^T D^{-1} U`, shape :math:`(*, K, r, r)`."""
        with torch.autocast(self.loc.device.type, enabled=False):
            scaled = self.factor.transpose(-1, -2) / self.diag.unsqueeze(-2)  # (*, K, r, d)
            eye = torch.eye(self.rank, dtype=scaled.dtype, device=scaled.device)
            return torch.linalg.cholesky(scaled @ self.factor + eye)  # (*, K, r, r)

    @full_precision
    def component_log_prob(self, z: Tensor) -> Tensor:
        """Log-density of ``z`` (shape :math:`(*, d)`) under each component, :math:`(*, K)`.

        Always in full precision (float32, or float64 for float64 parameters), also inside an
        autocast region: the log-determinant and quadratic form lose nats in bf16.
        """
        z = z.to(self.loc.dtype)
        if self._validate_args:
            self._validate_sample(z)
        delta = z.unsqueeze(-2) - self.loc  # (*, K, d)
        d = self.event_shape[0]
        if self.rank == 0:
            log_det = self.diag.log().sum(-1)  # (*, K)
            half_log_density = 0.5 * (log_det - (self.diag * delta.square()).sum(-1))
        else:
            shape = delta.shape[:-1]  # (*, K), z may carry extra leading dims
            diag = self.diag.expand(*shape, d).reshape(-1, d)
            factor = self.factor.expand(*shape, d, self.rank).reshape(-1, d, self.rank)
            half_log_density = _LowRankGaussian.apply(delta.reshape(-1, d), diag, factor)
            half_log_density = half_log_density.reshape(shape)
        return half_log_density - 0.5 * d * math.log(2 * math.pi)

    def component_covariance(self) -> Tensor:
        """Explicit covariances :math:`\\Lambda_k^{-1}`, shape :math:`(*, K, d, d)`.

        By Woodbury, :math:`\\Lambda^{-1} = D^{-1} - D^{-1} U C^{-1} U^T D^{-1}`. This forms
        :math:`d \\times d` matrices, so it is for plotting ellipses and tests, not for training.
        """
        inv_diag = self.diag.reciprocal()  # (*, K, d)
        covariance = torch.diag_embed(inv_diag)
        if self.rank > 0:
            scaled = self.factor * inv_diag.unsqueeze(-1)  # (*, K, d, r) = D^-1 U
            half = torch.linalg.solve_triangular(
                self.capacitance_tril, scaled.transpose(-1, -2), upper=False
            )  # (*, K, r, d) = L^-1 U^T D^-1
            covariance = covariance - half.transpose(-1, -2) @ half
        return covariance

    def at(self, index: object) -> LowRankPrecisionGMM:
        return LowRankPrecisionGMM(
            self.logits[index],
            self.loc[index],
            self.diag[index],
            self.factor[index],
            validate_args=False,
        )

    def with_temperature(self, temperature: float) -> LowRankPrecisionGMM:
        """The mixture with weights sharpened and covariances scaled by ``temperature``.

        As in World Models' MDN-RNN sampling: logits are divided by :math:`\\tau` and every
        covariance is multiplied by :math:`\\tau` (precision :math:`D/\\tau`, factor
        :math:`U/\\sqrt{\\tau}`).
        """
        if not temperature > 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        return LowRankPrecisionGMM(
            self.logits / temperature,
            self.loc,
            self.diag / temperature,
            self.factor / math.sqrt(temperature),
            validate_args=False,
        )

    @torch.no_grad()
    def sample(self, sample_shape: torch.Size | tuple[int, ...] = torch.Size()) -> Tensor:
        """Exact samples, shape ``sample_shape + batch_shape + (d,)``.

        A component k is drawn from the weights; then with :math:`x = D^{1/2}\\epsilon_1 +
        U \\epsilon_2 \\sim \\mathcal{N}(0, \\Lambda)`, :math:`z = \\mu + \\Lambda^{-1} x` has
        covariance :math:`\\Lambda^{-1}\\Lambda\\Lambda^{-1} = \\Lambda^{-1}`. The solve
        :math:`\\Lambda^{-1} x` uses Woodbury with the :math:`r \\times r` capacitance only.
        """
        shape = self._extended_shape(torch.Size(sample_shape))  # sample + batch + (d,)
        K = self.n_components
        lead = shape[:-1]
        component = draw_component(self.logits.expand(*lead, K))  # (sample, *)

        def pick(param: Tensor) -> Tensor:  # (*, K, ...) -> (sample, *, ...) at `component`
            tail = param.shape[len(self.batch_shape) + 1 :]
            index = component.reshape(*lead, 1, *(1,) * len(tail)).expand(*lead, 1, *tail)
            return param.expand(*lead, K, *tail).gather(len(lead), index).squeeze(len(lead))

        return draw_gaussian(pick(self.loc), pick(self.diag), pick(self.factor))


def draw_component(logits: Tensor) -> Tensor:
    """One component index per row of ``logits`` (*, K), drawn from their softmax by
    Gumbel-max: one fused draw, no normalisation or cumulative sum."""
    gumbel = -torch.empty_like(logits).exponential_().log()  # Gumbel(0, 1)
    return (logits + gumbel).argmax(-1)


def draw_gaussian(loc: Tensor, diag: Tensor, factor: Tensor) -> Tensor:
    r"""One exact draw per row from :math:`\mathcal{N}(\mu, (\mathrm{diag}(D) + U U^T)^{-1})`.

    With :math:`x = D^{1/2}\epsilon_1 + U \epsilon_2 \sim \mathcal{N}(0, \Lambda)`,
    :math:`z = \mu + \Lambda^{-1} x` has covariance :math:`\Lambda^{-1}`; the solve uses Woodbury
    with the :math:`r \times r` capacitance :math:`C = I + U^T D^{-1} U` only.

    Arguments:
        loc: Means :math:`\mu`, shape :math:`(*, d)`.
        diag: Positive precision diagonals :math:`D`, shape :math:`(*, d)`.
        factor: Precision factors :math:`U`, shape :math:`(*, d, r)`.
    """
    noise = torch.randn_like(loc)
    x = diag.sqrt() * noise  # ~ N(0, D)
    r = factor.shape[-1]
    if r == 0:
        return loc + x / diag
    lead = loc.shape[:-1]
    noise_r = torch.randn(*lead, r, 1, dtype=loc.dtype, device=loc.device)
    x = x + (factor @ noise_r).squeeze(-1)  # ~ N(0, D + U U^T)
    inv_diag_x = x / diag
    scaled = factor.transpose(-1, -2) / diag.unsqueeze(-2)  # U^T D^-1, (*, r, d)
    capacitance = torch.baddbmm(
        torch.eye(r, dtype=loc.dtype, device=loc.device),
        scaled.reshape(-1, r, scaled.shape[-1]),
        factor.reshape(-1, *factor.shape[-2:]),
    ).reshape(*lead, r, r)
    rhs = scaled @ x.unsqueeze(-1)  # (*, r, 1)
    solved = torch.linalg.solve_ex(capacitance, rhs)[0]  # C^-1 U^T D^-1 x
    return loc + inv_diag_x - (factor @ solved).squeeze(-1) / diag


class _LowRankGaussian(torch.autograd.Function):
    r"""Fused :math:`\frac12(\log|\Lambda| - \delta^T \Lambda \delta)` for
    :math:`\Lambda = D + U U^T`, with a hand-written backward.

    With rows :math:`M = [U^T D^{-1/2};\ \delta^T D^{1/2}]` (shape :math:`(N, r+1, d)`), one
    batched Gram product :math:`G = M M^T` holds everything: :math:`G_{:r,:r} = C - I`,
    :math:`G_{:r,r} = U^T \delta` and :math:`G_{r,r} = \delta^T D \delta`. The backward is then one
    more small matmul, :math:`\partial/\partial M = S M` with :math:`S = H + H^T` the gradient with
    respect to :math:`G`. This touches the :math:`(N, d, r)` factor about half as often as plain
    autograd. It is fastest when ``factor`` is the transpose of a contiguous :math:`(N, r, d)`
    tensor, as the models produce it.
    """

    @staticmethod
    def forward(
        ctx: torch.autograd.function.FunctionCtx, delta: Tensor, diag: Tensor, factor: Tensor
    ) -> Tensor:
        # delta, diag: (N, d); factor: (N, d, r). Few, preallocated temporaries: this is
        # memory-bound, and every large temporary costs a pass over memory and page faults.
        n, d = delta.shape
        r = factor.shape[-1]
        inv_sqrt = diag.rsqrt()  # (N, d)
        rows = torch.empty(n, r + 1, d, dtype=delta.dtype, device=delta.device)
        torch.mul(factor.mT, inv_sqrt.unsqueeze(-2), out=rows[:, :r])  # U^T D^-1/2
        torch.mul(delta, diag.sqrt(), out=rows[:, r])  # delta^T D^1/2
        gram = rows @ rows.mT  # (N, r + 1, r + 1)
        eye = torch.eye(r, dtype=gram.dtype, device=gram.device)
        tril, _ = torch.linalg.cholesky_ex(gram[:, :r, :r] + eye)  # C is SPD by construction
        projected = gram[:, :r, r]  # (N, r) = U^T delta
        log_det = diag.log().sum(-1) + 2.0 * tril.diagonal(dim1=-2, dim2=-1).log().sum(-1)
        quad = gram[:, r, r] + projected.square().sum(-1)
        ctx.save_for_backward(diag, inv_sqrt, factor, rows, tril, projected)
        return 0.5 * (log_det - quad)  # (N,)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(
        ctx: torch.autograd.function.FunctionCtx, grad: Tensor
    ) -> tuple[Tensor, Tensor, Tensor]:
        diag, inv_sqrt, factor, rows, tril, projected = ctx.saved_tensors
        r = tril.shape[-1]
        sym = torch.empty(rows.shape[0], r + 1, r + 1, dtype=rows.dtype, device=rows.device)
        eye = torch.eye(r, dtype=rows.dtype, device=rows.device).expand_as(tril)
        inv_tril = torch.linalg.solve_triangular(tril, eye, upper=False)  # L^-1
        sym[:, :r, :r] = inv_tril.mT @ inv_tril  # C^-1, from 1/2 log|C|; 2x cholesky_inverse
        sym[:, :r, r] = -projected  # from -1/2 |U^T delta|^2
        sym[:, r, :r] = -projected
        sym[:, r, r] = -1.0  # from -1/2 delta^T D delta
        sym.mul_(grad[:, None, None])
        grad_rows = sym @ rows  # (N, r + 1, d): the only large temporary of the backward
        grad_delta = grad_rows[:, r] * diag.sqrt()  # (N, d)
        grad_factor = grad_rows[:, :r].mul_(inv_sqrt.unsqueeze(-2))  # (N, r, d), in place
        # d/dD collects grad_rows * rows summed over rows; for the factor rows that product is
        # grad_factor * U^T, accumulated row by row so no (N, r, d) temporary is made
        grad_diag = grad_rows[:, r] * rows[:, r] + grad.unsqueeze(-1)  # (N, d)
        factor_rows = factor.mT
        for i in range(r):
            grad_diag.addcmul_(grad_factor[:, i], factor_rows[:, i], value=-1.0)
        grad_diag.mul_(0.5).div_(diag)
        return grad_delta, grad_diag, grad_factor.mT

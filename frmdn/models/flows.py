"""Invertible flows z = f(y) with log-determinants: RealNVP couplings and their helpers.

Every flow takes an optional ``context`` (*, c): the couplings of a flow built with
``context_dim > 0`` read it beside their conditioning half, so the map may change from one time
step to the next (the FRMDN's flow conditioned on the LSTM state, an extension beyond the
paper, whose flow is shared over time); the other layers ignore it.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from frmdn.precision import full_precision

__all__ = [
    "AffineCoupling",
    "ElementwiseAffine",
    "Flow",
    "FlowStack",
    "IdentityFlow",
    "SinhArcsinh",
    "FLOW_CONTEXTS",
    "realnvp",
]

FLOW_CONTEXTS = ("none", "lstm")
"""What an FRMDN's flow may read besides the target: nothing (the paper's flow, shared over
time steps) or the LSTM state of the step (an extension)."""


class Flow(nn.Module):
    """An invertible map on vectors of size ``dim``, applied over any leading shape.

    ``forward(y, context)`` returns ``(z, ladj)`` with ``z`` of shape :math:`(*, d)` and the log
    absolute Jacobian determinant :math:`\\log|\\det \\partial z / \\partial y|` of shape
    :math:`(*)`; ``inverse(z, context)`` returns ``y``. ``context`` (*, c) or None.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"dim must be positive, got {dim}")
        self.dim = dim

    def forward(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        raise NotImplementedError


class IdentityFlow(Flow):
    """:math:`z = y`, zero log-determinant: the flow of a plain RMDN."""

    @full_precision
    def forward(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        return y, y.new_zeros(y.shape[:-1])

    @full_precision
    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        return z


class ElementwiseAffine(Flow):
    """:math:`z = (y + b) e^{s}` per dimension, starting at the identity.

    An ActNorm without data-dependent initialisation: the data are standardised before the
    flow, so the identity start is already well scaled, and a fresh FRMDN equals an RMDN.
    """

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.shift = nn.Parameter(torch.zeros(dim))
        self.log_scale = nn.Parameter(torch.zeros(dim))

    @full_precision
    def forward(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z = (y + self.shift) * self.log_scale.exp()
        return z, self.log_scale.sum().expand(y.shape[:-1])

    @full_precision
    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        return z * (-self.log_scale).exp() - self.shift


class SinhArcsinh(Flow):
    """:math:`z = \\sinh(b\\,\\mathrm{asinh}(y) - a)` per dimension: skew ``a``, tail weight ``b``.

    A monotone scalar map with a closed-form inverse, used where no coupling split exists (d = 1).
    It starts at the identity (a = 0, b = 1).

    References:
        | Sinh-arcsinh distributions (Jones & Pewsey, 2009)
        | https://doi.org/10.1093/biomet/asp053
    """

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.skew = nn.Parameter(torch.zeros(dim))
        self.log_tail = nn.Parameter(torch.zeros(dim))

    @full_precision
    def forward(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        tail = self.log_tail.exp()
        inner = tail * torch.asinh(y) - self.skew  # (*, d)
        z = torch.sinh(inner)
        ladj = self.log_tail + torch.log(torch.cosh(inner)) - 0.5 * torch.log1p(y.square())
        return z, ladj.sum(-1)

    @full_precision
    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        return torch.sinh((torch.asinh(z) + self.skew) / self.log_tail.exp())


class AffineCoupling(Flow):
    """RealNVP affine coupling: :math:`z_B = y_B e^{s(y_A)} + t(y_A)`, :math:`z_A = y_A`.

    The log-scale is bounded softly, :math:`s = c \\tanh(\\tilde s / c)`, so one layer can never
    scale by more than :math:`e^{\\pm c}`; with ``shift_bound`` :math:`b > 0` the shift is too,
    :math:`t = b \\tanh(\\tilde t / b)`, so an input unlike the training data cannot be thrown
    further than :math:`b` per layer (the blow-ups on unseen voices, issue 22, came from unbounded
    shifts). The conditioner's last layer starts at zero, so the coupling starts as the identity.

    References:
        | Density estimation using Real NVP (Dinh et al., 2017)
        | https://arxiv.org/abs/1605.08803

    Arguments:
        mask: Boolean mask of shape :math:`(d,)`, True on the conditioning part A.
        hidden: Width of the conditioner's hidden layers.
        depth: Number of hidden layers of the conditioner.
        scale_bound: The bound :math:`c` on the log-scale.
        context_dim: Size of a context the conditioner also reads (0 = none).
        shift_bound: The bound :math:`b` on the shift (0 = unbounded, the paper's).
    """

    def __init__(
        self,
        mask: Tensor,
        hidden: int = 64,
        depth: int = 2,
        scale_bound: float = 2.0,
        context_dim: int = 0,
        shift_bound: float = 0.0,
    ) -> None:
        super().__init__(mask.numel())
        index_a = torch.nonzero(mask).flatten()
        index_b = torch.nonzero(~mask).flatten()
        if len(index_a) == 0 or len(index_b) == 0:
            raise ValueError("a coupling mask needs both a conditioning and a transformed part")
        order = torch.cat([index_a, index_b])
        self.register_buffer("index_a", index_a, persistent=False)
        self.register_buffer("index_b", index_b, persistent=False)
        self.register_buffer("unorder", torch.argsort(order), persistent=False)
        self.scale_bound = scale_bound
        self.shift_bound = shift_bound
        self.context_dim = context_dim
        layers: list[nn.Module] = []
        width = len(index_a) + context_dim
        for _ in range(depth):
            layers += [nn.Linear(width, hidden), nn.SiLU()]
            width = hidden
        last = nn.Linear(width, 2 * len(index_b))
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.conditioner = nn.Sequential(*layers, last)

    def _shift_and_log_scale(
        self, part_a: Tensor, context: Tensor | None = None
    ) -> tuple[Tensor, Tensor]:
        if self.context_dim:
            if context is None or context.shape[-1] != self.context_dim:
                raise ValueError(f"this coupling reads a context of size {self.context_dim}")
            context = context.to(part_a.dtype).expand(*part_a.shape[:-1], self.context_dim)
            part_a = torch.cat([part_a, context], dim=-1)
        shift, raw_scale = self.conditioner(part_a).chunk(2, dim=-1)  # (*, |B|) each
        if self.shift_bound:
            shift = self.shift_bound * torch.tanh(shift / self.shift_bound)
        return shift, self.scale_bound * torch.tanh(raw_scale / self.scale_bound)

    @full_precision
    def forward(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        part_a, part_b = y[..., self.index_a], y[..., self.index_b]
        shift, log_scale = self._shift_and_log_scale(part_a, context)
        z = torch.cat([part_a, part_b * log_scale.exp() + shift], dim=-1)[..., self.unorder]
        return z, log_scale.sum(-1)

    @full_precision
    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        part_a, part_b = z[..., self.index_a], z[..., self.index_b]
        shift, log_scale = self._shift_and_log_scale(part_a, context)
        return torch.cat([part_a, (part_b - shift) * (-log_scale).exp()], dim=-1)[
            ..., self.unorder
        ]


class FlowStack(Flow):
    """The composition :math:`f_L \\circ \\dots \\circ f_1`, log-determinants summed."""

    def __init__(self, layers: list[Flow]) -> None:
        super().__init__(layers[0].dim)
        self.layers = nn.ModuleList(layers)

    @full_precision
    def forward(self, y: Tensor, context: Tensor | None = None) -> tuple[Tensor, Tensor]:
        ladj = y.new_zeros(y.shape[:-1])
        for layer in self.layers:
            y, layer_ladj = layer(y, context)
            ladj = ladj + layer_ladj
        return y, ladj

    @full_precision
    def inverse(self, z: Tensor, context: Tensor | None = None) -> Tensor:
        for layer in reversed(self.layers):
            z = layer.inverse(z, context)
        return z


def coupling_mask(dim: int, layer: int) -> Tensor:
    """Alternating masks, shape :math:`(d,)`: even/odd indices, then first/second half, and so on.

    Parity masks pair neighbours (adjacent audio samples, adjacent pixels); half masks mix
    distant dimensions. Each pattern is used with both polarities in turn.
    """
    index = torch.arange(dim)
    pattern = index % 2 == 0 if (layer // 2) % 2 == 0 else index < (dim + 1) // 2
    return pattern if layer % 2 == 0 else ~pattern


def realnvp(
    dim: int,
    n_layers: int = 4,
    hidden: int = 64,
    depth: int = 2,
    scale_bound: float = 2.0,
    context_dim: int = 0,
    shift_bound: float = 0.0,
) -> FlowStack:
    """A RealNVP-style flow that starts at the identity.

    For :math:`d \\geq 2`: an :class:`ElementwiseAffine` followed by ``n_layers`` affine couplings
    with alternating masks, each reading a context of ``context_dim`` (0 = none), their
    shifts bounded by ``shift_bound`` (0 = unbounded). For
    :math:`d = 1`, where no split exists: ``n_layers`` pairs of :class:`ElementwiseAffine` and
    :class:`SinhArcsinh` (a monotone scalar flow, which cannot read a context).

    Example:
        >>> flow = realnvp(2, n_layers=4)
        >>> z, ladj = flow(torch.randn(8, 3, 2))
        >>> z.shape, ladj.shape
        (torch.Size([8, 3, 2]), torch.Size([8, 3]))
    """
    if n_layers < 1:
        raise ValueError(f"n_layers must be at least 1, got {n_layers}")
    if dim == 1:
        if context_dim:
            raise ValueError("a one-dimensional flow has no coupling to read a context")
        layers: list[Flow] = []
        for _ in range(n_layers):
            layers += [ElementwiseAffine(1), SinhArcsinh(1)]
        return FlowStack(layers)
    couplings = [
        AffineCoupling(coupling_mask(dim, i), hidden, depth, scale_bound, context_dim, shift_bound)
        for i in range(n_layers)
    ]
    return FlowStack([ElementwiseAffine(dim), *couplings])

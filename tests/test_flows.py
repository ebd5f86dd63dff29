"""One battery of invertibility, log-determinant and shape checks over every flow in
frmdn.models.flows.

Each flow is perturbed away from its identity initialisation before it is tested, and every
log-determinant is compared with ``log|det|`` of an autograd Jacobian.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from frmdn.models.flows import (
    AffineCoupling,
    ElementwiseAffine,
    Flow,
    FlowStack,
    IdentityFlow,
    SinhArcsinh,
    coupling_mask,
    realnvp,
)

DIMS = [1, 2, 7, 200]
N_LAYERS = 4
FACTORIES = {
    "identity": IdentityFlow,
    "elementwise": ElementwiseAffine,
    "sinharcsinh": SinhArcsinh,
    "coupling": lambda d: AffineCoupling(coupling_mask(d, 0), hidden=32),
    "realnvp": lambda d: realnvp(d, n_layers=N_LAYERS, hidden=32),
    "realnvp-shift-bound": lambda d: realnvp(d, n_layers=N_LAYERS, hidden=32, shift_bound=0.5),
}
CASES = [
    pytest.param(name, d, id=f"{name}-{d}")
    for name in FACTORIES
    for d in DIMS
    if not (name in ("coupling", "realnvp-shift-bound") and d < 2)  # couplings need two parts
]


def make_flow(
    name: str, d: int, *, dtype: torch.dtype = torch.float64, device: torch.device | str = "cpu"
) -> Flow:
    """The flow, seeded, with random noise added to every parameter (so not the identity)."""
    torch.manual_seed(d)
    flow = FACTORIES[name](d)
    perturb(flow)
    return flow.to(dtype=dtype, device=device)


def perturb(flow: nn.Module, std: float = 0.3) -> None:
    """Add N(0, std^2) to every vector parameter, N(0, std^2 / fan_in) to every weight matrix.

    Scaling by the fan-in keeps a d = 200 conditioner's outputs O(1), so the perturbed flow is
    far from the identity yet still well conditioned in float32.
    """
    with torch.no_grad():
        for parameter in flow.parameters():
            fan_in = parameter.shape[-1] if parameter.dim() > 1 else 1
            parameter.add_(std / fan_in**0.5 * torch.randn_like(parameter))


def tolerances(dtype: torch.dtype) -> dict[str, float]:
    return {"rtol": 1e-9, "atol": 1e-9} if dtype == torch.float64 else {"rtol": 1e-4, "atol": 1e-4}


@pytest.mark.parametrize(("name", "d"), CASES)
def test_perturbed_flow_is_not_the_identity(name, d) -> None:
    flow = make_flow(name, d)
    y = torch.randn(16, d, dtype=torch.float64)
    z, ladj = flow(y)
    if name == "identity":
        assert torch.equal(z, y)
        assert torch.equal(ladj, torch.zeros(16, dtype=torch.float64))
    else:
        assert (z - y).abs().max() > 1e-2
        assert ladj.abs().max() > 1e-3


@pytest.mark.parametrize("lead", [(4, 3), ()], ids=["lead43", "nolead"])
@pytest.mark.parametrize(("name", "d"), CASES)
def test_shapes(name, d, lead, device, dtype) -> None:
    flow = make_flow(name, d, dtype=dtype, device=device)
    y = torch.randn(*lead, d, dtype=dtype, device=device)
    z, ladj = flow(y)
    assert z.shape == (*lead, d)
    assert ladj.shape == lead
    assert z.dtype == ladj.dtype == dtype
    assert flow.inverse(z).shape == (*lead, d)
    assert flow.dim == d


@pytest.mark.parametrize(("name", "d"), CASES)
def test_inverse_round_trips(name, d, device, dtype) -> None:
    flow = make_flow(name, d, dtype=dtype, device=device)
    y = torch.randn(4, 3, d, dtype=dtype, device=device)
    with torch.no_grad():
        z, _ = flow(y)
        torch.testing.assert_close(flow.inverse(z), y, **tolerances(dtype))
        z = torch.randn(4, 3, d, dtype=dtype, device=device)
        torch.testing.assert_close(flow(flow.inverse(z))[0], z, **tolerances(dtype))


@pytest.mark.parametrize(("name", "d"), CASES)
def test_ladj_matches_autograd_jacobian(name, d) -> None:
    flow = make_flow(name, d)
    torch.manual_seed(1)
    for _ in range(3 if d <= 7 else 2):
        y = torch.randn(d, dtype=torch.float64)
        jacobian = torch.autograd.functional.jacobian(lambda v: flow(v)[0], y, vectorize=True)
        assert jacobian.shape == (d, d)
        sign, expected = torch.linalg.slogdet(jacobian)
        assert sign != 0
        _, ladj = flow(y)
        assert ladj.shape == ()
        torch.testing.assert_close(ladj, expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize(("name", "d"), CASES)
def test_batched_equals_single_vectors(name, d) -> None:
    flow = make_flow(name, d)
    y = torch.randn(5, d, dtype=torch.float64)
    z, ladj = flow(y)
    for i in range(5):
        z_i, ladj_i = flow(y[i])
        torch.testing.assert_close(z[i], z_i, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(ladj[i], ladj_i, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("name", "d"), CASES)
def test_gradients_reach_every_parameter(name, d) -> None:
    flow = make_flow(name, d)
    parameters = dict(flow.named_parameters())
    if name == "identity":
        assert parameters == {}
        return
    y = torch.randn(8, d, dtype=torch.float64)
    z, ladj = flow(y)
    (z.square().sum() + ladj.sum() + flow.inverse(y).square().sum()).backward()
    for key, parameter in parameters.items():
        assert parameter.grad is not None, key
        assert torch.isfinite(parameter.grad).all(), key
        assert parameter.grad.abs().max() > 0, key


@pytest.mark.parametrize("d", DIMS)
def test_fresh_realnvp_is_the_identity(d, device, dtype) -> None:
    flow = realnvp(d, n_layers=N_LAYERS).to(dtype=dtype, device=device)
    y = 3 * torch.randn(6, 5, d, dtype=dtype, device=device)
    z, ladj = flow(y)
    if d == 1:  # sinh(asinh(y)) is the identity only up to rounding
        torch.testing.assert_close(z, y, **tolerances(dtype))
        torch.testing.assert_close(ladj, torch.zeros_like(ladj), **tolerances(dtype))
    else:  # zero shifts and log-scales: exactly the identity
        assert torch.equal(z, y)
        assert torch.equal(ladj, torch.zeros_like(ladj))
        assert torch.equal(flow.inverse(y), y)


@pytest.mark.parametrize("d", [2, 7, 200])
def test_realnvp_structure(d) -> None:
    flow = realnvp(d, n_layers=N_LAYERS, hidden=8, depth=3, scale_bound=1.5)
    assert isinstance(flow, FlowStack)
    assert isinstance(flow.layers[0], ElementwiseAffine)
    couplings = list(flow.layers[1:])
    assert len(couplings) == N_LAYERS
    assert all(isinstance(layer, AffineCoupling) for layer in couplings)
    assert all(layer.scale_bound == 1.5 for layer in couplings)
    linears = [m for m in couplings[0].conditioner if isinstance(m, nn.Linear)]
    assert len(linears) == 4  # depth hidden layers + output
    # across the stack every dimension is transformed at least once
    transformed = torch.zeros(d, dtype=torch.bool)
    for layer in couplings:
        transformed[layer.index_b] = True
    assert transformed.all()


def test_realnvp_scalar_path() -> None:
    flow = realnvp(1, n_layers=3)
    kinds = [type(layer) for layer in flow.layers]
    assert kinds == [ElementwiseAffine, SinhArcsinh] * 3


@pytest.mark.parametrize("scale_bound", [0.5, 2.0])
@pytest.mark.parametrize("d", [2, 7, 200])
def test_coupling_log_scale_is_bounded(d, scale_bound) -> None:
    torch.manual_seed(0)
    flow = realnvp(d, n_layers=N_LAYERS, hidden=16, scale_bound=scale_bound).double()
    perturb(flow)
    with torch.no_grad():
        for layer in flow.layers[1:]:
            for parameter in layer.conditioner.parameters():
                parameter.mul_(1e3)  # huge conditioner weights
    y = 1e4 * torch.randn(64, d, dtype=torch.float64)  # and huge inputs
    _, ladj = flow(y)
    assert torch.isfinite(ladj).all()
    affine = flow.layers[0].log_scale.sum()
    n_transformed = sum(len(layer.index_b) for layer in flow.layers[1:])
    assert ((ladj - affine).abs() <= n_transformed * scale_bound + 1e-9).all()
    assert n_transformed <= N_LAYERS * d
    # every single coupling's log-scale saturates at, and never passes, the bound
    u = flow.layers[0](y)[0]
    for layer in flow.layers[1:]:
        _, log_scale = layer._shift_and_log_scale(u[..., layer.index_a])
        assert log_scale.abs().max() <= scale_bound
        assert log_scale.abs().max() > 0.99 * scale_bound
        u = layer(u)[0]


@pytest.mark.parametrize("shift_bound", [0.25, 3.0])
@pytest.mark.parametrize("d", [2, 7, 200])
def test_coupling_shift_is_bounded_and_matches_the_formula(d, shift_bound) -> None:
    """z_B = y_B exp(c tanh(s/c)) + b tanh(t/b), written out from the conditioner's raw
    output; with huge weights and inputs every shift saturates at, and never passes, b."""
    torch.manual_seed(1)
    coupling = AffineCoupling(coupling_mask(d, 1), hidden=16, shift_bound=shift_bound).double()
    perturb(coupling)
    y = torch.randn(32, d, dtype=torch.float64)
    raw_shift, raw_scale = coupling.conditioner(y[:, coupling.index_a]).chunk(2, dim=-1)
    log_scale = 2.0 * torch.tanh(raw_scale / 2.0)
    expected = y.clone()
    shift = shift_bound * torch.tanh(raw_shift / shift_bound)
    expected[:, coupling.index_b] = y[:, coupling.index_b] * log_scale.exp() + shift
    z, ladj = coupling(y)
    torch.testing.assert_close(z, expected)
    torch.testing.assert_close(ladj, log_scale.sum(-1))
    with torch.no_grad():
        for parameter in coupling.conditioner.parameters():
            parameter.mul_(1e3)
    huge = 1e4 * torch.randn(64, d, dtype=torch.float64)
    shift, _ = coupling._shift_and_log_scale(huge[:, coupling.index_a])
    assert shift.abs().max() <= shift_bound
    assert shift.abs().max() > 0.99 * shift_bound
    unbounded = AffineCoupling(coupling_mask(d, 1), hidden=16).double()
    unbounded.load_state_dict(coupling.state_dict())
    assert unbounded._shift_and_log_scale(huge[:, coupling.index_a])[0].abs().max() > 1e3


@pytest.mark.parametrize("d", [2, 3, 7, 8, 200])
def test_coupling_mask_alternates(d) -> None:
    masks = [coupling_mask(d, layer) for layer in range(8)]
    for layer, mask in enumerate(masks):
        assert mask.shape == (d,)
        assert mask.dtype == torch.bool
        assert 0 < int(mask.sum()) < d, f"layer {layer}: both parts must be non-empty"
        if layer % 2 == 1:
            assert torch.equal(mask, ~masks[layer - 1])  # polarity flips
    index = torch.arange(d)
    assert torch.equal(masks[0], index % 2 == 0)  # parity pattern ...
    assert torch.equal(masks[2], index < (d + 1) // 2)  # ... then halves
    assert torch.equal(masks[4], masks[0])  # and the cycle repeats


def test_invalid_constructions_raise() -> None:
    with pytest.raises(ValueError, match="dim"):
        IdentityFlow(0)
    with pytest.raises(ValueError, match="n_layers"):
        realnvp(3, n_layers=0)
    with pytest.raises(ValueError, match="mask"):
        AffineCoupling(torch.ones(4, dtype=torch.bool))
    with pytest.raises(ValueError, match="mask"):
        AffineCoupling(torch.zeros(4, dtype=torch.bool))


def test_flow_base_class_is_abstract() -> None:
    flow = Flow(3)
    with pytest.raises(NotImplementedError):
        flow(torch.zeros(3))
    with pytest.raises(NotImplementedError):
        flow.inverse(torch.zeros(3))


# --------------------------------------------------------------------------- flow context
def test_a_context_flow_inverts_and_its_log_det_matches_autograd_for_each_context():
    torch.manual_seed(0)
    flow = realnvp(3, n_layers=3, hidden=8, context_dim=4).double()
    with torch.no_grad():
        for parameter in flow.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    y, context = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    z, ladj = flow(y, context)
    torch.testing.assert_close(flow.inverse(z, context), y)
    for b in range(5):
        jacobian = torch.autograd.functional.jacobian(lambda v, c=context[b]: flow(v, c)[0], y[b])
        torch.testing.assert_close(ladj[b], torch.linalg.slogdet(jacobian).logabsdet)
    other, _ = flow(y, context.flip(0))
    assert not torch.allclose(other, z)  # the map changes with the context


def test_a_context_flow_refuses_to_run_without_its_context():
    flow = realnvp(2, n_layers=1, hidden=4, context_dim=3)
    with pytest.raises(ValueError, match="context of size 3"):
        flow(torch.randn(4, 2))
    with pytest.raises(ValueError, match="context"):
        realnvp(1, n_layers=1, context_dim=3)

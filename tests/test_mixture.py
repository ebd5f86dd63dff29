"""Tests for :class:`frmdn.models.mixture.LowRankPrecisionGMM` against explicit float64 references.

Every reference below builds the d x d precision P_k = diag(D_k) + U_k U_k^T as a matrix,
inverts it with ``torch.linalg.inv`` and writes the Gaussian log-density out by hand, so it
shares no formula (determinant lemma, Woodbury, fused Gram backward) with the library.
"""

from __future__ import annotations

import math

import pytest
import torch

from frmdn.models.mixture import LowRankPrecisionGMM

BATCH = (3, 2)


def make_params(
    batch: tuple[int, ...],
    K: int,
    d: int,
    r: int,
    *,
    seed: int = 0,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Random logits, loc, diag in [0.3, 3] and factor ~ N(0, 0.5^2), made in float64."""
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(*batch, K, generator=gen, dtype=torch.float64)
    loc = torch.randn(*batch, K, d, generator=gen, dtype=torch.float64)
    diag = 0.3 + 2.7 * torch.rand(*batch, K, d, generator=gen, dtype=torch.float64)
    factor = 0.5 * torch.randn(*batch, K, d, r, generator=gen, dtype=torch.float64)
    return tuple(p.to(dtype=dtype, device=device) for p in (logits, loc, diag, factor))


def explicit_precision(diag: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """P = diag(D) + U U^T as an explicit (*, K, d, d) matrix."""
    return torch.diag_embed(diag) + factor @ factor.transpose(-1, -2)


def reference_component_log_prob(
    loc: torch.Tensor, diag: torch.Tensor, factor: torch.Tensor, z: torch.Tensor
) -> torch.Tensor:
    """log N(z; mu_k, inv(P_k)) written out with slogdet and an explicit quadratic form."""
    covariance = torch.linalg.inv(explicit_precision(diag, factor))  # (*, K, d, d)
    delta = z.unsqueeze(-2) - loc  # (*, K, d)
    _, log_det_cov = torch.linalg.slogdet(covariance)
    solved = torch.linalg.solve(covariance, delta.unsqueeze(-1)).squeeze(-1)  # Sigma^-1 delta
    quad = (delta * solved).sum(-1)
    d = loc.shape[-1]
    return -0.5 * (d * math.log(2 * math.pi) + log_det_cov + quad)


def reference_log_prob(
    logits: torch.Tensor,
    loc: torch.Tensor,
    diag: torch.Tensor,
    factor: torch.Tensor,
    z: torch.Tensor,
) -> torch.Tensor:
    log_weights = torch.log_softmax(logits, dim=-1)
    return torch.logsumexp(log_weights + reference_component_log_prob(loc, diag, factor, z), -1)


def f64(*tensors: torch.Tensor) -> list[torch.Tensor]:
    return [t.detach().to(dtype=torch.float64, device="cpu") for t in tensors]


# --------------------------------------------------------------------------- log_prob


@pytest.mark.parametrize("precision", [torch.float64, torch.float32], ids=["f64", "f32"])
@pytest.mark.parametrize("K", [1, 5])
@pytest.mark.parametrize("r", [0, 1, 4])
@pytest.mark.parametrize("d", [1, 2, 7, 64])
def test_log_prob_matches_explicit_reference(d, r, K, precision, device) -> None:
    params = make_params(BATCH, K, d, r, seed=d * 100 + r * 10 + K, dtype=precision, device=device)
    gen = torch.Generator().manual_seed(1)
    z = (torch.randn(*BATCH, d, generator=gen, dtype=torch.float64) * 1.5).to(precision)
    z = z.to(device)
    gmm = LowRankPrecisionGMM(*params)
    out = gmm.log_prob(z)
    assert out.shape == BATCH
    assert out.dtype == precision
    expected = reference_log_prob(*f64(*params, z))
    if precision == torch.float64:
        torch.testing.assert_close(out.cpu(), expected, rtol=1e-9, atol=1e-9)
    else:
        torch.testing.assert_close(out.double().cpu(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("r", [0, 1, 4])
def test_component_log_prob_matches_reference(r, device) -> None:
    params = make_params(BATCH, 3, 5, r, seed=7, device=device)
    z = torch.randn(*BATCH, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    out = LowRankPrecisionGMM(*params).component_log_prob(z.to(device))
    assert out.shape == (*BATCH, 3)
    expected = reference_component_log_prob(*f64(*params[1:]), z)
    torch.testing.assert_close(out.cpu(), expected, rtol=1e-9, atol=1e-9)


def test_log_prob_is_finite_far_from_the_means() -> None:
    params = make_params((), 3, 4, 2, seed=5)
    z = torch.full((4,), 1e3, dtype=torch.float64)
    out = LowRankPrecisionGMM(*params).log_prob(z)
    torch.testing.assert_close(out, reference_log_prob(*params, z), rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("r", [0, 2])
@pytest.mark.parametrize(
    ("param_batch", "z_shape"),
    [((4,), (5, 4)), ((4,), (5, 2, 4)), ((3, 1), (3, 4)), ((), (6,))],
    ids=["sample", "sample2", "broadcast", "scalar-batch"],
)
def test_log_prob_broadcasts_leading_dims(param_batch, z_shape, r) -> None:
    """torch.distributions convention: values of shape sample + batch + event are accepted."""
    params = make_params(param_batch, 2, 3, r, seed=11)
    gmm = LowRankPrecisionGMM(*params)
    z = torch.randn(*z_shape, 3, dtype=torch.float64)
    leaves = [t.clone().requires_grad_() for t in params]
    out = LowRankPrecisionGMM(*leaves).log_prob(z)
    assert out.shape == z_shape
    ref_leaves = [t.clone().requires_grad_() for t in params]
    expected = reference_log_prob(*ref_leaves, z)
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9)
    out.sum().backward()
    expected.sum().backward()
    for a, b in zip(leaves, ref_leaves, strict=True):
        if a.numel() > 0:
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-10)
    samples = gmm.sample((5,))
    assert gmm.log_prob(samples).shape == (5, *param_batch)


# --------------------------------------------------------------------------- gradients


@pytest.mark.parametrize("r", [0, 1, 4])
@pytest.mark.parametrize("d", [1, 6])
def test_gradients_match_reference_autograd(d, r) -> None:
    params = make_params(BATCH, 3, d, r, seed=13 + r)
    z = torch.randn(*BATCH, d, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    ours = [t.clone().requires_grad_() for t in (*params, z)]
    theirs = [t.clone().requires_grad_() for t in (*params, z)]
    LowRankPrecisionGMM(*ours[:4]).log_prob(ours[4]).sum().backward()
    reference_log_prob(*theirs).sum().backward()
    for name, a, b in zip(("logits", "loc", "diag", "factor", "z"), ours, theirs, strict=True):
        if a.numel() == 0:  # r = 0: the empty factor takes no part
            continue
        assert a.grad is not None, name
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-10, msg=name)


def test_gradients_with_random_upstream_weights() -> None:
    """A non-uniform upstream gradient exercises the per-row scaling of the fused backward."""
    params = make_params(BATCH, 2, 4, 3, seed=17)
    z = torch.randn(*BATCH, 4, dtype=torch.float64)
    weights = torch.randn(BATCH, dtype=torch.float64)
    ours = [t.clone().requires_grad_() for t in (*params, z)]
    theirs = [t.clone().requires_grad_() for t in (*params, z)]
    (LowRankPrecisionGMM(*ours[:4]).log_prob(ours[4]) * weights).sum().backward()
    (reference_log_prob(*theirs) * weights).sum().backward()
    for a, b in zip(ours, theirs, strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("r", [0, 2])
def test_gradcheck(r) -> None:
    logits, loc, diag, factor = make_params((), 2, 3, r, seed=19)
    z = torch.randn(3, dtype=torch.float64)
    log_diag = diag.log()  # perturb log D so finite differences never leave D > 0

    def fn(logits, loc, log_diag, factor, z):
        return LowRankPrecisionGMM(logits, loc, log_diag.exp(), factor).log_prob(z)

    inputs = [t.clone().requires_grad_() for t in (logits, loc, log_diag, factor, z)]
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("layout", ["transposed_view", "contiguous"])
def test_factor_layouts(layout) -> None:
    K, d, r = 3, 6, 2
    logits, loc, diag, factor = make_params(BATCH, K, d, r, seed=23)
    if layout == "transposed_view":
        base = factor.transpose(-1, -2).contiguous().requires_grad_()  # (*, K, r, d)
        used = base.transpose(-1, -2)
        assert not used.is_contiguous()
    else:
        base = factor.clone().requires_grad_()
        used = base
        assert used.is_contiguous()
    z = torch.randn(*BATCH, d, dtype=torch.float64)
    out = LowRankPrecisionGMM(logits, loc, diag, used).log_prob(z)
    ref_factor = factor.clone().requires_grad_()
    expected = reference_log_prob(logits, loc, diag, ref_factor, z)
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9)
    out.sum().backward()
    expected.sum().backward()
    grad = base.grad.transpose(-1, -2) if layout == "transposed_view" else base.grad
    torch.testing.assert_close(grad, ref_factor.grad, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("r", [0, 2])
def test_broadcast_and_expanded_parameters(r) -> None:
    K, d = 3, 4
    logits, loc, diag, factor = make_params((), K, d, r, seed=29)
    batch_logits = torch.randn(*BATCH, K, dtype=torch.float64)  # only the logits are batched
    leaves = [t.clone().requires_grad_() for t in (loc, diag, factor)]
    # loc broadcast implicitly, diag and factor as expanded (stride-0) views
    gmm = LowRankPrecisionGMM(
        batch_logits,
        leaves[0],
        leaves[1].expand(*BATCH, K, d),
        leaves[2].expand(*BATCH, K, d, r),
    )
    assert gmm.batch_shape == BATCH
    z = torch.randn(*BATCH, d, dtype=torch.float64)
    out = gmm.log_prob(z)
    ref_leaves = [t.clone().requires_grad_() for t in (loc, diag, factor)]
    expected = reference_log_prob(batch_logits, *ref_leaves, z)
    torch.testing.assert_close(out, expected, rtol=1e-9, atol=1e-9)
    out.sum().backward()
    expected.sum().backward()
    for a, b in zip(leaves, ref_leaves, strict=True):
        if a.numel() > 0:
            torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-10)


# --------------------------------------------------------------------------- posterior


@pytest.mark.parametrize("r", [0, 1, 3])
def test_responsibilities(r) -> None:
    params = make_params(BATCH, 4, 5, r, seed=31)
    z = torch.randn(*BATCH, 5, dtype=torch.float64)
    gmm = LowRankPrecisionGMM(*params)
    resp = gmm.responsibilities(z)
    assert resp.shape == (*BATCH, 4)
    assert (resp >= 0).all()
    torch.testing.assert_close(resp.sum(-1), torch.ones(BATCH, dtype=torch.float64))
    logits, loc, diag, factor = params
    # Bayes' rule with explicit densities: alpha_k N_k(z) / sum_j alpha_j N_j(z)
    joint = torch.softmax(logits, -1) * reference_component_log_prob(loc, diag, factor, z).exp()
    torch.testing.assert_close(resp, joint / joint.sum(-1, keepdim=True), rtol=1e-9, atol=1e-12)


def test_mean_and_properties() -> None:
    params = make_params(BATCH, 4, 5, 2, seed=37)
    gmm = LowRankPrecisionGMM(*params)
    assert gmm.n_components == 4
    assert gmm.rank == 2
    weights = torch.softmax(params[0], -1)
    expected = torch.einsum("...k,...kd->...d", weights, params[1])
    torch.testing.assert_close(gmm.mean, expected)


# --------------------------------------------------------------------------- sampling


def _mixture_moments(params: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """Mixture mean m and covariance sum_k a_k (Sigma_k + mu_k mu_k^T) - m m^T, explicitly."""
    logits, loc, diag, factor = f64(*params)
    weights = torch.softmax(logits, -1)
    covariances = torch.linalg.inv(explicit_precision(diag, factor))
    mean = (weights.unsqueeze(-1) * loc).sum(-2)
    second = covariances + loc.unsqueeze(-1) * loc.unsqueeze(-2)
    outer_mean = mean.unsqueeze(-1) * mean.unsqueeze(-2)
    return mean, (weights[..., None, None] * second).sum(-3) - outer_mean


@pytest.mark.parametrize("K", [1, 2])
@pytest.mark.parametrize("r", [0, 2])
def test_sample_moments(r, K, device, dtype) -> None:
    torch.manual_seed(0)
    d, n, batch = 3, 200_000, (2,)
    params = make_params(batch, K, d, r, seed=41 + K + r, dtype=dtype, device=device)
    samples = LowRankPrecisionGMM(*params).sample((n,))
    assert samples.shape == (n, *batch, d)
    assert samples.dtype == dtype
    assert torch.isfinite(samples).all()
    x = samples.double().cpu()
    mean, covariance = _mixture_moments(params)
    # standard errors estimated from the draws themselves (robust to the mixture's kurtosis)
    mean_hat = x.mean(0)
    mean_se = x.std(0) / math.sqrt(n)
    assert ((mean_hat - mean).abs() < 5 * mean_se + 1e-6).all(), (mean_hat, mean)
    centred = x - mean_hat
    products = centred.unsqueeze(-1) * centred.unsqueeze(-2)  # (n, *batch, d, d)
    cov_hat = products.mean(0)
    cov_se = products.std(0) / math.sqrt(n)
    assert ((cov_hat - covariance).abs() < 5 * cov_se + 1e-6).all(), (cov_hat, covariance)
    if K == 1:  # a single Gaussian: the sample covariance is inv(P) to about 1 %
        atol = 0.02 * covariance.abs().max()
        torch.testing.assert_close(cov_hat, covariance, rtol=0.0, atol=atol)


@pytest.mark.parametrize("r", [0, 2])
@pytest.mark.parametrize("sample_shape", [(), (5,), (5, 4)])
def test_sample_shape(sample_shape, r, device, dtype) -> None:
    torch.manual_seed(0)
    params = make_params(BATCH, 3, 4, r, seed=43, dtype=dtype, device=device)
    gmm = LowRankPrecisionGMM(*params)
    samples = gmm.sample(sample_shape)
    assert samples.shape == (*sample_shape, *BATCH, 4)
    assert samples.device.type == device.type
    assert torch.isfinite(samples).all()
    assert not samples.requires_grad


def test_sample_is_seeded() -> None:
    params = make_params(BATCH, 3, 4, 2, seed=47)
    gmm = LowRankPrecisionGMM(*params)
    torch.manual_seed(123)
    first = gmm.sample((10,))
    torch.manual_seed(123)
    torch.testing.assert_close(gmm.sample((10,)), first, rtol=0, atol=0)


def test_sample_picks_components_per_batch_element() -> None:
    """Two batch elements with far-apart single dominant components sample around their own."""
    loc = torch.tensor([[[10.0, 0.0], [-10.0, 0.0]], [[0.0, 10.0], [0.0, -10.0]]])
    logits = torch.tensor([[20.0, 0.0], [0.0, 20.0]])  # element 0 -> comp 0, element 1 -> comp 1
    diag = torch.full((2, 2, 2), 100.0)
    factor = torch.zeros(2, 2, 2, 1)
    torch.manual_seed(0)
    samples = LowRankPrecisionGMM(logits, loc, diag, factor).sample((1000,))
    expected = torch.tensor([[10.0, 0.0], [0.0, -10.0]])
    torch.testing.assert_close(samples.mean(0), expected, atol=0.05, rtol=0)


# --------------------------------------------------------------------------- covariance and tau


@pytest.mark.parametrize("r", [0, 1, 4])
@pytest.mark.parametrize("d", [1, 3, 9])
def test_component_covariance_is_inverse_precision(d, r, device) -> None:
    params = make_params(BATCH, 2, d, r, seed=53, device=device)
    covariance = LowRankPrecisionGMM(*params).component_covariance()
    assert covariance.shape == (*BATCH, 2, d, d)
    expected = torch.linalg.inv(explicit_precision(*f64(*params[2:])))
    torch.testing.assert_close(covariance.cpu(), expected, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(covariance, covariance.transpose(-1, -2))


@pytest.mark.parametrize("temperature", [0.01, 0.5, 1.0, 3.0])
@pytest.mark.parametrize("r", [0, 2])
def test_with_temperature(r, temperature) -> None:
    params = make_params(BATCH, 3, 4, r, seed=59)
    gmm = LowRankPrecisionGMM(*params)
    hot = gmm.with_temperature(temperature)
    assert isinstance(hot, LowRankPrecisionGMM)
    assert hot.batch_shape == gmm.batch_shape
    torch.testing.assert_close(hot.logits, params[0] / temperature)
    torch.testing.assert_close(hot.loc, params[1])
    expected_cov = temperature * torch.linalg.inv(explicit_precision(*params[2:]))
    torch.testing.assert_close(hot.component_covariance(), expected_cov, rtol=1e-9, atol=1e-12)
    z = torch.randn(*BATCH, 4, dtype=torch.float64)
    logits, loc, diag, factor = params
    # the tempered density from explicit matrices: P / tau = diag(D / tau) + (U / sqrt tau)(..)^T
    scaled = factor / math.sqrt(temperature)
    expected = reference_log_prob(logits / temperature, loc, diag / temperature, scaled, z)
    torch.testing.assert_close(hot.log_prob(z), expected, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("nan")])
def test_with_temperature_rejects_non_positive(temperature) -> None:
    gmm = LowRankPrecisionGMM(*make_params((), 2, 3, 1))
    with pytest.raises(ValueError, match="temperature"):
        gmm.with_temperature(temperature)


# --------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(
    ("batch", "K", "d", "r"), [((), 1, 1, 0), ((4,), 3, 2, 1), (BATCH, 5, 7, 4)]
)
def test_batch_and_event_shape(batch, K, d, r) -> None:
    gmm = LowRankPrecisionGMM(*make_params(batch, K, d, r))
    assert gmm.batch_shape == batch
    assert gmm.event_shape == (d,)
    assert gmm.log_weights.shape == (*batch, K)
    assert gmm.mean.shape == (*batch, d)
    assert gmm.log_prob(torch.zeros(*batch, d, dtype=torch.float64)).shape == batch


def test_batch_shape_broadcasts_across_parameters() -> None:
    logits, loc, diag, factor = make_params((), 2, 3, 1)
    gmm = LowRankPrecisionGMM(
        logits.expand(4, 1, 2), loc.expand(1, 5, 2, 3), diag, factor.expand(4, 5, 2, 3, 1)
    )
    assert gmm.batch_shape == (4, 5)
    assert gmm.factor.shape == (4, 5, 2, 3, 1)


@pytest.mark.parametrize(
    "shapes",
    [
        ((2,), (3,), (2, 3), (2, 3, 1)),  # loc not (..., K, d)
        ((2,), (2, 3), (2, 3), (2, 3)),  # factor not (..., K, d, r)
        ((4,), (2, 3), (2, 3), (2, 3, 1)),  # logits K differs
        ((2,), (2, 3), (2, 4), (2, 3, 1)),  # diag d differs
        ((2,), (2, 3), (3, 3), (2, 3, 1)),  # diag K differs
        ((2,), (2, 3), (2, 3), (2, 4, 1)),  # factor d differs
        ((2,), (2, 3), (2, 3), (3, 3, 1)),  # factor K differs
    ],
)
def test_inconsistent_shapes_raise(shapes) -> None:
    tensors = [torch.ones(shape) for shape in shapes]
    with pytest.raises(ValueError, match="shape|must be"):
        LowRankPrecisionGMM(*tensors)


def test_unbroadcastable_batches_raise() -> None:
    logits, loc, diag, factor = make_params((), 2, 3, 1)
    with pytest.raises(RuntimeError):
        LowRankPrecisionGMM(logits.expand(4, 2), loc.expand(5, 2, 3), diag, factor)


def test_validate_args_rejects_non_positive_diag() -> None:
    logits, loc, diag, factor = make_params((), 2, 3, 1)
    with pytest.raises(ValueError):
        LowRankPrecisionGMM(logits, loc, -diag, factor, validate_args=True)

"""Tests for RMDN / FRMDN: an independent step-by-step likelihood, causality, normalisation,
sampling, precision caps, parameter counts, validation and configs.

The step-by-step reference drives ``model.lstm`` one step at a time with an explicit state,
evaluates each step's mixture from explicit d x d precision matrices in float64, and takes the
flow's log-determinant from an autograd Jacobian. With a pitch predictor, each step's guess
comes from ``tests.test_pitch.explicit_pitch_prediction`` on a context built by concatenation.
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

from frmdn.models.config import ModelConfig
from frmdn.models.flows import IdentityFlow
from frmdn.models.mixture import LowRankPrecisionGMM
from frmdn.models.sequence import FRMDN, RMDN, SequenceDensityModel, build_model
from frmdn.views import one_step_predictions
from tests.test_pitch import explicit_pitch_prediction


def make_model(
    kind: str,
    d: int,
    rank: int = 1,
    cond_dim: int = 0,
    *,
    seed: int = 0,
    perturb: bool = True,
    **kwargs,
) -> SequenceDensityModel:
    """A small model in eval mode, with every parameter perturbed (flow no longer identity)."""
    torch.manual_seed(seed)
    common = dict(n_components=3, rank=rank, hidden_size=16, cond_dim=cond_dim, **kwargs)
    if kind == "rmdn":
        model = RMDN(d, **common)
    else:  # "frmdn", or "frmdn-lstm": couplings that also read the LSTM state
        context = "lstm" if kind == "frmdn-lstm" else "none"
        model = FRMDN(d, flow_layers=2, flow_hidden=16, flow_context=context, **common)
    if perturb:
        with torch.no_grad():
            for parameter in model.parameters():
                fan_in = parameter.shape[-1] if parameter.dim() > 1 else 1
                parameter.add_(0.3 / fan_in**0.5 * torch.randn_like(parameter))
    return model.eval()


def explicit_mixture_log_prob(gmm: LowRankPrecisionGMM, z: torch.Tensor) -> torch.Tensor:
    """log sum_k alpha_k N(z; mu_k, inv(diag(D_k) + U_k U_k^T)), all in float64 by hand."""
    logits, loc, diag, factor = (
        p.detach().double().cpu() for p in (gmm.logits, gmm.loc, gmm.diag, gmm.factor)
    )
    precision = torch.diag_embed(diag) + factor @ factor.transpose(-1, -2)
    covariance = torch.linalg.inv(precision)
    delta = z.unsqueeze(-2) - loc
    _, log_det_cov = torch.linalg.slogdet(covariance)
    quad = (delta * torch.linalg.solve(covariance, delta.unsqueeze(-1)).squeeze(-1)).sum(-1)
    d = loc.shape[-1]
    component = -0.5 * (d * math.log(2 * math.pi) + log_det_cov + quad)
    return torch.logsumexp(torch.log_softmax(logits, -1) + component, -1)


@torch.no_grad()
def stepwise_log_prob(
    model: SequenceDensityModel, y: torch.Tensor, x: torch.Tensor | None = None
) -> torch.Tensor:
    """log p(y_t | y_<t) one step at a time, independent of ``model.log_prob``."""
    B, T, d = y.shape
    flow64 = copy.deepcopy(model.flow).double()
    u = model.normalize(y)
    state = model._initial_state(B)
    previous = model.start.expand(B, 1, d)
    out = torch.empty(B, T, dtype=torch.float64)
    for t in range(T):
        inputs = previous if x is None else torch.cat([previous, x[:, t : t + 1]], dim=-1)
        hidden, state = model.lstm(inputs, state)  # (B, 1, H)
        gmm = model._mixture_from_hidden(hidden)  # batch shape (B, 1)
        u_t = u[:, t].double().cpu()  # (B, d)
        if model.pitch is not None:  # the residual after each sample's guess from its past
            C = model.pitch.context
            for b in range(B):
                window = torch.cat([torch.zeros(C), u[b, : t + 1].cpu().reshape(-1)])[-C - d :]
                u_t[b] -= explicit_pitch_prediction(model.pitch, window, hidden[b, 0])
        context = hidden[:, 0].double().cpu() if model.config.flow_context == "lstm" else None
        with torch.enable_grad():  # (B, d, B, d); rows of different sequences do not interact
            jacobian = torch.autograd.functional.jacobian(
                lambda v, c=context: flow64(v, c)[0], u_t, vectorize=True
            )
        blocks = torch.stack([jacobian[b, :, b] for b in range(B)])  # (B, d, d)
        _, ladj = torch.linalg.slogdet(blocks)
        z = flow64(u_t, context)[0].unsqueeze(1)  # (B, 1, d)
        log_mix = explicit_mixture_log_prob(gmm, z)[:, 0]  # (B,)
        out[:, t] = log_mix + ladj - model.data_scale.double().cpu().log().sum()
        previous = u[:, t : t + 1]
    return out


# --------------------------------------------------------------------------- likelihood

MODEL_CASES = (
    [
        pytest.param(kind, d, rank, 0, id=f"{kind}-d{d}-r{rank}")
        for kind in ("rmdn", "frmdn")
        for d in (1, 2, 5)
        for rank in (0, 1, 2)
    ]
    + [pytest.param(kind, 2, 1, 3, id=f"{kind}-cond3") for kind in ("rmdn", "frmdn", "frmdn-lstm")]
    + [
        pytest.param("frmdn-lstm", d, rank, 0, id=f"frmdn-lstm-d{d}-r{rank}")
        for d, rank in ((2, 0), (5, 2))
    ]
)
PITCH = {"pitch_max_lag": 9, "pitch_min_lag": 2}


@pytest.mark.parametrize(("kind", "d", "rank", "cond_dim"), MODEL_CASES)
def test_log_prob_equals_stepwise_reference(kind, d, rank, cond_dim, device) -> None:
    model = make_model(kind, d, rank, cond_dim, seed=d + 10 * rank).to(device)
    model.set_normalization(0.5 * torch.randn(d), 0.5 + torch.rand(d))
    B, T = 3, 6
    y = torch.randn(B, T, d, device=device)
    x = torch.randn(B, T, cond_dim, device=device) if cond_dim else None
    log_prob = model.log_prob(y, x)
    assert log_prob.shape == (B, T)
    assert log_prob.dtype == torch.float32
    assert torch.isfinite(log_prob).all()
    expected = stepwise_log_prob(model, y, x)
    torch.testing.assert_close(log_prob.double().cpu(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cond_dim", [0, 2])
@pytest.mark.parametrize("kind", ["rmdn", "frmdn"])
def test_pitch_log_prob_equals_stepwise_reference(kind, cond_dim, device) -> None:
    d = 4  # lags up to 9 read 13 samples back
    model = make_model(kind, d, 2, cond_dim, seed=7, **PITCH).to(device)
    model.set_normalization(0.5 * torch.randn(d), 0.5 + torch.rand(d))
    y = torch.randn(3, 6, d, device=device)
    x = torch.randn(3, 6, cond_dim, device=device) if cond_dim else None
    log_prob = model.log_prob(y, x)
    assert torch.isfinite(log_prob).all()
    expected = stepwise_log_prob(model, y, x)
    torch.testing.assert_close(log_prob.double().cpu(), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", ["rmdn", "frmdn"])
def test_pitch_residuals_are_a_unit_jacobian_map_of_the_whole_sequence(kind) -> None:
    """The map from a whole sequence y to the standardised residuals u_t - o_t is lower
    triangular with diagonal 1 / scale, so the sequence log-likelihood stays exact."""
    T, d = 5, 4
    model = make_model(kind, d, 1, seed=2, **PITCH).double()
    with torch.no_grad():  # a clear gain and lag 2, inside the frame, as the likeliest
        model.pitch.steer.bias[:3] = torch.tensor([-10.0, 2.0, 5.0])  # no pitch detector
    scale = 0.5 + torch.rand(d, dtype=torch.float64)
    model.set_normalization(torch.randn(d), scale)
    model.data_shift, model.data_scale = model.data_shift.double(), model.data_scale.double()

    def residuals(flat: torch.Tensor) -> torch.Tensor:
        y = flat.reshape(1, T, d)
        _, offset, _ = model.predictive(y)
        return (model.normalize(y) - offset).reshape(-1)

    y = torch.randn(T * d, dtype=torch.float64)
    jacobian = torch.autograd.functional.jacobian(residuals, y).reshape(T, d, T, d)
    for t in range(T):
        block = jacobian[t, :, t]  # within a frame: each sample reads only earlier ones
        torch.testing.assert_close(block.diagonal(), 1 / scale)
        assert torch.count_nonzero(block.triu(1)) == 0
        assert torch.count_nonzero(jacobian[t, :, t + 1 :]) == 0
    assert jacobian[T - 1, :, : T - 1].abs().max() > 1e-3  # the guess does read the past
    assert jacobian[T - 1, :, T - 1].tril(-1).abs().max() > 1e-3  # and the frame's start


@pytest.mark.parametrize("kind", ["rmdn", "frmdn"])
def test_cold_pitch_sampling_feeds_back_the_same_guess_as_the_likelihood(kind) -> None:
    """With one component and temperature near 0 a generated sequence is its own teacher-forced
    prediction: sampling and the likelihood read the same past samples."""
    d = 4
    torch.manual_seed(3)
    cls = RMDN if kind == "rmdn" else FRMDN
    extra = {} if kind == "rmdn" else {"flow_layers": 2, "flow_hidden": 8}
    model = cls(d, n_components=1, rank=1, hidden_size=8, **PITCH, **extra)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
        model.pitch.steer.bias[1] = 1.0  # a gain of about 0.7: the guess matters
    model.eval()
    prime = torch.randn(2, 3, d)
    generated = model.sample(2, 6, prime=prime, temperature=1e-10)
    whole = torch.cat([prime, generated], dim=1)
    predicted = one_step_predictions(model, whole)[:, 3:]
    torch.testing.assert_close(predicted, generated, atol=1e-3, rtol=1e-3)
    window = torch.randn(2, model.pitch.context + d)
    assert model.pitch(window, torch.randn(2, 8)).abs().max() > 0.1


@pytest.mark.parametrize("temperature", [1.0, 0.5])
@pytest.mark.parametrize("rank", [0, 2])
def test_generation_draws_from_the_tempered_mixture(rank, temperature) -> None:
    """The generation fast path (only the drawn component's precision) samples the same
    distribution as the full mixture with ``with_temperature``: equal moments."""
    model = make_model("rmdn", 2, rank=rank, seed=4)
    hidden = torch.randn(1, 16).expand(40_000, 16)
    torch.manual_seed(0)
    fast = model._draw_next(hidden, temperature).double()
    gmm = model._mixture_from_hidden(hidden[:1]).with_temperature(temperature)
    reference = gmm.sample((40_000,))[:, 0].double()
    se = (fast.std(0) + reference.std(0)) / math.sqrt(40_000)
    assert ((fast.mean(0) - reference.mean(0)).abs() < 5 * se).all()
    spread, expected = torch.cov(fast.T), torch.cov(reference.T)
    assert ((spread - expected).abs() < 0.05 * expected.abs().max()).all(), (spread, expected)


@pytest.mark.parametrize("num_layers", [1, 2])
def test_single_lstm_steps_equal_the_fused_module(num_layers) -> None:
    """Generation steps the LSTM one frame at a time; it must be the module's recurrence."""
    model = make_model("frmdn", 3, num_layers=num_layers)
    inputs = torch.randn(2, 5, 3)
    with torch.no_grad():
        expected, _ = model.lstm(inputs, model._initial_state(2))
        state, outputs = model._initial_state(2), []
        for t in range(5):
            out, state = model._lstm_step(inputs[:, t], state)
            outputs.append(out)
    torch.testing.assert_close(torch.stack(outputs, dim=1), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["rmdn", "frmdn", "frmdn-lstm"])
def test_log_prob_is_causal(kind, device) -> None:
    model = make_model(kind, 3, rank=2, cond_dim=2).to(device)
    y = torch.randn(2, 8, 3, device=device)
    x = torch.randn(2, 8, 2, device=device)
    base = model.log_prob(y, x)
    for t in range(7):
        changed_y, changed_x = y.clone(), x.clone()
        changed_y[:, t + 1 :] = torch.randn_like(changed_y[:, t + 1 :])
        changed_x[:, t + 1 :] = torch.randn_like(changed_x[:, t + 1 :])
        out = model.log_prob(changed_y, changed_x)
        torch.testing.assert_close(out[:, : t + 1], base[:, : t + 1], rtol=1e-6, atol=1e-6)
        assert (out[:, t + 1] - base[:, t + 1]).abs().min() > 1e-6  # the changed step does move


@pytest.mark.parametrize("t0", [0, 3])
@pytest.mark.parametrize(
    ("kind", "cond_dim"), [("rmdn", 0), ("frmdn", 0), ("frmdn", 2), ("frmdn-lstm", 0)]
)
def test_next_step_log_prob_matches_sequence_log_prob(kind, cond_dim, t0) -> None:
    d = 2
    model = make_model(kind, d, rank=1, cond_dim=cond_dim)
    model.set_normalization(torch.tensor([0.5, -1.0]), torch.tensor([2.0, 0.5]))
    history, points = torch.randn(t0, d), torch.randn(5, d)
    x = torch.randn(t0 + 1, cond_dim) if cond_dim else None
    out = model.next_step_log_prob(history, points, x)
    assert out.shape == (5,)
    sequences = torch.cat([history.expand(5, t0, d), points.unsqueeze(1)], dim=1)
    xs = None if x is None else x.expand(5, t0 + 1, cond_dim)
    torch.testing.assert_close(out, model.log_prob(sequences, xs)[:, -1], rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="history must be"):
        model.next_step_log_prob(history, torch.randn(5, 3), x)


@pytest.mark.parametrize("d", [1, 2, 5])
def test_rmdn_equals_fresh_frmdn(d) -> None:
    rmdn = make_model("rmdn", d, rank=1)
    rmdn.set_normalization(torch.randn(d), 1 + torch.rand(d))
    frmdn = make_model("frmdn", d, rank=1, seed=99, perturb=False)  # flow at its identity init
    missing, unexpected = frmdn.load_state_dict(rmdn.state_dict(), strict=False)
    assert all(key.startswith("flow.") for key in missing) and missing
    assert unexpected == []
    y = torch.randn(3, 7, d)
    tol = {"rtol": 1e-6, "atol": 1e-6} if d == 1 else {"rtol": 0, "atol": 0}
    torch.testing.assert_close(frmdn.log_prob(y), rmdn.log_prob(y), **tol)
    torch.manual_seed(5)
    expected = rmdn.sample(4, 5)
    torch.manual_seed(5)
    torch.testing.assert_close(frmdn.sample(4, 5), expected, rtol=1e-5, atol=1e-5)


def test_rmdn_has_identity_flow() -> None:
    model = make_model("rmdn", 3)
    assert isinstance(model.flow, IdentityFlow)
    y = torch.randn(2, 4, 3)
    gmm, z = model.mixture(y)
    assert gmm.batch_shape == (2, 4)
    torch.testing.assert_close(z, model.normalize(y))
    torch.testing.assert_close(model.log_prob(y), gmm.log_prob(z))


@pytest.mark.parametrize("kind", ["rmdn", "frmdn"])
def test_normalization_relation(kind, device) -> None:
    d = 3
    model = make_model(kind, d, rank=2).to(device)
    y = torch.randn(2, 5, d, device=device)
    shift, scale = torch.tensor([0.5, -1.0, 2.0]), torch.tensor([0.3, 2.0, 1.5])
    plain = model.log_prob((y - shift.to(device)) / scale.to(device))
    model.set_normalization(shift, scale)
    torch.testing.assert_close(model.data_shift.cpu(), shift)
    torch.testing.assert_close(model.data_scale.cpu(), scale)
    normalized = model.log_prob(y)
    torch.testing.assert_close(normalized, plain - scale.log().sum().to(device))
    u = model.normalize(y)
    torch.testing.assert_close(model.denormalize(u), y)
    model.set_normalization(1.0, 2.0)  # scalars broadcast over d
    torch.testing.assert_close(model.data_scale.cpu(), torch.full((d,), 2.0))


def test_standardize_on_uses_per_dimension_mean_and_floored_std() -> None:
    model = make_model("rmdn", 3)
    y = torch.randn(5, 7, 3, dtype=torch.float64) * torch.tensor([2.0, 0.5, 0.0]) + 1.5
    model.standardize_on(y.float())
    flat = y.reshape(-1, 3)
    assert torch.allclose(model.data_shift, flat.mean(0).float(), atol=1e-6)
    expected = flat.std(0).clamp_min(1e-6)  # the constant dimension gets the floor
    assert torch.allclose(model.data_scale, expected.float(), rtol=1e-5)
    assert model.data_scale[2] == pytest.approx(1e-6)


@pytest.mark.parametrize(
    ("shift", "scale"),
    [
        (0.0, 0.0),
        (0.0, -1.0),
        (0.0, float("inf")),
        (0.0, float("nan")),
        (float("nan"), 1.0),
        (float("inf"), 1.0),
        (torch.zeros(3), torch.tensor([1.0, 0.0, 1.0])),
    ],
)
def test_invalid_normalization_raises(shift, scale) -> None:
    model = make_model("rmdn", 3)
    with pytest.raises(ValueError, match="normalisation"):
        model.set_normalization(shift, scale)
    assert torch.equal(model.data_scale, torch.ones(3))  # left untouched


# --------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("kind", ["rmdn", "frmdn", "frmdn-lstm"])
def test_sample_shapes(kind, device) -> None:
    model = make_model(kind, 2, rank=1).to(device)
    model.set_normalization(torch.tensor([1.0, -1.0]), torch.tensor([2.0, 0.5]))
    samples = model.sample(4, 6)
    assert samples.shape == (4, 6, 2)
    assert samples.dtype == torch.float32
    assert torch.isfinite(samples).all()
    prime = torch.randn(4, 3, 2, device=device)
    primed = model.sample(4, 5, prime=prime)
    assert primed.shape == (4, 5, 2)
    assert torch.isfinite(primed).all()
    assert torch.isfinite(model.log_prob(torch.cat([prime, primed], dim=1))).all()


@pytest.mark.parametrize("kind", ["rmdn", "frmdn"])
def test_sample_with_conditioning(kind) -> None:
    model = make_model(kind, 2, rank=1, cond_dim=3)
    x = torch.randn(4, 7, 3)
    assert model.sample(4, 7, x=x).shape == (4, 7, 2)
    prime = torch.randn(4, 3, 2)
    assert model.sample(4, 4, prime=prime, x=x).shape == (4, 4, 2)
    with pytest.raises(ValueError, match="x must have shape"):
        model.sample(4, 7)
    with pytest.raises(ValueError, match="x must have shape"):
        model.sample(4, 7, x=torch.randn(4, 7, 2))


@pytest.mark.parametrize("kind", ["rmdn", "frmdn"])
def test_sample_is_seeded(kind) -> None:
    model = make_model(kind, 3, rank=2)
    torch.manual_seed(7)
    first = model.sample(3, 5, temperature=0.7)
    torch.manual_seed(7)
    assert torch.equal(model.sample(3, 5, temperature=0.7), first)
    assert not torch.equal(model.sample(3, 5, temperature=0.7), first)


@pytest.mark.parametrize("kind", ["rmdn", "frmdn"])
def test_cold_sampling_is_near_deterministic(kind) -> None:
    model = make_model(kind, 2, rank=1)
    with torch.no_grad():  # one clearly dominant component, so tau -> 0 picks it every time
        model.head.bias[:3] += torch.tensor([4.0, 0.0, -4.0])
    prime = torch.randn(1, 4, 2).expand(64, 4, 2)
    torch.manual_seed(0)
    hot = model.sample(64, 5, prime=prime, temperature=1.0)
    cold = model.sample(64, 5, prime=prime, temperature=0.01)
    hot_spread, cold_spread = hot.std(0).mean(), cold.std(0).mean()
    assert hot_spread > 0.1
    assert cold_spread < 0.2 * hot_spread


@pytest.mark.parametrize("kind", ["rmdn", "frmdn", "frmdn-lstm"])
def test_primed_first_sample_follows_the_predicted_mixture(kind) -> None:
    """z = f(normalize(sample)) after a prime is distributed as the mixture at step T0."""
    d, n, t0 = 2, 20_000, 3
    model = make_model(kind, d, rank=1, seed=3)
    model.set_normalization(torch.tensor([0.5, -0.5]), torch.tensor([1.5, 0.7]))
    prime = torch.randn(1, t0, d).expand(n, t0, d)
    torch.manual_seed(0)
    samples = model.sample(n, 1, prime=prime)  # (n, 1, d)
    with torch.no_grad():
        # z = f(u) at step T0, with the flow's context of that step where it has one
        gmm, latents = model.mixture(torch.cat([prime, samples], dim=1))
        z = latents[:, t0].double()
    logits, loc, diag, factor = (
        p[0, t0].double() for p in (gmm.logits, gmm.loc, gmm.diag, gmm.factor)
    )
    weights = torch.softmax(logits, -1)
    covariances = torch.linalg.inv(torch.diag_embed(diag) + factor @ factor.mT)
    mean = weights @ loc
    second = (weights[:, None, None] * (covariances + loc[:, :, None] * loc[:, None, :])).sum(0)
    covariance = second - mean[:, None] * mean[None, :]
    mean_se = z.std(0) / math.sqrt(n)
    assert ((z.mean(0) - mean).abs() < 5 * mean_se).all(), (z.mean(0), mean)
    centred = z - z.mean(0)
    products = centred[:, :, None] * centred[:, None, :]
    cov_se = products.std(0) / math.sqrt(n)
    assert ((products.mean(0) - covariance).abs() < 5 * cov_se).all()


@pytest.mark.parametrize("kind", ["rmdn", "frmdn"])
def test_bound_clamps_generated_values_in_data_units_and_feeds_back_the_clamped_value(
    kind,
) -> None:
    model = make_model(kind, 2, rank=1)
    model.set_normalization(torch.tensor([0.3, -0.2]), torch.tensor([4.0, 0.5]))
    prime = torch.randn(32, 3, 2)
    torch.manual_seed(0)
    free = model.sample(32, 6, prime=prime)
    bound = free[:, 0].abs().amax(-1).median().item()  # about half the first steps go beyond
    torch.manual_seed(0)
    bounded = model.sample(32, 6, prime=prime, bound=bound)
    assert bounded.abs().max() <= bound + 1e-6
    # the first step draws the same values, clamped; the random stream stays aligned, so the
    # next step differs exactly in the sequences whose first value was clamped (fed back)
    assert torch.allclose(bounded[:, 0], free[:, 0].clamp(-bound, bound), atol=1e-6)
    clamped = (free[:, 0].abs() > bound).any(-1)
    assert 0 < clamped.sum() < len(clamped)
    same_next = torch.isclose(bounded[:, 1], free[:, 1].clamp(-bound, bound), atol=1e-6).all(-1)
    assert torch.equal(same_next, ~clamped)
    with pytest.raises(ValueError, match="bound"):
        model.sample(2, 3, bound=0.0)


def test_sample_rejects_bad_arguments() -> None:
    model = make_model("rmdn", 2)
    with pytest.raises(ValueError, match="at least 1"):
        model.sample(0, 3)
    with pytest.raises(ValueError, match="at least 1"):
        model.sample(2, 0)
    with pytest.raises(ValueError, match="expected n"):
        model.sample(2, 3, prime=torch.randn(3, 4, 2))
    with pytest.raises(ValueError, match="y must have shape"):
        model.sample(2, 3, prime=torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match="temperature"):
        model.sample(2, 3, temperature=0.0)


# --------------------------------------------------------------------------- precision caps


def relative_factor(gmm: LowRankPrecisionGMM) -> torch.Tensor:
    """V = D^-1/2 U of a relative-factor head, (*, K, d, r)."""
    return gmm.factor / gmm.diag.sqrt().unsqueeze(-1)


@pytest.mark.parametrize("factor", ["relative", "absolute"])
@pytest.mark.parametrize("kind", ["rmdn", "frmdn"])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_precision_caps(kind, sign, factor) -> None:
    min_precision, max_precision = 1e-3, 1e4
    model = make_model(kind, 3, rank=2, precision_factor=factor)
    with torch.no_grad():
        model.head.weight.normal_(0.0, 1e4)
        model.head.bias.fill_(sign * 1e6)
    y = torch.randn(2, 5, 3)
    gmm, _ = model.mixture(y)
    assert (gmm.diag <= max_precision).all()
    assert (gmm.diag > 0).all()
    # a soft cap: at huge inputs |V|_F^2 reaches max_precision up to float32 rounding
    v = relative_factor(gmm) if factor == "relative" else gmm.factor
    assert (v.square().sum((-2, -1)) <= max_precision * (1 + 1e-6)).all()
    if sign < 0:  # saturated low: the floor, up to the cap's relative 1e-7 shrink
        torch.testing.assert_close(
            gmm.diag, torch.full_like(gmm.diag, min_precision), rtol=1e-6, atol=0
        )
    log_prob = model.log_prob(y)
    assert torch.isfinite(log_prob).all()


@pytest.mark.parametrize("factor", ["relative", "absolute"])
def test_factor_norm_strictly_below_cap(factor) -> None:
    model = make_model("rmdn", 3, rank=2, max_precision=50.0, precision_factor=factor)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(20.0)  # |V|_F^2 = 6 * 400 = 2400 before the cap
    gmm, _ = model.mixture(torch.randn(1, 2, 3))
    v = relative_factor(gmm) if factor == "relative" else gmm.factor
    norm = v.square().sum((-2, -1))
    assert (norm < 50.0).all()
    torch.testing.assert_close(norm, torch.full_like(norm, 2400 / (1 + 2400 / 50)))
    assert (gmm.diag < 50.0).all()


def explicit_head_precision(out: torch.Tensor, config: ModelConfig) -> torch.Tensor:
    """Each component's d x d precision from the head's output (n, out_features), in float64
    from the documented formulas: D = low + s / (1 + s / (high - low)) with s = softplus(raw),
    V = raw (1 + |raw|_F^2 / high)^-1/2, and D^1/2 (I + V V^T) D^1/2 or D + V V^T."""
    K, d, r = config.n_components, config.dim, config.rank
    low, high = config.min_precision, config.max_precision
    out = out.double()
    raw_diag = out[:, K + K * d : K + 2 * K * d].reshape(-1, K, d)
    raw_v = out[:, K + 2 * K * d :].reshape(-1, K, r, d).transpose(-1, -2)  # (n, K, d, r)
    s = torch.log1p(torch.exp(raw_diag))
    diag = low + s / (1 + s / (high - low))
    v = raw_v / torch.sqrt(1 + raw_v.square().sum((-2, -1), keepdim=True) / high)
    eye = torch.eye(d, dtype=torch.float64)
    if config.precision_factor == "absolute":
        return torch.diag_embed(diag) + v @ v.mT
    root = torch.diag_embed(diag.sqrt())
    return root @ (eye + v @ v.mT) @ root


@pytest.mark.parametrize("factor", ["relative", "absolute"])
@pytest.mark.parametrize("rank", [1, 3])
def test_head_precision_matches_explicit_formula(factor, rank) -> None:
    model = make_model("rmdn", 4, rank=rank, precision_factor=factor, seed=rank)
    out = 2.0 * torch.randn(6, model.head.out_features, dtype=torch.float64)
    gmm = model.mixture_head.mixture(out)  # float64 in, float64 out
    expected = explicit_head_precision(out, model.config)
    precision = torch.linalg.inv(gmm.component_covariance())
    torch.testing.assert_close(precision, expected, rtol=1e-9, atol=1e-9)


def test_precision_factor_setting() -> None:
    assert ModelConfig(dim=3).precision_factor == "absolute"  # checkpoints without it: the same
    relative = ModelConfig(dim=3, precision_factor="relative")
    assert ModelConfig.from_dict(relative.to_dict()) == relative
    with pytest.raises(ValueError, match="precision_factor"):
        ModelConfig(dim=3, precision_factor="scaled")


def test_min_precision_is_a_floor() -> None:
    model = make_model("rmdn", 2, rank=1, min_precision=0.5, max_precision=2.0)
    with torch.no_grad():
        model.head.weight.zero_()
        model.head.bias.fill_(-1e3)  # softplus(raw diag) = 0
    gmm, _ = model.mixture(torch.randn(1, 3, 2))
    assert (gmm.diag >= 0.5).all(), gmm.diag.min()


# --------------------------------------------------------------------------- bookkeeping


@pytest.mark.parametrize("pitch", [{}, PITCH], ids=["no-pitch", "pitch"])
@pytest.mark.parametrize("kind", ["rmdn", "frmdn"])
def test_num_parameters(kind, pitch) -> None:
    model = make_model(kind, 3, rank=2, cond_dim=2, **pitch)
    counts = model.num_parameters()
    assert counts["total"] == sum(p.numel() for p in model.parameters())
    assert counts["total"] <= model.config.parameter_bound()
    parts = ("recurrent", "head", "flow", "pitch")
    assert sum(counts[part] for part in parts) == counts["total"]
    assert counts["pitch"] == (17 * (8 + 2) if pitch else 0)  # (H + 1)(lags 2..9 + 2)
    assert counts["head"] == 16 * 3 * (1 + 3 * 4) + 3 * (1 + 3 * 4)
    flow_count = sum(p.numel() for p in model.flow.parameters())
    assert counts["flow"] == flow_count
    assert (flow_count == 0) == (kind == "rmdn")


def test_log_prob_shape_errors() -> None:
    model = make_model("rmdn", 2)
    with pytest.raises(ValueError, match=r"y must have shape \(B, T, 2\)"):
        model.log_prob(torch.randn(3, 5, 3))
    with pytest.raises(ValueError, match=r"y must have shape \(B, T, 2\)"):
        model.log_prob(torch.randn(5, 2))
    with pytest.raises(ValueError, match="no conditioning inputs"):
        model.log_prob(torch.randn(3, 5, 2), torch.randn(3, 5, 1))
    cond = make_model("frmdn", 2, cond_dim=3)
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, 3\)"):
        cond.log_prob(torch.randn(3, 5, 2))
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, 3\)"):
        cond.log_prob(torch.randn(3, 5, 2), torch.randn(3, 4, 3))
    with pytest.raises(ValueError, match=r"x must have shape \(B, T, 3\)"):
        cond.log_prob(torch.randn(3, 5, 2), torch.randn(3, 5, 2))
    with pytest.raises(ValueError, match="y must have shape"):
        cond.mixture(torch.randn(3, 5))


def test_frmdn_needs_flow_layers() -> None:
    with pytest.raises(ValueError, match="flow_layers"):
        FRMDN(2, flow_layers=0)


@pytest.mark.parametrize(
    "overrides",
    [
        {"dim": 0},
        {"n_components": 0},
        {"hidden_size": 0},
        {"num_layers": 0},
        {"flow_hidden": 0},
        {"rank": -1},
        {"cond_dim": -1},
        {"flow_layers": -1},
        {"flow_depth": -1},
        {"min_precision": 0.0},
        {"min_precision": 10.0, "max_precision": 1.0},
        {"min_precision": 1.0, "max_precision": 1.0},
        {"dropout": 1.0},
        {"dropout": -0.1},
        {"input_noise": -0.1},
        {"scale_bound": 0.0},
        {"shift_bound": -0.5},
        {"shift_bound": float("nan")},
        {"pitch_max_lag": -1},
        {"pitch_max_lag": 10, "pitch_min_lag": 0},
        {"pitch_max_lag": 10, "pitch_min_lag": 11},
    ],
)
def test_model_config_validation(overrides) -> None:
    values = {"dim": 2, **overrides}
    with pytest.raises(ValueError):
        ModelConfig(**values)


def test_model_config_round_trip() -> None:
    config = ModelConfig(dim=3, n_components=2, rank=2, hidden_size=8, cond_dim=1, flow_layers=2)
    assert ModelConfig.from_dict(config.to_dict()) == config
    with pytest.raises(ValueError, match="unknown model settings"):
        ModelConfig.from_dict({**config.to_dict(), "colour": "red"})


@pytest.mark.parametrize(
    ("flow_layers", "cls"), [(0, RMDN), (1, FRMDN), (3, FRMDN)], ids=["rmdn", "frmdn1", "frmdn3"]
)
def test_build_model(flow_layers, cls) -> None:
    config = ModelConfig(
        dim=2,
        n_components=2,
        rank=1,
        hidden_size=8,
        cond_dim=1,
        flow_layers=flow_layers,
        flow_hidden=8,
        flow_depth=1,
        scale_bound=1.5,
        min_precision=1e-2,
        max_precision=1e3,
        dropout=0.1,
        input_noise=0.05,
    )
    torch.manual_seed(0)
    model = build_model(config)
    assert type(model) is cls
    if flow_layers:
        assert model.config == config
    else:  # an RMDN keeps every setting except the (unused) flow ones
        flow_names = {"flow_hidden", "flow_depth", "scale_bound"}
        kept = {k: v for k, v in config.to_dict().items() if k not in flow_names}
        assert {k: v for k, v in model.config.to_dict().items() if k not in flow_names} == kept
    rebuilt = build_model(ModelConfig.from_dict(model.config.to_dict()))
    assert type(rebuilt) is cls
    assert rebuilt.config == model.config
    rebuilt.load_state_dict(model.state_dict())
    y, x = torch.randn(2, 4, 2), torch.randn(2, 4, 1)
    torch.testing.assert_close(rebuilt.eval().log_prob(y, x), model.eval().log_prob(y, x))

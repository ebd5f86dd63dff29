"""Tests for the pitch predictor: an explicit float64 reference with loops, and what it is for
(a periodic signal is continued exactly)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from frmdn.pitch import PitchPredictor, context_frames


def explicit_pitch_prediction(
    predictor: PitchPredictor, past: torch.Tensor, hidden: torch.Tensor
) -> torch.Tensor:
    """The predictor by hand in float64 for one context ``past`` (C,) and state ``hidden`` (H,):
    per lag, a loop for the periodic extension and the normalised correlation."""
    past, hidden = past.detach().double().cpu(), hidden.detach().double().cpu()
    d, C = predictor.frame_size, past.shape[0]

    def linear(layer: torch.nn.Linear) -> torch.Tensor:
        return layer.weight.detach().double().cpu() @ hidden + layer.bias.detach().double().cpu()

    sharpness = F.softplus(linear(predictor.sharpness))[0]
    bias, gain = linear(predictor.lag_bias), torch.sigmoid(linear(predictor.gain))[0]
    last = past[C - d :]
    logits, candidates = [], []
    for i, lag in enumerate(range(predictor.min_lag, predictor.max_lag + 1)):
        earlier = past[C - d - lag : C - lag]
        energy = float(earlier @ earlier) * float(last @ last)
        correlation = float(earlier @ last) / math.sqrt(max(energy, 1e-12))
        logits.append(sharpness * correlation + bias[i])
        candidates.append(torch.stack([past[C - lag + n % lag] for n in range(d)]))
    weights = torch.softmax(torch.stack(logits), 0)
    return gain * (weights[:, None] * torch.stack(candidates)).sum(0)


def perturbed_predictor(d: int, hidden: int, min_lag: int, max_lag: int) -> PitchPredictor:
    torch.manual_seed(0)
    predictor = PitchPredictor(d, hidden, min_lag, max_lag)
    with torch.no_grad():
        for parameter in predictor.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    return predictor


@pytest.mark.parametrize(("d", "min_lag", "max_lag"), [(8, 3, 12), (5, 1, 5), (6, 2, 20)])
def test_prediction_equals_explicit_reference(d, min_lag, max_lag) -> None:
    predictor = perturbed_predictor(d, 7, min_lag, max_lag)
    assert predictor.context == context_frames(d, max_lag) * d >= d + max_lag
    past = torch.randn(4, 3, predictor.context)
    past[0, 0, -d:] = 0.0  # a silent last frame: correlation 0, not NaN
    hidden = torch.randn(4, 3, 7)
    out = predictor(past, hidden)
    assert out.shape == (4, 3, d)
    assert torch.isfinite(out).all()
    for b in range(4):
        for t in range(3):
            expected = explicit_pitch_prediction(predictor, past[b, t], hidden[b, t])
            torch.testing.assert_close(out[b, t].double(), expected, rtol=1e-5, atol=1e-5)


def test_correlation_is_normalised_and_peaks_at_the_period() -> None:
    predictor = PitchPredictor(40, 4, 10, 60)
    t = torch.arange(predictor.context, dtype=torch.float32)
    periodic = torch.sin(2 * math.pi * t / 23) + 0.4 * torch.sin(4 * math.pi * t / 23 + 1.0)
    rho = predictor.lag_correlation(periodic)
    assert rho.shape == (51,)
    assert (rho.abs() <= 1 + 1e-6).all()
    lags = torch.arange(10, 61)
    assert set(lags[rho > 0.999].tolist()) == {23, 46}


def test_a_periodic_signal_is_continued_exactly() -> None:
    """With gain near 1 and a sharp choice, the prediction is the true continuation."""
    d, period = 80, 37
    predictor = PitchPredictor(d, 4, 16, 160)
    with torch.no_grad():
        predictor.gain.bias.fill_(30.0)
        predictor.sharpness.bias.fill_(2000.0)
        predictor.lag_bias.bias.copy_(-0.01 * torch.arange(16, 161))  # prefer the shortest
    t = torch.arange(predictor.context + d, dtype=torch.float32)
    signal = torch.sin(2 * math.pi * t / period) * (1 + 0.5 * torch.cos(2 * math.pi * t / period))
    past, following = signal[: predictor.context], signal[predictor.context :]
    torch.testing.assert_close(predictor(past, torch.zeros(4)), following, atol=1e-4, rtol=0)


def test_a_fresh_predictor_predicts_little_and_the_gain_stays_below_one() -> None:
    predictor = PitchPredictor(8, 4, 2, 10)
    past = torch.randn(5, predictor.context)
    fresh = predictor(past, torch.randn(5, 4))
    best = past[:, predictor.repeat_index].abs().amax((-2, -1))  # (5,) largest candidate value
    assert (fresh.abs().amax(-1) <= 0.05 * best + 1e-6).all()
    with torch.no_grad():
        predictor.gain.bias.fill_(1e3)  # as large as the gain can get
    assert (predictor(past, torch.randn(5, 4)).abs().amax(-1) <= best + 1e-6).all()


@pytest.mark.parametrize(("min_lag", "max_lag"), [(0, 5), (6, 5), (-1, 3)])
def test_bad_lags_are_refused(min_lag, max_lag) -> None:
    with pytest.raises(ValueError, match="min_lag"):
        PitchPredictor(8, 4, min_lag, max_lag)

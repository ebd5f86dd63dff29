"""Tests for the pitch predictor: an explicit float64 reference with loops, and what it is for
(a periodic signal is continued exactly)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from frmdn.pitch import SMALL_BATCH, PitchPredictor


def explicit_pitch_prediction(
    predictor: PitchPredictor, past: torch.Tensor, hidden: torch.Tensor
) -> torch.Tensor:
    """The predictor by hand in float64 for one context ``past`` (C,) and state ``hidden`` (H,):
    per delay, a slice for the copied frame and dot products for the correlation."""
    past, hidden = past.detach().double().cpu(), hidden.detach().double().cpu()
    d, C = predictor.frame_size, past.shape[0]

    weight, offset = (p.detach().double().cpu() for p in predictor.steer.parameters())
    steer = weight @ hidden + offset  # [sharpness, gain, delay bias]
    sharpness, gain, bias = F.softplus(steer[0]), torch.sigmoid(steer[1]), steer[2:]
    last = past[C - d :]
    logits, candidates = [], []
    for i, delay in enumerate(range(d, d + len(bias))):
        earlier = past[C - d - delay : C - delay]
        energy = float(earlier @ earlier) * float(last @ last)
        correlation = float(earlier @ last) / math.sqrt(max(energy, 1e-12))
        logits.append(sharpness * correlation + bias[i])
        candidates.append(torch.stack([past[C - delay + n] for n in range(d)]))
    weights = torch.softmax(torch.stack(logits), 0)
    return gain * (weights[:, None] * torch.stack(candidates)).sum(0)


def perturbed_predictor(d: int, hidden: int, max_lag: int) -> PitchPredictor:
    torch.manual_seed(0)
    predictor = PitchPredictor(d, hidden, max_lag)
    with torch.no_grad():
        for parameter in predictor.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    return predictor


@pytest.mark.parametrize("batch", [(4, 3), (10, 9)], ids=["matrices", "convolutions"])
@pytest.mark.parametrize(("d", "max_lag", "delays"), [(8, 12, 8), (5, 5, 5), (6, 20, 15)])
def test_prediction_equals_explicit_reference(d, max_lag, delays, batch) -> None:
    """Both code paths: up to SMALL_BATCH frames (generation) and more (training)."""
    assert (batch[0] * batch[1] > SMALL_BATCH) == (batch == (10, 9))
    predictor = perturbed_predictor(d, 7, max_lag)
    assert list(predictor.delays) == list(range(d, d + delays))
    assert predictor.context == d + predictor.delays[-1]
    past = torch.randn(*batch, predictor.context)
    past[0, 0, -d:] = 0.0  # a silent last frame: correlation 0, not NaN
    hidden = torch.randn(*batch, 7)
    out = predictor(past, hidden)
    assert out.shape == (*batch, d)
    assert torch.isfinite(out).all()
    for b in range(batch[0]):
        for t in range(batch[1]):
            expected = explicit_pitch_prediction(predictor, past[b, t], hidden[b, t])
            torch.testing.assert_close(out[b, t].double(), expected, rtol=1e-5, atol=1e-5)


def test_correlation_is_normalised_and_peaks_at_multiples_of_the_period() -> None:
    predictor = PitchPredictor(40, 4, 60)  # delays 40..79
    t = torch.arange(predictor.context, dtype=torch.float32)
    periodic = torch.sin(2 * math.pi * t / 23) + 0.4 * torch.sin(4 * math.pi * t / 23 + 1.0)
    rho = predictor.delay_correlation(periodic)
    assert rho.shape == (40,)
    assert (rho.abs() <= 1 + 1e-5).all()
    delays = torch.tensor(list(predictor.delays))
    assert set(delays[rho > 0.999].tolist()) == {46, 69}


@pytest.mark.parametrize("period", [23, 37, 80, 113, 160])
def test_a_periodic_signal_is_continued_exactly(period) -> None:
    """With gain near 1 and a sharp choice, the prediction is the true continuation, for
    periods shorter and longer than a frame."""
    d = 80
    predictor = PitchPredictor(d, 4, 160)
    with torch.no_grad():
        predictor.steer.bias[:2] = torch.tensor([3000.0, 30.0])  # sharpness, gain
    t = torch.arange(predictor.context + d, dtype=torch.float64)
    phases = torch.rand(12, 1, generator=torch.Generator().manual_seed(period), dtype=t.dtype)
    harmonics = torch.arange(1, 13, dtype=t.dtype)[:, None]  # a buzz, like a voiced sound
    signal = torch.sin(2 * math.pi * (harmonics * t / period + phases)).sum(0).float()
    past, following = signal[: predictor.context], signal[predictor.context :]
    torch.testing.assert_close(predictor(past, torch.zeros(4)), following, atol=1e-3, rtol=0)


def test_a_fresh_predictor_predicts_little_and_the_gain_stays_below_one() -> None:
    predictor = PitchPredictor(8, 4, 10)
    past = torch.randn(5, predictor.context)
    fresh = predictor(past, torch.randn(5, 4))
    largest = past.abs().amax(-1)  # every candidate is a slice of the past
    assert (fresh.abs().amax(-1) <= 0.05 * largest + 1e-6).all()
    with torch.no_grad():
        predictor.steer.bias[1] = 1e3  # as large as the gain can get
    assert (predictor(past, torch.randn(5, 4)).abs().amax(-1) <= largest + 1e-6).all()


def test_bad_lags_are_refused() -> None:
    with pytest.raises(ValueError, match="max_lag"):
        PitchPredictor(8, 4, 0)

"""Tests for the pitch predictor: an explicit float64 reference with loops, its inverse, and
what it is for (a periodic signal is continued exactly)."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from frmdn.models.pitch import MAX_GAIN, SMALL_BATCH, PitchPredictor


def explicit_pitch_prediction(
    predictor: PitchPredictor, window: torch.Tensor, hidden: torch.Tensor
) -> torch.Tensor:
    """The predictor by hand in float64 for one ``window`` (C + d,), the context then the
    frame, and state ``hidden`` (H,): dot products per lag, a double loop for the guess."""
    window, hidden = window.detach().double().cpu(), hidden.detach().double().cpu()
    d, C = predictor.frame_size, predictor.context
    weight, offset = (p.detach().double().cpu() for p in predictor.steer.parameters())
    steer = weight @ hidden + offset  # [sharpness, gain, lag bias]
    sharpness, gain, bias = F.softplus(steer[0]), MAX_GAIN * torch.sigmoid(steer[1]), steer[2:]
    last = window[C - d : C]
    lags = list(range(predictor.min_lag, predictor.max_lag + 1))
    logits = []
    for i, lag in enumerate(lags):
        earlier = window[C - d - lag : C - lag]
        energy = float(earlier @ earlier) * float(last @ last)
        correlation = float(earlier @ last) / math.sqrt(max(energy, 1e-12))
        logits.append(sharpness * correlation + bias[i])
    weights = torch.softmax(torch.stack(logits), 0)
    guess = torch.zeros(d, dtype=torch.float64)
    for n in range(d):
        for w, lag in zip(weights, lags, strict=True):
            guess[n] += gain * w * window[C + n - lag]
    return guess


def perturbed_predictor(d: int, hidden: int, min_lag: int, max_lag: int) -> PitchPredictor:
    torch.manual_seed(0)
    predictor = PitchPredictor(d, hidden, min_lag, max_lag)
    with torch.no_grad():
        for parameter in predictor.parameters():
            parameter.add_(0.5 * torch.randn_like(parameter))
    return predictor


LAG_CASES = [(8, 3, 12), (5, 1, 5), (6, 2, 20), (4, 6, 9)]  # (d, min_lag, max_lag)


@pytest.mark.parametrize("batch", [(4, 3), (10, 9)], ids=["matrices", "convolutions"])
@pytest.mark.parametrize(("d", "min_lag", "max_lag"), LAG_CASES)
def test_prediction_equals_explicit_reference(d, min_lag, max_lag, batch) -> None:
    """Both code paths: up to SMALL_BATCH frames (generation) and more (training)."""
    assert (batch[0] * batch[1] > SMALL_BATCH) == (batch == (10, 9))
    predictor = perturbed_predictor(d, 7, min_lag, max_lag)
    assert predictor.context == d + max_lag
    window = torch.randn(*batch, predictor.context + d)
    window[0, 0, predictor.max_lag : predictor.context] = 0.0  # silent: correlation 0, not NaN
    hidden = torch.randn(*batch, 7)
    out = predictor(window, hidden)
    assert out.shape == (*batch, d)
    assert torch.isfinite(out).all()
    for b in range(batch[0]):
        for t in range(batch[1]):
            expected = explicit_pitch_prediction(predictor, window[b, t], hidden[b, t])
            torch.testing.assert_close(out[b, t].double(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("n", [3, 70], ids=["matrices", "convolutions"])
@pytest.mark.parametrize(("d", "min_lag", "max_lag"), LAG_CASES)
def test_synthesize_inverts_the_prediction(d, min_lag, max_lag, n) -> None:
    """u = synthesize(past, r) has residual u - forward([past, u]) = r: what sampling draws
    is what the likelihood scores."""
    predictor = perturbed_predictor(d, 7, min_lag, max_lag)
    with torch.no_grad():
        predictor.steer.bias[1] = 2.0  # a gain of about 0.9: the repeats matter
    past, residual, hidden = (
        torch.randn(n, predictor.context),
        torch.randn(n, d),
        torch.randn(n, 7),
    )
    frame = predictor.synthesize(past, residual, hidden)
    guess = predictor(torch.cat([past, frame], dim=-1), hidden)
    torch.testing.assert_close(frame - guess, residual, rtol=1e-5, atol=1e-5)
    assert (guess.abs() > 1e-3).any()


def test_correlation_is_normalised_and_peaks_at_the_period() -> None:
    predictor = PitchPredictor(40, 4, 10, 60)
    t = torch.arange(predictor.context, dtype=torch.float32)
    periodic = torch.sin(2 * math.pi * t / 23) + 0.4 * torch.sin(4 * math.pi * t / 23 + 1.0)
    rho = predictor.lag_correlation(periodic)
    assert rho.shape == (51,)
    assert (rho.abs() <= 1 + 1e-5).all()
    lags = torch.tensor(list(predictor.lags))
    assert set(lags[rho > 0.999].tolist()) == {23, 46}


@pytest.mark.parametrize("period", [23, 37, 80, 113, 160])
def test_a_periodic_signal_is_predicted_up_to_the_gain(period) -> None:
    """With the largest gain and a sharp choice, the guess of a periodic frame is the frame
    times the gain, and synthesising from the rest gives the frame back, for periods shorter
    and longer than a frame."""
    d = 80
    predictor = PitchPredictor(d, 4, 20, 160)
    with torch.no_grad():
        predictor.steer.bias[:2] = torch.tensor([3000.0, 40.0])  # sharpness, gain (MAX_GAIN)
    t = torch.arange(predictor.context + d, dtype=torch.float64)
    phases = torch.rand(12, 1, generator=torch.Generator().manual_seed(period), dtype=t.dtype)
    harmonics = torch.arange(1, 13, dtype=t.dtype)[:, None]  # a buzz, like a voiced sound
    signal = torch.sin(2 * math.pi * (harmonics * t / period + phases)).sum(0).float()
    past, following = signal[: predictor.context], signal[predictor.context :]
    hidden = torch.zeros(4)
    guess = predictor(signal, hidden)
    torch.testing.assert_close(guess, MAX_GAIN * following, atol=1e-3, rtol=0)
    rest = (1 - MAX_GAIN) * following
    continued = predictor.synthesize(past[None], rest[None], hidden[None])[0]
    torch.testing.assert_close(continued, following, atol=1e-3, rtol=0)


def test_a_fresh_predictor_predicts_little_and_the_gain_stays_below_its_cap() -> None:
    predictor = PitchPredictor(8, 4, 2, 10)
    window = torch.randn(5, predictor.context + 8)
    fresh = predictor(window, torch.randn(5, 4))
    largest = window.abs().amax(-1)  # every guess is a weighted mean of earlier samples
    assert (fresh.abs().amax(-1) <= 0.05 * largest + 1e-6).all()
    with torch.no_grad():
        predictor.steer.bias[1] = 1e3  # as large as the gain can get
    capped = predictor(window, torch.randn(5, 4)).abs().amax(-1)
    assert (capped <= MAX_GAIN * largest + 1e-6).all()


@pytest.mark.parametrize(("min_lag", "max_lag"), [(0, 5), (6, 5)])
def test_bad_lags_are_refused(min_lag, max_lag) -> None:
    with pytest.raises(ValueError, match="min_lag"):
        PitchPredictor(8, 4, min_lag, max_lag)

"""A long-term (pitch) predictor for frames of audio: the next frame as a copy of the past."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PitchPredictor"]

SMALL_BATCH = 64  # up to this many frames at once (generation), matrices beat convolutions


def _normalised_correlation(windows: Tensor, last: Tensor) -> Tensor:
    """Correlation of ``last`` (N, d) with each of ``windows`` (N, S, d): (N, S)."""
    cross = (windows @ last.unsqueeze(-1)).squeeze(-1)
    energy = windows.square().sum(-1) * last.square().sum(-1, keepdim=True)
    return cross * torch.rsqrt(energy.clamp_min(1e-12))


class PitchPredictor(nn.Module):
    r"""Predicts the next frame of a waveform by copying the audio one or more periods back.

    Voiced speech is nearly periodic, and a recurrent network's mean cannot copy a 10 ms frame
    sample for sample. Speech codecs (CELP's "adaptive codebook") predict it from the past
    instead; this is a soft, differentiable version. The candidate for delay :math:`s` is the
    frame :math:`s` samples back in the context :math:`c` (the last C samples),
    :math:`\hat y^{(s)}_n = c_{C - s + n}`, for every delay :math:`s \in [d, D]`, where
    :math:`D = \max(\text{max\_lag}, 2d - 1)`: a period :math:`l \le` ``max_lag`` is copied
    by the multiple of :math:`l` in that range, which is exact for a periodic signal. The
    prediction is :math:`g \sum_s w_s \hat y^{(s)}` with
    :math:`w = \mathrm{softmax}(a \rho + b)`: :math:`\rho_s` is the normalised correlation of
    the last frame with the frame :math:`s` samples before it (a pitch detector), and the
    sharpness :math:`a > 0`, the delay bias :math:`b` and the gain :math:`g \in (0, 1)` come
    from the recurrent state, so the model learns when the signal is voiced. The gain stays
    below 1 because generation feeds predictions back: a gain above 1 (which onsets would teach
    it) makes a generated vowel grow until it saturates. It starts near 0 (0.05).

    Both sums over delays are grouped 1-d convolutions (one kernel per frame), several times
    faster than gathering every candidate frame.

    The model subtracts the prediction from the target before the flow. The prediction
    depends only on the past, so the map from targets to residuals is triangular with a unit
    Jacobian and the likelihood stays that of the waveform.

    Arguments:
        frame_size: Samples per frame d.
        hidden_size: Width of the recurrent state that steers it.
        max_lag: Longest period in samples (160 at 8 kHz is 50 Hz); shorter periods are
            covered down to a single sample.
    """

    def __init__(self, frame_size: int, hidden_size: int, max_lag: int) -> None:
        super().__init__()
        if max_lag < 1:
            raise ValueError(f"max_lag must be at least 1, got {max_lag}")
        self.frame_size = frame_size
        self.max_delay = max(max_lag, 2 * frame_size - 1)
        self.context = frame_size + self.max_delay
        # one layer steers it all (one matmul per generated step): [sharpness, gain, delay bias]
        self.steer = nn.Linear(hidden_size, 2 + self.max_delay - frame_size + 1)
        nn.init.zeros_(self.steer.weight)
        with torch.no_grad():  # sharp enough that the best-correlated delay dominates
            self.steer.bias.zero_()
            self.steer.bias[0] = math.log(math.expm1(10.0))
            self.steer.bias[1] = math.log(0.05 / 0.95)

    @property
    def delays(self) -> range:
        """The delays s in samples, in the order of the weights."""
        return range(self.frame_size, self.max_delay + 1)

    def delay_correlation(self, past: Tensor) -> Tensor:
        """Normalised correlation of the last frame with the frame each delay before it.

        ``past`` (*, C) -> (*, S), each in [-1, 1] (0 where either frame is silent).
        """
        d, C = self.frame_size, self.context
        flat = past.reshape(-1, C)  # (N, C)
        last = flat[:, C - d :]  # (N, d)
        earlier = flat[:, : C - d].unsqueeze(0)  # (1, N, C - d): windows start at C - d - s
        cross = F.conv1d(earlier, last.unsqueeze(1), groups=flat.shape[0])[0]  # (N, S)
        energy = d * F.avg_pool1d(earlier.square(), d, stride=1)[0]  # (N, S)
        energy = energy * last.square().sum(-1, keepdim=True)
        rho = cross * torch.rsqrt(energy.clamp_min(1e-12))
        return rho.flip(-1).reshape(*past.shape[:-1], -1)  # window start descending = s ascending

    def forward(self, past: Tensor, hidden: Tensor) -> Tensor:
        """The predicted next frame (*, d) from the last C samples ``past`` (*, C), oldest
        first, and the recurrent state ``hidden`` (*, H)."""
        d, C, S = self.frame_size, self.context, len(self.delays)
        raw_sharpness, raw_gain, delay_bias = self.steer(hidden).split([1, 1, S], dim=-1)
        flat = past.reshape(-1, C)  # (N, C)
        if flat.shape[0] > SMALL_BATCH:  # training: grouped convolutions, one kernel per frame
            rho = self.delay_correlation(flat)
        else:  # generation: all D + 1 windows of d samples as one small matrix
            windows = flat.unfold(-1, d, 1)  # (N, D + 1, d); window p starts at sample p
            rho = _normalised_correlation(windows[:, :S], flat[:, C - d :]).flip(-1)
        logits = F.softplus(raw_sharpness.reshape(-1, 1)) * rho + delay_bias.reshape(-1, S)
        weights = logits.softmax(-1)  # (N, S), delays ascending
        if flat.shape[0] > SMALL_BATCH:
            # out[n] = sum_k w[D - k] recent[n + k] = sum_s w_s past[C - s + n]
            recent = flat[:, C - self.max_delay :].unsqueeze(0)  # (1, N, D)
            copied = F.conv1d(recent, weights.flip(-1).unsqueeze(1), groups=flat.shape[0])[0]
        else:  # window C - s is the copy at delay s: windows d..D, delays descending
            copied = (weights.flip(-1).unsqueeze(-2) @ windows[:, d:]).squeeze(-2)
        gain = torch.sigmoid(raw_gain)  # (*, 1)
        return gain * copied.reshape(*past.shape[:-1], d)

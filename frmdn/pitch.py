"""A long-term (pitch) predictor for frames of audio: the next frame as a repeat of the past."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PitchPredictor", "context_frames"]


def context_frames(frame_size: int, max_lag: int) -> int:
    """Past frames a :class:`PitchPredictor` reads: enough for the last frame at every lag."""
    return math.ceil((frame_size + max_lag) / frame_size)


class PitchPredictor(nn.Module):
    r"""Predicts the next frame of a waveform by repeating its last pitch period.

    Voiced speech is nearly periodic, and a frame of 10 ms spans one to four periods that a
    recurrent network's mean cannot copy sample for sample. Speech codecs (CELP's "adaptive
    codebook") predict it by repeating the past instead; this is a soft, differentiable
    version. For each lag :math:`l` in ``[min_lag, max_lag]`` samples, the candidate is the
    periodic extension of the last :math:`l` samples of the context :math:`c` (length C),

    .. math:: \hat y^{(l)}_n = c_{C - l + (n \bmod l)}, \quad n = 0, \dots, d - 1,

    and the prediction is :math:`g \sum_l w_l \hat y^{(l)}` with
    :math:`w = \mathrm{softmax}(a \rho + b)`: :math:`\rho_l` is the normalised correlation of
    the last frame with the frame :math:`l` samples earlier (a pitch detector), and the
    sharpness :math:`a > 0`, the lag bias :math:`b` and the gain :math:`g \in (0, 1)` come from
    the recurrent state, so the model learns when the signal is voiced. The gain stays below 1
    because generation feeds predictions back: a gain above 1 (which onsets would teach it)
    makes a generated vowel grow until it saturates. It starts near 0 (0.05): a fresh
    predictor predicts almost nothing.

    The model subtracts the prediction from the target before the flow. The prediction
    depends only on the past, so the map from targets to residuals is triangular with a unit
    Jacobian and the likelihood stays that of the waveform.

    Arguments:
        frame_size: Samples per frame d.
        hidden_size: Width of the recurrent state that steers it.
        min_lag: Shortest period in samples (16 at 8 kHz is 500 Hz).
        max_lag: Longest period in samples (160 at 8 kHz is 50 Hz).
    """

    def __init__(self, frame_size: int, hidden_size: int, min_lag: int, max_lag: int) -> None:
        super().__init__()
        if not 1 <= min_lag <= max_lag:
            raise ValueError(f"need 1 <= min_lag <= max_lag, got {min_lag} and {max_lag}")
        self.frame_size, self.min_lag, self.max_lag = frame_size, min_lag, max_lag
        self.context = context_frames(frame_size, max_lag) * frame_size
        lags = torch.arange(min_lag, max_lag + 1)[:, None]  # (L, 1)
        n = torch.arange(frame_size)[None, :]  # (1, d)
        self.register_buffer("repeat_index", self.context - lags + n % lags, persistent=False)
        self.register_buffer(
            "earlier_index", self.context - frame_size - lags + n, persistent=False
        )
        self.lag_bias = nn.Linear(hidden_size, lags.shape[0])
        self.sharpness = nn.Linear(hidden_size, 1)
        self.gain = nn.Linear(hidden_size, 1)
        for layer in (self.lag_bias, self.sharpness, self.gain):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        with torch.no_grad():  # sharp enough that the best-correlated lag dominates
            self.sharpness.bias.fill_(math.log(math.expm1(10.0)))
            self.gain.bias.fill_(math.log(0.05 / 0.95))

    def lag_correlation(self, past: Tensor) -> Tensor:
        """Normalised correlation of the last frame with the frame each lag earlier.

        ``past`` (*, C) -> (*, L), each in [-1, 1] (0 where either frame is silent).
        """
        last = past[..., -self.frame_size :].unsqueeze(-2)  # (*, 1, d)
        earlier = past[..., self.earlier_index]  # (*, L, d)
        energy = earlier.square().sum(-1) * last.square().sum(-1)  # (*, L)
        return (earlier * last).sum(-1) * torch.rsqrt(energy.clamp_min(1e-12))

    def forward(self, past: Tensor, hidden: Tensor) -> Tensor:
        """The predicted next frame (*, d) from the last C samples ``past`` (*, C), oldest
        first, and the recurrent state ``hidden`` (*, H)."""
        sharpness = F.softplus(self.sharpness(hidden))  # (*, 1)
        weights = (sharpness * self.lag_correlation(past) + self.lag_bias(hidden)).softmax(-1)
        candidates = past[..., self.repeat_index]  # (*, L, d)
        gain = torch.sigmoid(self.gain(hidden))  # (*, 1)
        return gain * (weights.unsqueeze(-2) @ candidates).squeeze(-2)

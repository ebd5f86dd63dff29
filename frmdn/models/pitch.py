"""A long-term (pitch) predictor for frames of audio: each sample as a repeat of the past."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["PitchPredictor"]

SMALL_BATCH = 64  # up to this many frames at once (generation), matrices beat convolutions
MAX_GAIN = 0.95  # keeps generation's resonances decaying (see PitchPredictor)


def _lag_sums(segment: Tensor, kernel: Tensor, length: int) -> Tensor:
    """``out[:, n] = sum_k kernel[:, k] * segment[:, n + k]`` for n < ``length``: one kernel per
    row. ``segment`` (N, length + K - 1), ``kernel`` (N, K) -> (N, length)."""
    if segment.shape[0] > SMALL_BATCH:  # training: a grouped convolution
        return F.conv1d(segment.unsqueeze(0), kernel.unsqueeze(1), groups=segment.shape[0])[0]
    windows = segment.unfold(-1, length, 1)  # (N, K, length), a view
    return (kernel.unsqueeze(-2) @ windows).squeeze(-2)


class PitchPredictor(nn.Module):
    r"""Predicts each sample of a waveform as a repeat of the audio one pitch period earlier.

    Voiced speech is nearly periodic, and a recurrent network's mean cannot copy a 10 ms frame
    sample for sample. Speech codecs predict it from the past instead (CELP's long-term
    predictor); this is a soft, differentiable version. For sample :math:`n` of a frame, with
    :math:`x` the context and the frame joined (the frame starts at :math:`x_C`),

    .. math:: o_n = g \sum_{l} w_l\, x_{C + n - l}, \qquad
        l \in [\text{min\_lag}, \text{max\_lag}],

    so :math:`o_n` reads only samples before :math:`n`, some of them in the same frame when the
    period is shorter than a frame. The weights are :math:`w = \mathrm{softmax}(a \rho + b)`:
    :math:`\rho_l` is the normalised correlation of the last frame before this one with the
    frame :math:`l` samples before it (a pitch detector); the sharpness :math:`a > 0`, the lag
    bias :math:`b` and the gain :math:`g \in (0, 0.95)` come from the recurrent state, so the
    model learns when the signal is voiced. The gain starts near 0 (about 0.05). Its cap keeps
    generation's resonances decaying: capped at 1, the speech models learnt 0.996 on voiced
    frames, and a draw from a wide component then rang on almost undamped, so generated vowels
    grew three times louder than real speech.

    The model subtracts :math:`o` before the flow. Every :math:`o_n` depends only on earlier
    samples, so the map from samples to residuals is unit lower triangular and the likelihood
    stays that of the waveform. Generating inverts it (:meth:`synthesize`): the residual is
    fed through the filter :math:`1 / (1 - g \sum_l w_l z^{-l})`, stable because
    :math:`g \sum_l w_l < 1`.

    Arguments:
        frame_size: Samples per frame d.
        hidden_size: Width of the recurrent state that steers it.
        min_lag: Shortest period in samples (20 at 8 kHz is 400 Hz).
        max_lag: Longest period in samples (160 at 8 kHz is 50 Hz).
    """

    def __init__(self, frame_size: int, hidden_size: int, min_lag: int, max_lag: int) -> None:
        super().__init__()
        if not 1 <= min_lag <= max_lag:
            raise ValueError(f"need 1 <= min_lag <= max_lag, got {min_lag} and {max_lag}")
        self.frame_size, self.min_lag, self.max_lag = frame_size, min_lag, max_lag
        self.context = frame_size + max_lag  # samples before the frame that it reads
        # for synthesize: B[n, m] = w[lag n - m] (weights longest lag first), else a zero
        lag = torch.arange(frame_size)[:, None] - torch.arange(frame_size)[None, :]
        inside = (lag >= min_lag) & (lag <= max_lag)
        index = torch.where(inside, max_lag - lag, max_lag - min_lag + 1)
        self.register_buffer("within_index", index, persistent=False)
        # one layer steers it all (one matmul per generated step): [sharpness, gain, lag bias]
        self.steer = nn.Linear(hidden_size, 2 + max_lag - min_lag + 1)
        nn.init.zeros_(self.steer.weight)
        with torch.no_grad():  # sharp enough that the best-correlated lag dominates
            self.steer.bias.zero_()
            self.steer.bias[0] = math.log(math.expm1(10.0))
            self.steer.bias[1] = math.log(0.05 / 0.95)

    @property
    def lags(self) -> range:
        """The lags l in samples, in the order of the weights."""
        return range(self.min_lag, self.max_lag + 1)

    def lag_correlation(self, past: Tensor) -> Tensor:
        """Normalised correlation of the last frame of ``past`` (*, C) with the frame each lag
        before it: (*, L), each in [-1, 1] (0 where either frame is silent)."""
        d, C = self.frame_size, self.context
        flat = past.reshape(-1, C)
        last = flat[:, C - d :]  # (N, d)
        earlier = flat[:, : C - self.min_lag]  # the frame l back starts at p = max_lag - l
        cross = _lag_sums(earlier, last, len(self.lags))  # (N, L), p ascending
        energy = d * F.avg_pool1d(earlier.square().unsqueeze(1), d, stride=1)[:, 0]
        rho = cross * torch.rsqrt((energy * last.square().sum(-1, keepdim=True)).clamp_min(1e-12))
        return rho.flip(-1).reshape(*past.shape[:-1], -1)  # start descending = lag ascending

    def _weights_and_gain(self, past: Tensor, hidden: Tensor) -> tuple[Tensor, Tensor]:
        """Lag weights (N, L), flipped to longest lag first, and gains (N, 1)."""
        raw = self.steer(hidden).reshape(-1, 2 + len(self.lags))
        raw_sharpness, raw_gain, lag_bias = raw.split([1, 1, len(self.lags)], dim=-1)
        logits = F.softplus(raw_sharpness) * self.lag_correlation(past).reshape(-1, len(self.lags))
        return (logits + lag_bias).softmax(-1).flip(-1), MAX_GAIN * torch.sigmoid(raw_gain)

    def forward(self, window: Tensor, hidden: Tensor) -> Tensor:
        """The prediction o (*, d) of each sample of a frame from the samples before it.

        Arguments:
            window: The C samples before the frame and the frame itself, (*, C + d).
            hidden: The recurrent state before the frame, (*, H).
        """
        d, C = self.frame_size, self.context
        flat = window.reshape(-1, C + d)
        weights, gain = self._weights_and_gain(flat[:, :C], hidden)
        # o_n = g sum_l w_l x[C + n - l]: segment x[C - max_lag : C + d - min_lag]
        segment = flat[:, C - self.max_lag : C + d - self.min_lag]
        return (gain * _lag_sums(segment, weights, d)).reshape(*window.shape[:-1], d)

    def synthesize(self, past: Tensor, residual: Tensor, hidden: Tensor) -> Tensor:
        """The frame u (N, d) whose residual ``u - forward([past, u])`` is ``residual`` (N, d):
        the inverse of :meth:`forward`, given the C samples before it, ``past`` (N, C).

        The guess is linear in the frame, ``o = g (a + B u)`` with ``a`` the part read from
        ``past`` and ``B`` (d, d) strictly lower triangular (``B[n, m] = w[n - m]``), so u
        solves the unit lower triangular system ``(I - g B) u = residual + g a``.
        """
        d, C = self.frame_size, self.context
        weights, gain = self._weights_and_gain(past, hidden)  # (N, L) longest lag first
        unknown = torch.cat([past, torch.zeros_like(residual)], dim=-1)  # the frame as zeros
        segment = unknown[:, C - self.max_lag : C + d - self.min_lag]
        from_past = gain * _lag_sums(segment, weights, d)  # (N, d)
        padded = torch.cat([weights, weights.new_zeros(weights.shape[0], 1)], dim=-1)
        within = gain.unsqueeze(-1) * padded[:, self.within_index]  # (N, d, d): g B
        eye = torch.eye(d, dtype=within.dtype, device=within.device)
        rhs = (residual + from_past).unsqueeze(-1)
        return torch.linalg.solve_triangular(eye - within, rhs, upper=False)[..., 0]

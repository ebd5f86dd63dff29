"""Mixture weights over time: which component each step's predictive mixture leans on."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from frmdn.models.sequence import SequenceDensityModel

__all__ = ["mixture_weights"]


@torch.no_grad()
def mixture_weights(
    model: SequenceDensityModel, sequence: Tensor, x: Tensor | None = None
) -> np.ndarray:
    """The weights :math:`\\alpha_k(t)` of each step's predictive mixture
    :math:`p(y_t \\mid y_{<t})` along one sequence (T, d) (with its conditioning inputs x
    (T, c) if the model has them), shape (T, K); each row sums to 1.

    Step t's weights come from the LSTM after it has read the real :math:`y_{<t}`, so where a
    row's largest weight moves to another k, the model has switched which Gaussian predicts
    the next step. The model runs in eval mode (no dropout) on its own device; its training
    mode is restored afterwards.

    Example:
        >>> from frmdn import RMDN
        >>> mixture_weights(RMDN(2, 3, hidden_size=8), torch.zeros(5, 2)).shape
        (5, 3)
    """
    if sequence.dim() != 2 or sequence.shape[-1] != model.config.dim:
        raise ValueError(f"sequence must be (T, {model.config.dim}), got {tuple(sequence.shape)}")
    was_training = model.training
    model.eval()
    try:
        inputs = None if x is None else x.unsqueeze(0)
        gmm, _, _ = model.predictive(sequence.unsqueeze(0), inputs)  # batch shape (1, T)
        # softmax of the logits in float64 (= exp of gmm.log_weights): rows sum to 1 exactly
        weights = torch.softmax(gmm.logits[0].double(), dim=-1)  # (T, K)
    finally:
        model.train(was_training)
    return weights.cpu().numpy()

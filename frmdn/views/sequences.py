"""Sequence views: a prime continued by sampling, one-step predictions from real history."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from frmdn.models.sequence import SequenceDensityModel

__all__ = [
    "continuation",
    "one_step_predictions",
]


@torch.no_grad()
def continuation(
    model: SequenceDensityModel,
    prime: Tensor,
    steps: int,
    temperature: float = 1.0,
    seed: int = 0,
    bound: float | None = None,
    x: Tensor | None = None,
) -> np.ndarray:
    """The observed ``prime`` (T0, d) followed by ``steps`` sampled steps, (T0 + steps, d).

    The random generator is seeded with ``seed`` just before sampling, so two models asked to
    continue the same prime with the same seed draw from the same random stream, and a longer
    continuation starts with the shorter one (each step draws the same amount of noise).
    ``bound`` clamps generated values to the data's physical range (see
    ``SequenceDensityModel.sample``); ``x`` (T0 + steps, c) are the conditioning inputs of an
    action-conditioned model, e.g. the actions a dream is steered by.
    """
    if prime.dim() != 2 or prime.shape[-1] != model.config.dim:
        raise ValueError(f"prime must be (T0, {model.config.dim}), got {tuple(prime.shape)}")
    model.eval()
    torch.manual_seed(seed)
    start = prime.unsqueeze(0) if prime.shape[0] else None  # (1, T0, d)
    inputs = None if x is None else x.unsqueeze(0)  # (1, T0 + steps, c)
    generated = model.sample(
        1, steps, prime=start, x=inputs, temperature=temperature, bound=bound
    )[0]
    return torch.cat([prime.to(generated), generated]).cpu().numpy()


@torch.no_grad()
def one_step_predictions(
    model: SequenceDensityModel,
    y: Tensor,
    mode: str = "mean",
    seed: int = 0,
    x: Tensor | None = None,
) -> Tensor:
    """Each step's prediction of sequences y (B, T, d) given the *real* history (and the
    conditioning inputs x (B, T, c) of an action-conditioned model), (B, T, d).

    At step t the model has read the observed :math:`y_{<t}` and predicts the mixture
    :math:`p(z_t \\mid y_{<t}) = \\sum_k \\alpha_k \\mathcal{N}(\\mu_k, \\Sigma_k)` on
    :math:`z = f(u)`. With ``mode="mean"`` the prediction is the mixture mean mapped back to
    data space, :math:`\\hat y_t = \\sigma \\odot (o_t + f^{-1}(\\sum_k \\alpha_k \\mu_k)) + m`,
    where :math:`o_t` is the pitch predictor's guess from the true earlier samples, those of
    frame t included (0 without a predictor; for an RMDN without one,
    :math:`f` is the identity and this is the predictive mean itself); with
    ``mode="sample"`` it is one draw :math:`o_t + f^{-1}(z)` with :math:`z` from the mixture
    (random stream seeded with ``seed``).
    """
    if mode not in ("mean", "sample"):
        raise ValueError(f"mode must be 'mean' or 'sample', got {mode!r}")
    was_training = model.training
    model.eval()
    gmm, offset, context = model.predictive(y, x)  # batch shape (B, T); (B, T, d); (B, T, H)
    if mode == "mean":
        z = gmm.mean
    else:
        torch.manual_seed(seed)
        z = gmm.sample()
    u = model.flow.inverse(z.to(offset.dtype), context) + offset
    model.train(was_training)
    return model.denormalize(u)

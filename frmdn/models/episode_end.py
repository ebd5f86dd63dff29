r"""Where an episode ends: a head that reads a frame's latent and says how likely the episode
ends within the next few frames (Doom Take Cover's death), for real frames and for dreams.

**An extension beyond the paper.** World Models' Doom MDN-RNN adds a "done" logit to its
output; the FRMDN paper models the latents only. :class:`EpisodeEndHead` is a separate
logistic regression on the VAE latent :math:`z_t` of one frame,

.. math:: p(\text{the episode ends within } H \text{ frames of } t \mid z_t)
          = \sigma\big(w^\top (z_t - m) / s + b\big),

fitted after the sequence models on the training rollouts' latents by plain maximum
likelihood, so its probabilities stay calibrated to how rare episode ends are. Reading only
the frame, not a model's LSTM state, the same head judges the dreams of the RMDN and the
FRMDN alike, and it leaves their NLLs untouched. :func:`episode_end_scores` measures it on
held-out rollouts (ROC AUC, log loss against the base rate).

Example:
    >>> head = EpisodeEndHead(4)
    >>> head.probability(torch.zeros(2, 3, 4)).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from frmdn.errors import CheckpointError
from frmdn.storage import read_config, read_weights, write_checkpoint

__all__ = [
    "EpisodeEndHead",
    "episode_end_scores",
    "ends_within",
    "fit_episode_end",
    "load_episode_end",
]

FORMAT = "frmdn-episode-end"
FORMAT_VERSION = 1
MAX_LATENT_DIM = 4096


def ends_within(done: np.ndarray, horizon: int) -> np.ndarray:
    """Whether the episode ends at one of frames t .. t + horizon - 1, from done (N, T) bool
    (True on an episode's last frame), (N, T) bool; near the end of a rollout only the frames
    it holds count.

    Example:
        >>> ends_within(np.array([[0, 0, 0, 1, 0]], bool), 2).astype(int).tolist()
        [[0, 0, 1, 1, 0]]
    """
    done = np.asarray(done, dtype=bool)
    if done.ndim != 2 or horizon < 1:
        raise ValueError(f"need done (N, T) and horizon >= 1, got {done.shape}, {horizon}")
    out = np.zeros_like(done)
    for lag in range(horizon):
        out[:, : done.shape[1] - lag] |= done[:, lag:]
    return out


class EpisodeEndHead(nn.Module):
    """A logistic regression from a frame's latent (..., L) to the logit of "the episode ends
    within ``horizon`` frames", on latents standardised by ``shift`` and ``scale``."""

    def __init__(self, latent_dim: int, horizon: int = 1) -> None:
        super().__init__()
        if not 1 <= latent_dim <= MAX_LATENT_DIM or horizon < 1:
            raise ValueError(f"need 1 <= latent_dim <= {MAX_LATENT_DIM} and horizon >= 1")
        self.latent_dim, self.horizon = latent_dim, horizon
        self.linear = nn.Linear(latent_dim, 1)
        self.register_buffer("shift", torch.zeros(latent_dim))
        self.register_buffer("scale", torch.ones(latent_dim))
        self.metadata: dict = {}

    def forward(self, z: Tensor) -> Tensor:
        """Logits (...) of latents z (..., L)."""
        return self.linear((z - self.shift) / self.scale)[..., 0]

    @torch.no_grad()
    def probability(self, z: Tensor) -> Tensor:
        """The probability (...) that the episode ends within ``horizon`` frames of each latent
        z (..., L)."""
        return torch.sigmoid(self(z.to(self.shift)))

    def save(self, path: str | os.PathLike, *, metrics: dict | None = None) -> Path:
        """Save to the directory ``path`` (safetensors + ``config.json``, written atomically)."""
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "model_class": type(self).__name__,
            "config": {"latent_dim": self.latent_dim, "horizon": self.horizon},
            "metrics": metrics or {},
        }
        return write_checkpoint(path, self, meta)


def load_episode_end(path: str | os.PathLike) -> EpisodeEndHead:
    """Load a head saved by :meth:`EpisodeEndHead.save`, validated and never unpickled.

    Raises:
        CheckpointError: For a missing, corrupt or inconsistent head.
    """
    meta = read_config(
        path,
        fmt=FORMAT,
        version=FORMAT_VERSION,
        classes=(EpisodeEndHead.__name__,),
        what="episode-end head",
        title="episode-end head",
    )
    try:
        head = EpisodeEndHead(int(meta["config"]["latent_dim"]), int(meta["config"]["horizon"]))
    except (KeyError, TypeError, ValueError) as error:
        raise CheckpointError(f"invalid episode-end head settings: {error}") from None
    head.load_state_dict(read_weights(path, meta, head.state_dict()))
    head.metadata = {"metrics": meta.get("metrics", {})}
    return head.eval()


def fit_episode_end(
    latents: Tensor,
    done: np.ndarray,
    *,
    horizon: int = 1,
    steps: int = 500,
    weight_decay: float = 1e-3,
    lr: float = 0.05,
) -> EpisodeEndHead:
    """Fit a head to latents (N, T, L) of rollouts whose episode ends are ``done`` (N, T):
    full-batch Adam on the cross-entropy, weight decay on the weights only (the bias starts at
    the base rate's logit and stays free), deterministic."""
    labels = torch.from_numpy(ends_within(done, horizon)).reshape(-1).float()
    z = latents.reshape(-1, latents.shape[-1]).float()
    if len(labels) != len(z):
        raise ValueError(f"latents {tuple(latents.shape)} and done {np.shape(done)} disagree")
    positives = float(labels.sum())
    if positives == 0 or positives == len(labels):
        raise ValueError("the rollouts need frames both near and far from an episode end")
    head = EpisodeEndHead(z.shape[-1], horizon)
    head.shift.copy_(z.mean(0))
    head.scale.copy_(z.std(0).clamp_min(1e-6))
    nn.init.zeros_(head.linear.weight)
    rate = positives / len(labels)
    nn.init.constant_(head.linear.bias, float(np.log(rate / (1 - rate))))
    optimizer = torch.optim.AdamW(
        [
            {"params": [head.linear.weight], "weight_decay": weight_decay},
            {"params": [head.linear.bias], "weight_decay": 0.0},
        ],
        lr=lr,
    )
    for _ in range(steps):
        optimizer.zero_grad()
        F.binary_cross_entropy_with_logits(head(z), labels).backward()
        optimizer.step()
    return head.eval()


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """The area under the ROC curve: the chance that a random positive scores above a random
    negative (ties count half), from the ranks; NaN without both classes."""
    scores, labels = np.asarray(scores, float).ravel(), np.asarray(labels, bool).ravel()
    positives, negatives = labels.sum(), (~labels).sum()
    if positives == 0 or negatives == 0:
        return float("nan")
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    ranks[order] = np.arange(1, len(scores) + 1)
    for value in np.unique(scores):  # average ranks of ties
        tied = scores == value
        ranks[tied] = ranks[tied].mean()
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


@torch.no_grad()
def episode_end_scores(head: EpisodeEndHead, latents: Tensor, done: np.ndarray) -> dict:
    """How well ``head`` tells the frames near an episode end on rollouts (N, T, L): ROC AUC,
    its log loss and that of always predicting the base rate (nats per frame), the counts."""
    labels = ends_within(done, head.horizon).reshape(-1)
    p = head.probability(latents.reshape(-1, latents.shape[-1])).double().numpy()
    p = np.clip(p, 1e-7, 1 - 1e-7)
    rate = np.clip(labels.mean(), 1e-7, 1 - 1e-7)

    def log_loss(q: np.ndarray) -> float:
        return float(-np.mean(labels * np.log(q) + (~labels) * np.log(1 - q)))

    return {
        "auc": roc_auc(p, labels),
        "log_loss": log_loss(p),
        "base_rate_log_loss": log_loss(np.full_like(p, rate)),
        "positives": int(labels.sum()),
        "frames": int(labels.size),
        "episode_ends": int(np.asarray(done).sum()),
    }

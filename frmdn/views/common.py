"""Views all pages share: per-step NLL, scoreboard and NLL tables."""

from __future__ import annotations

from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from frmdn.models.sequence import SequenceDensityModel
from frmdn.training.trainer import evaluate_nll

if TYPE_CHECKING:
    import pandas as pd

UNSEEN = "unseen voices"
"""The score part of voices a model never heard (e.g. the held-out voices of a corpus)."""

CLIP_VOICE = "the clip's voice"
"""The score part of the shown clip's whole voice (every file of it no model heard), where the
models never trained on that voice."""

__all__ = [
    "CLIP_VOICE",
    "UNSEEN",
    "frames_beyond",
    "nll_scores",
    "nll_table",
    "overfitting_gaps",
    "per_step_nll",
    "scoreboard_table",
    "split_nll",
]


@torch.no_grad()
def per_step_nll(
    model: SequenceDensityModel, sequence: Tensor, x: Tensor | None = None
) -> np.ndarray:
    """:math:`-\\log p(y_t \\mid y_{<t}, x_{\\le t})` in nats for every step of one sequence
    (T, d) with its conditioning inputs x (T, c) if the model has them, (T,)."""
    if sequence.dim() != 2 or sequence.shape[-1] != model.config.dim:
        raise ValueError(f"sequence must be (T, {model.config.dim}), got {tuple(sequence.shape)}")
    model.eval()
    inputs = None if x is None else x.unsqueeze(0)
    return -model.log_prob(sequence.unsqueeze(0), inputs)[0].double().cpu().numpy()


def frames_beyond(nll: dict[str, np.ndarray], bound: float) -> dict[str, tuple[int, float]]:
    """Per model whose per-step NLL (T,) exceeds ``bound`` anywhere: how many steps do, and the
    worst step's NLL (a clip far outside the audio the model trained on).

    Example:
        >>> frames_beyond({"RMDN": np.array([1.0, 2.0]), "FRMDN": np.array([5.0, 9.0])}, 4.0)
        {'FRMDN': (2, 9.0)}
    """
    return {
        name: (int((values > bound).sum()), float(np.max(values)))
        for name, values in nll.items()
        if np.any(values > bound)
    }


def overfitting_gaps(
    scores: dict[str, dict[str, float]], dim: int, train: str = "train", held_out: str = "test"
) -> dict[str, float]:
    """Held-out minus train NLL per model, in nats per sample (per dimension of a frame).

    Arguments:
        scores: Per model, NLLs in nats per step keyed by part name.
        dim: Values per step (the frame size), to turn nats per step into nats per sample.
    """
    return {
        name: (parts[held_out] - parts[train]) / dim
        for name, parts in scores.items()
        if train in parts and held_out in parts
    }


def _pandas(user: str) -> ModuleType:
    """The pandas module, an optional dependency (the ``app`` extra) that ``user`` needs."""
    try:
        import pandas as pd
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            f"{user} needs pandas: pip install 'frmdn[app]'", name=error.name
        ) from error
    return pd


def scoreboard_table(
    models: dict[str, SequenceDensityModel],
    test: Tensor,
    seconds: dict[str, float],
    test_x: Tensor | None = None,
) -> pd.DataFrame:
    """One row per model: held-out NLL (nats/step) on ``test`` (N, T, d) (with its conditioning
    inputs ``test_x`` (N, T, c) if any), parameter counts and training time (NaN where
    unknown), indexed by model name (pandas: the ``app`` extra)."""
    pd = _pandas("scoreboard_table")
    rows = []
    for name, model in models.items():
        counts = model.num_parameters()
        rows.append(
            {
                "model": name,
                "held-out NLL (nats/step)": evaluate_nll(
                    model, test if test_x is None else (test, test_x)
                ),
                "parameters": counts["total"],
                "flow parameters": counts["flow"],
                "training time (s)": seconds.get(name, float("nan")),
            }
        )
    return pd.DataFrame(rows).set_index("model")


def split_nll(
    models: dict[str, SequenceDensityModel], train: Tensor, held_out: Tensor
) -> dict[str, dict[str, float]]:
    """Per model: NLL (nats/step) of the ``train`` and ``held_out`` sequences (N, T, d), keyed
    ``"train"`` and ``"held-out"``."""
    return {
        name: {"train": evaluate_nll(model, train), "held-out": evaluate_nll(model, held_out)}
        for name, model in models.items()
    }


def nll_scores(
    clip_nll: dict[str, np.ndarray], split_scores: dict[str, dict[str, float]] | None = None
) -> dict[str, dict[str, float]]:
    """Per model: the mean of its per-step NLL along a clip (T,) as ``"clip"``, plus its
    ``split_scores`` (see :func:`split_nll`) if any; all in nats/step."""
    split_scores = split_scores or {}
    return {
        name: {"clip": float(nll.mean())} | split_scores.get(name, {})
        for name, nll in clip_nll.items()
    }


def nll_table(
    models: dict[str, SequenceDensityModel],
    scores: dict[str, dict[str, float]],
    seconds: dict[str, float],
) -> pd.DataFrame:
    """One column per model of ``scores`` (see :func:`nll_scores`), index ``"metric"``: train,
    held-out, unseen-voices (only where some model has that score, :data:`UNSEEN`) and clip NLL
    in nats/step and in nats/sample (nats/step / d, the frame size), the
    held-out − train gap (nats/sample), parameter count and training time; NaN where unknown
    (pandas: the ``app`` extra)."""
    pd = _pandas("nll_table")
    optional = [p for p in (UNSEEN, CLIP_VOICE) if any(p in parts for parts in scores.values())]
    shown = ["train", "held-out", *optional, "clip"]
    columns = {}
    for name, parts in scores.items():
        dim = models[name].config.dim
        column = {}
        for unit, scale in (("nats/step", 1), ("nats/sample", dim)):
            for part in shown:
                column[f"{part} NLL ({unit})"] = parts.get(part, float("nan")) / scale
        gaps = overfitting_gaps({name: parts}, dim, held_out="held-out")
        column["held-out − train (nats/sample)"] = gaps.get(name, float("nan"))
        column["parameters"] = models[name].num_parameters()["total"]
        column["training time (s)"] = seconds.get(name, float("nan"))
        columns[name] = column
    table = pd.DataFrame(columns)
    table.index.name = "metric"
    return table

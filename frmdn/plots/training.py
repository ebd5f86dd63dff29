"""Training figures: NLL curves during training and held-out NLL bars per model."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from frmdn.plots.common import _base_layout, _note, model_color

if TYPE_CHECKING:
    from frmdn.training.trainer import Progress

__all__ = ["loss_figure", "nll_bar_figure"]


def loss_figure(
    histories: Mapping[str, Sequence[Progress]], title: str | None = None
) -> go.Figure:
    """Validation (solid) and train (dotted) NLL per step against the training step, per model."""
    fig = go.Figure()
    _base_layout(fig, title or "Negative log-likelihood during training (lower is better)")
    fig.update_layout(hovermode="x unified")
    fig.update_xaxes(title_text="training step")
    fig.update_yaxes(title_text="NLL (nats / time step)")
    if not any(len(history) for history in histories.values()):
        fig.update_xaxes(showticklabels=False)
        fig.update_yaxes(showticklabels=False)
        return _note(fig, "no training yet")
    for name, history in histories.items():
        if not history:
            continue
        color = model_color(name)
        steps = np.array([p.step for p in history], dtype=float)
        for kind, dash in (("valid", "solid"), ("train", "dot")):
            values = np.array([getattr(p, f"{kind}_nll") for p in history], dtype=float)
            keep = np.isfinite(values)  # NaN / inf reports leave no point (and no gap)
            fig.add_trace(
                go.Scatter(
                    x=steps[keep],
                    y=values[keep],
                    name=f"{name} {kind}",
                    legendgroup=name,
                    mode="lines+markers" if keep.sum() < 30 else "lines",
                    line={"color": color, "dash": dash, "width": 2.4 if kind == "valid" else 1.8},
                    marker={"size": 5},
                    hovertemplate="%{y:.3f} nats",
                )
            )
    return fig


def nll_bar_figure(scores: Mapping[str, float], title: str | None = None) -> go.Figure:
    """Held-out NLL per model as bars in the model colours."""
    fig = go.Figure()
    _base_layout(fig, title or "Held-out NLL per time step (lower is better)")
    fig.update_xaxes(title_text="model")
    fig.update_yaxes(title_text="test NLL (nats / time step)", zeroline=True)
    if not scores:
        return _note(fig, "no scores yet")
    names = list(scores)
    values = [float(scores[name]) for name in names]
    shown = [v if math.isfinite(v) else None for v in values]
    fig.add_trace(
        go.Bar(
            x=names,
            y=shown,
            marker={"color": [model_color(name) for name in names]},
            text=[f"{v:.3f}" if math.isfinite(v) else "n/a" for v in values],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{x}: %{y:.4f} nats / step<extra></extra>",
            showlegend=False,
            width=0.5,
        )
    )
    finite = [v for v in values if math.isfinite(v)]
    if finite:  # room above (or below) the bars for their labels
        lo, hi = min(0.0, *finite), max(0.0, *finite)
        span = max(hi - lo, 1e-6)
        fig.update_yaxes(range=[lo - 0.12 * span * (lo < 0), hi + 0.15 * span])
    return fig

"""Mixture weights over time: each model's α_k(t) as a stacked area chart along a sequence."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from frmdn.plots.common import (
    HEIGHT,
    MODEL_COLORS,
    _base_layout,
    _note,
    _padded_range,
    component_color,
    model_color,
)

__all__ = ["mixture_weights_figure"]

WEIGHTS_Y_TITLE = "component weight α<sub>k</sub>(t)"
LINE_COLORS = ("#374151", "#94a3b8")
"""Dark and light grey for lines of the sequence itself (its coordinates); models keep theirs."""


def _line_color(name: str, i: int) -> str:
    return model_color(name) if name in MODEL_COLORS else LINE_COLORS[i % len(LINE_COLORS)]


def mixture_weights_figure(
    weights: Mapping[str, np.ndarray],
    x: np.ndarray | None = None,
    x_title: str = "time step t",
    above: Mapping[str, np.ndarray] | None = None,
    above_title: str = "",
    title: str | None = None,
) -> go.Figure:
    """Each model's mixture weights along one sequence, as stacked areas sharing the time axis.

    One panel per model (in ``weights`` order, e.g. RMDN then FRMDN), one filled band per
    component k in :func:`~frmdn.plots.common.component_color`, stacked so that each column
    sums to 1: where the stack changes colour the model has switched which Gaussian predicts
    the next step. The legend lists components 0, 1, ..., K - 1 once for both panels (their
    numbers are unrelated across models).

    Arguments:
        weights: Per model, α_k(t) of shape (T, K), e.g. from
            :func:`frmdn.views.mixture_weights`.
        x: The time of each step (T,), e.g. seconds; default the step index 0, ..., T - 1.
        x_title: Title of the shared time axis.
        above: Optional lines (T,) drawn in a panel above the weights, e.g. the sequence's
            coordinates or each model's per-step NLL (model names keep the model colours).
        above_title: The y-axis title of that panel.
    """
    weights = {name: np.asarray(w, dtype=float) for name, w in weights.items()}
    above = {name: np.asarray(v, dtype=float).reshape(-1) for name, v in (above or {}).items()}
    rows = len(weights) + bool(above)
    heights = ([0.45] if above else []) + [1.0] * len(weights)
    fig = make_subplots(
        rows=max(rows, 1),
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.08,
        row_heights=heights or None,
        subplot_titles=(
            ([above_title] if above else []) + [f"{n}: α<sub>k</sub>(t)" for n in weights]
        )
        or None,
    )
    _base_layout(
        fig,
        title or "Mixture weights over time (each colour is one component)",
        height=HEIGHT + (100 if above else 40),  # room for the long y titles of each panel
    )
    fig.update_layout(hovermode="x unified", legend_y=-0.12, margin_b=60)
    fig.update_yaxes(title_font_size=11)
    if not weights or all(w.size == 0 for w in weights.values()):
        fig.update_xaxes(title_text=x_title, row=max(rows, 1), col=1)
        return _note(fig, "no steps to show")
    T = next(iter(weights.values())).shape[0]
    x = np.arange(T) if x is None else np.asarray(x, dtype=float).reshape(-1)
    if len(x) != T:
        raise ValueError(f"x has {len(x)} values for {T} steps")

    row = 1
    if above:
        everything = []
        for i, (name, values) in enumerate(above.items()):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=values,
                    mode="lines",
                    name=name,
                    line={"color": _line_color(name, i), "width": 1.4},
                    hovertemplate=f"{name}: %{{y:.2f}}<extra></extra>",
                ),
                row=1,
                col=1,
            )
            everything.append(values)
        fig.update_yaxes(
            title_text=above_title,
            range=_padded_range(np.concatenate(everything)),
            nticks=4,
            row=1,
            col=1,
        )
        row = 2

    named: set[int] = set()
    for model_row, (name, alpha) in enumerate(weights.items(), start=row):
        if alpha.ndim != 2 or alpha.shape[0] != T:
            raise ValueError(f"{name}: weights must be (T={T}, K), got {alpha.shape}")
        for k in range(alpha.shape[1]):
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=alpha[:, k],
                    mode="lines",
                    stackgroup=name,  # one stack per panel, bands in component order
                    name=f"component {k} (of each model)",
                    legendgroup=f"component {k}",
                    showlegend=k not in named,
                    legendrank=k,
                    line={"color": component_color(k), "width": 0.5},
                    fillcolor=component_color(k),
                    hovertemplate=f"{name} α{k}: %{{y:.2f}}<extra></extra>",
                ),
                row=model_row,
                col=1,
            )
            named.add(k)
        fig.update_yaxes(title_text=WEIGHTS_Y_TITLE, range=[0.0, 1.0], row=model_row, col=1)
    fig.update_xaxes(title_text=x_title, row=rows, col=1)
    if T > 1:
        fig.update_xaxes(range=[float(x[0]), float(x[-1])])
    fig.update_annotations(font_size=13)
    return fig

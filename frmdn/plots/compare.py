"""Grid figures: seeds per model, paired FRMDN − RMDN gaps, parameters vs NLL, head sizes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from frmdn.experiments.grid import EXTENSION, KINDS, MAX_FULL_DIM
from frmdn.experiments.grid_stats import PAIRS, head_outputs, paired_differences
from frmdn.plots.common import FALLBACK_COLOR, HEIGHT, _base_layout, _note, _rgba

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "KIND_COLORS",
    "head_size_figure",
    "paired_difference_figure",
    "parameters_nll_figure",
    "seed_strip_figure",
]

KIND_COLORS: dict[str, str] = {
    "RMDN diagonal": "#60a5fa",
    "RMDN low-rank": "#2563eb",
    "RMDN full": "#1e3a8a",
    "FRMDN diagonal": "#f59e0b",
    "FRMDN low-rank": "#ea580c",
    EXTENSION: "#9333ea",
}
"""One colour per model kind of the grid: blues without a flow, oranges with one."""

SEED_OFFSET, MEAN_OFFSET, JITTER = -0.12, 0.16, 0.07  # x offsets around a model's slot
FACET_HEIGHT, FACET_GAP = 330, 110  # px per row of panels, px between rows


def kind_color(model: str) -> str:
    """The colour of a grid model kind (grey for kinds the grid does not know)."""
    return KIND_COLORS.get(model, FALLBACK_COLOR)


def _models(table: pd.DataFrame) -> list[str]:
    """The table's models: :data:`~frmdn.experiments.grid.KINDS` order first, then any others."""
    present = list(dict.fromkeys(table["model"].astype(str)))
    return [m for m in KINDS if m in present] + [m for m in present if m not in KINDS]


def _label(model: str) -> str:
    """A model's axis label, wrapped; the extension says that it is one."""
    if model == EXTENSION:
        return "FRMDN low-rank,<br>LSTM-conditioned flow<br><b>(extension)</b>"
    return model.replace(" ", "<br>", 1)


def _unit(table: pd.DataFrame) -> str:
    """The one unit of a data set's rows (all of them, joined, if a table mixes units)."""
    units = list(dict.fromkeys(table["unit"].astype(str)))
    return units[0] if len(units) == 1 else "mixed units: " + ", ".join(units)


def _jitter(n: int) -> np.ndarray:
    """Evenly spread x offsets for ``n`` points of one slot, so seeds do not hide each other."""
    return np.linspace(-JITTER, JITTER, n) if n > 1 else np.zeros(n)


def _spread_traces(
    values: np.ndarray, seeds: Sequence[object], x: float, color: str, name: str, unit: str
) -> list[go.Scatter]:
    """One dot per seed left of ``x`` and the mean ± std (n − 1) as a diamond right of it."""
    finite = values[np.isfinite(values)]
    mean = float(finite.mean()) if finite.size else np.nan
    std = float(finite.std(ddof=1)) if finite.size > 1 else 0.0
    seeds_trace = go.Scatter(
        x=x + SEED_OFFSET + _jitter(len(values)),
        y=values,
        mode="markers",
        name=f"{name}: seeds",
        legendgroup=name,
        showlegend=False,
        marker={"color": _rgba(color, 0.75), "size": 9, "line": {"color": color, "width": 1}},
        customdata=np.asarray([str(s) for s in seeds]),
        hovertemplate=f"{name}<br>seed %{{customdata}}: %{{y:.3f}} {unit}<extra></extra>",
    )
    mean_trace = go.Scatter(
        x=[x + MEAN_OFFSET],
        y=[mean],
        mode="markers",
        name=f"{name}: mean ± std",
        legendgroup=name,
        showlegend=False,
        marker={"color": color, "size": 12, "symbol": "diamond"},
        error_y={"type": "data", "array": [std], "color": color, "thickness": 2, "width": 8},
        hovertemplate=(
            f"{name}<br>mean %{{y:.3f}} ± {std:.3f} {unit} over {finite.size} seeds<extra></extra>"
        ),
    )
    return [seeds_trace, mean_trace]


def _slots(fig: go.Figure, labels: Sequence[str], title: str) -> None:
    """Categorical slots 0, 1, ... on the x axis, labelled ``labels``."""
    fig.update_xaxes(
        title_text=title,
        tickvals=list(range(len(labels))),
        ticktext=list(labels),
        range=[-0.6, len(labels) - 0.4],
        tickangle=0,
        showgrid=False,
        zeroline=False,
    )


def seed_strip_figure(table: pd.DataFrame, data: str) -> go.Figure:
    """Test NLL of every seed per model on one data set, with each model's mean ± std.

    ``table`` is a results table of :mod:`frmdn.experiments.grid` (rows of other data sets are
    ignored);
    models come in :data:`~frmdn.experiments.grid.KINDS` order, the extension shaded and labelled.
    """
    rows = table[table["data"] == data]
    fig = go.Figure()
    _base_layout(fig, f"{data}: test NLL per seed (dots), mean ± std (diamonds)")
    if rows.empty:
        return _note(fig, f"no rows for {data}")
    unit = _unit(rows)
    models = _models(rows)
    for x, model in enumerate(models):
        cells = rows[rows["model"] == model]
        values = cells["test_nll"].to_numpy(dtype=float)
        fig.add_traces(
            _spread_traces(values, cells["seed"].tolist(), x, kind_color(model), model, unit)
        )
        if model == EXTENSION:
            fig.add_vrect(
                x0=x - 0.45,
                x1=x + 0.45,
                fillcolor=_rgba(kind_color(model), 0.07),
                line_width=0,
                annotation_text="extension, beyond the paper",
                annotation_position="top",
                annotation_font={"size": 11, "color": kind_color(model)},
            )
    _slots(fig, [_label(m) for m in models], "model")
    fig.update_yaxes(title_text=f"test NLL ({unit}, lower is better)")
    fig.update_layout(margin={"b": 80})
    return fig


def paired_difference_figure(table: pd.DataFrame, data: str) -> go.Figure:
    """FRMDN − RMDN test NLL per seed on one data set, for each pair of
    :data:`~frmdn.experiments.grid_stats.PAIRS` (same covariance kind), with its mean ± std and a
    zero line: below zero the flow helps."""
    rows = table[table["data"] == data]
    fig = go.Figure()
    _base_layout(fig, f"{data}: what the flow adds, seed by seed")
    pairs = []
    for label, (model, baseline) in PAIRS.items():
        differences = paired_differences(rows, model, baseline)
        if not differences.empty:
            pairs.append((label, model, baseline, differences))
    if not pairs:
        return _note(fig, f"no seeds with both models of a pair on {data}")
    unit = _unit(rows)
    for x, (label, model, _, differences) in enumerate(pairs):
        values = differences["difference"].to_numpy(dtype=float)
        seeds = differences["seed"].tolist()
        fig.add_traces(_spread_traces(values, seeds, x, kind_color(model), label, unit))
    fig.add_hline(
        y=0,
        line={"color": FALLBACK_COLOR, "dash": "dash", "width": 1.5},
        annotation_text="0: no difference (below: the flow helps)",
        annotation_position="top left",
        annotation_font={"size": 11, "color": FALLBACK_COLOR},
    )
    labels = [f"{label}<br>{model} − {baseline}" for label, model, baseline, _ in pairs]
    _slots(fig, labels, "pair (same covariance kind, same seed)")
    fig.update_yaxes(title_text=f"FRMDN − RMDN test NLL ({unit})")
    fig.update_layout(margin={"b": 80})
    return fig


def parameters_nll_figure(table: pd.DataFrame, columns: int = 3) -> go.Figure:
    """Test NLL against parameters, one dot per cell coloured by model, one panel per data
    set (each with its own unit); a log x axis where a panel's counts span over 10x."""
    datas = list(dict.fromkeys(table["data"].astype(str))) if "data" in table else []
    if not datas or "parameters" not in table:
        fig = _base_layout(go.Figure(), "Parameters vs test NLL")
        fig.update_xaxes(title_text="parameters")
        return _note(fig, "no parameter counts in this table")
    cols = max(min(columns, len(datas)), 1)
    rows = -(-len(datas) // cols)
    height = HEIGHT if rows == 1 else FACET_HEIGHT * rows + 80
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=datas,
        horizontal_spacing=0.09,
        vertical_spacing=FACET_GAP / height,  # room for an x title and the next panel's title
    )
    _base_layout(fig, "Parameters vs test NLL (lower is better)", height=height)
    shown: set[str] = set()
    for index, data in enumerate(datas):
        row, col = index // cols + 1, index % cols + 1
        cells = table[table["data"] == data]
        unit = _unit(cells)
        for model in _models(cells):
            part = cells[cells["model"] == model]
            fig.add_trace(
                go.Scatter(
                    x=part["parameters"].to_numpy(dtype=float),
                    y=part["test_nll"].to_numpy(dtype=float),
                    mode="markers",
                    name=model.replace(", LSTM", ",<br>LSTM"),
                    legendgroup=model,
                    showlegend=model not in shown,
                    marker={"color": kind_color(model), "size": 9, "opacity": 0.8},
                    hovertemplate=(
                        f"{model}<br>%{{x:,.0f}} parameters<br>%{{y:.3f}} {unit}<extra></extra>"
                    ),
                ),
                row=row,
                col=col,
            )
            shown.add(model)
        counts = cells["parameters"].to_numpy(dtype=float)
        counts = counts[np.isfinite(counts) & (counts > 0)]
        wide = counts.size > 0 and counts.max() > 10 * counts.min()
        fig.update_xaxes(
            title_text="parameters", type="log" if wide else "linear", row=row, col=col
        )
        fig.update_yaxes(title_text=f"test NLL ({unit})", row=row, col=col)
    fig.update_xaxes(tickformat=",.3~s")
    fig.update_layout(legend={"y": -0.14 if rows == 1 else -0.06})
    return fig


def head_size_figure(n_components: int, rank: int, max_dim: int = 128) -> go.Figure:
    """Numbers a mixture head emits per step over d = 1 … ``max_dim`` at K =
    ``n_components``: diagonal O(Kd), rank-``rank`` precision O(Kd(1+r)), full O(Kd²)."""
    dims = np.arange(1, max_dim + 1)
    kinds = (
        ("diagonal", "low-rank", 0, "O(Kd)", KIND_COLORS["RMDN diagonal"]),
        (f"low-rank r = {rank}", "low-rank", rank, "O(Kd(1+r))", KIND_COLORS["FRMDN low-rank"]),
        ("full covariance", "full", 0, "O(Kd²)", KIND_COLORS["RMDN full"]),
    )
    fig = go.Figure()
    _base_layout(fig, f"Mixture head outputs per step at K = {n_components}")
    for name, covariance, r, order, color in kinds:
        counts = [head_outputs(int(d), n_components, r, covariance) for d in dims]
        fig.add_trace(
            go.Scatter(
                x=dims,
                y=counts,
                mode="lines",
                name=f"{name}: {order}",
                line={"color": color, "width": 2.5},
                hovertemplate=f"{name}<br>d = %{{x}}: %{{y:,}} numbers<extra></extra>",
            )
        )
        fig.add_annotation(
            x=int(dims[-1]),
            y=float(np.log10(counts[-1])),
            text=f"<b>{order}</b>",
            showarrow=False,
            xanchor="left",
            xshift=6,
            font={"color": color, "size": 13},
        )
    if max_dim > MAX_FULL_DIM:
        fig.add_vline(
            x=MAX_FULL_DIM,
            line={"color": FALLBACK_COLOR, "dash": "dot", "width": 1},
            annotation_text=f"the grid's full covariances stop at d = {MAX_FULL_DIM}",
            annotation_position="bottom right",
            annotation_font={"size": 11, "color": FALLBACK_COLOR},
        )
    fig.update_xaxes(title_text="target size d", range=[0, max_dim * 1.02])
    fig.update_yaxes(title_text="numbers per step (log scale)", type="log", dtick=1)
    fig.update_layout(margin={"r": 110})
    return fig

"""Sample figures: real against generated 2D toy trajectories, one panel per source."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from frmdn.plots.common import _base_layout, _equal_aspect, _padded_range, _rgba, model_color

__all__ = ["trajectories_figure"]


def trajectories_figure(
    real: np.ndarray,
    generated: Mapping[str, np.ndarray],
    max_lines: int = 4,
    title: str | None = None,
    max_steps: int | None = None,
) -> go.Figure:
    """Real and generated sequences side by side: every point faintly, a few paths drawn.

    Arguments:
        real: Real sequences (n, T, 2).
        generated: Per model, sampled sequences (n, T, 2).
        max_lines: How many sequences of each source to draw as paths (start ringed).
        max_steps: Draw only each path's first steps, numbered, so its hops can be followed
            (every step, unnumbered, when None).
    """
    sources = {
        "Real": np.asarray(real, dtype=float),
        **{k: np.asarray(v) for k, v in generated.items()},
    }
    fig = make_subplots(
        rows=1, cols=len(sources), subplot_titles=list(sources), horizontal_spacing=0.06
    )
    _base_layout(fig, title)
    everything = [s.reshape(-1, s.shape[-1])[:, :2] for s in sources.values() if s.size]
    allpoints = np.vstack(everything) if everything else np.empty((0, 2))
    x_range = _padded_range(allpoints[:, 0], pad=0.1)
    y_range = _padded_range(allpoints[:, 1], pad=0.1)

    for col, (name, seqs) in enumerate(sources.items(), start=1):
        color = model_color(name)
        flat = seqs.reshape(-1, 2) if seqs.size else np.empty((0, 2))
        fig.add_trace(
            go.Scattergl(
                x=flat[:, 0],
                y=flat[:, 1],
                mode="markers",
                name=f"{name} points",
                legendgroup=name,
                marker={"color": color, "size": 3, "opacity": 0.18},
                hovertemplate=f"{name}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>",
            ),
            row=1,
            col=col,
        )
        for i in range(min(max_lines, len(seqs) if seqs.size else 0)):
            path = seqs[i, :max_steps, :2]
            symbols = ["circle-open"] + ["circle"] * (len(path) - 1)
            sizes = [11] + [5] * (len(path) - 1)
            fig.add_trace(
                go.Scatter(
                    x=path[:, 0],
                    y=path[:, 1],
                    mode="lines+markers+text" if max_steps else "lines+markers",
                    text=[str(t) for t in range(len(path))] if max_steps else None,
                    textposition="top center",
                    textfont={"size": 11, "color": color},
                    name=f"{name} path{'s' * (max_lines > 1)} (○ = start)",
                    legendgroup=name,
                    showlegend=i == 0,
                    line={"color": _rgba(color, 0.75), "width": 1.3},
                    marker={
                        "symbol": symbols,
                        "size": sizes,
                        "color": color,
                        "line": {"width": 2},
                    },
                    customdata=np.arange(len(path)),
                    hovertemplate=(
                        f"{name} sequence {i}<br>t = %{{customdata}}"
                        "<br>(%{x:.2f}, %{y:.2f})<extra></extra>"
                    ),
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="y₁", range=x_range, row=1, col=col)
        fig.update_yaxes(title_text="y₂" if col == 1 else None, range=y_range, row=1, col=col)
    _equal_aspect(fig, len(sources))
    return fig

"""The flow, layer by layer: one animated figure of the data and the plane bending from u to z."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go

from frmdn.plots.common import (
    GRID_COLOR,
    _base_layout,
    _note,
    _padded_range,
    _polyline,
    component_color,
)

if TYPE_CHECKING:
    from frmdn.views import FlowStage

__all__ = ["flow_layers_figure", "stage_axis_titles", "stage_note"]

FRAME_MS = 900  # how long the animation shows each stage
TRANSITION_MS = 600  # the morph from one stage to the next
FIGURE_HEIGHT = 680  # tall: the plane is drawn square, and every stage shares its axes
MARGIN = {"l": 20, "r": 170, "t": 30, "b": 125}  # the legend right, slider and buttons below
# as wide as the square plot and the legend: no empty margins beside the plane
FIGURE_WIDTH = FIGURE_HEIGHT - MARGIN["t"] - MARGIN["b"] + MARGIN["l"] + MARGIN["r"]


def stage_axis_titles(stage: FlowStage, n_layers: int) -> tuple[str, str]:
    """Axis titles of a stage: u₁/u₂ before any layer, then what the last layer was."""
    if stage.index == 0:
        return "u₁ (standardised data)", "u₂"
    name = "z" if stage.index == n_layers else "h"
    return f"{name}₁ after layer {stage.index}: {stage.kind}", f"{name}₂"


def stage_note(stage: FlowStage) -> str:
    """The annotation of a stage: its layer's log|det| and the running sum, in nats."""
    if stage.index == 0:
        return "standardised data u = (y − shift) / scale<br>no layer yet: log|det| = 0"
    n = len(stage.points)
    return (
        f"layer {stage.index}: mean log|det| = {stage.mean_log_det:+.3f} nats "
        f"(over {n} points)<br>layers 1–{stage.index}: {stage.mean_cumulative_log_det:+.3f} nats"
    )


def _stage_traces(stage: FlowStage, labels: np.ndarray, n_components: int) -> list[go.Scatter]:
    """The bent grid, then one marker trace per component (the same traces in every frame)."""
    gx, gy = _polyline(stage.grid_lines)
    traces = [
        go.Scatter(
            x=gx,
            y=gy,
            mode="lines",
            name="grid lines of the data plane",
            line={"color": GRID_COLOR, "width": 1},
            hoverinfo="skip",
        )
    ]
    points = np.asarray(stage.points, dtype=float)
    for k in range(n_components):
        mine = labels == k
        traces.append(
            go.Scatter(
                x=points[mine, 0],
                y=points[mine, 1],
                customdata=np.asarray(stage.log_det, dtype=float)[mine],
                mode="markers",
                name=f"component {k}",
                marker={"color": component_color(k), "size": 5, "opacity": 0.6},
                hovertemplate=(
                    f"component {k}<br>(%{{x:.2f}}, %{{y:.2f}})"
                    "<br>this layer's log|det| here: %{customdata:+.3f}<extra></extra>"
                ),
            )
        )
    return traces


def _note_annotation(stage: FlowStage) -> dict:
    return {
        "text": stage_note(stage),
        "x": 0.0,
        "y": 1.0,
        "xref": "paper",
        "yref": "paper",
        "xanchor": "left",
        "yanchor": "top",
        "align": "left",
        "showarrow": False,
        "bgcolor": "rgba(255, 255, 255, 0.85)",
        "bordercolor": GRID_COLOR,
        "font": {"size": 12},
    }


def _stage_layout(stage: FlowStage, n_layers: int) -> dict:
    x_title, y_title = stage_axis_titles(stage, n_layers)
    return {
        "xaxis": {"title": {"text": x_title}},
        "yaxis": {"title": {"text": y_title}},
        "annotations": [_note_annotation(stage)],
    }


def _fixed_range(stages: Sequence[FlowStage], column: int) -> list[float] | None:
    """One range for every frame: the union of the stages' point clouds (the grid far
    outside the data is clipped), so the bending shows against fixed axes."""
    values = np.concatenate([np.asarray(s.points, dtype=float)[:, column] for s in stages])
    return _padded_range(values, trim=0.0)


def flow_layers_figure(
    stages: Sequence[FlowStage],
    components: np.ndarray | None = None,
    initial: int = 0,
    title: str | None = None,
) -> go.Figure:
    """The data and a grid of the plane after each layer of a 2D flow, as a Plotly animation.

    One frame per stage (from :func:`frmdn.views.flow_stages`), a slider over them and a play
    button, so it runs in the browser without reruns. Axis ranges are the same in every frame.
    Each frame's annotation gives its layer's mean log|det| and the running sum.

    Arguments:
        stages: Stage 0 (the standardised data u), then one per layer.
        components: Each point's likeliest component (N,), for the colours (all 0 if None).
        initial: The stage shown before the animation runs.
    """
    fig = go.Figure()
    _base_layout(fig, title, height=FIGURE_HEIGHT)
    if not stages:
        return _note(fig, "no flow to show")
    n = len(stages[0].points)
    labels = np.zeros(n, int) if components is None else np.asarray(components).astype(int)
    n_components = int(labels.max()) + 1 if labels.size else 1
    n_layers = len(stages) - 1
    initial = min(max(initial, 0), n_layers)

    fig.add_traces(_stage_traces(stages[initial], labels, n_components))
    fig.update_layout(_stage_layout(stages[initial], n_layers))
    fig.frames = [
        go.Frame(
            name=str(stage.index),
            data=_stage_traces(stage, labels, n_components),
            layout=_stage_layout(stage, n_layers),
        )
        for stage in stages
    ]
    fig.update_xaxes(range=_fixed_range(stages, 0), autorange=False, constrain="domain")
    fig.update_yaxes(
        range=_fixed_range(stages, 1),
        autorange=False,
        constrain="domain",
        scaleanchor="x",
        scaleratio=1,
    )
    fig.update_layout(
        width=FIGURE_WIDTH,  # drawn at this width (width="content"): the plane fills it
        legend={"orientation": "v", "x": 1.02, "xanchor": "left", "y": 1.0, "yanchor": "top"},
        margin=MARGIN,
    )
    if n_layers == 0:
        return fig

    def animate(names: list[str] | None, ms: int) -> list:
        return [
            names,
            {
                "mode": "immediate",
                "fromcurrent": True,
                "frame": {"duration": ms, "redraw": True},
                "transition": {"duration": min(ms, TRANSITION_MS), "easing": "cubic-in-out"},
            },
        ]

    fig.update_layout(
        sliders=[
            {
                "active": initial,
                "x": 0.3,
                "len": 0.7,
                "y": 0.0,
                "yanchor": "top",
                "pad": {"t": 50},
                "currentvalue": {"prefix": "showing: ", "font": {"size": 12}},
                "steps": [
                    {
                        "label": "u" if s.index == 0 else f"layer {s.index}",
                        "method": "animate",
                        "args": animate([str(s.index)], TRANSITION_MS),
                    }
                    for s in stages
                ],
            }
        ],
        updatemenus=[
            {
                "type": "buttons",
                "direction": "left",
                "showactive": False,
                "x": 0.0,
                "y": 0.0,
                "xanchor": "left",
                "yanchor": "top",
                "pad": {"t": 70},
                "font": {"size": 14},
                "buttons": [
                    {"label": "▶ Play", "method": "animate", "args": animate(None, FRAME_MS)},
                    {"label": "❚❚ Pause", "method": "animate", "args": animate([None], 0)},
                ],
            }
        ],
    )
    return fig

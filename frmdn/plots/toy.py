"""2D toy figures: Gaussian ellipses, data vs flow latent space, next-step density maps."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from frmdn.plots.common import (
    FALLBACK_COLOR,
    GRID_COLOR,
    MODEL_COLORS,
    _base_layout,
    _equal_aspect,
    _note,
    _padded_range,
    _polyline,
    _rgba,
    component_color,
)

if TYPE_CHECKING:
    from frmdn.views import Component, LatentPoints

__all__ = ["density_figure", "ellipse_xy", "latent_space_figure"]


# ----------------------------------------------------------------------------- geometry
def ellipse_xy(
    mean: np.ndarray, covariance: np.ndarray, n_sigma: float, n_points: int = 100
) -> np.ndarray:
    r"""The ``n_sigma`` contour of a Gaussian, :math:`(x - \mu)^T \Sigma^{-1} (x - \mu) = n^2`.

    Uses the first two dimensions when d > 2 (their marginal). Returns a closed curve of shape
    (n_points, 2), first point equal to the last.
    """
    mean = np.asarray(mean, dtype=float)[:2]
    covariance = np.asarray(covariance, dtype=float)[:2, :2]
    covariance = (covariance + covariance.T) / 2
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    radii = n_sigma * np.sqrt(np.clip(eigenvalues, 0.0, None))
    angle = np.linspace(0.0, 2 * np.pi, n_points)
    circle = np.stack([np.cos(angle), np.sin(angle)], axis=-1)  # (P, 2)
    return mean + (circle * radii) @ eigenvectors.T


# ----------------------------------------------------------------------------- latent space
def _ellipse_traces(
    components: Sequence[Component],
    colors: Sequence[str],
    names: Sequence[str],
    groups: Sequence[str],
    label: str,
) -> list[go.Scatter]:
    """1σ (solid) and 2σ (dashed) ellipses, opacity and width growing with the weight.

    Each ellipse lies on a white halo so it stays visible over points of its own colour.
    """
    traces = []
    top = max((c.weight for c in components), default=1.0) or 1.0
    for k, (comp, color, name, group) in enumerate(
        zip(components, colors, names, groups, strict=True)
    ):
        strength = 0.35 + 0.65 * comp.weight / top
        for n_sigma, dash in ((1, "solid"), (2, "dash")):
            xy = ellipse_xy(comp.mean, comp.covariance, n_sigma)
            traces.append(
                go.Scatter(
                    x=xy[:, 0],
                    y=xy[:, 1],
                    mode="lines",
                    name=f"{name} halo",
                    legendgroup=group,
                    showlegend=False,
                    line={"color": "rgba(255, 255, 255, 0.8)", "width": 3 + 2 * strength},
                    hoverinfo="skip",
                )
            )
            traces.append(
                go.Scatter(
                    x=xy[:, 0],
                    y=xy[:, 1],
                    mode="lines",
                    name=name,
                    legendgroup=group,
                    showlegend=False,
                    line={
                        "color": _rgba(color, strength),
                        "dash": dash,
                        "width": 1 + 2 * strength,
                    },
                    hovertemplate=(
                        f"{label} component {k} ({n_sigma}σ)<br>α = {comp.weight:.3f}"
                        "<br>(%{x:.2f}, %{y:.2f})<extra></extra>"
                    ),
                )
            )
    return traces


def _star(point: np.ndarray, name: str, fill: str, edge: str, group: str) -> go.Scatter:
    point = np.asarray(point, dtype=float).reshape(-1)[:2]
    return go.Scatter(
        x=[point[0]],
        y=[point[1]],
        mode="markers",
        name=name,
        legendgroup=group,
        marker={
            "symbol": "star",
            "size": 17,
            "color": fill,
            "line": {"color": edge, "width": 1.5},
        },
        hovertemplate=f"{name}<br>(%{{x:.3f}}, %{{y:.3f}})<extra></extra>",
    )


def latent_space_figure(
    frmdn_points: LatentPoints,
    frmdn_components: Sequence[Component],
    rmdn_components: Sequence[Component],
    target: np.ndarray | None = None,
    grid_lines: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
    target_z: np.ndarray | None = None,
    title: str | None = None,
) -> go.Figure:
    """Data space next to the FRMDN's latent space z = f(y), points coloured by component.

    Arguments:
        frmdn_points: Targets y, latents z and likeliest components from the FRMDN.
        frmdn_components: The FRMDN's predictive mixture of one chosen step, in z-space.
        rmdn_components: The RMDN's mixture for the same step, in data space.
        target: The chosen step's true next point y (2,), starred on the left.
        grid_lines: (y_line, z_line) pairs from :func:`frmdn.views.flow_grid_lines`.
        target_z: The same point's latent f(y) (2,), starred on the right.
    """
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=("Data space y", "Flow latent space z = f(y)"),
        horizontal_spacing=0.08,
    )
    _base_layout(fig, title)
    y, z = np.asarray(frmdn_points.y), np.asarray(frmdn_points.z)
    labels = np.asarray(frmdn_points.component).astype(int)
    n_components = max(len(frmdn_components), int(labels.max()) + 1 if labels.size else 0)

    if grid_lines:
        for col, index in ((1, 0), (2, 1)):
            gx, gy = _polyline([pair[index] for pair in grid_lines])
            fig.add_trace(
                go.Scatter(
                    x=gx,
                    y=gy,
                    mode="lines",
                    name="grid lines (mapped by f)",
                    legendgroup="grid",
                    showlegend=col == 1,
                    line={"color": GRID_COLOR, "width": 1},
                    hoverinfo="skip",
                ),
                row=1,
                col=col,
            )

    names = []
    for k in range(n_components):
        weight = (  # the FRMDN's weight: the RMDN's components are others, with their own
            f" (FRMDN α={frmdn_components[k].weight:.2f})" if k < len(frmdn_components) else ""
        )
        names.append(f"component {k}{weight}")
        mine = labels == k
        for col, values in ((1, y), (2, z)):
            fig.add_trace(
                go.Scatter(  # SVG, so the ellipses can be drawn on top
                    x=values[mine, 0],
                    y=values[mine, 1],
                    mode="markers",
                    name=names[k],
                    legendgroup=f"component {k}",
                    showlegend=col == 1,
                    marker={"color": component_color(k), "size": 4, "opacity": 0.5},
                    hovertemplate=(
                        f"component {k}<br>{'y' if col == 1 else 'z'} = "
                        "(%{x:.2f}, %{y:.2f})<extra></extra>"
                    ),
                ),
                row=1,
                col=col,
            )

    rmdn_color = MODEL_COLORS["RMDN"]
    rmdn = _ellipse_traces(
        rmdn_components,
        [rmdn_color] * len(rmdn_components),
        ["RMDN components (data space)"] * len(rmdn_components),
        ["rmdn"] * len(rmdn_components),
        "RMDN",
    )
    if rmdn:
        rmdn[1].showlegend = True  # the first ellipse, after its halo
    fig.add_traces(rmdn, rows=1, cols=1)
    frmdn = _ellipse_traces(
        frmdn_components,
        [component_color(k) for k in range(len(frmdn_components))],
        names[: len(frmdn_components)],
        [f"component {k}" for k in range(len(frmdn_components))],
        "FRMDN",
    )
    fig.add_traces(frmdn, rows=1, cols=2)
    if frmdn:  # explain the line styles once
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name="ellipses: 1σ solid, 2σ dashed",
                line={"color": FALLBACK_COLOR, "width": 2},
            ),
            row=1,
            col=2,
        )

    if target is not None:
        fig.add_trace(_star(target, "next point y", "#111111", "white", "target"), row=1, col=1)
    if target_z is not None:
        fig.add_trace(_star(target_z, "f(next point)", "#111111", "white", "target_z"), 1, 2)

    for col, values, extra in ((1, y, target), (2, z, target_z)):
        cloud = values[:, :2] if values.size else np.empty((0, 2))
        if extra is not None:
            cloud = np.vstack([cloud, np.asarray(extra, dtype=float).reshape(1, -1)[:, :2]])
        fig.update_xaxes(range=_padded_range(cloud[:, 0]), row=1, col=col)
        fig.update_yaxes(range=_padded_range(cloud[:, 1]), row=1, col=col)
    fig.update_xaxes(title_text="y₁ (data units)", row=1, col=1)
    fig.update_yaxes(title_text="y₂ (data units)", row=1, col=1)
    fig.update_xaxes(title_text="z₁", row=1, col=2)
    fig.update_yaxes(title_text="z₂", row=1, col=2)
    _equal_aspect(fig, 2)
    return fig


# ----------------------------------------------------------------------------- densities
def density_figure(
    xs: np.ndarray,
    ys: np.ndarray,
    log_densities: Mapping[str, np.ndarray],
    history: np.ndarray,
    target: np.ndarray,
    target_nll: Mapping[str, float] | None = None,
    depth: float = 8.0,
    title: str | None = None,
) -> go.Figure:
    """Predictive next-step densities side by side, one heatmap per model on one colour scale.

    Colours show the log-density clipped at (overall maximum − ``depth``): the peaks and the
    tails both stay visible, and equal colours mean equal densities across panels. Hover shows
    the density and the unclipped log-density.

    Arguments:
        xs, ys: Grid coordinates (R,), as from :func:`frmdn.views.density_grid`.
        log_densities: Per model, log p on the grid (R, R), indexed [y, x].
        history: The observed path (T0, 2) before the predicted step.
        target: The true next point (2,).
        target_nll: Per model, the NLL of ``target`` in nats, shown in the panel titles.
    """
    names = list(log_densities)
    nll = target_nll or {}
    titles = [
        f"{name} — NLL of true point<br>{nll[name]:.2f} nats" if name in nll else name
        for name in names
    ]
    fig = make_subplots(
        rows=1, cols=max(len(names), 1), subplot_titles=titles, horizontal_spacing=0.07
    )
    fig.update_annotations(font_size=13)  # the two-line subplot titles
    _base_layout(fig, title)
    if title:
        fig.update_layout(margin_t=95)
    if not names:
        return _note(fig, "no model to show")
    finite = [v[np.isfinite(v)] for v in log_densities.values()]
    top = max((float(v.max()) for v in finite if v.size), default=0.0)
    floor = top - depth
    history = np.asarray(history, dtype=float).reshape(-1, 2)
    target = np.asarray(target, dtype=float).reshape(-1)[:2]

    for col, name in enumerate(names, start=1):
        raw = np.asarray(log_densities[name], dtype=float)
        shown = np.clip(np.nan_to_num(raw, nan=floor, neginf=floor, posinf=top), floor, top)
        fig.add_trace(
            go.Heatmap(
                x=xs,
                y=ys,
                z=shown,
                customdata=np.exp(np.clip(raw, None, 700)),
                name=name,
                coloraxis="coloraxis",
                hovertemplate=(
                    f"{name}<br>y = (%{{x:.2f}}, %{{y:.2f}})<br>p = %{{customdata:.3g}}"
                    "<br>log p = %{z:.2f}<extra></extra>"
                ),
            ),
            row=1,
            col=col,
        )
        if len(history):
            sizes = np.full(len(history), 5.0)
            sizes[-1] = 11.0
            fills = ["#9ca3af"] * (len(history) - 1) + ["white"]
            fig.add_trace(
                go.Scatter(
                    x=history[:, 0],
                    y=history[:, 1],
                    mode="lines+markers",
                    name="observed history (big dot = last)",
                    legendgroup="history",
                    showlegend=col == 1,
                    line={"color": "#e5e7eb", "width": 1.2},
                    marker={
                        "size": sizes,
                        "color": fills,
                        "line": {"color": "#111827", "width": 1},
                    },
                    hovertemplate="history<br>(%{x:.2f}, %{y:.2f})<extra></extra>",
                ),
                row=1,
                col=col,
            )
        star = _star(target, "true next point", "white", "#111111", "target")
        star.showlegend = col == 1
        fig.add_trace(star, row=1, col=col)
        fig.update_xaxes(
            title_text="y₁",
            range=[float(xs[0]), float(xs[-1])],
            constrain="domain",
            row=1,
            col=col,
        )
        fig.update_yaxes(
            title_text="y₂" if col == 1 else None,
            range=[float(ys[0]), float(ys[-1])],
            constrain="domain",
            row=1,
            col=col,
        )
    fig.update_layout(
        coloraxis={
            "colorscale": "Viridis",
            "cmin": floor,
            "cmax": top,
            "colorbar": {
                "title": {"text": f"log p(y)<br>(clipped at<br>max − {depth:g})", "side": "top"},
                "thickness": 12,
                "len": 0.9,
            },
        }
    )
    _equal_aspect(fig, len(names))
    return fig

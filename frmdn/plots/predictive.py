"""Where the mixture lives: samples of one step's predictive mixture in the mixture's space and
in data space, and Q-Q plots of whitened residuals against N(0, 1)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from frmdn.plots.common import (
    FALLBACK_COLOR,
    IMAGE_FIGURE_WIDTH,
    _base_layout,
    _grey_image,
    _image_axes,
    _note,
    _padded_range,
    _polyline,
    component_color,
    model_color,
)

if TYPE_CHECKING:
    from frmdn.views import MahalanobisFit, PredictiveSamples

__all__ = [
    "predictive_frames_figure",
    "predictive_samples_figure",
    "predictive_traces_figure",
    "qq_figure",
]

QQ_TAIL = 0.001  # the Q-Q range leaves out this share of residuals at each end, at most
QQ_POINTS = 400  # quantiles drawn per model: enough for a smooth curve, light to send
OUTLIER_TRIM = 2.0  # % of draws per side a high-dimensional data-space range may leave out
LAST_IN_LEGEND = 1000  # legend rank of the means and the true value, after every component


def _project(clouds: list[np.ndarray]) -> tuple[list[np.ndarray], bool]:
    """The clouds (*, d) as (*, 2): unchanged for d <= 2 (a 1-D cloud gets a zero second
    axis), else projected on the top two principal axes of all of them together (fixed by
    the points, and sign-fixed so the largest loading of each axis is positive)."""
    d = clouds[0].shape[-1]
    if d == 2:
        return clouds, False
    if d == 1:
        return [np.hstack([c, np.zeros_like(c)]) for c in clouds], False
    stacked = np.vstack(clouds).astype(float)
    stacked = stacked[np.isfinite(stacked).all(1)]  # a flow's inverse may overflow far out
    center = stacked.mean(0)
    _, _, vt = np.linalg.svd(stacked - center, full_matrices=False)
    axes = vt[:2]
    axes *= np.sign(axes[np.arange(2), np.abs(axes).argmax(1)])[:, None]
    return [(np.asarray(c, float) - center) @ axes.T for c in clouds], True


def _covering(values: np.ndarray, must: np.ndarray, trim: float = 0.5) -> list[float] | None:
    """A range for ``values`` robust to their ``trim`` % outliers that still shows the points
    ``must`` (the true value is never cut off, however far out it lies)."""
    span = _padded_range(values, trim=trim)
    must = np.asarray(must, dtype=float)
    must = must[np.isfinite(must)]
    if span is None or must.size == 0:
        return span
    pad = 0.05 * (span[1] - span[0])
    return [min(span[0], float(must.min()) - pad), max(span[1], float(must.max()) + pad)]


def _fit_label(fit: MahalanobisFit | None) -> str:
    if fit is None:
        return ""
    return f" · KS {fit.ks:.3f}, mean m²/d {fit.mean_m2:.2f}"


def predictive_samples_figure(
    rmdn_samples: PredictiveSamples,
    frmdn_samples: PredictiveSamples,
    fits: Mapping[str, MahalanobisFit] | None = None,
    title: str | None = None,
    spaces: Mapping[str, str] | None = None,
) -> go.Figure:
    """Samples of both models' predictive mixtures for one step, coloured by component.

    Top row: the space each mixture lives in (the RMDN's standardised y, the FRMDN's z = f(y)),
    with the component means as crosses. Bottom row: the same samples in data units, on the
    same axis ranges for both models (the top row's spaces differ, so each keeps its own).
    The true next value is a black star in every panel. For d > 2 each row is drawn on the
    plane of its own first two principal axes (of the row's samples and true values).

    Arguments:
        rmdn_samples, frmdn_samples: From :func:`frmdn.views.predictive_samples`.
        fits: Optional ``{"RMDN": fit, "FRMDN": fit}`` from
            :func:`frmdn.views.mahalanobis_fit`; each model's KS distance and mean m²/d are
            added to its top panel's title.
        spaces: Names of the mixture spaces that differ from the default ``{"RMDN":
            "standardised y", "FRMDN": "z = f(y)"}``, e.g. the residual of a pitch predictor.
    """
    fits = fits or {}
    models = {"RMDN": rmdn_samples, "FRMDN": frmdn_samples}
    spaces = {"RMDN": "standardised y", "FRMDN": "z = f(y)"} | dict(spaces or {})
    titles = [
        f"{name}: mixture space, {spaces[name]}{_fit_label(fits.get(name))}" for name in models
    ] + [f"{name}: data space y" for name in models]
    fig = make_subplots(
        rows=2, cols=2, subplot_titles=titles, horizontal_spacing=0.1, vertical_spacing=0.14
    )
    _base_layout(fig, title, height=820)
    fig.update_annotations(font_size=13)

    # each top panel on its own plane; the bottom row on one plane shared by both models
    top = {name: _project([s.z, s.target_z[None], s.means_z])[0] for name, s in models.items()}
    bottom, projected_bottom = _project(
        [part for s in models.values() for part in (s.y, s.target_y[None])]
    )
    projected_top = models["RMDN"].z.shape[-1] > 2
    bottom_xy = {name: (bottom[2 * i], bottom[2 * i + 1]) for i, name in enumerate(models)}

    shown: set[int] = set()
    for col, (name, samples) in enumerate(models.items(), start=1):
        labels = np.asarray(samples.component).astype(int)
        z_xy, target_z, means = top[name]
        y_xy, target_y = bottom_xy[name]
        for k in np.unique(labels):
            mine = labels == k
            weight = f" (α={samples.weights[k]:.2f})" if k < len(samples.weights) else ""
            for row, values in ((1, z_xy), (2, y_xy)):
                fig.add_trace(
                    go.Scattergl(
                        x=values[mine, 0],
                        y=values[mine, 1],
                        mode="markers",
                        name=f"component {k}",
                        legendgroup=f"component {k}",
                        showlegend=int(k) not in shown,
                        legendrank=int(k),  # components 0, 1, 2, ... whichever model has them
                        marker={"color": component_color(k), "size": 3, "opacity": 0.45},
                        hovertemplate=(
                            f"{name} component {k}{weight}<br>"
                            "(%{x:.2f}, %{y:.2f})<extra></extra>"
                        ),
                    ),
                    row=row,
                    col=col,
                )
                shown.add(int(k))
        fig.add_trace(
            go.Scatter(
                x=means[:, 0],
                y=means[:, 1],
                mode="markers",
                name="component means",
                legendgroup="means",
                showlegend=col == 1,
                legendrank=LAST_IN_LEGEND,
                marker={
                    "symbol": "x",
                    "size": 11,
                    "color": [component_color(k) for k in range(len(means))],
                    "line": {"color": "white", "width": 1},
                },
                hovertemplate=f"{name} mean<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>",
            ),
            row=1,
            col=col,
        )
        for row, point in ((1, target_z), (2, target_y)):
            fig.add_trace(
                go.Scatter(
                    x=point[:, 0],
                    y=point[:, 1],
                    mode="markers",
                    name="true next value",
                    legendgroup="target",
                    showlegend=col == 1 and row == 1,
                    legendrank=LAST_IN_LEGEND + 1,
                    marker={
                        "symbol": "star",
                        "size": 17,
                        "color": "#111111",
                        "line": {"color": "white", "width": 1.5},
                    },
                    hovertemplate="true next value<br>(%{x:.3f}, %{y:.3f})<extra></extra>",
                ),
                row=row,
                col=col,
            )
        cloud = np.vstack([z_xy, target_z])
        fig.update_xaxes(range=_covering(cloud[:, 0], target_z[:, 0]), row=1, col=col)
        fig.update_yaxes(range=_covering(cloud[:, 1], target_z[:, 1]), row=1, col=col)

    shared, truth = np.vstack(bottom), np.vstack([xy[1] for xy in bottom_xy.values()])
    trim = OUTLIER_TRIM if projected_bottom else 0.5  # a flow's inverse may fling far draws
    for col in (1, 2):
        fig.update_xaxes(range=_covering(shared[:, 0], truth[:, 0], trim), row=2, col=col)
        fig.update_yaxes(range=_covering(shared[:, 1], truth[:, 1], trim), row=2, col=col)
    bottom_names = ("PC 1 of y", "PC 2 of y") if projected_bottom else ("y₁", "y₂")
    for col, name in enumerate(models, start=1):
        top_names = ("PC 1", "PC 2") if projected_top else _space_axes(spaces[name])
        fig.update_xaxes(title_text=top_names[0], row=1, col=col)
        fig.update_yaxes(title_text=top_names[1], row=1, col=col)
        fig.update_xaxes(title_text=bottom_names[0], row=2, col=col)
        fig.update_yaxes(title_text=bottom_names[1], row=2, col=col)
    fig.update_layout(legend_y=-0.07)
    return fig


def _space_axes(space: str) -> tuple[str, str]:
    """Axis titles for the two dimensions of a mixture's space: z₁, z₂ for the flow's z, else
    the space's own name with the index ("standardised y₁")."""
    if space.startswith("z"):
        return "z₁", "z₂"
    name = space if space.endswith("y") else f"({space})"
    return f"{name}₁", f"{name}₂"


# ----------------------------------------------------------------------------- data space
def predictive_traces_figure(
    samples: Mapping[str, PredictiveSamples],
    x: np.ndarray,
    x_title: str,
    y_title: str,
    to_display: Callable[[np.ndarray], np.ndarray] | None = None,
    n: int = 40,
    title: str | None = None,
) -> go.Figure:
    """The first ``n`` draws of each model's next value as curves over its d coordinates (an
    audio frame's samples over time, an image row's pixels over columns), coloured by
    component, with the true next value as a thick black curve; one panel per model, shared y
    (its range leaves out the farthest OUTLIER_TRIM % of values on each side).

    Arguments:
        samples: ``{model name: draws}`` from :func:`frmdn.views.predictive_samples`.
        x: The coordinate of each of the d values (d,), e.g. milliseconds or columns.
        to_display: Maps values (m, d) in data units to the units drawn (e.g. logit to grey
            level); identity if None.
    """
    names = list(samples)
    fig = make_subplots(
        rows=1,
        cols=max(len(names), 1),
        subplot_titles=names or None,
        shared_yaxes=True,
        horizontal_spacing=0.06,
    )
    _base_layout(fig, title)
    show = to_display or (lambda values: values)
    x = np.asarray(x, dtype=float)
    shown: set[int] = set()
    everything = []  # every value drawn, for a y range that a few flung draws do not set
    for col, name in enumerate(names, start=1):
        draws = samples[name]
        values = np.asarray(show(np.asarray(draws.y[:n], dtype=float)), dtype=float)
        everything.append(values.reshape(-1))
        labels = np.asarray(draws.component[:n]).astype(int)
        for k in np.unique(labels):
            lines = [np.column_stack([x, v]) for v in values[labels == k]]
            line_x, line_y = _polyline(lines)
            fig.add_trace(
                go.Scattergl(
                    x=line_x,
                    y=line_y,
                    mode="lines",
                    name=f"component {k}",
                    legendgroup=f"component {k}",
                    showlegend=int(k) not in shown,
                    legendrank=int(k),
                    line={"color": component_color(k), "width": 1},
                    opacity=0.55,
                    hovertemplate=f"{name} draw from component {k}<extra></extra>",
                ),
                row=1,
                col=col,
            )
            shown.add(int(k))
        truth = np.asarray(show(np.asarray(draws.target_y, dtype=float)[None]), dtype=float)[0]
        everything.append(truth)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=truth,
                mode="lines",
                name="true next value",
                legendgroup="target",
                showlegend=col == 1,
                legendrank=LAST_IN_LEGEND + 1,
                line={"color": "#111111", "width": 3},
                hovertemplate="true next value<br>%{x:.1f}: %{y:.3f}<extra></extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text=x_title, row=1, col=col)
    for annotation, name in zip(fig.layout.annotations, names, strict=True):
        annotation.font = {"size": 13, "color": model_color(name)}
    fig.update_yaxes(title_text=y_title, row=1, col=1)
    if everything:
        fig.update_yaxes(range=_padded_range(np.concatenate(everything), trim=OUTLIER_TRIM))
    return fig


def predictive_frames_figure(
    draws: Mapping[str, np.ndarray],
    components: Mapping[str, np.ndarray],
    truth: np.ndarray,
    gap: int = 4,
    title: str | None = None,
) -> go.Figure:
    """Decoded draws of each model's next frame beside the true next frame, one row per model.

    Each row starts with the true frame (outlined in black), then the draws sorted by the
    component that drew them, each outlined in its component's colour.

    Arguments:
        draws: ``{model name: uint8 frames (n, H, W)}``.
        components: ``{model name: the component of each draw (n,)}``.
        truth: The true next frame, uint8 (H, W).
    """
    from frmdn.views import image_mosaic

    names = list(draws)
    if not names:
        return _note(_base_layout(go.Figure(), title), "no frames")
    height_px, width_px = np.asarray(truth).shape
    count = 1 + max(len(draws[name]) for name in names)
    strip = count * (width_px + gap) - gap
    strip_height = 0.96 * IMAGE_FIGURE_WIDTH * height_px / max(strip, 1)
    top, title_gap = (70 if title else 40), 40
    inner = len(names) * strip_height + (len(names) - 1) * title_gap
    fig = make_subplots(
        rows=len(names),
        cols=1,
        subplot_titles=[f"{name}: the truth, then draws by component" for name in names],
        vertical_spacing=title_gap / max(inner, 1) if len(names) > 1 else 0.0,
    )
    for row, name in enumerate(names, start=1):
        order = np.argsort(np.asarray(components[name]), kind="stable")
        frames = np.concatenate([np.asarray(truth)[None], np.asarray(draws[name])[order]])
        fig.add_trace(_grey_image(image_mosaic(frames, count, gap), f"{name}<br>"), row=row, col=1)
        _image_axes(fig, 1, row=row)
        colors = ["#111111"] + [component_color(k) for k in np.asarray(components[name])[order]]
        for i, color in enumerate(colors):
            left = i * (width_px + gap) - 0.5
            fig.add_shape(
                type="rect",
                x0=left - 1,
                x1=left + width_px + 1,
                y0=-1.5,
                y1=height_px + 0.5,
                line={"color": color, "width": 3},
                row=row,
                col=1,
            )
    for annotation, name in zip(fig.layout.annotations, names, strict=True):
        annotation.font = {"size": 13, "color": model_color(name)}
    _base_layout(fig, title, height=int(np.clip(inner + top + 10, 160, 1200)))
    fig.update_layout(margin={"l": 10, "r": 10, "t": top, "b": 10})
    return fig


# ----------------------------------------------------------------------------- Q-Q plots
def _normal_cdf(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.frompyfunc(math.erf, 1, 1)(x / math.sqrt(2)).astype(float))


def _normal_quantile(p: np.ndarray) -> np.ndarray:
    """:math:`\\Phi^{-1}(p)` for p in (0, 1), by bisection on :func:`_normal_cdf` (60 halvings:
    float64-exact, and plots need few quantiles)."""
    lo, hi = np.full_like(p, -40.0), np.full_like(p, 40.0)
    for _ in range(60):
        mid = (lo + hi) / 2
        below = _normal_cdf(mid) < p
        lo, hi = np.where(below, mid, lo), np.where(below, hi, mid)
    return (lo + hi) / 2


def _ks(values: np.ndarray) -> float:
    x = np.sort(values)
    n = len(x)
    cdf = _normal_cdf(x)
    return float(max((np.arange(1, n + 1) / n - cdf).max(), (cdf - np.arange(n) / n).max()))


def qq_figure(
    fits: Mapping[str, np.ndarray | MahalanobisFit], title: str | None = None
) -> go.Figure:
    """Whitened residuals against N(0, 1): sample quantiles over normal quantiles, one panel
    per model, with the diagonal a perfect Gaussian fit would follow.

    Arguments:
        fits: ``{model name: whitened residuals}``, as arrays or as
            :class:`frmdn.views.MahalanobisFit` (whose ``whitened`` and ``ks`` are used); the
            panel titles give each model's Kolmogorov–Smirnov distance from N(0, 1).
    """
    names = list(fits)
    fig = make_subplots(
        rows=1,
        cols=max(len(names), 1),
        subplot_titles=names or None,
        horizontal_spacing=0.08,
        shared_yaxes=True,
    )
    _base_layout(fig, title)
    if not names:
        return _note(fig, "no residuals to compare")
    residuals, titles = {}, []
    for name in names:
        fit = fits[name]
        values = np.asarray(getattr(fit, "whitened", fit), dtype=float).reshape(-1)
        values = np.sort(values[np.isfinite(values)])
        residuals[name] = values
        ks = getattr(fit, "ks", None)
        ks = _ks(values) if ks is None and values.size else ks
        titles.append(f"{name} · KS {ks:.3f}" if ks is not None else f"{name} · no points")
    for annotation, text in zip(fig.layout.annotations, titles, strict=True):
        annotation.text = text
    limit = 1.0
    for col, (name, values) in enumerate(residuals.items(), start=1):
        n = len(values)
        if n == 0:
            continue
        probabilities = (np.arange(1, n + 1) - 0.5) / n
        keep = np.unique(np.linspace(0, n - 1, min(n, QQ_POINTS)).round().astype(int))
        theory = _normal_quantile(probabilities[keep])
        limit = max(limit, float(np.abs(theory).max()))
        fig.add_trace(
            go.Scatter(
                x=theory,
                y=values[keep],
                mode="markers",
                name=f"{name} whitened residuals",
                marker={"color": model_color(name), "size": 4},
                hovertemplate=(
                    f"{name}<br>N(0, 1) quantile %{{x:.2f}}<br>sample quantile %{{y:.2f}}"
                    "<extra></extra>"
                ),
            ),
            row=1,
            col=col,
        )
    for col in range(1, len(names) + 1):
        fig.add_trace(
            go.Scatter(
                x=[-limit, limit],
                y=[-limit, limit],
                mode="lines",
                name="N(0, 1): the diagonal",
                legendgroup="diagonal",
                showlegend=col == 1,
                line={"color": FALLBACK_COLOR, "dash": "dash", "width": 1},
                hoverinfo="skip",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="N(0, 1) quantile", row=1, col=col)
    fig.update_yaxes(title_text="whitened residual quantile", row=1, col=1)
    return _qq_range(fig, residuals, limit)


def _qq_range(fig: go.Figure, residuals: Mapping[str, np.ndarray], limit: float) -> go.Figure:
    """One vertical range for the Q-Q panels that covers the diagonal and all but the outermost
    QQ_TAIL of the residuals, so a single far residual cannot flatten both curves onto 0; the
    figure says how many it leaves out."""
    pooled = np.concatenate([v for v in residuals.values() if v.size] or [np.zeros(0)])
    if not pooled.size:
        return fig
    low, high = np.quantile(pooled, [QQ_TAIL, 1 - QQ_TAIL])
    span = 1.1 * max(limit, abs(float(low)), abs(float(high)))
    fig.update_yaxes(range=[-span, span])
    outside = int((np.abs(pooled) > span).sum())
    if outside:
        fig.add_annotation(
            text=f"{outside} residual{'s' * (outside > 1)} beyond ±{span:.1f} off the chart",
            xref="paper",
            yref="paper",
            x=1.0,
            y=0.0,
            xanchor="right",
            yanchor="bottom",
            showarrow=False,
            font={"size": 11, "color": FALLBACK_COLOR},
        )
    return fig

"""Plotly figures for the FRMDN Lab: losses, latent spaces, density maps, samples and scores.

Every builder takes plain numpy arrays (mostly from :mod:`frmdn.views`) and returns a
:class:`plotly.graph_objects.Figure` on the white template, with titled axes, hover values and
a horizontal legend under the plots. Colours are shared by the whole app: :data:`MODEL_COLORS`
for models and data, :func:`component_color` for mixture components.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from frmdn.train import Progress
from frmdn.views import Component, LatentPoints

__all__ = [
    "COMPONENT_COLORS",
    "GRID_COLOR",
    "MODEL_COLORS",
    "component_color",
    "density_figure",
    "ellipse_xy",
    "latent_space_figure",
    "loss_figure",
    "model_color",
    "nll_bar_figure",
    "trajectories_figure",
]

MODEL_COLORS: dict[str, str] = {"RMDN": "#2563eb", "FRMDN": "#ea580c", "Real": "#374151"}
"""One colour per model (and the real data), used by every figure of the app."""

COMPONENT_COLORS: tuple[str, ...] = (
    "#059669",  # emerald
    "#c026d3",  # fuchsia
    "#ca8a04",  # gold
    "#0891b2",  # cyan
    "#be123c",  # crimson
    "#84cc16",  # lime
    "#713f12",  # brown
    "#db2777",  # pink
    "#4d7c0f",  # olive
    "#c084fc",  # lavender
)
"""Ten qualitative colours for mixture components, all far from the model colours."""

GRID_COLOR = "#cbd5e1"
"""Light grey of the flow's grid lines."""

FALLBACK_COLOR = "#6b7280"
HEIGHT = 460
MARGIN = {"l": 55, "r": 20, "t": 60, "b": 40}
LEGEND_BELOW = {
    "orientation": "h",
    "yanchor": "top",
    "y": -0.14,
    "xanchor": "left",
    "x": 0.0,
    "font": {"size": 11},
}


def component_color(k: int) -> str:
    """The colour of mixture component ``k`` (cycling after ten)."""
    return COMPONENT_COLORS[int(k) % len(COMPONENT_COLORS)]


def model_color(name: str) -> str:
    """The colour of a model or data source by name (grey for unknown names)."""
    return MODEL_COLORS.get(name, FALLBACK_COLOR)


def _rgba(color: str, alpha: float) -> str:
    """``#rrggbb`` as an ``rgba(...)`` string with opacity ``alpha``."""
    h = color.lstrip("#")
    r, g, b = (int(h[i : i + 2], 16) for i in (0, 2, 4))
    return f"rgba({r}, {g}, {b}, {alpha:.3f})"


def _base_layout(fig: go.Figure, title: str | None, height: int = HEIGHT) -> go.Figure:
    fig.update_layout(
        template="plotly_white",
        height=height,
        margin=MARGIN,
        legend=LEGEND_BELOW,
        title={"text": title, "x": 0.0, "xanchor": "left", "font": {"size": 15}}
        if title
        else None,
        hoverlabel={"namelength": -1},
    )
    return fig


def _note(fig: go.Figure, text: str) -> go.Figure:
    """A centred grey message for figures with nothing to show."""
    fig.add_annotation(
        text=text,
        x=0.5,
        y=0.5,
        xref="paper",
        yref="paper",
        showarrow=False,
        font={"size": 15, "color": FALLBACK_COLOR},
    )
    return fig


def _polyline(lines: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Several (P, 2) lines joined into one x, y pair with NaN breaks between them."""
    if not lines:
        return np.empty(0), np.empty(0)
    gap = np.full((1, 2), np.nan)
    joined = np.concatenate([part for line in lines for part in (np.asarray(line)[:, :2], gap)])
    return joined[:, 0], joined[:, 1]


def _padded_range(values: np.ndarray, pad: float = 0.08, trim: float = 0.5) -> list[float] | None:
    """A plotting range covering the finite ``values`` (robust to ``trim`` % outliers)."""
    finite = np.asarray(values, dtype=float)
    finite = finite[np.isfinite(finite)]
    if finite.size == 0:
        return None
    lo, hi = np.percentile(finite, [trim, 100 - trim])
    span = max(hi - lo, 1e-6)
    return [float(lo - pad * span), float(hi + pad * span)]


def _equal_aspect(fig: go.Figure, n_panels: int) -> None:
    """One data unit is as long on y as on x in each of ``n_panels`` side-by-side panels."""
    for i in range(1, n_panels + 1):
        fig.update_yaxes(scaleanchor=f"x{'' if i == 1 else i}", scaleratio=1, row=1, col=i)


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


# ----------------------------------------------------------------------------- training
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
        weight = f" (α={frmdn_components[k].weight:.2f})" if k < len(frmdn_components) else ""
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


# ----------------------------------------------------------------------------- samples
def trajectories_figure(
    real: np.ndarray,
    generated: Mapping[str, np.ndarray],
    max_lines: int = 4,
    title: str | None = None,
) -> go.Figure:
    """Real and generated sequences side by side: every point faintly, a few paths drawn.

    Arguments:
        real: Real sequences (n, T, 2).
        generated: Per model, sampled sequences (n, T, 2).
        max_lines: How many sequences of each source to draw as paths (start ringed).
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
            path = seqs[i, :, :2]
            symbols = ["circle-open"] + ["circle"] * (len(path) - 1)
            sizes = [11] + [5] * (len(path) - 1)
            fig.add_trace(
                go.Scatter(
                    x=path[:, 0],
                    y=path[:, 1],
                    mode="lines+markers",
                    name=f"{name} sequences (○ = start)",
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


# ----------------------------------------------------------------------------- audio
AUDIO_HEIGHT = 240
"""Height of the small waveform and spectrogram panels of the audio page."""


def _rgb_colorscale(stops: Sequence[str]) -> list[list]:
    """Evenly spaced ``#rrggbb`` colours as a colorscale with ``rgb(...)`` stops."""
    from plotly.colors import hex_to_rgb

    return [
        [i / (len(stops) - 1), "rgb({}, {}, {})".format(*hex_to_rgb(color))]
        for i, color in enumerate(stops)
    ]


SPECTROGRAM_COLORSCALE = _rgb_colorscale(
    ["#000004", "#180f3d", "#440f76", "#721f81", "#9e2f7f", "#cd4071", "#f1605d", "#fd9668",
     "#feca8d", "#fcfdbf"]
)  # fmt: skip
"""Magma with rgb() stops: Streamlit's plotly.js misreads the hex stop "#000004" as pink."""


def _envelope(
    waveform: np.ndarray, sample_rate: int, max_points: int = 3000
) -> tuple[np.ndarray, np.ndarray]:
    """Times and values of a waveform, as a min/max envelope when it has many samples.

    Long waveforms would send hundreds of thousands of points to the browser; each bucket of
    samples is drawn as its minimum and maximum instead, which looks the same at screen size.
    """
    y = np.asarray(waveform, dtype=float).reshape(-1)
    if y.size <= max_points:
        return np.arange(y.size) / sample_rate, y
    buckets = max_points // 2
    edges = np.linspace(0, y.size, buckets + 1).astype(int)
    low = np.minimum.reduceat(y, edges[:-1])
    high = np.maximum.reduceat(y, edges[:-1])
    times = np.repeat(edges[:-1] / sample_rate, 2)
    values = np.stack([low, high], axis=-1).reshape(-1)
    return times, values


def _prime_marker(fig: go.Figure, prime_seconds: float | None, on_heatmap: bool = False) -> None:
    """Shade (or, over a heatmap, outline) the primed start of a clip, labelled "prime"."""
    if not prime_seconds or prime_seconds <= 0:
        return
    if on_heatmap:
        fig.add_vline(x=prime_seconds, line={"color": "white", "width": 2, "dash": "dash"})
    else:
        fig.add_vrect(
            x0=0, x1=prime_seconds, fillcolor="#94a3b8", opacity=0.18, line_width=0, layer="below"
        )
    fig.add_annotation(
        x=prime_seconds,
        y=1.0,
        xref="x",
        yref="paper",
        text="◀ prime | generated ▶",
        showarrow=False,
        yanchor="bottom",
        font={"size": 10, "color": FALLBACK_COLOR},
    )


def waveform_figure(
    waveform: np.ndarray,
    sample_rate: int,
    name: str = "Real",
    prime_seconds: float | None = None,
    y_range: float | None = None,
    title: str | None = None,
    height: int = AUDIO_HEIGHT,
) -> go.Figure:
    """A waveform against time in the colour of ``name``, its primed start shaded.

    Arguments:
        waveform: Samples (n,), in [-1, 1].
        sample_rate: Samples per second.
        name: Model name for the colour ("RMDN", "FRMDN"; "Real" for the original).
        prime_seconds: Length of the observed start the models continue from.
        y_range: Half-height of the y-axis (share it across panels to compare levels).
    """
    fig = go.Figure()
    _base_layout(fig, title or f"{name} waveform", height=height)
    color = model_color(name)
    fig.update_layout(title_font_color=color, margin={"l": 55, "r": 15, "t": 50, "b": 45})
    fig.update_xaxes(title_text="time (s)")
    fig.update_yaxes(title_text="amplitude")
    times, values = _envelope(waveform, sample_rate)
    if values.size == 0:
        return _note(fig, "no audio")
    fig.add_trace(
        go.Scatter(
            x=times,
            y=values,
            mode="lines",
            name=name,
            showlegend=False,
            line={"color": color, "width": 1},
            hovertemplate="%{x:.3f} s: %{y:.3f}<extra></extra>",
        )
    )
    top = float(y_range) if y_range else float(np.abs(values).max()) or 1.0
    fig.update_yaxes(range=[-1.05 * top, 1.05 * top])
    fig.update_xaxes(range=[0.0, max(float(times[-1]), 1.0 / sample_rate)])
    _prime_marker(fig, prime_seconds)
    return fig


def spectrogram_figure(
    times: np.ndarray,
    freqs: np.ndarray,
    db: np.ndarray,
    name: str = "Real",
    prime_seconds: float | None = None,
    db_range: tuple[float, float] = (-90.0, 0.0),
    title: str | None = None,
    height: int = AUDIO_HEIGHT,
) -> go.Figure:
    """A spectrogram heatmap (dB re full scale) with the end of the prime marked.

    Arguments:
        times, freqs, db: As from :func:`frmdn.views.spectrogram_db`, db (freqs, times).
        name: Model name, for the title colour.
        db_range: Colour range in dB: keep it equal across panels to compare levels.
    """
    fig = go.Figure()
    _base_layout(fig, title or f"{name} spectrogram", height=height)
    fig.update_layout(
        title_font_color=model_color(name), margin={"l": 55, "r": 15, "t": 50, "b": 45}
    )
    fig.update_xaxes(title_text="time (s)")
    fig.update_yaxes(title_text="frequency (Hz)")
    if np.asarray(db).size == 0:
        return _note(fig, "no audio")
    # values outside the colour range are clipped here: plotly.js colours them inconsistently
    shown = np.clip(np.nan_to_num(np.asarray(db, dtype=float), nan=db_range[0]), *db_range)
    fig.add_trace(
        go.Heatmap(
            x=times,
            y=freqs,
            z=shown,
            zmin=db_range[0],
            zmax=db_range[1],
            colorscale=SPECTROGRAM_COLORSCALE,
            colorbar={"title": {"text": "dB", "side": "top"}, "thickness": 10, "len": 0.9},
            hovertemplate="%{x:.2f} s, %{y:.0f} Hz: %{z:.1f} dB<extra></extra>",
        )
    )
    fig.update_xaxes(range=[float(times[0]), max(float(times[-1]), float(times[0]) + 1e-3)])
    fig.update_yaxes(range=[float(freqs[0]), float(freqs[-1])])
    _prime_marker(fig, prime_seconds, on_heatmap=True)
    return fig


def nll_along_clip_figure(
    times: np.ndarray,
    nll: Mapping[str, np.ndarray],
    unit: str = "nats / step",
    title: str | None = None,
    parts: Sequence[tuple[str, float, float]] = (),
) -> go.Figure:
    """Per-step NLL along a clip, one line per model in the model colours.

    Arguments:
        times: Time of each step in seconds (T,).
        nll: Per model, the NLL of each step (T,).
        unit: The y-axis unit.
        parts: Labelled time spans (label, start s, end s) to shade, e.g. the held-out end of
            a clip the models were trained on, so its NLL reads as a test score.
    """
    fig = go.Figure()
    _base_layout(fig, title or "NLL of each step along the clip (lower = better predicted)")
    fig.update_layout(hovermode="x unified")
    fig.update_xaxes(title_text="time (s)")
    fig.update_yaxes(title_text=f"NLL ({unit})")
    for label, start, end in parts:
        fig.add_vrect(
            x0=start,
            x1=end,
            fillcolor="#94a3b8",
            opacity=0.18,
            line_width=0,
            layer="below",
            annotation_text=label,
            annotation_position="top left",
            annotation_font={"size": 10, "color": FALLBACK_COLOR},
        )
    if not nll:
        return _note(fig, "no model to show")
    everything = []
    for name, values in nll.items():
        values = np.asarray(values, dtype=float)
        everything.append(values)
        fig.add_trace(
            go.Scatter(
                x=times,
                y=values,
                mode="lines",
                name=name,
                line={"color": model_color(name), "width": 1.4},
                hovertemplate=f"{name}: %{{y:.1f}}<extra></extra>",
            )
        )
    fig.update_yaxes(range=_padded_range(np.concatenate(everything), trim=0.5))
    return fig


def pca_latent_figure(
    raw_xy: np.ndarray,
    raw_component: np.ndarray,
    latent_xy: np.ndarray,
    latent_component: np.ndarray,
    titles: tuple[str, str] = (
        "RMDN's space: standardised frames u (PCA)",
        "FRMDN's space: latents z = f(u) (PCA)",
    ),
    title: str | None = None,
) -> go.Figure:
    """Two 2D projections side by side, each point coloured by its likeliest component.

    Arguments:
        raw_xy: Projected frames in the RMDN's space (N, 2).
        raw_component: The RMDN's likeliest component of each frame (N,).
        latent_xy: Projected FRMDN latents (M, 2).
        latent_component: The FRMDN's likeliest component of each latent (M,).
    """
    fig = make_subplots(rows=1, cols=2, subplot_titles=titles, horizontal_spacing=0.08)
    _base_layout(fig, title, height=HEIGHT + 20)
    fig.update_layout(legend_y=-0.2, margin_b=60)
    named: set[int] = set()
    for col, (xy, labels, model) in enumerate(
        ((raw_xy, raw_component, "RMDN"), (latent_xy, latent_component, "FRMDN")), start=1
    ):
        xy = np.asarray(xy, dtype=float).reshape(-1, 2)
        labels = np.asarray(labels).astype(int).reshape(-1)
        for k in np.unique(labels):
            mine = labels == k
            fig.add_trace(
                go.Scattergl(
                    x=xy[mine, 0],
                    y=xy[mine, 1],
                    mode="markers",
                    name=f"component {k} (of each model)",
                    legendgroup=f"component {k}",
                    showlegend=int(k) not in named,
                    marker={"color": component_color(k), "size": 4, "opacity": 0.55},
                    hovertemplate=(
                        f"{model} component {k}<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>"
                    ),
                ),
                row=1,
                col=col,
            )
            named.add(int(k))
        fig.update_xaxes(
            title_text="principal axis 1", range=_padded_range(xy[:, 0]), row=1, col=col
        )
        fig.update_yaxes(
            title_text="principal axis 2", range=_padded_range(xy[:, 1]), row=1, col=col
        )
    fig.update_annotations(font_size=13)
    return fig


__all__ += [
    "nll_along_clip_figure",
    "pca_latent_figure",
    "spectrogram_figure",
    "waveform_figure",
]


# ----------------------------------------------------------------------------- images
GREYS = [[0.0, "#000000"], [1.0, "#ffffff"]]
"""Black background, white ink: MNIST's own look (NaN gaps show the white page)."""


def _grey_image(mosaic: np.ndarray, label: str = "") -> go.Heatmap:
    """An 8-bit greyscale picture (H, W) as a heatmap, NaN gaps left blank."""
    return go.Heatmap(
        z=mosaic,
        colorscale=GREYS,
        zmin=0,
        zmax=255,
        showscale=False,
        hoverongaps=False,
        hovertemplate=f"{label}grey level %{{z:.0f}}<extra></extra>",
    )


PRIME_LINE_COLOR = "#22d3ee"
"""Cyan, visible on black and white: marks where the observed top of an image ends."""

IMAGE_FIGURE_WIDTH = 880
"""Expected drawing width (px) of a full-width chart: image figures size their height by it."""


def _image_axes(fig: go.Figure, col: int, row: int = 1) -> None:
    """No ticks, top row at the top and square pixels in one image panel."""
    anchor = fig.get_subplot(row, col).xaxis.plotly_name.replace("axis", "")  # "x", "x2", ...
    fig.update_xaxes(visible=False, constrain="domain", row=row, col=col)
    fig.update_yaxes(
        visible=False,
        autorange="reversed",
        constrain="domain",
        scaleanchor=anchor,
        scaleratio=1,
        row=row,
        col=col,
    )


def digit_grid_figure(
    panels: Mapping[str, np.ndarray],
    columns: int = 4,
    title: str | None = None,
    prime_rows: int | None = None,
    height: int | None = None,
    gap: int = 2,
) -> go.Figure:
    """Greyscale images, one panel per source side by side (e.g. Real | RMDN | FRMDN).

    Arguments:
        panels: Per source name, 8-bit images (n, H, W); names in :data:`MODEL_COLORS` get
            their colour in the panel title.
        columns: Images per row of each panel's grid.
        prime_rows: If given, a dashed cyan line under this many rows of every image marks
            the observed top the models continued from.
        height: Figure height (default: from the grids' aspect ratio).
        gap: Pixels between the images.
    """
    from frmdn.views import image_mosaic

    names = list(panels)
    if not names:
        return _note(_base_layout(go.Figure(), title), "no images")
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.03)
    mosaic_shape = (1, 1)
    for col, name in enumerate(names, start=1):
        images = np.asarray(panels[name])
        mosaic = image_mosaic(images, columns, gap)
        mosaic_shape = mosaic.shape
        fig.add_trace(
            _grey_image(mosaic, f"{name}<br>"),
            row=1,
            col=col,
        )
        _image_axes(fig, col)
        if prime_rows:
            tile_height = images.shape[1] + gap
            for tile_row in range(-(-len(images) // max(1, min(columns, len(images))))):
                y = tile_row * tile_height + prime_rows - 0.5
                fig.add_shape(
                    type="line",
                    x0=-0.5,
                    x1=mosaic.shape[1] - 0.5,
                    y0=y,
                    y1=y,
                    line={"color": PRIME_LINE_COLOR, "width": 1.5, "dash": "dash"},
                    row=1,
                    col=col,
                )
    for annotation, name in zip(fig.layout.annotations, names, strict=True):
        annotation.font = {"size": 14, "color": model_color(name)}
    if height is None:
        panel_width = 0.94 * IMAGE_FIGURE_WIDTH / len(names)
        top = 70 if title else 40
        height = int(np.clip(panel_width * mosaic_shape[0] / mosaic_shape[1] + top + 10, 200, 640))
    _base_layout(fig, title, height=height)
    fig.update_layout(margin={"l": 10, "r": 10, "t": 70 if title else 40, "b": 10})
    return fig


def row_surprise_figure(
    digits: np.ndarray,
    row_bits: Mapping[str, np.ndarray],
    title: str | None = None,
    gap: int = 2,
    zmax: float | None = None,
) -> go.Figure:
    """Digits on top and, under each, every model's bits per pixel of each of its rows.

    The heatmaps are drawn pixel-aligned with the digits: row ``t`` of a digit sits level
    with the cell of row ``t``, so a bright band shows which rows of which digit surprised
    the model. All models share one colour scale.

    Arguments:
        digits: 8-bit images (n, H, W).
        row_bits: Per model, bits per pixel of every row, (n, H) (from
            :func:`frmdn.views.row_bits_per_pixel`).
        zmax: Top of the colour scale (default: the 99th percentile of all values).
    """
    from frmdn.views import image_mosaic

    digits = np.asarray(digits)
    n, height, width = digits.shape
    names = list(row_bits)
    titles = ["Test digits"] + [f"{name}: bits per pixel of each row" for name in names]
    # heights in px: square pixels at IMAGE_FIGURE_WIDTH (less the colour bar), room for titles
    panel = (IMAGE_FIGURE_WIDTH - 90) * height / (n * (width + gap) - gap)
    top, title_room = (70 if title else 40), 28
    plot_height = (1 + len(names)) * panel + len(names) * title_room
    fig = make_subplots(
        rows=1 + len(names),
        cols=1,
        subplot_titles=titles,
        vertical_spacing=title_room / plot_height,
    )
    fig.add_trace(
        _grey_image(image_mosaic(digits, n, gap)),
        row=1,
        col=1,
    )
    _image_axes(fig, 1, row=1)
    values = np.concatenate(
        [np.asarray(v, dtype=float).ravel() for v in row_bits.values()] or [np.zeros(1)]
    )
    finite = values[np.isfinite(values)]
    z_top = float(zmax) if zmax else float(np.percentile(finite, 99)) if finite.size else 1.0
    z_bottom = min(0.0, float(finite.min())) if finite.size else 0.0
    for i, name in enumerate(names, start=2):
        bits = np.asarray(row_bits[name], dtype=float).reshape(n, height)
        stripes = np.repeat(bits[:, :, None], width, axis=2)  # each row's value across it
        fig.add_trace(
            go.Heatmap(
                z=image_mosaic(stripes, n, gap),
                colorscale="Viridis",
                zmin=z_bottom,
                zmax=max(z_top, z_bottom + 1e-6),
                showscale=i == 2,
                colorbar={"title": {"text": "bits / pixel", "side": "right"}, "thickness": 12},
                hoverongaps=False,
                hovertemplate=f"{name}: row %{{y}}: %{{z:.2f}} bits/pixel<extra></extra>",
            ),
            row=i,
            col=1,
        )
        _image_axes(fig, 1, row=i)
    for annotation, text in zip(fig.layout.annotations, titles, strict=True):
        name = text.split(":")[0]
        annotation.font = {
            "size": 13,
            "color": model_color(name) if name in MODEL_COLORS else None,
        }
    _base_layout(fig, title, height=int(np.clip(plot_height + top + 10, 250, 900)))
    fig.update_layout(margin={"l": 10, "r": 10, "t": top, "b": 10})
    return fig


def row_profile_figure(mean_bits: Mapping[str, np.ndarray], title: str | None = None) -> go.Figure:
    """Average bits per pixel of each image row, one line per model, top row at the top."""
    fig = go.Figure()
    _base_layout(fig, title or "Average bits per pixel of each row (test digits)")
    fig.update_layout(hovermode="y unified")
    fig.update_xaxes(title_text="bits per pixel (lower = better predicted)")
    fig.update_yaxes(title_text="image row (0 = top)", autorange="reversed")
    if not mean_bits:
        return _note(fig, "no model to show")
    for name, values in mean_bits.items():
        values = np.asarray(values, dtype=float)
        fig.add_trace(
            go.Scatter(
                x=values,
                y=np.arange(values.size),
                mode="lines+markers",
                name=name,
                line={"color": model_color(name), "width": 2},
                marker={"size": 4},
                hovertemplate=f"{name}: %{{x:.2f}} bits/pixel<extra></extra>",
            )
        )
    return fig


__all__ += [
    "digit_grid_figure",
    "row_profile_figure",
    "row_surprise_figure",
]


# ----------------------------------------------------------------------------- frame sequences
def frames_gif(
    frames: np.ndarray, duration: int = 150, scale: int = 3, step_labels: bool = False
) -> bytes:
    """An endlessly looping animated GIF of greyscale frames (T, H, W) uint8, as bytes.

    Each frame is enlarged ``scale`` times (nearest neighbour, so pixels stay sharp) and shown
    for ``duration`` milliseconds; ``st.image(gif_bytes)`` plays it in a browser.
    """
    import io

    from PIL import Image

    frames = np.asarray(frames)
    if frames.ndim != 3 or len(frames) == 0:
        raise ValueError(f"frames must have shape (T, H, W) with T >= 1, got {frames.shape}")
    frames = np.clip(frames, 0, 255).astype(np.uint8)
    size = (frames.shape[2] * scale, frames.shape[1] * scale)
    images = [
        Image.fromarray(f).resize(size, Image.Resampling.NEAREST).convert("P") for f in frames
    ]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(int(duration), 20),
        loop=0,
        disposal=1,
    )
    return buffer.getvalue()


def filmstrip_figure(
    rows: Mapping[str, np.ndarray],
    title: str | None = None,
    prime_steps: int | None = None,
    gap: int = 2,
) -> go.Figure:
    """Frame sequences as filmstrips, one row per source (e.g. Real | RMDN | FRMDN).

    Arguments:
        rows: Per source name, uint8 frames (T, H, W), drawn left to right in time.
        title: Figure title.
        prime_steps: If given, a dashed cyan line after this many frames of every strip marks
            where the observed start ends and generation begins.
        gap: Pixels between frames.
    """
    from frmdn.views import image_mosaic

    names = list(rows)
    if not names:
        return _note(_base_layout(go.Figure(), title), "no frames")
    first = np.asarray(rows[names[0]])
    width = len(first) * (first.shape[2] + gap) - gap
    strip_height = 0.96 * IMAGE_FIGURE_WIDTH * first.shape[1] / max(width, 1)
    top, title_gap = (70 if title else 40), 40
    inner = len(names) * strip_height + (len(names) - 1) * title_gap
    height = int(np.clip(inner + top + 10, 160, 1200))
    fig = make_subplots(
        rows=len(names),
        cols=1,
        subplot_titles=names,
        vertical_spacing=title_gap / max(inner, 1) if len(names) > 1 else 0.0,
    )
    for row, name in enumerate(names, start=1):
        frames = np.asarray(rows[name])
        mosaic = image_mosaic(frames, len(frames), gap)
        fig.add_trace(
            _grey_image(mosaic, f"{name}<br>"),
            row=row,
            col=1,
        )
        _image_axes(fig, 1, row=row)
        if prime_steps:
            x = prime_steps * (frames.shape[2] + gap) - gap / 2 - 0.5
            fig.add_shape(
                type="line",
                x0=x,
                x1=x,
                y0=-0.5,
                y1=frames.shape[1] - 0.5,
                line={"color": PRIME_LINE_COLOR, "width": 2, "dash": "dash"},
                row=row,
                col=1,
            )
    for annotation, name in zip(fig.layout.annotations, names, strict=True):
        annotation.font = {"size": 13, "color": model_color(name.split(" ")[0])}
    _base_layout(fig, title, height=height)
    fig.update_layout(margin={"l": 10, "r": 10, "t": top, "b": 10})
    return fig


__all__ += ["filmstrip_figure", "frames_gif"]

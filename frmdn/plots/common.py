"""Colours, layout and small helpers shared by every figure module (incl. image panels)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

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


# ----------------------------------------------------------------------------- image panels
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

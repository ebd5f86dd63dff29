"""Single-image figures: digit grids and per-row bits per pixel of each model."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from frmdn.plots.common import (
    IMAGE_FIGURE_WIDTH,
    MODEL_COLORS,
    PRIME_LINE_COLOR,
    _base_layout,
    _grey_image,
    _image_axes,
    _note,
    model_color,
)

__all__ = [
    "digit_grid_figure",
    "row_profile_figure",
    "row_surprise_figure",
    "spike_digits_figure",
]


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


def row_profile_figure(
    mean_bits: Mapping[str, np.ndarray],
    title: str | None = None,
    median_bits: Mapping[str, np.ndarray] | None = None,
    mark_row: int | None = None,
) -> go.Figure:
    """Average bits per pixel of each image row, one line per model, top row at the top.

    Arguments:
        mean_bits: Per model, the mean over images of each row's bits per pixel, (T,).
        median_bits: Per model, the median of each row (T,), drawn dashed in the model's
            colour; the lines are then named "<model> mean" and "<model> median".
        mark_row: A row to mark with a dotted horizontal line (e.g. where the mean spikes).
    """
    fig = go.Figure()
    _base_layout(fig, title or "Average bits per pixel of each row (test digits)")
    fig.update_layout(hovermode="y unified")
    fig.update_xaxes(title_text="bits per pixel (lower = better predicted)")
    fig.update_yaxes(title_text="image row (0 = top)", autorange="reversed")
    if not mean_bits:
        return _note(fig, "no model to show")
    median_bits = median_bits or {}
    lines = [(name, "mean", values) for name, values in mean_bits.items()]
    lines += [(name, "median", values) for name, values in median_bits.items()]
    for name, statistic, values in lines:
        values = np.asarray(values, dtype=float)
        label = f"{name} {statistic}" if median_bits else name
        fig.add_trace(
            go.Scatter(
                x=values,
                y=np.arange(values.size),
                mode="lines+markers",
                name=label,
                line={
                    "color": model_color(name),
                    "width": 2 if statistic == "mean" else 1.5,
                    "dash": "solid" if statistic == "mean" else "dash",
                },
                marker={"size": 4 if statistic == "mean" else 3},
                hovertemplate=f"{label}: %{{x:.2f}} bits/pixel<extra></extra>",
            )
        )
    if mark_row is not None:
        fig.add_hline(
            y=mark_row,
            line={"color": PRIME_LINE_COLOR, "width": 1, "dash": "dot"},
            annotation_text=f"row {mark_row}",
            annotation_position="bottom right",
        )
    return fig


def spike_digits_figure(
    digits: np.ndarray,
    row: int,
    labels: list[str],
    title: str | None = None,
    height: int | None = None,
) -> go.Figure:
    """A few digits side by side, each with ``row`` outlined: the images behind a row's spike.

    Arguments:
        digits: 8-bit images (n, H, W).
        row: The image row to outline in every digit.
        labels: One panel title per digit (e.g. its index and bits per pixel in ``row``).
        height: Figure height (default: from the digits' aspect ratio, as
            :func:`digit_grid_figure`).
    """
    digits = np.asarray(digits)
    if digits.ndim != 3 or len(labels) != len(digits):
        raise ValueError(f"need digits (n, H, W) and n labels, got {digits.shape}, {len(labels)}")
    if len(set(labels)) != len(labels):
        raise ValueError("the labels must differ (each names a panel)")
    panels = {label: digit[None] for label, digit in zip(labels, digits, strict=True)}
    fig = digit_grid_figure(panels, columns=1, title=title, height=height)
    width = digits.shape[2] if digits.size else 0
    for col in range(1, len(digits) + 1):
        fig.add_shape(
            type="rect",
            x0=-0.5,
            x1=width - 0.5,
            y0=row - 0.5,
            y1=row + 0.5,
            line={"color": PRIME_LINE_COLOR, "width": 1.5},
            row=1,
            col=col,
        )
    return fig

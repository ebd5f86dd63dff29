"""Image-sequence figures: looping GIFs and filmstrips of frame sequences."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from frmdn.plots.common import (
    IMAGE_FIGURE_WIDTH,
    PRIME_LINE_COLOR,
    _base_layout,
    _grey_image,
    _image_axes,
    _note,
    model_color,
)

__all__ = ["episode_end_figure", "filmstrip_figure", "frame_grid", "frames_gif"]

LABEL_HEIGHT = 20  # pixels above each panel of a frame grid, for its label
LABEL_SIZE = 14  # font size of those labels


def frames_gif(
    frames: np.ndarray, duration: int = 150, scale: int = 3, step_labels: bool = False
) -> bytes:
    """An endlessly looping animated GIF of greyscale (T, H, W) or RGB (T, H, W, 3) uint8
    frames, as bytes.

    Each frame is enlarged ``scale`` times (nearest neighbour, so pixels stay sharp) and shown
    for ``duration`` milliseconds; ``st.image(gif_bytes)`` plays it in a browser.
    """
    import io

    from PIL import Image

    frames = np.asarray(frames)
    rgb = frames.ndim == 4 and frames.shape[-1] == 3
    if not (frames.ndim == 3 or rgb) or len(frames) == 0:
        raise ValueError(
            f"frames must have shape (T, H, W) or (T, H, W, 3) with T >= 1, got {frames.shape}"
        )
    frames = np.clip(frames, 0, 255).astype(np.uint8)
    size = (frames.shape[2] * scale, frames.shape[1] * scale)
    enlarged = [Image.fromarray(f).resize(size, Image.Resampling.NEAREST) for f in frames]
    # colour frames get a palette of their own colours, not the web palette's dithering
    images = [f.quantize(256) if rgb else f.convert("P") for f in enlarged]
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


def frame_grid(
    panels: Mapping[str, np.ndarray], columns: int, scale: int = 3, gap: int = 6
) -> np.ndarray:
    """Labelled RGB panels tiled ``columns`` to a row in ONE picture per time step, so an
    animation of them stays in step (separate GIFs start and loop on their own).

    Arguments:
        panels: Per label, uint8 RGB frames (T, H, W, 3) (all the same shape), or one picture
            (H, W, 3).
        columns: Panels per row.
        scale: Nearest-neighbour enlargement of every frame.
        gap: White pixels between panels.

    Returns:
        uint8 (T, rows * (LABEL_HEIGHT + scale H + gap), columns * (scale W + gap), 3), or
        without the leading T for pictures; each label is written in black above its panel.
    """
    from PIL import Image, ImageDraw, ImageFont

    arrays = [np.asarray(p) for p in panels.values()]
    single = arrays[0].ndim == 3
    stacks = [a[None] if single else a for a in arrays]
    if columns < 1 or any(s.shape != stacks[0].shape or s.shape[-1] != 3 for s in stacks):
        raise ValueError("panels must share one (T, H, W, 3) or (H, W, 3) shape; columns >= 1")
    steps, height, width = stacks[0].shape[:3]
    cell_h, cell_w = LABEL_HEIGHT + scale * height + gap, scale * width + gap
    rows = -(-len(stacks) // columns)
    grid = np.full((steps, rows * cell_h, columns * cell_w - gap, 3), 255, np.uint8)
    labels = Image.new("RGB", (grid.shape[2], grid.shape[1]), "white")
    draw, font = ImageDraw.Draw(labels), ImageFont.load_default(size=LABEL_SIZE)
    for i, (label, stack) in enumerate(zip(panels, stacks, strict=True)):
        top, left = (i // columns) * cell_h, (i % columns) * cell_w
        draw.text((left, top + 2), label, fill="black", font=font)
        big = stack.repeat(scale, axis=1).repeat(scale, axis=2)
        grid[
            :,
            top + LABEL_HEIGHT : top + LABEL_HEIGHT + scale * height,
            left : left + scale * width,
        ] = big
    text = np.asarray(labels)
    written = (text < 255).any(-1)  # label pixels: the rest of the grid stays as tiled
    grid[:, written] = text[written]
    return grid[0] if single else grid


def episode_end_figure(
    probabilities: Mapping[str, np.ndarray], first_step: int = 0, title: str | None = None
) -> go.Figure:
    """Each source's probability that the episode ends soon, per frame, as lines in the
    models' colours on a 0-1 axis (e.g. the episode-end head on each model's dream).

    Arguments:
        probabilities: Per source (e.g. "RMDN dream"), the probability of each frame (S,).
        first_step: The frame number of the first probability (the step after the start).
    """
    fig, highest = go.Figure(), 0.0
    for name, values in probabilities.items():
        values = np.asarray(values, dtype=float).reshape(-1)
        fig.add_trace(
            go.Scatter(
                x=np.arange(first_step, first_step + len(values)),
                y=values,
                mode="lines+markers",
                name=name,
                line={"color": model_color(name.split()[0])},
                hovertemplate=f"{name}<br>frame %{{x}}: %{{y:.3f}}<extra></extra>",
            )
        )
        highest = max(highest, float(np.nanmax(values, initial=0.0)))
    _base_layout(fig, title, height=300)
    # rare events have small probabilities: the axis reaches a little above the highest
    fig.update_yaxes(range=[0, min(1.0, max(0.1, 1.15 * highest))], title="P(episode ends)")
    fig.update_xaxes(title="frame")
    return fig


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

"""Audio figures: waveforms, spectrograms and NLL along a clip."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import plotly.graph_objects as go

from frmdn.plots.common import (
    FALLBACK_COLOR,
    _base_layout,
    _note,
    _padded_range,
    model_color,
)

__all__ = [
    "nll_along_clip_figure",
    "spectrogram_figure",
    "waveform_figure",
]

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

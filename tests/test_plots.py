"""Tests of the Plotly figure builders in frmdn.plots."""

from __future__ import annotations

import json
import math

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

import frmdn
from frmdn import plots
from frmdn.data import load_data
from frmdn.plots import COMPONENT_COLORS, MODEL_COLORS
from frmdn.training.trainer import Progress
from frmdn.views import (
    Component,
    LatentPoints,
    density_grid,
    flow_grid_lines,
    flow_stages,
    latent_points,
    step_components,
)

BOUNDS = (-2.5, 2.5, -2.5, 2.5)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return {
        "RMDN": frmdn.RMDN(2, 3, 1, 16),
        "FRMDN": frmdn.FRMDN(2, 3, 1, 16, flow_layers=2),
    }


@pytest.fixture(scope="module")
def sequences():
    return load_data("toy:ring", n_train=8, n_valid=4, n_test=4, length=10).train


def _axis_titles(fig: go.Figure) -> list[str | None]:
    layout = fig.to_dict()["layout"]
    return [
        layout[key].get("title", {}).get("text")
        for key in layout
        if key.startswith(("xaxis", "yaxis"))
    ]


def _check_common(fig: go.Figure) -> dict:
    assert isinstance(fig, go.Figure)
    assert fig.layout.template.layout.paper_bgcolor == "white"  # plotly_white
    assert 420 <= fig.layout.height <= 480
    assert any(_axis_titles(fig))
    return json.loads(fig.to_json())  # serialises (NaN and inf included)


def _traces(fig: go.Figure, kind: str) -> list:
    return [t for t in fig.data if t.type == kind]


# ----------------------------------------------------------------------------- ellipse
@pytest.mark.parametrize("n_sigma", [1.0, 2.0, 0.5])
def test_ellipse_lies_on_the_mahalanobis_contour(n_sigma):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2, 2))
    covariance = a @ a.T + 0.1 * np.eye(2)
    mean = rng.normal(size=2)
    xy = plots.ellipse_xy(mean, covariance, n_sigma, n_points=64)
    assert xy.shape == (64, 2)
    diff = xy - mean
    distance = np.einsum("pi,ij,pj->p", diff, np.linalg.inv(covariance), diff)
    np.testing.assert_allclose(distance, n_sigma**2, atol=1e-6)
    np.testing.assert_allclose(xy[0], xy[-1], atol=1e-12)  # closed curve


def test_ellipse_uses_the_first_two_dimensions():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(4, 4))
    covariance = a @ a.T + np.eye(4)
    mean = rng.normal(size=4)
    xy = plots.ellipse_xy(mean, covariance, 1.0)
    diff = xy - mean[:2]
    distance = np.einsum("pi,ij,pj->p", diff, np.linalg.inv(covariance[:2, :2]), diff)
    np.testing.assert_allclose(distance, 1.0, atol=1e-6)


def test_colours_are_distinct_and_stable():
    assert len(COMPONENT_COLORS) == 10 and len(set(COMPONENT_COLORS)) == 10
    assert not set(COMPONENT_COLORS) & set(MODEL_COLORS.values())
    assert plots.component_color(3) == COMPONENT_COLORS[3]
    assert plots.component_color(13) == COMPONENT_COLORS[3]
    assert plots.model_color("FRMDN") == MODEL_COLORS["FRMDN"]


# ----------------------------------------------------------------------------- loss
def _history(n: int, nan_train: bool = False) -> list[Progress]:
    return [
        Progress(50 * (i + 1), math.nan if nan_train and i == 1 else 3 - 0.1 * i, 3 - 0.1 * i, i)
        for i in range(n)
    ]


def test_loss_figure_has_two_lines_per_trained_model():
    fig = plots.loss_figure({"RMDN": _history(5), "FRMDN": _history(4, nan_train=True)})
    _check_common(fig)
    names = [t.name for t in fig.data]
    assert names == ["RMDN valid", "RMDN train", "FRMDN valid", "FRMDN train"]
    for trace in fig.data:
        model, kind = trace.name.split()
        assert trace.line.color == MODEL_COLORS[model]
        assert trace.line.dash == ("solid" if kind == "valid" else "dot")
    assert list(fig.data[0].x) == [50, 100, 150, 200, 250]
    assert 100 not in list(fig.data[3].x)  # the NaN train report is dropped
    assert fig.layout.xaxis.title.text and fig.layout.yaxis.title.text


def test_loss_figure_skips_untrained_models_and_notes_empty_histories():
    fig = plots.loss_figure({"RMDN": _history(3), "FRMDN": []})
    assert [t.name for t in fig.data] == ["RMDN valid", "RMDN train"]
    empty = plots.loss_figure({"RMDN": [], "FRMDN": []})
    _check_common(empty)
    assert len(empty.data) == 0
    assert "no training yet" in [a.text for a in empty.layout.annotations]
    assert len(plots.loss_figure({}).data) == 0


# ----------------------------------------------------------------------------- bars
def test_nll_bar_figure_uses_model_colours():
    fig = plots.nll_bar_figure({"RMDN": 1.5, "FRMDN": 0.7})
    _check_common(fig)
    (bar,) = fig.data
    assert bar.type == "bar" and list(bar.x) == ["RMDN", "FRMDN"]
    assert list(bar.marker.color) == [MODEL_COLORS["RMDN"], MODEL_COLORS["FRMDN"]]
    assert "lower is better" in fig.layout.title.text


def test_nll_bar_figure_handles_empty_and_non_finite_scores():
    assert len(plots.nll_bar_figure({}).data) == 0
    fig = plots.nll_bar_figure({"RMDN": math.nan, "FRMDN": -0.4})
    data = _check_common(fig)
    assert data["data"][0]["y"][0] is None
    assert fig.data[0].text[0] == "n/a"


# ----------------------------------------------------------------------------- latent space
def test_latent_space_figure_with_real_models(models, sequences):
    frmdn_model, rmdn_model = models["FRMDN"], models["RMDN"]
    points = latent_points(frmdn_model, sequences)
    seq, step = sequences[0], 4
    fc = step_components(frmdn_model, seq, step)
    rc = step_components(rmdn_model, seq, step, data_space=True)
    grid = flow_grid_lines(frmdn_model, BOUNDS, n_lines=5, n_points=20)
    fig = plots.latent_space_figure(
        points, fc, rc, seq[step].numpy(), grid, target_z=points.z[step]
    )
    _check_common(fig)
    layout = fig.layout
    assert layout.yaxis.scaleanchor == "x" and layout.yaxis2.scaleanchor == "x2"
    assert [a.text for a in layout.annotations][:2] == [
        "Data space y",
        "Flow latent space z = f(y)",
    ]
    for axis in (layout.xaxis, layout.yaxis, layout.xaxis2, layout.yaxis2):
        assert axis.title.text

    # the grid: one trace per panel, one legend entry
    grid_traces = [t for t in fig.data if t.name == "grid lines (mapped by f)"]
    assert [t.xaxis for t in grid_traces] == ["x", "x2"]
    assert [t.showlegend for t in grid_traces] == [True, False]

    # points: one trace per component and panel, labelled with the weights
    legend = [t.name for t in fig.data if t.showlegend is not False]
    for k, comp in enumerate(fc):
        assert f"component {k} (FRMDN α={comp.weight:.2f})" in legend
    markers = [t for t in fig.data if t.mode == "markers" and t.name.startswith("component")]
    assert sum(len(t.x) for t in markers) == 2 * len(points.y)
    assert {t.marker.color for t in markers} == {plots.component_color(k) for k in range(3)}

    # ellipses: 1σ and 2σ per component, RMDN ones on the left in the RMDN colour
    visible = [t for t in fig.data if "σ)" in (t.hovertemplate or "")]
    rmdn = [t for t in visible if t.hovertemplate.startswith("RMDN")]
    frmdn_ = [t for t in visible if t.hovertemplate.startswith("FRMDN")]
    assert len(rmdn) == 2 * len(rc) and len(frmdn_) == 2 * len(fc)
    assert {t.xaxis for t in rmdn} == {"x"} and {t.xaxis for t in frmdn_} == {"x2"}
    assert all(t.line.color.startswith("rgba(37, 99, 235") for t in rmdn)
    assert {t.line.dash for t in rmdn} == {"solid", "dash"}

    stars = [t for t in fig.data if t.marker.symbol == "star"]
    assert [t.xaxis for t in stars] == ["x", "x2"]


def test_latent_space_figure_minimal_inputs():
    rng = np.random.default_rng(0)
    points = LatentPoints(rng.normal(size=(30, 2)), rng.normal(size=(30, 2)), np.zeros(30, int))
    fig = plots.latent_space_figure(points, [], [], None, None)
    _check_common(fig)
    assert {t.name for t in fig.data} == {"component 0"}
    empty = LatentPoints(np.empty((0, 2)), np.empty((0, 2)), np.empty(0, int))
    comp = Component(1.0, np.zeros(2), np.eye(2))
    _check_common(plots.latent_space_figure(empty, [comp], [comp]))


# ----------------------------------------------------------------------------- flow layers
def _flow_stages(n_layers: int = 2):
    torch.manual_seed(3)
    model = frmdn.FRMDN(2, 3, 1, 16, flow_layers=n_layers, flow_hidden=8)
    with torch.no_grad():
        for parameter in model.flow.parameters():  # away from the identity start
            parameter.add_(0.4 * torch.randn_like(parameter))
    points = torch.randn(40, 2, generator=torch.Generator().manual_seed(0))
    return flow_stages(model, points, BOUNDS, n_lines=4, n_points=9)


def test_flow_layers_figure_animates_one_frame_per_stage():
    stages = _flow_stages()
    labels = np.arange(40) % 3
    fig = plots.flow_layers_figure(stages, labels)
    assert fig.layout.height == 680  # taller than the rest: the plane is drawn square
    fig.update_layout(height=460)
    _check_common(fig)
    assert [f.name for f in fig.frames] == ["0", "1", "2", "3"]
    (slider,) = fig.layout.sliders
    assert [s.label for s in slider.steps] == ["u", "layer 1", "layer 2", "layer 3"]
    assert [list(s.args[0]) for s in slider.steps] == [["0"], ["1"], ["2"], ["3"]]
    assert {b.label for b in fig.layout.updatemenus[0].buttons} == {"▶ Play", "❚❚ Pause"}

    for stage, frame in zip(stages, fig.frames, strict=True):
        # the same traces in every frame: the bent grid, then one per component
        assert [t.name for t in frame.data] == [
            "grid lines of the data plane",
            "component 0",
            "component 1",
            "component 2",
        ]
        markers = frame.data[1:]
        assert sum(len(t.x) for t in markers) == 40
        assert [t.marker.color for t in markers] == [plots.component_color(k) for k in range(3)]
        np.testing.assert_allclose(markers[1].x, stage.points[labels == 1, 0])
        # the annotation carries this layer's log-det and the running sum
        (note,) = frame.layout.annotations
        titles = frame.layout.xaxis.title.text, frame.layout.yaxis.title.text
        if stage.index == 0:
            assert "log|det| = 0" in note.text
            assert titles == ("u₁ (standardised data)", "u₂")
        else:
            assert f"{stage.mean_log_det:+.3f} nats" in note.text
            assert f"{stage.mean_cumulative_log_det:+.3f} nats" in note.text
            assert f"after layer {stage.index}: {stage.kind}" in titles[0]
        assert frame.layout.xaxis.range is None  # frames never move the axes
    assert fig.frames[-1].layout.xaxis.title.text.startswith("z₁")
    assert stages[-1].mean_cumulative_log_det != 0

    # one fixed range for every frame, covering the points of all stages
    layout = fig.layout
    assert layout.xaxis.autorange is False and layout.yaxis.autorange is False
    assert layout.yaxis.scaleanchor == "x"
    every = np.concatenate([s.points for s in stages])
    for axis, column in ((layout.xaxis, 0), (layout.yaxis, 1)):
        low, high = axis.range
        assert low < every[:, column].min() and every[:, column].max() < high
    # the figure starts on the stage it is asked for
    started = plots.flow_layers_figure(stages, labels, initial=2)
    np.testing.assert_allclose(started.data[1].x, stages[2].points[labels == 0, 0])
    assert started.layout.sliders[0].active == 2


def test_flow_layers_figure_of_an_identity_flow_and_of_nothing():
    rmdn = frmdn.RMDN(2, 3, 1, 16)
    stages = flow_stages(rmdn, torch.randn(10, 2), BOUNDS)
    fig = plots.flow_layers_figure(stages)  # no components: one colour
    json.loads(fig.to_json())
    assert len(fig.frames) == 1 and not fig.layout.sliders
    assert [t.name for t in fig.data] == ["grid lines of the data plane", "component 0"]
    assert "no flow" in plots.flow_layers_figure([]).layout.annotations[-1].text


# ----------------------------------------------------------------------------- densities
def test_density_figure_one_heatmap_per_model(models, sequences):
    history, target = sequences[0, :5], sequences[0, 5]
    log_densities, nll = {}, {}
    for name, model in models.items():
        xs, ys, log_density = density_grid(model, history, BOUNDS, resolution=24)
        log_densities[name] = log_density
        nll[name] = -float(model.next_step_log_prob(history, target[None])[0])
    fig = plots.density_figure(xs, ys, log_densities, history.numpy(), target.numpy(), nll)
    _check_common(fig)
    heatmaps = _traces(fig, "heatmap")
    assert [h.name for h in heatmaps] == ["RMDN", "FRMDN"]
    assert [h.xaxis for h in heatmaps] == ["x", "x2"]
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0].startswith("RMDN — NLL of true point") and f"{nll['RMDN']:.2f}" in titles[0]
    # one colour scale: log-density clipped at max - depth
    top = max(float(v.max()) for v in log_densities.values())
    assert fig.layout.coloraxis.cmax == pytest.approx(top)
    assert fig.layout.coloraxis.cmin == pytest.approx(top - 8)
    assert "log p" in fig.layout.coloraxis.colorbar.title.text
    assert all(np.min(h.z) >= top - 8 - 1e-9 for h in heatmaps)
    assert fig.layout.yaxis.scaleanchor == "x" and fig.layout.yaxis2.scaleanchor == "x2"
    paths = [t for t in fig.data if t.name and t.name.startswith("observed history")]
    assert len(paths) == 2 and len(paths[0].x) == 5
    assert sum(t.type == "scatter" and t.marker.symbol == "star" for t in fig.data) == 2


def test_density_figure_survives_infinite_and_missing_values():
    xs = ys = np.linspace(-1, 1, 5)
    bad = np.zeros((5, 5))
    bad[0, 0], bad[1, 1] = -np.inf, np.nan
    fig = plots.density_figure(xs, ys, {"FRMDN": bad}, np.empty((0, 2)), np.zeros(2))
    _check_common(fig)
    assert len(_traces(fig, "heatmap")) == 1
    assert np.isfinite(np.asarray(fig.data[0].z, dtype=float)).all()
    assert len(plots.density_figure(xs, ys, {}, np.empty((0, 2)), np.zeros(2)).data) == 0


def test_trajectories_figure_numbers_the_first_steps_of_a_path(models, sequences):
    generated = {name: m.sample(2, 10).numpy() for name, m in models.items()}
    fig = plots.trajectories_figure(sequences.numpy(), generated, max_lines=1, max_steps=4)
    lines = [t for t in fig.data if t.type == "scatter"]
    assert len(lines) == 3
    for line in lines:
        assert len(line.x) == 4 and list(line.text) == ["0", "1", "2", "3"]
        assert "text" in line.mode


# ----------------------------------------------------------------------------- samples
def test_trajectories_figure_panels_and_colours(models, sequences):
    real = sequences.numpy()
    generated = {name: m.sample(3, 10).numpy() for name, m in models.items()}
    fig = plots.trajectories_figure(real, generated, max_lines=2)
    _check_common(fig)
    assert [a.text for a in fig.layout.annotations] == ["Real", "RMDN", "FRMDN"]
    for source, axis, n_seq in (("Real", "x", 8), ("RMDN", "x2", 3), ("FRMDN", "x3", 3)):
        mine = [t for t in fig.data if t.legendgroup == source]
        cloud = [t for t in mine if t.type == "scattergl"]
        lines = [t for t in mine if t.type == "scatter"]
        assert len(cloud) == 1 and len(cloud[0].x) == n_seq * 10
        assert len(lines) == 2
        assert {t.xaxis for t in mine} == {axis}
        assert cloud[0].marker.color == MODEL_COLORS[source]
        assert lines[0].marker.symbol[0] == "circle-open"  # the start is ringed
    ranges = {tuple(fig.layout[f"xaxis{i}"].range) for i in ("", "2", "3")}
    assert len(ranges) == 1  # shared axes ranges
    assert fig.layout.yaxis3.scaleanchor == "x3"


def test_trajectories_figure_with_nothing_generated():
    fig = plots.trajectories_figure(np.zeros((2, 4, 2)), {}, max_lines=5)
    _check_common(fig)
    assert len([t for t in fig.data if t.type == "scatter"]) == 2


# ----------------------------------------------------------------------------- audio
def _audio_checks(fig: go.Figure) -> dict:
    assert isinstance(fig, go.Figure)
    assert fig.layout.title.text  # every audio chart is titled
    assert all(_axis_titles(fig))
    return json.loads(fig.to_json())


@pytest.mark.parametrize("name", ["Real", "RMDN", "FRMDN"])
def test_waveform_figure_colours_the_model_and_marks_the_prime(name):
    rate = 8000
    wave = 0.3 * np.sin(np.linspace(0, 200, 2 * rate))
    fig = plots.waveform_figure(wave, rate, name, prime_seconds=0.5, y_range=0.6)
    _audio_checks(fig)
    (trace,) = fig.data
    assert trace.line.color == MODEL_COLORS[name]
    assert fig.layout.title.font.color == MODEL_COLORS[name]
    assert len(trace.x) <= 3000  # a long clip is drawn as a min/max envelope
    assert max(trace.y) == pytest.approx(wave.max(), abs=1e-3)
    assert min(trace.y) == pytest.approx(wave.min(), abs=1e-3)
    assert trace.x[-1] <= 2.0
    assert list(fig.layout.yaxis.range) == pytest.approx([-0.63, 0.63])
    (shape,) = fig.layout.shapes
    assert (shape.x0, shape.x1) == (0, 0.5)
    assert "prime" in fig.layout.annotations[0].text


def test_waveform_figure_short_and_empty_clips():
    fig = plots.waveform_figure(np.array([0.0, 0.5, -0.25]), 8000)
    assert list(fig.data[0].y) == [0.0, 0.5, -0.25] and not fig.layout.shapes
    empty = plots.waveform_figure(np.zeros(0), 8000)
    assert not empty.data and "no audio" in empty.layout.annotations[0].text


def test_spectrogram_figure_shares_the_colour_range():
    times, freqs = np.linspace(0, 1, 20), np.linspace(0, 4000, 9)
    db = np.linspace(-90, -10, 180).reshape(9, 20)
    fig = plots.spectrogram_figure(times, freqs, db, "FRMDN", 0.25, db_range=(-80.0, -5.0))
    _audio_checks(fig)
    (heatmap,) = _traces(fig, "heatmap")
    assert (heatmap.zmin, heatmap.zmax) == (-80.0, -5.0)
    assert fig.layout.title.font.color == MODEL_COLORS["FRMDN"]
    assert fig.layout.shapes[0].x0 == 0.25  # the end of the prime
    assert fig.layout.yaxis.title.text == "frequency (Hz)"


def test_nll_along_clip_figure_one_line_per_model():
    times = np.arange(100) * 0.01
    nll = {"RMDN": np.linspace(-50, 0, 100), "FRMDN": np.linspace(-80, -20, 100)}
    fig = plots.nll_along_clip_figure(times, nll)
    _audio_checks(fig)
    assert [t.name for t in fig.data] == ["RMDN", "FRMDN"]
    assert [t.line.color for t in fig.data] == [MODEL_COLORS["RMDN"], MODEL_COLORS["FRMDN"]]
    assert "nats / step" in fig.layout.yaxis.title.text
    assert "no model" in plots.nll_along_clip_figure(times, {}).layout.annotations[0].text
    assert not fig.layout.shapes


def test_nll_along_clip_figure_shades_labelled_parts():
    times = np.arange(100) * 0.01
    parts = [("valid", 0.8, 0.9), ("held-out", 0.9, 1.0)]
    fig = plots.nll_along_clip_figure(times, {"RMDN": np.zeros(100)}, parts=parts)
    assert [(s.x0, s.x1) for s in fig.layout.shapes] == [(0.8, 0.9), (0.9, 1.0)]
    assert [a.text for a in fig.layout.annotations] == ["valid", "held-out"]


# ----------------------------------------------------------------------------- images
def _digits(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(n, 28, 28), dtype=np.uint8)


def test_digit_grid_figure_one_square_pixel_panel_per_source():
    panels = {"Real": _digits(16), "RMDN": _digits(16, 1), "FRMDN": _digits(16, 2)}
    fig = plots.digit_grid_figure(panels, columns=4, title="Digits")
    assert fig.layout.title.text == "Digits"
    assert [a.text for a in fig.layout.annotations] == list(panels)
    assert [a.font.color for a in fig.layout.annotations] == [
        MODEL_COLORS[name] for name in panels
    ]
    assert len(fig.data) == 3 and all(t.type == "heatmap" for t in fig.data)
    assert np.asarray(fig.data[1].z).shape == (4 * 30 - 2, 4 * 30 - 2)
    assert (fig.data[0].zmin, fig.data[0].zmax) == (0, 255)
    assert fig.layout.yaxis.autorange == "reversed" and fig.layout.yaxis2.scaleanchor == "x2"
    assert not fig.layout.shapes
    assert json.loads(fig.to_json())["data"]  # serialisable, NaN gaps included


def test_digit_grid_figure_marks_the_prime_in_every_tile_row():
    panels = {"Original": _digits(6), "RMDN": _digits(6, 1)}
    fig = plots.digit_grid_figure(panels, columns=3, prime_rows=14)
    assert len(fig.layout.shapes) == 2 * 2  # two tile rows in each of two panels
    assert sorted({s.y0 for s in fig.layout.shapes}) == [13.5, 30 + 13.5]
    assert plots.digit_grid_figure({}).layout.annotations[0].text == "no images"


def test_row_surprise_figure_aligns_rows_with_the_digits():
    digits = _digits(5)
    bits = {"RMDN": np.linspace(0, 4, 5 * 28).reshape(5, 28), "FRMDN": np.ones((5, 28))}
    fig = plots.row_surprise_figure(digits, bits, title="Surprise")
    assert fig.layout.title.text == "Surprise"
    assert len(fig.data) == 3
    image, rmdn, frmdn_heat = (np.asarray(t.z, dtype=float) for t in fig.data)
    assert image.shape == rmdn.shape == frmdn_heat.shape == (28, 5 * 30 - 2)
    np.testing.assert_allclose(rmdn[:, 0], bits["RMDN"][0])  # row t of digit 0, column 0
    np.testing.assert_allclose(rmdn[:, 30 + 27], bits["RMDN"][1])
    assert fig.data[1].zmin == fig.data[2].zmin and fig.data[1].zmax == fig.data[2].zmax
    assert fig.data[1].showscale and not fig.data[2].showscale
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == "Test digits" and "RMDN" in titles[1] and "FRMDN" in titles[2]


def test_row_profile_figure_one_line_per_model():
    fig = plots.row_profile_figure({"RMDN": np.ones(28), "FRMDN": np.zeros(28)})
    assert fig.layout.title.text and fig.layout.yaxis.autorange == "reversed"
    assert [t.line.color for t in fig.data] == [MODEL_COLORS["RMDN"], MODEL_COLORS["FRMDN"]]
    assert list(fig.data[0].y) == list(range(28))
    assert "no model" in plots.row_profile_figure({}).layout.annotations[0].text


# ----------------------------------------------------------------------------- frame sequences
def test_frames_gif_is_an_animated_looping_gif():
    import io

    from PIL import Image

    frames = (np.arange(4)[:, None, None] * 60 + np.zeros((4, 6, 5))).astype(np.uint8)
    data = plots.frames_gif(frames, duration=100, scale=2)
    image = Image.open(io.BytesIO(data))
    assert image.format == "GIF" and image.size == (10, 12)
    assert image.n_frames == 4 and image.info.get("loop") == 0
    assert image.info.get("duration") == 100
    with pytest.raises(ValueError, match="frames"):
        plots.frames_gif(np.zeros((0, 4, 4), dtype=np.uint8))


def test_filmstrip_figure_one_strip_per_source():
    real = np.zeros((5, 8, 8), dtype=np.uint8)
    fig = plots.filmstrip_figure(
        {"Real": real, "RMDN": real + 100, "FRMDN": real + 200}, title="strips", prime_steps=2
    )
    assert fig.layout.title.text == "strips"
    assert [a.text for a in fig.layout.annotations] == ["Real", "RMDN", "FRMDN"]
    assert fig.layout.annotations[2].font.color == MODEL_COLORS["FRMDN"]
    assert len(fig.data) == 3 and fig.data[0].z.shape == (8, 5 * 8 + 4 * 2)
    assert len(fig.layout.shapes) == 3  # one prime line per strip
    assert "no frames" in plots.filmstrip_figure({}).layout.annotations[0].text


# ----------------------------------------------------------------------------- experiment grid
@pytest.fixture(scope="module")
def results():
    from test_page_compare import small_results

    return small_results()  # toy:ring (3 seeds, nats/step) and images:digits (1 seed, bits/dim)


def test_seed_strip_figure_one_slot_per_model_in_grid_order(results):
    from frmdn.experiments.grid import EXTENSION, KINDS

    fig = plots.seed_strip_figure(results, "toy:ring")
    _check_common(fig)
    assert len(fig.data) == 2 * len(KINDS)  # the seeds and the mean ± std of every model
    seeds, means = fig.data[0::2], fig.data[1::2]
    assert [t.name for t in seeds] == [f"{k}: seeds" for k in KINDS]
    assert all(len(t.y) == 3 for t in seeds) and all(len(t.y) == 1 for t in means)
    ring = results[(results["data"] == "toy:ring") & (results["model"] == "RMDN diagonal")]
    assert means[0].y[0] == pytest.approx(ring["test_nll"].mean())
    assert means[0].error_y.array[0] == pytest.approx(ring["test_nll"].std())
    ticks = [t.replace("<br>", " ") for t in fig.layout.xaxis.ticktext]
    assert ticks[:5] == list(KINDS)[:5] and "(extension)" in ticks[5]
    assert any("extension" in a.text for a in fig.layout.annotations)  # its shaded slot
    assert fig.data[-1].marker.color == plots.compare.KIND_COLORS[EXTENSION]
    assert fig.layout.yaxis.title.text == "test NLL (nats/step, lower is better)"
    digits = plots.seed_strip_figure(results, "images:digits")
    assert "bits/dim" in digits.layout.yaxis.title.text
    assert digits.data[1].error_y.array[0] == 0  # one seed: no spread to draw
    assert "no rows" in plots.seed_strip_figure(results, "toy:moons").layout.annotations[0].text


def test_paired_difference_figure_per_seed_with_a_zero_line(results):
    from frmdn.experiments.grid_stats import PAIRS, paired_differences

    fig = plots.paired_difference_figure(results, "toy:ring")
    _check_common(fig)
    assert len(fig.data) == 2 * len(PAIRS)
    assert [t.name for t in fig.data[0::2]] == [f"{p}: seeds" for p in PAIRS]
    model, baseline = PAIRS["flow, low-rank precision"]
    expected = paired_differences(results[results["data"] == "toy:ring"], model, baseline)
    np.testing.assert_allclose(fig.data[0].y, expected["difference"])
    assert fig.data[1].y[0] == pytest.approx(expected["difference"].mean())
    assert fig.data[1].y[0] < 0  # the flow helps on the ring
    assert [s.y0 for s in fig.layout.shapes] == [0]  # the zero line
    assert fig.layout.yaxis.title.text == "FRMDN − RMDN test NLL (nats/step)"
    assert f"{model} − {baseline}" in fig.layout.xaxis.ticktext[0]
    rmdn_only = results[results["model"].str.startswith("RMDN")]
    note = plots.paired_difference_figure(rmdn_only, "toy:ring").layout.annotations[0].text
    assert "no seeds with both models" in note


def test_parameters_nll_figure_one_panel_and_unit_per_data_set(results):
    fig = plots.parameters_nll_figure(results)
    _check_common(fig)
    assert [a.text for a in fig.layout.annotations] == ["toy:ring", "images:digits"]
    assert fig.layout.yaxis.title.text == "test NLL (nats/step)"
    assert fig.layout.yaxis2.title.text == "test NLL (bits/dim)"
    assert fig.layout.xaxis.title.text == fig.layout.xaxis2.title.text == "parameters"
    assert len(fig.data) == 12 and sum(t.showlegend for t in fig.data) == 6  # legend once
    four = results.assign(data=results["data"] + results["seed"].astype(str))
    tall = plots.parameters_nll_figure(four)  # 4 data sets: two rows of panels
    assert tall.layout.height > 600 and tall.layout.yaxis4.title.text == "test NLL (bits/dim)"
    bare = plots.parameters_nll_figure(results.drop(columns="parameters"))
    assert "no parameter counts" in bare.layout.annotations[0].text


def test_head_size_figure_counts_the_heads_outputs():
    K, r = 5, 2
    fig = plots.head_size_figure(K, r)
    _check_common(fig)
    assert fig.layout.yaxis.type == "log"
    assert fig.layout.xaxis.title.text == "target size d"
    diagonal, low_rank, full = (np.asarray(t.y) for t in fig.data)
    d = np.arange(1, 129)
    np.testing.assert_array_equal(fig.data[0].x, d)
    np.testing.assert_array_equal(diagonal, K * (1 + 2 * d))
    np.testing.assert_array_equal(low_rank, K * (1 + d * (2 + r)))
    np.testing.assert_array_equal(full, K * (1 + d + d * (d + 1) // 2))
    labels = [a.text for a in fig.layout.annotations]
    for order in ("O(Kd)", "O(Kd(1+r))", "O(Kd²)"):
        assert f"<b>{order}</b>" in labels
    assert "r = 2" in fig.data[1].name


# ----------------------------------------------------------------------------- mixture weights
def _weights_checks(fig: go.Figure) -> dict:
    """As :func:`_check_common`, but taller: each weights panel needs room for its y title."""
    assert fig.layout.template.layout.paper_bgcolor == "white"  # plotly_white
    assert 480 <= fig.layout.height <= 580
    return json.loads(fig.to_json())


def _weights(T: int, K: int, seed: int) -> np.ndarray:
    w = np.random.default_rng(seed).random((T, K))
    return w / w.sum(-1, keepdims=True)


def test_mixture_weights_figure_stacks_each_models_components():
    weights = {"RMDN": _weights(30, 3, 0), "FRMDN": _weights(30, 5, 1)}
    fig = plots.mixture_weights_figure(weights)
    layout = _weights_checks(fig)["layout"]
    areas = [t for t in fig.data if t.stackgroup]
    assert len(areas) == 3 + 5 == len(fig.data)
    rmdn, frmdn_ = areas[:3], areas[3:]
    assert {t.stackgroup for t in rmdn} == {"RMDN"} and {t.stackgroup for t in frmdn_} == {"FRMDN"}
    assert {t.yaxis for t in rmdn} == {"y"} and {t.yaxis for t in frmdn_} == {"y2"}
    for model, traces in (("RMDN", rmdn), ("FRMDN", frmdn_)):
        for k, trace in enumerate(traces):
            assert trace.fillcolor == trace.line.color == COMPONENT_COLORS[k]
            np.testing.assert_array_equal(trace.y, weights[model][:, k])
            np.testing.assert_array_equal(trace.x, np.arange(30))
            assert f"{model} α{k}" in trace.hovertemplate
        np.testing.assert_allclose(np.sum([t.y for t in traces], axis=0), 1.0)
    # one legend entry per component number, in order 0..K-1, shared by both panels
    shown = sorted((t.legendrank, t.name) for t in fig.data if t.showlegend)
    assert [name.split()[1] for _, name in shown] == ["0", "1", "2", "3", "4"]
    assert [t.legendgroup for t in areas] == [f"component {k}" for k in (0, 1, 2, 0, 1, 2, 3, 4)]
    # the time axis is shared; weights run from 0 to 1
    assert (
        layout["xaxis"]["matches"] == "x2" and layout["xaxis2"]["title"]["text"] == "time step t"
    )
    for axis in ("yaxis", "yaxis2"):
        assert layout[axis]["title"]["text"] == "component weight α<sub>k</sub>(t)"
        assert layout[axis]["range"] == [0.0, 1.0]
    titles = [a.text for a in fig.layout.annotations]
    assert titles == ["RMDN: α<sub>k</sub>(t)", "FRMDN: α<sub>k</sub>(t)"]


def test_mixture_weights_figure_with_seconds_and_a_line_above():
    weights = {"RMDN": _weights(50, 3, 0), "FRMDN": _weights(50, 3, 1)}
    seconds = (np.arange(50) + 0.5) * 0.01
    level = {"frame level": np.linspace(-60, -10, 50)}
    fig = plots.mixture_weights_figure(
        weights, x=seconds, x_title="time (s)", above=level, above_title="level (dB)"
    )
    layout = _weights_checks(fig)["layout"]
    (line,) = [t for t in fig.data if not t.stackgroup]
    assert line.yaxis == "y" and line.line.color == "#374151" and line.name == "frame level"
    assert {t.yaxis for t in fig.data if t.stackgroup} == {"y2", "y3"}
    assert layout["yaxis"]["title"]["text"] == "level (dB)"
    assert layout["xaxis3"]["title"]["text"] == "time (s)"
    assert layout["xaxis3"]["range"] == [seconds[0], seconds[-1]]
    # model names keep the model colours in the panel above (e.g. each model's NLL)
    nll = {"RMDN": np.zeros(50), "FRMDN": np.ones(50)}
    fig = plots.mixture_weights_figure(weights, above=nll, above_title="NLL")
    assert [t.line.color for t in fig.data if not t.stackgroup] == [
        MODEL_COLORS["RMDN"],
        MODEL_COLORS["FRMDN"],
    ]
    with pytest.raises(ValueError, match="x has 3 values"):
        plots.mixture_weights_figure(weights, x=np.arange(3))


def test_mixture_weights_figure_of_nothing_and_of_one_step():
    fig = plots.mixture_weights_figure({"RMDN": np.zeros((0, 3))})
    assert "no steps" in fig.layout.annotations[-1].text
    fig = plots.mixture_weights_figure({"RMDN": np.ones((1, 1))})
    json.loads(fig.to_json())
    assert len(fig.data) == 1


def test_row_profile_figure_adds_dashed_medians_and_marks_a_row():
    means = {"RMDN": np.full(28, 3.0), "FRMDN": np.full(28, 2.0)}
    medians = {"RMDN": np.full(28, 2.9), "FRMDN": np.full(28, 1.9)}
    fig = plots.row_profile_figure(means, median_bits=medians, mark_row=20)
    assert [t.name for t in fig.data] == ["RMDN mean", "FRMDN mean", "RMDN median", "FRMDN median"]
    assert [t.line.dash for t in fig.data] == ["solid", "solid", "dash", "dash"]
    assert fig.data[2].line.color == MODEL_COLORS["RMDN"] == fig.data[0].line.color
    np.testing.assert_allclose(fig.data[3].x, medians["FRMDN"])
    assert [s.y0 for s in fig.layout.shapes] == [20]
    assert any(a.text == "row 20" for a in fig.layout.annotations)
    plain = plots.row_profile_figure(means)  # without medians: one line per model, as before
    assert [t.name for t in plain.data] == ["RMDN", "FRMDN"] and not plain.layout.shapes


def test_spike_digits_figure_outlines_the_row_in_every_digit():
    from frmdn.plots.images import spike_digits_figure

    labels = ["digit 27<br>FRMDN 668.1", "digit 186<br>FRMDN 6.1", "digit 20<br>FRMDN 5.8"]
    fig = spike_digits_figure(_digits(3), 20, labels, title="Spike", height=300)
    assert [a.text for a in fig.layout.annotations] == labels
    assert len(fig.data) == 3 and all(np.asarray(t.z).shape == (28, 28) for t in fig.data)
    assert [(s.type, s.y0, s.y1) for s in fig.layout.shapes] == [("rect", 19.5, 20.5)] * 3
    assert fig.layout.height == 300 and fig.layout.title.text == "Spike"
    assert json.loads(fig.to_json())["data"]
    with pytest.raises(ValueError, match="labels"):
        spike_digits_figure(_digits(2), 20, ["one"])

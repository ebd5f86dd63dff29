"""Samples of one step's predictive mixture, and the Mahalanobis fit of the Gaussians."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch

import frmdn
from frmdn import plots, views
from frmdn.plots import predictive as predictive_plots
from frmdn.plots.common import COMPONENT_COLORS

D, K = 2, 3


def _model(
    kind: str, device: torch.device, dim: int = D, **settings
) -> frmdn.SequenceDensityModel:
    torch.manual_seed(0)
    if kind == "RMDN":
        model = frmdn.RMDN(dim, K, rank=1, hidden_size=16, **settings)
    elif kind == "FRMDN":
        model = frmdn.FRMDN(dim, K, rank=1, hidden_size=16, flow_layers=2, **settings)
    elif kind == "full":
        model = frmdn.RMDN(dim, K, rank=0, hidden_size=16, covariance="full", **settings)
    else:  # an FRMDN whose flow reads the LSTM state
        model = frmdn.FRMDN(dim, K, rank=1, hidden_size=16, flow_layers=2, flow_context="lstm")
    model.set_normalization(torch.full((dim,), 0.5), torch.full((dim,), 2.0))
    with torch.no_grad():  # weights that vary from step to step and components that differ
        model.head.weight.normal_(std=0.5)
        model.head.bias.normal_(std=0.5)
    return model.to(device)


def _separated(kind: str, device: torch.device) -> frmdn.SequenceDensityModel:
    """A model whose every step's mixture is the same known one: three unit-ish Gaussians
    far apart (a zero head weight makes the head's output its bias)."""
    model = _model(kind, device)
    with torch.no_grad():
        model.head.weight.zero_()
        bias = model.head.bias
        bias.zero_()
        bias[:K] = torch.tensor([0.0, 0.5, -0.5])  # logits
        bias[K : K + K * D] = torch.tensor([8.0, 0.0, -8.0, 0.0, 0.0, 9.0])  # means
        bias[K + K * D : K + 2 * K * D] = math.log(math.expm1(1.0))  # unit precision diagonal
        bias[K + 2 * K * D :] = torch.tensor([0.6, -0.3, 0.2, 0.5, -0.4, 0.1])  # rank-1 factors
    return model


# ----------------------------------------------------------------------------- samples
@pytest.mark.parametrize("kind", ["RMDN", "FRMDN", "full"])
def test_samples_follow_the_steps_mixture(device, kind):
    model = _model(kind, device)
    sequence = torch.randn(12, D)
    step, n = 7, 40_000
    samples = views.predictive_samples(model, sequence, step, n=n, seed=3)
    assert samples.z.shape == samples.y.shape == (n, D) and samples.component.shape == (n,)
    with torch.no_grad():
        gmm, z = model.eval().mixture(sequence[None].to(device))
        weights = gmm.log_weights[0, step].double().exp().cpu().numpy()
        loc = gmm.loc[0, step].double().cpu().numpy()
        covariance = gmm.component_covariance()[0, step].double().cpu().numpy()
    np.testing.assert_allclose(samples.weights, weights, atol=1e-6)
    np.testing.assert_allclose(samples.means_z, loc, atol=1e-6)
    np.testing.assert_allclose(samples.target_z, z[0, step].cpu().numpy(), atol=1e-6)
    np.testing.assert_allclose(samples.target_y, sequence[step].numpy())
    frequency = np.bincount(samples.component, minlength=K) / n
    np.testing.assert_allclose(frequency, weights, atol=5 * np.sqrt(0.25 / n))
    for k in range(K):
        mine = samples.z[samples.component == k]
        assert len(mine) > 1000
        spread = np.sqrt(np.diag(covariance[k]))
        np.testing.assert_allclose(
            mine.mean(0), loc[k], atol=5 * spread.max() / np.sqrt(len(mine))
        )
        np.testing.assert_allclose(np.cov(mine.T), covariance[k], atol=0.1 * spread.max() ** 2)
    # seeded: the same draws again, others for another seed
    again = views.predictive_samples(model, sequence, step, n=n, seed=3)
    np.testing.assert_array_equal(again.z, samples.z)
    assert not np.allclose(
        views.predictive_samples(model, sequence, step, n=n, seed=4).z, samples.z
    )


@pytest.mark.parametrize("kind", ["RMDN", "FRMDN", "context"])
def test_samples_map_back_to_data_space(device, kind):
    model = _model(kind, device).train()
    sequence = torch.randn(10, D)
    step = 5
    samples = views.predictive_samples(model, sequence, step, n=64)
    assert model.training  # restored
    y = torch.from_numpy(samples.y)
    if kind != "context":  # one flow for every step: f(normalize(y)) is z
        with torch.no_grad():
            z, _ = model.flow(model.normalize(y.to(device)))
        np.testing.assert_allclose(z.cpu().numpy(), samples.z, atol=1e-4, rtol=1e-4)
    # any model: each sample, put in place of the true value, has latent z under the model
    model.eval()
    with torch.no_grad():
        batch = sequence[: step + 1].repeat(len(y), 1, 1)
        batch[:, step] = y
        _, z = model.mixture(batch.to(device))
    np.testing.assert_allclose(z[:, step].cpu().numpy(), samples.z, atol=1e-4, rtol=1e-4)


def test_samples_of_a_pitch_model_put_the_pitch_back(device):
    torch.manual_seed(0)
    d = 8
    model = frmdn.FRMDN(
        d, K, rank=1, hidden_size=16, flow_layers=2, pitch_max_lag=12, pitch_min_lag=2
    )
    model.set_normalization(torch.zeros(d), torch.full((d,), 0.1))
    model.to(device).eval()
    sequence = 0.1 * torch.randn(6, d)
    samples = views.predictive_samples(model, sequence, 4, n=32)
    with torch.no_grad():
        batch = sequence[:5].repeat(32, 1, 1)
        batch[:, 4] = torch.from_numpy(samples.y)
        _, z = model.mixture(batch.to(device))
    np.testing.assert_allclose(z[:, 4].cpu().numpy(), samples.z, atol=1e-4, rtol=1e-4)


def test_samples_refuse_bad_steps_and_shapes():
    model = _model("RMDN", torch.device("cpu"))
    with pytest.raises(ValueError, match="step"):
        views.predictive_samples(model, torch.randn(5, D), 0)
    with pytest.raises(ValueError, match="step"):
        views.predictive_samples(model, torch.randn(5, D), 5)
    with pytest.raises(ValueError, match=r"\(T, 2\)"):
        views.predictive_samples(model, torch.randn(1, 5, D), 2)


# ----------------------------------------------------------------------------- fit
@pytest.mark.parametrize("kind", ["RMDN", "FRMDN"])
def test_points_from_the_models_own_mixtures_fit_and_shifted_ones_do_not(device, kind):
    model = _separated(kind, device)
    torch.manual_seed(1)
    drawn = model.sample(200, 21).cpu()  # 200 x 20 steps t >= 1, 2 coordinates each
    fit = views.mahalanobis_fit(model, drawn)
    assert fit.whitened.shape == (200 * 20 * D,) and fit.m2.shape == (200 * 20,)
    assert fit.ks < 0.05, fit.ks
    assert 0.9 < fit.mean_m2 < 1.1, fit.mean_m2
    np.testing.assert_allclose(fit.m2, (fit.whitened.reshape(-1, D) ** 2).sum(-1), rtol=1e-10)
    far = views.mahalanobis_fit(model, drawn + 40.0)
    assert far.ks > 0.3 and far.mean_m2 > 20


@pytest.mark.parametrize("kind", ["RMDN", "full"])
def test_one_points_mahalanobis_distance_matches_an_explicit_inverse(device, kind):
    model = _model(kind, device)
    sequences = torch.randn(3, 6, D)
    fit = views.mahalanobis_fit(model, sequences, batch_size=2)
    assert fit.m2.shape == (3 * 5,)
    model.eval()
    with torch.no_grad():
        gmm, z = model.mixture(sequences.to(device))
    seq, t = 1, 3
    index = seq * 5 + (t - 1)  # steps t >= 1, sequence by sequence
    k = int(gmm.responsibilities(z)[seq, t].argmax())
    assert fit.component[index] == k
    delta = (z[seq, t] - gmm.loc[seq, t, k]).double().cpu()
    sigma = gmm.component_covariance()[seq, t, k].double().cpu()
    expected = float(delta @ torch.linalg.inv(sigma) @ delta)
    assert fit.m2[index] == pytest.approx(expected, rel=1e-6)
    assert fit.mean_m2 == pytest.approx(fit.m2.mean() / D, rel=1e-12)


@pytest.mark.parametrize("kind", ["RMDN", "full"])
def test_fit_in_chunks_of_a_few_steps_equals_the_fit_at_once(monkeypatch, kind):
    """The d x d covariances are formed a chunk of steps at a time (bounded memory for audio's
    d = 80); chunks of one step give the same residuals in the same order."""
    model = _model(kind, torch.device("cpu"), dim=5)
    sequences = torch.randn(3, 7, 5)
    whole = views.mahalanobis_fit(model, sequences)
    monkeypatch.setattr(frmdn.views.predictive, "MAX_COVARIANCE_NUMBERS", 1)
    chunked = views.mahalanobis_fit(model, sequences, batch_size=2)
    np.testing.assert_allclose(chunked.whitened, whole.whitened, rtol=1e-12)
    np.testing.assert_array_equal(chunked.component, whole.component)


@pytest.mark.parametrize("kind", ["RMDN", "full"])
def test_mixture_at_an_index_is_the_mixture_there(kind):
    model = _model(kind, torch.device("cpu"), dim=4).eval()
    with torch.no_grad():
        gmm, z = model.mixture(torch.randn(3, 6, 4))
        rows, steps = torch.tensor([2, 0, 1]), torch.tensor([5, 1, 1])
        part = gmm.at((rows, steps))
        np.testing.assert_allclose(
            part.component_covariance(), gmm.component_covariance()[rows, steps], rtol=1e-6
        )
        np.testing.assert_allclose(part.log_prob(z[rows, steps]), gmm.log_prob(z)[rows, steps])
        one = gmm.at((1, 4))
        assert one.batch_shape == () and one.loc.shape == (K, 4)
        np.testing.assert_allclose(one.log_weights, gmm.log_weights[1, 4])


def test_ks_distance_of_known_samples():
    assert views.ks_distance(np.array([0.0])) == pytest.approx(0.5)
    grid = np.array([-1.0, 0.0, 1.0])
    cdf = 0.5 * (1 + np.array([math.erf(v / math.sqrt(2)) for v in grid]))
    expected = max(np.max(np.arange(1, 4) / 3 - cdf), np.max(cdf - np.arange(3) / 3))
    assert views.ks_distance(grid) == pytest.approx(expected, abs=1e-12)
    rng = np.random.default_rng(0)
    assert views.ks_distance(rng.standard_normal(20_000)) < 0.015
    assert views.ks_distance(rng.standard_normal(20_000) + 1) > 0.3


# ----------------------------------------------------------------------------- figures
def _samples(d: int = D) -> dict[str, views.PredictiveSamples]:
    return {
        kind: views.predictive_samples(
            _model(kind, torch.device("cpu"), dim=d), torch.randn(8, d), 3, n=300
        )
        for kind in ("RMDN", "FRMDN")
    }


def test_predictive_samples_figure_has_four_panels_colours_and_stars():
    samples = _samples()
    fits = {
        name: views.mahalanobis_fit(_model(name, torch.device("cpu")), torch.randn(4, 6, D))
        for name in samples
    }
    fig = plots.predictive_samples_figure(samples["RMDN"], samples["FRMDN"], fits)
    titles = [a.text for a in fig.layout.annotations]
    assert "RMDN: mixture space, standardised y" in titles[0] and "KS" in titles[0]
    assert "FRMDN: mixture space, z = f(y)" in titles[1] and "m²/d" in titles[1]
    assert titles[2:] == ["RMDN: data space y", "FRMDN: data space y"]
    layout = fig.layout  # each panel's axes are named in its own space
    assert (layout.xaxis.title.text, layout.yaxis.title.text) == (
        "standardised y₁",
        "standardised y₂",
    )
    assert (layout.xaxis2.title.text, layout.yaxis2.title.text) == ("z₁", "z₂")
    stars = [t for t in fig.data if t.marker.symbol == "star"]
    assert len(stars) == 4
    clouds = [t for t in fig.data if t.type == "scattergl"]
    assert sum(len(t.x) for t in clouds) == 4 * 300
    assert {t.marker.color for t in clouds} <= {plots.component_color(k) for k in range(K)}
    # the data-space row shares its ranges across models
    layout = fig.layout
    assert (
        layout.xaxis3.range == layout.xaxis4.range and layout.yaxis3.range == layout.yaxis4.range
    )
    json.loads(fig.to_json())
    no_fits = plots.predictive_samples_figure(samples["RMDN"], samples["FRMDN"])
    assert "KS" not in no_fits.layout.annotations[0].text


def test_predictive_samples_figure_projects_higher_dimensions():
    samples = _samples(d=5)
    fig = plots.predictive_samples_figure(samples["RMDN"], samples["FRMDN"])
    assert fig.layout.xaxis.title.text == "PC 1" and fig.layout.xaxis3.title.text == "PC 1 of y"
    assert all(len(t.x) == len(t.y) for t in fig.data)


def test_projection_of_high_dimensional_draws_is_their_top_principal_plane():
    generator = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(5, 5, generator=generator, dtype=torch.float64))
    x = torch.randn(400, 5, generator=generator, dtype=torch.float64)
    x = (x * torch.tensor([4.0, 2.0, 0.3, 0.2, 0.1], dtype=torch.float64)) @ basis.T + 3.0
    clouds = [x[:399].numpy(), x[399:].numpy()]
    (projected, one), projected_flag = predictive_plots._project(clouds)
    projected = np.vstack([projected, one])
    assert projected_flag and projected.shape == (400, 2)
    np.testing.assert_allclose(projected.mean(0), 0.0, atol=1e-9)  # centred on all the clouds
    assert projected[:, 0].std() > projected[:, 1].std() > 1.5  # ordered by variance
    truth = ((x - x.mean(0)) @ basis[:, :2]).numpy()
    for i in range(2):  # the true top axes, up to sign
        assert abs(np.corrcoef(projected[:, i], truth[:, i])[0, 1]) > 0.99
    mirrored, _ = predictive_plots._project([-x.numpy()])  # sign-fixed: the same picture
    np.testing.assert_allclose(np.abs(mirrored[0]), np.abs(projected), atol=1e-9)


def test_traces_figure_draws_each_draw_as_a_curve_and_the_truth_in_black():
    samples = _samples(d=6)
    fig = plots.predictive_traces_figure(samples, x=np.arange(6), x_title="i", y_title="v", n=10)
    for col, name in ((1, "RMDN"), (2, "FRMDN")):
        axis = "x" if col == 1 else "x2"
        lines = [t for t in fig.data if t.xaxis == axis and t.name.startswith("component")]
        assert sum(np.isnan(np.asarray(t.x, float)).sum() for t in lines) == 10  # one gap each
        truth = [t for t in fig.data if t.xaxis == axis and t.name == "true next value"]
        np.testing.assert_allclose(truth[0].y, samples[name].target_y)
        assert truth[0].line.color == "#111111"
    shown = plots.predictive_traces_figure(
        samples, x=np.arange(6), x_title="i", y_title="v", to_display=lambda v: 2 * v, n=3
    )
    truth = [t for t in shown.data if t.name == "true next value"][0]
    np.testing.assert_allclose(truth.y, 2 * samples["RMDN"].target_y)


def test_frames_figure_outlines_the_truth_then_draws_sorted_by_component():
    draws = {"RMDN": np.zeros((4, 8, 8), np.uint8), "FRMDN": np.full((4, 8, 8), 255, np.uint8)}
    components = {"RMDN": np.array([2, 0, 1, 0]), "FRMDN": np.array([1, 1, 1, 1])}
    fig = plots.predictive_frames_figure(draws, components, np.full((8, 8), 128, np.uint8))
    colors = [shape.line.color for shape in fig.layout.shapes]
    assert colors[:5] == ["#111111"] + [COMPONENT_COLORS[k] for k in (0, 0, 1, 2)]
    assert colors[5:] == ["#111111"] + [COMPONENT_COLORS[1]] * 4
    assert fig.data[0].z.shape == (8, 5 * 8 + 4 * 4)  # truth + 4 draws, 4-pixel gaps
    assert fig.data[0].z[0, 0] == 128


def test_qq_figure_titles_carry_the_ks_distance():
    rng = np.random.default_rng(0)
    normal, bent = rng.standard_normal(5000), rng.standard_exponential(5000) - 1
    fig = plots.qq_figure({"RMDN": bent, "FRMDN": normal})
    titles = [a.text for a in fig.layout.annotations]
    assert titles[0] == f"RMDN · KS {views.ks_distance(bent):.3f}"
    assert titles[1] == f"FRMDN · KS {views.ks_distance(normal):.3f}"
    points = [t for t in fig.data if t.mode == "markers"]
    assert len(points) == 2 and all(len(t.x) <= 400 for t in points)
    # normal quantiles: the middle of N(0, 1)'s points is 0, and normal data hug the diagonal
    x, y = np.asarray(points[1].x), np.asarray(points[1].y)
    assert abs(x[len(x) // 2]) < 0.01 and np.abs(x - y)[5:-5].max() < 0.15
    diagonals = [t for t in fig.data if t.mode == "lines"]
    assert len(diagonals) == 2 and list(diagonals[0].x) == list(diagonals[0].y)
    fit = views.MahalanobisFit(0.123, 1.0, normal, normal, normal)
    assert plots.qq_figure({"FRMDN": fit}).layout.annotations[0].text == "FRMDN · KS 0.123"


def test_the_true_value_is_inside_every_panels_range_however_far_out():
    samples = _samples(d=5)
    far = {
        name: dataclasses.replace(s, target_z=s.target_z + 50.0, target_y=s.target_y - 80.0)
        for name, s in samples.items()
    }
    fig = plots.predictive_samples_figure(far["RMDN"], far["FRMDN"])
    stars = [t for t in fig.data if t.name == "true next value"]
    assert len(stars) == 4
    for star in stars:
        axes = fig.layout[f"xaxis{star.xaxis[1:]}"], fig.layout[f"yaxis{star.yaxis[1:]}"]
        for axis, value in zip(axes, (star.x[0], star.y[0]), strict=True):
            assert axis.range[0] < value < axis.range[1], (star.xaxis, axis.range, value)


def test_one_far_residual_does_not_flatten_the_qq_plot():
    rng = np.random.default_rng(0)
    fits = {"RMDN": rng.standard_normal(5000), "FRMDN": rng.standard_normal(5000)}
    fits["RMDN"][0] = 150.0  # one residual far out, as a single image's worst pixel
    fig = plots.qq_figure(fits)
    low, high = fig.layout.yaxis.range
    assert -6 < low < -3 and 3 < high < 6  # the bulk of both curves, not ±150
    notes = [a.text for a in fig.layout.annotations if "off the chart" in a.text]
    assert notes == [f"1 residual beyond ±{high:.1f} off the chart"]
    plain = plots.qq_figure({"RMDN": rng.standard_normal(5000)})
    assert not [a for a in plain.layout.annotations if "off the chart" in a.text]


def test_cholesky_of_covariance_keeps_good_matrices_and_repairs_slightly_indefinite_ones():
    from frmdn.views.predictive import cholesky_of_covariance

    torch.manual_seed(0)
    a = torch.randn(3, 4, 4, dtype=torch.float64)
    good = a @ a.mT + 0.1 * torch.eye(4, dtype=torch.float64)
    torch.testing.assert_close(cholesky_of_covariance(good), torch.linalg.cholesky(good))
    q, _ = torch.linalg.qr(torch.randn(4, 4, dtype=torch.float64))
    values = torch.tensor([2.0, 0.5, 1e-3, -1e-7], dtype=torch.float64)  # float32 rounding
    bad = torch.stack([good[0], q @ torch.diag(values) @ q.T, good[2]])
    assert torch.linalg.cholesky_ex(bad)[1][1] > 0  # plain Cholesky fails on it
    tril = cholesky_of_covariance(bad)
    assert torch.isfinite(tril).all()
    torch.testing.assert_close(tril @ tril.mT, bad, rtol=0, atol=1e-6)
    torch.testing.assert_close(tril[0], torch.linalg.cholesky(good[0]))

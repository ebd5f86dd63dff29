"""Tests of frmdn.views.flow_stages: the data and the plane after each layer of a 2D flow."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

import frmdn
from frmdn import views

BOUNDS = (-2.0, 3.0, -1.5, 2.5)


@pytest.fixture(scope="module")
def frmdn_model(device: torch.device):
    """A 2D FRMDN moved well away from its identity start, with a non-trivial normalisation."""
    torch.manual_seed(0)
    model = frmdn.FRMDN(2, 3, 1, 16, flow_layers=3, flow_hidden=16)
    with torch.no_grad():
        for parameter in model.flow.parameters():
            parameter.add_(0.4 * torch.randn_like(parameter))
    model.set_normalization(torch.tensor([0.5, -0.3]), torch.tensor([1.5, 0.7]))
    return model.to(device)


@pytest.fixture(scope="module")
def points() -> torch.Tensor:
    return torch.randn(64, 2, generator=torch.Generator().manual_seed(1)) * 1.2 + 0.3


def test_stages_go_through_every_layer_and_end_at_the_flow(frmdn_model, points):
    stages = views.flow_stages(frmdn_model, points, BOUNDS, n_lines=5, n_points=11)
    assert [s.index for s in stages] == [0, 1, 2, 3, 4]
    assert stages[0].kind == ""
    assert stages[1].kind.startswith("elementwise affine")
    assert [s.kind for s in stages[2:]] == [
        "affine coupling (moves 2 given 1)",
        "affine coupling (moves 1 given 2)",
        "affine coupling (moves 2 given 1)",
    ]
    with torch.no_grad():
        u = frmdn_model.normalize(points.to(frmdn_model.data_shift))
        z, ladj = frmdn_model.flow(u)
    np.testing.assert_array_equal(stages[0].points, u.cpu().numpy())
    np.testing.assert_array_equal(stages[0].log_det, np.zeros(64))
    # the last stage is the flow itself, bit for bit
    np.testing.assert_array_equal(stages[-1].points, z.cpu().numpy())
    np.testing.assert_array_equal(stages[-1].cumulative_log_det, ladj.cpu().numpy())
    # per-layer log-dets add up to the running sums, point by point and on average
    running = np.cumsum([s.log_det for s in stages], axis=0)
    for stage, total in zip(stages, running, strict=True):
        assert stage.points.shape == (64, 2) and stage.log_det.shape == (64,)
        np.testing.assert_allclose(stage.cumulative_log_det, total, rtol=1e-5, atol=1e-5)
        assert stage.mean_cumulative_log_det == pytest.approx(total.mean(), abs=1e-5)
    assert sum(s.mean_log_det for s in stages) == pytest.approx(float(ladj.mean()), abs=1e-5)
    assert any(abs(s.mean_log_det) > 0.05 for s in stages[2:])  # the couplings do something


def test_each_layers_log_det_is_its_jacobian_determinant(frmdn_model, points):
    """Against autograd: slogdet of each layer's 2x2 Jacobian, in float64, on a few points."""
    stages = views.flow_stages(frmdn_model, points, BOUNDS)
    flow = copy.deepcopy(frmdn_model.flow).cpu().double()
    few = slice(0, 6)
    for layer, before, after in zip(flow.layers, stages[:-1], stages[1:], strict=True):
        for x, expected in zip(before.points[few], after.log_det[few], strict=True):
            x = torch.from_numpy(x).double()
            jacobian = torch.autograd.functional.jacobian(lambda v, f=layer: f(v)[0], x)
            sign, log_abs = torch.linalg.slogdet(jacobian)
            assert float(sign) != 0
            assert float(log_abs) == pytest.approx(float(expected), abs=1e-4)
    # and the whole flow's, from the data u, is the last running sum
    for x, expected in zip(stages[0].points[few], stages[-1].cumulative_log_det[few], strict=True):
        x = torch.from_numpy(x).double()
        jacobian = torch.autograd.functional.jacobian(lambda v: flow(v)[0], x)
        assert float(torch.linalg.slogdet(jacobian)[1]) == pytest.approx(float(expected), abs=1e-4)


def test_grid_lines_are_the_flow_grid_at_each_stage(frmdn_model, points):
    stages = views.flow_stages(frmdn_model, points, BOUNDS, n_lines=4, n_points=7)
    for stage in stages:
        assert len(stage.grid_lines) == 8 and all(g.shape == (7, 2) for g in stage.grid_lines)
    pairs = views.flow_grid_lines(frmdn_model, BOUNDS, n_lines=4, n_points=7)
    shift, scale = (t.cpu().numpy() for t in (frmdn_model.data_shift, frmdn_model.data_scale))
    for line, (y_line, _) in zip(stages[0].grid_lines, pairs, strict=True):
        np.testing.assert_allclose(line, (y_line - shift) / scale, rtol=1e-6, atol=1e-6)
    for line, (_, z_line) in zip(stages[-1].grid_lines, pairs, strict=True):
        np.testing.assert_allclose(line, z_line, rtol=1e-5, atol=1e-5)


def test_an_rmdn_has_one_stage_and_no_log_det(device, points):
    model = frmdn.RMDN(2, 3, 1, 16)
    model.set_normalization(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 0.5]))
    stages = views.flow_stages(model.to(device), points, BOUNDS)
    assert len(stages) == 1
    np.testing.assert_allclose(
        stages[0].points, ((points - torch.tensor([1.0, 2.0])) / torch.tensor([2.0, 0.5])).numpy()
    )
    assert stages[0].mean_log_det == 0.0 == stages[0].mean_cumulative_log_det


def test_refuses_a_flow_that_reads_the_lstm_state_and_other_dimensions(points):
    lstm = frmdn.FRMDN(2, 2, hidden_size=8, flow_layers=2, flow_context="lstm")
    with pytest.raises(ValueError, match="LSTM state"):
        views.flow_stages(lstm, points, BOUNDS)
    with pytest.raises(ValueError, match="two-dimensional"):
        views.flow_stages(
            frmdn.FRMDN(3, 2, hidden_size=8, flow_layers=2), torch.zeros(4, 3), BOUNDS
        )

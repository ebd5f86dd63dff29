"""Mixed precision leaves the NLL alone: the mixture and the flow run in full precision inside
an autocast region, and a float64 model computes in float64 (CPU bf16 autocast stands in for
CUDA's: it catches the same leaks)."""

from __future__ import annotations

import pytest
import torch

from frmdn.models.flows import realnvp
from frmdn.models.mixture import LowRankPrecisionGMM
from frmdn.models.sequence import FRMDN
from frmdn.precision import at_least_float32

D, K, R = 80, 5, 2


def _bf16() -> torch.autocast:
    return torch.autocast("cpu", dtype=torch.bfloat16)


def _mixture(generator: torch.Generator) -> LowRankPrecisionGMM:
    logits = torch.randn(16, K, generator=generator)
    loc = torch.randn(16, K, D, generator=generator)
    diag = torch.rand(16, K, D, generator=generator) * 4 + 0.5
    factor = torch.randn(16, K, D, R, generator=generator)
    return LowRankPrecisionGMM(logits, loc, diag, factor)


def test_the_mixture_log_prob_is_float32_exact_under_bf16_autocast() -> None:
    generator = torch.Generator().manual_seed(0)
    gmm = _mixture(generator)
    z = torch.randn(16, D, generator=generator)
    reference = gmm.log_prob(z)
    with _bf16():
        mixed = gmm.log_prob(z)
        weights = gmm.responsibilities(z)
        rebuilt = LowRankPrecisionGMM(  # parameters a bf16 head would produce
            gmm.logits.bfloat16(), gmm.loc, gmm.diag, gmm.factor
        ).log_prob(z)
    assert mixed.dtype == torch.float32 and weights.dtype == torch.float32
    torch.testing.assert_close(mixed, reference, atol=1e-3, rtol=0)
    assert rebuilt.dtype == torch.float32
    assert (rebuilt - reference).abs().max() < 0.05  # only the bf16-rounded logits differ


def test_the_flow_log_determinant_is_float32_exact_under_bf16_autocast() -> None:
    torch.manual_seed(0)
    flow = realnvp(D, n_layers=4, hidden=64)
    for parameter in flow.parameters():  # move away from the identity start
        parameter.data.normal_(0, 0.05)
    y = torch.randn(32, D)
    z, ladj = flow(y)
    with _bf16():
        z_mixed, ladj_mixed = flow(y)
        back = flow.inverse(z_mixed)
    assert ladj_mixed.dtype == torch.float32
    torch.testing.assert_close(ladj_mixed, ladj, atol=1e-3, rtol=0)
    torch.testing.assert_close(z_mixed, z, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(back, y, atol=1e-4, rtol=1e-4)


def test_a_float64_model_computes_in_float64() -> None:
    torch.manual_seed(0)
    model = FRMDN(3, n_components=2, rank=1, hidden_size=8, flow_layers=2, flow_hidden=8)
    y = torch.randn(2, 5, 3)
    single = model.log_prob(y)
    model = model.double()
    double = model.log_prob(y.double())
    assert double.dtype == torch.float64
    torch.testing.assert_close(double.float(), single, atol=1e-4, rtol=1e-4)
    gmm, z = model.mixture(y.double())
    assert gmm.loc.dtype == z.dtype == torch.float64


@pytest.mark.parametrize(
    "dtype, expected",
    [
        (torch.bfloat16, torch.float32),
        (torch.float16, torch.float32),
        (torch.float32, torch.float32),
        (torch.float64, torch.float64),
        (torch.int64, torch.int64),
    ],
)
def test_at_least_float32(dtype: torch.dtype, expected: torch.dtype) -> None:
    assert at_least_float32(torch.zeros(2, dtype=dtype)).dtype == expected


def test_views_take_float32_data_for_a_float64_model() -> None:
    from frmdn import views

    torch.manual_seed(0)
    model = FRMDN(2, n_components=2, rank=1, hidden_size=8, flow_layers=2, flow_hidden=8)
    y = torch.randn(3, 6, 2)  # data stay float32, as the pages keep them
    single = views.per_step_nll(model, y[0])
    model = model.double()
    torch.testing.assert_close(views.per_step_nll(model, y[0]), single, atol=1e-4, rtol=1e-4)
    points = views.latent_points(model, y)
    assert points.z.dtype.name == "float64" and points.z.shape == (18, 2)
    _, _, grid = views.density_grid(model, y[0, :3], (-2.0, 2.0, -2.0, 2.0), resolution=8)
    assert grid.shape == (8, 8) and grid.dtype.name == "float64"
    assert len(views.flow_grid_lines(model, (-2.0, 2.0, -2.0, 2.0), n_lines=3)) == 6

"""The full-covariance mixture and head against explicit float64 references.

Each reference forms Σ_k = L_k L_kᵀ as a matrix, inverts it with ``torch.linalg.inv``, takes
its log-determinant with ``slogdet`` and writes the Gaussian log-density out by hand, so it
shares no formula (triangular solves, torch.distributions) with the library.
"""

from __future__ import annotations

import math

import pytest
import torch

from frmdn.checkpoints.load import load, read_metadata
from frmdn.models.config import ModelConfig
from frmdn.models.full_covariance import FullCovarianceGMM
from frmdn.models.heads import FullCovarianceHead, mixture_head
from frmdn.models.sequence import FRMDN, RMDN
from frmdn.storage import CheckpointError, save


def _params(batch: tuple[int, ...], K: int, d: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(*batch, K, generator=gen, dtype=torch.float64)
    loc = torch.randn(*batch, K, d, generator=gen, dtype=torch.float64)
    tril = 0.4 * torch.randn(*batch, K, d, d, generator=gen, dtype=torch.float64).tril(-1)
    diag = 0.5 + torch.rand(*batch, K, d, generator=gen, dtype=torch.float64)
    return logits, loc, tril + torch.diag_embed(diag)


def _reference_component_log_prob(z, loc, scale_tril):
    """log N(z; μ_k, Σ_k) with Σ = L Lᵀ as an explicit matrix, (*, K)."""
    covariance = scale_tril @ scale_tril.mT
    delta = z.unsqueeze(-2) - loc  # (*, K, d)
    quad = torch.einsum("...i,...ij,...j->...", delta, torch.linalg.inv(covariance), delta)
    log_det = torch.linalg.slogdet(covariance).logabsdet
    d = loc.shape[-1]
    return -0.5 * (quad + log_det + d * math.log(2 * math.pi))


@pytest.mark.parametrize("d", [1, 2, 5])
@pytest.mark.parametrize("K", [1, 3])
def test_log_prob_and_responsibilities_match_the_explicit_reference(d, K, device):
    logits, loc, scale_tril = _params((4,), K, d)
    z = torch.randn(4, d, dtype=torch.float64)
    gmm = FullCovarianceGMM(*(p.to(device) for p in (logits, loc, scale_tril)))
    per_component = _reference_component_log_prob(z, loc, scale_tril)
    log_weights = torch.log_softmax(logits, -1)
    expected = torch.logsumexp(log_weights + per_component, -1)
    z = z.to(device)
    torch.testing.assert_close(gmm.component_log_prob(z).cpu(), per_component)
    torch.testing.assert_close(gmm.log_prob(z).cpu(), expected)
    torch.testing.assert_close(
        gmm.responsibilities(z).cpu(), torch.softmax(log_weights + per_component, -1)
    )
    torch.testing.assert_close(gmm.component_covariance().cpu(), scale_tril @ scale_tril.mT)


def test_samples_have_the_mixture_mean_and_covariance():
    torch.manual_seed(0)
    logits, loc, scale_tril = _params((), 2, 3, seed=1)
    gmm = FullCovarianceGMM(logits, loc, scale_tril)
    samples = gmm.sample((200_000,))  # (N, d)
    weights = logits.softmax(-1)
    mean = (weights[:, None] * loc).sum(0)
    second = (
        weights[:, None, None] * (scale_tril @ scale_tril.mT + loc[:, :, None] * loc[:, None])
    ).sum(0)
    torch.testing.assert_close(samples.mean(0), mean, atol=0.02, rtol=0)
    torch.testing.assert_close(
        torch.cov(samples.T), second - mean[:, None] * mean, atol=0.04, rtol=0
    )
    assert gmm.sample((5, 2)).shape == (5, 2, 3)


def test_temperature_scales_the_covariances_and_sharpens_the_weights():
    logits, loc, scale_tril = _params((), 3, 2)
    cooled = FullCovarianceGMM(logits, loc, scale_tril).with_temperature(0.5)
    torch.testing.assert_close(cooled.log_weights, torch.log_softmax(logits / 0.5, -1))
    torch.testing.assert_close(cooled.component_covariance(), 0.5 * scale_tril @ scale_tril.mT)
    with pytest.raises(ValueError, match="temperature"):
        cooled.with_temperature(0.0)


def test_inconsistent_shapes_are_refused():
    with pytest.raises(ValueError, match="inconsistent shapes"):
        FullCovarianceGMM(torch.zeros(3), torch.zeros(3, 2), torch.eye(3).expand(3, 3, 3))


def test_the_head_bounds_the_cholesky_diagonal_and_starts_at_unit_covariance():
    config = ModelConfig(dim=3, n_components=2, rank=0, covariance="full", max_precision=100.0)
    head = FullCovarianceHead(config)
    assert head.out_features == 2 * (1 + 3 + 6)
    linear = torch.nn.Linear(4, head.out_features)
    head.initialize(linear)
    start = head.mixture(linear.bias)  # what a zero hidden state gives
    torch.testing.assert_close(start.component_covariance(), torch.eye(3).expand(2, 3, 3))
    wild = head.mixture(1e4 * torch.randn(5, head.out_features))
    diagonal = wild.scale_tril.diagonal(dim1=-2, dim2=-1)
    assert (diagonal >= 0.1 - 1e-6).all() and (diagonal <= 1 / math.sqrt(1e-3) + 1e-3).all()
    assert torch.isfinite(wild.log_prob(torch.zeros(5, 3))).all()


@pytest.mark.parametrize("cls", [RMDN, FRMDN])
def test_a_full_covariance_model_scores_through_its_head(cls, device):
    torch.manual_seed(0)
    model = cls(3, 2, rank=0, hidden_size=8, covariance="full").double().to(device)
    y = torch.randn(2, 5, 3, dtype=torch.float64)
    gmm, z = model.mixture(y)
    assert isinstance(gmm, FullCovarianceGMM)
    _, ladj = model.flow(model.normalize(y.to(device)))
    expected = gmm.log_prob(z) + ladj - model.data_scale.log().sum()
    torch.testing.assert_close(model.log_prob(y), expected)
    assert model.sample(3, steps=4).shape == (3, 4, 3)
    counted = sum(p.numel() for p in model.parameters())
    assert counted <= model.config.parameter_bound()
    assert model.head.out_features == mixture_head(model.config).out_features


def test_full_covariance_needs_rank_zero_and_a_known_kind():
    with pytest.raises(ValueError, match="rank=0"):
        ModelConfig(dim=2, covariance="full", rank=1)
    with pytest.raises(ValueError, match="covariance must be one of"):
        ModelConfig(dim=2, covariance="dense")


def test_a_full_covariance_checkpoint_round_trips_and_a_bad_kind_is_refused(tmp_path):
    model = RMDN(2, 2, rank=0, hidden_size=8, covariance="full")
    path = save(model, tmp_path / "full")
    assert read_metadata(path)["config"]["covariance"] == "full"
    loaded = load(path)
    y = torch.randn(2, 4, 2)
    torch.testing.assert_close(loaded.log_prob(y), model.eval().log_prob(y))
    config = path / "config.json"
    config.write_text(config.read_text().replace('"full"', '"dense"'))
    with pytest.raises(CheckpointError, match="covariance='dense'"):
        load(path)


def test_the_flow_context_is_validated_and_saved(tmp_path):
    with pytest.raises(ValueError, match="flow_context must be one of"):
        ModelConfig(dim=2, flow_layers=2, flow_context="time")
    with pytest.raises(ValueError, match="needs coupling layers"):
        ModelConfig(dim=2, flow_context="lstm")  # flow_layers 0: an RMDN has no flow
    model = FRMDN(2, 2, hidden_size=8, flow_layers=2, flow_context="lstm")
    loaded = load(save(model, tmp_path / "ctx"))
    assert loaded.config.flow_context == "lstm"
    y = torch.randn(2, 4, 2)
    torch.testing.assert_close(loaded.log_prob(y), model.eval().log_prob(y))

"""Dreams you steer, the views of action-conditioned models, Doom's episode-end head and the
bundled held-out episodes: each against a brute-force reference where there is one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import frmdn
from frmdn import views
from frmdn.data.errors import DataError
from frmdn.data.world_episodes import episodes_path, load_episodes, save_episodes
from frmdn.data.worlds import WORLDS, WorldRollouts
from frmdn.models.episode_end import (
    EpisodeEndHead,
    ends_within,
    episode_end_scores,
    fit_episode_end,
    load_episode_end,
    roc_auc,
)
from frmdn.training.trainer import evaluate_nll
from frmdn.views import dreams


@pytest.fixture(scope="module")
def conditioned() -> tuple[frmdn.SequenceDensityModel, torch.Tensor, torch.Tensor]:
    """An FRMDN reading 2 inputs, and sequences y (3, 7, 4) with their inputs x (3, 7, 2)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    model = frmdn.FRMDN(4, 3, 1, 16, cond_dim=2, flow_layers=2, flow_hidden=8).eval()
    return model, torch.randn(3, 7, 4), torch.randn(3, 7, 2)


# ----------------------------------------------------------------------------- tracks
def test_a_track_survives_its_url_form_and_names_the_actions_it_says() -> None:
    track = ["LG", "LG", "SB", "RC", "RC", "RC"]
    text = dreams.encode_track(track)
    assert text == "LG2.SB1.RC3"
    assert dreams.decode_track("car-racing", text) == track
    actions = dreams.track_actions("car-racing", track)
    assert actions.shape == (6, 3) and actions.dtype == np.float32
    steer, gas, brake = actions.T
    assert (steer[:2] < 0).all() and steer[2] == 0 and (steer[3:] > 0).all()
    assert gas[0] > gas[3] > gas[2] == 0 and brake[2] > 0 == brake[0]
    doom = dreams.track_actions("doom-take-cover", ["L", "S", "R"])
    assert doom.tolist() == [[-1.0], [0.0], [1.0]]
    assert dreams.encode_track([]) == "" and dreams.decode_track("doom-take-cover", "") == []


@pytest.mark.parametrize(
    "world, text",
    [
        ("doom-take-cover", "LG2"),  # a car code in Doom
        ("car-racing", "L2"),  # half a car code
        ("car-racing", "XG1"),
        ("doom-take-cover", "L"),  # no count
        ("doom-take-cover", "L1;R2"),
        ("doom-take-cover", "L1000"),  # a count beyond three digits
        ("pong", "L1"),
    ],
)
def test_an_unreadable_track_is_refused(world: str, text: str) -> None:
    with pytest.raises(ValueError):
        dreams.decode_track(world, text)


def test_tracks_stop_at_the_longest_dream_and_scripts_have_their_length() -> None:
    assert len(dreams.decode_track("doom-take-cover", "L999")) == dreams.MAX_DREAM_STEPS
    for world, scripts in dreams.SCRIPTS.items():
        assert set(dreams.CONTROLS) == set(WORLDS)
        for name in scripts:
            track = dreams.scripted_track(world, name, 13)
            assert len(track) == 13
            assert len(dreams.track_actions(world, track)) == 13
    slalom = dreams.scripted_track("car-racing", "Slalom", 24)
    assert slalom[:6] == ["LC"] * 6 and slalom[6:12] == ["RC"] * 6
    with pytest.raises(ValueError, match="no scripted track"):
        dreams.scripted_track("doom-take-cover", "Slalom", 4)


# ----------------------------------------------------------------------------- dreams
@torch.no_grad()
def test_a_dream_starts_from_the_real_frames_and_a_longer_track_extends_it(conditioned) -> None:
    model, y, x = conditioned
    actions = np.random.default_rng(0).normal(size=(6, 2)).astype(np.float32)
    long = dreams.dream(model, y[0, :3], x[0, :3], actions, temperature=0.8, seed=5)
    short = dreams.dream(model, y[0, :3], x[0, :3], actions[:4], temperature=0.8, seed=5)
    assert long.shape == (9, 4) and short.shape == (7, 4)
    np.testing.assert_allclose(long[:3], y[0, :3].numpy())
    np.testing.assert_allclose(long[:7], short, rtol=1e-5, atol=1e-6)
    # the same as sampling with the inputs written out by hand
    torch.manual_seed(5)
    inputs = torch.cat([x[0, :3], torch.from_numpy(actions)])[None]
    by_hand = model.sample(1, 6, prime=y[:1, :3], x=inputs, temperature=0.8)[0]
    np.testing.assert_allclose(long[3:], by_hand.numpy(), rtol=1e-5, atol=1e-6)
    other = dreams.dream(model, y[0, :3], x[0, :3], -actions, temperature=0.8, seed=5)
    assert not np.allclose(other[3:], long[3:])  # other actions, another dream
    assert np.array_equal(dreams.dream(model, y[0, :3], x[0, :3], actions[:0]), y[0, :3].numpy())
    with pytest.raises(ValueError, match="start latents"):
        dreams.dream(model, y[0, :3], x[0, :2], actions)


# ----------------------------------------------------------------------------- views with inputs
@torch.no_grad()
def test_views_of_a_conditioned_model_read_the_inputs(conditioned) -> None:
    model, y, x = conditioned
    log_p = model.log_prob(y, x).double()  # (3, 7), the reference
    for i in range(3):
        np.testing.assert_allclose(
            views.per_step_nll(model, y[i], x=x[i]), -log_p[i].numpy(), rtol=1e-6
        )
    table = views.scoreboard_table({"FRMDN": model}, y, {}, test_x=x)
    assert table.loc["FRMDN", "held-out NLL (nats/step)"] == pytest.approx(
        -log_p.mean().item(), rel=1e-5
    )
    assert evaluate_nll(model, (y, x)) == pytest.approx(-log_p.mean().item(), rel=1e-5)
    gmm, _ = model.mixture(y[:1], x[:1])
    weights = views.mixture_weights(model, y[0], x=x[0])
    np.testing.assert_allclose(weights, gmm.log_weights[0].double().exp().numpy(), rtol=1e-5)
    assert not np.allclose(weights, views.mixture_weights(model, y[0], x=-x[0]))
    one_step = views.one_step_predictions(model, y, x=x)
    gmm, offset, context = model.predictive(y, x)
    by_hand = model.denormalize(model.flow.inverse(gmm.mean, context) + offset)
    torch.testing.assert_close(one_step, by_hand)
    with pytest.raises(ValueError, match="x must have shape"):
        views.per_step_nll(model, y[0])  # a conditioned model needs its inputs


@torch.no_grad()
def test_draws_and_the_gaussians_fit_of_a_conditioned_model_read_the_inputs(conditioned) -> None:
    model, y, x = conditioned
    samples = views.predictive_samples(model, y[0], 4, n=200, x=x[0])
    gmm, z = model.mixture(y[:1], x[:1])
    np.testing.assert_allclose(samples.target_z, z[0, 4].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(samples.means_z, gmm.loc[0, 4].double().numpy(), rtol=1e-5)
    other = views.predictive_samples(model, y[0], 4, n=200, x=-x[0])
    assert not np.allclose(other.means_z, samples.means_z)
    fit = views.mahalanobis_fit(model, y, x=x)
    # brute force: the most responsible Gaussian of every step t >= 1, explicit inverse
    gmm, z = model.mixture(y, x)
    picked = gmm.responsibilities(z).argmax(-1)
    covariance = gmm.component_covariance().double()  # (3, 7, K, 4, 4)
    m2 = []
    for b in range(3):
        for t in range(1, 7):
            k = picked[b, t]
            delta = (z[b, t] - gmm.loc[b, t, k]).double()
            m2.append(delta @ torch.linalg.inv(covariance[b, t, k]) @ delta)
    np.testing.assert_allclose(np.sort(fit.m2), np.sort(torch.stack(m2).numpy()), rtol=1e-6)


# ----------------------------------------------------------------------------- episode ends
def test_ends_within_marks_the_frames_before_each_end() -> None:
    rng = np.random.default_rng(0)
    done = rng.random((4, 30)) < 0.1
    for horizon in (1, 3, 7):
        marked = ends_within(done, horizon)
        for n in range(4):
            for t in range(30):
                assert marked[n, t] == done[n, t : t + horizon].any()


def test_roc_auc_is_the_share_of_positive_negative_pairs_ranked_right() -> None:
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 5, 60).astype(float)  # many ties
    labels = rng.random(60) < 0.3
    pairs = [
        1.0 if p > q else 0.5 if p == q else 0.0 for p in scores[labels] for q in scores[~labels]
    ]
    assert roc_auc(scores, labels) == pytest.approx(np.mean(pairs))
    assert np.isnan(roc_auc(scores, np.zeros(60, bool)))


def test_the_head_learns_where_episodes_end_and_round_trips(tmp_path: Path) -> None:
    torch.manual_seed(0)
    latents = torch.randn(20, 50, 6)
    done = (latents[..., 0] > 1.8).numpy()  # the end shows in the first latent dimension
    head = fit_episode_end(latents, done, horizon=1)
    test = torch.randn(20, 50, 6)
    scores = episode_end_scores(head, test, (test[..., 0] > 1.8).numpy())
    assert scores["auc"] > 0.95 and scores["log_loss"] < scores["base_rate_log_loss"]
    assert scores["frames"] == 1000 and scores["positives"] == scores["episode_ends"]
    probability = head.probability(test)
    assert probability.shape == (20, 50) and ((0 <= probability) & (probability <= 1)).all()
    head.save(tmp_path / "head", metrics=scores)
    again = load_episode_end(tmp_path / "head")
    torch.testing.assert_close(again.probability(test), probability)
    assert again.metadata["metrics"]["auc"] == pytest.approx(scores["auc"])
    (tmp_path / "head" / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(frmdn.CheckpointError):
        load_episode_end(tmp_path / "head")
    with pytest.raises(ValueError, match="both near and far"):
        fit_episode_end(latents, np.zeros((20, 50), bool))


def test_the_bundled_head_beats_the_base_rate_on_held_out_episodes() -> None:
    from frmdn.resources import pretrained_dir

    head = load_episode_end(pretrained_dir() / "episode-end-doom-take-cover")
    metrics = head.metadata["metrics"]
    assert isinstance(head, EpisodeEndHead) and head.latent_dim == 64
    assert metrics["auc"] > 0.75 and metrics["log_loss"] < metrics["base_rate_log_loss"]


# ----------------------------------------------------------------------------- bundled episodes
@pytest.mark.parametrize("world", list(WORLDS))
def test_the_bundled_episodes_are_held_out_test_rollouts(world: str) -> None:
    from frmdn.data.worlds import split_seeds

    episodes = load_episodes(world)
    assert episodes.frames.shape[1:] == (64, 64, 64, 3) and len(episodes.frames) >= 4
    assert episodes.actions.shape[-1] == WORLDS[world].action_dim
    test_seeds = split_seeds(0, 256)["test"]  # the bundled models' test split
    assert set(episodes.seeds.tolist()) <= set(test_seeds)


def test_missing_or_damaged_episodes_get_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="make_worlds.py --episodes"):
        load_episodes("doom-take-cover", data_dir=tmp_path)
    path = episodes_path("doom-take-cover", data_dir=tmp_path)
    path.parent.mkdir()
    path.write_bytes(b"PK not a zip")
    with pytest.raises(DataError, match="cannot read"):
        load_episodes("doom-take-cover", data_dir=tmp_path)
    rollouts = WorldRollouts(
        np.zeros((2, 3, 64, 64, 3), np.uint8),
        np.zeros((2, 3, 1), np.float32),
        np.zeros((2, 3), bool),
        np.arange(2),
        "doom-take-cover",
    )
    save_episodes(rollouts, path)
    assert load_episodes("doom-take-cover", data_dir=tmp_path).frames.shape == (2, 3, 64, 64, 3)
    np.savez(path, frames=np.zeros((2, 3, 8, 8, 3), np.uint8), actions=rollouts.actions,
             done=rollouts.done, seeds=rollouts.seeds)  # fmt: skip
    with pytest.raises(DataError, match="cannot read"):
        load_episodes("doom-take-cover", data_dir=tmp_path)
    with pytest.raises(DataError, match="unknown world"):
        episodes_path("pong")

"""Tests of the arrays behind the audio page's views in frmdn.views."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import frmdn
from frmdn import views

D = 8  # frame size of the tiny audio-like models


@pytest.fixture(scope="module")
def models(device: torch.device):
    """Tiny models on the ``--device`` of the run; the data the views get stay on the CPU."""
    torch.manual_seed(0)
    pair = {
        "RMDN": frmdn.RMDN(D, 3, rank=1, hidden_size=16),
        "FRMDN": frmdn.FRMDN(D, 3, rank=1, hidden_size=16, flow_layers=2),
    }
    for model in pair.values():
        model.set_normalization(torch.zeros(D), torch.full((D,), 0.1))
        model.to(device)
    return pair


# ----------------------------------------------------------------------------- per-step NLL
@pytest.mark.parametrize("name", ["RMDN", "FRMDN"])
def test_per_step_nll_agrees_with_log_prob(models, name):
    model = models[name]
    sequence = 0.1 * torch.randn(12, D)
    nll = views.per_step_nll(model, sequence)
    assert nll.shape == (12,) and np.isfinite(nll).all()
    np.testing.assert_allclose(
        nll.mean(), frmdn.evaluate_nll(model, sequence.unsqueeze(0)), rtol=1e-5
    )
    with pytest.raises(ValueError, match=r"\(T, 8\)"):
        views.per_step_nll(model, sequence.unsqueeze(0))


# ----------------------------------------------------------------------------- continuation
@pytest.mark.parametrize("name", ["RMDN", "FRMDN"])
def test_continuation_keeps_the_prime_and_is_reproducible(models, name):
    model = models[name]
    prime = 0.1 * torch.randn(5, D)
    out = views.continuation(model, prime, steps=7, temperature=0.8, seed=3)
    assert out.shape == (12, D) and np.isfinite(out).all()
    np.testing.assert_array_equal(out[:5], prime.numpy())
    again = views.continuation(model, prime, steps=7, temperature=0.8, seed=3)
    np.testing.assert_array_equal(out, again)
    other = views.continuation(model, prime, steps=7, temperature=0.8, seed=4)
    assert not np.allclose(out[5:], other[5:])


def test_continuation_without_a_prime(models):
    out = views.continuation(models["FRMDN"], torch.zeros(0, D), steps=4)
    assert out.shape == (4, D)
    with pytest.raises(ValueError, match="prime"):
        views.continuation(models["FRMDN"], torch.zeros(3, D + 1), steps=4)


# ----------------------------------------------------------------------------- spectrogram
def test_spectrogram_finds_a_tone_at_its_level():
    rate = 8000
    t = np.arange(rate) / rate
    tone = 0.5 * np.sin(2 * np.pi * 1000 * t)  # -6 dB re full scale
    times, freqs, db = views.spectrogram_db(tone, rate, n_fft=256, hop_length=64)
    assert db.shape == (129, len(times)) and freqs.shape == (129,)
    assert freqs[0] == 0 and freqs[-1] == rate / 2
    middle = db[:, len(times) // 2]
    assert freqs[middle.argmax()] == pytest.approx(1000, abs=rate / 256)
    assert middle.max() == pytest.approx(20 * np.log10(0.5), abs=1.0)
    assert times[1] - times[0] == pytest.approx(64 / rate)


def test_spectrogram_of_silence_and_of_a_very_short_clip():
    _, _, db = views.spectrogram_db(np.zeros(1000), 8000, floor_db=-90)
    assert (db == -90).all()
    times, _, db = views.spectrogram_db(np.ones(10), 8000)  # shorter than one FFT
    assert db.shape[1] == len(times) >= 1 and np.isfinite(db).all()


# ----------------------------------------------------------------------------- overfitting
def test_overfitting_gaps_are_per_sample():
    scores = {
        "RMDN": {"train": -100.0, "held-out": -96.0, "clip": -90.0},
        "FRMDN": {"train": -200.0, "held-out": -120.0},
        "other": {"clip": 1.0},  # no train/held-out scores: left out
    }
    gaps = views.overfitting_gaps(scores, dim=80, held_out="held-out")
    assert gaps == pytest.approx({"RMDN": 4 / 80, "FRMDN": 1.0})


# ----------------------------------------------------------------------------- image views
@pytest.fixture(scope="module")
def image_split_and_model():
    from frmdn.data.images import image_split

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 6, 5), dtype=np.uint8)
    split = image_split(images, n_valid=2, n_test=4, seed=0)
    torch.manual_seed(0)
    model = frmdn.FRMDN(5, 2, 1, 8, flow_layers=2)
    flat = split.train.reshape(-1, 5)
    model.set_normalization(flat.mean(0), flat.std(0))
    return split, model


def test_image_mosaic_tiles_images_with_nan_gaps():
    images = np.arange(3 * 2 * 2, dtype=float).reshape(3, 2, 2)
    mosaic = views.image_mosaic(images, columns=2, gap=1)
    assert mosaic.shape == (5, 5)
    np.testing.assert_array_equal(mosaic[:2, :2], images[0])
    np.testing.assert_array_equal(mosaic[:2, 3:], images[1])
    np.testing.assert_array_equal(mosaic[3:, :2], images[2])
    assert np.isnan(mosaic[2]).all() and np.isnan(mosaic[:, 2]).all()
    assert np.isnan(mosaic[3:, 3:]).all()  # the empty fourth cell
    assert views.image_mosaic(images, columns=10, gap=0).shape == (2, 6)  # one row of three
    with pytest.raises(ValueError):
        views.image_mosaic(images[0], columns=2)


def test_row_bits_average_to_the_split_bits_per_dim(image_split_and_model):
    from frmdn.data.images import bits_per_dim

    split, model = image_split_and_model
    rows = views.row_bits_per_pixel(model, split.test, split.info, batch_size=3)
    assert rows.shape == (4, 6) and np.isfinite(rows).all()
    expected = bits_per_dim(model.log_prob(split.test).detach(), split.test, split.info)
    assert rows.mean() == pytest.approx(expected, rel=1e-5)
    assert views.split_bits_per_dim(model, split.test, split.info) == pytest.approx(expected)
    assert model.training  # the mode is restored
    with pytest.raises(ValueError, match="image split"):
        views.row_bits_per_pixel(model, split.test, {"kind": "toy"})


def test_sample_images_are_seeded_pixels(image_split_and_model):
    split, model = image_split_and_model
    first = views.sample_images(model, 3, 6, temperature=0.7, seed=4, info=split.info)
    again = views.sample_images(model, 3, 6, temperature=0.7, seed=4, info=split.info)
    other = views.sample_images(model, 3, 6, temperature=0.7, seed=5, info=split.info)
    assert first.shape == (3, 6, 5) and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_complete_images_keep_the_prime(image_split_and_model):
    from frmdn.data.images import to_pixels

    split, model = image_split_and_model
    done = views.complete_images(model, split.test, 3, seed=1, info=split.info)
    assert done.shape == (4, 6, 5) and done.dtype == np.uint8
    np.testing.assert_array_equal(done[:, :3], to_pixels(split.test[:, :3]))
    again = views.complete_images(model, split.test, 3, seed=1, info=split.info)
    np.testing.assert_array_equal(done, again)
    for bad in (0, 6):
        with pytest.raises(ValueError, match="prime_rows"):
            views.complete_images(model, split.test, bad)


# ----------------------------------------------------------------------------- frame sequences
def test_one_step_predictions_are_the_predictive_means(models):
    y = torch.randn(3, 5, D) * 0.1
    for name, model in models.items():
        mean = views.one_step_predictions(model, y)
        assert mean.shape == y.shape and torch.isfinite(mean).all()
        gmm, _ = model.mixture(y)
        expected = model.denormalize(model.flow.inverse(gmm.mean.reshape(-1, D)).reshape(y.shape))
        torch.testing.assert_close(mean, expected)
        if name == "RMDN":  # no flow: the mixture mean of the data itself
            torch.testing.assert_close(mean, model.denormalize(gmm.mean))
        # step t only sees y_<t: changing the last step leaves every prediction unchanged
        changed = y.clone()
        changed[:, -1] += 1.0
        torch.testing.assert_close(views.one_step_predictions(model, changed), mean)
        draw = views.one_step_predictions(model, y, mode="sample", seed=3)
        torch.testing.assert_close(views.one_step_predictions(model, y, "sample", 3), draw)
        assert not torch.allclose(draw, mean)
    with pytest.raises(ValueError, match="mode"):
        views.one_step_predictions(models["RMDN"], y, mode="median")


def test_scoreboard_table_scores_each_model() -> None:
    import math

    import frmdn
    from frmdn.data import load_data
    from frmdn.views import scoreboard_table

    split = load_data("toy:ring", n_train=8, n_valid=4, n_test=4, length=6)
    models = {"RMDN": frmdn.RMDN(2, 2, 1, 8), "FRMDN": frmdn.FRMDN(2, 2, 1, 8, flow_layers=2)}
    table = scoreboard_table(models, split.test, {"FRMDN": 1.5})
    assert list(table.index) == ["RMDN", "FRMDN"]
    for name, model in models.items():
        row = table.loc[name]
        assert row["held-out NLL (nats/step)"] == frmdn.evaluate_nll(model, split.test)
        assert row["parameters"] == model.num_parameters()["total"]
        assert row["flow parameters"] == model.num_parameters()["flow"]
    assert table.loc["FRMDN", "training time (s)"] == 1.5
    assert math.isnan(table.loc["RMDN", "training time (s)"])


# ----------------------------------------------------------------------------- NLL table
def test_split_nll_scores_train_and_held_out_per_model(models):
    torch.manual_seed(1)
    train, held_out = 0.1 * torch.randn(4, 5, D), 0.1 * torch.randn(3, 5, D)
    scores = views.split_nll(models, train, held_out)
    assert list(scores) == ["RMDN", "FRMDN"]
    for name, model in models.items():
        assert scores[name] == {
            "train": frmdn.evaluate_nll(model, train),
            "held-out": frmdn.evaluate_nll(model, held_out),
        }
    assert scores["RMDN"]["train"] != scores["RMDN"]["held-out"]


def test_nll_scores_add_the_clip_mean_to_the_split_scores():
    clip = {"RMDN": np.array([1.0, 2.0, 6.0]), "FRMDN": np.array([-4.0, 0.0])}
    assert views.nll_scores(clip) == {"RMDN": {"clip": 3.0}, "FRMDN": {"clip": -2.0}}
    split = {"RMDN": {"train": 1.5, "held-out": 2.5}, "FRMDN": {"train": -1.0, "held-out": 0.0}}
    scores = views.nll_scores(clip, split)
    assert scores == {
        "RMDN": {"clip": 3.0, "train": 1.5, "held-out": 2.5},
        "FRMDN": {"clip": -2.0, "train": -1.0, "held-out": 0.0},
    }
    assert all(type(parts["clip"]) is float for parts in scores.values())


def test_nll_table_has_both_units_the_gap_and_the_model_sizes(models):
    scores = {
        "RMDN": {"clip": -40.0, "train": -80.0, "held-out": -72.0},
        "FRMDN": {"clip": -48.0},  # no split scores: NaN where they go
    }
    table = views.nll_table(models, scores, {"RMDN": 12.5})
    assert list(table.columns) == ["RMDN", "FRMDN"] and table.index.name == "metric"
    assert list(table.index) == [
        "train NLL (nats/step)",
        "held-out NLL (nats/step)",
        "clip NLL (nats/step)",
        "train NLL (nats/sample)",
        "held-out NLL (nats/sample)",
        "clip NLL (nats/sample)",
        "held-out − train (nats/sample)",
        "parameters",
        "training time (s)",
    ]
    rmdn, frmdn_ = table["RMDN"], table["FRMDN"]
    assert rmdn["train NLL (nats/step)"] == -80.0 and rmdn["held-out NLL (nats/step)"] == -72.0
    assert rmdn["train NLL (nats/sample)"] == -80.0 / D
    assert rmdn["clip NLL (nats/sample)"] == -40.0 / D
    assert rmdn["held-out − train (nats/sample)"] == pytest.approx(8.0 / D)
    assert rmdn["training time (s)"] == 12.5 and np.isnan(frmdn_["training time (s)"])
    assert frmdn_["clip NLL (nats/step)"] == -48.0 and frmdn_["clip NLL (nats/sample)"] == -6.0
    for row in ("train NLL (nats/step)", "held-out NLL (nats/sample)"):
        assert np.isnan(frmdn_[row])
    assert np.isnan(frmdn_["held-out − train (nats/sample)"])
    for name, model in models.items():
        assert table.loc["parameters", name] == model.num_parameters()["total"]
    assert table.loc["parameters", "RMDN"] < table.loc["parameters", "FRMDN"]


# ----------------------------------------------------------------------------- mixture weights
@pytest.mark.parametrize("name", ["RMDN", "FRMDN"])
def test_mixture_weights_are_the_heads_softmax_after_the_real_history(device, name):
    torch.manual_seed(1)
    K = 4
    model = (
        frmdn.RMDN(D, K, rank=1, hidden_size=16, dropout=0.5)
        if name == "RMDN"
        else frmdn.FRMDN(D, K, rank=1, hidden_size=16, flow_layers=2, dropout=0.5)
    )
    model.set_normalization(torch.full((D,), 0.2), torch.full((D,), 0.1))
    with torch.no_grad():  # spread the logits, so the weights change from step to step
        model.head.weight.normal_(std=1.0)
        model.head.bias[:K].normal_()
    model.to(device).train()
    sequence = 0.1 * torch.randn(20, D)  # on the CPU, whatever the model's device
    weights = views.mixture_weights(model, sequence)
    assert model.training  # restored after the eval-mode pass
    assert isinstance(weights, np.ndarray) and weights.shape == (20, K)
    assert (weights >= 0).all()
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-9)
    assert weights.std(0).max() > 1e-2  # they change along the sequence

    # independently: the LSTM reads the learned start then y_<t, the head's first K outputs
    # are the logits of alpha_k(t)
    with torch.no_grad():
        u = model.normalize(sequence.to(device))
        inputs = torch.cat([model.start[None], u[:-1]])[None]  # (1, T, d)
        state = (
            model.initial_hidden[:, None].contiguous(),
            model.initial_cell[:, None].contiguous(),
        )
        hidden, _ = model.lstm(inputs, state)
        expected = torch.softmax(model.head(hidden)[0, :, :K].double(), -1).cpu().numpy()
    np.testing.assert_allclose(weights, expected, atol=1e-5)
    with torch.no_grad():
        model.eval()
        from_mixture = torch.softmax(model.mixture(sequence[None])[0].logits[0].double(), -1)
    np.testing.assert_allclose(weights, from_mixture.cpu().numpy(), atol=1e-6)

    # step t sees only y_<t: changing step 10 changes the weights from step 11 on
    changed = sequence.clone()
    changed[10] += 1.0
    moved = views.mixture_weights(model, changed)
    np.testing.assert_array_equal(moved[:11], weights[:11])
    assert not np.allclose(moved[11:], weights[11:])
    with pytest.raises(ValueError, match=r"\(T, 8\)"):
        views.mixture_weights(model, sequence[None])


# ----------------------------------------------------------------------------- row spikes
def test_row_profile_is_numpys_mean_and_median_per_row():
    from frmdn.views.images import row_profile

    bits = np.random.default_rng(3).gamma(2.0, size=(41, 7))
    bits[5, 3] = 900.0  # one digit a model finds extremely unlikely
    profile = row_profile(bits)
    np.testing.assert_allclose(profile["mean"], bits.mean(0))
    np.testing.assert_allclose(profile["median"], np.median(bits, axis=0))
    assert profile["mean"][3] > 20 > profile["median"][3]  # the outlier moves only the mean
    with pytest.raises(ValueError, match="bits"):
        row_profile(np.zeros((0, 7)))


def test_row_contributors_picks_the_largest_contributions():
    from frmdn.views.images import row_contributors

    rng = np.random.default_rng(4)
    bits = rng.uniform(1, 3, size=(30, 5))
    bits[[7, 19, 2], 4] = [50.0, 80.0, 20.0]
    digits, shares = row_contributors(bits, row=4, n=3)
    assert list(digits) == [19, 7, 2]  # the largest first
    np.testing.assert_allclose(shares, bits[[19, 7, 2], 4] / bits[:, 4].sum())
    all_digits, all_shares = row_contributors(bits, row=4, n=100)  # n beyond B: every image
    assert sorted(all_digits) == list(range(30)) and all_shares.sum() == pytest.approx(1.0)
    assert list(all_digits) == list(np.argsort(-bits[:, 4], kind="stable"))
    with pytest.raises(ValueError, match="row"):
        row_contributors(bits, row=5)


def test_row_spike_finds_the_outlier_row_and_its_digits():
    from frmdn.views.images import row_spike

    bits = np.full((20, 6), 2.0) + np.random.default_rng(5).uniform(0, 0.1, size=(20, 6))
    bits[11, 2] = 400.0  # the row-20-like spike: one digit, one row
    spike = row_spike(bits, top=2)
    assert spike.row == 2 and spike.digits[0] == 11 and len(spike.digits) == 2
    assert spike.mean == pytest.approx(bits[:, 2].mean())
    assert spike.median == pytest.approx(np.median(bits[:, 2]))
    assert spike.share == pytest.approx(bits[spike.digits, 2].sum() / bits[:, 2].sum())
    np.testing.assert_allclose(spike.bits, bits[spike.digits, 2])
    rest = np.delete(bits[:, 2], spike.digits)
    assert spike.mean_without == pytest.approx(rest.mean()) and spike.mean_without < 2.2


def test_row_latent_reach_is_the_largest_latent_of_each_row(image_split_and_model):
    from frmdn.views.images import row_latent_reach

    split, model = image_split_and_model
    reach = row_latent_reach(model, split.test, batch_size=3)
    _, z = model.mixture(split.test)
    assert reach.shape == (4, 6)
    np.testing.assert_allclose(reach, z.detach().abs().amax(-1).double().numpy(), rtol=1e-6)
    assert model.training  # the mode is restored
    rmdn = frmdn.RMDN(5, 2, 1, 8)
    rmdn.set_normalization(torch.zeros(5), torch.full((5,), 2.0))
    expected = (split.test / 2).abs().amax(-1).double().numpy()  # an RMDN's z is the standard row
    np.testing.assert_allclose(row_latent_reach(rmdn, split.test), expected, rtol=1e-6)


def test_nll_table_shows_unseen_voices_only_where_a_model_has_that_score(models):
    scores = {"RMDN": {"clip": -40.0, "train": -80.0, "held-out": -72.0, views.UNSEEN: -60.0}}
    table = views.nll_table({"RMDN": models["RMDN"]}, scores, {})
    assert table.loc["unseen voices NLL (nats/step)", "RMDN"] == -60.0
    dim = models["RMDN"].config.dim
    assert table.loc["unseen voices NLL (nats/sample)", "RMDN"] == pytest.approx(-60.0 / dim)
    rows = list(table.index)
    assert rows.index("held-out NLL (nats/step)") < rows.index("unseen voices NLL (nats/step)")
    del scores["RMDN"][views.UNSEEN]
    assert "unseen voices NLL (nats/step)" not in views.nll_table(models, scores, {}).index
    scores["RMDN"][views.CLIP_VOICE] = -65.0
    rows = list(views.nll_table(models, scores, {}).index)
    assert rows.index("held-out NLL (nats/step)") < rows.index("the clip's voice NLL (nats/step)")
    assert rows.index("the clip's voice NLL (nats/step)") < rows.index("clip NLL (nats/step)")

"""Tests for training: NLL goes down, determinism, chunked runs, stopping and bad inputs.

Everything runs on tiny models and data on the CPU, so the whole file takes a few seconds.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable

import pytest
import torch
from conftest import test_device

import frmdn.training.trainer
from frmdn import FRMDN, RMDN, FitResult, Progress, TrainConfig, Trainer, evaluate_nll, fit
from frmdn.data import SequenceSplit, load_data
from frmdn.models.sequence import SequenceDensityModel

KINDS = ("rmdn", "frmdn")


def _split(name: str = "ring") -> SequenceSplit:
    return load_data(f"toy:{name}", n_train=48, n_valid=16, n_test=8, length=10)


def _model(kind: str = "rmdn", *, seed: int = 0, cond_dim: int = 0) -> SequenceDensityModel:
    torch.manual_seed(seed)
    if kind == "rmdn":
        return RMDN(2, 2, hidden_size=8, cond_dim=cond_dim)
    return FRMDN(2, 2, hidden_size=8, cond_dim=cond_dim, flow_layers=2, flow_hidden=8)


def _normalized(model: SequenceDensityModel, split: SequenceSplit) -> SequenceDensityModel:
    flat = split.train.reshape(-1, split.dim)
    model.set_normalization(flat.mean(0), flat.std(0))
    return model


def _config(**changes: object) -> TrainConfig:
    values = dict(steps=20, batch_size=16, lr=1e-2, eval_every=5, patience=0, device=test_device())
    return TrainConfig(**(values | changes))


def _assert_same_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert torch.equal(state_a[name], state_b[name]), name


def _weights_differ(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    state_b = b.state_dict()
    return any(not torch.equal(v, state_b[k]) for k, v in a.state_dict().items())


def _all_finite(model: torch.nn.Module) -> bool:
    return all(torch.isfinite(p).all() for p in model.parameters())


class _NaNLogProb:
    """Replaces ``model.log_prob``: NaN on the training calls (1-based) where ``bad(call)``."""

    def __init__(self, model: SequenceDensityModel, bad: Callable[[int], bool]) -> None:
        self.model, self.bad, self.train_calls = model, bad, 0
        self.original = model.log_prob

    def __call__(self, y: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        out = self.original(y, x)
        if not self.model.training:
            return out
        self.train_calls += 1
        return out * math.nan if self.bad(self.train_calls) else out


# ------------------------------------------------------------------ learning
@pytest.mark.parametrize("kind", KINDS)
def test_training_lowers_validation_nll(kind: str) -> None:
    split = _split("clusters")
    model = _normalized(_model(kind), split)
    before = evaluate_nll(model, split.valid)
    result = fit(model, split.train, split.valid, _config(steps=40, eval_every=10))
    after = evaluate_nll(model, split.valid)

    assert math.isfinite(before) and math.isfinite(after)
    assert after < before - 0.1
    assert result.stop_reason == "completed"
    assert result.steps == 40
    assert [p.step for p in result.history] == [10, 20, 30, 40]
    assert result.skipped_batches == 0
    assert all(result.best_valid_nll <= p.valid_nll for p in result.history)
    assert result.best_step in [p.step for p in result.history]
    assert after == pytest.approx(result.best_valid_nll, abs=1e-6)  # ends on the best weights
    assert result.elapsed > 0
    json.dumps(result.to_dict(), allow_nan=False)  # a finished run serialises as plain JSON


def test_evaluate_nll_keeps_mode_and_matches_log_prob() -> None:
    split = _split()
    model = _model()
    model.train()
    nll = evaluate_nll(model, split.valid, batch_size=5)  # several uneven batches
    assert model.training
    with torch.no_grad():
        expected = -model.eval().log_prob(split.valid).mean().item()
    assert nll == pytest.approx(expected, rel=1e-5)


def test_ends_with_best_weights_not_last() -> None:
    split = _split()
    model = _model()
    trainer = Trainer(model, split.train, split.valid, _config(steps=12, eval_every=10))
    trainer.run(12)
    assert trainer.done and [p.step for p in trainer.result.history] == [10, 12]
    result = trainer.finish()
    nll = evaluate_nll(model, split.valid)
    assert nll == pytest.approx(result.best_valid_nll, abs=1e-6)
    assert nll == pytest.approx(min(p.valid_nll for p in result.history), abs=1e-6)


# ------------------------------------------------------------------ determinism
@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_gives_identical_weights(kind: str) -> None:
    split = _split()
    first = _model(kind)
    second = copy.deepcopy(first)
    third = copy.deepcopy(first)
    a = fit(first, split.train, split.valid, _config(seed=3))
    b = fit(second, split.train, split.valid, _config(seed=3))
    fit(third, split.train, split.valid, _config(seed=4))
    _assert_same_weights(first, second)
    assert [(p.step, p.train_nll, p.valid_nll) for p in a.history] == [
        (p.step, p.train_nll, p.valid_nll) for p in b.history
    ]
    assert _weights_differ(first, third)


# ------------------------------------------------------------------ stopping
def test_should_stop_and_callback() -> None:
    split = _split()
    model = _model()
    calls = []
    seen: list[Progress] = []

    def should_stop() -> bool:
        calls.append(1)
        return len(calls) > 7  # False for the first 7 polls, True on the 8th

    result = fit(
        model,
        split.train,
        split.valid,
        _config(steps=100, eval_every=3),
        callback=seen.append,
        should_stop=should_stop,
    )
    assert result.stop_reason == "stopped by user"
    assert result.steps == 7  # polled before each step: 7 steps, then the stop
    assert len(calls) == 8
    assert seen == result.history
    assert [p.step for p in seen] == [3, 6]
    for p in seen:
        assert isinstance(p, Progress)
        assert math.isfinite(p.train_nll) and math.isfinite(p.valid_nll) and p.elapsed >= 0
    assert seen[0].elapsed <= seen[1].elapsed
    assert evaluate_nll(model, split.valid) == pytest.approx(result.best_valid_nll, abs=1e-6)


def test_stop_before_any_evaluation_keeps_training_weights() -> None:
    split = _split()
    model = _model()
    initial = copy.deepcopy(model)
    result = fit(model, split.train, split.valid, _config(), should_stop=lambda: True)
    assert result.stop_reason == "stopped by user"
    assert result.steps == 0 and result.history == []
    _assert_same_weights(model, initial)


def test_run_in_chunks_equals_one_fit() -> None:
    split = _split()
    chunked = _model("frmdn")
    whole = copy.deepcopy(chunked)
    config = _config(steps=20, eval_every=5, seed=1)

    trainer = Trainer(chunked, split.train, split.valid, config)
    reports: list[Progress] = []
    done = [trainer.run(4, reports.append) for _ in range(5)]
    assert done == [False, False, False, False, True]
    assert trainer.done and trainer.result.steps == 20
    assert trainer.run(4) is True and trainer.result.steps == 20  # nothing more once done
    chunked_result = trainer.finish()

    whole_result = fit(whole, split.train, split.valid, config)
    _assert_same_weights(chunked, whole)
    assert chunked_result.stop_reason == whole_result.stop_reason == "completed"
    assert [(p.step, p.train_nll, p.valid_nll) for p in reports] == [
        (p.step, p.train_nll, p.valid_nll) for p in whole_result.history
    ]
    assert chunked_result.best_valid_nll == whole_result.best_valid_nll
    assert chunked_result.best_step == whole_result.best_step


def test_finish_while_running_is_a_user_stop() -> None:
    split = _split()
    trainer = Trainer(_model(), split.train, split.valid, _config(steps=50))
    assert trainer.run(6) is False
    result = trainer.finish()
    assert result.stop_reason == "stopped by user" and result.steps == 6
    assert trainer.done


def test_early_stopping_when_validation_does_not_improve() -> None:
    split = _split()
    model = _model()
    # A learning rate this small leaves the float32 weights, and so the validation NLL, unchanged.
    result = fit(model, split.train, split.valid, _config(steps=100, lr=1e-12, patience=1))
    assert result.stop_reason.startswith("early stopping")
    assert result.steps == 10
    assert len(result.history) == 2


def test_early_stopping_restores_best_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    split = _split()
    model = _model()
    reference = copy.deepcopy(model)
    scores = iter([1.0, 2.0, 3.0, 4.0, 5.0])
    monkeypatch.setattr(frmdn.training.trainer, "evaluate_nll", lambda model, data: next(scores))
    result = fit(model, split.train, split.valid, _config(steps=100, patience=2))
    assert result.stop_reason == "early stopping: no improvement in 2 evaluations"
    assert result.steps == 15
    assert result.best_step == 5 and result.best_valid_nll == 1.0
    # The kept weights are those after 5 steps: the same as a 5-step run with the same seed.
    fit(reference, split.train, split.valid, _config(steps=5, patience=2))
    _assert_same_weights(model, reference)


# ------------------------------------------------------------------ non-finite losses
def test_all_non_finite_losses_stop_and_keep_finite_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    split = _split()
    model = _model()
    initial = copy.deepcopy(model)
    monkeypatch.setattr(model, "log_prob", _NaNLogProb(model, lambda call: True))
    result = fit(model, split.train, split.valid, _config(steps=50, max_bad_batches=4))
    assert "non-finite" in result.stop_reason
    assert result.steps == 4
    assert result.skipped_batches >= 4
    assert result.history == []
    assert _all_finite(model)
    _assert_same_weights(model, initial)  # no step was ever taken


def test_nan_parameter_stops_without_touching_other_weights() -> None:
    split = _split()
    model = _model()
    with torch.no_grad():
        model.head.bias[0] = math.nan  # every loss is NaN from the start
    initial = copy.deepcopy(model)
    result = fit(model, split.train, split.valid, _config(steps=50, max_bad_batches=3))
    assert "non-finite" in result.stop_reason and "diverged" in result.stop_reason
    assert result.steps == 3 and result.skipped_batches == 3
    state, before = model.state_dict(), initial.state_dict()
    for name in state:  # no optimiser step was ever applied
        if name != "head.bias":
            assert torch.equal(state[name], before[name]), name
    assert torch.equal(state["head.bias"][1:], before["head.bias"][1:])
    assert state["head.bias"][0].isnan()


def test_divergence_mid_run_restores_best_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    split = _split()
    model = _model()
    monkeypatch.setattr(model, "log_prob", _NaNLogProb(model, lambda call: call >= 8))
    result = fit(model, split.train, split.valid, _config(steps=50, max_bad_batches=3))
    assert "non-finite" in result.stop_reason
    assert result.steps == 10 and result.skipped_batches == 3
    assert [p.step for p in result.history] == [5]
    assert _all_finite(model)
    assert evaluate_nll(model, split.valid) == pytest.approx(result.best_valid_nll, abs=1e-6)


def test_isolated_non_finite_batches_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    split = _split()
    model = _model()
    monkeypatch.setattr(model, "log_prob", _NaNLogProb(model, {3, 7, 8}.__contains__))
    result = fit(model, split.train, split.valid, _config(steps=20, max_bad_batches=3))
    assert result.stop_reason == "completed"
    assert result.steps == 20 and result.skipped_batches == 3
    assert all(math.isfinite(p.train_nll) and math.isfinite(p.valid_nll) for p in result.history)
    assert _all_finite(model)


def test_window_of_only_skipped_batches_reports_nan_train_nll(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    split = _split()
    model = _model()
    monkeypatch.setattr(model, "log_prob", _NaNLogProb(model, {3, 4}.__contains__))
    result = fit(model, split.train, split.valid, _config(steps=6, eval_every=2))
    assert result.stop_reason == "completed"
    assert [math.isnan(p.train_nll) for p in result.history] == [False, True, False]
    assert all(math.isfinite(p.valid_nll) for p in result.history)


def test_non_finite_gradient_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    split = _split()
    model = _model()
    original = model.log_prob

    def log_prob(y: torch.Tensor, x: torch.Tensor | None = None) -> torch.Tensor:
        out = original(y, x)
        return out + _nan_grad(model.start) if model.training else out

    monkeypatch.setattr(model, "log_prob", log_prob)
    result = fit(model, split.train, split.valid, _config(steps=10, max_bad_batches=3))
    assert "non-finite" in result.stop_reason
    assert result.skipped_batches == 3
    assert _all_finite(model)


@pytest.mark.parametrize("d", [1, 3])
def test_clip_norm_applies_to_the_loss_per_dimension(monkeypatch: pytest.MonkeyPatch, d) -> None:
    """The loss sums d dimensions: clipping at clip_norm * d clips the per-dimension loss's
    gradient at clip_norm, so the clip means the same for a 2-d toy and 28-d images."""
    torch.manual_seed(0)
    train, valid = torch.randn(16, 6, d), torch.randn(4, 6, d)
    model = RMDN(d, 2, hidden_size=8)
    thresholds, original = [], torch.nn.utils.clip_grad_norm_

    def clip(parameters: object, max_norm: float) -> torch.Tensor:
        thresholds.append(max_norm)
        return original(parameters, max_norm)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", clip)
    fit(model, train, valid, _config(steps=3, clip_norm=0.5))
    assert thresholds == [0.5 * d] * 3


def _nan_grad(parameter: torch.Tensor) -> torch.Tensor:
    """Zero in value, NaN in gradient (sqrt's infinite slope at 0 times 0): a finite loss."""
    return (parameter.sum() * 0).sqrt()


# ------------------------------------------------------------------ bad inputs
@pytest.mark.parametrize(
    ("train", "message"),
    [
        (torch.full((4, 6, 2), math.nan), "NaN"),
        (torch.full((4, 6, 2), math.inf), "infinite"),
        (torch.zeros(4, 6, 3), r"shape \(N, T, 2\)"),
        (torch.zeros(4, 6), r"shape \(N, T, 2\)"),
        (torch.zeros(0, 6, 2), "N > 0"),
    ],
    ids=["nan", "inf", "wrong-d", "2d", "empty"],
)
def test_bad_training_data_is_refused(train: torch.Tensor, message: str) -> None:
    split = _split()
    with pytest.raises(ValueError, match=message) as error:
        fit(_model(), train, split.valid, _config())
    assert "training" in str(error.value)


def test_bad_validation_data_is_refused() -> None:
    split = _split()
    valid = split.valid.clone()
    valid[0, 0, 0] = math.nan
    with pytest.raises(ValueError, match="validation targets contain NaN"):
        fit(_model(), split.train, valid, _config())
    with pytest.raises(ValueError, match="validation"):
        fit(_model(), split.train, split.valid[..., :1], _config())


def test_mismatched_pairs_and_conditioning_are_refused() -> None:
    split = _split()
    x = torch.zeros(48, 10, 1)
    with pytest.raises(ValueError, match="share"):
        fit(_model(cond_dim=1), (split.train, x[:, :5]), (split.valid, x[:16]), _config())
    with pytest.raises(ValueError, match="conditioning"):
        fit(_model(), (split.train, x), (split.valid, x[:16]), _config())
    with pytest.raises(ValueError, match="x must have shape"):
        fit(_model(cond_dim=1), split.train, split.valid, _config())


def test_nan_in_conditioning_inputs_is_refused() -> None:
    split = _split()
    x = torch.zeros(48, 10, 1)
    x[3, 4, 0] = math.nan
    with pytest.raises(ValueError, match="NaN"):
        fit(_model(cond_dim=1), (split.train, x), (split.valid, x[:16]), _config())


@pytest.mark.parametrize(
    "changes",
    [
        {"steps": 0},
        {"batch_size": 0},
        {"eval_every": 0},
        {"lr": 0.0},
        {"lr": -1.0},
        {"lr": math.nan},
        {"weight_decay": -0.1},
        {"clip_norm": 0.0},
        {"clip_norm": math.nan},
        {"patience": -1},
        {"max_bad_batches": 0},
    ],
    ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()),
)
def test_train_config_validation(changes: dict) -> None:
    with pytest.raises(ValueError):
        TrainConfig(**changes)


def test_train_config_defaults_and_frozen() -> None:
    config = TrainConfig()
    assert config.steps >= 1 and config.lr > 0 and config.patience >= 0
    with pytest.raises(AttributeError):
        config.steps = 5  # type: ignore[misc]


# ------------------------------------------------------------------ conditioning
@pytest.mark.parametrize("kind", KINDS)
def test_fit_with_conditioning_inputs(kind: str) -> None:
    split = _split()
    generator = torch.Generator().manual_seed(0)
    x_train = torch.randn(48, 10, 3, generator=generator)
    x_valid = torch.randn(16, 10, 3, generator=generator)
    model = _model(kind, cond_dim=3)
    before = evaluate_nll(model, (split.valid, x_valid))
    result = fit(model, (split.train, x_train), (split.valid, x_valid), _config(steps=30))
    assert result.stop_reason == "completed" and result.history
    after = evaluate_nll(model, (split.valid, x_valid))
    assert after < before
    assert after == pytest.approx(result.best_valid_nll, abs=1e-6)


def test_fit_result_to_dict() -> None:
    result = FitResult(history=[Progress(5, 1.0, 2.0, 0.1)], best_valid_nll=2.0, best_step=5)
    values = result.to_dict()
    assert values["history"] == [{"step": 5, "train_nll": 1.0, "valid_nll": 2.0, "elapsed": 0.1}]
    assert values["best_step"] == 5 and values["stop_reason"] == "not started"

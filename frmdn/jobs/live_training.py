"""Models trained side by side as one background job: chunks, progress reports, pause, resume.

The app's **Train both** submits :func:`train_side_by_side` to a
:class:`~frmdn.jobs.pool.JobRunner`
and polls it. The job alternates the models in chunks of steps (so they advance together),
reports :class:`ModelProgress` after every chunk with the newest weights every few seconds, and
returns each model's :meth:`~frmdn.training.trainer.Trainer.state_dict`: finished models hold
their best
validation weights, stopped or paused ones their current weights, and a later job continues
any of them from exactly where it stopped.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass

from torch import Tensor

from frmdn.device import on_cpu
from frmdn.jobs.pool import JobContext
from frmdn.models.config import ModelConfig
from frmdn.models.sequence import SequenceDensityModel, build_model
from frmdn.training.trainer import FitResult, Progress, SequenceData, TrainConfig, Trainer

__all__ = ["ModelProgress", "TrainingRequest", "progress_of", "train_side_by_side"]


@dataclass(frozen=True)
class TrainingRequest:
    """What to train, on what, for how long.

    Arguments:
        models: Per name, the model's config and its weights (a fresh or a partly trained
            model; weights include the data normalisation).
        train: Training data, y (N, T, d) or (y, x).
        valid: Validation data.
        config: Optimisation settings, the same for every model.
        states: Per name, a :meth:`Trainer.state_dict` to continue from (None: start afresh).
        max_steps: Steps per model in this job (None: until every model is done).
        chunk: Steps per model between progress reports.
        weights_every: Seconds between weight snapshots in the progress reports.
    """

    models: Mapping[str, tuple[ModelConfig, dict[str, Tensor]]]
    train: SequenceData
    valid: SequenceData
    config: TrainConfig
    states: Mapping[str, dict] | None = None
    max_steps: int | None = None
    chunk: int = 25
    weights_every: float = 2.0


@dataclass(frozen=True)
class ModelProgress:
    """One model's training so far, as the page shows it."""

    steps: int
    total: int
    history: list[Progress]
    stop_reason: str
    elapsed: float
    done: bool
    best_step: int
    best_valid_nll: float

    @property
    def diverged(self) -> bool:
        return self.stop_reason.startswith("non-finite")


def progress_of(result: FitResult, total: int, done: bool) -> ModelProgress:
    """A :class:`ModelProgress` summary of a run's ``result`` (``total``: its step budget)."""
    return ModelProgress(
        steps=result.steps,
        total=total,
        history=list(result.history),
        stop_reason=result.stop_reason,
        elapsed=result.elapsed,
        done=done,
        best_step=result.best_step,
        best_valid_nll=result.best_valid_nll if math.isfinite(result.best_valid_nll) else math.nan,
    )


def _model(config: ModelConfig, weights: dict[str, Tensor]) -> SequenceDensityModel:
    model = build_model(config)
    model.load_state_dict(weights)
    return model


def train_side_by_side(context: JobContext, request: TrainingRequest) -> dict[str, dict]:
    """Train ``request.models`` in alternating chunks until each is done, the step budget
    of this job is spent or the submitter cancels; returns each Trainer's state.

    Progress payloads are ``{"models": {name: ModelProgress}, "weights": {name: state} | None}``.
    A model that finishes (completed, early-stopped or diverged) gets its best weights back.
    """
    trainers = {}
    for name, (config, weights) in request.models.items():
        trainer = Trainer(_model(config, weights), request.train, request.valid, request.config)
        if request.states is not None:
            trainer.load_state_dict(request.states[name])
        trainers[name] = trainer
    taken, last_weights = 0, time.monotonic()
    while not context.should_stop():
        active = [t for t in trainers.values() if not t.done]
        left = math.inf if request.max_steps is None else request.max_steps - taken
        if not active or left <= 0:
            break
        steps = int(min(request.chunk, left))
        for trainer in active:  # a cancel lands between chunks, so the run stays resumable
            if trainer.run(steps):
                trainer.finish()
        taken += steps
        weights = None
        if time.monotonic() - last_weights >= request.weights_every:
            weights = on_cpu({n: t.model.state_dict() for n, t in trainers.items()})
            last_weights = time.monotonic()
        summary = {n: progress_of(t.result, t.config.steps, t.done) for n, t in trainers.items()}
        context.report({"models": summary, "weights": weights})
    return on_cpu({name: trainer.state_dict() for name, trainer in trainers.items()})

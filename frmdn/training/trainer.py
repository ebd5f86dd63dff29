"""Training by maximum likelihood: Adam, clipping, early stopping, stop flags and progress."""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor
from torch.nn.parallel import DistributedDataParallel

from frmdn.device import default_device
from frmdn.models.sequence import SequenceDensityModel
from frmdn.training.distributed import from_environment

__all__ = ["FitResult", "Progress", "TrainConfig", "Trainer", "evaluate_nll", "fit"]

SequenceData = Tensor | tuple[Tensor, Tensor]
"""Targets y (N, T, d), or a pair (y, x) with conditioning inputs x (N, T, c)."""


STOPPED = "stopped by user"  # the stop reason of a run that should_stop ended


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings.

    Arguments:
        steps: Maximum number of Adam steps.
        batch_size: Sequences per step.
        lr: Adam learning rate.
        weight_decay: AdamW weight decay (0 = plain Adam).
        clip_norm: Gradient-norm clipping threshold, on the gradient of the NLL per dimension
            (the loss per step / d), so that it means the same at every d. Before library 0.2
            it applied to the loss per step, and throttled every step of the families with
            d >= 28 (docs/low-rank.md).
        eval_every: Steps between validation passes (and progress reports).
        patience: Validation passes without improvement before early stopping (0 = never).
        seed: Seed for initial batches, dropout and noise: equal seeds give equal runs.
        max_bad_batches: Consecutive non-finite losses tolerated before giving up.
        device: "cpu", "cuda", or None for the best available.
    """

    steps: int = 2000
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    clip_norm: float = 5.0
    eval_every: int = 100
    patience: int = 10
    seed: int = 0
    max_bad_batches: int = 10
    device: str | None = None

    def __post_init__(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.eval_every < 1:
            raise ValueError("steps, batch_size and eval_every must be at least 1")
        if not self.lr > 0 or self.weight_decay < 0 or not self.clip_norm > 0:
            raise ValueError("need lr > 0, weight_decay >= 0 and clip_norm > 0")
        if self.patience < 0 or self.max_bad_batches < 1:
            raise ValueError("need patience >= 0 and max_bad_batches >= 1")


@dataclass(frozen=True)
class Progress:
    """One progress report: mean train NLL since the last report, validation NLL, time."""

    step: int
    train_nll: float
    valid_nll: float
    elapsed: float


@dataclass
class FitResult:
    """What a training run did; NLLs are nats per time step."""

    history: list[Progress] = field(default_factory=list)
    best_valid_nll: float = math.inf
    best_step: int = 0
    steps: int = 0
    elapsed: float = 0.0
    stop_reason: str = "not started"
    skipped_batches: int = 0

    def to_dict(self) -> dict:
        values = asdict(self)
        values["history"] = [asdict(p) for p in self.history]
        return values


def _split(data: SequenceData) -> tuple[Tensor, Tensor | None]:
    if isinstance(data, tuple):
        y, x = data
        if x.shape[:2] != y.shape[:2]:
            raise ValueError("x and y must share (N, T)")
        return y, x
    return data, None


def _check(data: SequenceData, model: SequenceDensityModel, name: str) -> None:
    y, x = _split(data)
    if y.dim() != 3 or y.shape[-1] != model.config.dim or y.shape[0] == 0:
        raise ValueError(
            f"{name} data must have shape (N, T, {model.config.dim}) with N > 0, "
            f"got {tuple(y.shape)}"
        )
    for part, values in (("targets", y), ("inputs x", x)):
        if not isinstance(values, Tensor):  # None, or read from disk (checked when cached)
            continue
        if not torch.isfinite(values).all():
            raise ValueError(f"{name} {part} contain NaN or infinite values")


def _resolve_device(name: str | None) -> torch.device:
    """The requested device, or the best available; refuses CUDA where there is none."""
    if name is None:
        return default_device()
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("CUDA was requested but no CUDA device is available here")
    return device


def _autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on CUDA (the LSTM and head; the flow and mixture stay float32)."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def _detached(state: dict[str, Tensor]) -> dict[str, Tensor]:
    return {k: v.detach().clone() for k, v in state.items()}


def _batches(n: int, batch_size: int) -> Iterator[slice]:
    for start in range(0, n, batch_size):
        yield slice(start, min(start + batch_size, n))


@torch.no_grad()
def evaluate_nll(model: SequenceDensityModel, data: SequenceData, batch_size: int = 256) -> float:
    """Mean negative log-likelihood per time step in nats, in eval mode and float32."""
    y, x = _split(data)
    device = model.start.device
    was_training = model.training
    model.eval()
    total = 0.0
    for part in _batches(y.shape[0], batch_size):
        xb = None if x is None else x[part].to(device)
        total += -model.log_prob(y[part].to(device), xb).double().sum().item()
    model.train(was_training)
    return total / (y.shape[0] * y.shape[1])


class Trainer:
    """Trains a model in small steps, so a page can pause, resume and stop between calls.

    ``fit`` is a loop over :meth:`run`; the app calls :meth:`run` a few steps at a time.
    The best validation weights are kept and restored by :meth:`finish`.
    """

    def __init__(
        self,
        model: SequenceDensityModel,
        train: SequenceData,
        valid: SequenceData,
        config: TrainConfig | None = None,
    ) -> None:
        self.config = config or TrainConfig()
        self.device = _resolve_device(self.config.device)
        self.group = from_environment()  # None unless torchrun started several processes
        if self.group is not None and self.device.type == "cuda":
            self.device = torch.device("cuda", self.group.local_rank)
        self.model = model.to(self.device)
        self.network: torch.nn.Module = self.model  # what the training forward runs through
        if self.group is not None:
            self.group.check_batch(min(self.config.batch_size, len(_split(train)[0])))
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.network = DistributedDataParallel(self.model, device_ids=ids)
        self.train_y, self.train_x = _split(train)
        self.valid = valid
        _check(train, model, "training")
        _check(valid, model, "validation")
        torch.manual_seed(self.config.seed)
        self.generator = torch.Generator().manual_seed(self.config.seed)
        optimizer = torch.optim.AdamW if self.config.weight_decay > 0 else torch.optim.Adam
        self.optimizer = optimizer(
            model.parameters(), lr=self.config.lr, weight_decay=self.config.weight_decay
        )
        # the loss sums d dimensions; with Adam (scale-free) clipping its gradient at
        # clip_norm * d is clipping the per-dimension loss's gradient at clip_norm
        self._clip = self.config.clip_norm * model.config.dim
        self.result = FitResult(stop_reason="running")
        self._best_state = _detached(model.state_dict())
        self._since_best = 0
        self._bad_in_a_row = 0
        self._window: list[float] = []
        self._elapsed_before = 0.0
        self.done = False

    def _loss(self) -> Tensor:
        n = self.train_y.shape[0]
        index = torch.randint(n, (min(self.config.batch_size, n),), generator=self.generator)
        if self.group is not None:  # every rank drew the same global batch: take its slice
            index = self.group.shard(index)
        y = self.train_y[index].to(self.device)
        x = None if self.train_x is None else self.train_x[index].to(self.device)
        with _autocast(self.device):
            return -self.network(y, x).mean()

    def _step(self) -> None:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        loss = self._loss()
        finite = bool(torch.isfinite(loss))
        if self.group is not None:  # skip a batch on every rank, or on none
            finite = not self.group.any(not finite)
        if finite:
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(self.model.parameters(), self._clip)
            if torch.isfinite(norm):
                self.optimizer.step()
                self._bad_in_a_row = 0
                self._window.append(loss.item())
                return
        self.optimizer.zero_grad(set_to_none=True)
        self.result.skipped_batches += 1
        self._bad_in_a_row += 1

    def _report(self, callback: Callable[[Progress], None] | None) -> None:
        if self.group is None:
            valid_nll = evaluate_nll(self.model, self.valid)
        else:  # rank 0 evaluates; every rank takes the same early-stopping decision
            main = self.group.is_main
            valid_nll = self.group.broadcast(
                evaluate_nll(self.model, self.valid) if main else math.nan
            )
        train_nll = sum(self._window) / len(self._window) if self._window else math.nan
        self._window = []
        progress = Progress(self.result.steps, train_nll, valid_nll, self.result.elapsed)
        self.result.history.append(progress)
        if math.isfinite(valid_nll) and valid_nll < self.result.best_valid_nll:
            self.result.best_valid_nll, self.result.best_step = valid_nll, self.result.steps
            self._best_state = _detached(self.model.state_dict())
            self._since_best = 0
        else:
            self._since_best += 1
        if callback is not None:
            callback(progress)

    def run(
        self,
        n_steps: int,
        callback: Callable[[Progress], None] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> bool:
        """Take up to ``n_steps`` steps; True once training has finished for any reason.

        Flushes denormal floats to zero on this thread (the flag is per thread, and the app
        trains from its own threads): speech drives Adam moments into denormals, which made
        CPU steps 4-15x slower, and flushing them costs nothing in accuracy.
        """
        torch.set_flush_denormal(True)
        config, result = self.config, self.result
        start = time.perf_counter()
        for _ in range(n_steps):
            if self.done:
                break
            stop = should_stop is not None and should_stop()
            if self.group is not None and should_stop is not None:
                stop = self.group.any(stop)  # a stop on any rank stops them all
            if stop:
                self._stop(STOPPED)
                break
            self._step()
            result.steps += 1
            result.elapsed = self._elapsed_before + time.perf_counter() - start
            if self._bad_in_a_row >= config.max_bad_batches:
                self._stop(
                    f"non-finite loss in {self._bad_in_a_row} batches in a row: the model "
                    "diverged; lower the learning rate or check the data"
                )
            elif result.steps % config.eval_every == 0 or result.steps >= config.steps:
                self._report(callback)
                if result.steps >= config.steps:
                    self._stop("completed")
                elif config.patience and self._since_best >= config.patience:
                    self._stop(f"early stopping: no improvement in {config.patience} evaluations")
        self._elapsed_before = result.elapsed
        return self.done

    def _stop(self, reason: str) -> None:
        self.result.stop_reason = reason
        self.done = True

    def state_dict(self) -> dict:
        """Everything needed to continue this run later or in another process: weights, best
        weights, optimiser moments, progress, early-stopping counters and random states.

        A Trainer on the same data and config that loads it takes the same next steps.
        """
        return {
            "model": _detached(self.model.state_dict()),
            "best": _detached(self._best_state),
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "result": copy.deepcopy(self.result),
            "since_best": self._since_best,
            "bad_in_a_row": self._bad_in_a_row,
            "window": list(self._window),
            "elapsed": self._elapsed_before,
            "done": self.done,
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict) -> None:
        """Continue the run that :meth:`state_dict` captured."""
        self.model.load_state_dict(state["model"])
        self._best_state = _detached(state["best"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.result = copy.deepcopy(state["result"])
        self._since_best = state["since_best"]
        self._bad_in_a_row = state["bad_in_a_row"]
        self._window = list(state["window"])
        self._elapsed_before = state["elapsed"]
        self.done = state["done"]
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])

    def finish(self) -> FitResult:
        """End training (if still running) and restore the best validation weights (the
        initial ones for a run that diverged before its first validation)."""
        if not self.done:
            self._stop("stopped by user")
        if self.result.history or self.diverged:
            self.model.load_state_dict(self._best_state)
        return self.result

    @property
    def diverged(self) -> bool:
        """True when training gave up on non-finite losses."""
        return self.result.stop_reason.startswith("non-finite")


def fit(
    model: SequenceDensityModel,
    train: SequenceData,
    valid: SequenceData,
    config: TrainConfig | None = None,
    *,
    callback: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    progress_bar: bool = False,
    state: dict | None = None,
    save_state: Callable[[Trainer], None] | None = None,
) -> FitResult:
    """Train ``model`` on ``train``, early-stopping on ``valid``; returns what happened.

    The model ends with its best validation weights. A run that only ever saw non-finite losses
    keeps its initial weights, so a NaN model is never returned.

    Arguments:
        model: An RMDN or FRMDN (moved to the chosen device).
        train: Training data, y (N, T, d) or (y, x).
        valid: Validation data for early stopping.
        config: Optimisation settings.
        callback: Called with a :class:`Progress` after each validation pass.
        should_stop: Polled before each step; return True to stop (e.g. ``event.is_set``).
        progress_bar: Show a tqdm bar on stderr (for the CLI).
        state: A :meth:`Trainer.state_dict` to continue from (a resumed run).
        save_state: Called with the trainer after each validation pass (e.g.
            :func:`frmdn.training.resume.save_training_state`), so a killed run can resume; and at
            the end, unless ``should_stop`` stopped the run: its last saved state then resumes it
            as if it had never stopped.
    """
    trainer = Trainer(model, train, valid, config)
    if state is not None:
        trainer.load_state_dict(state)
    bar = None
    if progress_bar:
        from tqdm.auto import tqdm

        bar = tqdm(total=trainer.config.steps, unit="step", leave=False)

    def report(progress: Progress) -> None:
        if bar is not None:
            bar.update(progress.step - bar.n)
            bar.set_postfix(train=f"{progress.train_nll:.3f}", valid=f"{progress.valid_nll:.3f}")
        if callback is not None:
            callback(progress)

    if bar is not None:
        bar.update(trainer.result.steps)
    while not trainer.done and not trainer.run(trainer.config.eval_every, report, should_stop):
        if save_state is not None:
            save_state(trainer)
    if bar is not None:
        bar.close()
    result = trainer.finish()
    if save_state is not None and result.stop_reason != STOPPED:
        save_state(trainer)  # done, with the best weights: a resume has nothing left to do
    return result

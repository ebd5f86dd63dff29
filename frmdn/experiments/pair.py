"""RMDN vs FRMDN comparisons at equal K, rank and budget, as tidy rows and a markdown table."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from frmdn.data import SequenceSplit, load_data
from frmdn.models.config import ModelConfig
from frmdn.models.sequence import FRMDN, FRMDN_FLOW_LAYERS, RMDN, SequenceDensityModel
from frmdn.training.distributed import main_process
from frmdn.training.resume import has_checkpoint, remove_training_state, save_training_state
from frmdn.training.trainer import STOPPED, Progress, TrainConfig, Trainer, evaluate_nll, fit

__all__ = ["ComparisonRow", "build_pair", "compare", "markdown_table", "train_on_split"]


@dataclass(frozen=True)
class ComparisonRow:
    """One trained model's scores: NLLs are nats per time step on held-out data."""

    data: str
    model: str
    valid_nll: float
    test_nll: float
    parameters: int
    steps: int
    seconds: float
    stop_reason: str


def build_pair(
    dim: int,
    *,
    n_components: int = ModelConfig.n_components,
    rank: int = ModelConfig.rank,
    hidden_size: int = ModelConfig.hidden_size,
    flow_layers: int = FRMDN_FLOW_LAYERS,
    flow_hidden: int = ModelConfig.flow_hidden,
    flow_depth: int = ModelConfig.flow_depth,
    scale_bound: float = ModelConfig.scale_bound,
    shift_bound: float = ModelConfig.shift_bound,
    pitch_max_lag: int = ModelConfig.pitch_max_lag,
    dropout: float = ModelConfig.dropout,
    input_noise: float = ModelConfig.input_noise,
    cond_dim: int = 0,
    seed: int = 0,
) -> dict[str, SequenceDensityModel]:
    """An RMDN and an FRMDN with the same LSTM, mixture, regularisation, pitch predictor
    (``pitch_max_lag`` > 0, audio only) and conditioning inputs (``cond_dim``, e.g. actions),
    the same seed for both."""
    common = dict(
        cond_dim=cond_dim,
        n_components=n_components,
        rank=rank,
        hidden_size=hidden_size,
        pitch_max_lag=pitch_max_lag,
        dropout=dropout,
        input_noise=input_noise,
    )
    torch.manual_seed(seed)
    rmdn = RMDN(dim, **common)
    torch.manual_seed(seed)
    frmdn = FRMDN(
        dim,
        **common,
        flow_layers=flow_layers,
        flow_hidden=flow_hidden,
        flow_depth=flow_depth,
        scale_bound=scale_bound,
        shift_bound=shift_bound,
    )
    return {"RMDN": rmdn, "FRMDN": frmdn}


def train_on_split(
    model: SequenceDensityModel,
    split: SequenceSplit,
    config: TrainConfig,
    spec: str,
    out: Path | None = None,
    progress_bar: bool = False,
    *,
    resumable: bool = False,
    state: dict | None = None,
    callback: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> ComparisonRow | None:
    """Standardise on the training split, fit, score on valid and test, optionally save.

    With ``resumable`` (and ``out``) the run writes its training state into ``out`` after
    every validation pass (:mod:`frmdn.training.resume`), so a killed run continues from there with
    ``state``; the state is removed once training has finished. ``callback`` and
    ``should_stop`` go to :func:`~frmdn.training.trainer.fit`; a run that ``should_stop`` ended
    returns None, its checkpoint unfinished (a resumable one continues from its last saved state).
    """
    model.standardize_on(split.train)
    data = {
        "spec": spec,
        "seed": config.seed,
        "info": split.info,
        "sizes": {k: len(getattr(split, k)) for k in ("train", "valid", "test")},
    }
    if not main_process():  # under torchrun, rank 0 alone writes files
        out = None
    save_state = None
    if resumable and out is not None:

        def save_state(trainer: Trainer) -> None:
            if not has_checkpoint(out):  # the settings a resumed run rebuilds the model from
                model.save(out, data=data)
            save_training_state(out, trainer, data=data)

    start = time.perf_counter()
    result = fit(
        model,
        split.part("train"),
        split.part("valid"),
        config,
        callback=callback,
        should_stop=should_stop,
        progress_bar=progress_bar,
        state=state,
        save_state=save_state,
    )
    if result.stop_reason == STOPPED:
        return None
    seconds = time.perf_counter() - start
    if not result.history:
        raise RuntimeError(f"training {type(model).__name__} failed: {result.stop_reason}")
    test_nll = evaluate_nll(model, split.part("test"))
    row = ComparisonRow(
        spec,
        type(model).__name__,
        result.best_valid_nll,
        test_nll,
        model.num_parameters()["total"],
        result.steps,
        seconds,
        result.stop_reason,
    )
    if out is not None:
        metrics = result.to_dict() | {
            "test_nll": test_nll,
            "seconds": seconds,
            "num_parameters": model.num_parameters(),
        }
        model.save(out, metrics=metrics, data=data)
        if save_state is not None:
            remove_training_state(out)
    return row


def compare(
    specs: Sequence[str],
    config: TrainConfig,
    *,
    out_dir: Path | None = None,
    on_row: Callable[[ComparisonRow], None] | None = None,
    progress_bar: bool = False,
    **model_options: object,
) -> list[ComparisonRow]:
    """Train an RMDN and an FRMDN on each data spec.

    Checkpoints go to ``out_dir/<scheme>-<name>-<model>``, e.g. ``frames-moving-digits-frmdn``
    for ``frames:moving-digits?n_train=2048``: options stay in the recorded spec, not the name.
    """
    rows = []
    for spec in specs:
        split = load_data(spec, seed=config.seed)
        pair = build_pair(split.dim, cond_dim=split.cond_dim, seed=config.seed, **model_options)
        for name, model in pair.items():
            slug = f"{spec.partition('?')[0].replace(':', '-')}-{name.lower()}"
            out = None if out_dir is None else out_dir / slug
            rows.append(train_on_split(model, split, config, spec, out, progress_bar))
            if on_row is not None:
                on_row(rows[-1])
    return rows


def markdown_table(rows: Sequence[ComparisonRow]) -> str:
    """Rows as a markdown table, with FRMDN's gain over RMDN per data set."""
    lines = [
        "| data | model | valid NLL | test NLL | gain vs RMDN | parameters | steps | time (s) |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    baseline = {r.data: r.test_nll for r in rows if r.model == "RMDN"}
    for r in rows:
        gain = baseline.get(r.data, float("nan")) - r.test_nll
        gain_text = "" if r.model == "RMDN" else f"{gain:+.3f}"
        lines.append(
            f"| {r.data} | {r.model} | {r.valid_nll:.3f} | {r.test_nll:.3f} | "
            f"{gain_text} | {r.parameters:,} | {r.steps} | {r.seconds:.1f} |"
        )
    return "\n".join(lines)

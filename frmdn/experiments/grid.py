"""The experiment grid: which part of the FRMDN's gain comes from the flow, which from the
low-rank precision, which from K, and whether it is bigger than seed noise.

Every data set gets the same six model kinds at the same K, LSTM width and step budget, over
seeds: the classic diagonal RMDN (World Models' MDN-RNN), the RMDN with the low-rank precision,
the full-covariance RMDN (the O(Kd²) reference, where d ≤ 32), the diagonal and the low-rank
FRMDN, and, labelled as an extension beyond the paper, an FRMDN whose couplings read the LSTM
state. The ``full`` suite adds a K sweep on its first data set and a rank sweep on its first
data set with d >= RANK_SWEEP_MIN_DIM (the rank has most to capture there); the ``smoke``
suite trains every kind for a few steps, one seed, to check a machine or a change in seconds.

Each cell is an ordinary checkpoint under ``OUT/cells/``; a finished cell is never trained
again, and an interrupted one resumes from its last validation pass
(:mod:`frmdn.training.resume`), so
a grid can be stopped and restarted at will and gives the same table. The table has one row per
cell (:data:`COLUMNS`), written as ``results.csv`` and ``results.parquet`` after every cell.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from frmdn.checkpoints.load import load, read_metadata
from frmdn.data import SequenceSplit, load_data
from frmdn.experiments.pair import train_on_split
from frmdn.models.config import ModelConfig
from frmdn.models.sequence import FRMDN_FLOW_LAYERS, build_model
from frmdn.storage import atomic_write
from frmdn.training.resume import has_training_state, load_training_state
from frmdn.training.trainer import Progress, TrainConfig, evaluate_nll

if TYPE_CHECKING:
    from frmdn.jobs.pool import JobContext

__all__ = [
    "COLUMNS",
    "KINDS",
    "SUITES",
    "Cell",
    "GridProgress",
    "dims_of",
    "grid_job",
    "plan",
    "results_table",
    "run_cell",
    "run_grid",
]

SUITES = ("quick", "full", "smoke")
SMOKE = {"steps": 30, "hidden": 16}  # the smoke suite's budget: every kind, seconds in all
QUICK_DATA = (
    "toy:ring",
    "toy:moons",
    "toy:spiral",
    "toy:checkerboard",
    "toy:clusters",
    "images:digits",
    "frames:moving-digits",
    "audio:assets/speech",
)
EXTENSION = "FRMDN low-rank, LSTM-conditioned flow (extension)"
KINDS: dict[str, dict] = {
    "RMDN diagonal": {"flow_layers": 0, "rank": 0},
    "RMDN low-rank": {"flow_layers": 0},
    "RMDN full": {"flow_layers": 0, "rank": 0, "covariance": "full"},
    "FRMDN diagonal": {"flow_layers": FRMDN_FLOW_LAYERS, "rank": 0},
    "FRMDN low-rank": {"flow_layers": FRMDN_FLOW_LAYERS},
    EXTENSION: {"flow_layers": FRMDN_FLOW_LAYERS, "flow_context": "lstm"},
}
"""The grid's model kinds: ModelConfig settings on top of the cell's K, rank and width."""

MAX_FULL_DIM = 32  # full covariances only up to here: beyond, O(Kd²) is the point being made
FAMILY_BUDGETS: dict[str, dict] = {  # the same budget for every kind of a family
    "toy": {"K": 3, "rank": 1, "hidden": 64, "steps": 600, "batch_size": 64},
    "images": {"K": 5, "rank": 2, "hidden": 64, "steps": 300, "batch_size": 32},
    "frames": {"K": 5, "rank": 2, "hidden": 64, "steps": 300, "batch_size": 32},
    "audio": {"K": 5, "rank": 2, "hidden": 64, "steps": 200, "batch_size": 16},
    # World Models rollouts, action-conditioned (frames:car-racing, frames:doom-take-cover)
    "worlds": {"K": 5, "rank": 2, "hidden": 128, "steps": 600, "batch_size": 32},
    # a corpus of voices (audio:assets/voices): valid = training voices, test = unseen voices
    "voices": {"K": 5, "rank": 2, "hidden": 64, "steps": 200, "batch_size": 16},
}
QUICK_SEEDS = {"toy": 3, "worlds": 3, "voices": 3}  # the quick suite's seeds (1 elsewhere)
WORLD_NAMES = ("car-racing", "doom-take-cover")  # frmdn.data.worlds.WORLDS, without its import
SWEEP_K = (1, 2, 3, 5, 8)
SWEEP_RANK = (0, 1, 2, 4, 8)
RANK_SWEEP_MIN_DIM = 28  # the rank sweep runs on the first data set at least this wide
SWEEP_KINDS = ("RMDN low-rank", "FRMDN low-rank")
DATA_SEED = 0  # every cell sees the same split: seeds vary the model, so pairs are paired

ROW_FILE = "row.json"  # a finished cell's results row, so a rerun does not score it again
COLUMNS = (
    "data",
    "model",
    "extension",
    "flow",
    "covariance",
    "K",
    "rank",
    "hidden",
    "seed",
    "parameters",
    "steps",
    "best_step",
    "train_seconds",
    "device",
    "valid_nll",
    "test_nll",
    "unit",
)
"""The columns of the results table, one row per cell."""


@dataclass(frozen=True)
class Cell:
    """One model of the grid: a data spec, a kind of :data:`KINDS` and its budget."""

    data: str
    kind: str
    K: int
    rank: int
    hidden: int
    seed: int
    steps: int
    batch_size: int

    @property
    def settings(self) -> dict:
        """ModelConfig settings (besides ``dim``)."""
        values = {"n_components": self.K, "rank": self.rank, "hidden_size": self.hidden}
        return values | KINDS[self.kind]

    @property
    def name(self) -> str:
        """A folder name: data, kind, K, rank, width and seed."""
        data = "".join(c if c.isalnum() else "-" for c in self.data).strip("-")
        kind = "".join(c if c.isalnum() else "-" for c in self.kind.lower())
        kind = "-".join(part for part in kind.split("-") if part)
        return f"{data}/{kind}-K{self.K}-r{self.rank}-h{self.hidden}-s{self.seed}"


@dataclass(frozen=True)
class GridProgress:
    """Where a grid stands: cells finished of all, and the steps of the cell in training."""

    cells_done: int
    cells: int
    cell: str
    step: int
    steps: int


def _family(spec: str) -> str:
    """The budget family of a spec: its scheme, ``worlds`` for World Models rollouts, or
    ``voices`` for a corpus of voices (a folder with ``voices.json``)."""
    scheme, _, rest = spec.partition(":")
    name = rest.partition("?")[0]
    if scheme == "frames" and name in WORLD_NAMES:
        return "worlds"
    if scheme == "audio" and _is_voice_corpus(name):
        return "voices"
    return scheme


def _is_voice_corpus(path: str) -> bool:
    from frmdn import resources
    from frmdn.data.voices import MANIFEST

    try:
        return (resources.resolve(path) / MANIFEST).is_file()
    except OSError:
        return False


def _fits(kind: str, dim: int) -> bool:
    """Whether a kind exists for targets of size ``dim``."""
    if KINDS[kind].get("covariance") == "full":
        return dim <= MAX_FULL_DIM
    if KINDS[kind].get("flow_context", "none") != "none":
        return dim >= 2  # a one-dimensional flow has no coupling to read the LSTM state
    return True


def plan(suite: str, specs: Sequence[str], dims: dict[str, int]) -> list[Cell]:
    """The cells of ``suite`` over ``specs`` (target size of each in ``dims``), in run order.

    ``quick``: every kind, 3 seeds on toy sets and World Models rollouts (where the flow's effect
    is small against seed noise), 1 elsewhere. ``full``: 5 seeds, plus a K
    sweep of the low-rank RMDN and FRMDN on the first data set and a rank sweep on the first
    with d >= :data:`RANK_SWEEP_MIN_DIM` (the first data set when none is; 3 seeds each).
    ``smoke``: every kind, one seed, :data:`SMOKE` steps and width.
    """
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {SUITES}, got {suite!r}")
    cells: list[Cell] = []
    for spec in specs:
        family = _family(spec)
        if family not in FAMILY_BUDGETS:
            raise ValueError(f"no budget for {spec!r}; families: {', '.join(FAMILY_BUDGETS)}")
        budget = FAMILY_BUDGETS[family]
        seeds = {"full": range(5), "quick": range(QUICK_SEEDS.get(family, 1))}.get(suite, [0])
        for seed in seeds:
            for kind in KINDS:
                if _fits(kind, dims[spec]):
                    rank = KINDS[kind].get("rank", budget["rank"])
                    cells.append(
                        Cell(
                            spec,
                            kind,
                            budget["K"],
                            rank,
                            budget["hidden"],
                            seed,
                            budget["steps"],
                            budget["batch_size"],
                        )
                    )
    if suite == "smoke":
        cells = [replace(c, **SMOKE) for c in cells]
    if suite == "full" and specs:
        wide = next((s for s in specs if dims[s] >= RANK_SWEEP_MIN_DIM), specs[0])
        k_base, r_base = (
            next(c for c in cells if c.data == spec and c.kind == SWEEP_KINDS[1])
            for spec in (specs[0], wide)
        )
        for seed in range(3):
            for kind in SWEEP_KINDS:
                sweep = [replace(k_base, kind=kind, seed=seed, K=k) for k in SWEEP_K]
                sweep += [replace(r_base, kind=kind, seed=seed, rank=r) for r in SWEEP_RANK]
                cells += [c for c in sweep if c not in cells]
    return cells


@lru_cache(maxsize=4)
def _split(spec: str) -> SequenceSplit:
    """The data of a spec, loaded once per process (every cell of a spec shares it)."""
    return load_data(spec, seed=DATA_SEED)


def dims_of(specs: Sequence[str]) -> dict[str, int]:
    """Target size d of each data spec (loads each once)."""
    return {spec: _split(spec).dim for spec in specs}


def _scores(model: object, split: SequenceSplit) -> tuple[float, float, str]:
    """Validation and test NLL in the family's unit: bits/dim for images, nats per sample
    (nats/dim) for audio, nats per step otherwise."""
    kind = split.info.get("kind")
    if kind == "images":
        from frmdn.views import split_bits_per_dim

        return (
            split_bits_per_dim(model, split.valid, split.info),
            split_bits_per_dim(model, split.test, split.info),
            "bits/dim",
        )
    valid, test = evaluate_nll(model, split.part("valid")), evaluate_nll(model, split.part("test"))
    if kind == "audio":
        return valid / split.dim, test / split.dim, "nats/dim"
    return valid, test, "nats/step"


def _row(cell: Cell, model: object, metrics: dict, split: SequenceSplit) -> dict:
    """The results row of a trained cell."""
    config: ModelConfig = model.config
    valid, test, unit = _scores(model, split)
    flow = "none" if config.flow_layers == 0 else "realnvp"
    if config.flow_context == "lstm":
        flow += " + LSTM state"
    covariance = config.covariance if config.rank or config.covariance == "full" else "diagonal"
    return {
        "data": cell.data,
        "model": cell.kind,
        "extension": cell.kind == EXTENSION,
        "flow": flow,
        "covariance": covariance,
        "K": cell.K,
        "rank": cell.rank,
        "hidden": cell.hidden,
        "seed": cell.seed,
        "parameters": model.num_parameters()["total"],
        "steps": int(metrics.get("steps", 0)),
        "best_step": int(metrics.get("best_step", 0)),
        "train_seconds": float(metrics.get("elapsed", math.nan)),  # summed over resumes
        "device": str(next(model.parameters()).device.type),
        "valid_nll": valid,
        "test_nll": test,
        "unit": unit,
    }


def run_cell(
    cell: Cell,
    out_dir: str | Path,
    *,
    device: str | None = None,
    callback: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> dict | None:
    """Train ``cell`` into ``out_dir/cells/<name>`` (or continue it) and return its row; a
    finished cell's row is read back from its ROW_FILE, not scored again. None when
    ``should_stop`` interrupted it (its state is kept, so the next run continues it)."""
    directory = Path(out_dir) / "cells" / cell.name
    finished = (directory / "config.json").is_file() and not has_training_state(directory)
    if finished:
        row = _saved_row(directory)
        if row is None:  # finished before rows were saved, or the file was damaged
            model = load(directory)
            metrics = read_metadata(directory).get("metrics", {})
            row = _save_row(directory, _row(cell, model, metrics, _split(cell.data)))
        return row
    split = _split(cell.data)
    config = TrainConfig(
        steps=cell.steps,
        batch_size=cell.batch_size,
        eval_every=max(cell.steps // 6, 1),
        patience=0,
        seed=cell.seed,
        device=device,
    )
    state = None
    if has_training_state(directory):
        state, config, _ = load_training_state(directory)
        model = load(directory)
    else:
        import torch

        torch.manual_seed(cell.seed)
        model = build_model(ModelConfig(split.dim, cond_dim=split.cond_dim, **cell.settings))
    row = train_on_split(
        model,
        split,
        config,
        cell.data,
        directory,
        resumable=True,
        state=state,
        callback=callback,
        should_stop=should_stop,
    )
    if row is None:  # stopped before the end: resumable, not a row yet
        return None
    return _save_row(directory, _row(cell, model, read_metadata(directory)["metrics"], split))


def _saved_row(directory: Path) -> dict | None:
    """The results row a finished cell saved, or None when it is missing or unreadable."""
    try:
        row = json.loads((directory / ROW_FILE).read_text())
    except (OSError, ValueError):
        return None
    return row if isinstance(row, dict) and set(COLUMNS) <= row.keys() else None


def _save_row(directory: Path, row: dict) -> dict:
    """Write ``row`` beside the cell's checkpoint (atomically) and return it."""
    atomic_write(directory / ROW_FILE, lambda path: path.write_text(json.dumps(row)))
    return row


def results_table(rows: Sequence[dict]) -> object:
    """The rows as a pandas DataFrame with :data:`COLUMNS` (pandas: ``frmdn[experiments]``)."""
    try:
        import pandas as pd
    except ModuleNotFoundError as error:
        raise ModuleNotFoundError(
            "the results table needs pandas: pip install 'frmdn[experiments]'"
        ) from error
    return pd.DataFrame(list(rows), columns=list(COLUMNS))


def write_results(rows: Sequence[dict], out_dir: str | Path) -> Path:
    """``results.csv`` and ``results.parquet`` of ``rows`` in ``out_dir``; returns the CSV."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    table = results_table(rows)
    table.to_csv(out_dir / "results.csv", index=False)
    table.to_parquet(out_dir / "results.parquet", index=False)
    return out_dir / "results.csv"


def run_grid(
    cells: Sequence[Cell],
    out_dir: str | Path,
    *,
    workers: int = 1,
    device: str | None = None,
    on_progress: Callable[[GridProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> list[dict]:
    """Run ``cells`` (finished ones are read back), writing the results table after each;
    returns the rows of the finished cells, in plan order.

    With ``workers`` > 1 the cells run in that many fresh processes of one torch thread each;
    progress then reports cells finished and the steps of the cell that reported last.
    """
    if workers > 1:
        return _run_parallel(cells, out_dir, workers, device, on_progress, should_stop)
    rows: list[dict] = []
    for index, cell in enumerate(cells):
        if should_stop is not None and should_stop():
            break

        def report(progress: Progress, cell: Cell = cell, done: int = index) -> None:
            if on_progress is not None:
                on_progress(GridProgress(done, len(cells), cell.name, progress.step, cell.steps))

        row = run_cell(cell, out_dir, device=device, callback=report, should_stop=should_stop)
        if row is None:
            break
        rows.append(row)
        write_results(rows, out_dir)
        if on_progress is not None:
            on_progress(GridProgress(index + 1, len(cells), cell.name, cell.steps, cell.steps))
    return rows


def _worker_start(threads: int) -> None:
    from frmdn.device import set_threads

    set_threads(threads)


def _worker_cell(
    cell: Cell, out_dir: str, device: str | None, queue: object, stop: object
) -> dict:
    """:func:`run_cell` in a worker process, reporting steps to ``queue``."""
    return run_cell(
        cell,
        out_dir,
        device=device,
        callback=lambda p: queue.put((cell.name, p.step, cell.steps)),
        should_stop=stop.is_set,
    )


def _run_parallel(
    cells: Sequence[Cell],
    out_dir: str | Path,
    workers: int,
    device: str | None,
    on_progress: Callable[[GridProgress], None] | None,
    should_stop: Callable[[], bool] | None,
) -> list[dict]:
    import multiprocessing
    import queue as queues
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = multiprocessing.get_context("spawn")
    with (
        context.Manager() as manager,
        ProcessPoolExecutor(
            workers, mp_context=context, initializer=_worker_start, initargs=(1,)
        ) as pool,
    ):
        steps, stop = manager.Queue(), manager.Event()
        pending = {
            pool.submit(_worker_cell, cell, str(out_dir), device, steps, stop): i
            for i, cell in enumerate(cells)
        }
        finished: dict[int, dict] = {}
        while pending:
            done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                row = future.result()
                if row is not None:
                    finished[index] = row
                    write_results([finished[i] for i in sorted(finished)], out_dir)
            while on_progress is not None:
                try:
                    name, step, total = steps.get_nowait()
                except queues.Empty:
                    break
                on_progress(GridProgress(len(finished), len(cells), name, step, total))
            if should_stop is not None and should_stop() and not stop.is_set():
                stop.set()
                for future in pending:
                    future.cancel()
        return [finished[i] for i in sorted(finished)]


def grid_job(context: JobContext, suite: str, spec: str, out_dir: str) -> list[dict]:
    """``suite`` on one data set as a job of the app's :class:`~frmdn.jobs.pool.JobRunner`: cells
    one after another in the job's worker, each progress report a :class:`GridProgress` as a
    dict, a cancel stopping between steps (the grid resumes on the next submit)."""
    cells = plan(suite, [spec], dims_of([spec]))
    return run_grid(
        cells,
        out_dir,
        on_progress=lambda progress: context.report(asdict(progress)),
        should_stop=context.should_stop,
    )

"""The README's experiment-grid tables, from the shipped results (assets/results/quick and
full): each model's test NLL as mean ± standard deviation over seeds at the family's budget,
the flow's paired effect with the seed-noise verdict of
:func:`frmdn.experiments.grid_stats.noise_verdict`, and the K and rank sweeps of the full suite."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from frmdn.experiments.grid import EXTENSION, KINDS, SWEEP_K, SWEEP_KINDS, SWEEP_RANK
from frmdn.experiments.grid_stats import (
    PAIRS,
    RANK_PAIRS,
    budget_cells,
    noise_verdict,
    read_results,
)

RESULTS = Path(__file__).resolve().parents[1] / "assets" / "results" / "quick"
MINUS = "\u2212"
SHORT = {  # column titles
    "RMDN diagonal": "RMDN diag.",
    "RMDN low-rank": "RMDN low-rank",
    "RMDN full": "RMDN full",
    "FRMDN diagonal": "FRMDN diag.",
    "FRMDN low-rank": "FRMDN low-rank",
}


def rows(folder: Path = RESULTS, budget: bool = True) -> list[dict]:
    """A shipped results table, one dict per cell; only the cells at their family's budget
    unless ``budget`` is False (the sweeps)."""
    table = read_results(folder / "results.csv")
    return (budget_cells(table) if budget else table).to_dict("records")


def _spread(values: list[float], digits: int) -> str:
    mean = statistics.fmean(values)
    text = f"{mean:.{digits}f}".replace("-", MINUS)
    if len(values) > 1:
        text += f" ± {statistics.stdev(values):.{digits}f}"
    return text


def _data_sets(table: list[dict]) -> list[str]:
    return list(dict.fromkeys(row["data"] for row in table))


def _digits(unit: str) -> int:
    return 3 if unit in ("bits/dim", "nats/dim") else 2


def grid_nll(folder: Path = RESULTS) -> str:
    """Test NLL per data set and model: mean ± std over seeds (seeds in the first column)."""
    table = rows(folder)
    kinds = list(KINDS)
    header = [
        "data (unit, seeds)",
        *(SHORT.get(k, "FRMDN + LSTM state (extension)") for k in kinds),
    ]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * len(kinds)]
    for data in _data_sets(table):
        cells = [r for r in table if r["data"] == data]
        unit = cells[0]["unit"]
        seeds = len({r["seed"] for r in cells})
        values = []
        for kind in kinds:
            nll = [r["test_nll"] for r in cells if r["model"] == kind]
            values.append(_spread(nll, _digits(unit)) if nll else "—")
        lines.append(f"| {data} ({unit}, {seeds}) | " + " | ".join(values) + " |")
    return "\n" + "\n".join(lines) + "\n"


def grid_flow(folder: Path = RESULTS, pairs: dict[str, tuple[str, str]] = PAIRS) -> str:
    """A part's paired effect per data set (model − baseline per seed, for each of ``pairs``;
    by default the flow's, FRMDN − RMDN) and its verdict."""
    table = rows(folder)
    header = ["data (unit)"]
    for label, (model, baseline) in pairs.items():
        header += [f"{label}: {model} − {baseline}", "verdict"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|---|" * len(pairs)]
    for data in _data_sets(table):
        cells = [r for r in table if r["data"] == data]
        out = [f"{data} ({cells[0]['unit']})"]
        for model, baseline in pairs.values():
            ours = {r["seed"]: r["test_nll"] for r in cells if r["model"] == model}
            theirs = {r["seed"]: r["test_nll"] for r in cells if r["model"] == baseline}
            diffs = [ours[s] - theirs[s] for s in sorted(ours.keys() & theirs.keys())]
            if diffs:
                out += [_spread(diffs, _digits(cells[0]["unit"])), noise_verdict(diffs)]
            else:
                out += ["—", "—"]
        lines.append("| " + " | ".join(out) + " |")
    return "\n" + "\n".join(lines) + "\n"


def grid_run(folder: Path = RESULTS) -> str:
    """Prose: how a shipped grid was made (cells, minutes, workers) from its manifest."""
    manifest = json.loads((folder / "manifest.json").read_text())
    minutes = manifest["seconds"] / 60
    return (
        f"{manifest['finished']} cells in {minutes:.1f} minutes with "
        f"{manifest['workers']} worker processes"
    )


def grid_run_toy() -> str:
    """Prose: the quick grid on one toy set alone (assets/results/quick-toy-ring)."""
    return grid_run(RESULTS.parent / "quick-toy-ring")


FULL = RESULTS.parent / "full"


def grid_nll_full() -> str:
    """:func:`grid_nll` of the full suite (5 seeds everywhere)."""
    return grid_nll(FULL)


def grid_flow_full() -> str:
    """:func:`grid_flow` of the full suite."""
    return grid_flow(FULL)


def grid_run_full() -> str:
    """Prose: how the full suite was made."""
    return grid_run(FULL)


WORLDS = RESULTS.parent / "worlds"


def grid_nll_worlds() -> str:
    """:func:`grid_nll` of the World Models grid (3 seeds per world)."""
    return grid_nll(WORLDS)


def grid_flow_worlds() -> str:
    """:func:`grid_flow` of the World Models grid, with the extension's effect as well."""
    extension = {"flow reading the LSTM state (extension)": (EXTENSION, "RMDN low-rank")}
    return grid_flow(WORLDS, PAIRS | extension)


def grid_run_worlds() -> str:
    """Prose: how the World Models grid was made."""
    return grid_run(WORLDS)


VOICES = RESULTS.parent / "voices"


def grid_voices() -> str:
    """The voices grid per model kind: NLL on the training voices' held-out files (the valid
    part) and on the unseen voices (the test part), mean ± std over seeds, and the flow's
    paired effect on unseen voices with its verdict."""
    table = rows(VOICES)
    (data,) = _data_sets(table)
    unit = table[0]["unit"]
    lines = [
        f"| model ({unit}, {data}) | training voices, held-out files | unseen voices | seeds |",
        "|---|---:|---:|---:|",
    ]
    for kind in KINDS:
        cells = [r for r in table if r["model"] == kind]
        if cells:
            seen = _spread([r["valid_nll"] for r in cells], _digits(unit))
            unseen = _spread([r["test_nll"] for r in cells], _digits(unit))
            lines.append(f"| {kind} | {seen} | {unseen} | {len(cells)} |")
    lines.append("")
    lines.append("| the flow on unseen voices | FRMDN − RMDN | verdict |")
    lines.append("|---|---:|---|")
    for label, (model, baseline) in PAIRS.items():
        ours = {r["seed"]: r["test_nll"] for r in table if r["model"] == model}
        theirs = {r["seed"]: r["test_nll"] for r in table if r["model"] == baseline}
        diffs = [ours[s] - theirs[s] for s in sorted(ours.keys() & theirs.keys())]
        lines.append(f"| {label} | {_spread(diffs, _digits(unit))} | {noise_verdict(diffs)} |")
    return "\n" + "\n".join(lines) + "\n"


def voice_levers() -> str:
    """Each lever's paired effect against the low-rank RMDN on unseen voices and on the
    training voices' held-out files, and against the plain FRMDN on unseen voices
    (bench/results/voice_levers.json)."""
    results = json.loads((RESULTS.parents[2] / "bench/results/voice_levers.json").read_text())
    every = list(results["unseen_voices"])
    lines = [
        "| the FRMDN low-rank with | scored on | unseen voices: FRMDN − RMDN | verdict "
        "| training voices: FRMDN − RMDN | verdict | unseen: the lever's own effect | verdict |",
        "|---|---|---:|---|---:|---|---:|---|",
    ]
    for lever, r in results["levers"].items():
        voices = "every unseen voice" if r["scored_on"] == every else ", ".join(r["scored_on"])
        own = (
            "— | (the reference)"
            if r["own_verdict"] == "the reference"
            else f"{_spread(r['own_effect'], 3)} | {r['own_verdict']}"
        )
        lines.append(
            f"| {lever} | {voices} | {_spread(r['unseen_minus_rmdn'], 3)} | "
            f"{r['unseen_verdict']} | {_spread(r['seen_minus_rmdn'], 3)} | {r['seen_verdict']} "
            f"| {own} |"
        )
    return "\n" + "\n".join(lines) + "\n"


def grid_run_voices() -> str:
    """Prose: how the voices grid was made."""
    return grid_run(VOICES)


def grid_rank_full() -> str:
    """The low-rank precision's paired effect (low-rank − diagonal per seed) in the full suite,
    with the flow and without."""
    return grid_flow(FULL, RANK_PAIRS)


def _sweep(data: str, key: str, values: tuple[int, ...], fixed: tuple[str, int]) -> str:
    """Test NLL mean ± std over seeds 0-2 of the full suite's sweep of ``key`` over ``values``
    on ``data`` (``fixed``: the other setting and its value), low-rank RMDN vs FRMDN."""
    seeds = {0, 1, 2}
    cells = [r for r in rows(FULL, budget=False) if r["data"] == data and r["seed"] in seeds]
    unit = cells[0]["unit"]
    label = {"K": "K", "rank": "r"}
    lines = [f"| {data} ({unit}, {len(seeds)} seeds) | " + " | ".join(SWEEP_KINDS) + " |"]
    lines.append("|---|" + "---:|" * len(SWEEP_KINDS))
    for value in values:
        out = []
        for kind in SWEEP_KINDS:
            nll = [
                r["test_nll"]
                for r in cells
                if r["model"] == kind and r[key] == value and r[fixed[0]] == fixed[1]
            ]
            out.append(_spread(nll, _digits(unit)) if nll else "—")
        other = f"{label[fixed[0]]} = {fixed[1]}"
        lines.append(f"| {label[key]} = {value} ({other}) | " + " | ".join(out) + " |")
    return "\n" + "\n".join(lines) + "\n"


def _swept(key: str) -> dict:
    """The first budget row of the data set whose cells take the most values of ``key``."""
    table = rows(FULL, budget=False)
    counts = {
        data: len({r[key] for r in table if r["data"] == data and r["model"] in SWEEP_KINDS})
        for data in _data_sets(table)
    }
    data = max(counts, key=counts.get)  # the first of the most swept
    return next(r for r in rows(FULL) if r["data"] == data and r["model"] == SWEEP_KINDS[1])


def grid_sweep() -> str:
    """The full suite's K sweep, at its data set's budget rank."""
    base = _swept("K")
    return _sweep(base["data"], "K", SWEEP_K, ("rank", base["rank"]))


def grid_sweep_rank() -> str:
    """The full suite's rank sweep, at its data set's budget K."""
    base = _swept("rank")
    return _sweep(base["data"], "rank", SWEEP_RANK, ("K", base["K"]))

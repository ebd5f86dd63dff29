"""The README's experiment-grid tables, from the shipped results (assets/results/quick):
each model's test NLL as mean ± standard deviation over seeds, and the flow's paired effect
with the seed-noise verdict of :func:`frmdn.grid_stats.noise_verdict`."""

from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

from frmdn.grid import KINDS
from frmdn.grid_stats import PAIRS, noise_verdict

RESULTS = Path(__file__).resolve().parents[1] / "assets" / "results" / "quick"
MINUS = "\u2212"
SHORT = {  # column titles
    "RMDN diagonal": "RMDN diag.",
    "RMDN low-rank": "RMDN low-rank",
    "RMDN full": "RMDN full",
    "FRMDN diagonal": "FRMDN diag.",
    "FRMDN low-rank": "FRMDN low-rank",
}


def rows() -> list[dict]:
    """The shipped results table, one dict per cell (numbers as floats)."""
    with open(RESULTS / "results.csv", newline="") as file:
        table = list(csv.DictReader(file))
    for row in table:
        row["test_nll"], row["seed"] = float(row["test_nll"]), int(row["seed"])
    return table


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


def grid_nll() -> str:
    """Test NLL per data set and model: mean ± std over seeds (seeds in the first column)."""
    table = rows()
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


def grid_flow() -> str:
    """The flow's paired effect per data set (FRMDN − RMDN per seed) and its verdict."""
    table = rows()
    header = ["data (unit)"]
    for label in PAIRS:
        header += [f"{label}: FRMDN − RMDN", "verdict"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|---|" * len(PAIRS)]
    for data in _data_sets(table):
        cells = [r for r in table if r["data"] == data]
        out = [f"{data} ({cells[0]['unit']})"]
        for model, baseline in PAIRS.values():
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

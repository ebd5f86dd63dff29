"""What a results table of :mod:`frmdn.experiments.grid` says: per-model spread over seeds, the
paired FRMDN − RMDN difference and whether it is bigger than seed noise, and what each covariance
kind costs in numbers per step. Tables are pandas DataFrames (``frmdn[experiments]``)."""

from __future__ import annotations

import io
import math
from pathlib import Path
from typing import TYPE_CHECKING

from frmdn.experiments.grid import COLUMNS, FAMILY_BUDGETS, KINDS
from frmdn.models.config import ModelConfig
from frmdn.models.heads import mixture_head

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PAIRS",
    "RANK_PAIRS",
    "budget_cells",
    "difference_summary",
    "head_outputs",
    "noise_verdict",
    "paired_differences",
    "read_results",
    "summary",
]

PAIRS = {  # what the flow adds, at the same covariance kind
    "flow, low-rank precision": ("FRMDN low-rank", "RMDN low-rank"),
    "flow, diagonal": ("FRMDN diagonal", "RMDN diagonal"),
}
RANK_PAIRS = {  # what the low-rank precision adds, with and without the flow
    "rank, RMDN": ("RMDN low-rank", "RMDN diagonal"),
    "rank, FRMDN": ("FRMDN low-rank", "FRMDN diagonal"),
}
NOISE_SE = 2.0  # a mean difference within this many standard errors of 0 is seed noise
REQUIRED = ("data", "model", "seed", "test_nll", "unit")
NUMBERS = tuple(
    c
    for c in COLUMNS
    if c not in ("data", "model", "extension", "flow", "covariance", "device", "unit")
)
MAX_RESULTS_BYTES = 20_000_000


def read_results(source: str | Path | bytes) -> pd.DataFrame:
    """A results table from a CSV file or its bytes: at most ``MAX_RESULTS_BYTES``, parsed as
    CSV only (never unpickled), with the columns the views need (a clear ValueError
    otherwise), rows without a data set or model dropped, labels as text and numbers numeric
    (an unreadable number becomes NaN)."""
    import pandas as pd

    size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
    if size > MAX_RESULTS_BYTES:
        raise ValueError(f"larger than {MAX_RESULTS_BYTES:,} bytes")
    try:
        table = pd.read_csv(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise ValueError(f"not a results CSV: {error}") from None
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        raise ValueError(f"not a results table of the grid: no column {', '.join(missing)}")
    table = table.dropna(subset=["data", "model"]).reset_index(drop=True)
    for column in ("data", "model", "unit"):
        table[column] = table[column].astype(str)
    for column in NUMBERS:
        if column in table:
            table[column] = pd.to_numeric(table[column], errors="coerce")
    return table


def budget_cells(table: pd.DataFrame) -> pd.DataFrame:
    """The rows at their family's budget K and rank
    (:data:`frmdn.experiments.grid.FAMILY_BUDGETS`): the
    main comparison, without the K and rank sweeps of the full suite. A data set with no row
    at the budget (a grid run with other settings) keeps all its rows."""

    def at_budget(row: pd.Series) -> bool:
        budget = FAMILY_BUDGETS.get(str(row["data"]).partition(":")[0])
        if budget is None:
            return True
        rank = KINDS.get(row["model"], {}).get("rank", budget["rank"])
        return row["K"] == budget["K"] and row["rank"] == rank

    if table.empty or not {"K", "rank"} <= set(table.columns):
        return table
    keep = table.apply(at_budget, axis=1)
    keep |= ~keep.groupby(table["data"]).transform("any")
    return table[keep]


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per data set, model, K and rank: seeds, mean, standard deviation (n − 1; NaN for one
    seed), minimum and maximum test NLL, mean parameters and the unit; in the table's order."""
    keys = ["data", "model", *(k for k in ("K", "rank") if k in table.columns)]
    grouped = table.groupby(keys, sort=False)
    out = grouped["test_nll"].agg(["count", "mean", "std", "min", "max"])
    out = out.rename(columns={"count": "seeds"})
    if "parameters" in table:
        out["parameters"] = grouped["parameters"].mean()
    out["unit"] = grouped["unit"].first()
    return out.reset_index()


def paired_differences(table: pd.DataFrame, model: str, baseline: str) -> pd.DataFrame:
    """``model`` − ``baseline`` test NLL per data set and seed (negative: ``model`` better),
    for the seeds both have; columns data, seed, difference, unit."""
    keys = ["data", "seed"]
    table = budget_cells(table)
    ours = table[table["model"] == model][[*keys, "test_nll", "unit"]]
    theirs = table[table["model"] == baseline][[*keys, "test_nll"]]
    merged = ours.merge(theirs, on=keys, suffixes=("", "_baseline"))
    merged["difference"] = merged["test_nll"] - merged["test_nll_baseline"]
    return merged[[*keys, "difference", "unit"]].reset_index(drop=True)


def noise_verdict(differences: list[float]) -> str:
    """A plain sentence on whether paired differences (one per seed) stand out from seed
    noise: their mean against ``NOISE_SE`` standard errors."""
    n = len(differences)
    if n == 0:
        return "no paired seeds"
    mean = sum(differences) / n
    if n == 1:
        return "one seed only: the spread over seeds is unknown"
    spread = math.sqrt(sum((x - mean) ** 2 for x in differences) / (n - 1))
    standard_error = spread / math.sqrt(n)
    if abs(mean) <= NOISE_SE * standard_error:
        return f"within seed noise (the mean is within {NOISE_SE:g} standard errors of 0)"
    better = "better" if mean < 0 else "worse"
    return (
        f"{better} beyond seed noise (every seed agrees)"
        if all((x < 0) == (mean < 0) for x in differences)
        else f"{better} beyond seed noise on average"
    )


def difference_summary(table: pd.DataFrame, model: str, baseline: str) -> pd.DataFrame:
    """Per data set: paired seeds, mean and standard deviation of ``model`` − ``baseline``,
    and :func:`noise_verdict`."""
    import pandas as pd

    rows = []
    for data, group in paired_differences(table, model, baseline).groupby("data", sort=False):
        values = group["difference"].tolist()
        rows.append(
            {
                "data": data,
                "seeds": len(values),
                "mean difference": sum(values) / len(values),
                "std": group["difference"].std() if len(values) > 1 else math.nan,
                "unit": group["unit"].iloc[0],
                "verdict": noise_verdict(values),
            }
        )
    return pd.DataFrame(
        rows, columns=["data", "seeds", "mean difference", "std", "unit", "verdict"]
    )


def head_outputs(dim: int, n_components: int, rank: int, covariance: str) -> int:
    """Numbers the mixture head emits per step for targets of size ``dim``: K(1 + 2d) for a
    diagonal precision, K(1 + d(2 + r)) for a rank-r one, K(1 + d + d(d+1)/2) for a full
    covariance (the model's own head, so the counts cannot drift from it)."""
    config = ModelConfig(dim, n_components, rank=rank, covariance=covariance)
    return mixture_head(config).out_features

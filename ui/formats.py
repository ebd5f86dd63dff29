"""One number format for every table of the app: scores to 3 decimals, counts with thousands
separators, seconds to a tenth, missing values as a dash."""

from __future__ import annotations

import math
from collections.abc import Iterable

import pandas as pd
from pandas.io.formats.style import Styler

__all__ = ["SCORE", "negative_nll_note", "number_style"]

SCORE = "{:.3f}"  # NLLs, bits/dim, differences
COUNT = "{:,.0f}"  # parameters, steps
SECONDS = "{:.1f}"


def _format(column: str) -> str | None:
    name = column.lower()
    if "parameters" in name or name in ("steps", "best_step", "seeds"):
        return COUNT
    if "(s)" in name or "seconds" in name:
        return SECONDS
    if "nll" in name or "bits" in name or "difference" in name:
        return SCORE
    return None


def number_style(table: pd.DataFrame) -> Styler:
    """``table`` styled with the app's formats, chosen by each column's name."""
    formats = {c: f for c in table.columns if (f := _format(str(c))) is not None}
    return table.style.format(formats, na_rep="–")


def negative_nll_note(nlls: Iterable[float]) -> str:
    """A sentence on why an NLL can be below zero when one of ``nlls`` is, else ""."""
    if not any(value < 0 for value in nlls if math.isfinite(value)):
        return ""
    return (
        " An NLL below zero is no error: a density, unlike a probability, can exceed 1 where "
        "a model is sure of the next value."
    )

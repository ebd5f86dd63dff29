"""The app's one number format."""

import math

import pandas as pd

from ui.formats import negative_nll_note, number_style


def test_scores_counts_and_seconds_each_get_their_format():
    table = pd.DataFrame(
        {
            "held-out NLL (nats/step)": [2.50812, math.nan],
            "test bits/dim": [1.23456, 2.0],
            "parameters": [18903, 166437],
            "training time (s)": [10.74, 3.0],
            "model": ["RMDN", "FRMDN"],
        }
    )
    text = number_style(table).to_string()
    for shown in ("2.508", "1.235", "18,903", "166,437", "10.7", "–", "RMDN"):
        assert shown in text, (shown, text)
    assert "18903" not in text and "2.50812" not in text


def test_a_negative_nll_gets_one_sentence_on_why() -> None:
    assert negative_nll_note([2.5, 1.2]) == ""
    assert negative_nll_note([2.5, float("nan")]) == ""
    assert "a density, unlike a probability, can exceed 1" in negative_nll_note([0.4, -249.2])

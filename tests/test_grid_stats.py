"""The grid's statistics against hand-computed values."""

import math

import pandas as pd
import pytest

from frmdn.experiments.grid_stats import (
    budget_cells,
    difference_summary,
    head_outputs,
    noise_verdict,
    paired_differences,
    read_results,
    summary,
)


def _table() -> pd.DataFrame:
    rows = []
    for seed, (rmdn, frmdn) in enumerate([(2.0, 1.0), (2.2, 1.1), (2.1, 1.3)]):
        rows += [
            {"data": "toy:ring", "model": "RMDN low-rank", "seed": seed, "test_nll": rmdn},
            {"data": "toy:ring", "model": "FRMDN low-rank", "seed": seed, "test_nll": frmdn},
        ]
    rows.append({"data": "toy:moons", "model": "RMDN low-rank", "seed": 0, "test_nll": 1.0})
    rows.append({"data": "toy:moons", "model": "FRMDN low-rank", "seed": 0, "test_nll": 1.5})
    table = pd.DataFrame(rows)
    table["unit"], table["parameters"] = "nats/step", 100
    return table


def test_summary_gives_the_spread_over_seeds():
    out = summary(_table()).set_index(["data", "model"])
    ring = out.loc[("toy:ring", "FRMDN low-rank")]
    assert ring["seeds"] == 3 and ring["mean"] == pytest.approx(3.4 / 3)
    assert ring["std"] == pytest.approx(
        math.sqrt(((1.0 - 3.4 / 3) ** 2 + (1.1 - 3.4 / 3) ** 2 + (1.3 - 3.4 / 3) ** 2) / 2)
    )
    assert (ring["min"], ring["max"]) == (1.0, 1.3)
    assert math.isnan(out.loc[("toy:moons", "RMDN low-rank"), "std"])


def test_paired_differences_pair_by_data_set_and_seed():
    diffs = paired_differences(_table(), "FRMDN low-rank", "RMDN low-rank")
    ring = diffs[diffs["data"] == "toy:ring"]
    assert ring["difference"].tolist() == pytest.approx([-1.0, -1.1, -0.8])
    assert diffs[diffs["data"] == "toy:moons"]["difference"].tolist() == pytest.approx([0.5])


def test_the_verdict_compares_the_mean_with_two_standard_errors():
    assert noise_verdict([]) == "no paired seeds"
    assert noise_verdict([-1.0]).startswith("one seed only")
    assert noise_verdict([-1.0, -1.1, -0.8]) == "better beyond seed noise (every seed agrees)"
    assert noise_verdict([0.3, -0.2, 0.1, -0.25]).startswith("within seed noise")
    summary_table = difference_summary(_table(), "FRMDN low-rank", "RMDN low-rank")
    assert summary_table.set_index("data").loc["toy:ring", "seeds"] == 3


@pytest.mark.parametrize(
    ("d", "K", "rank", "covariance", "expected"),
    [
        (4, 3, 0, "low-rank", 3 * (1 + 8)),
        (4, 3, 2, "low-rank", 3 * (1 + 16)),
        (4, 3, 0, "full", 3 * (1 + 4 + 10)),
    ],
)
def test_head_outputs_count_the_numbers_of_each_covariance_kind(d, K, rank, covariance, expected):
    assert head_outputs(d, K, rank, covariance) == expected


def test_read_results_refuses_what_is_not_a_results_table(tmp_path, monkeypatch):
    good = _table().to_csv(index=False).encode()
    assert len(read_results(good)) == 8
    (tmp_path / "results.csv").write_bytes(good.replace(b"toy:moons,FRMDN", b",FRMDN"))
    table = read_results(tmp_path / "results.csv")
    assert len(table) == 7 and table["data"].map(type).eq(str).all()  # no data set: dropped
    with pytest.raises(ValueError, match="no column"):
        read_results(b"a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a results CSV|no column"):
        read_results(b"\xff\xfe\x00\x01garbage")
    monkeypatch.setattr("frmdn.experiments.grid_stats.MAX_RESULTS_BYTES", 10)
    with pytest.raises(ValueError, match="larger than"):
        read_results(good)


def test_budget_cells_leave_out_the_sweeps():
    base = {"data": "toy:ring", "seed": 0, "test_nll": 1.0, "unit": "nats/step"}
    table = pd.DataFrame(
        [
            base | {"model": "FRMDN low-rank", "K": 3, "rank": 1},  # the toy budget
            base | {"model": "FRMDN low-rank", "K": 8, "rank": 1},  # K sweep
            base | {"model": "FRMDN low-rank", "K": 3, "rank": 4},  # rank sweep
            base | {"model": "FRMDN diagonal", "K": 3, "rank": 0},  # diagonal: rank 0
        ]
    )
    kept = budget_cells(table)
    assert kept[["model", "K", "rank"]].values.tolist() == [
        ["FRMDN low-rank", 3, 1],
        ["FRMDN diagonal", 3, 0],
    ]
    assert len(summary(table)) == 4  # K and rank are part of the grouping

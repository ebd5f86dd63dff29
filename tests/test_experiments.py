"""Tests for ``frmdn.experiments.pair``: paired RMDN/FRMDN training, checkpoints and the table."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from frmdn import FRMDN, RMDN
from frmdn.checkpoints.load import load, read_metadata
from frmdn.experiments.pair import build_pair, compare, markdown_table
from frmdn.training.trainer import TrainConfig


def test_build_pair_gives_equal_mixtures_and_an_extra_flow() -> None:
    pair = build_pair(2, seed=0, n_components=3, rank=1, hidden_size=8, flow_layers=2)
    assert isinstance(pair["RMDN"], RMDN) and isinstance(pair["FRMDN"], FRMDN)
    sizes = {name: model.num_parameters() for name, model in pair.items()}
    assert sizes["RMDN"]["head"] == sizes["FRMDN"]["head"]
    assert sizes["RMDN"]["flow"] == 0 < sizes["FRMDN"]["flow"]


def test_compare_trains_scores_and_saves_each_pair(tmp_path: Path) -> None:
    specs = ["toy:ring?n_train=32&n_valid=8&n_test=8&length=8", "toy:moons?n_train=32&length=8"]
    config = TrainConfig(steps=4, batch_size=8, eval_every=2, seed=0, device="cpu")
    seen = []
    rows = compare(
        specs, config, out_dir=tmp_path, on_row=seen.append, hidden_size=8, flow_layers=2
    )
    assert seen == rows
    assert [(r.data, r.model) for r in rows] == [
        (specs[0], "RMDN"), (specs[0], "FRMDN"), (specs[1], "RMDN"), (specs[1], "FRMDN"),
    ]  # fmt: skip
    assert all(math.isfinite(r.test_nll) and r.steps == 4 for r in rows)
    # the options stay in the recorded spec, not in the directory name
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["toy-moons-frmdn", "toy-moons-rmdn", "toy-ring-frmdn", "toy-ring-rmdn"]
    meta = read_metadata(tmp_path / "toy-ring-frmdn")
    assert meta["data"]["spec"] == specs[0] and meta["data"]["sizes"]["train"] == 32
    assert meta["metrics"]["test_nll"] == pytest.approx(rows[1].test_nll)
    assert isinstance(load(tmp_path / "toy-ring-frmdn"), FRMDN)

    table = markdown_table(rows).splitlines()
    assert len(table) == 2 + len(rows)
    gain = rows[0].test_nll - rows[1].test_nll
    assert f"| {specs[0]} | FRMDN |" in table[3] and f"{gain:+.3f}" in table[3]
    assert f"| {specs[0]} | RMDN |" in table[2] and "|  |" in table[2]

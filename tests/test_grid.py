"""The experiment grid: its plan, and a tiny grid killed mid-way that resumes to the same table."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from frmdn.experiments import grid
from frmdn.experiments.grid import COLUMNS, EXTENSION, KINDS, Cell, plan, run_grid

ROOT = Path(__file__).resolve().parents[1]
TINY = "toy:ring?n_train=64&n_valid=16&n_test=16&length=12"
VARYING = ["train_seconds"]  # wall-clock time is the one column a resumed run may change


def _tiny_cells() -> list[Cell]:
    cells = plan("quick", [TINY], {TINY: 2})
    pick = [c for c in cells if c.seed == 0 and c.kind in ("RMDN low-rank", "FRMDN low-rank")]
    return [replace(c, steps=60, batch_size=8, hidden=8) for c in pick]


def test_the_quick_plan_has_every_kind_over_three_seeds_on_toy_sets_and_one_elsewhere():
    dims = {"toy:ring": 2, "images:digits": 28, "audio:speech": 80, "toy:x1": 1}
    cells = plan("quick", list(dims), dims)
    by_data = {spec: [c for c in cells if c.data == spec] for spec in dims}
    assert len(by_data["toy:ring"]) == 3 * len(KINDS)
    assert {c.seed for c in by_data["images:digits"]} == {0}
    assert {c.kind for c in by_data["images:digits"]} == set(KINDS)  # d = 28: full fits
    assert "RMDN full" not in {c.kind for c in by_data["audio:speech"]}  # d = 80 > 32
    assert EXTENSION not in {c.kind for c in by_data["toy:x1"]}  # d = 1: no coupling
    assert all(c.rank == 0 for c in cells if "diagonal" in c.kind or "full" in c.kind)
    assert len({c.name for c in cells}) == len(cells)


def test_the_full_plan_adds_k_and_rank_sweeps_on_the_first_set_without_repeats():
    dims = {"toy:moons": 2, "toy:ring": 2}
    cells = plan("full", list(dims), dims)
    assert len(cells) == len(set(cells))
    moons = [c for c in cells if c.data == "toy:moons" and c.kind == "FRMDN low-rank"]
    assert {c.K for c in moons} == {1, 2, 3, 5, 8} and {c.rank for c in moons} == {0, 1, 2, 4, 8}
    assert {c.K for c in cells if c.data == "toy:ring"} == {3}
    assert {c.seed for c in cells if c.data == "toy:ring"} == set(range(5))
    with pytest.raises(ValueError, match="suite"):
        plan("huge", ["toy:ring"], {"toy:ring": 2})


def test_the_full_plan_sweeps_the_rank_on_the_first_wide_set():
    dims = {"toy:ring": 2, "images:digits": 28, "frames:moving-digits": 32}
    cells = plan("full", list(dims), dims)
    assert len(cells) == len(set(cells))
    for kind in ("RMDN low-rank", "FRMDN low-rank"):
        digits = [c for c in cells if c.data == "images:digits" and c.kind == kind]
        assert {c.rank for c in digits if c.seed < 3} == {0, 1, 2, 4, 8}
        assert {c.K for c in digits} == {5}  # the family's budget K, no K sweep here
        ring = [c for c in cells if c.data == "toy:ring" and c.kind == kind]
        assert {c.K for c in ring} == {1, 2, 3, 5, 8} and {c.rank for c in ring} == {1}
    assert {c.rank for c in cells if c.data == "frames:moving-digits"} == {0, 2}


def _comparable(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=VARYING).reset_index(drop=True)


@pytest.mark.slow
def test_a_grid_killed_mid_cell_resumes_to_the_same_table(tmp_path):
    cells = _tiny_cells()
    whole = run_grid(cells, tmp_path / "whole")
    assert len(whole) == 2
    reference = pd.read_csv(tmp_path / "whole" / "results.csv")
    assert list(reference.columns) == list(COLUMNS)
    assert (reference["unit"] == "nats/step").all() and reference["test_nll"].notna().all()
    assert pd.read_parquet(tmp_path / "whole" / "results.parquet").shape == reference.shape

    out = tmp_path / "killed"
    script = (
        "import sys; from frmdn.device import set_threads; set_threads(1); "
        "from tests.test_grid import _tiny_cells; from frmdn.experiments.grid import run_grid; "
        f"run_grid(_tiny_cells(), {str(out)!r})"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, env=os.environ | {"OMP_NUM_THREADS": "1"}
    )
    second = out / "cells" / cells[1].name / "training.json"
    deadline = time.monotonic() + 120
    while not second.is_file() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert second.is_file(), "the kill should land while the second cell trains"
    assert (out / "results.csv").is_file()  # the first cell's row was already written
    assert len(pd.read_csv(out / "results.csv")) == 1

    stops = iter([False, False, True])  # the in-process Stop: after one more chunk
    stopped = run_grid(cells, out, should_stop=lambda: next(stops, True))
    assert [r["test_nll"] for r in stopped] == [whole[0]["test_nll"]]
    assert (out / "cells" / cells[1].name / "training.json").is_file()  # still resumable
    resumed = run_grid(cells, out)
    table = pd.read_csv(out / "results.csv")
    pd.testing.assert_frame_equal(_comparable(table), _comparable(reference))
    assert [r["test_nll"] for r in resumed] == [r["test_nll"] for r in whole]


def test_the_smoke_plan_trains_every_kind_once_for_a_few_steps():
    cells = plan("smoke", ["toy:ring"], {"toy:ring": 2})
    assert [c.kind for c in cells] == list(KINDS)
    assert {(c.seed, c.steps, c.hidden) for c in cells} == {(0, 30, 16)}


def test_a_finished_cell_is_read_back_from_its_row_not_scored_again(tmp_path, monkeypatch):
    cell = replace(_tiny_cells()[0], steps=4)
    (first,) = run_grid([cell], tmp_path)
    saved = tmp_path / "cells" / cell.name / grid.ROW_FILE
    assert json.loads(saved.read_text()) == first

    def no_scoring(*args: object) -> None:
        raise AssertionError("a finished cell was scored again")

    monkeypatch.setattr(grid, "_scores", no_scoring)
    monkeypatch.setattr(grid, "_split", no_scoring)
    assert run_grid([cell], tmp_path) == [first]
    monkeypatch.undo()
    saved.write_text("{not json")  # a damaged row is scored again and rewritten
    assert run_grid([cell], tmp_path)[0]["test_nll"] == pytest.approx(first["test_nll"])
    assert json.loads(saved.read_text())["test_nll"] == pytest.approx(first["test_nll"])


def test_world_models_rollouts_are_a_family_of_their_own() -> None:
    from frmdn.data.worlds import WORLDS
    from frmdn.experiments import grid

    assert set(grid.WORLD_NAMES) == set(WORLDS)
    cells = grid.plan(
        "quick", ["frames:car-racing?rollouts=8"], {"frames:car-racing?rollouts=8": 32}
    )
    budget = grid.FAMILY_BUDGETS["worlds"]
    assert {(c.K, c.hidden, c.steps) for c in cells} == {
        (budget["K"], budget["hidden"], budget["steps"])
    }
    assert {c.seed for c in cells} == {0, 1, 2}  # the flow's effect against seed noise
    assert grid._family("frames:moving-digits") == "frames"


def test_a_corpus_of_voices_is_a_family_of_its_own_over_three_quick_seeds() -> None:
    from frmdn.experiments import grid

    assert grid._family("audio:assets/voices?emphasis=0.9") == "voices"
    assert grid._family("audio:assets/speech") == "audio"  # one voice, no manifest
    assert grid._family("audio:/no/such/folder") == "audio"
    cells = grid.plan("quick", ["audio:assets/voices"], {"audio:assets/voices": 80})
    assert {c.seed for c in cells} == {0, 1, 2}
    assert {c.steps for c in cells} == {grid.FAMILY_BUDGETS["voices"]["steps"]}

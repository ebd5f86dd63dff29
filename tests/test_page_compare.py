"""AppTest of the Compare page: a results table as the shipped source, uploads, filters, and
an in-page grid run (its job function swapped for a fast fake that behaves like grid_job)."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from apptest_pages import button, open_page
from streamlit.testing.v1 import AppTest

from frmdn.experiments import grid
from frmdn.experiments.grid import EXTENSION, FAMILY_BUDGETS, KINDS, GridProgress

PAGE = "pages/compare.py"
NLL = {  # a toy:ring-like table: the flow gains about 1.3 nats/step
    "RMDN diagonal": 2.9,
    "RMDN low-rank": 2.6,
    "RMDN full": 2.6,
    "FRMDN diagonal": 1.4,
    "FRMDN low-rank": 1.3,
    EXTENSION: 1.35,
}
FAKE_CELL_SECONDS = 0.15

pytestmark = pytest.mark.usefixtures("clear_streamlit_caches")


def result_rows(data: str, unit: str, seeds: int, scale: float = 1.0) -> list[dict]:
    """Rows of grid.COLUMNS for every kind and seed at the family's budget, with a little
    seed noise."""
    rng = np.random.default_rng(len(data))
    budget = FAMILY_BUDGETS[data.partition(":")[0]]
    return [
        {
            "data": data,
            "model": kind,
            "extension": kind == EXTENSION,
            "flow": "realnvp" if kind.startswith("FRMDN") else "none",
            "covariance": KINDS[kind].get("covariance", "low-rank"),
            "K": budget["K"],
            "rank": KINDS[kind].get("rank", budget["rank"]),
            "hidden": budget["hidden"],
            "seed": seed,
            "parameters": 18_000 + 500 * index,
            "steps": 600,
            "best_step": 600,
            "train_seconds": 5.0,
            "device": "cpu",
            "valid_nll": scale * nll + 0.01,
            "test_nll": scale * nll + 0.05 * rng.standard_normal(),
            "unit": unit,
        }
        for seed in range(seeds)
        for index, (kind, nll) in enumerate(NLL.items())
    ]


def small_results() -> pd.DataFrame:
    """toy:ring over 3 seeds (nats/step) and images:digits on 1 seed (bits/dim)."""
    rows = result_rows("toy:ring", "nats/step", 3)
    rows += result_rows("images:digits", "bits/dim", 1, scale=0.5)
    return grid.results_table(rows)


def write_small_results(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    small_results().to_csv(folder / "results.csv", index=False)
    return folder / "results.csv"


def fake_grid_job(context, suite: str, spec: str, out_dir: str) -> list[dict]:
    """grid_job's contract in a second: GridProgress dicts, results.csv after every cell, a
    stop between cells, the finished rows returned."""
    rows = result_rows(spec, "nats/step", 2)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    done: list[dict] = []
    for index, row in enumerate(rows):
        if context.should_stop():
            break
        name = f"{spec}/{row['model']}-s{row['seed']}"
        context.report(asdict(GridProgress(index, len(rows), name, 5, 10)))
        time.sleep(FAKE_CELL_SECONDS)
        done.append(row)
        grid.results_table(done).to_csv(Path(out_dir) / "results.csv", index=False)
        context.report(asdict(GridProgress(index + 1, len(rows), name, 10, 10)))
    return done


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small results table as the shipped results, and a private cache folder."""
    monkeypatch.setenv("FRMDN_RESULTS", str(write_small_results(tmp_path / "shipped")))
    monkeypatch.setenv("FRMDN_CACHE", str(tmp_path / "cache"))
    return tmp_path


def open_compare() -> AppTest:
    return open_page(PAGE, timeout=60)


def texts(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def charts(at: AppTest) -> list:
    return at.get("plotly_chart")


def test_renders_the_shipped_results(shipped: Path) -> None:
    at = open_compare()
    assert not at.error, [e.value for e in at.error]
    summary = at.dataframe[0].value
    assert len(summary) == 12 and {"mean", "std", "seeds", "parameters", "unit"} <= set(summary)
    ring = summary[summary["data"] == "toy:ring"]
    assert list(ring["model"]) == list(KINDS)
    sentences = texts(at)
    assert "On `toy:ring`, FRMDN low-rank vs RMDN low-rank: the flow improves test NLL by" in (
        sentences
    )
    assert "nats/step over 3 seeds: **beyond seed noise" in sentences
    assert (
        "On `toy:ring`, RMDN low-rank vs RMDN diagonal: the low-rank precision improves test "
        "NLL by" in sentences
    )
    assert "on a single seed; the spread over seeds is unknown" in sentences  # digits, 1 seed
    # per data set: strip and paired plots; parameters vs NLL; head sizes
    assert len(charts(at)) == 2 * 2 + 2
    assert [t.label for t in at.tabs] == ["toy:ring", "images:digits"]
    assert any(b.label == "Download these rows (CSV)" for b in at.get("download_button"))


def test_missing_shipped_results_say_so_and_the_page_carries_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRMDN_RESULTS", str(tmp_path / "nowhere" / "results.csv"))
    at = open_compare()
    assert not at.error
    assert any("shipped results are not here yet" in i.value for i in at.info)
    assert len(charts(at)) == 1  # the head sizes need no table
    assert any(b.label == "Run" for b in at.button)


def test_a_corrupt_upload_is_an_error_and_the_page_carries_on(shipped: Path) -> None:
    at = open_compare()
    at.radio(key="compare_source").set_value("Upload a results CSV").run()
    assert any("Upload the results.csv" in i.value for i in at.info)
    corrupt = b"\x00\x01PK\x03\x04 not,a\nresults,table\n"
    at.file_uploader(key="compare_upload").set_value(("broken.csv", corrupt, "text/csv")).run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        "Cannot use broken.csv: not a results table of the grid: no column data, model, "
        "seed, test_nll, unit"
    ]
    assert len(charts(at)) == 1 and any(b.label == "Run" for b in at.button)  # carries on
    good = write_small_results(shipped / "good").read_bytes()
    at.file_uploader(key="compare_upload").set_value(("mine.csv", good, "text/csv")).run()
    assert not at.error and len(at.dataframe[0].value) == 12


def test_a_run_directory_without_results_is_a_clear_error(shipped: Path) -> None:
    at = open_compare()
    at.radio(key="compare_source").set_value("A run directory on this server").run()
    at.text_input(key="compare_dir").input(str(shipped)).run()
    assert any("No results.csv in" in e.value for e in at.error)
    at.text_input(key="compare_dir").input(str(shipped / "shipped")).run()
    assert not at.error
    assert len(at.dataframe[0].value) == 12


def test_filters_change_what_is_shown(shipped: Path) -> None:
    at = open_compare()
    data = next(m for m in at.button_group if m.label == "Data sets")
    data.set_value(["images:digits"]).run()
    assert set(at.dataframe[0].value["data"]) == {"images:digits"}
    assert [t.label for t in at.tabs] == ["images:digits"]
    at.checkbox(key="compare_extension").uncheck().run()
    assert EXTENSION not in set(at.dataframe[0].value["model"])
    models = next(m for m in at.button_group if m.label == "Models")
    models.set_value([]).run()
    assert any("Nothing is left after the filters" in w.value for w in at.warning)
    assert not at.error


def wait_for_grid(at: AppTest, timeout: float = 60) -> AppTest:
    """Rerun (one poll each: AppTest cannot run the fragment's timer) until the run is over."""
    deadline = time.monotonic() + timeout
    while True:
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        run = at.session_state["compare_grid"]
        if run["job"] is None:
            return at
        assert time.monotonic() < deadline, "the grid job did not finish in time"
        time.sleep(0.2)


def test_an_in_page_run_shows_progress_and_becomes_a_source(
    shipped: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(grid, "grid_job", fake_grid_job)
    at = open_compare()
    at.selectbox(key="compare_run_data").set_value("toy:moons").run()
    button(at, "Run").click().run()
    run = at.session_state["compare_grid"]
    assert Path(run["out_dir"]).parent == shipped / "cache" / "grids"
    assert button(at, "Run").disabled and not button(at, "Stop").disabled
    wait_for_grid(at)
    assert not at.error
    assert any("Finished all 12 cells on `toy:moons`" in s.value for s in at.success)
    assert at.radio(key="compare_source").value == "My in-page run"
    summary = at.dataframe[0].value
    assert set(summary["data"]) == {"toy:moons"} and set(summary["seeds"]) == {2}
    # a run on another data set: its table replaces the source once it has one
    at.selectbox(key="compare_run_data").set_value("toy:spiral").run()
    button(at, "Run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    wait_for_grid(at)
    assert set(at.dataframe[0].value["data"]) == {"toy:spiral"}


def test_stop_keeps_the_finished_cells(shipped: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grid, "grid_job", fake_grid_job)
    at = open_compare()
    button(at, "Run").click().run()
    job = at.session_state["compare_grid"]["job"]
    deadline = time.monotonic() + 60
    while not job.progress or job.progress["cells_done"] < 2:
        assert time.monotonic() < deadline, "the fake grid reported no progress"
        time.sleep(0.05)
    at.run()
    assert any("cells done" in p.proto.text for p in at.get("progress"))
    button(at, "Stop").click().run()
    assert not at.error
    stopped = " ".join(i.value for i in at.info)
    assert "Stopped after" in stopped and "of 12 cells" in stopped, stopped
    assert at.radio(key="compare_source").value == "Shipped results"  # stays on what it showed
    at.radio(key="compare_source").set_value("My in-page run").run()
    kept = len(pd.read_csv(Path(at.session_state["compare_grid"]["out_dir"]) / "results.csv"))
    assert 2 <= kept < 12 and at.dataframe[0].value["seeds"].sum() == kept
    button(at, "Run").click().run()  # continues: the fake starts over, the real grid resumes
    wait_for_grid(at)
    assert any("Finished all 12 cells" in s.value for s in at.success)


ODD_TABLES = {
    "header only": "data,model,seed,test_nll,unit\n",
    "text in numbers": "data,model,seed,test_nll,unit,parameters\n"
    "toy:ring,RMDN low-rank,0,oops,nats/step,many\ntoy:ring,FRMDN low-rank,0,1.2,nats/step,x\n",
    "no pairs, no parameters": "data,model,seed,test_nll,unit\ntoy:ring,RMDN full,0,2.5,x\n",
    "unknown model, blanks": "data,model,seed,test_nll,unit\n,RMDN full,0,2.5,\nx:y,Mine,a,1,\n",
}


@pytest.mark.parametrize("name", ODD_TABLES)
def test_odd_but_readable_tables_do_not_break_the_page(shipped: Path, name: str) -> None:
    at = open_compare()
    at.radio(key="compare_source").set_value("Upload a results CSV").run()
    upload = ("odd.csv", ODD_TABLES[name].encode(), "text/csv")
    at.file_uploader(key="compare_upload").set_value(upload).run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert any(b.label == "Run" for b in at.button)


@pytest.mark.slow
def test_a_real_smoke_grid_runs_in_the_page_and_its_table_is_shown(shipped: Path) -> None:
    """The real grid_job in the server's worker: every kind on toy:ring, 30 steps each."""
    at = open_compare()
    labels = list(at.radio(key="compare_run_suite").options)
    at.radio(key="compare_run_suite").set_value(next(x for x in labels if "Smoke" in x)).run()
    at.selectbox(key="compare_run_data").set_value("toy:ring").run()
    button(at, "Run").click().run()
    assert Path(at.session_state["compare_grid"]["out_dir"]).name == "smoke-toy-ring"
    wait_for_grid(at, timeout=180)
    assert not at.error, [e.value for e in at.error]
    assert any(f"Finished all {len(KINDS)} cells on `toy:ring`" in s.value for s in at.success)
    summary = at.dataframe[0].value
    assert list(summary["model"]) == list(KINDS) and set(summary["seeds"]) == {1}
    assert summary["mean"].notna().all()


def test_the_bundled_results_show_the_world_models_and_voices_grids_beside_the_full_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("FRMDN_RESULTS", raising=False)
    at = open_compare()
    assert not at.error, [e.value for e in at.error]
    grids = "full grid, the World Models grid and the voices grid"
    assert any(grids in c.value for c in at.caption), [c.value for c in at.caption]
    summary = at.dataframe[0].value
    for data in ("frames:car-racing", "frames:doom-take-cover"):
        rows = summary[summary["data"] == f"{data}?rollouts=256&length=64"]
        assert len(rows) >= 5 and set(rows["seeds"]) == {3}, rows
    voices = summary[summary["data"] == "audio:assets/voices"]
    assert len(voices) == 5 and set(voices["seeds"]) == {3}, voices
    assert "toy:ring" in set(summary["data"])

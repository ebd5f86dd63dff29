"""Compare: the experiment grid's results seed by seed: how much of the FRMDN's gain comes from
the flow, and whether it stands out from seed noise.

Layout only: statistics come from :mod:`frmdn.experiments.grid_stats`, figures from
:mod:`frmdn.plots.compare`, and in-page runs are :func:`frmdn.experiments.grid.grid_job` jobs of
the server's job runner.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pandas as pd
import streamlit as st

from frmdn import plots
from frmdn.experiments import grid_stats
from frmdn.experiments.grid import EXTENSION, KINDS
from frmdn.resources import data_dir
from ui import links
from ui.grid_run import MY_RUN, SHELL_COMMAND, my_run_path, run_section, sync_grid
from ui.links import Choice, Flag, Several, Whole
from ui.navigation import serve_pages_through_app

RESULTS_ENV = "FRMDN_RESULTS"  # a results CSV to show as the shipped results
SHIPPED = "Shipped results"
DIRECTORY = "A run directory on this server"
UPLOAD = "Upload a results CSV"
NLL = "{:.3f}"  # one format for every NLL on the page
FORMATS = {
    **dict.fromkeys(("mean", "std", "min", "max", "valid_nll", "test_nll"), NLL),
    "mean difference": NLL,
    "parameters": "{:,.0f}",
    "train_seconds": "{:.1f}",
}
HEADERS = {  # summary columns as shown
    "mean": "mean test NLL",
    "std": "std over seeds",
    "model": st.column_config.TextColumn("model", width=335),  # the extension's name whole
    **{
        name: st.column_config.NumberColumn(name, width=45) for name in ("K", "rank", "seeds")
    },  # narrow: the unit column fits
}
SUMMARY = ["data", "model", "K", "rank", "seeds", "mean", "std", "parameters", "unit"]
state = st.session_state


# ----------------------------------------------------------------------------- reading tables
def shipped_path() -> Path | None:
    """``$FRMDN_RESULTS``, else the bundled full grid's table (5 seeds), else the quick one's
    (None without bundled data)."""
    if os.environ.get(RESULTS_ENV):
        return Path(os.environ[RESULTS_ENV]).expanduser()
    try:
        shipped = data_dir() / "results"
    except FileNotFoundError:
        return None
    full = shipped / "full" / "results.csv"
    return full if full.is_file() else shipped / "quick" / "results.csv"


@st.cache_data(show_spinner=False, max_entries=16)
def read_path(path: str, modified: float, size: int) -> pd.DataFrame:
    """A results CSV on this server, read again when it changes."""
    return grid_stats.read_results(path)


@st.cache_data(show_spinner=False, max_entries=8)
def read_bytes(data: bytes) -> pd.DataFrame:
    return grid_stats.read_results(data)


def read_file(path: Path, what: str) -> pd.DataFrame | None:
    """The results table at ``path``; None and an error box saying why it cannot be used."""
    try:
        stat = path.stat()
        return read_path(str(path), stat.st_mtime, stat.st_size)
    except (OSError, ValueError) as error:
        st.error(f"Cannot use {what}: {error}", icon=":material/error:")
        return None


EXTRA_GRIDS = {"worlds": "the World Models grid", "voices": "the voices grid"}


def shipped_extras() -> dict[Path, str]:
    """The bundled grids of single families (World Models, voices; 3 seeds each) shown with
    the shipped results unless ``$FRMDN_RESULTS`` names a table of its own: path -> label."""
    if os.environ.get(RESULTS_ENV):
        return {}
    try:
        shipped = data_dir() / "results"
    except FileNotFoundError:
        return {}
    paths = {shipped / name / "results.csv": label for name, label in EXTRA_GRIDS.items()}
    return {path: label for path, label in paths.items() if path.is_file()}


def shipped_table() -> tuple[pd.DataFrame | None, str]:
    path = shipped_path()
    if path is None or not path.is_file():
        st.info(
            "The shipped results are not here yet"
            + (f" (no `{path}`)" if path is not None else "")
            + ". They come from `python -m frmdn experiments --suite quick --out "
            "assets/results/quick`. Meanwhile, point this page at a run directory, upload a "
            "results.csv, or run the quick grid on one data set at the bottom of the page.",
            icon=":material/info:",
        )
        return None, ""
    table = read_file(path, f"the shipped results {path}")
    labels = [f"{path.parent.name} grid"]
    for extra, label in shipped_extras().items():
        more = read_file(extra, f"the shipped results {extra}") if table is not None else None
        if more is not None:
            table, labels = pd.concat([table, more], ignore_index=True), [*labels, label]
    if len(labels) == 1:
        return table, f"the shipped results ({path.parent.name}/{path.name})"
    return table, f"the shipped results ({', '.join(labels[:-1])} and {labels[-1]})"


def directory_table() -> tuple[pd.DataFrame | None, str]:
    text = st.text_input(
        "Run directory on this server",
        key="compare_dir",
        persist_state="session",
        placeholder="/path/to/run",
        help=f"The --out folder of `{SHELL_COMMAND}`; only its results.csv is read.",
    ).strip()
    if not text:
        st.info("Type the folder of a grid run; its results.csv is read.", icon=":material/info:")
        return None, ""
    folder = Path(text).expanduser()
    if not folder.is_dir():
        st.error(f"`{folder}` is not a folder on this server.", icon=":material/error:")
        return None, ""
    path = folder / "results.csv"
    if not path.is_file():
        st.error(f"No results.csv in `{folder}`: is it a grid run?", icon=":material/error:")
        return None, ""
    return read_file(path, f"`{path}`"), f"`{path}`"


def upload_table() -> tuple[pd.DataFrame | None, str]:
    file = st.file_uploader("Results CSV of a grid run", type=["csv"], key="compare_upload")
    if file is None:
        st.info("Upload the results.csv a grid run wrote.", icon=":material/upload_file:")
        return None, ""
    try:
        return read_bytes(file.getvalue()), f"the uploaded {file.name}"
    except ValueError as error:
        st.error(f"Cannot use {file.name}: {error}", icon=":material/error:")
        return None, ""


def choose_source() -> tuple[pd.DataFrame | None, str]:
    """The radio of sources and the table of the chosen one (None: nothing usable)."""
    options = [SHIPPED, DIRECTORY, UPLOAD] + ([MY_RUN] if my_run_path() else [])
    with links.linked("compare", [Choice("results", "compare_source", options)]):
        choice = st.radio(
            "Results", options, horizontal=True, key="compare_source", persist_state="session"
        )
    if choice == DIRECTORY:
        return directory_table()
    if choice == UPLOAD:
        return upload_table()
    if choice == MY_RUN and (path := my_run_path()) is not None:
        spec = state["compare_grid"]["spec"]
        label = f"your in-page run on `{spec}`"  # in backticks: "toy:ring:" is no emoji code
        return read_file(path, f"the in-page run on `{spec}`"), label
    return shipped_table()


# ----------------------------------------------------------------------------- filters and tables
def filters(table: pd.DataFrame) -> pd.DataFrame:
    """Data set, model and extension filters; the rows they keep."""
    datas = list(dict.fromkeys(table["data"]))
    present = set(table["model"])
    models = [m for m in KINDS if m in present and m != EXTENSION]
    models += [m for m in dict.fromkeys(table["model"]) if m not in KINDS]
    tag = zlib.crc32("|".join([*datas, *models]).encode())  # new options, fresh widgets
    filter_links = [
        Several("data", f"compare_data_{tag}", datas),
        Several("models", f"compare_models_{tag}", models),
        Flag("extension", "compare_extension"),
    ]
    with links.linked("compare", filter_links):  # chips, every option in sight
        chosen_data = st.pills(
            "Data sets",
            datas,
            selection_mode="multi",
            default=datas,
            key=f"compare_data_{tag}",
            persist_state="session",
        )
        chosen_models = st.pills(
            "Models",
            models,
            selection_mode="multi",
            default=models,
            key=f"compare_models_{tag}",
            persist_state="session",
        )
        extension = st.checkbox(
            f"Include the extension, {EXTENSION}",
            value=True,
            key="compare_extension",
            persist_state="session",
            disabled=EXTENSION not in present,
            help="Beyond the paper: its flow reads the LSTM state.",
        )
    keep = table["model"].isin(chosen_models) | (extension & (table["model"] == EXTENSION))
    return table[table["data"].isin(chosen_data) & keep].reset_index(drop=True)


def show_table(frame: pd.DataFrame) -> None:
    """A sortable table in the page's number formats (3 decimals for NLLs)."""
    formats = {column: f for column, f in FORMATS.items() if column in frame}
    st.dataframe(
        frame.style.format(formats),
        hide_index=True,
        width="stretch",
        column_config=HEADERS,
    )


def summary_section(rows: pd.DataFrame) -> None:
    st.subheader("Summary over seeds")
    table = grid_stats.summary(rows)
    show_table(table[[c for c in SUMMARY if c in table]])
    st.caption(
        "Test NLL, lower is better; a single seed has no std. Click a column header to sort."
    )
    with st.expander(f"All {len(rows)} rows"):
        show_table(rows)
    st.download_button(
        "Download these rows (CSV)",
        rows.to_csv(index=False).encode(),
        file_name="frmdn-results.csv",
        mime="text/csv",
        icon=":material/download:",
        on_click="ignore",
    )


# ----------------------------------------------------------------------------- what each part adds
FLOW = "the flow"
RANK = "the low-rank precision"


def verdict_sentence(pair: tuple[str, str], row: pd.Series, part: str = FLOW) -> str:
    """One plain sentence on what ``part`` does to a data set's test NLL (a
    difference_summary row of ``pair``)."""
    model, baseline = pair
    mean, std, seeds, unit = row["mean difference"], row["std"], row["seeds"], row["unit"]
    start = f"On `{row['data']}`, {model} vs {baseline}:"
    if not pd.notna(mean):
        return f"{start} no finite test NLL to compare."
    if row["verdict"].startswith("within"):
        return (
            f"{start} {part} changes test NLL by {mean:+.3f} ± {std:.3f} {unit} over "
            f"{seeds} seeds, **within seed noise**: no difference to claim."
        )
    verb = "improves" if mean < 0 else "worsens"
    if seeds == 1:
        return (
            f"{start} {part} {verb} test NLL by {abs(mean):.3f} {unit} on a single seed; "
            "the spread over seeds is unknown, so this cannot be told apart from seed noise."
        )
    verdict = row["verdict"].removeprefix("better ").removeprefix("worse ")
    return (
        f"{start} {part} {verb} test NLL by {abs(mean):.3f} ± {std:.3f} {unit} over "
        f"{seeds} seeds: **{verdict}**."
    )


def differences_section(
    rows: pd.DataFrame, pairs: dict[str, tuple[str, str]], part: str, title: str, same: str
) -> None:
    """Sentences and a table of ``part``'s paired effect per data set (``pairs``: label ->
    (model, baseline), which differ only in ``part``; ``same``: what each pair shares)."""
    st.subheader(title)
    st.caption(
        f"Each pair has the same {same}, K, LSTM width, step budget and seed; only {part} "
        f"differs. Negative: {part} helps. A mean within {grid_stats.NOISE_SE:g} "
        "standard errors of zero is seed noise; ± is the standard deviation over seeds."
    )
    found = pd.concat(
        [
            grid_stats.difference_summary(rows, *pair).assign(pair=label)
            for label, pair in pairs.items()
        ],
        ignore_index=True,
    )
    if found.empty:
        st.info("No data set has both models of a pair for the same seeds.")
        return
    sentences = [
        verdict_sentence(pairs[row["pair"]], row, part)
        for data in dict.fromkeys(found["data"])
        for _, row in found[found["data"] == data].iterrows()
    ]
    st.markdown("\n".join(f"- {sentence}" for sentence in sentences))
    show_table(found[["data", "pair", "seeds", "mean difference", "std", "unit", "verdict"]])


def per_data_section(rows: pd.DataFrame) -> None:
    st.subheader("Per data set")
    datas = list(dict.fromkeys(rows["data"]))
    for tab, data in zip(st.tabs(datas), datas, strict=True):
        with tab:
            budget = grid_stats.budget_cells(rows)  # the K and rank sweeps have their own table
            st.plotly_chart(plots.seed_strip_figure(budget, data), key=f"compare_strip_{data}")
            left, right = st.columns([3, 2], gap="large", vertical_alignment="center")
            left.plotly_chart(
                plots.paired_difference_figure(rows, data), key=f"compare_pairs_{data}"
            )
            right.markdown(
                "**How to read the pairs.** Each dot is one seed: the FRMDN's test NLL minus "
                "that of the RMDN with the same covariance kind, K, width, steps and seed. The "
                "diamond and its bar are the mean ± std over seeds. Below the dashed zero line "
                "the flow helps; a mean that sits within its seeds' scatter of zero is noise."
            )


def cost_section(rows: pd.DataFrame | None) -> None:
    if rows is not None:
        st.subheader("Parameters vs test NLL")
        st.plotly_chart(plots.parameters_nll_figure(rows), key="compare_parameters")
    st.subheader("What a mixture head costs")
    st.markdown(
        "Numbers the head emits per step for targets of size d: a full covariance grows as "
        "O(Kd²), the low-rank-plus-diagonal precision as O(Kd(1+r)), a diagonal one as O(Kd)."
    )
    left, right, _ = st.columns([1, 1, 4])
    with links.linked(
        "compare", [Whole("K", "compare_K", 1, 20), Whole("rank", "compare_rank", 1, 32)]
    ):
        K = left.number_input("Components K", 1, 20, 5, key="compare_K", persist_state="session")
        rank = right.number_input(
            "Precision rank r", 1, 32, 2, key="compare_rank", persist_state="session"
        )
    st.plotly_chart(plots.head_size_figure(int(K), int(rank)), key="compare_heads")


# ----------------------------------------------------------------------------- page
serve_pages_through_app()  # a deep link opened first on a fresh server
st.title("Compare: how much comes from the flow?")
link_note = st.empty()  # filled at the end: what a link asked that the page cannot show
st.markdown(
    "The experiment grid trains the same model kinds on each data set with the same K, LSTM "
    "width and step budget, over several seeds: the classic diagonal RMDN, the RMDN with the "
    "low-rank precision, the full-covariance RMDN (up to d = 32), the diagonal and the "
    "low-rank FRMDN, and, as an extension beyond the paper, an FRMDN whose flow reads the LSTM "
    "state. Pairs that differ in one part, seed by seed, show what the flow and the low-rank "
    "precision each add and whether it is more than the spread between seeds."
)
sync_grid()
table, source = choose_source()
rows = None
if table is not None and table.empty:
    st.warning(f"The table of {source} has no rows.", icon=":material/warning:")
elif table is not None:
    st.caption(
        f"{len(table)} cells from {source}: {table['data'].nunique()} data sets, "
        f"{table['model'].nunique()} models."
    )
    rows = filters(table)
    if rows.empty:
        st.warning("Nothing is left after the filters.", icon=":material/filter_alt_off:")
        rows = None
if rows is not None:
    summary_section(rows)
    differences_section(
        rows,
        grid_stats.PAIRS,
        FLOW,
        "What the flow adds: FRMDN − RMDN, seed by seed",
        "covariance kind",
    )
    differences_section(
        rows,
        grid_stats.RANK_PAIRS,
        RANK,
        "What the low-rank precision adds: low-rank − diagonal, seed by seed",
        "flow (none, or the same couplings)",
    )
    per_data_section(rows)
cost_section(rows)
run_section()
links.tell(link_note)

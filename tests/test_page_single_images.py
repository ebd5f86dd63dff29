"""AppTest of the single-images page: pretrained views, sampling widgets and live training."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest
from apptest_pages import assert_trained_to_the_end, button, open_page, settle
from streamlit.testing.v1 import AppTest

import frmdn.data.images

APP = Path(__file__).resolve().parents[1] / "app.py"
PAGE = "pages/single_images.py"
SUBHEADERS = (
    "Real digits vs generated digits",
    "Top-half completion",
    "Bits per dimension",
    "Where each model is surprised",
    "Where the mixture lives: samples of the next step",
)

pytestmark = pytest.mark.usefixtures("clear_streamlit_caches")


def scores(at: AppTest):
    return at.dataframe[-1].value


def chart(at: AppTest, key: str) -> dict:
    """The Plotly spec of the page's chart with this key."""
    (found,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key)]
    return json.loads(found.proto.spec)


def test_pretrained_views_render_and_frmdn_wins() -> None:
    at = open_page(PAGE)
    assert not at.error
    assert "pretrained on images:digits" in at.sidebar.markdown[-1].value
    # the panel's defaults are the bundled pair's settings: no "the panel says" note
    assert not [i.value for i in at.info if "panel says" in i.value]
    subheaders = [s.value for s in at.subheader]
    for title in SUBHEADERS:
        assert title in subheaders, subheaders
    table = scores(at)
    assert list(table.index) == ["RMDN", "FRMDN"]
    for part in ("train", "valid", "test"):
        assert table[f"{part} bits/dim"].between(0.3, 8.0).all(), table
    assert table.loc["FRMDN", "test bits/dim"] < table.loc["RMDN", "test bits/dim"]
    assert table.loc["RMDN", "flow parameters"] == 0 < table.loc["FRMDN", "flow parameters"]
    assert any("MNIST" in c.value and "CC-BY-SA-3.0" in c.value for c in at.caption)
    assert "python -m frmdn compare --data images:digits" in at.code[0].value
    assert_row_spike_is_explained(at)
    assert_predictive_rows_are_drawn(at)


def assert_predictive_rows_are_drawn(at: AppTest) -> None:
    """Draws of one row's mixture as points and as grey-level rows, with the fit numbers; the
    bundled pair's fit shows the FRMDN's Gaussians closer to their points."""
    titles = [a["text"] for a in chart(at, "img_predictive")["layout"]["annotations"]]
    assert "KS" in titles[0] and "z = f(y)" in titles[1] and "data space" in titles[2]
    traces = chart(at, "img_predictive_traces")["data"]
    (truth, _) = [t for t in traces if t["name"] == "true next value"]
    digits = frmdn.data.images.load_image_data("digits", seed=0)
    expected = frmdn.data.images.to_pixels(digits.test[0, 14], logit_lambda=0.05)
    np.testing.assert_array_equal(values(truth["y"]), expected)
    layout = chart(at, "img_predictive_digits")["layout"]
    assert len(layout["shapes"]) == 2 * (1 + 8)  # per model: the real row, then 8 draws
    fit = next(c.value for c in at.caption if "perfect fit" in c.value and "digits" in c.value)
    numbers = next(c.value for c in at.caption if c.value.startswith("Over every step"))
    ks = [float(v) for v in re.findall(r"KS (\d\.\d+), mean", numbers)]
    assert len(ks) == 2 and ks[1] < ks[0], numbers  # RMDN, then FRMDN
    assert "the FRMDN's Gaussians fit more closely" in fit


def values(x: list | dict) -> np.ndarray:
    """A Plotly JSON array: a list, or a typed array {"dtype", "bdata" (base64)}."""
    if isinstance(x, dict):
        return np.frombuffer(base64.b64decode(x["bdata"]), dtype=np.dtype(x["dtype"]))
    return np.asarray(x, dtype=float)


def assert_row_spike_is_explained(at: AppTest) -> None:
    """The row profile shows mean and median per model; the row whose FRMDN mean stands far
    above its median (row 20 of the bundled pair: one digit with a one-pixel gap in its
    stroke) is marked, explained in a sentence and shown with its digits."""
    profile = chart(at, "img_profile")
    names = [t["name"] for t in profile["data"]]
    assert names == ["RMDN mean", "FRMDN mean", "RMDN median", "FRMDN median"]
    frmdn_mean, frmdn_median = (values(profile["data"][i]["x"]) for i in (1, 3))
    spike_row = int(np.argmax(frmdn_mean - frmdn_median))
    assert spike_row == 20  # the bundled pair's spike
    assert frmdn_mean[20] > frmdn_median[20] + 1 and frmdn_median[20] < frmdn_median[18] + 0.2
    assert [s["y0"] for s in profile["layout"]["shapes"]] == [20]
    (sentence,) = [m.value for m in at.markdown if m.value.startswith("**Row 20, FRMDN:**")]
    assert "the spike is these digits" in sentence and "#27:" in sentence, sentence
    assert "lands at |z| =" in sentence and "test bits/dim" in sentence, sentence
    spike = chart(at, "img_spike")
    titles = [a["text"] for a in spike["layout"]["annotations"]]
    assert len(spike["data"]) == 3 and titles[0].startswith("#27: RMDN 4.1 · FRMDN 668")
    assert len(spike["layout"]["shapes"]) == 3  # row 20 outlined in each digit


def test_bundled_checkpoints_are_small_and_equally_sized() -> None:
    import frmdn

    root = APP.parent / "assets" / "pretrained"
    models = {m: frmdn.load(root / f"images-digits-{m.lower()}") for m in ("RMDN", "FRMDN")}
    for name in models:
        folder = root / f"images-digits-{name.lower()}"
        assert sum(f.stat().st_size for f in folder.iterdir()) < 3_000_000, folder
    same = ("n_components", "rank", "hidden_size", "num_layers")
    rmdn, frmdn_model = (models[m].config for m in ("RMDN", "FRMDN"))
    assert all(getattr(rmdn, k) == getattr(frmdn_model, k) for k in same)
    metrics = [models[m].metadata["metrics"] for m in ("RMDN", "FRMDN")]
    assert metrics[0]["steps"] == metrics[1]["steps"]  # the same training budget


def test_sampling_widgets_rerun_the_views() -> None:
    at = open_page(PAGE)
    at.slider(key="img_temperature").set_value(0.5).run()
    assert not at.exception, [e.value for e in at.exception]
    button(at, "New samples").click().run()
    at.slider(key="img_first").set_value(12).run()
    at.slider(key="img_completion_temperature").set_value(1.2).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.session_state["img_draw"] == 1


def test_live_training_steps_and_updates_the_table() -> None:
    at = open_page(PAGE)
    pretrained = scores(at)["test bits/dim"].copy()
    at.select_slider(key="img_steps").set_value(50).run()
    at.select_slider(key="img_hidden").set_value(32).run()
    at.number_input(key="img_K").set_value(2).run()
    button(at, "Train both").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "trained in this session" in at.sidebar.markdown[-1].value
    settle(at)  # the job runs in a worker process; each rerun polls it
    assert_trained_to_the_end(at, 50)
    after = scores(at)
    assert after["parameters"].lt(50_000).all()  # the small live models, not the bundled ones
    assert not after["test bits/dim"].equals(pretrained)
    assert after["training time (s)"].gt(0).all()

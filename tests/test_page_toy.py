"""AppTest of the toy page: pretrained views, widgets, URL state and a tiny live training run."""

from __future__ import annotations

import json

import pytest
from apptest_pages import button, checked_fit_verdict, live_run, open_page, pause_early, settle
from streamlit.testing.v1 import AppTest

from frmdn.data.toy import GENERATORS, TOY_NAMES

PAGE = "pages/toy.py"

pytestmark = pytest.mark.usefixtures("clear_streamlit_caches")


def open_toy(query: dict[str, str] | None = None) -> AppTest:
    return open_page(PAGE, query, timeout=120)


def scores(at: AppTest):
    return at.dataframe[-1].value


def progress_texts(at: AppTest) -> list[str]:
    return [p.proto.text for p in at.get("progress")]


def test_pretrained_views_render_without_training() -> None:
    at = open_toy()
    assert not at.error
    assert "pretrained on toy:ring" in at.sidebar.markdown[-1].value
    table = scores(at)
    assert list(table.index) == ["RMDN", "FRMDN"]
    # the bundled FRMDN fits the ring far better than the RMDN of the same size
    nll = table["held-out NLL (nats/step)"]
    assert nll["FRMDN"] < nll["RMDN"] - 0.5
    assert table.loc["RMDN", "flow parameters"] == 0 < table.loc["FRMDN", "flow parameters"]
    subheaders = [s.value for s in at.subheader]
    for title in (
        "Latent space",
        "Predicted next-step density",
        "Mixture weights over time",
        "Generated sequences",
        "Scoreboard",
    ):
        assert any(title in s for s in subheaders), subheaders
    # the flow, layer by layer: an animation, one frame per stage, each layer's log-det noted
    assert not at.exception and "The flow, layer by layer" in subheaders
    (flow_chart,) = [c for c in at.get("plotly_chart") if "toy_flow_layers" in c.proto.id]
    frames = json.loads(flow_chart.proto.spec)["frames"]
    assert len(frames) == 6  # u, the elementwise affine layer, four couplings
    assert all("nats" in f["layout"]["annotations"][0]["text"] for f in frames[1:])
    # alpha_k(t) of both models, stacked under the held-out sequence's coordinates
    (chart,) = [c for c in at.get("plotly_chart") if "toy_weights" in c.proto.id]
    traces = json.loads(chart.proto.spec)["data"]
    assert {t.get("stackgroup") for t in traces} == {None, "RMDN", "FRMDN"}
    # samples of the next step where each mixture lives, and Q-Q plots of the Gaussians' fit
    assert "Where the mixture lives: samples of the next step" in subheaders
    (samples_chart,) = [c for c in at.get("plotly_chart") if "toy_predictive" in c.proto.id]
    spec = json.loads(samples_chart.proto.spec)
    titles = [a["text"] for a in spec["layout"]["annotations"]]
    assert "KS" in titles[0] and "KS" in titles[1] and "data space" in titles[2]
    assert sum(t.get("marker", {}).get("symbol") == "star" for t in spec["data"]) == 4
    (qq_chart,) = [c for c in at.get("plotly_chart") if "toy_qq" in c.proto.id]
    qq_titles = [a["text"] for a in json.loads(qq_chart.proto.spec)["layout"]["annotations"]]
    assert qq_titles[0].startswith("RMDN · KS") and qq_titles[1].startswith("FRMDN · KS")
    assert any("mean m²/d" in c.value for c in at.caption)


def test_state_lives_in_the_url() -> None:
    at = open_toy({"data": "spiral", "K": "3", "rank": "1", "seed": "7"})
    assert at.selectbox(key="toy_data").value == "spiral"
    assert at.query_params["seed"] in ("7", ["7"])
    assert "toy:spiral" in at.sidebar.markdown[-1].value
    at.selectbox(key="toy_data").set_value("moons").run()
    assert not at.exception
    assert at.query_params["data"] in ("moons", ["moons"])


def test_bad_url_values_fall_back_to_defaults() -> None:
    at = open_toy({"data": "nonsense", "K": "many", "rank": "99", "seed": "-5"})
    assert not at.error
    assert at.selectbox(key="toy_data").value == "ring"
    assert at.number_input(key="toy_K").value == 3
    assert at.number_input(key="toy_rank").value == 2  # clamped to the widget's range
    assert at.query_params["seed"] in ("0", ["0"])
    (note,) = [i.value for i in at.info if "This link asked" in i.value]
    assert "data=nonsense → ring, K=many → 3, rank=99 → 2." in note


def test_an_out_of_range_link_says_once_what_it_asked_and_what_is_shown() -> None:
    at = open_toy({"K": "100000", "rank": "-5", "steps": "999999999"})
    notes = [i.value for i in at.info if "This link asked" in i.value]
    assert notes == [
        "This link asked for values the page cannot show: K=100000 → 10, rank=-5 → 0, "
        "steps=999999999 → 2000."
    ]
    assert at.select_slider(key="toy_steps").value == 2000
    at.slider(key="toy_temperature").set_value(0.5).run()  # any later run: said once only
    assert not [i for i in at.info if "This link asked" in i.value]
    plain = open_toy({"K": "4", "rank": "2", "steps": "500"})
    assert not [i for i in plain.info if "This link asked" in i.value]


def test_widgets_change_the_views() -> None:
    at = open_toy()
    at.slider(key="toy_seq").set_value(5).run()
    at.slider(key="toy_temperature").set_value(0.5).run()
    at.slider(key="toy_length").set_value(16).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="toy_step_15").max == 15


def test_live_training_pauses_steps_stops_and_continues() -> None:
    at = open_toy()
    at.select_slider(key="toy_steps").set_value(1000).run()
    at.select_slider(key="toy_hidden").set_value(16).run()
    button(at, "Train both").click().run()
    assert "trained in this session" in at.sidebar.markdown[-1].value
    pause_early(at)  # AppTest cannot run the polling timer: each rerun is one poll
    paused = live_run(at).steps
    assert 25 <= paused < 1000 and paused % 25 == 0
    assert any(f"Paused at step {paused}" in t for t in progress_texts(at))
    before = scores(at)["held-out NLL (nats/step)"].copy()
    for _ in range(2):
        button(at, "Step").click().run()
        settle(at)
    assert live_run(at).steps == paused + 50
    after = scores(at)
    assert after["held-out NLL (nats/step)"].lt(before).all()
    assert after["training time (s)"].gt(0).all()

    button(at, "Stop").click().run()
    settle(at)
    status = " ".join(progress_texts(at))
    assert f"Training stopped at step {paused + 50} of 1000" in status, status
    assert "best validation weights" in status
    assert button(at, "Continue").disabled is False
    button(at, "Continue").click().run()
    pause_early(at, min_steps=paused + 75)
    assert live_run(at).steps >= paused + 75
    assert not at.error, [e.value for e in at.error]


def test_a_link_with_other_settings_says_the_models_on_screen_differ() -> None:
    at = open_toy({"data": "ring", "K": "5", "rank": "2"})
    notes = " ".join(i.value for i in at.info)
    assert "K = 3 (the panel says 5)" in notes and "rank r = 1 (the panel says 2)" in notes, notes


def test_a_diverging_model_is_reported_and_its_last_good_weights_kept(monkeypatch) -> None:
    import functools

    from frmdn.training.trainer import TrainConfig

    # a learning rate of 100 makes the FRMDN's loss non-finite within a few steps
    monkeypatch.setattr("ui.training.TrainConfig", functools.partial(TrainConfig, lr=100.0))
    at = open_toy()
    at.select_slider(key="toy_steps").set_value(100).run()
    at.select_slider(key="toy_hidden").set_value(16).run()
    button(at, "Train both").click().run()
    settle(at)
    warnings = " ".join(w.value for w in at.warning)
    assert "FRMDN diverged at step" in warnings, warnings
    assert "its initial weights are kept" in warnings or "best weights from step" in warnings
    assert not at.error and not at.exception
    nll = scores(at).loc["FRMDN", "held-out NLL (nats/step)"]
    assert 0 < nll < 10  # the kept weights still score like an early model


def test_a_link_with_other_settings_sets_them_again_but_a_plain_visit_keeps_them() -> None:
    at = open_toy({"data": "ring", "K": "3"})
    at.number_input(key="toy_K").set_value(5).run()
    at.query_params.clear()  # the sidebar: no query, the settings stay
    at.run()
    assert at.number_input(key="toy_K").value == 5
    at.query_params.update({"data": "moons", "K": "1"})  # a lesson link
    at.run()
    assert not at.exception
    assert at.selectbox(key="toy_data").value == "moons"
    assert at.number_input(key="toy_K").value == 1


@pytest.mark.parametrize("name", TOY_NAMES)
def test_the_fit_sentences_agree_with_the_numbers_on_every_toy_data_set(name: str) -> None:
    at = open_toy({"data": name})
    ks, caption = checked_fit_verdict(at, "toy_qq")
    if GENERATORS[name].clustered:
        assert "On this control" in caption and "curve" not in caption
    else:
        assert "blobs" not in caption
        assert ("straightened the data's curves" in caption) == (ks["FRMDN"] < ks["RMDN"] - 0.005)
    everything = " ".join(c.value for c in [*at.caption, *at.markdown])
    others = [other for other in TOY_NAMES if other != name and f"the {other}" in everything]
    assert not others, f"the {name} page speaks of {others}"

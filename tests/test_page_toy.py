"""AppTest of the toy page: pretrained views, widgets, URL state and a tiny live training run."""

from __future__ import annotations

import pytest
from apptest_pages import button, open_page
from streamlit.testing.v1 import AppTest

PAGE = "pages/toy.py"

pytestmark = pytest.mark.usefixtures("clear_streamlit_caches")


def open_toy(query: dict[str, str] | None = None) -> AppTest:
    return open_page(PAGE, query, timeout=120)


def scores(at: AppTest):
    return at.dataframe[-1].value


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
        "Generated sequences",
        "Scoreboard",
    ):
        assert any(title in s for s in subheaders), subheaders


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


def test_widgets_change_the_views() -> None:
    at = open_toy()
    at.slider(key="toy_seq").set_value(5).run()
    at.slider(key="toy_temperature").set_value(0.5).run()
    at.slider(key="toy_length").set_value(16).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.slider(key="toy_step_15").max == 15


def test_live_training_steps_and_updates_the_scoreboard() -> None:
    at = open_toy()
    at.select_slider(key="toy_steps").set_value(100).run()
    at.select_slider(key="toy_hidden").set_value(16).run()
    button(at, "Train both").click().run()
    assert "trained in this session" in at.sidebar.markdown[-1].value
    button(at, "Pause").click().run()  # AppTest cannot run timers: step by hand
    before = scores(at)["held-out NLL (nats/step)"].copy()
    for _ in range(4):  # 4 x 25 steps = the whole budget
        button(at, "Step").click().run()
        assert not at.exception, [e.value for e in at.exception]
    after = scores(at)
    assert after["held-out NLL (nats/step)"].lt(before).all()
    assert after["training time (s)"].gt(0).all()
    assert button(at, "Step").disabled and button(at, "Play").disabled

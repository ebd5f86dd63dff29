"""Every page keeps its view in its URL: the link fields read what a URL may hold, and on each
page a view changed in one session reopens, from the URL alone, in a fresh one (AppTest; the
browser's round trip is in test_browser.py)."""

from __future__ import annotations

import math

import pytest
from apptest_pages import open_page, settle
from streamlit.testing.v1 import AppTest

from ui.links import Choice, Flag, Number, Several, Unreadable, Whole

pytestmark = pytest.mark.usefixtures("clear_streamlit_caches")


def test_whole_numbers_are_clamped_and_words_are_unreadable() -> None:
    field = Whole("K", "toy_K", 1, 10)
    assert field.read("4") == (4, True)
    assert field.read("100000") == (10, False)
    assert field.read("-5") == (1, False)
    with pytest.raises(Unreadable):
        field.read("many")
    assert field.write(7) == "7"


def test_real_numbers_are_clamped_and_not_a_number_is_unreadable() -> None:
    field = Number("temperature", "t", 0.1, 1.5)
    assert field.read("0.55") == (0.55, True)
    assert field.read("9") == (1.5, False)
    for text in ("nan", "inf", "-inf", "warm"):
        with pytest.raises(Unreadable):
            field.read(text)
    assert field.write(0.30000000000000004) == "0.3"
    assert math.isclose(field.read(field.write(0.7))[0], 0.7)


def test_choices_match_by_name_and_numeric_ones_take_the_nearest() -> None:
    steps = Choice("steps", "s", [100, 250, 500], nearest=True)
    assert steps.read("250") == (250, True)
    assert steps.read("300") == (250, False)
    assert steps.read("999999999") == (500, False)
    with pytest.raises(Unreadable):
        steps.read("lots")
    data = Choice("data", "d", ["ring", "moons"])
    assert data.read("moons") == ("moons", True)
    with pytest.raises(Unreadable):
        data.read("300")
    decay = Choice("decay", "wd", [0.0, 1e-4, 1e-3], nearest=True)
    assert decay.read(decay.write(1e-4)) == (1e-4, True)


def test_flags_and_several_choices() -> None:
    flag = Flag("pitch", "p")
    assert flag.read("1") == (True, True) and flag.read("false") == (False, True)
    with pytest.raises(Unreadable):
        flag.read("maybe")
    several = Several("data", "d", ["toy:ring", "images:digits", "audio:speech"])
    assert several.read("images:digits,toy:ring") == (["toy:ring", "images:digits"], True)
    assert several.read("toy:ring,nonsense") == (["toy:ring"], False)
    assert several.read("") == ([], True)
    assert several.write(["toy:ring", "images:digits"]) == "toy:ring,images:digits"


# ----------------------------------------------------------------------------- round trips
def by_label(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def url_of(at: AppTest) -> dict[str, str]:
    """The session's URL query, one value per name."""
    return {
        name: value[0] if isinstance(value, list) else value
        for name, value in at.query_params.items()
    }


def reopen(page: str, at: AppTest) -> AppTest:
    """A fresh session (as on another computer) opened at ``at``'s URL."""
    return settle(open_page(page, url_of(at), timeout=180))


def test_the_toy_view_round_trips_through_its_url() -> None:
    at = settle(open_page("pages/toy.py", timeout=180))
    at.selectbox(key="toy_data").set_value("spiral").run()
    at.slider(key="toy_noise_spiral").set_value(0.12).run()
    at.slider(key="toy_length").set_value(40).run()
    at.number_input(key="toy_flow").set_value(3).run()
    at.select_slider(key="toy_hidden").set_value(32).run()
    at.slider(key="toy_seq").set_value(5).run()
    at.slider(key="toy_step_39").set_value(20).run()
    at.slider(key="toy_temperature").set_value(0.6).run()
    url = url_of(at)
    assert url["data"] == "spiral" and url["t"] == "20" and url["temperature"] == "0.6"
    again = reopen("pages/toy.py", at)
    assert again.selectbox(key="toy_data").value == "spiral"
    assert again.slider(key="toy_noise_spiral").value == pytest.approx(0.12)
    assert again.slider(key="toy_length").value == 40
    assert again.number_input(key="toy_flow").value == 3
    assert again.select_slider(key="toy_hidden").value == 32
    assert again.slider(key="toy_seq").value == 5
    assert again.slider(key="toy_step_39").value == 20
    assert again.slider(key="toy_temperature").value == pytest.approx(0.6)


def test_the_audio_view_round_trips_through_its_url() -> None:
    at = settle(open_page("pages/audio.py", timeout=180))
    clips = at.selectbox(key="audio_clip").options
    at.selectbox(key="audio_clip").set_value(clips[2]).run()
    at.number_input(key="audio_K").set_value(3).run()
    at.select_slider(key="audio_wd").set_value(1e-3).run()
    at.toggle(key="audio_pitch").set_value(False).run()
    at = settle(at)
    at.slider(key="audio_cont").set_value(1.0).run()
    at.slider(key="audio_temperature").set_value(0.8).run()
    moment = next(s for s in at.slider if s.key.startswith("audio_moment_"))
    moment.set_value(1.0).run()
    url = url_of(at)
    assert url["clip"] == clips[2] and url["moment"] == "1"
    again = reopen("pages/audio.py", at)
    assert again.selectbox(key="audio_clip").value == clips[2]
    assert again.number_input(key="audio_K").value == 3
    assert again.select_slider(key="audio_wd").value == 1e-3
    assert again.toggle(key="audio_pitch").value is False
    assert again.slider(key="audio_cont").value == pytest.approx(1.0)
    assert again.slider(key="audio_temperature").value == pytest.approx(0.8)
    moment = next(s for s in again.slider if s.key.startswith("audio_moment_"))
    assert moment.value == pytest.approx(1.0)


def test_the_single_images_view_round_trips_through_its_url() -> None:
    at = settle(open_page("pages/single_images.py", timeout=180))
    at.slider(key="img_temperature").set_value(0.5).run()
    by_label(at.button, "New samples").click().run()
    at.slider(key="img_first").set_value(6).run()
    at.slider(key="img_pred_row").set_value(20).run()
    at.number_input(key="img_K").set_value(2).run()
    again = reopen("pages/single_images.py", at)
    assert again.slider(key="img_temperature").value == pytest.approx(0.5)
    assert again.session_state["img_draw"] == 1
    assert again.slider(key="img_first").value == 6
    assert again.slider(key="img_pred_row").value == 20
    assert again.number_input(key="img_K").value == 2


def test_the_image_sequences_view_round_trips_through_its_url() -> None:
    at = settle(open_page("pages/image_sequences.py", timeout=180))
    scenes = at.radio(key="seq_source").options
    at.radio(key="seq_source").set_value(scenes[1]).run()
    at = settle(at)
    at.slider(key="seq_index").set_value(3).run()
    at.slider(key="seq_prime").set_value(6).run()
    at.slider(key="seq_predictive_step").set_value(10).run()
    again = reopen("pages/image_sequences.py", at)
    assert again.radio(key="seq_source").value == scenes[1]
    assert again.slider(key="seq_index").value == 3
    assert again.slider(key="seq_prime").value == 6
    assert again.slider(key="seq_predictive_step").value == 10


def test_the_compare_view_round_trips_through_its_url() -> None:
    at = open_page("pages/compare.py", timeout=120)
    data = by_label(at.button_group, "Data sets")
    kept = data.options[:2]
    data.set_value(kept).run()
    by_label(at.button_group, "Models").set_value(["RMDN diagonal", "FRMDN diagonal"]).run()
    at.checkbox(key="compare_extension").uncheck().run()
    at.number_input(key="compare_K").set_value(8).run()
    again = open_page("pages/compare.py", url_of(at), timeout=120)
    assert by_label(again.button_group, "Data sets").value == kept
    assert by_label(again.button_group, "Models").value == ["RMDN diagonal", "FRMDN diagonal"]
    assert again.checkbox(key="compare_extension").value is False
    assert again.number_input(key="compare_K").value == 8
    assert set(again.dataframe[0].value["data"]) == set(kept)


def test_a_link_naming_an_unknown_model_says_what_it_shows() -> None:
    at = open_page("pages/compare.py", {"models": "RMDN diagonal,Transformer"}, timeout=120)
    notes = [i.value for i in at.info if "This link asked" in i.value]
    assert notes == [
        "This link asked for values the page cannot show: models=RMDN diagonal,Transformer "
        "→ RMDN diagonal."
    ]

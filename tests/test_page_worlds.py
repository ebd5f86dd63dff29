"""AppTest of the World Models page: every view on both worlds, the dream's steering controls
and their URL, and live training on freshly collected rollouts through the job runner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apptest_pages import assert_trained_to_the_end, button, checked_fit_verdict, open_page, settle
from test_browser import chromium, server  # noqa: F401 (the browser tests' fixtures)

PAGE = "pages/worlds.py"
CAR, DOOM = "CarRacing", "Doom: Take Cover"
VIEWS = (
    "A held-out episode",
    "The dream you steer",
    "Surprise per frame and mixture weights over time",
    "Where the mixture lives: samples of the next step",
    "Scoreboard",
)

pytestmark = pytest.mark.usefixtures("clear_streamlit_caches")


def captions(at) -> str:
    """Every caption of the page, the images' included."""
    images = [i.caption for e in at.get("image") for i in e.proto.imgs]
    return " ".join([c.value for c in at.caption] + images)


@pytest.mark.parametrize("world", [CAR, DOOM])
def test_every_view_of_both_worlds_renders_from_the_bundled_files(world: str) -> None:
    at = open_page(PAGE, {"world": world})
    assert not at.error, [e.value for e in at.error]
    name = {CAR: "car-racing", DOOM: "doom-take-cover"}[world]
    assert f"pretrained on frames:{name}" in at.sidebar.markdown[-1].value
    assert not [i.value for i in at.info if "panel says" in i.value]  # the bundled settings
    assert [s.value for s in at.subheader] == list(VIEWS)
    # the six panels of a held-out episode in one animation; no dream yet
    images = [i for e in at.get("image") for i in e.proto.imgs]
    assert "all six panels in step" in images[0].caption
    assert at.query_params["temperature"] == ("0.7" if world == CAR else "1.15")
    assert "no steps yet" in captions(at)
    checked_fit_verdict(at, "worlds_qq")
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith("worlds_weights")]
    areas = [t for t in json.loads(chart.proto.spec)["data"] if t.get("stackgroup")]
    assert {t["stackgroup"] for t in areas} == {"RMDN", "FRMDN"}
    table = at.dataframe[-1].value
    assert list(table.index) == ["RMDN", "FRMDN"]
    dim = 32 if world == CAR else 64
    assert table["held-out NLL per latent dimension"].tolist() == pytest.approx(
        (table["held-out NLL (nats/step)"] / dim).tolist()
    )
    assert table.loc["RMDN", "flow parameters"] == 0 < table.loc["FRMDN", "flow parameters"]
    has_head = [c for c in at.checkbox if c.key == "worlds_ends"]
    assert bool(has_head) == (world == DOOM)  # the episode-end head is Doom's alone


def test_steering_the_doom_dream_press_by_press_and_by_script() -> None:
    at = open_page(PAGE, {"world": DOOM})
    at.segmented_control(key="worlds_doom-take-cover_Move").set_value("Left").run()
    button(at, "Dream on").click().run()
    assert at.session_state["worlds_track_doom-take-cover"] == "L4"
    assert at.query_params["track"] == "L4"
    assert "Actions so far (4 of at most 64 steps): Left × 4" in captions(at)
    assert "Chance the episode ends within 4 frames: RMDN" in captions(at)
    assert any(c.proto.id.endswith("worlds_end_figure") for c in at.get("plotly_chart"))
    at.select_slider(key="worlds_press").set_value(2).run()
    at.segmented_control(key="worlds_doom-take-cover_Move").set_value("Right").run()
    button(at, "Dream on").click().run()
    assert at.query_params["track"] == "L4.R2"
    button(at, "Undo").click().run()
    assert at.query_params["track"] == "L4"
    at.checkbox(key="worlds_ends").uncheck().run()
    assert "Chance the episode ends" not in captions(at)
    button(at, "Reset").click().run()
    assert at.query_params["track"] == "" and button(at, "Undo").disabled
    at.selectbox(key="worlds_script_doom-take-cover").set_value("Dodge left and right").run()
    button(at, "Play it (32 steps)").click().run()
    assert at.query_params["track"] == "L5.R5.L5.R5.L5.R5.L2"
    assert not at.exception, [e.value for e in at.exception]
    gifs = [i.caption for e in at.get("image") for i in e.proto.imgs]
    assert any(c.startswith("The whole dream, both models in step") for c in gifs)


def test_a_link_opens_its_dream_and_says_what_it_cannot_show() -> None:
    query = {"world": CAR, "track": "LG4.SB2", "temperature": "0.9", "episode": "3"}
    at = open_page(PAGE, query)
    assert "Left + Gas × 4, Straight + Brake × 2. τ = 0.9" in captions(at)
    assert "Episode 3 (seed" in " ".join(i.caption for e in at.get("image") for i in e.proto.imgs)
    at = open_page(PAGE, {"world": CAR, "track": "QQ9", "episode": "99"})
    notes = " ".join(i.value for i in at.info)
    assert "track=QQ9" in notes and "episode=99 → 7" in notes
    assert at.session_state["worlds_track_car-racing"] == ""


def test_training_both_collects_rollouts_and_trains_through_the_job_runner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("vizdoom")
    monkeypatch.setenv("FRMDN_CACHE_DIR", str(tmp_path))  # collected here, not from a cache
    at = open_page(PAGE, {"world": DOOM, "rollouts": "16", "steps": "50", "lstm": "64"})
    button(at, "Train both").click().run()
    assert not at.exception and not at.error, [e.value for e in at.error]
    assert list(tmp_path.glob("worlds/doom-take-cover-*.npz"))  # train, valid and test
    source = at.sidebar.markdown[-1].value
    assert "trained in this session on frames:doom-take-cover?seed=0&rollouts=16" in source
    settle(at)
    assert_trained_to_the_end(at, 50)
    models = at.session_state["trained_runs"][-1]["models"]
    assert {m.config.cond_dim for m in models.values()} == {1}  # both read the action
    assert at.dataframe[-1].value["training time (s)"].gt(0).all()
    assert [s.value for s in at.subheader] == list(VIEWS)


# ----------------------------------------------------------------------------- in a browser
@pytest.mark.browser
@pytest.mark.long
def test_steering_both_dreams_in_a_browser(chromium: Path, server: str) -> None:  # noqa: F811
    """Click the controls as a user would: steer left, dream on, play a scripted slalom; on
    Doom the episode-end chart draws. Screenshots of both dreams are saved."""
    from test_browser import SCREENSHOTS, browser_page, errors_on, query_of, settle

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with browser_page(chromium) as (page, js_errors):
        page.goto(f"{server}/worlds?world=CarRacing&start=8")
        settle(page)
        page.locator(".st-key-worlds_car-racing_Steering").get_by_text("Left").click()
        settle(page)
        page.get_by_role("button", name="Dream on").click()
        page.wait_for_url(lambda url: query_of(url).get("track") == "LC4")
        settle(page)
        page.get_by_text("Now: the last frame of each dream").wait_for()
        assert page.get_by_text("RMDN, frame 11").count() == 0  # drawn into the picture
        page.locator(".st-key-worlds_script_car-racing").click()
        page.get_by_role("option", name="Slalom").click()
        settle(page)
        page.get_by_role("button", name="Play it (32 steps)").click()
        page.wait_for_url(lambda url: query_of(url).get("track") == "LC6.RC6.LC6.RC6.LC6.RC2")
        settle(page)
        page.get_by_text("Left + Coast × 6, Right + Coast × 6").first.wait_for()
        to_top = "e => e.scrollIntoView({block: 'start'})"
        page.get_by_role("heading", name="The dream you steer").evaluate(to_top)
        page.screenshot(path=str(SCREENSHOTS / "worlds_dream_car.png"))
        assert not errors_on(page) and not js_errors, (errors_on(page), js_errors)
        page.goto(f"{server}/worlds?world=Doom%3A+Take+Cover&track=L6.R6.L6.R6")
        settle(page)
        chart = page.locator(".st-key-worlds_end_figure")
        chart.locator(".main-svg").first.wait_for()
        page.get_by_role("heading", name="The dream you steer").evaluate(to_top)
        page.screenshot(path=str(SCREENSHOTS / "worlds_dream_doom.png"))
        assert not errors_on(page) and not js_errors, (errors_on(page), js_errors)

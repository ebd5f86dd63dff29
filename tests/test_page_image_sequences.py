"""AppTest of the image-sequences page: pretrained views, switching source, live training."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from apptest_pages import assert_trained_to_the_end, button, checked_fit_verdict, open_page, settle
from test_browser import chromium, server  # noqa: F401 (the browser tests' fixtures)

ROOT = Path(__file__).resolve().parents[1]
PAGE = "pages/image_sequences.py"
PRETRAINED = ROOT / "assets" / "pretrained"

pytestmark = pytest.mark.usefixtures("clear_streamlit_caches")


def has_pretrained(scene: str) -> bool:
    return all((PRETRAINED / f"frames-{scene}-{m}").is_dir() for m in ("rmdn", "frmdn"))


def test_page_renders_pretrained_or_says_what_is_missing() -> None:
    at = open_page(PAGE)
    assert not at.error, [e.value for e in at.error]
    if has_pretrained("moving-digits"):
        assert "pretrained on frames:moving-digits" in at.sidebar.markdown[-1].value
        assert not [i.value for i in at.info if "panel says" in i.value]  # bundled defaults
        subheaders = [s.value for s in at.subheader]
        for title in (
            "Real vs predicted frames",
            "Mixture weights over time",
            "Where the mixture lives: samples of the next step",
            "Scoreboard",
        ):
            assert title in subheaders, subheaders
        # draws of one frame's mixture: latents, decoded frames outlined by component, Q-Q
        (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith("seq_predictive")]
        titles = [a["text"] for a in json.loads(chart.proto.spec)["layout"]["annotations"]]
        assert "KS" in titles[0] and "KS" in titles[1] and "data space" in titles[2]
        (chart,) = [c for c in at.get("plotly_chart") if "seq_predictive_frames" in c.proto.id]
        layout = json.loads(chart.proto.spec)["layout"]
        outlines = [shape["line"]["color"] for shape in layout["shapes"]]
        assert len(outlines) == 2 * (1 + 12) and outlines.count("#111111") == 2
        assert any(c.proto.id.endswith("seq_qq") for c in at.get("plotly_chart"))
        at.slider(key="seq_predictive_step").set_value(3).run()
        assert not at.exception and "frame 3 of sequence 0" in " ".join(
            c.value for c in at.caption
        )
        (chart,) = [c for c in at.get("plotly_chart") if "seq_weights" in c.proto.id]
        areas = [t for t in json.loads(chart.proto.spec)["data"] if t.get("stackgroup")]
        assert {t["stackgroup"] for t in areas} == {"RMDN", "FRMDN"}
        # one animation per row of panels (real and both models in step), not one per panel
        captions = [i.caption for e in at.get("image") for i in e.proto.imgs]
        assert captions == [
            "Left to right: Real · RMDN one-step · FRMDN one-step",
            "Left to right: Real · RMDN rollout · FRMDN rollout",
        ], captions
        table = at.dataframe[-1].value
        assert list(table.index) == ["RMDN", "FRMDN"]
        assert table.loc["RMDN", "flow parameters"] == 0 < table.loc["FRMDN", "flow parameters"]
    else:
        assert any("Train both" in i.value for i in at.info), [i.value for i in at.info]
    assert any("MNIST" in c.value for c in at.caption)


def test_switching_the_generator_and_widgets() -> None:
    at = open_page(PAGE)
    at.radio(key="seq_source").set_value("Bouncing balls").run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    if has_pretrained("bouncing-balls"):
        assert "frames:bouncing-balls" in at.sidebar.markdown[-1].value
        at.slider(key="seq_prime").set_value(8).run()
        at.slider(key="seq_index").set_value(3).run()
        assert not at.exception, [e.value for e in at.exception]
    else:
        assert any("Train both" in i.value for i in at.info)
    at.radio(key="seq_source").set_value("Upload a video").run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("No video uploaded" in i.value for i in at.info)


def test_live_training_steps_and_updates_the_scoreboard() -> None:
    at = open_page(PAGE)
    at.select_slider(key="seq_steps").set_value(50).run()
    at.select_slider(key="seq_hidden").set_value(16).run()
    button(at, "Train both").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "trained in this session" in at.sidebar.markdown[-1].value
    settle(at)  # the job runs in a worker process; each rerun polls it
    assert_trained_to_the_end(at, 50)
    after = at.dataframe[-1].value
    assert after["training time (s)"].gt(0).all()


# ----------------------------------------------------------------------------- in a browser
def make_mp4(frames: int = 40, size: int = 64) -> bytes:
    """A small MP4 (H.264 or MPEG-4) of a white square gliding over black, made with PyAV."""
    import io

    import av
    import numpy as np

    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="mp4") as container:
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream = container.add_stream(codec, rate=10)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for t in range(frames):
            image = np.zeros((size, size, 3), dtype=np.uint8)
            x = (t * 3) % (size - 16)
            image[20:36, x : x + 16] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return buffer.getvalue()


def open_in_browser(p, chromium, server: str):  # noqa: F811
    from test_browser import CHROMIUM_ARGS, NAV_LINKS, PAGE_TIMEOUT_MS, VIEWPORT

    browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(f"{server}/")
    page.wait_for_selector(APP_IDLE)
    page.locator(NAV_LINKS, has_text="Image sequences").click()
    page.get_by_role("heading", name="Image sequences: world-model style").wait_for()
    page.wait_for_selector(APP_IDLE)
    page.locator('[data-testid="stRadio"] label', has_text="Upload a video").click()
    page.get_by_text("No video uploaded yet").wait_for()
    page.wait_for_selector(APP_IDLE)
    return browser, page


APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'


@pytest.mark.browser
def test_browser_upload_of_a_small_mp4(chromium, server) -> None:  # noqa: F811
    from playwright.sync_api import sync_playwright
    from test_browser import SCREENSHOTS, errors_on, screenshot_full_page, settle

    with sync_playwright() as p:
        browser, page = open_in_browser(p, chromium, server)
        try:
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
                {"name": "square.mp4", "mimeType": "video/mp4", "buffer": make_mp4()}
            )
            page.get_by_text("Uploaded video:").wait_for()
            settle(page)
            assert not errors_on(page), errors_on(page)
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            screenshot_full_page(page, SCREENSHOTS / "image_sequences-upload.png")
        finally:
            browser.close()


@pytest.mark.browser
def test_browser_corrupt_upload_shows_an_error_and_carries_on(
    chromium,  # noqa: F811
    server,  # noqa: F811
) -> None:
    from playwright.sync_api import sync_playwright
    from test_browser import settle

    with sync_playwright() as p:
        browser, page = open_in_browser(p, chromium, server)
        try:
            page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
                {"name": "broken.mp4", "mimeType": "video/mp4", "buffer": b"not a video" * 50}
            )
            alert = page.locator('[data-testid="stAlertContentError"]')
            alert.wait_for()
            settle(page)
            assert alert.count() == 1 and "Could not use the video" in alert.inner_text()
            assert page.locator('[data-testid="stException"]').count() == 0
            assert page.get_by_text("MNIST", exact=False).count() >= 1
        finally:
            browser.close()


@pytest.mark.parametrize("label", ["Moving digits", "Bouncing balls"])
def test_the_fit_sentence_agrees_with_the_numbers_on_both_scenes(label: str) -> None:
    scene = label.lower().replace(" ", "-")
    if not has_pretrained(scene):
        pytest.skip(f"no bundled pair for {scene}")
    at = settle(open_page(PAGE, {"frames": label}))
    checked_fit_verdict(at, "seq_qq")
    other = "bouncing" if scene == "moving-digits" else "moving digits"
    assert other not in " ".join(c.value for c in [*at.caption, *at.markdown]).lower()

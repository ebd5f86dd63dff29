"""The real app in a real browser: ``streamlit run app.py`` opened in headless Chromium.

Every page reachable from the sidebar navigation is opened; the test fails on any Streamlit
exception or error box, or a JavaScript error, and saves a full-page screenshot of each page to
``artifacts/screenshots/<page>.png`` for a human to look at.

Chromium comes from the OS (Debian package ``chromium``); ``playwright install`` is never used.
Without ``/usr/bin/chromium`` the test is skipped, unless the ``CI`` environment variable is set,
in which case it fails.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# FRMDN_SCREENSHOTS=docs/screenshots refreshes the README's pictures (see docs/make_screenshots.sh)
SCREENSHOTS = ROOT / os.environ.get("FRMDN_SCREENSHOTS", "artifacts/screenshots")
VIEWPORT = {"width": 1400, "height": 1000}
SERVER_START_TIMEOUT_S = 60
PAGE_TIMEOUT_MS = 120_000  # a page's first run imports torch and may train a tiny model
SETTLE_MS = 1_500  # let charts, KaTeX and fonts finish drawing after the script stops

APP_IDLE = '[data-testid="stApp"][data-test-script-state="notRunning"]'
ERROR_SELECTORS = ('[data-testid="stException"]', '[data-testid="stAlertContentError"]')
NAV_LINKS = '[data-testid="stSidebarNavLink"]'


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def chromium() -> Path:
    """The system Chromium, or a skip (a failure under CI) when it is missing."""
    if not CHROMIUM.exists():
        reason = (
            f"{CHROMIUM} not found: install Debian's chromium "
            "(apt-get install -y --no-install-recommends chromium) to run the browser tests"
        )
        if os.environ.get("CI"):
            pytest.fail(f"CI is set but {reason}")
        pytest.skip(reason)
    return CHROMIUM


@contextmanager
def streamlit_server(log_path: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Start ``streamlit run app.py`` on a free port; yield its base URL; always stop it."""
    port = free_port()
    cmd = [
        sys.executable, "-m", "streamlit", "run", "app.py",
        "--server.port", str(port),
        "--server.address", "127.0.0.1",
        "--server.headless", "true",
        "--browser.gatherUsageStats", "false",
    ]  # fmt: skip
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"streamlit exited with {proc.returncode}:\n{log_path.read_text()}")
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if time.monotonic() > deadline:
                pytest.fail(
                    f"streamlit not healthy after {SERVER_START_TIMEOUT_S} s:\n"
                    f"{log_path.read_text()}"
                )
            time.sleep(0.25)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


SHIPPED_RESULTS = ROOT / "assets" / "results" / "quick" / "results.csv"


def results_env(folder: Path) -> dict[str, str]:
    """While the grid's results are not shipped, a small results table for the Compare page
    (``FRMDN_RESULTS``), so its screenshot shows the tables and figures."""
    if SHIPPED_RESULTS.is_file():
        return {}
    from test_page_compare import write_small_results

    return {"FRMDN_RESULTS": str(write_small_results(folder / "results"))}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One server shared by the module's tests."""
    folder = tmp_path_factory.mktemp("streamlit")
    with streamlit_server(folder / "server.log", env={**os.environ, **results_env(folder)}) as url:
        yield url


@contextmanager
def browser_page(
    chromium: Path, args: list[str] = CHROMIUM_ARGS, **context: object
) -> Iterator[tuple[Page, list[str]]]:
    """A page of a fresh headless Chromium (``args``; ``context`` options such as permissions),
    with the test viewport and timeout, and the list its JavaScript errors are collected in."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=args)
        try:
            page = browser.new_context(viewport=VIEWPORT, **context).new_page()
            page.set_default_timeout(PAGE_TIMEOUT_MS)
            js_errors: list[str] = []
            page.on("pageerror", lambda exc: js_errors.append(str(exc)))
            yield page, js_errors
        finally:
            browser.close()


def page_slug(url: str) -> str:
    """``http://host:port/`` -> ``home``; ``http://host:port/toy`` -> ``toy``."""
    path = urlsplit(url).path.strip("/")
    return path.replace("/", "_") or "home"


def screenshot_full_page(page: Page, path: Path) -> None:
    """Save the whole page, not only the viewport.

    Streamlit scrolls inside its main container rather than the document, so Playwright's
    ``full_page`` alone would cut the page at the viewport: grow the viewport to the content's
    height first, then restore it.
    """
    height = page.evaluate(
        """() => Math.max(
            document.documentElement.scrollHeight,
            ...Array.from(document.querySelectorAll('[data-testid="stMain"], section.main'))
                .map(e => e.scrollHeight))"""
    )
    page.set_viewport_size({"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], height)})
    page.wait_for_timeout(300)
    page.screenshot(path=str(path), full_page=True)
    page.set_viewport_size(VIEWPORT)


# ----------------------------------------------------------------------------- audio page
AUDIO_ARGS = [
    *CHROMIUM_ARGS,
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
AUDIO_TITLE = "Audio: listen to RMDN vs FRMDN"
CREDIT = "Asterisk core sounds, recorded by Allison Smith (Digium), CC-BY-SA-3.0"
PRETRAINED_SPEECH = all(
    (ROOT / "assets" / "pretrained" / f"speech-{m}").is_dir() for m in ("rmdn", "frmdn")
)


def make_wav(seconds: float = 3.0, rate: int = 16000) -> bytes:
    """Bursts of a 220 Hz tone with a little noise: a stand-in voice, as WAV bytes."""
    import io

    import numpy as np
    import soundfile as sf

    t = np.arange(int(seconds * rate)) / rate
    y = 0.3 * np.sin(2 * np.pi * 220 * t) * (np.sin(2 * np.pi * 1.5 * t) > 0)
    y += 0.01 * np.random.default_rng(0).standard_normal(t.size)
    buffer = io.BytesIO()
    sf.write(buffer, y.astype(np.float32), rate, format="WAV")
    return buffer.getvalue()


def open_audio_page(page: Page, server: str) -> None:
    """Home first (so app.py's navigation is in place), then the audio page from the sidebar."""
    page.goto(f"{server}/")
    page.wait_for_selector(APP_IDLE)
    page.locator(NAV_LINKS, has_text="Audio").click()
    page.get_by_role("heading", name=AUDIO_TITLE).wait_for()
    page.wait_for_selector(APP_IDLE)


def choose_source(page: Page, label: str) -> None:
    page.locator('[data-testid="stRadio"] label', has_text=label).click()
    page.wait_for_timeout(300)
    page.wait_for_selector(APP_IDLE)


def settle(page: Page) -> None:
    page.wait_for_selector(APP_IDLE)
    page.wait_for_timeout(SETTLE_MS)
    page.wait_for_selector(APP_IDLE)


def errors_on(page: Page) -> list[str]:
    return [
        f"{selector}: {text.strip()[:300]}"
        for selector in ERROR_SELECTORS
        for text in page.locator(selector).all_inner_texts()
    ]


def assert_models_and_audio(page: Page) -> None:
    """With the pretrained models: three players and their views; else the clear info box."""
    if PRETRAINED_SPEECH:
        # the continuations are generated by a job worker: wait for the third player
        page.locator('[data-testid="stDownloadButton"]').nth(2).wait_for()
        settle(page)
        assert page.locator("audio").count() >= 3
        assert page.locator('[data-testid="stDownloadButton"]').count() == 3
        assert page.get_by_role("heading", name="Train vs held-out NLL").count() == 1
    else:
        assert page.get_by_text("Pretrained speech models are not bundled").count() == 1


def test_audio_page_plays_an_uploaded_file(chromium: Path, server: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with browser_page(chromium) as (page, js_errors):
        open_audio_page(page, server)
        choose_source(page, "Upload a file")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
            {"name": "voice.wav", "mimeType": "audio/wav", "buffer": make_wav()}
        )
        page.get_by_text("voice.wav: 3.00 s at 8000 Hz").wait_for()
        settle(page)
        assert not errors_on(page), errors_on(page)
        assert not js_errors, js_errors
        assert_models_and_audio(page)
        if PRETRAINED_SPEECH:
            assert page.get_by_text("Both models read the first 0.50 s of voice.wav").count()
        screenshot_full_page(page, SCREENSHOTS / "audio-upload.png")


@pytest.mark.long
@pytest.mark.skipif(not PRETRAINED_SPEECH, reason="the bundled speech models are not bundled")
def test_audio_page_primes_with_a_voice_the_models_never_heard(chromium: Path, server: str):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with browser_page(chromium) as (page, js_errors):
        open_audio_page(page, server)
        page.locator('[data-testid="stSelectbox"]', has_text="Voice").click()
        page.get_by_role("option", name="es-CO · July E. Jiménez (a held-out voice)").click()
        page.get_by_text("A voice these models never heard").wait_for()
        assert_models_and_audio(page)
        assert "voice=es-co" in page.url
        assert not errors_on(page), errors_on(page)
        assert not js_errors, js_errors
        screenshot_full_page(page, SCREENSHOTS / "audio_voice.png")


def test_audio_page_reports_a_corrupt_upload_and_carries_on(chromium: Path, server: str) -> None:
    with browser_page(chromium) as (page, js_errors):
        open_audio_page(page, server)
        choose_source(page, "Upload a file")
        page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(
            {"name": "broken.wav", "mimeType": "audio/wav", "buffer": make_wav()[:60]}
        )
        alert = page.locator('[data-testid="stAlertContentError"]')
        alert.wait_for()
        settle(page)
        assert alert.count() == 1 and "broken.wav" in alert.inner_text()
        assert page.locator('[data-testid="stException"]').count() == 0
        # the rest of the page still renders, with the bundled clip
        assert page.get_by_text("Showing the bundled clip").count() == 1
        assert page.get_by_text(CREDIT).count() == 1
        assert_models_and_audio(page)


@pytest.mark.long
def test_audio_page_records_from_a_fake_microphone(chromium: Path, server: str) -> None:
    """Chromium's fake capture device plays a beep into st.audio_input's recorder."""
    with browser_page(chromium, args=AUDIO_ARGS, permissions=["microphone"]) as (page, js_errors):
        open_audio_page(page, server)
        choose_source(page, "Record your voice")
        record = page.locator(
            '[data-testid="stAudioInput"] [data-testid="stAudioInputActionButton"]'
        )
        assert record.get_attribute("aria-label") == "Record"
        record.click()
        page.wait_for_function(
            """() => document.querySelector(
                '[data-testid="stAudioInputWaveformTimeCode"]').textContent >= '00:02'"""
        )
        assert record.get_attribute("aria-label") == "Stop recording"
        record.click()
        page.get_by_text("_audio.wav:").wait_for()  # the recording's caption
        settle(page)
        caption = page.get_by_text("_audio.wav:").inner_text()
        seconds = float(caption.split(":")[1].split("s at")[0])
        assert 1.5 < seconds < 4.0, caption
        assert not errors_on(page), errors_on(page)
        assert_models_and_audio(page)


# ----------------------------------------------------------------------------- deep links
# A page URL as a fresh server's very first request: Streamlit's legacy pages/ mode would run the
# page without app.py (raw file names in the sidebar, no device or seed, narrow layout) until
# ui/navigation.py reruns it through app.py's st.navigation.
NAV_TITLES = [
    "Home",
    "Toy 2D sequences",
    "Audio: RMDN vs FRMDN",
    "Single images",
    "Image sequences",
    "World Models",
    "Compare",
]
DEEP_LINKS = {
    "toy": ("/toy?data=moons&K=4&rank=2&seed=3", "Toy 2D sequences", "3"),
    "audio": ("/audio?seed=5", AUDIO_TITLE, "5"),
}
WIDE_MIN_PX = 900  # layout="centered" caps the main block at 736 px; "wide" fills the viewport


@pytest.mark.parametrize("slug", DEEP_LINKS)
def test_a_deep_link_as_a_fresh_servers_first_request_gets_the_whole_app(
    chromium: Path, tmp_path: Path, slug: str
) -> None:
    path, heading, seed = DEEP_LINKS[slug]
    env = {**os.environ, "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with (
        streamlit_server(tmp_path / "server.log", env=env) as url,
        browser_page(chromium) as (page, js_errors),
    ):
        page.goto(f"{url}{path}")  # the server's first request
        page.get_by_role("heading", name=heading).wait_for()
        settle(page)
        name = "deep_link.png" if slug == "toy" else f"deep_link_{slug}.png"
        page.screenshot(path=str(SCREENSHOTS / name))

        assert not errors_on(page), errors_on(page)
        assert not js_errors, js_errors
        nav = [t.strip().split("\n")[-1] for t in page.locator(NAV_LINKS).all_inner_texts()]
        assert nav == NAV_TITLES, f"the sidebar lists {nav}, not app.py's pages"
        sidebar = page.locator('[data-testid="stSidebar"]')
        assert sidebar.get_by_text("Device:").count() == 1
        assert sidebar.get_by_role("spinbutton", name="Global seed").input_value() == seed
        width = page.locator('[data-testid="stMainBlockContainer"]').bounding_box()["width"]
        assert width > WIDE_MIN_PX, f"main block {width} px wide: layout='wide' not applied"
        assert f"seed={seed}" in page.url
        if slug == "toy":
            assert page.get_by_role("combobox", name="Data set").input_value() == "moons"
            assert page.get_by_role("spinbutton", name="Components K").input_value() == "4"
            assert page.get_by_role("spinbutton", name="Precision rank r").input_value() == "2"
            assert "data=moons" in page.url and "K=4" in page.url


# ----------------------------------------------------------------------------- checkpoint upload
def zipped_checkpoint(name: str) -> bytes:
    """A bundled checkpoint directory zipped with its folder, as ``zip -r`` makes it."""
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in (ROOT / "assets" / "pretrained" / name).iterdir():
            archive.write(file, f"{name}/{file.name}")
    return buffer.getvalue()


def test_toy_page_compares_an_uploaded_checkpoint(chromium: Path, server: str) -> None:
    """One real upload through the browser: a good zip gets its table, a bad one an error."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with browser_page(chromium) as (page, js_errors):
        page.goto(f"{server}/")
        page.wait_for_selector(APP_IDLE)
        page.locator(NAV_LINKS, has_text="Toy 2D sequences").click()
        page.get_by_role("heading", name="Scoreboard").wait_for()
        settle(page)
        expander = page.locator('[data-testid="stExpander"]').filter(
            has_text="Compare your own checkpoint"
        )
        expander.locator("summary").click()
        upload = expander.locator('[data-testid="stFileUploaderDropzoneInput"]')
        upload.set_input_files(
            {
                "name": "toy-moons-frmdn.zip",
                "mimeType": "application/zip",
                "buffer": zipped_checkpoint("toy-moons-frmdn"),
            }
        )
        expander.get_by_text("on the 128 toy:ring test sequences").wait_for()
        settle(page)
        assert not errors_on(page), errors_on(page)
        assert not js_errors, js_errors
        assert expander.locator('[data-testid="stDataFrame"]').count() == 1
        expander.scroll_into_view_if_needed()
        page.mouse.move(0, 0)  # no hover toolbar on the table
        page.wait_for_timeout(500)
        expander.screenshot(path=str(SCREENSHOTS / "checkpoint_upload.png"))

        upload.set_input_files(
            {"name": "notes.zip", "mimeType": "application/zip", "buffer": b"not a zip"}
        )
        alert = expander.locator('[data-testid="stAlertContentError"]')
        alert.wait_for()
        settle(page)
        assert "Cannot use notes.zip: not a zip archive" in alert.inner_text()
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.get_by_role("heading", name="Scoreboard").count() == 1


# ----------------------------------------------------------------------------- compare page
COMPARE_TITLE = "Compare: how much comes from the flow?"


def open_compare_page(page: Page, server: str) -> None:
    page.goto(f"{server}/compare")
    page.get_by_role("heading", name=COMPARE_TITLE).wait_for()
    settle(page)


def test_compare_page_shows_the_results_table_and_figures(chromium: Path, server: str) -> None:
    with browser_page(chromium) as (page, js_errors):
        open_compare_page(page, server)
        charts = page.locator(".js-plotly-plot")
        charts.nth(4).wait_for(state="attached")  # strip + pairs per data set, params, heads
        settle(page)
        assert not errors_on(page), errors_on(page)
        assert not js_errors, js_errors
        assert page.get_by_role("heading", name="Summary over seeds").count() == 1
        assert page.locator('[data-testid="stDataFrame"]').count() >= 2  # summary, differences
        assert page.get_by_text("the flow improves test NLL by").count() >= 1
        assert page.get_by_role("button", name="Run").count() == 1


@pytest.mark.long
def test_compare_page_without_results_says_so_and_runs_a_fresh_grid(
    chromium: Path, tmp_path: Path
) -> None:
    """No shipped results: a plain info box, no error; then a real smoke grid run in the page
    becomes the source and its table and figures render."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "FRMDN_RESULTS": str(tmp_path / "none" / "results.csv"),
        "FRMDN_CACHE": str(tmp_path / "cache"),  # a fresh grid, not one a earlier run left
    }
    with (
        streamlit_server(tmp_path / "server.log", env=env) as url,
        browser_page(chromium) as (page, js_errors),
    ):
        open_compare_page(page, url)
        assert not errors_on(page), errors_on(page)
        assert not js_errors, js_errors
        assert page.get_by_text("The shipped results are not here yet").count() == 1
        assert page.get_by_role("radio").count() == 3 + 2  # shipped, directory, upload; 2 suites
        assert page.get_by_role("button", name="Run").count() == 1
        screenshot_full_page(page, SCREENSHOTS / "compare-missing.png")

        page.get_by_text("Smoke test (every kind, 30 steps").click()
        settle(page)
        page.get_by_role("button", name="Run").click()
        page.get_by_text("Finished all 6 cells on toy:ring").wait_for(timeout=180_000)
        settle(page)
        assert not errors_on(page), errors_on(page)
        assert not js_errors, js_errors
        assert page.get_by_role("heading", name="Summary over seeds").count() == 1
        assert page.get_by_text("6 cells from your in-page run on toy:ring").count() == 1
        screenshot_full_page(page, SCREENSHOTS / "compare-run.png")


# ----------------------------------------------------------------------------- teaching views
TEACHING_VIEWS = {  # page -> the keys of its teaching views' charts, in page order
    "toy": ("toy_flow_layers", "toy_predictive", "toy_qq", "toy_weights"),
    "audio": ("audio_weights", "audio_predictive", "audio_predictive_traces", "audio_qq"),
    "single_images": (
        "img_profile",
        "img_predictive",
        "img_predictive_traces",
        "img_predictive_digits",
        "img_qq",
    ),
    "image_sequences": ("seq_weights", "seq_predictive", "seq_predictive_frames", "seq_qq"),
    "worlds": ("worlds_weights", "worlds_predictive", "worlds_qq"),
}


@pytest.mark.long
@pytest.mark.parametrize("slug", list(TEACHING_VIEWS))
def test_teaching_views_draw_on_every_family(chromium: Path, server: str, slug: str) -> None:
    """Each family's teaching views (the predictive draws, the Q-Q plot of the Gaussians' fit,
    the mixture weights, the flow's layers) draw as Plotly charts with no error box; each is
    saved as ``<key>.png`` for the README."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with browser_page(chromium) as (page, js_errors):
        page.goto(f"{server}/{slug}")
        settle(page)
        for key in TEACHING_VIEWS[slug]:
            chart = page.locator(f".st-key-{key}")
            chart.wait_for()
            chart.scroll_into_view_if_needed()
            chart.locator(".main-svg").first.wait_for()
            page.wait_for_timeout(500)
            box = chart.bounding_box()
            assert box is not None and box["width"] > 400 and box["height"] > 200, (key, box)
            chart.screenshot(path=str(SCREENSHOTS / f"{key}.png"))
            if key == "toy_flow_layers":  # the animation's last frame: the plane bent into z
                tick = chart.locator("rect.slider-tick-rect").last.bounding_box()
                assert tick is not None
                page.mouse.click(tick["x"] + tick["width"] / 2, tick["y"] + tick["height"] / 2)
                page.wait_for_timeout(1500)
                shown = chart.locator("g.slider-group > text.slider-label").first.text_content()
                assert shown == "showing: layer 5", shown
                chart.screenshot(path=str(SCREENSHOTS / f"{key}_z.png"))
        assert not errors_on(page), errors_on(page)
        assert not js_errors, js_errors


# ----------------------------------------------------------------------------- links
# Per page: a link, the URL values the page must write back after reading it (sliders show
# their values only as the URL the page rewrites), and where "Components K" sits.
ROUND_TRIPS = {
    "toy": ("data=moons&K=4&couplings=3&t=12&temperature=0.6", None),
    "audio": ("K=3&couplings=2&continuation=1&temperature=0.8", None),
    "single_images": ("K=2&temperature=0.5&row=20&digits=6", "Model settings for"),
    "image_sequences": ("K=2&sequence=3&prime=6&t=10", "Model settings for"),
    "worlds": (
        "world=Doom%3A+Take+Cover&K=2&episode=3&start=6&track=L4.R2&t=10",
        "Model settings for",
    ),
    "compare": ("K=8&extension=0&models=RMDN+diagonal%2CFRMDN+diagonal", None),
}


def components_k(page: Page, expander: str | None):
    """The page's "Components K" input, its expander opened first where it has one."""
    box = page.get_by_role("spinbutton", name="Components K")
    if expander and not box.is_visible():
        page.get_by_text(expander).first.click()
    return box


def query_of(url: str) -> dict[str, str]:
    from urllib.parse import parse_qsl

    return dict(parse_qsl(urlsplit(url).query))


@pytest.mark.long
def test_every_page_keeps_its_view_in_its_url_and_a_fresh_server_reopens_it(
    chromium: Path, server: str, tmp_path: Path
) -> None:
    from urllib.parse import parse_qsl

    reopen: dict[str, str] = {}
    with browser_page(chromium) as (page, js_errors):
        for slug, (query, expander) in ROUND_TRIPS.items():
            page.goto(f"{server}/{slug}?{query}")
            settle(page)
            asked = dict(parse_qsl(query))
            shown = query_of(page.url)
            assert {k: shown.get(k) for k in asked} == asked, f"{slug}: {page.url}"
            box = components_k(page, expander)
            assert box.input_value() == asked["K"], slug
            box.fill("5")
            box.press("Enter")
            page.wait_for_url(lambda url: query_of(url).get("K") == "5")
            settle(page)
            assert not errors_on(page) and not js_errors, (slug, errors_on(page), js_errors)
            reopen[slug] = page.url
    with (
        streamlit_server(
            tmp_path / "server.log", env={**os.environ, **results_env(tmp_path)}
        ) as fresh,
        browser_page(chromium) as (page, js_errors),
    ):
        for slug, url in reopen.items():
            page.goto(fresh + url.removeprefix(server))
            settle(page)
            assert query_of(page.url) == query_of(url), slug
            assert components_k(page, ROUND_TRIPS[slug][1]).input_value() == "5", slug
            assert not errors_on(page) and not js_errors, (slug, errors_on(page), js_errors)


# ----------------------------------------------------------------------------- the lesson
# What each lesson step (app.LESSON, in order) names on its page: the headings it sends the
# class to, and the URL values its link sets.
LESSON_VIEWS = (
    ("Toy 2D sequences", ["The flow, layer by layer", "Where the mixture lives"], "data=ring"),
    ("Toy 2D sequences", ["Predicted next-step density", "Generated sequences"], "data=moons"),
    ("Toy 2D sequences", ["Scoreboard"], "data=clusters"),
    (AUDIO_TITLE, ["Listen: the same start", "Where the mixture lives", "Train vs held-out"], ""),
    ("Single images: pixels as a sequence", ["Top-half completion", "Bits per dimension"], ""),
    ("Image sequences: world-model style", ["Real vs predicted frames"], ""),
    ("World Models: CarRacing and Doom", ["The dream you steer", "A held-out episode"], ""),
    ("Compare: how much comes from the flow?", ["What the flow adds", "What a mixture head"], ""),
)


def lesson_steps() -> tuple:
    """app.LESSON, read from the source (importing app.py would run the app)."""
    import ast

    tree = ast.parse((ROOT / "app.py").read_text())
    (value,) = [
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "LESSON"
    ]
    return ast.literal_eval(value)


@pytest.mark.long
def test_the_lesson_walk_opens_every_step_in_the_state_it_describes(
    chromium: Path, server: str
) -> None:
    """The home page and every page of the sidebar render without an error (each page's
    first lesson link opens its default view: a full-page screenshot of it, named after the
    page), and each lesson step opens in the state it describes."""
    LESSON = lesson_steps()
    assert len(LESSON) == len(LESSON_VIEWS)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with browser_page(chromium) as (page, js_errors):
        page.goto(f"{server}/")  # one session, as a class would walk it
        settle(page)
        assert not errors_on(page) and not js_errors, (errors_on(page), js_errors)
        screenshot_full_page(page, SCREENSHOTS / "home.png")
        hrefs = page.locator(NAV_LINKS).evaluate_all("links => links.map(a => a.href)")
        unvisited = {page_slug(href) for href in hrefs} - {"home"}
        for number, (step, (title, headings, query)) in enumerate(
            zip(LESSON, LESSON_VIEWS, strict=True), start=1
        ):
            page.locator(NAV_LINKS).filter(has_text="Home").click()  # back to the lesson
            page.get_by_role("heading", name="FRMDN Lab").wait_for()
            page.get_by_text(f"{number}. {step[3]}", exact=True).click()
            page.get_by_role("heading", name=title).wait_for()
            settle(page)
            if page_slug(page.url) in unvisited:  # the page's first visit: its default view
                unvisited.remove(page_slug(page.url))
                screenshot_full_page(page, SCREENSHOTS / f"{page_slug(page.url)}.png")
            for heading in headings:
                page.get_by_role("heading", name=heading).first.wait_for()
            assert query in page.url, (number, page.url)
            for name, value in step[2].items():
                assert f"{name}={value}" in page.url, (number, page.url)
            assert not errors_on(page) and not js_errors, (number, errors_on(page), js_errors)
            page.get_by_role("heading", name=headings[0]).first.scroll_into_view_if_needed()
            page.screenshot(path=str(SCREENSHOTS / f"lesson_{number}.png"))
            if "**Train both**" in step[4] and "record" not in step[4]:  # the step trains
                assert page.get_by_text("the panel says").count() == 1  # K=1 over K=3
                started = time.monotonic()
                page.get_by_role("button", name="Train both").click()
                page.get_by_text("Training finished").first.wait_for()
                print(f"lesson step {number}: Train both took {time.monotonic() - started:.0f} s")
                settle(page)
                assert page.get_by_text("the panel says").count() == 0  # the pair on screen
                page.get_by_role("heading", name=headings[0]).first.scroll_into_view_if_needed()
                page.screenshot(path=str(SCREENSHOTS / f"lesson_{number}_trained.png"))
        assert not unvisited, f"the lesson never opens {unvisited}"

"""Headless Streamlit tests of app.py and every page, with ``streamlit.testing.v1.AppTest``.

AppTest runs the scripts without a browser; layout, charts and audio are covered by
``test_browser.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
APP = ROOT / "app.py"
TIMEOUT = 60  # seconds per run: importing torch alone can pass AppTest's 3 s default

# Every page file must be registered in app.py; None is the home page (the default page).
PAGE_FILES: list[str | None] = [None] + sorted(
    p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py")
)

pytestmark = pytest.mark.usefixtures("clear_streamlit_caches")


def open_app(page: str | None = None) -> AppTest:
    """Run app.py once, then switch to ``page`` (a path like ``pages/toy.py``) if given."""
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.run()
    if page is not None:
        at.switch_page(page)
        at.run()
    return at


@pytest.mark.parametrize("page", PAGE_FILES, ids=lambda p: "home" if p is None else Path(p).stem)
def test_page_runs_without_exception(page: str | None) -> None:
    at = open_app(page)
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def test_home_shows_the_equations() -> None:
    at = open_app()
    assert at.title[0].value == "FRMDN Lab"
    latex = " ".join(e.value for e in at.latex)
    assert len(at.latex) >= 3
    assert r"\log\left|\det \frac{\partial f}{\partial y}" in latex  # change of variables
    assert r"\Sigma_k^{-1} = D_k + U_k U_k^{\top}" in latex  # low-rank-plus-diagonal precision
    assert r"\log\det\!\left(I_r + U_k^{\top} D_k^{-1} U_k\right)" in latex  # determinant lemma


def test_home_has_a_lesson_whose_links_open_each_view_in_its_state() -> None:
    from app import LESSON

    at = open_app()
    assert any(s.value.startswith("A lesson in 20 minutes") for s in at.subheader)
    assert sum(step[0] for step in LESSON) == 20
    links = at.get("page_link")
    lesson = [link for link in links if link.proto.icon == ":material/arrow_forward:"]
    assert len(lesson) == len(LESSON)
    assert [link.proto.label[:10] for link in lesson] == [
        f":blue[**{n}." for n in range(1, len(LESSON) + 1)
    ]
    moons = next(link for link in lesson if "moons" in link.proto.label)
    assert moons.proto.page == "toy" and moons.proto.query_string == "data=moons&K=1&rank=1"


def test_sidebar_shows_the_device() -> None:
    from frmdn.device import default_device, describe_device

    at = open_app()
    sidebar_text = " ".join(m.value for m in at.sidebar.markdown)
    assert describe_device(default_device()) in sidebar_text
    assert at.session_state["device"] == str(default_device())


def test_seed_widget_updates_session_state() -> None:
    at = open_app()
    seed = at.sidebar.number_input(key="seed")
    assert at.session_state["seed"] == seed.value == 0
    seed.set_value(1234).run()
    assert not at.exception
    assert at.session_state["seed"] == 1234
    at.run()  # the value survives a rerun
    assert at.session_state["seed"] == 1234


def test_a_page_run_before_app_py_ever_ran_reruns_through_app() -> None:
    """A page file run on its own (Streamlit's legacy ``pages/`` mode) reruns through app.py.

    ``AppTest`` resets ``PagesManager.uses_pages_directory`` before every run, and switching page
    before the first run makes Streamlit run ``pages/toy.py`` without app.py, as a fresh server
    does for a deep link; the page's first call, ``serve_pages_through_app``, reroutes it.
    """
    from streamlit.runtime.pages_manager import PagesManager

    assert hasattr(PagesManager, "uses_pages_directory"), "Streamlit changed: see ui/navigation.py"
    at = AppTest.from_file(str(APP), default_timeout=TIMEOUT)
    at.query_params["seed"] = "3"
    at.switch_page("pages/toy.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    sidebar_text = " ".join(m.value for m in at.sidebar.markdown)
    assert "**Device:**" in sidebar_text  # app.py's sidebar ran
    assert at.sidebar.number_input(key="seed").value == 3
    assert at.title[0].value.startswith("Toy 2D sequences")

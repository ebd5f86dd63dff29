"""Helpers shared by the AppTest page tests: open a page through app.py, find a button."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest
from streamlit.testing.v1.element_tree import Button

APP = Path(__file__).resolve().parents[1] / "app.py"


def open_page(page: str, query: dict[str, str] | None = None, timeout: int = 180) -> AppTest:
    """Run app.py (with URL ``query``), switch to ``page`` and check it ran without exception."""
    at = AppTest.from_file(str(APP), default_timeout=timeout)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def button(at: AppTest, label: str) -> Button:
    """The page's button labelled ``label``."""
    return next(b for b in at.button if b.label == label)

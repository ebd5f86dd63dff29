"""Captions say what to look at in a sentence or two: at most 80 words each on every page
(the method goes in a "How to read this" expander)."""

from __future__ import annotations

import pytest
from apptest_pages import open_page

PAGES = (
    "pages/toy.py",
    "pages/audio.py",
    "pages/single_images.py",
    "pages/image_sequences.py",
    "pages/compare.py",
)
MAX_WORDS = 80

pytestmark = pytest.mark.usefixtures("clear_streamlit_caches")


@pytest.mark.parametrize("page", PAGES)
def test_no_caption_is_a_wall_of_text(page: str) -> None:
    at = open_page(page)
    assert len(at.caption) > 3  # the page drew its views
    long = [(len(c.value.split()), c.value[:60]) for c in at.caption]
    assert not [item for item in long if item[0] > MAX_WORDS], long


def test_the_audio_scoreboard_says_why_its_nlls_are_negative() -> None:
    at = open_page("pages/audio.py")
    texts = " ".join(m.value for m in at.markdown)
    assert "An NLL below zero is no error" in texts  # the bundled speech scores about -237

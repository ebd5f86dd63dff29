"""Every page's view in its URL: linked widgets write their values to the query string as the
user changes them, and a link (a shared URL, a lesson step) sets those widgets on arrival.

Written here rather than with Streamlit's ``bind="query-params"``: that names each parameter
after the widget's key (our lesson links and the README use short names such as ``K``), drops
an out-of-range value without a word (a page here says once what was asked and what is shown),
and never sets the server's ``st.query_params``, so AppTest could not check a page's URL.

A page wraps each group of widgets::

    with links.linked("toy", [Whole("K", "toy_K", 1, 10)]):
        st.number_input("Components K", 1, 10, key="toy_K", persist_state="session")

and at its end calls :func:`tell` with the ``st.empty()`` where the one-line note belongs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import streamlit as st

NOTE_START = "This link asked for values the page cannot show: "


class Unreadable(ValueError):
    """A URL value this field cannot turn into any value of its widget."""


@dataclass(frozen=True)
class Whole:
    """A whole number in [low, high] (number inputs, integer sliders)."""

    name: str
    key: str
    low: int
    high: int

    def read(self, text: str) -> tuple[int, bool]:
        """The value to show for ``text`` and whether it is exactly what was asked."""
        try:
            value = int(text)
        except ValueError as error:
            raise Unreadable(text) from error
        shown = min(max(value, self.low), self.high)
        return shown, shown == value

    def write(self, value: Any) -> str:
        return str(int(value))


@dataclass(frozen=True)
class Number:
    """A real number in [low, high] (float sliders)."""

    name: str
    key: str
    low: float
    high: float

    def read(self, text: str) -> tuple[float, bool]:
        try:
            value = float(text)
        except ValueError as error:
            raise Unreadable(text) from error
        if not math.isfinite(value):
            raise Unreadable(text)
        shown = min(max(value, self.low), self.high)
        return shown, shown == value

    def write(self, value: Any) -> str:
        return f"{float(value):g}"


@dataclass(frozen=True)
class Choice:
    """One of ``options`` (select boxes, radios, select sliders), named by ``str(option)``;
    with ``nearest``, a number between numeric options picks the closest one."""

    name: str
    key: str
    options: Sequence[Any]
    nearest: bool = False

    def read(self, text: str) -> tuple[Any, bool]:
        for option in self.options:
            if str(option) == text:
                return option, True
        if self.nearest:
            try:
                value = float(text)
            except ValueError as error:
                raise Unreadable(text) from error
            if math.isfinite(value):
                return min(self.options, key=lambda option: abs(option - value)), False
        raise Unreadable(text)

    def write(self, value: Any) -> str:
        return str(value)


@dataclass(frozen=True)
class Flag:
    """A checkbox or toggle: ``1`` or ``0`` in the URL."""

    name: str
    key: str

    def read(self, text: str) -> tuple[bool, bool]:
        words = {"1": True, "true": True, "0": False, "false": False}
        if text.lower() not in words:
            raise Unreadable(text)
        return words[text.lower()], True

    def write(self, value: Any) -> str:
        return "1" if value else "0"


@dataclass(frozen=True)
class Several:
    """Some of ``options`` (multiselects), comma-separated; unknown names are left out."""

    name: str
    key: str
    options: Sequence[str]

    def read(self, text: str) -> tuple[list[str], bool]:
        asked = [item for item in text.split(",") if item]
        known = [option for option in self.options if option in asked]
        return known, len(known) == len(asked)

    def write(self, value: Any) -> str:
        return ",".join(value)


@dataclass(frozen=True)
class Text:
    """A text value kept in session state (not a widget), e.g. a dream's track of actions:
    ``normal`` returns the value's normal form or raises ValueError for one it cannot read."""

    name: str
    key: str
    normal: Callable[[str], str]

    def read(self, text: str) -> tuple[str, bool]:
        try:
            value = self.normal(text)
        except ValueError as error:
            raise Unreadable(text) from error
        return value, value == text

    def write(self, value: Any) -> str:
        return str(value)


Link = Whole | Number | Choice | Flag | Several | Text


def _written(page: str) -> dict[str, str]:
    """What ``page`` last wrote to the URL, per parameter name."""
    return st.session_state.setdefault(f"{page}_link_written", {})


def _notes() -> list[str]:
    """This run's notes, from every page and app.py's sidebar, until :func:`tell` says them."""
    return st.session_state.setdefault("link_notes", [])


def follow(page: str, fields: Sequence[Link]) -> list[tuple[Link, str]]:
    """Set each field's widget state from the URL where the URL holds a value this page did not
    write itself (a link was opened); a visit without query keeps the session's settings.
    Returns the fields whose asked value could not be shown exactly, with what was asked."""
    written, inexact = _written(page), []
    for field in fields:
        asked = st.query_params.get(field.name)
        if asked is None or asked == written.get(field.name):
            continue
        try:
            value, exact = field.read(asked)
        except Unreadable:
            inexact.append((field, asked))
            continue
        st.session_state[field.key] = value
        if not exact:
            inexact.append((field, asked))
    return inexact


def record(page: str, fields: Sequence[Link], inexact: Sequence[tuple[Link, str]] = ()) -> None:
    """Write each drawn field's value to the URL, and note what a link asked that the widgets
    show otherwise (``inexact``, from :func:`follow`)."""
    written, update = _written(page), {}
    for field in fields:
        if field.key in st.session_state:
            update[field.name] = field.write(st.session_state[field.key])
    st.query_params.update(update)
    written.update(update)
    _notes().extend(
        f"{field.name}={asked} → {update[field.name]}"
        for field, asked in inexact
        if field.name in update
    )


@contextmanager
def linked(page: str, fields: Sequence[Link]) -> Iterator[None]:
    """Follow the URL before the widgets inside are drawn, and record them after."""
    inexact = follow(page, fields)
    yield
    record(page, fields, inexact)


def tell(slot: Any) -> None:
    """Say once, in ``slot`` (an ``st.empty()``), what this run's link asked that the page
    cannot show."""
    notes = st.session_state.pop("link_notes", [])
    if notes:
        slot.info(NOTE_START + ", ".join(notes) + ".", icon=":material/link:")

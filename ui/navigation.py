"""Serve every page through app.py's ``st.navigation``, even on a fresh server's first request.

Streamlit keeps one process-wide switch, ``PagesManager.uses_pages_directory``
(``streamlit/runtime/pages_manager.py``). The first session's ``PagesManager`` sets it to True
because a folder named ``pages`` sits beside app.py, and while it is True
``ScriptRunner._run_script`` (``streamlit/runtime/scriptrunner/script_runner.py``) takes the
legacy multipage path ``_mpa_v1``: it builds a navigation from the file names in ``pages/`` and
runs the requested file on its own, without app.py. Only a call to ``st.navigation`` turns the
switch off, so on a server whose very first request is a deep link such as ``/toy?data=moons``
app.py never runs for that session: no ``st.set_page_config`` (narrow layout), no shared sidebar
(device, seed), raw file names in the navigation. It heals once someone opens ``/``.

``streamlit run`` has no setting and no start-up hook to turn the switch off before the first
session, and the legacy path never runs app.py, so the fix sits in the first project code that
path does run: every page imports :mod:`ui`, whose ``__init__`` calls
:func:`serve_pages_through_app`. That clears the switch exactly as ``st.navigation`` does and
reruns; the rerun keeps the page (its hash comes from the same ``url_path``) and the query string,
and now runs app.py, which routes to the page. Importing runs the check once per process, which
is enough: the switch is set when the first session opens and, once cleared, stays cleared, and
a server first imports :mod:`ui` inside a script run. (Two sessions that open at the same moment
on a fresh server may leave the second one's first run legacy; its next rerun is normal.)
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx


def running_without_app_navigation() -> bool:
    """True while this process has not run app.py's ``st.navigation`` and pages run on their own.

    Reads a Streamlit internal; should a Streamlit upgrade drop it, this is False (the fix turns
    itself off, the app still runs) and the deep-link browser tests in tests/test_browser.py fail.
    """
    return bool(getattr(PagesManager, "uses_pages_directory", False))


def serve_pages_through_app() -> None:
    """Rerun through app.py when Streamlit runs a page file by itself (its legacy ``pages/`` mode).

    Call it before a page draws anything. Outside a script run, and once app.py's
    ``st.navigation`` has run in this process, it does nothing.
    """
    if get_script_run_ctx(suppress_warning=True) is None or not running_without_app_navigation():
        return
    PagesManager.uses_pages_directory = False  # what st.navigation does before anything else
    st.rerun()

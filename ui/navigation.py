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
path does run: every page calls :func:`serve_pages_through_app` before it draws anything. In a
session whose runs have never gone through app.py (app.py calls :func:`mark_routed`), it clears
the switch exactly as ``st.navigation`` does and reruns, once; the rerun keeps the page (its
hash comes from the same ``url_path``) and the query string, and now runs app.py, which routes
to the page. Deciding per session, not by the process-wide switch alone, also reroutes a
session that opened in legacy mode at the same moment as another one cleared the switch (a
class opening a shared link on a freshly started server).
"""

from __future__ import annotations

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager
from streamlit.runtime.scriptrunner import get_script_run_ctx

ROUTED = "_frmdn_routed_through_app"  # session state: app.py has run in this session
REROUTED = "_frmdn_rerouted"  # session state: this session was sent through app.py once


def mark_routed() -> None:
    """Record that this session's runs go through app.py's navigation (app.py calls it)."""
    st.session_state[ROUTED] = True


def serve_pages_through_app() -> None:
    """Rerun through app.py when Streamlit ran this page file by itself (its legacy ``pages/``
    mode) in a session that app.py has never routed; at most once per session.

    Call it before a page draws anything. Outside a script run it does nothing.
    """
    if get_script_run_ctx(suppress_warning=True) is None:
        return
    state = st.session_state
    if state.get(ROUTED) or state.get(REROUTED):
        return
    state[REROUTED] = True
    PagesManager.uses_pages_directory = False  # what st.navigation does before anything else
    st.rerun()

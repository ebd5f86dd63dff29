"""Streamlit building blocks shared by the pages (layout only; the maths lives in frmdn)."""

from ui.navigation import serve_pages_through_app

# Every page imports ui first: a deep link on a fresh server must still run through app.py.
serve_pages_through_app()

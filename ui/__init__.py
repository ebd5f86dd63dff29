"""Streamlit building blocks shared by the pages (layout only; the maths lives in frmdn)."""

#!/usr/bin/env bash
# Refresh the README's page screenshots: runs the real-browser test with its screenshots
# written to docs/screenshots/ instead of artifacts/. Needs /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FRMDN_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest -q tests/test_browser.py
ls -l docs/screenshots

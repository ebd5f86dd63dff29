#!/usr/bin/env bash
# Refresh the README's page screenshots: runs the real-browser test with its screenshots
# written to docs/screenshots/ instead of artifacts/, then shrinks them to palette PNGs (each
# refresh stays in .git for good). Needs /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
FRMDN_SCREENSHOTS=docs/screenshots .venv/bin/python -m pytest -q -m browser tests/test_browser.py \
    tests/test_page_worlds.py
.venv/bin/python tools/shrink_png.py docs/screenshots
ls -l docs/screenshots

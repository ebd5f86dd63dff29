"""Shrink the README's screenshots before they are committed: each PNG becomes a 256-colour
palette image (median cut, no dithering), about a third of the size and indistinguishable for
flat UI and plots. Every refresh of the screenshots adds its files to .git for good, so this
keeps the repository under its ~80 MB budget. Standard library and Pillow only.

Run: .venv/bin/python tools/shrink_png.py [FOLDER]   (default: docs/screenshots)
"""

from __future__ import annotations

import io
import sys
from pathlib import Path

from PIL import Image

COLOURS = 256


def shrink(path: Path) -> tuple[int, int]:
    """Rewrite ``path`` as a palette PNG when that is smaller; returns (bytes before, after)."""
    before = path.stat().st_size
    with Image.open(path) as image:
        palette = image.convert("RGB").quantize(
            colors=COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
        )
    buffer = io.BytesIO()
    palette.save(buffer, format="PNG", optimize=True)
    if buffer.tell() >= before:
        return before, before
    path.write_bytes(buffer.getvalue())
    return before, buffer.tell()


def main(argv: list[str]) -> int:
    folder = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "docs/screenshots"
    total_before = total_after = 0
    for path in sorted(folder.glob("*.png")):
        before, after = shrink(path)
        total_before, total_after = total_before + before, total_after + after
    print(f"{folder}: {total_before / 2**20:.1f} MiB -> {total_after / 2**20:.1f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

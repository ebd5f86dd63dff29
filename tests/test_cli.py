"""Tests for the command line (``python -m frmdn``), run in-process with
``frmdn.cli.main.main``."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from frmdn import FRMDN, RMDN, load
from frmdn.checkpoints.load import read_metadata
from frmdn.cli.main import main

TINY = [
    "--hidden", "8", "--components", "2", "--flow-layers", "2", "--flow-hidden", "8",
    "--batch-size", "16", "--steps", "20", "--eval-every", "10", "--quiet",
]  # fmt: skip


def _run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    capsys.readouterr()
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _one_json_line(out: str) -> dict:
    lines = out.splitlines()
    assert len(lines) == 1, out
    return json.loads(lines[0])


def _assert_clean_error(code: int, out: str, err: str, message: str = "") -> None:
    assert code == 2
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in err
    assert message in lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny RMDN and FRMDN checkpoints trained on toy:ring by the CLI."""
    root = tmp_path_factory.mktemp("cli")
    for kind in ("rmdn", "frmdn"):
        argv = ["train", "--data", "toy:ring", "--model", kind, "--out", str(root / kind)]
        assert main([*argv, *TINY]) == 0
    return {kind: root / kind for kind in ("rmdn", "frmdn")}


# ------------------------------------------------------------------ train
@pytest.mark.parametrize("kind", ["rmdn", "frmdn"])
def test_train_writes_a_loadable_checkpoint(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "ck"
    code, stdout, stderr = _run(
        capsys, "train", "--data", "toy:ring", "--model", kind, "--out", out, *TINY
    )
    assert code == 0 and stderr == ""
    line = _one_json_line(stdout)
    assert line["checkpoint"] == str(out)
    assert line["model"] == kind.upper() and line["data"] == "toy:ring"
    assert line["steps"] == 20 and line["stop_reason"] == "completed"
    assert math.isfinite(line["test_nll"]) and math.isfinite(line["valid_nll"])

    model = load(out)
    assert isinstance(model, RMDN if kind == "rmdn" else FRMDN)
    assert model.config.hidden_size == 8 and model.config.n_components == 2
    meta = read_metadata(out)
    assert meta["data"]["spec"] == "toy:ring"
    assert meta["metrics"]["test_nll"] == pytest.approx(line["test_nll"])
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors"]


def test_train_without_quiet_keeps_stdout_to_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a for a in TINY if a != "--quiet"]
    code, stdout, stderr = _run(
        capsys, "train", "--data", "toy:clusters", "--model", "rmdn", "--out", tmp_path, *argv
    )
    assert code == 0
    assert _one_json_line(stdout)["data"] == "toy:clusters"
    assert "training RMDN on toy:clusters" in stderr
    # the suite sets FRMDN_THREADS=1 (conftest.py): the CLI says so and how to change it
    assert "frmdn: 1 torch thread ($FRMDN_THREADS); change with --threads N" in stderr


def test_threads_flag_sets_torch_threads(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = [a for a in TINY if a != "--quiet"]
    code, _, stderr = _run(
        capsys, "train", "--data", "toy:ring", "--out", tmp_path, *argv, "--threads", "2"
    )
    assert code == 0 and "frmdn: 2 torch threads (--threads)" in stderr
    assert torch.get_num_threads() == 2
    torch.set_num_threads(1)
    monkeypatch.setenv("FRMDN_THREADS", "lots")
    code, out, err = _run(capsys, "train", "--data", "toy:ring", "--out", tmp_path, *TINY)
    _assert_clean_error(code, out, err, "FRMDN_THREADS must be a whole number")


# ------------------------------------------------------------------ eval
@pytest.mark.parametrize("kind", ["rmdn", "frmdn"])
def test_eval_prints_one_json_line(
    kind: str, trained: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = trained[kind]
    code, stdout, stderr = _run(capsys, "eval", "--checkpoint", checkpoint)
    assert code == 0 and stderr == ""
    line = _one_json_line(stdout)
    assert {"nll", "nll_per_dim", "split", "data", "model"} <= set(line)
    assert line["split"] == "test" and line["data"] == "toy:ring"
    assert line["unit"] == "nats/step"
    assert line["nll_per_dim"] == pytest.approx(line["nll"] / 2)
    # The same test split the training run scored, so the same NLL.
    assert line["nll"] == pytest.approx(read_metadata(checkpoint)["metrics"]["test_nll"], rel=1e-4)


def test_eval_other_split_and_data(
    trained: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = trained["rmdn"]
    code, stdout, _ = _run(capsys, "eval", "--checkpoint", checkpoint, "--split", "valid")
    assert code == 0
    valid = _one_json_line(stdout)
    assert valid["split"] == "valid"
    best = read_metadata(checkpoint)["metrics"]["best_valid_nll"]
    assert valid["nll"] == pytest.approx(best, rel=1e-4)

    code, stdout, _ = _run(capsys, "eval", "--checkpoint", checkpoint, "--data", "toy:clusters")
    assert code == 0
    other = _one_json_line(stdout)
    assert other["data"] == "toy:clusters" and math.isfinite(other["nll"])


def test_eval_wrong_dimension_errors_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    RMDN(1, 2, hidden_size=8).save(tmp_path / "d1", data={"spec": "toy:ring", "seed": 0})
    code, out, err = _run(capsys, "eval", "--checkpoint", tmp_path / "d1")
    _assert_clean_error(code, out, err, "dimension")


def test_eval_without_a_data_spec_asks_for_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    RMDN(2, 2, hidden_size=8).save(tmp_path / "ck")
    code, out, err = _run(capsys, "eval", "--checkpoint", tmp_path / "ck")
    _assert_clean_error(code, out, err, "--data")
    code, stdout, _ = _run(capsys, "eval", "--checkpoint", tmp_path / "ck", "--data", "toy:ring")
    assert code == 0 and _one_json_line(stdout)["model"] == "RMDN"


@pytest.mark.parametrize(
    "edit",
    [
        lambda meta: meta.pop("data"),
        lambda meta: meta.update(data=["toy:ring"]),
        lambda meta: meta["data"].update(seed="zero"),
        lambda meta: meta["data"].update(spec=5),
    ],
    ids=["no-data", "data-list", "seed-string", "spec-number"],
)
def test_eval_with_odd_data_metadata_errors_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], edit: object
) -> None:
    path = RMDN(2, 2, hidden_size=8).save(tmp_path / "ck", data={"spec": "toy:ring", "seed": 0})
    meta = json.loads((path / "config.json").read_text())
    edit(meta)
    (path / "config.json").write_text(json.dumps(meta))
    code, out, err = _run(capsys, "eval", "--checkpoint", path)
    _assert_clean_error(code, out, err)


# ------------------------------------------------------------------ sample
def test_sample_npy(
    trained: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = trained["frmdn"]
    out = tmp_path / "sub" / "samples.npy"
    code, stdout, stderr = _run(
        capsys, "sample", "--checkpoint", checkpoint, "--out", out, "-n", 3, "--steps", 5
    )
    assert code == 0 and stderr == ""
    assert _one_json_line(stdout) == {"out": str(out), "shape": [3, 5, 2]}
    samples = np.load(out)
    assert samples.shape == (3, 5, 2) and samples.dtype == np.float32
    assert np.isfinite(samples).all()

    again = tmp_path / "again.npy"
    assert main(["sample", "--checkpoint", str(checkpoint), "--out", str(again), "-n", "3",
                 "--steps", "5"]) == 0  # fmt: skip
    np.testing.assert_array_equal(np.load(again), samples)  # seeded: the same draws


def test_sample_csv(
    trained: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "samples.csv"
    code, _, _ = _run(
        capsys, "sample", "--checkpoint", trained["rmdn"], "--out", out, "-n", 3, "--steps", 5
    )
    assert code == 0
    lines = out.read_text().splitlines()
    assert lines[0] == "sequence,step,y0,y1"
    table = np.loadtxt(out, delimiter=",", skiprows=1)
    assert table.shape == (15, 4)
    assert table[:, 0].tolist() == [i for i in range(3) for _ in range(5)]
    assert table[:, 1].tolist() == list(range(5)) * 3
    assert np.isfinite(table).all()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--out", "samples.txt"], ".npy or .csv"),
        (["--out", "samples.npy", "--temperature", "0"], "temperature"),
        (["--out", "samples.npy", "-n", "0"], "-n/--num"),
        (["--out", "samples.npy", "--steps", "-3"], "--steps"),
    ],
    ids=["txt", "temperature", "zero-n", "negative-steps"],
)
def test_sample_bad_arguments(
    trained: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    extra = [str(tmp_path / a) if a.startswith("samples") else a for a in extra]
    code, out, err = _run(capsys, "sample", "--checkpoint", trained["rmdn"], *extra)
    _assert_clean_error(code, out, err, message)
    assert list(tmp_path.iterdir()) == []


# ------------------------------------------------------------------ bad arguments
def _corrupt_checkpoint(root: Path) -> Path:
    path = RMDN(2, 2, hidden_size=8).save(root / "corrupt", data={"spec": "toy:ring"})
    content = (path / "model.safetensors").read_bytes()
    (path / "model.safetensors").write_bytes(content[:100])
    return path


BAD_ARGUMENTS = {
    "no-command": ([], "required"),
    "unknown-command": (["fly"], "invalid choice"),
    "unknown-option": (["train", "--data", "toy:ring", "--out", "{tmp}", "--wings", "2"], ""),
    "unknown-scheme": (["train", "--data", "csv:file.csv", "--out", "{tmp}"], "unknown data"),
    "unknown-data": (["train", "--data", "toy:nope", "--out", "{tmp}"], "toy data set 'nope'"),
    "no-scheme": (["train", "--data", "ring", "--out", "{tmp}"], "scheme:argument"),
    "steps-zero": (["train", "--data", "toy:ring", "--out", "{tmp}", "--steps", "0"], "--steps"),
    "steps-abc": (["train", "--data", "toy:ring", "--out", "{tmp}", "--steps", "abc"], "abc"),
    "missing-out": (["train", "--data", "toy:ring"], "--out"),
    "missing-data": (["train", "--out", "{tmp}"], "--data"),
    "bad-model": (["train", "--data", "toy:ring", "--out", "{tmp}", "--model", "lstm"], "lstm"),
    "bad-lr": (["train", "--data", "toy:ring", "--out", "{tmp}", "--lr", "-1"], "lr"),
    "bad-rank": (["train", "--data", "toy:ring", "--out", "{tmp}", "--rank", "-1"], "rank"),
    "bad-device": (
        ["train", "--data", "toy:ring", "--out", "{tmp}", "--device", "abacus", "--quiet"],
        "abacus",
    ),
    "eval-missing": (["eval", "--checkpoint", "{tmp}/nothing"], "not a checkpoint"),
    "eval-corrupt": (["eval", "--checkpoint", "{corrupt}"], "does not match"),
    "eval-split": (["eval", "--checkpoint", "{corrupt}", "--split", "all"], "invalid choice"),
    "sample-missing": (["sample", "--checkpoint", "{tmp}", "--out", "{tmp}/s.npy"], "checkpoint"),
    "sample-corrupt": (
        ["sample", "--checkpoint", "{corrupt}", "--out", "{tmp}/s.npy"],
        "does not match",
    ),
    "sample-no-out": (["sample", "--checkpoint", "{corrupt}"], "--out"),
}


@pytest.mark.parametrize("case", list(BAD_ARGUMENTS))
def test_bad_arguments_give_one_error_line(
    case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv, message = BAD_ARGUMENTS[case]
    corrupt = _corrupt_checkpoint(tmp_path)
    argv = [a.format(tmp=tmp_path / "out", corrupt=corrupt) for a in argv]
    code, out, err = _run(capsys, *argv)
    _assert_clean_error(code, out, err, message)
    assert not (tmp_path / "out").exists()


def test_corrupt_json_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = RMDN(2, 2, hidden_size=8).save(tmp_path / "ck")
    (path / "config.json").write_text("[1, 2")
    code, out, err = _run(capsys, "eval", "--checkpoint", path)
    _assert_clean_error(code, out, err, "not valid JSON")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_device_without_cuda_errors_cleanly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(
        capsys, "train", "--data", "toy:ring", "--out", tmp_path / "ck", "--device", "cuda", *TINY
    )
    _assert_clean_error(code, out, err)


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("train", "eval", "sample"):
        assert command in out
    assert "``" not in out  # plain text, not the docstring's reStructuredText


def test_module_entry_point_bad_arguments(tmp_path: Path) -> None:
    """``python -m frmdn`` really runs ``main`` and exits with its status."""
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    process = subprocess.run(
        [
            sys.executable,
            "-m",
            "frmdn",
            "train",
            "--data",
            "toy:ring",
            "--out",
            str(tmp_path),
            "--steps",
            "0",
        ],  # fmt: skip
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert process.returncode == 2
    assert process.stdout == ""
    lines = process.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert "--steps" in lines[0] and "Traceback" not in process.stderr


def test_eval_reports_bits_per_dim_for_images(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "digits"
    spec = "images:digits?n_valid=50&n_test=50"
    code, _, err = _run(capsys, "train", "--data", spec, "--model", "frmdn", "--out", out, *TINY)
    assert code == 0, err
    code, stdout, err = _run(capsys, "eval", "--checkpoint", out)
    assert code == 0, err
    result = _one_json_line(stdout)
    # 8-bit pixels: a barely trained model sits between a good model (~1-2) and far above 8
    assert 0 < result["bits_per_dim"] < 20
    assert result["unit"].startswith("nats/step in logit space")  # not mistaken for pixels
    assert result["nll_per_dim"] == pytest.approx(result["nll"] / 28)


ASSETS = Path(__file__).resolve().parents[1] / "assets" / "pretrained"


@pytest.mark.parametrize(
    ("checkpoint", "name", "shape"),
    [
        ("images-digits-frmdn", "digits.png", [28, 58]),  # two 28x28 digits, a 2-pixel gap
        ("frames-moving-digits-frmdn", "frames.png", [98, 48 * 3 + 4]),  # 2 sequences x 3
        ("frames-moving-digits-frmdn", "frames.gif", [3, 48, 96]),  # T frames of 2 side by side
    ],
)
def test_sample_writes_pictures(
    checkpoint: str, name: str, shape: list[int], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from PIL import Image

    out = tmp_path / name
    steps = 28 if checkpoint.startswith("images") else 3
    code, stdout, err = _run(
        capsys, "sample", "--checkpoint", ASSETS / checkpoint, "--out", out, "-n", 2,
        "--steps", steps,
    )  # fmt: skip
    assert code == 0, err
    assert _one_json_line(stdout)["pictures"] == shape
    with Image.open(out) as picture:
        assert picture.size[::-1] == tuple(shape[-2:])
        assert getattr(picture, "n_frames", 1) == (shape[0] if name.endswith(".gif") else 1)
        assert np.asarray(picture.convert("L")).max() > 100  # something bright was drawn


def test_pictures_need_image_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(
        capsys, "sample", "--checkpoint", ASSETS / "toy-ring-frmdn", "--out", tmp_path / "x.png"
    )
    _assert_clean_error(code, out, err, "needs a checkpoint trained on images or frames")

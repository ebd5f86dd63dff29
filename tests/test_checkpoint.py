"""Tests for checkpoints: bit-exact round trips, and refusal of hostile, corrupt or odd files."""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import pickle
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import frmdn
import frmdn.checkpoints.load
import frmdn.storage
from frmdn import FRMDN, RMDN, CheckpointError, FitResult
from frmdn.checkpoints.load import LIMITS, load, read_metadata
from frmdn.models.sequence import SequenceDensityModel
from frmdn.storage import save

CONFIG, WEIGHTS = "config.json", "model.safetensors"


def _perturbed(model: SequenceDensityModel, seed: int = 1) -> SequenceDensityModel:
    """Random non-default weights and normalisation, so a round trip has something to keep."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape, generator=generator))
    d = model.config.dim
    model.set_normalization(torch.linspace(-1.0, 2.0, d), torch.linspace(0.5, 3.0, d))
    return model


MODELS: dict[str, Callable[[], SequenceDensityModel]] = {
    "rmdn-d2": lambda: RMDN(2, 2, hidden_size=8),
    "rmdn-d1-diag": lambda: RMDN(1, 3, rank=0, hidden_size=8),
    "frmdn-d1": lambda: FRMDN(1, 2, hidden_size=8, flow_layers=2, flow_hidden=8),
    "frmdn-d2": lambda: FRMDN(2, 2, hidden_size=8, flow_layers=3, flow_hidden=8, flow_depth=2),
    "rmdn-cond": lambda: RMDN(2, 2, hidden_size=8, cond_dim=3, num_layers=2),
    "frmdn-cond": lambda: FRMDN(2, 2, hidden_size=8, cond_dim=3, flow_layers=2, flow_hidden=8),
    "rmdn-pitch": lambda: RMDN(4, 2, hidden_size=8, pitch_max_lag=9, pitch_min_lag=2),
    "frmdn-pitch": lambda: FRMDN(4, 2, hidden_size=8, flow_layers=2, pitch_max_lag=30),
}


def _model(name: str = "rmdn-d2", seed: int = 0) -> SequenceDensityModel:
    torch.manual_seed(seed)
    return _perturbed(MODELS[name](), seed + 1).eval()


def _log_prob(model: SequenceDensityModel) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    c = model.config
    y = torch.randn(3, 6, c.dim, generator=generator)
    x = torch.randn(3, 6, c.cond_dim, generator=generator) if c.cond_dim else None
    with torch.no_grad():
        return model.eval().log_prob(y, x)


def _assert_same(a: SequenceDensityModel, b: SequenceDensityModel) -> None:
    assert type(a) is type(b)
    assert a.config == b.config
    state_a, state_b = a.state_dict(), b.state_dict()
    assert state_a.keys() == state_b.keys()
    for name, tensor in state_a.items():
        assert tensor.dtype == state_b[name].dtype, name
        assert torch.equal(tensor, state_b[name]), name
    assert torch.equal(_log_prob(a), _log_prob(b))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _edit_config(directory: Path, edit: Callable[[dict], object]) -> None:
    meta = json.loads((directory / CONFIG).read_text())
    edit(meta)
    (directory / CONFIG).write_text(json.dumps(meta))


def _replace_weights(directory: Path, content: bytes, *, fix_hash: bool = True) -> None:
    """Put ``content`` in place of the weights; with ``fix_hash`` the config's hash matches it."""
    (directory / WEIGHTS).write_bytes(content)
    if fix_hash:
        _edit_config(
            directory, lambda meta: meta.update(weights_sha256=_sha256(directory / WEIGHTS))
        )


def _safetensors_bytes(tensors: dict[str, torch.Tensor], tmp_path: Path) -> bytes:
    file = tmp_path / "other.safetensors"
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(file))
    return file.read_bytes()


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    """A good checkpoint of an RMDN with two-dimensional targets."""
    return save(_model(), tmp_path / "ck", metrics={"best": 1.5}, data={"spec": "toy:ring"})


# ------------------------------------------------------------------ round trips
@pytest.mark.parametrize("name", list(MODELS))
def test_round_trip_is_bit_exact(name: str, tmp_path: Path) -> None:
    model = _model(name)
    metrics = {"best_valid_nll": 2.25, "history": [{"step": 5, "valid_nll": 2.5}], "steps": 5}
    data = {"spec": "toy:ring", "seed": 3, "sizes": {"train": 8}}
    path = save(model, tmp_path / "nested" / "ck", metrics=metrics, data=data)
    assert path == tmp_path / "nested" / "ck"
    assert sorted(os.listdir(path)) == [CONFIG, WEIGHTS]

    loaded = load(path)
    _assert_same(model, loaded)
    assert not loaded.training
    assert loaded.metadata == {
        "metrics": metrics,
        "data": data,
        "library_version": frmdn.__version__,
    }
    assert torch.equal(loaded.data_shift, model.data_shift)
    assert torch.equal(loaded.data_scale, model.data_scale)


def test_model_save_and_package_load(tmp_path: Path) -> None:
    model = _model("frmdn-d2")
    path = model.save(tmp_path / "ck", metrics={"test_nll": 1.0})
    loaded = frmdn.load(path)
    assert isinstance(loaded, FRMDN)
    _assert_same(model, loaded)
    assert loaded.metadata["metrics"] == {"test_nll": 1.0}
    assert loaded.metadata["data"] == {}
    samples = loaded.sample(2, 3)
    assert samples.shape == (2, 3, 2) and torch.isfinite(samples).all()


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_checkpoint_files_respect_the_umask(tmp_path: Path, umask: int) -> None:
    """Like any other new file (mkstemp alone would make them 0600, unreadable to the rest of
    a class on a shared server)."""
    previous = os.umask(umask)
    try:
        path = _model().save(tmp_path / "ck")
    finally:
        os.umask(previous)
    for name in ("config.json", "model.safetensors"):
        assert (path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_metadata_contents(checkpoint: Path) -> None:
    model = _model()
    meta = read_metadata(checkpoint)
    assert meta["format"] == "frmdn-checkpoint" and meta["format_version"] == 1
    assert meta["model_class"] == "RMDN"
    assert meta["library_version"] == frmdn.__version__
    assert meta["config"] == model.config.to_dict()
    assert meta["normalization"] == {
        "shift": model.data_shift.tolist(),
        "scale": model.data_scale.tolist(),
    }
    assert meta["weights_sha256"] == _sha256(checkpoint / WEIGHTS)
    assert meta["metrics"] == {"best": 1.5} and meta["data"] == {"spec": "toy:ring"}


def test_load_to_device_string(checkpoint: Path) -> None:
    assert load(str(checkpoint), device="cpu").start.device.type == "cpu"


def test_checkpoint_error_is_a_value_error() -> None:
    assert issubclass(CheckpointError, ValueError)


# ------------------------------------------------------------------ saving
def test_save_twice_overwrites_cleanly(checkpoint: Path) -> None:
    other = _model("rmdn-d2", seed=5)
    save(other, checkpoint, metrics={"best": 0.5})
    assert sorted(os.listdir(checkpoint)) == [CONFIG, WEIGHTS]  # no temporary files left
    loaded = load(checkpoint)
    _assert_same(other, loaded)
    assert loaded.metadata["metrics"] == {"best": 0.5}
    save(_model("frmdn-d1"), checkpoint)  # even a different architecture
    assert isinstance(load(checkpoint), FRMDN)
    assert sorted(os.listdir(checkpoint)) == [CONFIG, WEIGHTS]


def test_save_refuses_non_finite_weights_and_keeps_existing(checkpoint: Path) -> None:
    before = {name: (checkpoint / name).read_bytes() for name in (CONFIG, WEIGHTS)}
    bad = _model("rmdn-d2", seed=7)
    with torch.no_grad():
        bad.head.bias[0] = math.nan
    with pytest.raises(CheckpointError, match="non-finite"):
        save(bad, checkpoint)
    with pytest.raises(CheckpointError, match="non-finite"):
        bad.save(checkpoint.parent / "fresh")
    assert not (checkpoint.parent / "fresh").exists()
    assert {name: (checkpoint / name).read_bytes() for name in (CONFIG, WEIGHTS)} == before
    assert sorted(os.listdir(checkpoint)) == [CONFIG, WEIGHTS]
    _assert_same(_model(), load(checkpoint))


def test_failed_weights_write_leaves_no_temp_file(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(state: dict) -> bytes:
        raise OSError("disk full")

    monkeypatch.setattr(frmdn.storage, "serialize", broken)
    with pytest.raises(OSError, match="disk full"):
        save(_model("rmdn-d2", seed=9), checkpoint)
    assert sorted(os.listdir(checkpoint)) == [CONFIG, WEIGHTS]
    _assert_same(_model(), load(checkpoint))


def test_failed_config_write_keeps_the_old_checkpoint(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """New weights in place but the config not (as a crash between the two would leave it):
    the config still names the old weights, kept aside under their hash, so they load."""
    replace = os.replace

    def no_config(source: str | os.PathLike, destination: str | os.PathLike) -> None:
        if Path(destination).name == CONFIG:
            raise OSError("disk full")
        replace(source, destination)

    monkeypatch.setattr(os, "replace", no_config)
    with pytest.raises(OSError, match="disk full"):
        save(_model("rmdn-d2", seed=5), checkpoint)
    monkeypatch.undo()
    assert any(name.startswith(".model-") for name in os.listdir(checkpoint))
    _assert_same(_model(), load(checkpoint))
    other = _model("rmdn-d2", seed=6)
    save(other, checkpoint)  # and the next save commits and tidies up
    _assert_same(other, load(checkpoint))
    assert sorted(os.listdir(checkpoint)) == [CONFIG, WEIGHTS]


def test_unserialisable_metrics_leave_existing_checkpoint_intact(checkpoint: Path) -> None:
    with pytest.raises(CheckpointError, match="JSON-serialisable"):
        save(_model("rmdn-d2", seed=5), checkpoint, metrics={"thing": object()})
    _assert_same(_model(), load(checkpoint))


def test_non_finite_metrics_are_saved_as_null(tmp_path: Path) -> None:
    save(_model(), tmp_path / "ck", metrics={"best_valid_nll": math.inf, "h": [math.nan, 1.0]})
    assert load(tmp_path / "ck").metadata["metrics"] == {"best_valid_nll": None, "h": [None, 1.0]}


def test_save_accepts_fit_result_metrics(tmp_path: Path) -> None:
    result = FitResult(stop_reason="stopped by user", steps=3)  # best_valid_nll is inf
    save(_model(), tmp_path / "ck", metrics=result.to_dict())
    assert load(tmp_path / "ck").metadata["metrics"]["stop_reason"] == "stopped by user"


# ------------------------------------------------------------------ hostile files
class _Payload:
    """Unpickling this creates ``marker``: proof that loading ran code from the file."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self) -> tuple:
        return (open, (self.marker, "w"))


def _pickle_bytes(marker: Path, kind: str) -> bytes:
    payload = {"head.weight": _Payload(marker)}
    buffer = io.BytesIO()
    if kind == "torch-zip":
        torch.save(payload, buffer)
    elif kind == "torch-legacy":
        torch.save(payload, buffer, _use_new_zipfile_serialization=False)
    else:
        pickle.dump(payload, buffer)
    return buffer.getvalue()


def _unpickle(content: bytes, kind: str) -> None:
    if kind == "pickle":
        pickle.loads(content)  # noqa: S301 - the point: prove the payload is live
    else:
        torch.load(io.BytesIO(content), weights_only=False)


@pytest.mark.parametrize("kind", ["torch-zip", "torch-legacy", "pickle"])
@pytest.mark.parametrize("fix_hash", [True, False], ids=["hash-matches", "hash-stale"])
def test_pickled_weights_are_refused_without_running_code(
    checkpoint: Path, tmp_path: Path, kind: str, fix_hash: bool
) -> None:
    marker = tmp_path / "pwned"
    content = _pickle_bytes(marker, kind)
    _unpickle(content, kind)  # control: an unsafe loader really would run the payload
    assert marker.exists()
    marker.unlink()

    _replace_weights(checkpoint, content, fix_hash=fix_hash)
    message = "not a valid safetensors file" if fix_hash else "does not match its config"
    with pytest.raises(CheckpointError, match=message):
        load(checkpoint)
    assert not marker.exists()


# ------------------------------------------------------------------ corrupt or odd files
def _truncated(directory: Path) -> None:
    content = (directory / WEIGHTS).read_bytes()
    _replace_weights(directory, content[: len(content) // 2])


def _random_bytes(directory: Path) -> None:
    generator = torch.Generator().manual_seed(0)
    _replace_weights(directory, bytes(torch.randint(256, (4096,), generator=generator).tolist()))


def _tiny_header(directory: Path) -> None:
    _replace_weights(directory, (2).to_bytes(8, "little") + b"{}")  # a valid, empty file


def _weights(directory: Path, tensors: dict[str, torch.Tensor]) -> None:
    _replace_weights(directory, _safetensors_bytes(tensors, directory.parent))


def _state(**changes: object) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in _model().state_dict().items()} | changes


def _wrong_shapes(directory: Path) -> None:
    torch.manual_seed(0)
    _weights(directory, RMDN(2, 2, hidden_size=16).state_dict())


def _nan_weight(directory: Path) -> None:
    state = _state()
    state["head.bias"][1] = math.nan
    _weights(directory, state)


def _inf_buffer(directory: Path) -> None:
    state = _state()
    state["data_scale"][0] = math.inf
    _weights(directory, state)


def _wrong_dtype(directory: Path) -> None:
    _weights(directory, _state(start=torch.zeros(2, dtype=torch.float64)))


def _missing_key(directory: Path) -> None:
    state = _state()
    del state["head.bias"]
    _weights(directory, state)


def _extra_key(directory: Path) -> None:
    _weights(directory, _state(surprise=torch.zeros(3)))


WEIGHT_CASES = {
    "truncated": (_truncated, "not a valid safetensors file"),
    "random-bytes": (_random_bytes, "not a valid safetensors file"),
    "empty-file": (lambda d: _replace_weights(d, b""), "not a valid safetensors file"),
    "no-tensors": (_tiny_header, "missing"),
    "wrong-shapes": (_wrong_shapes, "expected torch.float32"),
    "wrong-dtype": (_wrong_dtype, "weight start"),
    "missing-key": (_missing_key, "missing"),
    "extra-key": (_extra_key, "unexpected"),
    "nan-weight": (_nan_weight, "NaN or infinite"),
    "inf-buffer": (_inf_buffer, "NaN or infinite"),
    "no-weights-file": (lambda d: (d / WEIGHTS).unlink(), "has no model.safetensors"),
    "weights-is-a-directory": (
        lambda d: ((d / WEIGHTS).unlink(), (d / WEIGHTS).mkdir()),
        "has no model.safetensors",
    ),
    "stale-hash": (lambda d: _replace_weights(d, b"x" * 100, fix_hash=False), "does not match"),
    "no-hash": (lambda d: _edit_config(d, lambda m: m.pop("weights_sha256")), "does not match"),
}


@pytest.mark.parametrize("case", list(WEIGHT_CASES))
def test_corrupt_weights_are_refused(checkpoint: Path, case: str) -> None:
    corrupt, message = WEIGHT_CASES[case]
    corrupt(checkpoint)
    with pytest.raises(CheckpointError, match=message) as error:
        load(checkpoint)
    assert str(error.value)


def _set_config(**values: object) -> Callable[[dict], object]:
    return lambda meta: meta["config"].update(values)


CONFIG_CASES = {
    "wrong-format": (lambda m: m.update(format="pytorch"), "not an FRMDN"),
    "no-format": (lambda m: m.pop("format"), "not an FRMDN"),
    "format-version": (lambda m: m.update(format_version=2), "format version"),
    "unknown-class": (lambda m: m.update(model_class="os.system"), "model class"),
    "class-mismatch": (lambda m: m["config"].update(flow_layers=2), "does not match its settings"),
    "no-config": (lambda m: m.pop("config"), "no model settings"),
    "config-list": (lambda m: m.update(config=[2, 2]), "no model settings"),
    "huge-hidden": (_set_config(hidden_size=10**9), "hidden_size"),
    "huge-dim": (_set_config(dim=10**12), "dim"),
    "negative-hidden": (_set_config(hidden_size=-1), "hidden_size"),
    "float-hidden": (_set_config(hidden_size=8.0), "hidden_size"),
    "bool-dim": (_set_config(dim=True), "'dim' must be a number"),
    "string-hidden": (_set_config(hidden_size="8"), "must be a number"),
    "null-rank": (_set_config(rank=None), "must be a number"),
    "list-dropout": (_set_config(dropout=[0.1]), "must be a number"),
    "nan-dropout": (_set_config(dropout=math.nan), "not finite"),
    "inf-scale-bound": (_set_config(scale_bound=math.inf), "not finite"),
    "bad-dropout": (_set_config(dropout=1.5), "invalid model settings"),
    "zero-dim": (_set_config(dim=0), "invalid model settings"),
    "bad-precision": (_set_config(min_precision=5.0, max_precision=1.0), "invalid"),
    "unknown-key": (_set_config(evil=1), "unknown model settings"),
    "missing-key": (lambda m: m["config"].pop("dim"), "invalid model settings"),
}


@pytest.mark.parametrize("case", list(CONFIG_CASES))
def test_bad_configs_are_refused(checkpoint: Path, case: str) -> None:
    edit, message = CONFIG_CASES[case]
    _edit_config(checkpoint, edit)
    with pytest.raises(CheckpointError, match=message):
        load(checkpoint)


@pytest.mark.parametrize("content", [[1, 2], "checkpoint", None, 5, {}], ids=str)
def test_json_of_the_wrong_type_is_refused(checkpoint: Path, content: object) -> None:
    (checkpoint / CONFIG).write_text(json.dumps(content))
    with pytest.raises(CheckpointError, match="not an FRMDN checkpoint config"):
        load(checkpoint)
    with pytest.raises(CheckpointError, match="not an FRMDN checkpoint config"):
        read_metadata(checkpoint)


@pytest.mark.parametrize(
    "content",
    [b"{not json", b"", b"\xff\xfe\x00garbage", b'{"format": "frmdn-checkpoint"'],
    ids=["invalid", "empty", "not-utf8", "unterminated"],
)
def test_invalid_json_is_refused(checkpoint: Path, content: bytes) -> None:
    (checkpoint / CONFIG).write_bytes(content)
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load(checkpoint)
    with pytest.raises(CheckpointError, match="not valid JSON"):
        read_metadata(checkpoint)


def test_oversized_config_is_refused(checkpoint: Path) -> None:
    _edit_config(checkpoint, lambda meta: meta.update(padding="x" * 1_100_000))
    with pytest.raises(CheckpointError, match="too large"):
        load(checkpoint)


@pytest.mark.parametrize("what", ["missing-dir", "empty-dir", "a-file", "config-is-dir"])
def test_missing_files_are_refused(tmp_path: Path, what: str) -> None:
    path = tmp_path / "ck"
    if what == "empty-dir":
        path.mkdir()
    elif what == "a-file":
        path.write_text("{}")
    elif what == "config-is-dir":
        (path / CONFIG).mkdir(parents=True)
    with pytest.raises(CheckpointError, match="not a checkpoint directory"):
        load(path)


def _never_build(config: object) -> None:
    raise AssertionError("a model was built from a config that should have been refused")


@pytest.mark.parametrize("name", ["hidden_size", "dim", "n_components", "flow_hidden"])
def test_absurd_sizes_are_refused_before_building(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    monkeypatch.setattr(frmdn.checkpoints.load, "build_model", _never_build)
    _edit_config(checkpoint, _set_config(**{name: LIMITS[name] + 1}))
    start = time.perf_counter()
    with pytest.raises(CheckpointError, match="out of range"):
        load(checkpoint)
    assert time.perf_counter() - start < 1.0


def test_absurd_combined_size_is_refused_before_building(
    checkpoint: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(frmdn.checkpoints.load, "build_model", _never_build)
    _edit_config(checkpoint, _set_config(dim=65_536, n_components=1024, rank=256))
    with pytest.raises(CheckpointError):
        load(checkpoint)


def test_a_model_saved_in_half_precision_keeps_its_buffers_exact(tmp_path) -> None:
    import frmdn

    torch.manual_seed(0)
    model = frmdn.FRMDN(3, 2, 1, 8, flow_layers=2, flow_hidden=8)
    model.standardize_on(torch.randn(4, 5, 3) * 7 + 2)
    loaded = frmdn.load(model.save(tmp_path / "half", half=True))
    parameters = dict(model.named_parameters())
    for name, weight in model.state_dict().items():
        got = loaded.state_dict()[name]
        assert got.dtype == weight.dtype
        expected = weight.half().to(weight.dtype) if name in parameters else weight
        assert torch.equal(got, expected), name
    y = torch.randn(2, 5, 3)
    assert torch.allclose(loaded.log_prob(y), model.log_prob(y), atol=0.05, rtol=1e-3)

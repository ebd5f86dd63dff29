"""Tests for zipped checkpoints (uploads): a good archive round-trips in memory, and every
hostile, corrupt or mismatched one is refused with a CheckpointError and a one-line reason."""

from __future__ import annotations

import hashlib
import io
import json
import math
import pickle
import random
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from safetensors.torch import save as serialize

import frmdn
import frmdn.checkpoints.archive
from frmdn import FRMDN, RMDN, CheckpointError, load_archive

CONFIG, WEIGHTS = "config.json", "model.safetensors"
DATA = {"spec": "toy:ring", "info": {"kind": "toy", "noise": 0.05}}


def _model(seed: int = 0) -> FRMDN:
    torch.manual_seed(seed)
    model = FRMDN(2, 2, hidden_size=8, flow_layers=2, flow_hidden=8)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(0.1 * torch.randn(parameter.shape))
    model.set_normalization(torch.tensor([0.5, -1.0]), torch.tensor([2.0, 0.5]))
    return model.eval()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The two files of a saved checkpoint, by name."""
    path = _model().save(tmp_path_factory.mktemp("ck") / "ck", metrics={"best": 1.0}, data=DATA)
    return {name: (path / name).read_bytes() for name in (CONFIG, WEIGHTS)}


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _log_prob(model: frmdn.SequenceDensityModel) -> torch.Tensor:
    y = torch.randn(3, 5, 2, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return model.log_prob(y)


def _refused(data: bytes, message: str, expect: dict | None = None) -> str:
    with pytest.raises(CheckpointError, match=message) as error:
        load_archive(data, expect=expect)
    assert "\n" not in str(error.value)
    return str(error.value)


# ------------------------------------------------------------------ good archives
@pytest.mark.parametrize(
    "layout", ["root", "folder", "folder-with-entries", "nested-folder", "macos-finder"]
)
def test_a_good_archive_round_trips(files: dict[str, bytes], tmp_path: Path, layout: str) -> None:
    members = {
        "root": files,
        "folder": {f"ring/{name}": content for name, content in files.items()},
        "folder-with-entries": {"ring/": b""} | {f"ring/{n}": c for n, c in files.items()},
        "nested-folder": {"runs/": b"", "runs/ring/": b""}
        | {f"runs/ring/{n}": c for n, c in files.items()},
        "macos-finder": {f"ring/{n}": c for n, c in files.items()}
        | {"__MACOSX/ring/._config.json": b"\0\5\26\7", "ring/.DS_Store": b"\0\0\0\1Bud1"},
    }[layout]
    model = load_archive(_zip(members), expect={"kind": "toy", "dim": 2})
    reference = _model()
    assert isinstance(model, FRMDN) and model.config == reference.config and not model.training
    assert torch.equal(_log_prob(model), _log_prob(reference))
    assert model.metadata == {
        "metrics": {"best": 1.0},
        "data": DATA,
        "library_version": frmdn.__version__,
    }


def test_stored_members_and_zipped_directories_load(files: dict[str, bytes]) -> None:
    model = load_archive(_zip(files, zipfile.ZIP_STORED))
    assert torch.equal(_log_prob(model), _log_prob(_model()))


def test_a_bundled_checkpoint_zips_and_loads() -> None:
    path = Path(__file__).resolve().parents[1] / "assets" / "pretrained" / "toy-ring-rmdn"
    if not path.is_dir():
        pytest.skip("the pretrained toy checkpoints are not bundled")
    members = {f"toy-ring-rmdn/{f.name}": f.read_bytes() for f in path.iterdir()}
    model = load_archive(_zip(members), expect={"kind": "toy", "dim": 2})
    assert torch.equal(_log_prob(model), _log_prob(frmdn.load(path)))


def test_expectations_on_unrecorded_data_fields_pass(files: dict[str, bytes]) -> None:
    """A checkpoint saved without data info can only be checked on its settings."""
    meta = json.loads(files[CONFIG]) | {"data": {}}
    model = load_archive(_zip(files | {CONFIG: json.dumps(meta).encode()}), expect={"kind": "x"})
    assert isinstance(model, FRMDN)


# ------------------------------------------------------------------ hostile archives
def _with_config(edit: Callable[[dict], object]) -> Callable[[dict[str, bytes]], bytes]:
    def build(files: dict[str, bytes]) -> bytes:
        meta = json.loads(files[CONFIG])
        edit(meta)
        return _zip(files | {CONFIG: json.dumps(meta).encode()})

    return build


def _with_weights(
    tensors: Callable[[], dict[str, torch.Tensor]] | bytes, fix_hash: bool = True
) -> Callable[[dict[str, bytes]], bytes]:
    """An archive whose weights are ``tensors`` (or raw bytes), the config's hash fixed."""

    def build(files: dict[str, bytes]) -> bytes:
        raw = tensors if isinstance(tensors, bytes) else serialize(tensors())
        meta = json.loads(files[CONFIG])
        if fix_hash:
            meta["weights_sha256"] = hashlib.sha256(raw).hexdigest()
        return _zip({CONFIG: json.dumps(meta).encode(), WEIGHTS: raw})

    return build


def _state(**changes: torch.Tensor) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in _model().state_dict().items()} | changes


def _nan_state() -> dict[str, torch.Tensor]:
    state = _state()
    state["head.bias"][0] = math.nan
    return state


def _patched(data: bytes, find: bytes, offset: int, fmt: str, value: int) -> bytes:
    """``data`` with the field at ``offset`` after every ``find`` set to ``value``."""
    out, start = bytearray(data), 0
    while (start := data.find(find, start)) >= 0:
        struct.pack_into(fmt, out, start + offset, value)
        start += 1
    return bytes(out)


def _encrypted(files: dict[str, bytes]) -> bytes:
    data = _zip(files)
    data = _patched(data, b"PK\x03\x04", 6, "<H", 1)  # general-purpose flag bit 0, local
    return _patched(data, b"PK\x01\x02", 8, "<H", 1)  # and in the central directory


def _flipped_byte(files: dict[str, bytes]) -> bytes:
    """A stored config with one byte changed: only the CRC-32 can tell."""
    data = bytearray(_zip(files, zipfile.ZIP_STORED))
    at = data.find(b'"format"')
    data[at + 2] ^= 0x01
    return bytes(data)


def _broken_deflate(files: dict[str, bytes]) -> bytes:
    data = bytearray(_zip(files))
    start = data.find(WEIGHTS.encode()) + len(WEIGHTS)  # the weights' compressed stream
    data[start + 10 : start + 60] = bytes(50)
    return bytes(data)


def _lying_size(files: dict[str, bytes]) -> bytes:
    """A config whose stream inflates far past the size the archive declares (a bomb)."""
    padded = files[CONFIG] + b" " * 5_000_000
    data = _zip({CONFIG: padded, WEIGHTS: files[WEIGHTS]})
    return _patched(_patched(data, b"PK\x03\x04", 22, "<I", 900), b"PK\x01\x02", 24, "<I", 900)


def _many_entries(files: dict[str, bytes]) -> bytes:
    return _zip(files | {f"ck/{i}/": b"" for i in range(3000)})


def _zip64_locator(files: dict[str, bytes]) -> bytes:
    """A ZIP64 locator that points at no ZIP64 end record."""
    data = _zip(files)
    end = data.rfind(b"PK\x05\x06")
    return data[:end] + b"PK\x06\x07" + bytes(16) + data[end:]


def _zip64_huge_directory(files: dict[str, bytes]) -> bytes:
    """A ZIP64 archive (as torch.save writes) whose end record claims a 1 GB directory."""
    data = bytearray(_torch_save(files))
    record = data.rfind(b"PK\x06\x06")
    struct.pack_into("<Q", data, record + 40, 2**30)
    return bytes(data)


def _duplicate(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with pytest.warns(UserWarning, match="Duplicate name"), zipfile.ZipFile(buffer, "w") as zip_:
        for name, content in (*files.items(), (CONFIG, files[CONFIG])):
            zip_.writestr(name, content)
    return buffer.getvalue()


def _torch_save(files: dict[str, bytes]) -> bytes:
    """What ``torch.save`` writes: a zip too, of pickles."""
    buffer = io.BytesIO()
    torch.save({"w": _Payload()}, buffer)
    return buffer.getvalue()


class _Payload:
    def __reduce__(self) -> tuple:
        return (print, ("pickle ran",))


CASES: dict[str, tuple[Callable[[dict[str, bytes]], bytes], str]] = {
    # not a zip at all
    "empty": (lambda f: b"", "not a zip archive"),
    "text": (lambda f: b"config.json and model.safetensors", "not a zip archive"),
    "bare-safetensors": (lambda f: f[WEIGHTS], "not a zip archive"),
    "truncated": (lambda f: _zip(f)[:-30], "not a zip archive"),
    "pickle": (lambda f: pickle.dumps({"w": _Payload()}), "not a zip archive"),
    "torch-save": (_torch_save, "unexpected file '.*data.pkl'"),
    # sizes
    "declared-too-large": (lambda f: _zip(f | {CONFIG: b" " * 1_000_001}), "too large"),
    "lying-size-bomb": (_lying_size, "config.json in the archive is corrupt"),
    "too-many-entries": (_many_entries, "lists too many files"),
    "zip64-no-record": (_zip64_locator, "malformed ZIP64 end record"),
    "zip64-huge-directory": (_zip64_huge_directory, "lists too many files"),
    # members
    "extra-file": (lambda f: _zip(f | {"notes.txt": b"hi"}), "unexpected file 'notes.txt'"),
    "file-beside-folder": (
        lambda f: _zip({f"ck/{n}": c for n, c in f.items()} | {"ck/sub/model.safetensors": b""}),
        "holds model.safetensors twice",
    ),
    "no-config": (lambda f: _zip({WEIGHTS: f[WEIGHTS]}), "has no config.json"),
    "no-weights": (lambda f: _zip({CONFIG: f[CONFIG]}), "has no model.safetensors"),
    "empty-zip": (lambda f: _zip({}), "has no config.json"),
    "duplicate": (_duplicate, "holds config.json twice"),
    "split-folders": (
        lambda f: _zip({f"a/{CONFIG}": f[CONFIG], f"b/{WEIGHTS}": f[WEIGHTS]}),
        "same folder",
    ),
    "parent-dir": (
        lambda f: _zip(f | {f"../{CONFIG}": b"{}"}),
        "unsafe file name '../config.json'",
    ),
    "absolute": (lambda f: _zip({f"/tmp/{n}": c for n, c in f.items()}), "unsafe file name"),
    "backslash": (lambda f: _zip({f"ck\\{n}": c for n, c in f.items()}), "unsafe file name"),
    "drive": (lambda f: _zip({f"C:/{n}": c for n, c in f.items()}), "unsafe file name"),
    "dot-dot-inside": (lambda f: _zip({f"ck/../{n}": c for n, c in f.items()}), "unsafe"),
    # data
    "encrypted": (_encrypted, "encrypted"),
    "bzip2": (lambda f: _zip(f, zipfile.ZIP_BZIP2), "unsupported compression"),
    "crc-mismatch": (_flipped_byte, "config.json in the archive is corrupt: Bad CRC-32"),
    "broken-deflate": (_broken_deflate, "model.safetensors in the archive is corrupt"),
    # config
    "bad-json": (lambda f: _zip(f | {CONFIG: b"{not json"}), "config.json in the archive is not"),
    "not-utf8": (lambda f: _zip(f | {CONFIG: b"\xff\xfe{}"}), "not valid JSON"),
    "json-list": (lambda f: _zip(f | {CONFIG: b"[1, 2]"}), "not an FRMDN checkpoint config"),
    "vae-config": (_with_config(lambda m: m.update(format="frmdn-vae")), "not an FRMDN"),
    "format-version": (_with_config(lambda m: m.update(format_version=2)), "format version 2"),
    "unknown-class": (_with_config(lambda m: m.update(model_class="os.system")), "model class"),
    "string-setting": (_with_config(lambda m: m["config"].update(rank="1")), "must be a number"),
    "over-archive-budget": (
        _with_config(lambda m: m["config"].update(dim=4096, hidden_size=4096)),
        "describe over 67,108,864 parameters",
    ),
    # weights
    "shapes-vs-config": (_with_config(lambda m: m["config"].update(hidden_size=16)), "expected"),
    "missing-tensor": (
        _with_weights(lambda: {k: v for k, v in _state().items() if k != "start"}),
        r"missing \['start'\]",
    ),
    "extra-tensor": (_with_weights(lambda: _state(evil=torch.zeros(1))), "unexpected"),
    "wrong-dtype": (_with_weights(lambda: _state(start=torch.zeros(2).double())), "weight start"),
    "nan-weight": (_with_weights(_nan_state), "NaN or infinite"),
    "hash-mismatch": (
        _with_weights(lambda: _state(start=torch.ones(2)), fix_hash=False),
        "model.safetensors in the archive does not match its config",
    ),
    "pickled-weights": (
        _with_weights(pickle.dumps({"w": _Payload()})),
        "not a valid safetensors file",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_or_corrupt_archives_are_refused(
    files: dict[str, bytes], case: str, capsys: pytest.CaptureFixture
) -> None:
    build, message = CASES[case]
    _refused(build(files), message)
    assert "pickle ran" not in capsys.readouterr().out


def test_archives_over_the_size_limit_are_refused_unread(
    files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _zip(files)
    monkeypatch.setattr(frmdn.checkpoints.archive, "MAX_ARCHIVE_BYTES", len(data) - 1)
    _refused(data, "the archive is 0 MB; the limit is 0 MB")


def test_weights_over_the_member_limit_are_refused(
    files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(frmdn.checkpoints.archive.MAX_MEMBER_BYTES, WEIGHTS, 1000)
    _refused(_zip(files), "model.safetensors in the archive is too large")


@pytest.mark.parametrize(
    ("expect", "message"),
    [
        ({"kind": "audio"}, "it needs kind = 'audio', the checkpoint has kind = 'toy'"),
        ({"dim": 80}, r"it needs dim = 80, the checkpoint has dim = 2 \(trained on toy:ring\)"),
        ({"cond_dim": 0, "dim": 28}, "dim = 28"),
        ({"kind": "toy", "flow_layers": 0}, "flow_layers = 0"),
        ({"noise": 0.1}, "noise = 0.1"),
    ],
)
def test_a_model_of_the_wrong_kind_is_refused(
    files: dict[str, bytes], expect: dict, message: str
) -> None:
    _refused(_zip(files), message, expect)


def test_refusal_comes_before_building_the_model(
    files: dict[str, bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    def never(*args: object) -> None:
        raise AssertionError("built a model that should have been refused")

    monkeypatch.setattr(frmdn.checkpoints.archive, "build_checked", never)
    _refused(_zip(files), "kind", {"kind": "audio"})
    _refused(_with_config(lambda m: m["config"].update(dim=10**6))(files), "out of range")


def test_rmdn_archives_load_too(tmp_path: Path) -> None:
    torch.manual_seed(3)
    model = RMDN(3, 2, hidden_size=8)
    path = model.save(tmp_path / "ck")
    loaded = load_archive(_zip({n: (path / n).read_bytes() for n in (CONFIG, WEIGHTS)}))
    assert isinstance(loaded, RMDN)
    assert loaded.metadata["data"] == {}


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
def test_random_damage_is_refused_with_a_checkpoint_error(
    files: dict[str, bytes], method: int
) -> None:
    """A few random bytes changed anywhere (most often in the headers at either end): every
    archive loads the same model or is refused with one line, never another exception."""
    good = _zip({f"ck/{name}": content for name, content in files.items()}, method)
    reference = _log_prob(_model())
    rng = random.Random(method)
    refused = 0
    for _ in range(1000):
        data = bytearray(good)
        low, high = rng.choice([(0, 120), (len(good) - 250, len(good)), (0, len(good))])
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(low, high)] = rng.randrange(256)
        try:
            model = load_archive(bytes(data), expect={"dim": 2})
        except CheckpointError as error:
            assert "\n" not in str(error)
            refused += 1
        else:
            assert torch.equal(_log_prob(model), reference)
    assert refused > 800

"""Checkpoint files: safetensors weights plus a JSON config, written atomically, read without
pickle. This module knows the file format; :mod:`frmdn.checkpoints.load` builds models from it.

A checkpoint is a directory holding ``config.json`` (model class, hyper-parameters, data
normalisation, training metrics, library version, the weights' SHA-256) and
``model.safetensors``. Loading parses JSON and safetensors only, so a hostile file can at worst
be refused; it never runs code.

``config.json`` is the commit point of a save: its hash names the weights that belong to it.
While a save replaces ``model.safetensors``, the previous weights stay in the directory as
``.model-<sha256>.safetensors`` until the new config is in place, and loading reads that file
when the config names it, so a save killed at any moment leaves the old or the new checkpoint,
never a mix. The parsing and checks here also serve zipped uploads
(:mod:`frmdn.checkpoints.archive`).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import SafetensorError
from safetensors.torch import load as load_bytes
from safetensors.torch import load_file
from safetensors.torch import save as serialize

from frmdn.errors import CheckpointError
from frmdn.version import __version__

if TYPE_CHECKING:
    from frmdn.models.sequence import SequenceDensityModel

__all__ = [
    "CONFIG_FILE",
    "FORMAT",
    "FORMAT_VERSION",
    "MAX_PARAMETERS",
    "CheckpointError",
    "WEIGHTS_FILE",
    "atomic_write",
    "committed_weights",
    "file_sha256",
    "parse_config",
    "parse_weights",
    "read_config",
    "read_weights",
    "save",
    "write_checkpoint",
]
FORMAT = "frmdn-checkpoint"
FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
HALF = "float16"  # meta["weights_dtype"] of a checkpoint saved in half precision
PREVIOUS_WEIGHTS = ".model-{}.safetensors"  # committed weights kept aside during a save
LEFTOVERS = (PREVIOUS_WEIGHTS.format("*"), f".{WEIGHTS_FILE}.*.tmp", f".{CONFIG_FILE}.*.tmp")
SHA256 = re.compile("[0-9a-f]{64}")
MAX_CONFIG_BYTES = 1_000_000
MAX_WEIGHTS_BYTES = 2_000_000_000
MAX_PARAMETERS = 250_000_000


def _umask() -> int:
    """The process's file-creation mask. Read from /proc where there is one: ``os.umask``
    can only read it by setting it, and the app writes checkpoints from several threads."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _temp_path(path: Path) -> Path:
    """A fresh empty file beside ``path``, named as :data:`LEFTOVERS` expects, with the mode
    any new file gets (mkstemp's is 0600: others on a shared class server could not read it)."""
    handle, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    os.chmod(tmp, 0o666 & ~_umask())
    return Path(tmp)


def atomic_write(path: Path, write: Callable[[Path], object]) -> None:
    """Write via ``write(tmp_path)`` into the same directory, then rename over ``path``."""
    tmp = _temp_path(path)
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_capped(file: Path, limit: int) -> bytes:
    """At most ``limit + 1`` bytes of ``file``: enough to tell that it is over ``limit``."""
    with open(file, "rb") as handle:
        return handle.read(limit + 1)


def _committed_hash(directory: Path) -> str | None:
    """The weights hash that ``directory``'s config.json names, if it is readable and valid."""
    try:
        meta = json.loads(_read_capped(directory / CONFIG_FILE, MAX_CONFIG_BYTES))
    except (OSError, ValueError):
        return None
    digest = meta.get("weights_sha256") if isinstance(meta, dict) else None
    return digest if isinstance(digest, str) and SHA256.fullmatch(digest) else None


def committed_weights(path: str | os.PathLike, meta: dict) -> Path:
    """The weights file of checkpoint directory ``path`` that its config ``meta`` names: the
    previous weights a save keeps aside until its config is in place (see the module
    docstring), else ``model.safetensors``."""
    digest = meta.get("weights_sha256")
    if isinstance(digest, str) and SHA256.fullmatch(digest):
        previous = Path(path) / PREVIOUS_WEIGHTS.format(digest)
        if previous.is_file():
            return previous
    return Path(path) / WEIGHTS_FILE


def _commit(directory: Path, new_weights: Path, text: str) -> None:
    """Make ``new_weights`` and the config ``text`` the checkpoint in ``directory``.

    The weights the current config names are first moved aside under their hash (unless an
    interrupted save already did), so every state up to the config's rename loads the old
    checkpoint and every later one the new; leftovers of this or killed saves go last.
    """
    weights = directory / WEIGHTS_FILE
    committed = _committed_hash(directory)
    if committed is not None and weights.is_file():
        previous = directory / PREVIOUS_WEIGHTS.format(committed)
        if not previous.is_file():
            os.replace(weights, previous)
    os.replace(new_weights, weights)
    atomic_write(directory / CONFIG_FILE, lambda tmp: tmp.write_text(text))
    for pattern in LEFTOVERS:  # one writer per directory: these belong to no live save
        for leftover in directory.glob(pattern):
            leftover.unlink(missing_ok=True)


def write_checkpoint(
    path: str | os.PathLike, module: torch.nn.Module, meta: dict, *, half: bool = False
) -> Path:
    """Write ``module``'s weights and ``meta`` (+ library version and weights hash) to ``path``.

    Shared by every kind of checkpoint (sequence models, VAEs). With ``half`` the parameters
    (not the buffers) are stored in float16 (half the file; ``meta["weights_dtype"]`` says so and
    :func:`read_weights` reads them back as the module's dtype). Non-finite weights, or ones
    beyond float16's range when ``half``, are refused,
    ``meta`` must be JSON-serialisable (non-finite metric floats become null) and is checked
    before anything is written, so a failed save leaves an existing checkpoint intact; a save
    killed at any point leaves the old or the new checkpoint (see the module docstring).
    """
    state = {k: v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    if half:  # parameters only: buffers (e.g. the data's shift and scale) stay exact
        parameters = {name for name, _ in module.named_parameters()}
        state = {k: v.half() if k in parameters else v for k, v in state.items()}
        meta = meta | {"weights_dtype": HALF}
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        beyond = " (beyond float16's range)" if half else ""
        raise CheckpointError(
            f"refusing to save non-finite weights{beyond} ({', '.join(bad[:3])})"
        )
    meta = _json_safe(meta | {"library_version": __version__})
    try:  # fail before touching an existing checkpoint
        json.dumps(meta, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"metrics and data must be JSON-serialisable: {error}") from None
    directory = Path(path)
    directory.mkdir(parents=True, exist_ok=True)
    new_weights = _temp_path(directory / WEIGHTS_FILE)
    try:  # serialised here, not by save_file, whose own temporary file a kill would leave
        raw = serialize(state)
        new_weights.write_bytes(raw)
        meta["weights_sha256"] = hashlib.sha256(raw).hexdigest()
        _commit(directory, new_weights, json.dumps(meta, indent=2, allow_nan=False))
    finally:
        new_weights.unlink(missing_ok=True)
    return directory


def save(
    model: SequenceDensityModel,
    path: str | os.PathLike,
    *,
    metrics: dict | None = None,
    data: dict | None = None,
    half: bool = False,
) -> Path:
    """Save ``model`` to the directory ``path`` (created if needed) and return it.

    Arguments:
        model: The model; every weight must be finite (a diverged model is refused).
        path: Target directory.
        metrics: JSON-serialisable training metrics (e.g. ``FitResult.to_dict()``).
        data: JSON-serialisable description of the training data (spec, split sizes, ...).
        half: Store the parameters in float16 (see :func:`write_checkpoint`).
    """
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_class": type(model).__name__,
        "config": model.config.to_dict(),
        "normalization": {
            "shift": model.data_shift.tolist(),
            "scale": model.data_scale.tolist(),
        },
        "metrics": metrics or {},
        "data": data or {},
    }
    return write_checkpoint(path, model, meta, half=half)


def _json_safe(value: object) -> object:
    """``value`` with non-finite floats (an unfinished run's inf/NaN NLLs) turned into None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def parse_config(
    raw: bytes,
    source: str,
    *,
    fmt: str,
    version: int,
    classes: tuple[str, ...],
    what: str = "checkpoint",
    title: str = "FRMDN checkpoint",
) -> dict:
    """The bytes of a ``config.json`` (``source`` names it in messages), parsed as JSON only and
    checked for size, format, version and class; ``what`` and ``title`` name the kind."""
    if len(raw) > MAX_CONFIG_BYTES:
        raise CheckpointError(f"{source} is too large to be a {what} config")
    try:
        meta = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CheckpointError(f"{source} is not valid JSON: {error}") from None
    if not isinstance(meta, dict) or meta.get("format") != fmt:
        raise CheckpointError(f"{source} is not an {title} config")
    if meta.get("format_version") != version:
        raise CheckpointError(f"unsupported {what} format version {meta.get('format_version')}")
    if meta.get("model_class") not in classes:
        raise CheckpointError(f"unknown model class {meta.get('model_class')!r}")
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{what} config has no model settings")
    return meta


def read_config(
    path: str | os.PathLike,
    *,
    fmt: str,
    version: int,
    classes: tuple[str, ...],
    what: str = "checkpoint",
    title: str = "FRMDN checkpoint",
) -> dict:
    """The ``config.json`` of a checkpoint directory, checked as in :func:`parse_config`."""
    file = Path(path) / CONFIG_FILE
    if not file.is_file():
        raise CheckpointError(f"{path} is not a {what} directory (no {CONFIG_FILE})")
    raw = _read_capped(file, MAX_CONFIG_BYTES)
    return parse_config(
        raw, str(file), fmt=fmt, version=version, classes=classes, what=what, title=title
    )


def _checked_state(
    source: str,
    digest: str,
    read: Callable[[], dict[str, torch.Tensor]],
    meta: dict,
    expected: dict[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """The tensors ``read`` parses from ``source`` (SHA-256 ``digest``), checked against the
    config's hash and against ``expected`` (names, shapes, dtypes; float16 for any floating
    weight of a checkpoint saved in half precision); all must be finite. Returned in the
    expected dtypes."""
    stored_half = meta.get("weights_dtype") == HALF
    if digest != meta.get("weights_sha256"):
        raise CheckpointError(f"{source} does not match its config (corrupt or replaced)")
    try:
        state = read()
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{source} is not a valid safetensors file: {error}") from None
    if set(state) != set(expected):
        missing, extra = set(expected) - set(state), set(state) - set(expected)
        raise CheckpointError(
            f"weights do not match the model (missing {sorted(missing)[:3]}, "
            f"unexpected {sorted(extra)[:3]})"
        )
    for name, tensor in state.items():
        want = expected[name]
        dtypes = (
            {want.dtype, torch.float16}
            if stored_half and want.is_floating_point()
            else {want.dtype}
        )
        if tensor.shape != want.shape or tensor.dtype not in dtypes:
            raise CheckpointError(
                f"weight {name} is {tensor.dtype} {tuple(tensor.shape)}, "
                f"expected {' or '.join(map(str, sorted(dtypes, key=str)))} {tuple(want.shape)}"
            )
        if tensor.is_floating_point() and not torch.isfinite(tensor).all():
            raise CheckpointError(f"weight {name} contains NaN or infinite values")
    return {name: tensor.to(expected[name].dtype) for name, tensor in state.items()}


def read_weights(
    path: str | os.PathLike, meta: dict, expected: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The safetensors weights of a checkpoint directory, checked against its config's hash
    and ``expected``, the state dict of the freshly built module (names, shapes, dtypes)."""
    weights = committed_weights(path, meta)
    if not weights.is_file():
        raise CheckpointError(f"{path} has no {WEIGHTS_FILE}")
    if weights.stat().st_size > MAX_WEIGHTS_BYTES:
        raise CheckpointError(f"{weights} is too large")
    return _checked_state(
        str(weights), file_sha256(weights), lambda: load_file(str(weights)), meta, expected
    )


def parse_weights(
    raw: bytes, source: str, meta: dict, expected: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The bytes of a ``model.safetensors`` (``source`` names it), checked as in
    :func:`read_weights`; parsed in memory."""
    digest = hashlib.sha256(raw).hexdigest()
    return _checked_state(source, digest, lambda: load_bytes(raw), meta, expected)

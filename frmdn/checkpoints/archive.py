"""Checkpoints uploaded as a zip archive: read in memory, validated, never unpickled.

An archive holds exactly what :func:`frmdn.storage.save` writes, ``config.json`` and
``model.safetensors``, side by side at its root or in one folder (what zipping the checkpoint
directory gives, e.g. ``zip -r ck.zip runs/ck``); folder entries and macOS Finder's
``__MACOSX/`` and ``.DS_Store`` are ignored. Nothing is extracted to disk: the two members are
read into memory under size limits (so a zip bomb is refused before it expands), and only
:mod:`zipfile`, JSON and safetensors parse the bytes.
Everything :func:`frmdn.load` checks is checked here by the same code, and ``expect`` can
refuse a valid model of the wrong kind for the caller (say, an audio model on a toy page).
"""

from __future__ import annotations

import io
import zipfile
import zlib
from dataclasses import fields

import torch

from frmdn.checkpoints.load import build_checked, model_config, parse_metadata, restore
from frmdn.data.content import MAX_UPLOAD_BYTES
from frmdn.errors import CheckpointError
from frmdn.models.config import ModelConfig
from frmdn.models.sequence import SequenceDensityModel
from frmdn.storage import CONFIG_FILE, WEIGHTS_FILE, parse_weights

__all__ = ["data_info", "load_archive"]

MAX_ARCHIVE_BYTES = MAX_UPLOAD_BYTES  # the app's upload limit (.streamlit/config.toml)
MAX_DIRECTORY_BYTES = 64 * 2**10  # the zip's table of contents: a few entries need < 1 KB
MAX_MEMBER_BYTES = {CONFIG_FILE: 1_000_000, WEIGHTS_FILE: 256 * 2**20}
MAX_PARAMETERS = MAX_MEMBER_BYTES[WEIGHTS_FILE] // 4  # float32 weights the archive can hold
END_OF_DIRECTORY, ZIP64_END, ZIP64_LOCATOR = b"PK\x05\x06", b"PK\x06\x06", b"PK\x06\x07"
MACOS_FOLDER, MACOS_FILE = "__MACOSX", ".DS_Store"  # Finder metadata, ignored
SETTINGS = frozenset(f.name for f in fields(ModelConfig))


def data_info(metadata: dict) -> dict:
    """The data ``info`` a checkpoint's metadata records (``{}`` when absent or malformed)."""
    data = metadata.get("data")
    info = data.get("info") if isinstance(data, dict) else None
    return info if isinstance(info, dict) else {}


def _check_directory(data: bytes) -> None:
    """Refuse a table of contents too large to parse cheaply, before zipfile builds an object
    for each of its (possibly millions of) entries. The end records are found where zipfile
    looks for them; a ZIP64 one must sit where its locator says, so no reader sees another."""
    if data[-22:-18] == END_OF_DIRECTORY and data[-2:] == b"\0\0":
        end = len(data) - 22
    else:
        end = data.rfind(END_OF_DIRECTORY, max(len(data) - 65_557, 0))
    if end < 0 or len(data) < end + 22:
        raise CheckpointError("not a zip archive")
    size = int.from_bytes(data[end + 12 : end + 16], "little")
    locator = data[max(end - 20, 0) : end]
    if locator.startswith(ZIP64_LOCATOR):
        record = end - 20 - 56
        if (
            record < 0
            or data[record : record + 4] != ZIP64_END
            or int.from_bytes(locator[8:16], "little") != record
        ):
            raise CheckpointError("not a zip archive (malformed ZIP64 end record)")
        size = int.from_bytes(data[record + 40 : record + 48], "little")
    if size > MAX_DIRECTORY_BYTES:
        raise CheckpointError("the archive lists too many files")


def _check_name(name: str) -> None:
    """Refuse member names that could point outside an extraction directory."""
    parts = name.rstrip("/").split("/")
    if name.startswith("/") or "\\" in name or ":" in name or {"", ".", ".."} & set(parts):
        raise CheckpointError(f"unsafe file name {name!r} in the archive")


def _members(archive: zipfile.ZipFile) -> dict[str, zipfile.ZipInfo]:
    """The two checkpoint files of ``archive`` by file name, side by side at the root or in one
    folder; anything else (but folders and macOS metadata) is refused."""
    found: dict[str, zipfile.ZipInfo] = {}
    for info in archive.infolist():
        _check_name(info.filename)
        parts = info.filename.rstrip("/").split("/")
        if info.is_dir() or parts[0] == MACOS_FOLDER or parts[-1] == MACOS_FILE:
            continue
        if parts[-1] not in MAX_MEMBER_BYTES:
            raise CheckpointError(
                f"unexpected file {info.filename!r} in the archive: it must hold only "
                f"{CONFIG_FILE} and {WEIGHTS_FILE}"
            )
        if parts[-1] in found:
            raise CheckpointError(f"the archive holds {parts[-1]} twice")
        found[parts[-1]] = info
    for name in MAX_MEMBER_BYTES:
        if name not in found:
            raise CheckpointError(f"the archive has no {name}")
    if len({info.filename.rpartition("/")[0] for info in found.values()}) > 1:
        raise CheckpointError(f"{CONFIG_FILE} and {WEIGHTS_FILE} must sit in the same folder")
    return found


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    """The bytes of one member, refused when encrypted, oddly compressed, over ``limit`` or
    corrupt (zipfile checks the CRC-32 at the end; a member that unpacks to more than its
    declared size is cut there and fails that check)."""
    name = info.filename
    if info.flag_bits & 0x1:
        raise CheckpointError(f"{name} in the archive is encrypted")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise CheckpointError(f"{name} in the archive uses an unsupported compression method")
    if info.file_size > limit:
        raise CheckpointError(
            f"{name} in the archive is too large: {info.file_size:,} bytes unpacked, "
            f"the limit is {limit:,}"
        )
    try:
        with archive.open(info) as member:
            raw = member.read(limit + 1)
    except NotImplementedError as error:  # e.g. strong encryption
        raise CheckpointError(
            f"{name} in the archive uses an unsupported feature: {error}"
        ) from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
        raise CheckpointError(f"{name} in the archive is corrupt: {error}") from None
    if len(raw) != info.file_size:
        raise CheckpointError(f"{name} in the archive is corrupt: its size does not match")
    return raw


def _check_expected(meta: dict, config: ModelConfig, expect: dict) -> None:
    """Refuse a model of the wrong kind: each key of ``expect`` names a model setting (always
    known) or a field of the recorded data info such as ``kind`` (checked when recorded)."""
    info = data_info(meta)
    spec = meta["data"].get("spec") if isinstance(meta.get("data"), dict) else None
    trained = f" (trained on {spec})" if isinstance(spec, str) else ""
    for name, want in expect.items():
        got = getattr(config, name) if name in SETTINGS else info.get(name, want)
        if got != want:
            raise CheckpointError(
                f"wrong kind of model for this page: it needs {name} = {want!r}, "
                f"the checkpoint has {name} = {got!r}{trained}"
            )


def load_archive(
    data: bytes, *, expect: dict | None = None, device: torch.device | str = "cpu"
) -> SequenceDensityModel:
    """The model in a zipped checkpoint ``data``, validated, in eval mode (metadata attached
    as ``model.metadata``, as by :func:`frmdn.load`).

    Arguments:
        data: The archive's bytes; it is read in memory, never written or extracted.
        expect: Required values, e.g. ``{"kind": "toy", "dim": 2}``: model settings
            (:class:`~frmdn.models.config.ModelConfig` fields) must match; data-info fields
            (``kind``, ``sample_rate``, ...) must match when the checkpoint records them.
        device: Where to put the model.

    Raises:
        CheckpointError: with a one-line reason for anything that is not a good checkpoint of
            the expected kind: not a zip, too large, wrong or unsafe members, encrypted or
            corrupt data, bad JSON, another format or version, wrong shapes, non-finite
            weights, a weights hash that does not match the config.
    """
    if len(data) > MAX_ARCHIVE_BYTES:
        raise CheckpointError(
            f"the archive is {len(data) / 2**20:.0f} MB; the limit is "
            f"{MAX_ARCHIVE_BYTES // 2**20} MB"
        )
    _check_directory(data)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except NotImplementedError as error:  # e.g. a zip format version zipfile cannot read
        raise CheckpointError(f"unsupported zip archive: {error}") from None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
        raise CheckpointError(f"not a zip archive ({error})") from None
    with archive:
        members = _members(archive)
        raw = {
            name: _read(archive, info, MAX_MEMBER_BYTES[name]) for name, info in members.items()
        }
    meta = parse_metadata(raw[CONFIG_FILE], f"{members[CONFIG_FILE].filename} in the archive")
    config = model_config(meta, MAX_PARAMETERS)
    _check_expected(meta, config, expect or {})
    model = build_checked(meta, config)
    source = f"{members[WEIGHTS_FILE].filename} in the archive"
    state = parse_weights(raw[WEIGHTS_FILE], source, meta, model.state_dict())
    return restore(model, meta, state, device)

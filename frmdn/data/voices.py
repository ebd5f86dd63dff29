"""Several voices as one data spec: ``audio:assets/voices``, a folder holding ``voices.json``.

The corpus folder's ``voices.json`` is ``{"voices": [{"folder": ..., "role": ..., ...}, ...]}``:
each voice is a folder of sound files (relative to the corpus folder, e.g. ``"es-co"`` or
``"../speech"``) whose ``split.json``, if present, splits it by file as for
:func:`~frmdn.data.audio.load_audio_data` (else every 10th file tests and the next validates),
and its ``role`` is ``"train"`` or ``"held-out"``. Train and valid come from the training
voices (each voice's own train and valid files), test from every file of the held-out voices:
the test NLL is the unseen-speaker score, the valid NLL the seen-voice held-out-file score.
Other keys of an entry (language, speaker, licence, ...) describe the voice and are not read.

:func:`read_corpus` decides which file goes where; :func:`~frmdn.data.audio.load_audio_data`
reads the files and cuts them into sequences (so this module does not import it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from frmdn.data.audio_plan import SPLITS, _file_split
from frmdn.data.audio_read import AudioError

__all__ = [
    "MANIFEST",
    "ROLES",
    "Corpus",
    "Voice",
    "listening_files",
    "read_corpus",
    "read_manifest",
]

MANIFEST = "voices.json"
"""The file that makes a folder a corpus of voices."""

ROLES = ("train", "held-out")
"""A voice's role: trained on (its train and valid files), or held out (all its files test)."""


@dataclass(frozen=True)
class Voice:
    """One voice of a corpus.

    Arguments:
        label: The folder as ``voices.json`` writes it; its clips are named ``label/file``.
        path: The voice's folder.
        role: ``"train"`` or ``"held-out"``.
        about: The entry's descriptive keys (language, speaker, sex, licence, ...).
    """

    label: str
    path: Path
    role: str
    about: dict = field(default_factory=dict, compare=False)

    @property
    def title(self) -> str:
        """Language and speaker, e.g. ``"es-CO · Carolina"``; the label when not given."""
        parts = [str(self.about[k]) for k in ("language", "speaker") if self.about.get(k)]
        return " · ".join(parts) or self.label


@dataclass(frozen=True)
class Corpus:
    """Which file of which voice goes to which part.

    Arguments:
        files: Clip name (``label/file``) -> sound file, train files first, then valid, test.
        split: ``{"train": [clip names], "valid": [...], "test": [...]}``.
        voices: ``{"train": [labels], "held_out": [labels]}``.
    """

    files: dict[str, Path]
    split: dict[str, list[str]]
    voices: dict[str, list[str]]


def _read_json(path: Path) -> object:
    """The content of a JSON file; an :class:`AudioError` if it cannot be read."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise AudioError(f"cannot read {path}: {error}") from None


def read_manifest(folder: Path) -> list[Voice]:
    """The voices that ``folder/voices.json`` names, checked, in its order.

    Raises:
        AudioError: If the manifest cannot be read or is not ``{"voices": [{"folder": str,
            "role": str}, ...]}``, names a folder twice or one that does not exist, gives a
            role other than :data:`ROLES`, or has no training or no held-out voice.
    """
    path = folder / MANIFEST
    manifest = _read_json(path)
    entries = manifest.get("voices") if isinstance(manifest, dict) else None
    if not isinstance(entries, list) or not all(
        isinstance(e, dict) and isinstance(e.get("folder"), str) for e in entries
    ):
        raise AudioError(f'{path} must hold {{"voices": [{{"folder": ..., "role": ...}}, ...]}}')
    voices = []
    for entry in entries:
        label, role = entry["folder"], entry.get("role")
        if role not in ROLES:
            raise AudioError(
                f"{path}: voice {label!r} has role {role!r}; use {' or '.join(map(repr, ROLES))}"
            )
        if not (folder / label).is_dir():
            raise AudioError(f"{path} names the voice folder {label!r}, which does not exist")
        about = {k: v for k, v in entry.items() if k not in ("folder", "role")}
        voices.append(Voice(label, folder / label, role, about))
    labels = [voice.label for voice in voices]
    if len(set(labels)) != len(labels):
        raise AudioError(f"{path} names a voice folder more than once: {labels}")
    for role in ROLES:
        if not any(voice.role == role for voice in voices):
            raise AudioError(f"{path} has no {role} voice; it needs both {ROLES}")
    return voices


def _audio_files(voice: Voice, suffixes: Sequence[str]) -> list[Path]:
    """The sound files directly in a voice's folder, sorted by name."""
    files = sorted(p for p in voice.path.iterdir() if p.is_file() and p.suffix.lower() in suffixes)
    if not files:
        raise AudioError(f"voice folder {voice.label!r} holds no {'/'.join(suffixes)} files")
    return files


def _voice_split(voice: Voice, files: list[Path]) -> dict[str, list[Path]]:
    """A voice's files by part (train/valid/test), from its split.json or the default rule."""
    split_file = voice.path / "split.json"
    split = _read_json(split_file) if split_file.exists() else None
    if split is not None and not isinstance(split, dict):
        raise AudioError(f"{split_file} must hold an object with train, valid and test")
    by_name = {path.name: path for path in files}
    chosen = _file_split(list(by_name), split)
    return {part: [by_name[name] for name in names] for part, names in chosen.items()}


def read_corpus(folder: Path, suffixes: Sequence[str]) -> Corpus:
    """The files of the corpus in ``folder`` (holding voices.json) and their parts.

    Train: the train files of the training voices; valid: their valid files; test: every file
    of the held-out voices (the training voices' own test files are not used).

    Arguments:
        folder: The corpus folder.
        suffixes: The sound-file suffixes to pick up in a voice folder, e.g. ``(".flac",)``.

    Raises:
        AudioError: For a bad manifest (see :func:`read_manifest`), or a voice folder without
            sound files or with a bad split.json.
    """
    voices = read_manifest(folder)
    parts: dict[str, list[tuple[str, Path]]] = {part: [] for part in SPLITS}
    for voice in voices:
        files = _audio_files(voice, suffixes)
        if voice.role == "train":
            chosen = _voice_split(voice, files)
            used = {"train": chosen["train"], "valid": chosen["valid"]}
        else:
            used = {"test": files}
        for part, paths in used.items():
            parts[part] += [(f"{voice.label}/{path.name}", path) for path in paths]
    return Corpus(
        files={name: path for part in SPLITS for name, path in parts[part]},
        split={part: [name for name, _ in parts[part]] for part in SPLITS},
        voices={
            "train": [voice.label for voice in voices if voice.role == "train"],
            "held_out": [voice.label for voice in voices if voice.role == "held-out"],
        },
    )


def listening_files(folder: Path, suffixes: Sequence[str]) -> dict[str, list[Path]]:
    """Per voice label of the corpus in ``folder``, in manifest order: the files that no model
    trained on the corpus heard, to prime and score with: a training voice's test files, every
    file of a held-out voice.

    Raises:
        AudioError: As :func:`read_corpus`.
    """
    files = {}
    for voice in read_manifest(folder):
        own = _audio_files(voice, suffixes)
        files[voice.label] = _voice_split(voice, own)["test"] if voice.role == "train" else own
    return files

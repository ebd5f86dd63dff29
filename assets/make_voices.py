"""Rebuild ``assets/voices/``: seven more voices of telephone prompts, 8 kHz 16-bit FLAC.

With the English voice of ``assets/speech`` (Allison Smith, made by ``make_speech.py``; the
manifest refers to it as ``"folder": "../speech"`` rather than copying it) this is a corpus of
eight voices in five languages, read as one data spec by ``audio:assets/voices``
(:mod:`frmdn.data.voices`). The sources are Debian bookworm packages; nothing is installed
system-wide. From the repository root::

    mkdir -p /tmp/debs && cd /tmp/debs && apt-get download \
        asterisk-core-sounds-en-wav asterisk-core-sounds-es-wav asterisk-core-sounds-fr-wav \
        asterisk-core-sounds-it-wav asterisk-core-sounds-ru-wav asterisk-core-sounds-en \
        asterisk-core-sounds-es asterisk-core-sounds-fr asterisk-core-sounds-it \
        asterisk-core-sounds-ru asterisk-prompt-es-co asterisk-prompt-fr-armelle \
        asterisk-prompt-it-menardi-wav && cd -
    for deb in /tmp/debs/*.deb; do dpkg-deb -x "$deb" /tmp/voices-src; done
    .venv/bin/python assets/make_voices.py --root /tmp/voices-src

Voices (folder: package, speaker): ``es-allison``: asterisk-core-sounds-es-wav, Allison Smith
(Mexican Spanish; the same woman as the English voice); ``fr-june``: asterisk-core-sounds-fr-wav,
June Wallack (Canadian French); ``it-carlo``: asterisk-core-sounds-it-wav, Carlo Flora;
``ru-core``: asterisk-core-sounds-ru-wav, a speaker the package does not name (provided by Maxim
Topal); ``es-co``: asterisk-prompt-es-co, July E. Jiménez (Colombian Spanish); ``fr-armelle``:
asterisk-prompt-fr-armelle, Armelle Desjardins; ``it-menardi``: asterisk-prompt-it-menardi-wav,
Paola Dal Zot. Sex is recorded only where a package states it: the core packages' folder names
(``es_MX_f_Allison``, ``fr_CA_f_June``, ``it_IT_m_Carlo``, ``ru_RU_f_IvrvoiceRU``) and
``it_IT_f_Menardi``; es-co and fr-armelle do not say.

Selection (deterministic), per voice: the prompt files directly in the package's sound folder
(no ``digits``, ``letters``, ``phonetic``, ``silence``, ... sub-folders) that are speech and last
1 to 30 s, in name order, taken until the next file would bring the voice past 150 s. Speech
means: for a core package, a transcript in its ``core-sounds-<lang>.txt`` that is not a
``[tone]``-like description (the rule of ``make_speech.py``); for the other three, which have no
transcripts, a name that no core transcript describes as a sound (``beep``, ``beeperr``,
``ascending-2tone``, ``descending-2tone``, ``tt-monkeys``). Every source is 8 kHz mono 16-bit
(the script stops if a WAV is not): WAV samples are copied sample for sample, and the raw GSM
6.10 files of es-co and fr-armelle are decoded by libsndfile to 16-bit PCM, which the FLAC then
holds losslessly. Each folder gets ``split.json`` (the 1st, 11th, 21st, ... file in test, the
file after each in valid, as in ``make_speech.py``), ``transcripts.tsv`` (file, seconds, text;
core packages only) and the package's ``copyright`` file (es-co also its ``LEEME`` credits and
``LICENCIA``, the GPL-2 text), as their licences ask.

Roles (``voices.json``): the training voices are English and Mexican-Spanish Allison, June (fr)
and the Russian voice; the held-out voices, never trained on, are es-co and fr-armelle (second
speakers of two training languages: unseen speaker, seen language), it-menardi (a woman, in a
language not trained on) and it-carlo (the only voice a package labels male, in a language not
trained on). So the corpus's test score is the unseen-speaker score, with both an unseen-speaker
/ seen-language and an unseen-language part, and the seen-speaker held-out-file score is its
valid score. Every training voice is a woman, as the packages label them: a male test voice
measures how far a model of women's voices carries over.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from make_speech import read_transcripts  # the same transcript format in every language

SOUNDS = "usr/share/asterisk/sounds"
DOC = "usr/share/doc"
MIN_SECONDS, MAX_SECONDS = 1.0, 30.0
TARGET_SECONDS = 150.0
RATE = 8000
CORE_LANGUAGES = ("en", "es", "fr", "it", "ru")
PACKAGE_URL = "https://packages.debian.org/bookworm/{}"


@dataclass(frozen=True)
class Voice:
    """One voice: where its files are in the extracted packages and how it is credited."""

    folder: str
    package: str
    sounds: str  # folder under usr/share/asterisk/sounds
    language: str  # BCP 47 tag, as precise as the package says
    speaker: str
    sex: str | None  # None where the package does not say
    licence: str
    licence_check: str  # text the package's copyright file must contain for that licence
    holder: str
    role: str  # "train" or "held-out"
    transcripts: str | None = None  # core-sounds language, for the core packages
    extra_docs: tuple[str, ...] = ()  # more files of the package's doc folder to copy


# The English voice is assets/speech (make_speech.py); it only gets a manifest entry here.
ALLISON_CHECK = (
    "Digium, Inc. (http://www.digium.com)\n License: CC-BY-SA-3.0\nLicense: CC-BY-SA-3.0"
)
ALLISON_HOLDER = "Allison Smith; financial contributions by Digium, Inc."
ENGLISH = Voice(
    folder="../speech",
    package="asterisk-core-sounds-en-wav",
    sounds="en_US_f_Allison",
    language="en-US",
    speaker="Allison Smith",
    sex="female",
    licence="CC-BY-SA-3.0",
    licence_check=ALLISON_CHECK,
    holder=ALLISON_HOLDER,
    role="train",
    transcripts="en",
)
VOICES = (
    Voice(
        folder="es-allison",
        package="asterisk-core-sounds-es-wav",
        sounds="es_MX_f_Allison",
        language="es-MX",
        speaker="Allison Smith",
        sex="female",
        licence="CC-BY-SA-3.0",
        licence_check=ALLISON_CHECK,
        holder=ALLISON_HOLDER,
        role="train",
        transcripts="es",
    ),
    Voice(
        folder="fr-june",
        package="asterisk-core-sounds-fr-wav",
        sounds="fr_CA_f_June",
        language="fr-CA",
        speaker="June Wallack",
        sex="female",
        licence="CC-BY-SA-3.0",
        licence_check="Files: fr-*\nCopyright: 2006-2008, June Wallack\nLicense: CC-BY-SA-3.0",
        holder="June Wallack; financial contributions by Digium, Inc., Unlimitel and "
        "BGM Informatique",
        role="train",
        transcripts="fr",
    ),
    Voice(
        folder="it-carlo",
        package="asterisk-core-sounds-it-wav",
        sounds="it_IT_m_Carlo",
        language="it-IT",
        speaker="Carlo Flora",
        sex="male",
        licence="CC-BY-3.0",
        licence_check="distribuito da http://www.digium.com\nLicense: CC-BY-3.0",
        holder="Carlo Flora (http://www.segreterietelefoniche.it)",
        role="held-out",
        transcripts="it",
    ),
    Voice(
        folder="ru-core",
        package="asterisk-core-sounds-ru-wav",
        sounds="ru_RU_f_IvrvoiceRU",
        language="ru-RU",
        speaker="unnamed",
        sex="female",
        licence="CC-BY-3.0",
        licence_check="http://www.ivrvoice.ru\nLicense: CC-BY-3.0",
        holder="Maxim Topal (http://www.ivrvoice.ru)",
        role="train",
        transcripts="ru",
    ),
    Voice(
        folder="es-co",
        package="asterisk-prompt-es-co",
        sounds="es",
        language="es-CO",
        speaker="July E. Jiménez",
        sex=None,
        licence="GPL-2.0-only",
        licence_check="General Public License as published by\n   the Free Software "
        "Foundation; version 2 dated June, 1991.",
        holder="Avatar Ltda. (http://www.avatar.com.co/)",
        role="held-out",
        extra_docs=("LEEME", "LICENCIA.gz"),
    ),
    Voice(
        folder="fr-armelle",
        package="asterisk-prompt-fr-armelle",
        sounds="fr",
        language="fr",
        speaker="Armelle Desjardins",
        sex=None,
        licence="BSD-style",
        licence_check="Redistribution and use, with or without modification, are permitted",
        holder="Michel Gutierrez",
        role="held-out",
    ),
    Voice(
        folder="it-menardi",
        package="asterisk-prompt-it-menardi-wav",
        sounds="it_IT_f_Menardi",
        language="it-IT",
        speaker="Paola Dal Zot",
        sex="female",
        licence="CC-BY-SA-3.0-IT",
        licence_check="The license is Creative Commons Attribution Share Alike 3.0 Italian.",
        holder="Marco Menardi and Paola Dal Zot (http://www.voip.ammdomus.it)",
        role="held-out",
    ),
)


def package_version(root: Path, package: str) -> str:
    """The Debian version, from the first line of the package's changelog.Debian.gz."""
    with gzip.open(root / DOC / package / "changelog.Debian.gz", "rt") as file:
        return file.readline().split("(", 1)[1].split(")", 1)[0]


def read_samples(path: Path) -> np.ndarray:
    """A prompt's 8 kHz mono int16 samples, shape (n,): WAV as is, raw GSM 6.10 decoded."""
    if path.suffix == ".gsm":
        samples, _ = sf.read(
            path, samplerate=RATE, channels=1, format="RAW", subtype="GSM610", dtype="int16"
        )
        return samples
    info = sf.info(path)
    if (info.samplerate, info.channels, info.subtype) != (RATE, 1, "PCM_16"):
        raise SystemExit(f"{path} is not 8 kHz mono 16-bit: {info}")
    return sf.read(path, dtype="int16")[0]


def select(
    sounds: Path, texts: dict[str, str] | None, not_speech: set[str]
) -> list[tuple[Path, np.ndarray]]:
    """The chosen prompts and their samples, in name order, up to :data:`TARGET_SECONDS`."""
    chosen, total = [], 0.0
    for path in sorted(p for p in sounds.iterdir() if p.suffix in (".wav", ".gsm")):
        if texts is not None and (not texts.get(path.stem) or texts[path.stem].startswith("[")):
            continue
        if path.stem in not_speech:
            continue
        samples = read_samples(path)
        seconds = len(samples) / RATE
        if not MIN_SECONDS <= seconds <= MAX_SECONDS:
            continue
        if total + seconds > TARGET_SECONDS:
            break
        chosen.append((path, samples))
        total += seconds
    return chosen


def write_voice(
    voice: Voice, root: Path, out: Path, texts: dict[str, str] | None, not_speech: set[str]
) -> dict:
    """Write one voice's folder; its manifest entry."""
    copyright_text = (root / DOC / voice.package / "copyright").read_text(encoding="utf-8")
    if voice.licence_check not in copyright_text:
        raise SystemExit(f"{voice.package}: copyright no longer says {voice.licence_check!r}")
    folder = out / voice.folder
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    split: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    rows = ["file\tseconds\ttext"]
    seconds = 0.0
    for i, (path, samples) in enumerate(select(root / SOUNDS / voice.sounds, texts, not_speech)):
        target = folder / f"{path.stem}.flac"
        sf.write(target, samples, RATE, format="FLAC", subtype="PCM_16")
        again, _ = sf.read(target, dtype="int16")
        assert np.array_equal(again, samples), f"{target} is not lossless"
        split[{0: "test", 1: "valid"}.get(i % 10, "train")].append(target.name)
        seconds += len(samples) / RATE
        if texts is not None:
            rows.append(f"{target.name}\t{len(samples) / RATE:.3f}\t{texts[path.stem]}")
    (folder / "split.json").write_text(json.dumps(split, indent=1) + "\n")
    if texts is not None:
        (folder / "transcripts.tsv").write_text("\n".join(rows) + "\n")
    (folder / "copyright").write_text(copyright_text, encoding="utf-8")
    for name in voice.extra_docs:
        source = root / DOC / voice.package / name
        data = (
            gzip.decompress(source.read_bytes()) if name.endswith(".gz") else source.read_bytes()
        )
        (folder / name.removesuffix(".gz")).write_bytes(data)
    files = sum(len(names) for names in split.values())
    return manifest_entry(voice, package_version(root, voice.package), files, seconds)


def manifest_entry(voice: Voice, version: str, files: int, seconds: float) -> dict:
    """The voice's entry in voices.json."""
    entry = {
        "folder": voice.folder,
        "language": voice.language,
        "speaker": voice.speaker,
        "sex": voice.sex,
        "package": voice.package,
        "version": version,
        "url": PACKAGE_URL.format(voice.package),
        "licence": voice.licence,
        "copyright": voice.holder,
        "role": voice.role,
        "files": files,
        "seconds": round(seconds, 3),
    }
    return {key: value for key, value in entry.items() if value is not None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/voices-src"), help="extracted")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "voices")
    args = parser.parse_args()
    transcripts = {
        lang: read_transcripts(
            args.root / DOC / f"asterisk-core-sounds-{lang}/core-sounds-{lang}.txt.gz"
        )
        for lang in CORE_LANGUAGES
    }
    not_speech = {
        n for texts in transcripts.values() for n, t in texts.items() if t.startswith("[")
    }
    args.out.mkdir(parents=True, exist_ok=True)
    english = args.out / ENGLISH.folder
    english_split = json.loads((english / "split.json").read_text())
    english_seconds = sum(sf.info(p).duration for p in english.glob("*.flac"))
    entries = [
        manifest_entry(
            ENGLISH,
            package_version(args.root, ENGLISH.package),
            sum(len(names) for names in english_split.values()),
            english_seconds,
        )
    ]
    for voice in VOICES:
        texts = transcripts[voice.transcripts] if voice.transcripts else None
        entries.append(write_voice(voice, args.root, args.out, texts, not_speech))
        print(f"{voice.folder}: {entries[-1]['files']} files, {entries[-1]['seconds']:.1f} s")
    manifest = {
        "description": "Telephone prompts of eight voices, 8 kHz mono 16-bit FLAC; train and "
        "valid come from the training voices, test from the held-out voices "
        "(made by assets/make_voices.py, credited in assets/README.md)",
        "voices": entries,
    }
    (args.out / "voices.json").write_text(
        json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()

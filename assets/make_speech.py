"""Rebuild ``assets/speech/``: about 18 minutes of one speaker's prompts as 8 kHz 16-bit FLAC.

The source is the Debian package ``asterisk-core-sounds-en-wav`` 1.6.1-1 (Allison Smith /
Digium, Inc., CC-BY-SA-3.0), with transcripts from ``asterisk-core-sounds-en``. Nothing is
installed system-wide; from the repository root::

    cd /tmp && apt-get download asterisk-core-sounds-en-wav asterisk-core-sounds-en && cd -
    dpkg-deb -x /tmp/asterisk-core-sounds-en-wav_1.6.1-1_all.deb /tmp/deb/ex
    dpkg-deb -x /tmp/asterisk-core-sounds-en_1.6.1-1_all.deb /tmp/deb/ex
    .venv/bin/python assets/make_speech.py --root /tmp/deb/ex

Selection (deterministic): the top-level prompts of ``en_US_f_Allison`` (no digits, letters or
other sub-folders) whose transcript is speech (not a ``[tone]``), lasting 1 to 30 s, sorted by
name. Each is copied sample for sample (8 kHz mono 16-bit) into FLAC.
The fixed split by file in ``split.json`` puts the 1st, 11th, 21st, ... selected file in
test and the file after each in valid (about 76/11/13 % of the audio): test files are never
trained on. ``transcripts.tsv`` lists each file's text.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
import soundfile as sf

SOUNDS = "usr/share/asterisk/sounds/en_US_f_Allison"
TRANSCRIPTS = "usr/share/doc/asterisk-core-sounds-en/core-sounds-en.txt.gz"
MIN_SECONDS, MAX_SECONDS = 1.0, 30.0


def read_transcripts(path: Path) -> dict[str, str]:
    """Prompt name -> text, from the ``name: text`` lines of core-sounds-en.txt(.gz)."""
    opener = gzip.open if path.suffix == ".gz" else open
    texts = {}
    with opener(path, "rt", encoding="utf-8", errors="replace") as file:
        for line in file:
            name, sep, text = line.partition(":")
            if sep and not line.startswith(";") and " " not in name.strip():
                texts[name.strip()] = " ".join(text.split())
    return texts


def select(sounds: Path, texts: dict[str, str]) -> list[Path]:
    """The chosen prompt files, in name order."""
    chosen = []
    for path in sorted(sounds.glob("*.wav")):
        text = texts.get(path.stem, "")
        if not text or text.startswith("["):
            continue
        info = sf.info(path)
        if (info.samplerate, info.channels, info.subtype) != (8000, 1, "PCM_16"):
            raise SystemExit(f"{path} is not 8 kHz mono 16-bit: {info}")
        if MIN_SECONDS <= info.duration <= MAX_SECONDS:
            chosen.append(path)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("/tmp/deb/ex"), help="extracted debs")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "speech")
    args = parser.parse_args()
    sounds, transcripts = args.root / SOUNDS, args.root / TRANSCRIPTS
    for needed in (sounds, transcripts):
        if not needed.exists():
            raise SystemExit(f"missing {needed}: extract both packages (see this script's doc)")
    texts = read_transcripts(transcripts)
    files = select(sounds, texts)
    args.out.mkdir(parents=True, exist_ok=True)
    for old in args.out.glob("*.flac"):
        old.unlink()
    split: dict[str, list[str]] = {"train": [], "valid": [], "test": []}
    seconds = dict.fromkeys(split, 0.0)
    rows = ["file\tseconds\ttext"]
    for i, path in enumerate(files):
        samples, rate = sf.read(path, dtype="int16")
        target = args.out / f"{path.stem}.flac"
        sf.write(target, samples, rate, format="FLAC", subtype="PCM_16")
        again, _ = sf.read(target, dtype="int16")
        assert np.array_equal(again, samples), f"{target} is not lossless"
        part = {0: "test", 1: "valid"}.get(i % 10, "train")
        split[part].append(target.name)
        seconds[part] += len(samples) / rate
        rows.append(f"{target.name}\t{len(samples) / rate:.3f}\t{texts[path.stem]}")
    (args.out / "split.json").write_text(json.dumps(split, indent=1) + "\n")
    (args.out / "transcripts.tsv").write_text("\n".join(rows) + "\n")
    total = sum(seconds.values())
    shares = ", ".join(f"{p} {s / total:.0%} ({len(split[p])} files)" for p, s in seconds.items())
    print(f"{len(files)} files, {total / 60:.2f} min in {args.out}: {shares}")


if __name__ == "__main__":
    main()

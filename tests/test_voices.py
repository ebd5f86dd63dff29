"""The bundled corpus of voices (``assets/voices``): its manifest, credits, roles and loader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import soundfile as sf
import torch

from frmdn.data import load_data
from frmdn.data.audio import AudioError
from frmdn.resources import data_dir

torch.set_num_threads(1)

ASSETS = data_dir()
VOICES = ASSETS / "voices"
MANIFEST = json.loads((VOICES / "voices.json").read_text(encoding="utf-8"))["voices"]
BY_FOLDER = {entry["folder"]: entry for entry in MANIFEST}
TRAIN = {f for f, entry in BY_FOLDER.items() if entry["role"] == "train"}
HELD_OUT = {f for f, entry in BY_FOLDER.items() if entry["role"] == "held-out"}
BUNDLED = sorted(p.name for p in VOICES.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def corpus():
    return load_data("audio:assets/voices")


def test_the_manifest_and_the_folders_name_the_same_voices():
    assert len(BY_FOLDER) == len(MANIFEST) == 8
    assert BY_FOLDER["../speech"]["speaker"] == "Allison Smith"  # the English voice, not copied
    assert sorted(f for f in BY_FOLDER if f != "../speech") == BUNDLED
    for folder, entry in BY_FOLDER.items():
        flacs = sorted((VOICES / folder).glob("*.flac"))
        assert len(flacs) == entry["files"], folder
        seconds = sum(sf.info(p).duration for p in flacs)
        assert seconds == pytest.approx(entry["seconds"], abs=0.01), folder
        assert {"language", "speaker", "package", "version", "licence", "copyright"} <= set(entry)
        assert entry.get("sex") in {None, "female", "male"}


@pytest.mark.parametrize("folder", BUNDLED)
def test_each_new_voice_is_short_8_khz_speech_split_by_file_and_carries_its_copyright(folder):
    path = VOICES / folder
    infos = [sf.info(p) for p in sorted(path.glob("*.flac"))]
    assert {(i.samplerate, i.channels, i.subtype) for i in infos} == {(8000, 1, "PCM_16")}
    assert all(1.0 <= i.duration <= 30.0 for i in infos)
    assert 120.0 <= sum(i.duration for i in infos) <= 150.0
    split = json.loads((path / "split.json").read_text())
    listed = [name for part in ("train", "valid", "test") for name in split[part]]
    assert sorted(listed) == sorted(p.name for p in path.glob("*.flac"))
    assert (path / "copyright").read_text(encoding="utf-8").strip()


def test_the_new_voices_stay_under_11_mb():
    assert sum(p.stat().st_size for p in VOICES.rglob("*") if p.is_file()) < 11_000_000


@pytest.mark.parametrize("folder", sorted(BY_FOLDER))
def test_every_voice_is_credited_in_the_assets_readme_with_its_licence(folder):
    readme = (ASSETS / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Voices: `voices/`", 1)[1].split("\n## ", 1)[0]
    entry = BY_FOLDER[folder]
    item = next(line for line in section.split("\n- ") if line.startswith(f"`{folder}`"))
    for key in ("package", "licence", "url"):
        assert entry[key] in item, f"{folder}: the README does not give its {key} {entry[key]}"
    if entry["speaker"] != "unnamed":
        assert entry["speaker"] in item
    if folder != "../speech":  # the Speech section credits the English voice in full
        assert entry["version"] in item
        assert "Copyright" in item


def test_training_and_held_out_voices_are_disjoint_and_the_held_out_set_is_varied():
    assert TRAIN and HELD_OUT and not TRAIN & HELD_OUT and TRAIN | HELD_OUT == set(BY_FOLDER)

    def language(folder):
        return BY_FOLDER[folder]["language"].split("-")[0]

    trained_languages = {language(f) for f in TRAIN}
    trained_speakers = {BY_FOLDER[f]["speaker"] for f in TRAIN}
    second_speakers = {
        f
        for f in HELD_OUT
        if language(f) in trained_languages and BY_FOLDER[f]["speaker"] not in trained_speakers
    }
    assert {"es-co", "fr-armelle"} <= second_speakers
    assert any(BY_FOLDER[f].get("sex") == "female" for f in HELD_OUT)


def test_the_corpus_trains_on_training_voices_and_tests_on_held_out_ones(corpus):
    for part in (corpus.train, corpus.valid, corpus.test):
        assert part.dim() == 3 and part.shape[1:] == (50, 80) and len(part) > 100
        assert torch.isfinite(part).all()
    assert corpus.name == "voices"
    voices = corpus.info["voices"]
    assert set(voices["train"]) == TRAIN and set(voices["held_out"]) == HELD_OUT
    files = corpus.info["files"]

    def voice(name):
        return name.rpartition("/")[0]

    assert {voice(n) for n in files["test"]} == HELD_OUT
    assert {voice(n) for n in files["train"]} == {voice(n) for n in files["valid"]} == TRAIN
    for folder in TRAIN:  # each training voice's own split decides its train and valid files
        split = json.loads((VOICES / folder / "split.json").read_text())
        for part in ("train", "valid"):
            assert [n for n in files[part] if voice(n) == folder] == [
                f"{folder}/{name}" for name in split[part]
            ]
    for folder in HELD_OUT:  # every file of a held-out voice tests
        held = {f"{folder}/{p.name}" for p in (VOICES / folder).glob("*.flac")}
        assert held == {n for n in files["test"] if voice(n) == folder}


@pytest.mark.parametrize("folder", BUNDLED)
def test_each_voice_folder_loads_with_the_plain_loader(folder):
    split = load_data(f"audio:assets/voices/{folder}", length=25)
    assert all(torch.isfinite(part).all() for part in (split.train, split.valid, split.test))
    assert "voices" not in split.info
    assert split.info["files"] == json.loads((VOICES / folder / "split.json").read_text())


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"folder": "no-such-voice", "role": "train"}, "'no-such-voice', which does not exist"),
        ({"folder": str(VOICES / "es-co"), "role": "dev"}, "has role 'dev'"),
    ],
)
def test_a_bad_manifest_is_one_clear_audio_error(tmp_path, entry, message):
    held_out = {"folder": str(VOICES / "fr-armelle"), "role": "held-out"}
    (tmp_path / "voices.json").write_text(json.dumps({"voices": [entry, held_out]}))
    with pytest.raises(AudioError, match=message) as caught:
        load_data(f"audio:{tmp_path}")
    assert "\n" not in str(caught.value)


def test_a_corpus_needs_a_training_and_a_held_out_voice(tmp_path: Path):
    voice = {"folder": str(VOICES / "es-co"), "role": "held-out"}
    (tmp_path / "voices.json").write_text(json.dumps({"voices": [voice]}))
    with pytest.raises(AudioError, match="no train voice"):
        load_data(f"audio:{tmp_path}")


def test_listening_files_are_exactly_the_files_no_corpus_model_heard(corpus):
    from frmdn.data.audio import AUDIO_SUFFIXES
    from frmdn.data.voices import listening_files

    files = listening_files(VOICES, AUDIO_SUFFIXES)
    assert list(files) == [entry["folder"] for entry in MANIFEST]
    heard = set(corpus.info["files"]["train"]) | set(corpus.info["files"]["valid"])
    for folder, paths in files.items():
        names = {f"{folder}/{p.name}" for p in paths}
        assert paths and not names & heard, folder
        if folder in HELD_OUT:
            assert len(paths) == BY_FOLDER[folder]["files"]
        else:  # a training voice's own test files
            split = json.loads((VOICES / folder / "split.json").read_text())
            assert [p.name for p in paths] == split["test"]


def test_a_voice_scores_as_the_corpus_cuts_it(corpus):
    from frmdn.data import speech

    voices = {voice.label: voice for voice in speech.voices()}
    assert voices["es-co"].title == "es-CO · " + BY_FOLDER["es-co"]["speaker"]
    sequences = {
        label: speech.voice_sequences(label, rate=8000, frame_size=80, length=50, emphasis=0.0)
        for label in sorted(HELD_OUT)
    }
    # the held-out voices are the corpus's test part, cut alike (up to the dequantisation noise)
    together = torch.cat([sequences[label] for label in corpus.info["voices"]["held_out"]])
    assert together.shape == corpus.test.shape
    assert (together - corpus.test).abs().max() < 2**-14
    with pytest.raises(AudioError, match="no voice 'xx'"):
        speech.voice_sequences("xx", rate=8000, frame_size=80, length=50, emphasis=0.0)

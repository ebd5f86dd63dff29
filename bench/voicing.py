"""How voiced generated speech is: the pitch tracker's voiced fraction of primed continuations.

Not a speed benchmark but a measured quality figure, kept here for the same reason: it is run
by hand and quoted in the README. Each speech checkpoint continues the first PRIME_S seconds of
every bundled test file of at least MIN_CLIP_S seconds for CONTINUE_S seconds (two draws per
clip, seeded), at each temperature, each generated value kept within the loudest value of the
model's training audio as on the audio page; the continuation is de-emphasised back and
``librosa.pyin`` (75-400 Hz) marks each 10 ms hop voiced or not. The figure is the voiced share
of the loud hops (RMS above 0.01): real speech scores about 0.9, hiss 0. The RMS level of the
continuations is reported beside it, against the real audio's over the same span, and so is
how often generation clips: the share of generated (pre-emphasised) values held at the bound,
and the share of output samples beyond full scale after de-emphasis (clipped in the player).
The audio page's default temperature is the highest one here at which the FRMDN's
continuations clip no value (``ui/audio_listen.py`` reads it from the result file).

Run: .venv/bin/python bench/voicing.py [--quick] [--threads N] [--out PATH] [CHECKPOINT ...]
Writes bench/results/voicing.json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import librosa
import numpy as np
import torch
from timing import machine_info, write_results

from frmdn.checkpoints.load import load
from frmdn.data import load_data
from frmdn.data.audio import from_frames, read_audio, to_frames

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "assets" / "speech"
DEFAULT = [ROOT / "assets" / "pretrained" / f"speech-{m}" for m in ("rmdn", "frmdn")]
RATE, MIN_CLIP_S, PRIME_S, CONTINUE_S, LOUD = 8000, 2.5, 1.0, 1.5, 0.01
FULL = {"clips": 8, "draws": 2, "temperatures": [1.0, 0.9, 0.8, 0.7, 0.6]}
QUICK = {"clips": 1, "draws": 1, "temperatures": [1.0]}


def voiced_share(waveform: np.ndarray, hop: int) -> float:
    """Voiced share of the loud hops of ``waveform`` (nan when none is loud)."""
    waveform = waveform.astype(np.float64)
    _, voiced, _ = librosa.pyin(
        waveform, fmin=75, fmax=400, sr=RATE, frame_length=512, hop_length=hop
    )
    rms = librosa.feature.rms(y=waveform, frame_length=512, hop_length=hop)[0][: len(voiced)]
    loud = rms > LOUD
    return float(voiced[loud].mean()) if loud.any() else float("nan")


def clipping(drawn: torch.Tensor, wave: np.ndarray, bound: float) -> dict[str, float]:
    """Share of the generated values held at ``bound`` and of output samples beyond ±1."""
    held = (drawn.abs() >= bound * (1 - 1e-6)).double().mean().item()
    return {"at_bound": held, "beyond_full_scale": float((np.abs(wave) > 1.0).mean())}


def rms(waveform: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(waveform, dtype=np.float64))))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("checkpoints", nargs="*", type=Path, default=DEFAULT)
    parser.add_argument("--quick", action="store_true", help="one clip, one draw, 0.3 s")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    run = QUICK if args.quick else FULL
    continue_s = 0.3 if args.quick else CONTINUE_S
    split = json.loads((SPEECH / "split.json").read_text())
    clips = [read_audio(SPEECH / name, sample_rate=RATE) for name in split["test"]]
    clips = [clip for clip in clips if clip.seconds >= MIN_CLIP_S][: run["clips"]]
    start, stop = int(PRIME_S * RATE), int((PRIME_S + continue_s) * RATE)
    real = [voiced_share(clip.waveform[start:stop], 80) for clip in clips]
    real_rms = [rms(clip.waveform[start:stop]) for clip in clips]
    results = {
        "machine": machine_info(),
        "run": {**run, "quick": args.quick, "continue_s": continue_s},
        "real": {"voiced": real, "rms": real_rms},
    }
    print(
        f"real speech, the same {continue_s} s: voiced share {np.nanmean(real):.2f}, "
        f"RMS {np.mean(real_rms):.3f}"
    )
    for path in args.checkpoints:
        model = load(path).eval()
        data = model.metadata.get("data", {})
        emphasis, d = float(data.get("info", {}).get("emphasis", 0.0)), model.config.dim
        bound = float(load_data(data["spec"]).train.abs().max())  # as the audio page does
        metrics = model.metadata.get("metrics", {})
        results.setdefault("checkpoints", {})[path.name] = {
            "spec": data.get("spec"),
            "dim": d,
            "valid_nll": metrics.get("best_valid_nll"),  # nats per step, as its training recorded
            "test_nll": metrics.get("test_nll"),
        }
        steps = round(continue_s * RATE / d)
        for temperature in run["temperatures"]:
            shares, levels, clipped = [], [], []
            for i, clip in enumerate(clips):
                frames = torch.from_numpy(to_frames(clip.waveform, d, emphasis))
                prime = frames[: round(PRIME_S * RATE / d)]
                torch.manual_seed(i)
                drawn = model.sample(
                    run["draws"],
                    steps,
                    prime=prime.expand(run["draws"], -1, -1),
                    temperature=temperature,
                    bound=bound,
                )
                for sequence in drawn:
                    wave = from_frames(torch.cat([prime, sequence]), emphasis)[start:]
                    shares.append(voiced_share(np.clip(wave, -1, 1), 80))
                    levels.append(rms(wave))
                    clipped.append(clipping(sequence, wave, bound))
            name = f"{path.name} T={temperature:g}"
            at_bound = [c["at_bound"] for c in clipped]
            beyond = [c["beyond_full_scale"] for c in clipped]
            results[name] = {
                "voiced": shares,
                "rms": levels,
                "at_bound": at_bound,
                "beyond_full_scale": beyond,
            }
            print(
                f"{name}: voiced share {np.nanmean(shares):.2f}, RMS {np.mean(levels):.3f}, "
                f"values at the bound {np.mean(at_bound):.2%} (worst draw {max(at_bound):.2%}), "
                f"samples beyond full scale {np.mean(beyond):.2%}",
                flush=True,
            )
    write_results("voicing", results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

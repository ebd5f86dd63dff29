"""How the bundled speech pair scores voices it never heard: per voice of ``assets/voices``.

The bundled RMDN and FRMDN (``assets/pretrained/speech-{rmdn,frmdn}``, or the checkpoints
given) are scored on each voice of the corpus (``assets/voices/voices.json``) with the
checkpoint's own framing and pre-emphasis: every frame of the voice's files that no model
trained on the corpus heard (``frmdn.data.voices.listening_files``: a training voice's test
files, every file of a held-out voice); ``heard`` says whether the pair trained on that voice.
Recorded per model: the mean NLL per frame (what ``eval`` prints), the median frame, the worst
frame and the share of frames beyond 1,000 nats (the blow-ups of issue 22), and per voice the
audio's peak level. From the repository root::

    .venv/bin/python bench/unseen_voices.py [--quick] [--threads N] [--out PATH]

writes ``bench/results/unseen_voices.json``; ``--quick`` scores two voices' first sequences.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from timing import machine_info, write_results

from frmdn import load
from frmdn.data import speech

ROOT = Path(__file__).resolve().parents[1]
QUICK_VOICES, QUICK_SEQUENCES = 2, 8
MODELS = ("rmdn", "frmdn")
BLOW_UP = 1000.0  # nats per frame: far beyond any frame of a voice the models fit


@torch.no_grad()
def frame_nll(model: torch.nn.Module, sequences: torch.Tensor) -> np.ndarray:
    """-log p of every frame of sequences (N, T, d), flattened, float64."""
    model.eval()
    parts = [-model.log_prob(sequences[i : i + 64]).double() for i in range(0, len(sequences), 64)]
    return torch.cat(parts).reshape(-1).numpy()


@torch.no_grad()
def anatomy(
    model: torch.nn.Module, sequences: torch.Tensor, nll: np.ndarray, worst: int = 20
) -> dict:
    """Where the ``worst`` frames' NLL comes from, against the median frame's: the mixture's
    term -log sum_k alpha_k N(z) and the flow's -log|det|, and the RMS of what the flow reads
    (u - o: the standardised frame minus the pitch predictor's guess) and of z after each of
    its layers."""
    model.eval()
    order = np.argsort(nll)
    picks = {"worst": order[-worst:], "median": order[len(order) // 2 - 10 : len(order) // 2 + 10]}
    flat = sequences.shape[1]
    out = {}
    for label, frames in picks.items():
        rows = sorted({int(i) // flat for i in frames})
        gmm, _, residual, context = model._residuals(sequences[rows], None)
        keep = [(rows.index(int(i) // flat), int(i) % flat) for i in frames]
        b, t = (torch.tensor(v) for v in zip(*keep, strict=True))
        z, layers_rms, log_det = residual, [float(residual[b, t].square().mean().sqrt())], 0
        for layer in model.flow.layers:
            z, step = layer(z, context)
            log_det = log_det + step
            layers_rms.append(float(z[b, t].square().mean().sqrt()))
        mixture = -gmm.log_prob(z)[b, t].double()
        out[label] = {
            "nll": float(np.mean(nll[frames])),
            "mixture_term": float(mixture.mean()),
            "minus_log_det": float(-log_det[b, t].double().mean()),
            "rms_by_layer": layers_rms,
        }
    return out


def peak_level(folder: Path) -> float:
    """The largest absolute sample of a voice's files, full scale = 1."""
    import soundfile as sf

    return max(float(np.abs(sf.read(f)[0]).max()) for f in sorted(folder.glob("*.flac")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="two voices, a few sequences")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("checkpoints", nargs="*", type=Path, help="RMDN_DIR FRMDN_DIR")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    folders = args.checkpoints or [ROOT / "assets" / "pretrained" / f"speech-{m}" for m in MODELS]
    models = {m.upper(): load(folder) for m, folder in zip(MODELS, folders, strict=True)}
    data = models["RMDN"].metadata["data"]
    info = data["info"]
    trained = set(info.get("voices", {}).get("train", ["../speech"]))  # else assets/speech
    corpus = speech.voices()[:QUICK_VOICES] if args.quick else speech.voices()
    results = {
        "machine": machine_info(),
        "run": {"quick": args.quick, "checkpoints": [str(f) for f in folders], "blow_up": BLOW_UP},
        "trained_on": data["spec"],
    }
    voices = {}
    for voice in corpus:
        sequences = speech.voice_sequences(
            voice.label,
            rate=info["sample_rate"],
            frame_size=info["frame_size"],
            length=info["length"],
            emphasis=info["emphasis"],
        )
        if args.quick:
            sequences = sequences[:QUICK_SEQUENCES]
        heard = voice.label in trained
        name = "en-allison" if voice.label == "../speech" else Path(voice.label).name
        entry = {
            "language": voice.about["language"],
            "speaker": voice.about["speaker"],
            "heard": heard,
            "files": "its test files" if voice.role == "train" else "every file",
            "frames": int(sequences.shape[0] * sequences.shape[1]),
            "peak": peak_level(voice.path),
        }
        for label, model in models.items():
            nll = frame_nll(model, sequences)
            entry[label] = {
                "mean": float(nll.mean()),
                "median": float(np.median(nll)),
                "worst": float(nll.max()),
                "blow_ups": float((nll > BLOW_UP).mean()),
            }
            if label == "FRMDN":
                entry[label]["anatomy"] = anatomy(model, sequences, nll)
        voices[name] = entry
        print(name, {m: round(entry[m]["mean"], 1) for m in models}, flush=True)
    results["voices"] = voices
    write_results("unseen_voices", results, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

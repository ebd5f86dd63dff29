"""Bundle the speech pair trained on the corpus of voices: score it three ways, store it halved.

The two checkpoints come from the CLI (the commands are in ``assets/README.md``), trained on
``audio:assets/voices?emphasis=0.9``: the training voices' training files. Each is scored on
the training voices' held-out files (the corpus's valid part), on the English voice's test
files (``audio:assets/speech``'s test part, the files the previous English-only pair was scored
on) and on the four held-out voices (the corpus's test part, the checkpoint's ``test_nll``), in
float32 and with its weights rounded through float16; then it is saved in half precision as
``assets/pretrained/speech-{rmdn,frmdn}`` with those scores in its metrics. From the
repository root::

    .venv/bin/python assets/make_voice_pair.py RMDN_DIR FRMDN_DIR [--out assets/pretrained]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from make_worlds import halved

from frmdn.checkpoints.load import load
from frmdn.data import load_data
from frmdn.training.trainer import evaluate_nll

ROOT = Path(__file__).resolve().parents[1]
SPECS = {
    "training_voices_nll": ("audio:assets/voices?emphasis=0.9", "valid"),
    "english_test_nll": ("audio:assets/speech?emphasis=0.9", "test"),
    "test_nll": ("audio:assets/voices?emphasis=0.9", "test"),
}


def scores(model: torch.nn.Module, parts: dict[str, torch.Tensor]) -> dict[str, float]:
    """The model's NLL (nats/frame) on each of ``parts`` (SPECS' sequences by name)."""
    return {name: evaluate_nll(model, sequences) for name, sequences in parts.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rmdn", type=Path)
    parser.add_argument("frmdn", type=Path)
    parser.add_argument("--out", type=Path, default=ROOT / "assets" / "pretrained")
    args = parser.parse_args()
    torch.set_num_threads(1)
    splits = {spec: load_data(spec, seed=0) for spec, _ in SPECS.values()}  # each read once
    parts = {name: getattr(splits[spec], part) for name, (spec, part) in SPECS.items()}
    for name, directory in (("rmdn", args.rmdn), ("frmdn", args.frmdn)):
        model = load(directory)
        full, half = scores(model, parts), scores(halved(model), parts)
        print(name, {k: round(v, 2) for k, v in full.items()}, "half:", half, flush=True)
        metrics = model.metadata["metrics"] | full | {f"{k}_half": v for k, v in half.items()}
        model.save(
            args.out / f"speech-{name}", metrics=metrics, data=model.metadata["data"], half=True
        )


if __name__ == "__main__":
    main()

"""Why the low-rank precision lost to the diagonal: gradient norms, clipping, the factor's size
and what the precision leaves unexplained, measured while training.

For each variant (a model kind, a precision parametrisation and a clipping rule) on one data
set, at the same K, LSTM width, steps and seed: the raw (unclipped) gradient norm of each
parameter group at every step (LSTM, the head's weights, means, precision diagonals and
factors, the flow), how often the global clip is active and by how much it scales the step,
the factor's size over training (:math:`\\|U\\|_F^2` and its size relative to the diagonal,
:math:`\\mathrm{tr}(U^T D^{-1} U)`), the test NLL, and at the end the spectrum of the whitened
residuals :math:`w = \\Lambda^{1/2}(z - \\mu)` of the responsible component: eigenvalues below 1
are directions a precision factor can tighten, above 1 directions only a larger covariance
could widen; :math:`\\tfrac12(\\lambda - 1 - \\log\\lambda)` nats per step are to be had in each.

Run: .venv/bin/python bench/lowrank_diagnosis.py [--data images:digits] [--steps 800]
     [--variants NAME ...] [--seeds 0 1 2] [--workers 2] [--out PATH] [--quick]
Writes bench/results/lowrank_diagnosis.json.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import statistics
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import torch
from timing import machine_info, write_results

from frmdn.data import load_data
from frmdn.models.config import ModelConfig
from frmdn.models.sequence import FRMDN_FLOW_LAYERS, build_model
from frmdn.training.trainer import TrainConfig, Trainer, evaluate_nll

CLIPS = {  # the clipping rules compared: a threshold of 5 on the gradient norm of ...
    "clip 5": "per-step",  # ... the loss per step (summed over d), the rule before library 0.2
    "clip 5/dim": 5.0,  # ... the loss per dimension (the step's loss / d): TrainConfig's now
    "no clip": 1e9,
}
KINDS = {
    "RMDN diagonal": {"rank": 0},
    "RMDN low-rank": {"precision_factor": "absolute"},
    "RMDN low-rank relative": {"precision_factor": "relative"},
    "FRMDN diagonal": {"rank": 0, "flow_layers": FRMDN_FLOW_LAYERS},
    "FRMDN low-rank": {"precision_factor": "absolute", "flow_layers": FRMDN_FLOW_LAYERS},
    "FRMDN low-rank relative": {"precision_factor": "relative", "flow_layers": FRMDN_FLOW_LAYERS},
}
VARIANTS: dict[str, dict] = {
    f"{kind}, {clip}": {"model": model, "clip": rule}
    for kind, model in KINDS.items()
    for clip, rule in CLIPS.items()
}
"""Model settings (on top of K, rank and width) and clipping rule of each variant."""

PROBE = 64  # validation sequences whose mixtures are measured at every report


def head_groups(config: ModelConfig) -> dict[str, slice]:
    """Rows of the low-rank head's output per parameter group (logits, loc, diag, factor)."""
    K, d, r = config.n_components, config.dim, config.rank
    edges = [0, K, K + K * d, K + 2 * K * d, K + 2 * K * d + K * d * r]
    names = ("logits", "loc", "diag", "factor")
    return {name: slice(a, b) for name, a, b in zip(names, edges, edges[1:], strict=False)}


class GradientLog:
    """Squared raw gradient norms per group, collected by tensor hooks during backward."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.current: dict[str, float] = {}
        self.steps: list[dict[str, float]] = []
        rows = head_groups(model.config)
        for name, param in model.named_parameters():
            if name.startswith("head."):
                param.register_hook(self._head_hook(rows))
            else:
                group = name.split(".")[0]
                param.register_hook(self._hook(group))

    def _add(self, group: str, grad: torch.Tensor) -> None:
        self.current[group] = self.current.get(group, 0.0) + float(grad.double().square().sum())

    def _hook(self, group: str):  # noqa: ANN202 - a tensor hook
        def hook(grad: torch.Tensor) -> None:
            self._add(group, grad)

        return hook

    def _head_hook(self, rows: dict[str, slice]):  # noqa: ANN202 - a tensor hook
        def hook(grad: torch.Tensor) -> None:
            for group, part in rows.items():
                if part.stop > part.start:
                    self._add(group, grad[part])

        return hook

    def close_step(self) -> None:
        """Called before each optimiser step: the step's group norms are complete."""
        self.steps.append({g: math.sqrt(v) for g, v in self.current.items()})
        self.current = {}


@torch.no_grad()
def factor_size(model: torch.nn.Module, probe: torch.Tensor) -> dict[str, float]:
    """Mean :math:`\\|U\\|_F^2`, :math:`\\mathrm{tr}(U^T D^{-1} U)` and mean diagonal over the
    probe's steps and components."""
    model.eval()
    gmm, _ = model.mixture(probe)
    size = {"diag_mean": float(gmm.diag.mean())}
    if gmm.rank:
        size["factor_sq"] = float(gmm.factor.square().sum((-2, -1)).mean())
        size["relative_sq"] = float(
            (gmm.factor.square() / gmm.diag.unsqueeze(-1)).sum((-2, -1)).mean()
        )
    return size


@torch.no_grad()
def whitened_spectrum(model: torch.nn.Module, probe: torch.Tensor, r: int) -> dict[str, object]:
    """Eigenvalues of the covariance of :math:`w = L^T(z - \\mu_k)` (float64, explicit d x d
    precisions :math:`\\Lambda = L L^T`) for each step's most responsible component k, and the
    nats per step a rank-``r`` update of the precision (the r smallest eigenvalues below 1) or
    of the covariance (the r largest above 1) could still take, and a full d x d one (all)."""
    model.eval()
    gmm, z = model.mixture(probe)
    k = gmm.responsibilities(z).argmax(-1)  # (B, T)
    pick = gmm.at((*torch.meshgrid(*map(torch.arange, k.shape), indexing="ij"), k))
    precision = torch.linalg.inv(pick.component_covariance().double())  # (B, T, d, d)
    chol = torch.linalg.cholesky(precision)
    delta = (z.double() - pick.loc.double()).unsqueeze(-1)  # (B, T, d, 1)
    w = (chol.mT @ delta).squeeze(-1).reshape(-1, z.shape[-1])
    eig = torch.linalg.eigvalsh(w.T @ w / len(w)).tolist()
    gain = [0.5 * (v - 1 - math.log(v)) for v in eig]
    return {
        "smallest": eig[:4],
        "largest": eig[-4:],
        "precision_gain_rank": sum(g for v, g in zip(eig[:r], gain[:r], strict=True) if v < 1),
        "covariance_gain_rank": sum(g for v, g in zip(eig[-r:], gain[-r:], strict=True) if v > 1),
        "full_gain": sum(gain),  # what a full covariance of the same means could still take
        "mean_eigenvalue": sum(eig) / len(eig),
    }


def run_variant(name: str, spec: str, args: argparse.Namespace, seed: int) -> dict:
    """Train one variant, logging as it goes; returns its measurements."""
    torch.set_num_threads(args.threads)
    variant = VARIANTS[name]
    split = load_data(spec, seed=0)
    settings = {"n_components": args.K, "rank": args.rank, "hidden_size": args.hidden}
    config = ModelConfig(dim=split.dim, **(settings | variant["model"]))
    torch.manual_seed(seed)
    model = build_model(config)
    model.standardize_on(split.train)
    train = TrainConfig(
        steps=args.steps,
        batch_size=args.batch_size,
        seed=seed,
        eval_every=args.eval_every,
        patience=0,
        clip_norm=5.0 / split.dim if variant["clip"] == "per-step" else variant["clip"],
    )
    trainer = Trainer(model, split.train, split.valid, train)
    log = GradientLog(model)
    trainer.optimizer.register_step_pre_hook(lambda *_: log.close_step())
    probe = split.valid[:PROBE]
    sizes = []
    while not trainer.done:
        trainer.run(args.eval_every)
        sizes.append({"step": trainer.result.steps} | factor_size(model, probe))
    totals = [math.sqrt(sum(v * v for v in step.values())) for step in log.steps]
    clip = train.clip_norm * split.dim  # on the loss per step, as the hooks measure it
    active = [t for t in totals if t > clip]
    groups = sorted({g for step in log.steps for g in step})

    def median(group: str, part: slice) -> float:
        return statistics.median(step.get(group, 0.0) for step in log.steps[part])

    early, late = slice(0, 100), slice(-100, None)
    trainer.model.load_state_dict(trainer._best_state)  # noqa: SLF001 - the fit() ending
    return {
        "variant": name,
        "seed": seed,
        "test_nll": evaluate_nll(model, split.test),
        "train_nll": evaluate_nll(model, split.train[: len(split.test)]),  # as many sequences
        "dim": split.dim,
        "clip_norm": clip,
        "clip_active": len(active) / len(totals),
        "clip_scale_median": statistics.median(clip / t for t in active) if active else 1.0,
        "grad_norm_median": statistics.median(totals),
        "group_norm_early": {g: median(g, early) for g in groups},
        "group_norm_late": {g: median(g, late) for g in groups},
        "factor_size": sizes,
        "spectrum": whitened_spectrum(model, probe, args.rank),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", default="images:digits")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--K", type=int, default=5)
    parser.add_argument("--rank", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--steps", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per run (1)")
    parser.add_argument("--workers", type=int, default=2, help="runs at a time (default: 2)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    args = parser.parse_args(argv)
    if args.quick:  # two variants, one seed, a few steps, in this process's pool of one
        args.steps, args.eval_every, args.seeds, args.workers = 20, 10, [0], 1
        args.variants = ["RMDN low-rank, clip 5", "FRMDN diagonal, clip 5/dim"]
    torch.set_num_threads(args.threads)
    jobs = [(name, args.data, args, seed) for seed in args.seeds for name in args.variants]
    spawn = multiprocessing.get_context("spawn")  # fresh workers, each with its own threads
    with ProcessPoolExecutor(args.workers, mp_context=spawn) as pool:
        rows = list(pool.map(run_variant, *zip(*jobs, strict=True)))
    for row in rows:
        late = {g: round(v, 2) for g, v in row["group_norm_late"].items()}
        print(
            f"{row['variant']:34s} seed {row['seed']}: test {row['test_nll']:9.3f} nats/step, "
            f"clip active {row['clip_active']:.0%} (median scale "
            f"{row['clip_scale_median']:.3f}), late group norms {late}"
        )
    run = {k: v for k, v in vars(args).items() if k not in ("out", "variants")}
    write_results(
        "lowrank_diagnosis", {"machine": machine_info(), "run": run, "runs": rows}, args.out
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

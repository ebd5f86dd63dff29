"""Speed of LowRankPrecisionGMM.log_prob (forward + backward) on the CPU, all in one run.

1. frmdn against torch.distributions (MixtureSameFamily of MultivariateNormal with an explicit
   d x d precision matrix built from the same parameters), after checking both agree.
2. Useful flop rate of the rank-8 (and diagonal) log-density next to a 1024^3 float32 matmul.
3. frmdn forward + backward time over ranks r in {0, 1, 2, 4, 8, 16}.

``factor`` is timed in two layouts: "model", the transpose of a contiguous (B, K, r, d) tensor
(what ``SequenceDensityModel._mixture_from_hidden`` hands the mixture, and the fast path of the
fused autograd Function), and "contiguous", a plain contiguous (B, K, d, r) tensor.

Useful flops, per (batch, component) pair, for d dimensions and rank r:
    forward  = 2 d r^2  (capacitance U^T D^-1 U)
             + r^3 / 3  (its Cholesky)
             + 2 d r    (projection U^T delta)
             + 3 d      (diagonal quadratic sum D delta^2)
             + d + r    (log-determinants)
    backward = 2 x forward   (the usual convention for matmul-dominated work)
    total    = 3 x forward
A matmul of two n x n matrices counts 2 n^3 flops.

Run: .venv/bin/python bench/bench_mixture.py [--quick] [--threads N] [--out PATH]
Writes bench/results/bench_mixture.json.
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

import torch
from timing import machine_info, print_machine, table, time_call, time_interleaved, write_results
from torch.distributions import Categorical, MixtureSameFamily, MultivariateNormal

from frmdn.models.mixture import LowRankPrecisionGMM

FULL = {
    "batch": 256,
    "components": 10,
    "dim": 128,
    "rank": 8,
    "ranks": [0, 1, 2, 4, 8, 16],
    "matmul_n": 1024,
    "repeats": 30,
    "warmup": 5,
    "reference_repeats": 3,
}
QUICK = {
    "batch": 16,
    "components": 3,
    "dim": 16,
    "rank": 4,
    "ranks": [0, 1, 4],
    "matmul_n": 256,
    "repeats": 3,
    "warmup": 1,
    "reference_repeats": 1,
}
TARGET_SPEEDUP = 50.0
TARGET_FLOP_PERCENT = 5.0


def useful_flops_per_pair(d: int, r: int) -> dict[str, float]:
    """Useful flops of one (batch, component) log-density, forward and forward + backward."""
    forward = 2 * d * r**2 + r**3 / 3 + 2 * d * r + 3 * d + (d + r)
    return {"forward": forward, "total": 3 * forward}


class Problem:
    """Random mixture parameters (leaf tensors) and targets, shared by every implementation."""

    def __init__(self, B: int, K: int, d: int, r: int, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.logits = torch.randn(B, K, generator=gen).requires_grad_()
        self.loc = torch.randn(B, K, d, generator=gen).requires_grad_()
        self.diag = (torch.rand(B, K, d, generator=gen) + 0.5).requires_grad_()
        factor_rd = 0.1 * torch.randn(B, K, r, d, generator=gen)
        # the same numbers in the two layouts
        self.factor_rd = factor_rd.clone().requires_grad_()  # model layout: use .mT
        self.factor_dr = factor_rd.mT.contiguous().requires_grad_()  # plain (B, K, d, r)
        self.z = torch.randn(B, d, generator=gen)

    def frmdn(self, layout: str) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Summed log_prob and its gradients with respect to all four parameters."""
        leaf = self.factor_rd if layout == "model" else self.factor_dr
        factor = leaf.mT if layout == "model" else leaf
        gmm = LowRankPrecisionGMM(self.logits, self.loc, self.diag, factor, validate_args=False)
        log_prob = gmm.log_prob(self.z)
        params = (self.logits, self.loc, self.diag, leaf)
        # r = 0 leaves the (empty) factor unused
        grads = torch.autograd.grad(log_prob.sum(), params, materialize_grads=True)
        if layout == "model":
            grads = (*grads[:3], grads[3].mT)
        return log_prob.detach(), grads

    def reference(self) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """The same with torch.distributions and an explicit precision matrix."""
        factor = self.factor_dr
        precision = torch.diag_embed(self.diag) + factor @ factor.mT  # (B, K, d, d)
        mixture = MixtureSameFamily(
            Categorical(logits=self.logits, validate_args=False),
            MultivariateNormal(self.loc, precision_matrix=precision, validate_args=False),
            validate_args=False,
        )
        log_prob = mixture.log_prob(self.z)
        params = (self.logits, self.loc, self.diag, factor)
        return log_prob.detach(), torch.autograd.grad(log_prob.sum(), params)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def check_against_reference(problem: Problem) -> dict:
    """frmdn (both layouts) must match torch.distributions before anything is timed."""
    ref_value, ref_grads = problem.reference()
    out = {}
    for layout in ("model", "contiguous"):
        value, grads = problem.frmdn(layout)
        torch.testing.assert_close(value, ref_value, rtol=1e-3, atol=1e-3)
        errors = [relative_error(g, r) for g, r in zip(grads, ref_grads, strict=True)]
        if max(errors) > 1e-3:
            raise AssertionError(f"{layout} gradients differ from the reference: {errors}")
        out[layout] = {
            "log_prob_max_rel_error": ((value - ref_value).abs() / ref_value.abs()).max().item(),
            "grad_rel_errors": dict(zip(("logits", "loc", "diag", "factor"), errors, strict=True)),
        }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's own)")
    parser.add_argument("--out", help="JSON path (default: bench/results/bench_mixture.json)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = QUICK if args.quick else FULL
    B, K, d, r = cfg["batch"], cfg["components"], cfg["dim"], cfg["rank"]
    reps, warm = cfg["repeats"], cfg["warmup"]
    torch.manual_seed(0)
    info = machine_info()
    print_machine(info)
    results: dict = {"machine": info, "config": {**cfg, "quick": args.quick}}

    # 1. against torch.distributions --------------------------------------------------------
    print(f"\n1. log_prob forward+backward, B={B}, K={K}, d={d}, r={r} (float32)")
    problem = Problem(B, K, d, r)
    check = check_against_reference(problem)  # also the reference's warm-up call
    print(
        "   agreement with torch.distributions: log_prob max rel. error "
        f"{max(c['log_prob_max_rel_error'] for c in check.values()):.1e}, gradients max rel. "
        f"error {max(max(c['grad_rel_errors'].values()) for c in check.values()):.1e}"
    )
    ref = time_call(problem.reference, cfg["reference_repeats"], warmup=0)
    ours = time_interleaved(
        {lay: partial(problem.frmdn, lay) for lay in ("model", "contiguous")},
        reps,
        warm,
    )
    ref_s = ref["median_s"]
    speedups = {layout: ref_s / t["median_s"] for layout, t in ours.items()}
    rows = [["torch.distributions MultivariateNormal", f"{1e3 * ref_s:.1f}", "1.0"]]
    for layout, t in ours.items():
        name = f"frmdn LowRankPrecisionGMM ({layout} layout)"
        rows.append([name, f"{1e3 * t['median_s']:.2f}", f"{speedups[layout]:.0f}"])
    print(table(["implementation", "ms (median)", "speed-up"], rows))
    results["log_prob_vs_reference"] = {
        "shape": {"batch": B, "components": K, "dim": d, "rank": r},
        "check": check,
        "reference": ref,
        "frmdn": ours,
        "speedup": speedups,
        "target_speedup": TARGET_SPEEDUP,
        "target_met": min(speedups.values()) >= TARGET_SPEEDUP,
    }

    # 2. useful flop rate against a large matmul --------------------------------------------
    n = cfg["matmul_n"]
    print(f"\n2. useful flop rate vs a {n}x{n} @ {n}x{n} float32 matmul")
    a, b = torch.randn(n, n), torch.randn(n, n)
    diagonal = Problem(B, K, d, 0)
    # each timed in its own block (steady state): interleaved with the matmul, whose 12 MB
    # working set evicts the caches, the log-density ran ~1.5x slower on this machine
    work = {
        "matmul": lambda: a @ b,
        f"frmdn_r{r}": partial(problem.frmdn, "model"),
        "frmdn_r0": partial(diagonal.frmdn, "model"),
    }
    rates = {name: time_call(fn, reps, warm) for name, fn in work.items()}
    flops = {
        "matmul": 2.0 * n**3,
        f"frmdn_r{r}": B * K * useful_flops_per_pair(d, r)["total"],
        "frmdn_r0": B * K * useful_flops_per_pair(d, 0)["total"],
    }
    gflops = {name: flops[name] / rates[name]["median_s"] / 1e9 for name in rates}
    percent = {name: 100 * gflops[name] / gflops["matmul"] for name in rates}
    rows = [
        [
            name,
            f"{1e3 * rates[name]['median_s']:.2f}",
            f"{flops[name] / 1e6:.1f}",
            f"{gflops[name]:.1f}",
            f"{percent[name]:.1f}",
        ]
        for name in rates
    ]
    print(table(["work", "ms (median)", "useful MFLOP", "GFLOP/s", "% of matmul"], rows))
    results["flop_rate"] = {
        "definition": (
            "per (batch, component) pair: forward = 2*d*r^2 + r^3/3 + 2*d*r + 3*d + (d + r); "
            "backward = 2 * forward; matmul = 2*n^3"
        ),
        "times": rates,
        "flops": flops,
        "gflops_per_s": gflops,
        "percent_of_matmul": percent,
        "target_percent": TARGET_FLOP_PERCENT,
        "target_met": percent[f"frmdn_r{r}"] >= TARGET_FLOP_PERCENT,
    }

    # 3. time over ranks --------------------------------------------------------------------
    print(f"\n3. frmdn forward+backward over ranks, B={B}, K={K}, d={d}")
    rank_rows = []
    rank_results = {}
    for rank in cfg["ranks"]:
        prob = Problem(B, K, d, rank)
        t = time_interleaved(
            {lay: partial(prob.frmdn, lay) for lay in ("model", "contiguous")},
            reps,
            warm,
        )
        rank_results[str(rank)] = {lay: v["median_s"] for lay, v in t.items()}
        rank_rows.append(
            [
                rank,
                f"{1e3 * t['model']['median_s']:.2f}",
                f"{1e3 * t['contiguous']['median_s']:.2f}",
            ]
        )
    print(table(["r", "model layout ms", "contiguous layout ms"], rank_rows))
    results["rank_table"] = rank_results

    results["targets"] = {
        "speedup_ge_50x": results["log_prob_vs_reference"]["target_met"],
        "flop_rate_ge_5_percent": results["flop_rate"]["target_met"],
    }
    write_results("bench_mixture", results, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

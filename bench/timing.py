"""Tiny timing helpers shared by the benchmark scripts (warm-up, then median of repeats)."""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

RESULTS_DIR = Path(__file__).resolve().parent / "results"


def time_call(fn: Callable[[], object], repeats: int, warmup: int = 1) -> dict:
    """Seconds per call of ``fn``: ``warmup`` untimed calls, then the median of ``repeats``."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return summarize(times)


def time_interleaved(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int = 1
) -> dict[str, dict]:
    """Like :func:`time_call` for several functions, run in turn (a, b, a, b, ...).

    Interleaving spreads any change in machine load evenly over the functions compared, so
    their ratio stays meaningful on a shared machine.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: summarize(values) for name, values in times.items()}


def summarize(times: list[float]) -> dict:
    """Median, min and max of a list of seconds."""
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "repeats": len(times),
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def load_average() -> list[float] | None:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return None


def machine_info() -> dict:
    """What the numbers depend on: torch build, threads, CPU and current load."""
    return {
        "torch": torch.__version__,
        "python": platform.python_version(),
        "threads": torch.get_num_threads(),
        "interop_threads": torch.get_num_interop_threads(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "platform": platform.platform(),
        "load_average_start": load_average(),
        # allocator and threading settings change these timings (see bench/README.md)
        "env": {
            k: v
            for k, v in os.environ.items()
            if k.startswith(("MALLOC_", "OMP_", "MKL_")) or k == "LD_PRELOAD"
        },
    }


def print_machine(info: dict) -> None:
    print(
        f"torch {info['torch']} | {info['threads']} threads | {info['cpu_count']} CPUs | "
        f"{info['cpu_model']} | load {info['load_average_start']}"
        + (f" | env {info['env']}" if info["env"] else "")
    )


def write_results(name: str, results: dict, path: str | Path | None = None) -> Path:
    """Write ``results`` (with the load average at the end added) to ``path``.

    The default path is bench/results/<name>.json.
    """
    results["machine"]["load_average_end"] = load_average()
    path = Path(path) if path else RESULTS_DIR / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(f"\nwrote {path}")
    return path


def table(headers: list[str], rows: list[list[object]]) -> str:
    """A plain right-aligned text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)

"""Throughput of the signal toolkit: POS and CHROM frames per second and detrend time.

Run ``python benchmarks/bench_signals.py [--repeats N] [--dense]``; prints one line per
method and length (1,800 and 3,600 frames, i.e. 60 s and 120 s at 30 fps), best of N runs.
``--dense`` adds the dense-inverse detrend formula the usual toolboxes use, for comparison.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from pipeline.signals.chrom import chrom  # noqa: E402
from pipeline.signals.detrend import detrend  # noqa: E402
from pipeline.signals.pos import pos  # noqa: E402

FPS = 30.0
LENGTHS = (1800, 3600)


def _trace(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(n) / FPS
    pulse = 0.004 * np.sin(2 * np.pi * 1.2 * t)
    return np.array([180.0, 120.0, 95.0]) * (1 + pulse[:, None]) + rng.normal(0, 0.3, (n, 3))


def _best_time(fn: Callable[[], object], repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def _dense_detrend(x: np.ndarray, lam: float) -> np.ndarray:
    n = x.size
    d = np.diff(np.eye(n), 2, axis=0)
    return x - np.linalg.inv(np.eye(n) + lam**2 * d.T @ d) @ x


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--dense", action="store_true", help="also time the dense-inverse detrend")
    args = parser.parse_args(argv)
    print(f"{'task':<10}{'frames':>8}{'time (ms)':>12}{'frames/s':>14}")
    for n in LENGTHS:
        rgb = _trace(n)
        signal = rgb[:, 1].copy()
        tasks = [
            ("pos", lambda: pos(rgb, FPS), args.repeats),
            ("chrom", lambda: chrom(rgb, FPS), args.repeats),
            ("detrend", lambda: detrend(signal, 100.0), args.repeats),
        ]
        if args.dense:
            tasks.append(("dense", lambda: _dense_detrend(signal, 100.0), 1))
        for name, fn, repeats in tasks:
            seconds = _best_time(fn, repeats)
            print(f"{name:<10}{n:>8}{seconds * 1e3:>12.3f}{n / seconds:>14,.0f}")


if __name__ == "__main__":
    main()

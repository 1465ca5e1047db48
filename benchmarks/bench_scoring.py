"""Scoring precision benchmark: one trained run and fold scored in fp32 and under bf16 autocast
(``evaluate.amp``), with the wall time of each and every metric that differs between them.

    .venv/bin/python benchmarks/bench_scoring.py --run table1/bigsmall --fold fold1 \
        [--root .] [--dataset bp4d] [--threads 2]

``--root`` is a reproduction that has trained the run (its params.yaml, results/runs/<run>/<fold>/
model, data/cache/<dataset>/<key> and data/interim/<dataset>/splits.json). The scoring is the
evaluate stage's own (``pipeline.evaluate.run.evaluate_fold``), written to a scratch folder.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.evaluate.run import evaluate_fold  # noqa: E402


def differences(a: object, b: object, path: str = "") -> list[tuple[str, float, float]]:
    """(key path, fp32 value, bf16 value) of every number that differs between two metrics."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in a if k != "provenance" and k in b for d in differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and a != b:
        return [(path.lstrip("."), float(a), float(b))]
    return []


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", required=True, help="<experiment>/<run>, e.g. table1/bigsmall")
    ap.add_argument("--fold", default="fold1")
    ap.add_argument("--root", type=Path, default=ROOT, help="the reproduction that trained the run")
    ap.add_argument("--dataset", default="bp4d")
    ap.add_argument("--tasks", nargs="+", default=["au", "pulse", "resp"])
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params = yaml.safe_load((args.root / "params.yaml").read_text())
    model = args.root / "results" / "runs" / args.run / args.fold / "model"
    checkpoints = {group.name: group / "checkpoint.pt" for group in sorted(model.iterdir()) if group.is_dir()}
    cache = args.root / "data" / "cache" / args.dataset  # the one key folder inside is found
    splits = args.root / "data" / "interim" / args.dataset / "splits.json"
    metrics = {}
    with tempfile.TemporaryDirectory() as scratch:
        for amp in ("fp32", "bf16"):
            start = time.perf_counter()
            metrics[amp] = evaluate_fold(
                checkpoints=checkpoints, cache_root=cache, splits_path=splits, fold=args.fold, tasks=args.tasks,
                signals=params["signals"], settings={**params["evaluate"], "amp": amp},
                out_dir=Path(scratch) / amp, device="cpu", progress=False)
            seconds = time.perf_counter() - start
            print(f"{amp}: {seconds:.1f} s for {metrics[amp]['n_frames']} predicted frames "
                  f"({metrics[amp]['n_frames'] / seconds:.0f} frames/s, {args.threads} threads)")
    diffs = differences(metrics["fp32"], metrics["bf16"])
    print(f"\n{len(diffs)} metrics differ between fp32 and bf16" + (":" if diffs else ""))
    for key, a, b in diffs:
        print(f"  {key}: {a:.4f} -> {b:.4f}")


if __name__ == "__main__":
    main()

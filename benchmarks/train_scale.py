"""Train and score one model variant on one fold of an existing cache at given training
settings, and print the learned metrics beside the trivial baselines and the wall time.

Used to choose the default training scale by measurement (README, "Scales"): the smallest
settings at which every Table 1 model clears its trivial baseline.

    .venv/bin/python benchmarks/train_scale.py --cache data/cache/bp4d \
        --splits data/interim/bp4d/splits.json --variant bigsmall --fold fold1 \
        --set epochs=2 batch_chunks=16 max_chunks=1200 precision=bf16

``--curve 1 2 4 6`` gives the learning curve of one run instead: it trains to each epoch count
in turn, resuming the same run (``epochs`` does not change the weights of the epochs before it,
so the model after epoch k is the model a k-epoch run ends with), and scores each; one JSON
line per epoch count, with the training time so far.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.config import load_params  # noqa: E402
from pipeline.evaluate.run import evaluate_fold  # noqa: E402
from pipeline.experiments.runs import fold_trials  # noqa: E402
from pipeline.models.registry import variant_info  # noqa: E402
from pipeline.train.loop import train_model  # noqa: E402


def _summary(args: argparse.Namespace, tasks: list[str], seed: int, settings: dict, summary: dict,
             metrics: dict) -> dict:
    """The learned metrics beside the trivial baselines, and the training scale."""
    base = metrics.get("baselines", {})
    out = {"variant": args.variant, "tasks": tasks, "fold": args.fold,
           "seed": seed, "settings": {k: settings[k] for k in (
        "epochs", "batch_chunks", "lr", "max_chunks", "precision")},
           "steps": summary.get("steps"), "frames_per_s": summary.get("frames_per_s"),
           "final_losses": summary.get("final_losses")}
    if "au" in tasks:
        out["au_f1"] = metrics["au"]["f1_mean"]
        out["au_f1_all_positive"] = base.get("au_all_positive", {}).get("f1_mean")
        out["au_acc"] = metrics["au"]["accuracy_mean"]
    if "pulse" in tasks:
        out["hr_mae"] = metrics["pulse"]["hr_mae"]
        out["hr_trials"] = [metrics["pulse"]["n_trials"], metrics["pulse"].get("n_excluded_trials", 0)]
        out["hr_mae_train_mean"] = base.get("hr_train_mean", {}).get("hr_mae")
    if "resp" in tasks:
        out["rr_mae"] = metrics["resp"]["rr_mae"]
        out["rr_trials"] = [metrics["resp"]["n_trials"], metrics["resp"].get("n_excluded_trials", 0)]
        out["rr_mae_train_mean"] = base.get("rr_train_mean", {}).get("rr_mae")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--splits", type=Path, required=True)
    ap.add_argument("--variant", default="bigsmall")
    ap.add_argument("--tasks", nargs="*", default=None, help="default: the variant's tasks")
    ap.add_argument("--fold", default="fold1")
    ap.add_argument("--params", type=Path, default=ROOT / "params.yaml")
    ap.add_argument("--set", nargs="*", default=[], help="train settings over params.yaml, key=value (YAML)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the run folder here")
    ap.add_argument("--seed", type=int, default=None, help="default: params.yaml's seed")
    ap.add_argument("--curve", type=int, nargs="*", default=None,
                    help="epoch counts to score one run at (overrides the epochs setting)")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch CPU threads (the pipeline's jobs use 1; default: torch's)")
    args = ap.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    params = load_params(args.params)
    seed = int(params["seed"] if args.seed is None else args.seed)
    settings = {**params["train"], **{k: yaml.safe_load(v) for k, v in (s.split("=", 1) for s in args.set)}}
    settings["pulse_label"] = settings["pulse_label"].get("bp4d", settings["pulse_label"]["default"]) \
        if isinstance(settings["pulse_label"], dict) else settings["pulse_label"]
    tasks = args.tasks or list(variant_info(args.variant).tasks)
    work = Path(tempfile.mkdtemp(prefix="train_scale_")) if args.keep is None else args.keep
    trials = fold_trials(args.cache, args.splits, args.fold, "train")
    epoch_counts = sorted(set(args.curve)) if args.curve else [int(settings["epochs"])]
    if epoch_counts[0] < 1:
        raise SystemExit(f"--curve: epoch counts must be >= 1, got {epoch_counts}")
    t_train = 0.0
    for epochs in epoch_counts:
        settings["epochs"] = epochs
        t0 = time.perf_counter()
        summary = train_model(variant=args.variant, tasks=tasks, cache_root=args.cache, train_trials=trials,
                              settings=settings, seed=seed, out_dir=work / "model" / "all",
                              progress=False)
        t_train += time.perf_counter() - t0
        t0 = time.perf_counter()
        metrics = evaluate_fold(checkpoints={"all": work / "model" / "all" / "checkpoint.pt"},
                                cache_root=args.cache, splits_path=args.splits, fold=args.fold, tasks=tasks,
                                signals=params["signals"], settings=params["evaluate"],
                                out_dir=work / f"eval_epoch{epochs}", progress=False)
        t_score = time.perf_counter() - t0
        out = _summary(args, tasks, seed, settings, summary, metrics)
        out.update(train_s=round(t_train, 1), score_s=round(t_score, 1))
        print(json.dumps(out, default=str) if args.curve else json.dumps(out, indent=1, default=str),
              flush=True)
    if args.keep is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()

"""How much of each training target a cache makes visible, measured with linear read-outs that
need no CNN training: the ceiling a learned model is up against on one fold, and what separates
"the data do not show it" from "the model did not learn it".

- AU: a logistic read-out of the Big frames (first frame of each AU-coded chunk, area-pooled to
  ``--pool-size`` pixels a side), trained with the pipeline's weighted BCE (pos_weight =
  negatives / positives of the training fold) for ``--probe-samples`` frame presentations, then
  the test subjects' mean F1 at threshold 0.5 beside the all-positive predictor's.
- Pulse and breathing: ridge regressions from one Small difference frame (all pixels and
  channels) to the training label of that frame (``pos_ppg`` on BP4D+, as training uses), fitted
  on the training subjects; Pearson r on the training and the test subjects. A Small branch sees
  three such frames, so r is a rough, not a strict, ceiling.

    .venv/bin/python benchmarks/learnability.py --cache data/cache/bp4d \
        --splits data/interim/bp4d/splits.json --fold fold1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.cache.reader import open_cache  # noqa: E402
from pipeline.experiments.runs import fold_trials  # noqa: E402
from pipeline.metrics.au import au_f1  # noqa: E402
from pipeline.train.data import coded_chunks  # noqa: E402
from pipeline.train.loss import au_pos_weight  # noqa: E402


def au_frames(cache: Path, trials: list[str], pool: int, chunk_length: int) -> tuple[torch.Tensor, np.ndarray]:
    """Standardised, area-pooled Big frames (n, 3, pool, pool) of the AU-coded chunks' first
    frames, and their AU codes (n, K)."""
    index = open_cache(cache)
    xs, ys = [], []
    for tid in trials:
        with index.open(tid) as trial:
            if "au" not in trial.labels:
                continue
            keep = coded_chunks(trial.frame_index, trial.attrs["au_range"], chunk_length)
            frames = np.flatnonzero(keep) * chunk_length
            if frames.size == 0:
                continue
            big = torch.from_numpy(trial.big()[frames]).permute(0, 3, 1, 2)
            xs.append(F.adaptive_avg_pool2d(big, pool))
            ys.append(np.asarray(trial.labels["au"])[frames])
    if not xs:
        raise SystemExit(f"{cache}: no AU-coded frames in these trials")
    return torch.cat(xs), np.concatenate(ys)


def au_probe(cache: Path, train: list[str], test: list[str], pool: int, samples: int, seed: int,
             chunk_length: int) -> dict:
    x_tr, codes_tr = au_frames(cache, train, pool, chunk_length)
    x_te, codes_te = au_frames(cache, test, pool, chunk_length)
    y_tr = torch.from_numpy((codes_tr == 1).astype(np.float32))
    y_te = (codes_te == 1).astype(np.int64)
    pos_weight = torch.from_numpy(au_pos_weight(codes_tr).astype(np.float32))
    torch.manual_seed(seed)
    probe = torch.nn.Linear(x_tr[0].numel(), y_tr.shape[1])
    opt = torch.optim.Adam(probe.parameters(), lr=3e-3)
    flat_tr, flat_te = x_tr.flatten(1), x_te.flatten(1)
    batch = 256
    g = torch.Generator().manual_seed(seed)
    for _ in range(max(1, samples // batch)):
        i = torch.randint(0, len(flat_tr), (batch,), generator=g)
        loss = F.binary_cross_entropy_with_logits(probe(flat_tr[i]), y_tr[i], pos_weight=pos_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        pred_tr = (probe(flat_tr) > 0).numpy().astype(np.int64)
        pred_te = (probe(flat_te) > 0).numpy().astype(np.int64)
    return {"train_frames": len(flat_tr), "test_frames": len(flat_te), "presentations": samples,
            "pool_size": pool,
            "f1_train": float(np.mean(au_f1(pred_tr, y_tr.numpy().astype(np.int64)))),
            "f1_test": float(np.mean(au_f1(pred_te, y_te))),
            "f1_test_all_positive": float(np.mean(au_f1(np.ones_like(y_te), y_te)))}


def small_rows(cache: Path, trials: list[str], label: str) -> tuple[np.ndarray, np.ndarray]:
    index = open_cache(cache)
    xs, ys = [], []
    for tid in trials:
        with index.open(tid) as trial:
            if label not in trial.labels:
                continue
            small = trial.small()
            y = np.asarray(trial.labels[label], dtype=np.float64)
            n = min(len(small), len(y))
            ok = np.isfinite(y[:n])
            xs.append(small[:n].reshape(n, -1)[ok])
            ys.append(y[:n][ok])
    if not xs:
        raise SystemExit(f"{cache}: no {label!r} label in these trials")
    return np.concatenate(xs).astype(np.float64), np.concatenate(ys)


def ridge_probe(cache: Path, train: list[str], test: list[str], label: str, lam: float) -> dict:
    a, b = small_rows(cache, train, label)
    c, d = small_rows(cache, test, label)
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ b)
    return {"label": label, "ridge_lambda": lam, "train_frames": len(b), "test_frames": len(d),
            "r_train": float(np.corrcoef(a @ w, b)[0, 1]), "r_test": float(np.corrcoef(c @ w, d)[0, 1])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--splits", type=Path, required=True)
    ap.add_argument("--fold", default="fold1")
    ap.add_argument("--pulse-label", default="pos_ppg", help="pos_ppg (BP4D+ training target) or pulse")
    ap.add_argument("--pool-size", type=int, default=36)
    ap.add_argument("--probe-samples", type=int, default=768_000, help="frame presentations of the AU probe")
    ap.add_argument("--ridge-lambda", type=float, default=10.0)
    ap.add_argument("--chunk-length", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    train = fold_trials(args.cache, args.splits, args.fold, "train")
    test = fold_trials(args.cache, args.splits, args.fold, "test")
    out: dict = {"cache": str(args.cache), "fold": args.fold, "train_trials": len(train), "test_trials": len(test)}
    t0 = time.perf_counter()
    out["au_linear_probe"] = au_probe(args.cache, train, test, args.pool_size, args.probe_samples, args.seed,
                                      args.chunk_length)
    out["pulse_ridge"] = ridge_probe(args.cache, train, test, args.pulse_label, args.ridge_lambda)
    out["resp_ridge"] = ridge_probe(args.cache, train, test, "resp", args.ridge_lambda)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

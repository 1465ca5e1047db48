"""How much of each training target a cache makes visible, measured with linear read-outs that
need no CNN training: the ceiling a learned model is up against on one fold, and what separates
"the data do not show it" from "the model did not learn it".

- AU: a logistic read-out of the Big frames (first frame of each AU-coded chunk, area-pooled to
  ``--pool-size`` pixels a side), trained with the pipeline's weighted BCE (pos_weight =
  negatives / positives of the training fold) for ``--probe-samples`` frame presentations, then
  the test subjects' mean F1 at threshold 0.5 beside the all-positive predictor's.
- AU, with ``--cnn VARIANT``: the same frames at full size through a registered Big-only variant
  (``big_branch``, ``big_branch_aligned_bn``, ``drml``, ...), trained in memory with AdamW and the
  same loss on batches of ``--cnn-batch`` frames drawn at random; the test F1 every
  ``--cnn-eval-every`` updates (on every third test chunk) shows when, if ever, it leaves the
  trivial loss. Free of the HDF5 loader and of the three frames per chunk, it measures how many
  updates a CNN needs on these data, not the pipeline's speed.
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
from pipeline.models.registry import build_model, variant_info  # noqa: E402
from pipeline.train.data import coded_chunks  # noqa: E402
from pipeline.train.loss import au_pos_weight  # noqa: E402


def au_frames(cache: Path, trials: list[str], pool: int, chunk_length: int, every: int = 1
              ) -> tuple[torch.Tensor, np.ndarray]:
    """Standardised Big frames (n, 3, pool, pool), area-pooled unless ``pool`` is 0, of the
    AU-coded chunks' first frames (of every ``every``-th chunk), and their AU codes (n, K)."""
    index = open_cache(cache)
    xs, ys = [], []
    for tid in trials:
        with index.open(tid) as trial:
            if "au" not in trial.labels:
                continue
            keep = coded_chunks(trial.frame_index, trial.attrs["au_range"], chunk_length)
            frames = np.flatnonzero(keep)[::every] * chunk_length
            if frames.size == 0:
                continue
            big = torch.from_numpy(trial.big()[frames]).permute(0, 3, 1, 2)
            xs.append(F.adaptive_avg_pool2d(big, pool) if pool else big.contiguous())
            ys.append(np.asarray(trial.labels["au"])[frames])
    if not xs:
        raise SystemExit(f"{cache}: no AU-coded frames in these trials")
    return torch.cat(xs), np.concatenate(ys)


def au_targets(codes_tr: np.ndarray, codes_te: np.ndarray) -> tuple[torch.Tensor, np.ndarray, torch.Tensor]:
    """Training targets (float, 1 = active), test truth (int) and the training fold's per-AU
    pos_weight, as the pipeline's AU loss uses them."""
    return (torch.from_numpy((codes_tr == 1).astype(np.float32)), (codes_te == 1).astype(np.int64),
            torch.from_numpy(au_pos_weight(codes_tr).astype(np.float32)))


def au_probe(cache: Path, train: list[str], test: list[str], pool: int, samples: int, seed: int,
             chunk_length: int) -> dict:
    x_tr, codes_tr = au_frames(cache, train, pool, chunk_length)
    x_te, codes_te = au_frames(cache, test, pool, chunk_length)
    y_tr, y_te, pos_weight = au_targets(codes_tr, codes_te)
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


def au_cnn(cache: Path, train: list[str], test: list[str], variant: str, updates: int, batch: int, lr: float,
           eval_every: int, precision: str, seed: int, chunk_length: int) -> dict:
    if variant_info(variant).inputs != ("big",):
        raise SystemExit(f"--cnn {variant}: needs a Big-only variant")
    x_tr, codes_tr = au_frames(cache, train, 0, chunk_length)
    x_te, codes_te = au_frames(cache, test, 0, chunk_length, every=3)
    y_tr, y_te, pos_weight = au_targets(codes_tr, codes_te)
    torch.manual_seed(seed)
    model = build_model(variant, n_frames=1)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    autocast = dict(device_type="cpu", dtype=torch.bfloat16, enabled=precision == "bf16")
    g = torch.Generator().manual_seed(seed)
    curve, losses, t0 = [], [], time.perf_counter()
    for step in range(1, updates + 1):
        i = torch.randint(0, len(x_tr), (batch,), generator=g)
        with torch.autocast(**autocast):
            logits = model(x_tr[i], None)["au"]
        loss = F.binary_cross_entropy_with_logits(logits.float(), y_tr[i], pos_weight=pos_weight)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
        if step % eval_every == 0 or step == updates:
            model.eval()
            with torch.no_grad(), torch.autocast(**autocast):
                logits = torch.cat([model(x_te[k:k + 128], None)["au"].float() for k in range(0, len(x_te), 128)])
            model.train()
            pred = (logits > 0).numpy().astype(np.int64)
            curve.append({"updates": step, "seconds": round(time.perf_counter() - t0, 1),
                          "train_loss": round(float(np.mean(losses[-eval_every:])), 3),
                          "f1_test": round(float(np.mean(au_f1(pred, y_te))), 1)})
            print(json.dumps(curve[-1]), file=sys.stderr, flush=True)
    return {"variant": variant, "batch": batch, "lr": lr, "precision": precision, "train_frames": len(x_tr),
            "test_frames": len(x_te), "curve": curve,
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
    ap.add_argument("--cnn", default=None, help="also train this Big-only variant (AU CNN read-out)")
    ap.add_argument("--cnn-updates", type=int, default=1000)
    ap.add_argument("--cnn-batch", type=int, default=16)
    ap.add_argument("--cnn-lr", type=float, default=3e-4)
    ap.add_argument("--cnn-eval-every", type=int, default=100)
    ap.add_argument("--cnn-precision", choices=["fp32", "bf16"], default="bf16")
    ap.add_argument("--only-cnn", action="store_true", help="skip the linear read-outs")
    args = ap.parse_args()
    train = fold_trials(args.cache, args.splits, args.fold, "train")
    test = fold_trials(args.cache, args.splits, args.fold, "test")
    out: dict = {"cache": str(args.cache), "fold": args.fold, "train_trials": len(train), "test_trials": len(test)}
    t0 = time.perf_counter()
    if not args.only_cnn:
        out["au_linear_probe"] = au_probe(args.cache, train, test, args.pool_size, args.probe_samples, args.seed,
                                          args.chunk_length)
        out["pulse_ridge"] = ridge_probe(args.cache, train, test, args.pulse_label, args.ridge_lambda)
        out["resp_ridge"] = ridge_probe(args.cache, train, test, "resp", args.ridge_lambda)
    if args.cnn:
        out["au_cnn"] = au_cnn(args.cache, train, test, args.cnn, args.cnn_updates, args.cnn_batch, args.cnn_lr,
                               args.cnn_eval_every, args.cnn_precision, args.seed, args.chunk_length)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()

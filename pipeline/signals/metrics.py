"""Evaluation metrics: rate errors over trials (supp. E.3) and AU F1 / accuracy (supp. E.4).

Degenerate inputs, explicitly:

- empty inputs, shapes that differ, or non-finite values raise ValueError (a NaN rate
  means the estimator failed; the caller decides whether to exclude the trial);
- MAPE is NaN when any ground-truth rate is 0 (the ratio is undefined);
- Pearson r is NaN with fewer than 2 trials or when either vector is constant;
- AU F1 is ``zero_division`` (default 0.0, the scikit-learn default the authors relied on)
  when an AU has neither positive labels nor positive predictions (2TP + FP + FN = 0);
- AU inputs must be binary (0/1); logits are binarised with :func:`binarise_logits`.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.special import expit


def _pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    p, g = np.asarray(pred, dtype=float).ravel(), np.asarray(gt, dtype=float).ravel()
    if p.size == 0:
        raise ValueError("metrics: no values")
    if np.shape(pred) != np.shape(gt):
        raise ValueError(f"metrics: prediction shape {np.shape(pred)} != ground-truth shape {np.shape(gt)}")
    if not (np.all(np.isfinite(p)) and np.all(np.isfinite(g))):
        raise ValueError("metrics: non-finite values")
    return p, g


def mae(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute error."""
    p, g = _pair(pred, gt)
    return float(np.mean(np.abs(g - p)))


def rmse(pred: np.ndarray, gt: np.ndarray) -> float:
    """Root mean square error."""
    p, g = _pair(pred, gt)
    return float(np.sqrt(np.mean((g - p) ** 2)))


def mape(pred: np.ndarray, gt: np.ndarray) -> float:
    """Mean absolute percentage error, in percent; NaN if any ground truth is 0."""
    p, g = _pair(pred, gt)
    if np.any(g == 0):
        return float("nan")
    return float(100.0 * np.mean(np.abs((g - p) / g)))


def pearson(pred: np.ndarray, gt: np.ndarray) -> float:
    """Pearson correlation; NaN with fewer than 2 values or a constant vector."""
    p, g = _pair(pred, gt)
    dp, dg = p - p.mean(), g - g.mean()
    denom = np.sqrt(np.sum(dp * dp) * np.sum(dg * dg))
    if p.size < 2 or not denom > 0:
        return float("nan")
    return float(np.clip(np.sum(dp * dg) / denom, -1.0, 1.0))


def rate_metrics(pred: np.ndarray, gt: np.ndarray) -> dict[str, float]:
    """MAE, RMSE, MAPE (%), Pearson r and the number of trials ``n``."""
    p, g = _pair(pred, gt)
    return {"mae": mae(p, g), "rmse": rmse(p, g), "mape": mape(p, g), "pearson": pearson(p, g), "n": int(p.size)}


def sigmoid(logits: np.ndarray) -> np.ndarray:
    """Numerically stable logistic function."""
    return expit(np.asarray(logits, dtype=float))


def binarise_logits(logits: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Active (1) where ``sigmoid(logits) >= threshold`` (supp. E.2), else 0; int array."""
    return (sigmoid(logits) >= threshold).astype(np.int64)


def _binary_2d(x: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(x)
    arr = arr[:, None] if arr.ndim == 1 else arr
    if arr.ndim != 2 or arr.shape[0] == 0:
        raise ValueError(f"{name}: expected (frames, AUs) with at least one frame, got shape {np.shape(x)}")
    if not np.all((arr == 0) | (arr == 1)):
        raise ValueError(f"{name}: values must be 0 or 1")
    return arr.astype(bool)


def _counts(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, ...]:
    p, g = _binary_2d(pred, "AU predictions"), _binary_2d(gt, "AU labels")
    if p.shape != g.shape:
        raise ValueError(f"AU predictions shape {p.shape} != labels shape {g.shape}")
    tp = np.sum(p & g, axis=0)
    fp = np.sum(p & ~g, axis=0)
    fn = np.sum(~p & g, axis=0)
    tn = np.sum(~p & ~g, axis=0)
    return tp, fp, fn, tn


def au_f1(pred: np.ndarray, gt: np.ndarray, zero_division: float = 0.0) -> np.ndarray:
    """Per-AU F1 of the positive class x100: ``100 * 2TP / (2TP + FP + FN)``, one per column."""
    tp, fp, fn, _ = _counts(pred, gt)
    denom = 2 * tp + fp + fn
    safe = np.where(denom > 0, denom, 1)
    return np.where(denom > 0, 100.0 * 2 * tp / safe, float(zero_division))


def au_accuracy(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-AU accuracy in percent, one per column."""
    tp, fp, fn, tn = _counts(pred, gt)
    return 100.0 * (tp + tn) / (tp + tn + fp + fn)


def au_metrics(
    pred: np.ndarray, gt: np.ndarray, names: Sequence[str] | None = None, zero_division: float = 0.0
) -> dict:
    """Frame-level AU metrics over all frames: per-AU F1 and accuracy, and their means.

    ``pred`` and ``gt`` are binary (frames, AUs); ``names`` labels the columns (default
    ``AU0``, ``AU1``, ...). Returns ``{"f1": {name: v}, "accuracy": {name: v}, "f1_mean": v,
    "accuracy_mean": v, "positives": {name: count}, "n_frames": n}``.
    """
    f1 = au_f1(pred, gt, zero_division)
    acc = au_accuracy(pred, gt)
    g = _binary_2d(gt, "AU labels")
    names = [f"AU{i}" for i in range(f1.size)] if names is None else list(names)
    if len(names) != f1.size:
        raise ValueError(f"{len(names)} AU names for {f1.size} columns")
    return {
        "f1": dict(zip(names, map(float, f1))),
        "accuracy": dict(zip(names, map(float, acc))),
        "f1_mean": float(np.mean(f1)),
        "accuracy_mean": float(np.mean(acc)),
        "positives": dict(zip(names, map(int, g.sum(axis=0)))),
        "n_frames": int(g.shape[0]),
    }

"""AU occurrence metrics (supp. E.4): per-AU F1 and accuracy over frames.

AU inputs must be binary (0/1); logits are binarised with :func:`binarise_logits`. AU F1 is
``zero_division`` (default 0.0, the scikit-learn default the authors relied on) when an AU has
neither positive labels nor positive predictions (2TP + FP + FN = 0).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.special import expit


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


def f1_from_counts(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, zero_division: float = 0.0) -> np.ndarray:
    """F1 of the positive class x100 from counts: ``100 * 2TP / (2TP + FP + FN)``, elementwise."""
    tp, fp, fn = (np.asarray(c, dtype=float) for c in (tp, fp, fn))
    denom = 2 * tp + fp + fn
    safe = np.where(denom > 0, denom, 1)
    return np.where(denom > 0, 100.0 * 2 * tp / safe, float(zero_division))


def au_f1(pred: np.ndarray, gt: np.ndarray, zero_division: float = 0.0) -> np.ndarray:
    """Per-AU F1 of the positive class x100: ``100 * 2TP / (2TP + FP + FN)``, one per column."""
    tp, fp, fn, _ = _counts(pred, gt)
    return f1_from_counts(tp, fp, fn, zero_division)


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

"""Rate errors over trials (supp. E.3): MAE, RMSE, MAPE, Pearson r.

Degenerate inputs, explicitly: empty inputs, shapes that differ, or non-finite values raise
ValueError (a NaN rate means the estimator failed; the caller decides whether to exclude the
trial); MAPE is NaN when any ground-truth rate is 0 (the ratio is undefined); Pearson r is NaN
with fewer than 2 trials or when either vector is constant.
"""

from __future__ import annotations


import math

import numpy as np


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


def finite_or_none(x: float | None) -> float | None:
    """A float, or None for NaN, infinities and None (metrics files are strict JSON)."""
    if x is None:
        return None
    x = float(x)
    return x if math.isfinite(x) else None

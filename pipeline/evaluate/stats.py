"""Confidence intervals of the aggregated metrics.

- Rate metrics (HR and RR: MAE, RMSE, MAPE, Pearson) get a bootstrap interval that resamples
  test *subjects*, not trials: a subject's trials share a face, a skin type and a light, so they
  are not independent. Each subject is reduced to sums (count, sum |e|, sum e^2, sum of
  percentage errors, and the moments behind Pearson's r); a resample of subjects adds its sums,
  so every metric is exact for the resampled set. The resampling is scipy.stats.bootstrap
  (paired over the per-subject sums, percentile interval, seeded).
- Every other metric gets the t-interval of its per-fold values (scipy.stats.t), which needs at
  least two folds.

Paired comparisons of two models on the same trials or frames are in pipeline.evaluate.paired
(only the report uses them).
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd
from scipy import stats

RATE_METRICS = ("mae", "rmse", "mape", "pearson")
SUM_COLUMNS = ("n", "abs", "sq", "ape", "x", "y", "xx", "yy", "xy")
CONFIDENCE = 0.95
N_RESAMPLES = 2000


def fold_ci(values: Sequence[float], confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """t-interval of the mean of per-fold values; None with fewer than two finite values."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(float(x))], dtype=float)
    if v.size < 2:
        return None
    if np.all(v == v[0]):
        return float(v[0]), float(v[0])
    lo, hi = stats.t.interval(confidence, v.size - 1, loc=v.mean(), scale=stats.sem(v))
    return float(lo), float(hi)


def subject_sums(pred: np.ndarray, true: np.ndarray, subjects: Sequence[str]) -> pd.DataFrame:
    """Per subject (index): the sums every rate metric is computed from (``SUM_COLUMNS``)."""
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    err = pred - true
    frame = pd.DataFrame({"subject": list(map(str, subjects)), "n": 1.0, "abs": np.abs(err), "sq": err ** 2,
                          "ape": 100.0 * np.abs(err) / np.abs(true), "x": pred, "y": true,
                          "xx": pred ** 2, "yy": true ** 2, "xy": pred * true})
    return frame.groupby("subject", sort=True)[list(SUM_COLUMNS)].sum()


def metric_from_sums(metric: str, *sums: np.ndarray) -> float:
    """One rate metric from the column sums (in ``SUM_COLUMNS`` order) of a set of subjects."""
    n, a, sq, ape, x, y, xx, yy, xy = (float(np.sum(s)) for s in sums)
    if n == 0:
        return math.nan
    if metric == "mae":
        return a / n
    if metric == "rmse":
        return math.sqrt(sq / n)
    if metric == "mape":
        return ape / n
    if metric == "pearson":
        cov, vx, vy = xy - x * y / n, xx - x * x / n, yy - y * y / n
        return cov / math.sqrt(vx * vy) if vx > 0 and vy > 0 else math.nan
    raise ValueError(f"unknown rate metric {metric!r}; expected one of {RATE_METRICS}")


def subject_bootstrap_ci(sums: pd.DataFrame, metric: str, seed: int = 0, n_resamples: int = N_RESAMPLES,
                         confidence: float = CONFIDENCE) -> tuple[float, float] | None:
    """Percentile bootstrap interval of ``metric`` resampling the subjects (rows) of ``sums``;
    None with fewer than two subjects or when the metric is undefined on the data."""
    if len(sums) < 2 or not math.isfinite(metric_from_sums(metric, *(sums[c].to_numpy() for c in SUM_COLUMNS))):
        return None
    res = stats.bootstrap(tuple(sums[c].to_numpy() for c in SUM_COLUMNS),
                          lambda *s: metric_from_sums(metric, *s), paired=True, vectorized=False,
                          n_resamples=n_resamples, confidence_level=confidence, method="percentile",
                          random_state=np.random.default_rng(seed))
    lo, hi = float(res.confidence_interval.low), float(res.confidence_interval.high)
    return (lo, hi) if math.isfinite(lo) and math.isfinite(hi) else None


def rate_cis(predictions: pd.DataFrame, prefix: str, seed: int = 0) -> dict[str, list[float] | None]:
    """``{'<task>.<prefix>_<metric>': [low, high] or None}`` over the rows of ``predictions`` whose
    ``<prefix>_status`` is ok (columns ``<prefix>_pred``, ``<prefix>_true``, ``subject``), e.g.
    prefix 'hr' -> keys 'pulse.hr_mae', ... and 'rr' -> 'resp.rr_mae', ..."""
    task = {"hr": "pulse", "rr": "resp"}[prefix]
    ok = predictions[predictions[f"{prefix}_status"] == "ok"]
    ok = ok[np.isfinite(ok[f"{prefix}_pred"].astype(float)) & np.isfinite(ok[f"{prefix}_true"].astype(float))]
    sums = subject_sums(ok[f"{prefix}_pred"], ok[f"{prefix}_true"], ok["subject"])
    out: dict[str, list[float] | None] = {}
    for metric in RATE_METRICS:
        ci = subject_bootstrap_ci(sums, metric, seed=seed)
        out[f"{task}.{prefix}_{metric}"] = None if ci is None else [ci[0], ci[1]]
    return out

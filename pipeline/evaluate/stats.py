"""Confidence intervals of the aggregated metrics.

- Rate metrics (HR and RR: MAE, RMSE, MAPE, Pearson) get a bootstrap interval that resamples
  test *subjects*, not trials: a subject's trials share a face, a skin type and a light, so they
  are not independent. Each subject is reduced to sums (count, sum |e|, sum e^2, sum of
  percentage errors, and the moments behind Pearson's r); a resample of subjects adds its sums,
  so every metric is exact for the resampled set. The resampling is scipy.stats.bootstrap
  (paired over the per-subject sums, percentile interval, seeded).
- Every other metric gets the t-interval of its per-fold values (scipy.stats.t), which needs at
  least two folds.
- Paired comparisons of per-trial absolute errors (a model against its trivial predictor or
  another model on the same trials): the Wilcoxon signed-rank test with the matched-pairs
  rank-biserial correlation as effect size.
- Paired comparisons of per-frame AU decisions (a model against the all-positive predictor or
  another model on the same coded frames): the difference of the mean F1 over AUs, each AU's F1
  computed from confusion counts pooled over frames. Frames of one subject are not independent,
  so both the interval and the test work on subjects: per subject and AU the counts of true
  positives, false positives and false negatives of both models; the 95% interval resamples
  subjects (scipy.stats.bootstrap, percentile), and the p-value is a paired permutation test
  that swaps the two models' decisions within each subject (scipy.stats.permutation_test,
  exact when 2^subjects is small).
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


def paired_wilcoxon(errors: np.ndarray, reference: np.ndarray) -> dict[str, float | int | None]:
    """Paired comparison of per-trial absolute errors against a reference's on the same trials:
    ``n``, the median of (errors - reference) (negative: the first is better), the matched-pairs
    rank-biserial correlation (effect size in [-1, 1]; negative: the first is better) and the
    two-sided Wilcoxon signed-rank p-value (scipy.stats.wilcoxon; 1.0 when every pair ties)."""
    d = np.asarray(errors, dtype=float) - np.asarray(reference, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return {"n": 0, "median_difference": None, "rank_biserial": None, "p_value": None}
    nonzero = d[d != 0]
    if nonzero.size == 0:
        return {"n": int(d.size), "median_difference": 0.0, "rank_biserial": 0.0, "p_value": 1.0}
    ranks = stats.rankdata(np.abs(nonzero))
    plus, minus = float(ranks[nonzero > 0].sum()), float(ranks[nonzero < 0].sum())
    p = float(stats.wilcoxon(nonzero).pvalue)
    return {"n": int(d.size), "median_difference": float(np.median(d)),
            "rank_biserial": (plus - minus) / (plus + minus), "p_value": p}


def _confusion(true: np.ndarray, pred: np.ndarray, subject_codes: np.ndarray, n_subjects: int) -> np.ndarray:
    """(subjects, AUs, 3) counts of true positives, false positives and false negatives over the
    coded frames (``true`` -1 where an AU is not coded)."""
    coded = true >= 0
    pos, hit = (true == 1) & coded, (pred == 1) & coded
    out = np.zeros((n_subjects, true.shape[1], 3))
    for column, mask in enumerate((pos & hit, hit & ~pos, pos & ~hit)):
        for k in range(true.shape[1]):
            out[:, k, column] = np.bincount(subject_codes, weights=mask[:, k], minlength=n_subjects)
    return out


def _mean_f1(counts: np.ndarray) -> float:
    """Mean over AUs of F1 x 100 from (AUs, 3) counts; an AU with no positive and no positive
    decision (F1 undefined) is left out, as in the evaluation."""
    tp, fp, fn = counts[:, 0], counts[:, 1], counts[:, 2]
    denom = 2 * tp + fp + fn
    scored = (tp + fn) > 0
    f1 = np.where(denom > 0, 200.0 * tp / np.where(denom > 0, denom, 1.0), 0.0)
    return float(f1[scored].mean()) if scored.any() else float("nan")


def paired_au_f1(true: np.ndarray, pred: np.ndarray, reference: np.ndarray, subjects: Sequence[str],
                 seed: int = 0, n_resamples: int = N_RESAMPLES) -> dict[str, float | int | None]:
    """Mean AU F1 of ``pred`` minus that of ``reference`` on the same frames (arrays (frames,
    AUs); ``true`` 1/0 coded, -1 not coded; decisions 0/1), with a subject-bootstrap 95% interval
    and the two-sided p-value of a paired permutation test over subjects."""
    true, pred, reference = (np.asarray(a) for a in (true, pred, reference))
    if true.size == 0 or not (true >= 0).any():
        return {"n_frames": 0, "n_subjects": 0, "f1": None, "f1_reference": None, "f1_difference": None,
                "ci_low": None, "ci_high": None, "p_value": None}
    names, codes = np.unique(np.asarray(subjects, dtype=str), return_inverse=True)
    mine = _confusion(true, pred, codes, len(names))
    ref = _confusion(true, reference, codes, len(names))

    def difference(index: np.ndarray) -> float:
        index = np.asarray(index, dtype=int)
        return _mean_f1(mine[index].sum(axis=0)) - _mean_f1(ref[index].sum(axis=0))

    everyone = np.arange(len(names))
    observed = difference(everyone)
    ci: tuple[float | None, float | None] = (None, None)
    if len(names) >= 2:
        res = stats.bootstrap((everyone,), difference, vectorized=False, n_resamples=n_resamples,
                              confidence_level=CONFIDENCE, method="percentile",
                              random_state=np.random.default_rng(seed))
        ci = (float(res.confidence_interval.low), float(res.confidence_interval.high))

    # the two samples as indices into both models' counts; a permutation swaps subject i's pair
    # (index i of the first model, len + i of the reference)
    both = np.concatenate([mine, ref])

    def swapped(a: np.ndarray, b: np.ndarray) -> float:
        return _mean_f1(both[np.asarray(a, int)].sum(axis=0)) - _mean_f1(both[np.asarray(b, int)].sum(axis=0))

    p_value = None  # one subject: nothing to permute
    if len(names) >= 2:
        perm = stats.permutation_test((everyone, everyone + len(names)), swapped, permutation_type="samples",
                                      vectorized=False, n_resamples=n_resamples, alternative="two-sided",
                                      random_state=np.random.default_rng(seed))
        p_value = float(perm.pvalue)
    return {"n_frames": int((true >= 0).any(axis=1).sum()), "n_subjects": int(len(names)),
            "f1": _mean_f1(mine.sum(axis=0)), "f1_reference": _mean_f1(ref.sum(axis=0)),
            "f1_difference": observed, "ci_low": ci[0], "ci_high": ci[1], "p_value": p_value}

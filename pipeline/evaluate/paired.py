"""Paired comparisons of two predictors on the same test trials or frames (the report's).

- Per-trial absolute errors (a model against its trivial predictor or another model): the
  Wilcoxon signed-rank test with the matched-pairs rank-biserial correlation as effect size.
- Per-frame AU decisions (a model against the all-positive predictor or another model on the
  same coded frames): the difference of the mean F1 over AUs, each AU's F1 from confusion counts
  pooled over frames by the evaluation's rule (pipeline.metrics.au.f1_from_counts; an AU with no
  coded frame is left out). Frames of one subject are not independent, so both the interval and
  the test work on subjects: per subject and AU the counts of both models; the 95% interval
  resamples subjects (scipy.stats.bootstrap, percentile), and the p-value is a paired permutation
  test that swaps the two models' decisions within each subject (scipy.stats.permutation_test,
  exact when 2^subjects is small).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy import stats

from pipeline.evaluate.stats import CONFIDENCE, N_RESAMPLES
from pipeline.metrics.au import f1_from_counts


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
    """(subjects, AUs, 4) counts of true positives, false positives, false negatives and coded
    frames (``true`` -1 where an AU is not coded)."""
    coded = true >= 0
    pos, hit = (true == 1) & coded, (pred == 1) & coded
    out = np.zeros((n_subjects, true.shape[1], 4))
    for column, mask in enumerate((pos & hit, hit & ~pos, pos & ~hit, coded)):
        for k in range(true.shape[1]):
            out[:, k, column] = np.bincount(subject_codes, weights=mask[:, k], minlength=n_subjects)
    return out


def _mean_f1(counts: np.ndarray) -> float:
    """Mean over the AUs with coded frames of their F1 x 100, from (AUs, 4) counts."""
    scored = counts[:, 3] > 0
    f1 = f1_from_counts(counts[:, 0], counts[:, 1], counts[:, 2])
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

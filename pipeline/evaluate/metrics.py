"""Metrics of a model's predictions on a fold's test trials (supp. E.1-E.4), and trivial baselines.

Rates (supp. E.1, E.3), scored exactly as the unsupervised baselines (``pipeline.unsupervised``):

- the predicted pulse (breathing) wave is difference-normalised, so its rate is
  ``pulse_rate_bpm(pred, fps, diff_normalised=True, **rate_kwargs(signals, 'pulse'))``
  (``resp_rate_bpm`` and ``'resp'`` for breathing); the ground-truth rate comes from the raw
  wave ``labels/pulse_raw`` (the BP wave on BP4D+, PPG elsewhere) or ``labels/resp_raw`` with
  ``diff_normalised=False`` through the same estimation;
- both are taken over the predicted frames (the first ``n_chunks * N`` frames of the trial);
- ``hr_mode`` ``trial``: one rate per trial (the paper); ``windowed``: one per window of
  ``signals.eval_window`` (``windowed_rate_bpm``), as in the unsupervised stage;
- a trial (window) whose rate cannot be estimated (too short, no power in the band, no ground
  truth, non-finite output) is kept with status ``excluded`` and a reason and left out;
- MAE, RMSE, MAPE and Pearson r over the remaining trials (windows). Where the cache holds a
  rate label aligned to frames (``hr_bpm``, ``resp_bpm``: the rendered rate of the built-in
  data, the recorded rate of BP4D+), the predicted rate is also scored against the label's
  mean over the same frames (a second protocol, ``vs_rate_label``); heart-rate samples under
  ``ingest.min_recorded_hr_bpm`` are left out of that mean (a device without a pulse reading).

AUs (supp. E.2, E.4): sigmoid, threshold 0.5, on the AU-coded frames only (frames inside the
trial's ``au_range`` whose label is 0 or 1; -1 = not coded), all frames of all test trials
pooled; per-AU F1 (x100) and accuracy (%), then their means over the AUs.

Trivial baselines on the same frames and trials: an AU predictor that says "active" on every
frame (per AU F1 = 2p/(1+p) x 100 and accuracy = p x 100 for prevalence p), and a constant
rate predictor equal to the training trials' mean ground-truth rate (computed as above).
"""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd

from pipeline.metrics import rates as rate_errors
from pipeline.metrics.rates import finite_or_none
from pipeline.metrics.au import au_metrics, binarise_logits
from pipeline.signals.windows import HR_MODES, rate_windows



# task -> (column prefix, raw ground-truth label, per-frame rate label); the rate function is
# pipeline.signals.windows.RATE_FUNCTIONS[task]
RATE_TASKS: dict[str, tuple[str, str, str]] = {
    "pulse": ("hr", "pulse_raw", "hr_bpm"),
    "resp": ("rr", "resp_raw", "resp_bpm"),
}
ROW_FIELDS = ("pred", "true", "abs_err", "rate_label", "status", "reason")


def hr_mode_of(signals: dict, settings: dict | None = None) -> str:
    """``settings['hr_mode']`` if given, else ``windowed`` when ``signals.eval_window.enabled``."""
    mode = (settings or {}).get("hr_mode")
    if mode is None:
        mode = "windowed" if (signals.get("eval_window") or {}).get("enabled") else "trial"
    if mode not in HR_MODES:
        raise ValueError(f"hr_mode must be one of {HR_MODES}, got {mode!r}")
    return str(mode)


# ---------------------------------------------------------------------------------------------
# rates


def rate_frames(
    wave: np.ndarray, fps: float, signals: dict, task: str, diff_normalised: bool, hr_mode: str = "trial"
) -> list[tuple[int, int, float]]:
    """``(start_frame, stop_frame, rate)`` of the whole wave or of each window (the windows of
    ``pipeline.signals.windows.rate_windows``, in frames)."""
    out = []
    for start_s, end_s, rate in rate_windows(wave, fps, signals, task, diff_normalised, hr_mode):
        start = int(round(start_s * fps))
        out.append((start, start + int(round((end_s - start_s) * fps)), rate))
    return out


def _excluded(reason: str) -> list[dict[str, Any]]:
    return [{"start": None, "stop": None, "pred": math.nan, "true": math.nan, "abs_err": math.nan,
             "rate_label": math.nan, "status": "excluded", "reason": reason}]


def rate_rows(
    pred: np.ndarray | None,
    truth_raw: np.ndarray | None,
    fps: float,
    signals: dict,
    task: str,
    hr_mode: str = "trial",
    rate_label: np.ndarray | None = None,
    rate_label_floor: float | None = None,
) -> list[dict[str, Any]]:
    """Rows (start, stop, pred, true, abs_err, rate_label, status, reason) of one trial and task.

    ``pred`` is the model's difference-normalised wave, ``truth_raw`` the raw ground-truth wave
    over the same frames (None: the trial has none), ``rate_label`` the per-frame rate label
    over the same frames (or None). Label samples under ``rate_label_floor`` count as not
    recorded (a device that lost the pulse reads near 0 bpm, as on four UBFC-rPPG subjects): the
    label's rate is the mean of the rest. A failure of either estimate gives one excluded row.
    """
    label_name = RATE_TASKS[task][1]
    what = "pulse" if task == "pulse" else "breathing"
    if truth_raw is None:
        return _excluded(f"no labels/{label_name}: no {what} ground truth")
    if pred is None:
        return _excluded(f"no {what} prediction")
    truth_raw = np.asarray(truth_raw, dtype=float)
    pred = np.asarray(pred, dtype=float)
    if pred.size != truth_raw.size:
        raise ValueError(f"{task}: prediction of {pred.size} frames, ground truth of {truth_raw.size}")
    try:
        truth = rate_frames(truth_raw, fps, signals, task, diff_normalised=False, hr_mode=hr_mode)
    except ValueError as err:
        return _excluded(f"ground-truth {what}: {err}")
    try:
        est = rate_frames(pred, fps, signals, task, diff_normalised=True, hr_mode=hr_mode)
    except ValueError as err:
        return _excluded(f"predicted {what}: {err}")
    rows = []
    for (start, stop, r_true), (_, _, r_pred) in zip(truth, est):
        reason = ""
        if not math.isfinite(r_true):
            reason = f"ground-truth {what} has no power in the {what} band"
        elif not math.isfinite(r_pred):
            reason = f"predicted {what} has no power in the {what} band"
        label = math.nan
        if rate_label is not None:
            seg = np.asarray(rate_label, dtype=float)[start:stop]
            seg = seg[np.isfinite(seg)]
            if rate_label_floor is not None:
                seg = seg[seg >= rate_label_floor]
            label = float(seg.mean()) if seg.size else math.nan
        rows.append({
            "start": start, "stop": stop, "pred": r_pred, "true": r_true,
            "abs_err": abs(r_pred - r_true) if not reason else math.nan,
            "rate_label": label, "status": "excluded" if reason else "ok", "reason": reason,
        })
    return rows


def merge_rate_rows(by_task: dict[str, list[dict[str, Any]]], fps: float, n_frames: int) -> list[dict[str, Any]]:
    """One row per window with ``hr_*`` and ``rr_*`` columns; a task's single excluded row is
    repeated on every window of the other task."""
    windowed = [rows for rows in by_task.values() if rows and rows[0]["start"] is not None]
    grid = [(r["start"], r["stop"]) for r in windowed[0]] if windowed else [(0, n_frames)]
    out = []
    for i, (start, stop) in enumerate(grid):
        row: dict[str, Any] = {"window_start_s": start / fps, "window_end_s": stop / fps}
        for task, rows in by_task.items():
            prefix = RATE_TASKS[task][0]
            src = rows[i] if rows[0]["start"] is not None and len(rows) == len(grid) else rows[0]
            if src["start"] is not None and (src["start"], src["stop"]) != (start, stop):
                raise ValueError(f"{task}: windows differ between tasks")
            row.update({f"{prefix}_{k}": src[k] for k in ROW_FIELDS})
        out.append(row)
    return out


def _errors(pred: np.ndarray, true: np.ndarray) -> dict[str, float | None]:
    if pred.size == 0:
        return {"mae": None, "rmse": None, "mape": None, "pearson": None}
    return {
        "mae": finite_or_none(rate_errors.mae(pred, true)),
        "rmse": finite_or_none(rate_errors.rmse(pred, true)),
        "mape": finite_or_none(rate_errors.mape(pred, true)),
        "pearson": finite_or_none(rate_errors.pearson(pred, true)),
    }


def _prefixed(prefix: str, errs: dict[str, float | None]) -> dict[str, float | None]:
    return {f"{prefix}_{k}": v for k, v in errs.items()}


def rate_summary(rows: pd.DataFrame, task: str) -> dict[str, Any]:
    """MAE, RMSE, MAPE, Pearson r of one task over the rows with status ok (keys ``hr_mae`` ...
    as the unsupervised metrics), counts, and the errors against the rate label."""
    prefix = RATE_TASKS[task][0]
    status = rows[f"{prefix}_status"]
    ok = rows[status == "ok"]
    pred = ok[f"{prefix}_pred"].to_numpy(float)
    true = ok[f"{prefix}_true"].to_numpy(float)
    out: dict[str, Any] = _prefixed(prefix, _errors(pred, true))
    out["n_trials"] = int(ok["trial_id"].nunique())
    out["n_samples"] = int(len(ok))
    out["n_excluded_trials"] = int(rows.loc[status == "excluded", "trial_id"].nunique())
    label = ok[f"{prefix}_rate_label"].to_numpy(float)
    has = np.isfinite(label)
    if has.any():
        vs = _prefixed(prefix, _errors(pred[has], label[has]))
        vs["n_samples"] = int(has.sum())
        # how far the wave-derived ground truth itself is from the rate label
        vs["truth_mae"] = finite_or_none(rate_errors.mae(true[has], label[has]))
        out["vs_rate_label"] = vs
    else:
        out["vs_rate_label"] = None
    return out


def constant_rate_baseline(value: float | None, rows: pd.DataFrame, task: str) -> dict[str, Any]:
    """Errors of predicting ``value`` for every ok row of ``task`` (the model's rows)."""
    prefix = RATE_TASKS[task][0]
    ok = rows[rows[f"{prefix}_status"] == "ok"]
    true = ok[f"{prefix}_true"].to_numpy(float)
    if value is None or not math.isfinite(value):
        errs = _errors(np.zeros(0), np.zeros(0))
    else:
        errs = _errors(np.full(true.size, float(value)), true)
    return {**_prefixed(prefix, errs), "n_samples": int(true.size)}


def training_mean_rate(
    trials: Sequence[tuple[str, np.ndarray | None, float]],
    signals: dict,
    task: str,
    hr_mode: str = "trial",
) -> dict[str, Any]:
    """Mean ground-truth rate over training trials given as ``(trial_id, raw wave, fps)``.

    Each trial's rate (or windows' rates) is estimated as the test ground truth is; trials
    without a usable estimate are counted and left out. ``value`` is None when none is left.
    """
    values: list[float] = []
    used: set[str] = set()
    excluded: list[str] = []
    for trial_id, raw, fps in trials:
        if raw is None:
            excluded.append(trial_id)
            continue
        try:
            rates = [r for _, _, r in rate_frames(raw, fps, signals, task, False, hr_mode)]
        except ValueError:
            excluded.append(trial_id)
            continue
        finite = [r for r in rates if math.isfinite(r)]
        if not finite:
            excluded.append(trial_id)
            continue
        values.extend(finite)
        used.add(trial_id)
    return {
        "value": float(np.mean(values)) if values else None,
        "n_trials": len(used),
        "n_samples": len(values),
        "n_excluded_trials": len(excluded),
    }


# ---------------------------------------------------------------------------------------------
# AUs


def coded_mask(labels: np.ndarray, frame_index: np.ndarray, au_range: Sequence[int] | None) -> np.ndarray:
    """(frames, K) bool: AU coded (label 0 or 1) and the frame inside ``au_range``.

    ``au_range`` is [start, stop) in video frame numbers (the cache's attribute), compared with
    ``frame_index``; ``[-1, -1]`` or None means no range restriction beyond the labels.
    """
    labels = np.asarray(labels)
    inside = np.ones(labels.shape[0], dtype=bool)
    if au_range is not None and len(au_range) == 2 and int(au_range[0]) >= 0:
        fi = np.asarray(frame_index)
        inside = (fi >= int(au_range[0])) & (fi < int(au_range[1]))
    return (labels >= 0) & inside[:, None]


class AUCollector:
    """Pools AU predictions and labels of the coded frames of many trials, per AU."""

    def __init__(self, names: Sequence[str], threshold: float = 0.5):
        self.names = list(names)
        self.threshold = float(threshold)
        self._pred: list[list[np.ndarray]] = [[] for _ in self.names]
        self._true: list[list[np.ndarray]] = [[] for _ in self.names]
        self.n_frames = 0  # frames with at least one coded AU

    def add(self, logits: np.ndarray, labels: np.ndarray, frame_index: np.ndarray,
            au_range: Sequence[int] | None) -> int:
        """Add one trial (logits and labels over the same frames); return its coded frames."""
        logits, labels = np.asarray(logits, dtype=float), np.asarray(labels)
        if logits.shape != labels.shape or logits.ndim != 2 or logits.shape[1] != len(self.names):
            raise ValueError(f"AU logits {logits.shape} and labels {labels.shape} for {len(self.names)} AUs")
        mask = coded_mask(labels, frame_index, au_range)
        pred = binarise_logits(logits, self.threshold)
        for k in range(len(self.names)):
            m = mask[:, k]
            self._pred[k].append(pred[m, k].astype(np.int8))
            self._true[k].append((labels[m, k] == 1).astype(np.int8))
        n = int(mask.any(axis=1).sum())
        self.n_frames += n
        return n

    def _score(self, predictor: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> dict[str, Any]:
        f1: dict[str, float | None] = {}
        acc: dict[str, float | None] = {}
        positives: dict[str, int] = {}
        coded: dict[str, int] = {}
        for k, name in enumerate(self.names):
            true = np.concatenate(self._true[k]) if self._true[k] else np.zeros(0, np.int8)
            pred = predictor(np.concatenate(self._pred[k]) if self._pred[k] else np.zeros(0, np.int8), true)
            coded[name] = int(true.size)
            positives[name] = int(true.sum())
            if true.size == 0:
                f1[name] = acc[name] = None
                continue
            m = au_metrics(pred[:, None], true[:, None], names=[name])
            f1[name], acc[name] = m["f1"][name], m["accuracy"][name]
        scored = [v for v in f1.values() if v is not None]
        return {
            "f1": f1,
            "accuracy": acc,
            "f1_mean": float(np.mean(scored)) if scored else None,
            "accuracy_mean": float(np.mean([v for v in acc.values() if v is not None])) if scored else None,
            "positives": positives,
            "n_coded": coded,
            "n_aus_scored": len(scored),
            "n_frames": self.n_frames,
        }

    def model_metrics(self) -> dict[str, Any]:
        """Per-AU F1 and accuracy of the model, their means, positives and coded frames per AU."""
        return {**self._score(lambda pred, true: pred), "threshold": self.threshold}

    def all_positive_metrics(self) -> dict[str, Any]:
        """The same for the predictor that says 'active' on every coded frame."""
        return self._score(lambda pred, true: np.ones_like(true))

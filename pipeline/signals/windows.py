"""Rates of a whole wave or of each evaluation window (supp. E.1), shared by the POS/CHROM
baselines and the learned models' evaluation so both are scored on the same protocol."""

from __future__ import annotations

import numpy as np

from pipeline.signals.rates import pulse_rate_bpm, rate_kwargs, resp_rate_bpm, windowed_rate_bpm

HR_MODES = ("trial", "windowed")
RATE_FUNCTIONS = {"pulse": pulse_rate_bpm, "resp": resp_rate_bpm}


def rate_windows(
    wave: np.ndarray, fps: float, signals: dict, task: str, diff_normalised: bool, hr_mode: str = "trial"
) -> list[tuple[float, float, float]]:
    """``(start_s, end_s, rate)`` of the whole wave (``hr_mode`` trial) or of each window of
    ``signals.eval_window`` (windowed); a wave no longer than one window is one window.

    ``task`` is ``pulse`` (bpm) or ``resp`` (breaths/min). Raises ValueError where the estimator
    does (too short a wave, non-finite values) and for an unknown ``hr_mode``.
    """
    fn = RATE_FUNCTIONS[task]
    kw = rate_kwargs(signals, task)
    x = np.asarray(wave, dtype=float)
    duration = x.size / fps
    if hr_mode == "trial":
        return [(0.0, duration, fn(x, fps, diff_normalised=diff_normalised, **kw))]
    if hr_mode != "windowed":
        raise ValueError(f"hr_mode must be one of {HR_MODES}, got {hr_mode!r}")
    win = signals["eval_window"]
    window_s, step_s = float(win["window_s"]), float(win["step_s"])
    centres, rates = windowed_rate_bpm(x, fps, window_s, step_s, rate_fn=fn, diff_normalised=diff_normalised, **kw)
    if rates.size == 1 and x.size <= int(round(window_s * fps)):
        return [(0.0, duration, float(rates[0]))]
    return [(float(c - window_s / 2), float(c + window_s / 2), float(r)) for c, r in zip(centres, rates)]

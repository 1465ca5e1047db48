"""Pulse and breathing rates from waveforms (BigSmall supp. E.1).

Protocol, applied identically to predictions and to labels:

1. a difference-normalised waveform is integrated (cumulative sum); every waveform is then
   detrended (smoothness priors, lambda 100);
2. zero-phase Butterworth band-pass: order 2, [0.75, 2.5] Hz for pulse and [0.08, 0.5] Hz
   for breathing (the paper). The authors' evaluation code used order 1 and [0.13, 0.5] Hz
   for breathing; both are parameters;
3. periodogram with ``nfft`` the next power of two of ``zero_pad_factor * len``; the rate is
   the frequency of maximum power within the band. ``zero_pad_factor = 1`` is the authors'
   code (bins of fps/nfft Hz, e.g. 0.73 bpm for 60 s at 25 fps); larger factors interpolate
   the spectrum on a finer grid.

The default is one rate per whole trial, as the paper; :func:`windowed_rate_bpm` gives
rates over sliding windows (e.g. 10 s) as some toolboxes report.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from scipy.signal import periodogram

from pipeline.signals.detrend import detrend
from pipeline.signals.filters import bandpass, check_band

PULSE_BAND_HZ = (0.75, 2.5)
RESP_BAND_HZ = (0.08, 0.5)


# A filtered waveform this small relative to its input is rounding residue, not a rhythm.
NO_POWER_RELATIVE = 1e-9


def diff_normalise(x: np.ndarray, pad_end: bool = False) -> np.ndarray:
    """``diff(x) / std(diff(x))``, the label transform of supp. D.2 (length T-1).

    ``pad_end=True`` appends one zero (length T, the rPPG-Toolbox convention). A constant
    signal (zero spread of the differences) gives zeros; non-finite values become 0, as the
    published preprocessing does.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"diff_normalise expects a 1-D signal, got shape {x.shape}")
    d = np.diff(x)
    sd = float(np.std(d)) if d.size else 0.0
    d = d / sd if sd > 0 and np.isfinite(sd) else np.zeros_like(d)
    d = np.nan_to_num(d, nan=0.0, posinf=0.0, neginf=0.0)
    return np.append(d, 0.0) if pad_end else d


def integrate(d: np.ndarray, x0: float = 0.0, scale: float = 1.0) -> np.ndarray:
    """Inverse of :func:`diff_normalise`: ``x0 + scale * [0, cumsum(d)]`` (length len(d)+1).

    With ``x0 = x[0]`` and ``scale = std(diff(x))`` it returns ``x`` exactly.
    """
    d = np.asarray(d, dtype=float)
    return x0 + scale * np.concatenate([[0.0], np.cumsum(d)])


def next_pow2(n: int) -> int:
    """Smallest power of two >= n (1 for n <= 1)."""
    return 1 if n <= 1 else 1 << (int(n) - 1).bit_length()


def spectral_peak_hz(x: np.ndarray, fps: float, band: Sequence[float], zero_pad_factor: int = 1) -> float:
    """Frequency (Hz) of the periodogram maximum of ``x`` within ``band`` (edges included).

    ``nfft = next_pow2(zero_pad_factor * len(x))``. Returns NaN when the signal has no power
    in the band (e.g. a constant signal); raises ValueError when no frequency bin falls in
    the band or the input is not a finite 1-D signal.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"spectral peak needs a 1-D signal of >= 2 samples, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("spectral peak: signal has non-finite values")
    if int(zero_pad_factor) != zero_pad_factor or zero_pad_factor < 1:
        raise ValueError(f"zero_pad_factor must be a positive integer, got {zero_pad_factor}")
    low, high = check_band(band, fps)
    nfft = next_pow2(int(zero_pad_factor) * x.size)
    freqs, power = periodogram(x, fs=fps, nfft=nfft, detrend=False)
    mask = (freqs >= low) & (freqs <= high)
    if not mask.any():
        raise ValueError(f"no frequency bin in ({low}, {high}) Hz with nfft={nfft} at {fps} fps")
    band_power = power[mask]
    if not band_power.max() > 0:
        return float("nan")
    return float(freqs[mask][np.argmax(band_power)])


def waveform_for_rate(
    signal: np.ndarray,
    fps: float,
    diff_normalised: bool,
    band: Sequence[float],
    order: int = 2,
    detrend_lambda: float = 100.0,
) -> np.ndarray:
    """Steps 1-2 of the protocol: integrate if needed, detrend, band-pass."""
    x = np.asarray(signal, dtype=float)
    if x.ndim != 1:
        raise ValueError(f"expected a 1-D waveform, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("waveform has non-finite values")
    if diff_normalised:
        x = np.cumsum(x)
    return bandpass(detrend(x, detrend_lambda), fps, band, order=order)


def rate_bpm(
    signal: np.ndarray,
    fps: float,
    diff_normalised: bool,
    band: Sequence[float],
    order: int = 2,
    zero_pad_factor: int = 1,
    detrend_lambda: float = 100.0,
) -> float:
    """Rate in beats (or breaths) per minute of one waveform (see the module docstring).

    NaN when the filtered waveform has no power in the band, including a constant waveform
    whose detrended residue is only floating-point rounding.
    """
    x = waveform_for_rate(signal, fps, diff_normalised, band, order, detrend_lambda)
    scale = float(np.max(np.abs(signal))) if np.size(signal) else 0.0
    if diff_normalised:
        scale *= np.size(signal)  # the waveform was integrated
    if not np.max(np.abs(x), initial=0.0) > NO_POWER_RELATIVE * scale:
        return float("nan")
    return 60.0 * spectral_peak_hz(x, fps, band, zero_pad_factor)


def pulse_rate_bpm(
    signal: np.ndarray,
    fps: float,
    diff_normalised: bool,
    band: Sequence[float] = PULSE_BAND_HZ,
    order: int = 2,
    zero_pad_factor: int = 1,
    detrend_lambda: float = 100.0,
) -> float:
    """Heart rate (bpm) of a pulse waveform; paper defaults [0.75, 2.5] Hz, order 2."""
    return rate_bpm(signal, fps, diff_normalised, band, order, zero_pad_factor, detrend_lambda)


def resp_rate_bpm(
    signal: np.ndarray,
    fps: float,
    diff_normalised: bool,
    band: Sequence[float] = RESP_BAND_HZ,
    order: int = 2,
    zero_pad_factor: int = 1,
    detrend_lambda: float = 100.0,
) -> float:
    """Breathing rate (breaths/min) of a respiration waveform; paper defaults [0.08, 0.5] Hz, order 2.

    The authors' code used [0.13, 0.5] Hz and order 1 (pass ``band`` and ``order``).
    """
    return rate_bpm(signal, fps, diff_normalised, band, order, zero_pad_factor, detrend_lambda)


def windowed_rate_bpm(
    signal: np.ndarray,
    fps: float,
    window_s: float = 10.0,
    step_s: float | None = None,
    rate_fn: Callable[..., float] = pulse_rate_bpm,
    **kwargs: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Rates over sliding windows: returns (window centre times in s, rates in bpm).

    ``step_s`` defaults to ``window_s`` (non-overlapping windows, the rPPG-Toolbox option).
    Only full windows are used; a signal shorter than one window gives a single rate over the
    whole signal. ``kwargs`` go to ``rate_fn`` (``diff_normalised``, ``band``, ...).
    """
    x = np.asarray(signal, dtype=float)
    win = int(round(window_s * fps))
    step = int(round((window_s if step_s is None else step_s) * fps))
    if win < 2 or step < 1:
        raise ValueError(f"window ({window_s} s) and step ({step_s} s) too short at {fps} fps")
    if x.size <= win:
        return np.array([x.size / (2.0 * fps)]), np.array([rate_fn(x, fps, **kwargs)])
    starts = np.arange(0, x.size - win + 1, step)
    rates = np.array([rate_fn(x[s : s + win], fps, **kwargs) for s in starts])
    return (starts + win / 2.0) / fps, rates


def rate_kwargs(section: dict, task: str) -> dict:
    """Keyword arguments for :func:`rate_bpm` from the params.yaml ``signals`` section.

    ``task`` is ``"pulse"`` or ``"resp"``.
    """
    if task not in ("pulse", "resp"):
        raise ValueError(f"task must be 'pulse' or 'resp', got {task!r}")
    sub = section[task]
    return {
        "band": tuple(sub["band_hz"]),
        "order": int(sub["order"]),
        "detrend_lambda": float(sub["detrend_lambda"]),
        "zero_pad_factor": int(section["zero_pad_factor"]),
    }

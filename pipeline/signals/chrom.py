"""CHROM, chrominance-based pulse extraction (de Haan & Jeanne 2013).

The trace is cut into windows of ``ceil(window_s * fps)`` frames (rounded up to an even
number) with half-window steps. In each window the channels are divided by their temporal
mean, the chrominance signals ``X = 3R - 2G`` and ``Y = 1.5R + G - 1.5B`` are band-passed
(zero-phase Butterworth inside the window, as the rPPG-Toolbox does), combined as
``S = Xf - (std(Xf) / std(Yf)) Yf``, multiplied by a Hann window and overlap-added.

The Hann window is the periodic one, whose half-overlapped copies sum exactly to one (the
toolbox's symmetric ``np.hanning`` sums to one only approximately). The toolbox drops the
frames after the last full window; here the trace is extended by reflection to a whole
number of half windows and the result cut back to T samples, so the output has one value
per frame. The first half window only receives the rising half of one Hann window.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.signal import get_window

from pipeline.signals._traces import check_rgb, window_frames
from pipeline.signals.filters import bandpass

_EPS = 1e-12


def chrom(
    rgb: np.ndarray,
    fps: float,
    window_s: float = 1.6,
    band_hz: Sequence[float] = (0.7, 2.5),
    order: int = 3,
) -> np.ndarray:
    """CHROM pulse signal (T,) from a face-mean colour trace ``rgb`` of shape (T, 3).

    Raises ValueError when the trace is shorter than one window or not finite.
    """
    c = check_rgb(rgb)
    n = c.shape[0]
    win = window_frames(window_s, fps)
    win += win % 2  # even, so that half-window hops tile the trace
    half = win // 2
    if n < win:
        raise ValueError(f"CHROM needs at least one window of {win} frames, got {n}")
    n_hops = -(-(n - half) // half)  # windows needed so that coverage reaches the end
    padded_len = half * (n_hops + 1)
    if padded_len > n:
        c = np.pad(c, ((0, padded_len - n), (0, 0)), mode="reflect")
    windows = sliding_window_view(c, win, axis=0)[::half]  # (n_hops, 3, win)
    mean = windows.mean(axis=2, keepdims=True)
    cn = windows / np.where(np.abs(mean) < _EPS, _EPS, mean)
    r, g, b = cn[:, 0], cn[:, 1], cn[:, 2]
    xy = np.stack([3.0 * r - 2.0 * g, 1.5 * r + g - 1.5 * b], axis=1)  # (n_hops, 2, win)
    xf = bandpass(xy, fps, band_hz, order=order, axis=-1)
    sd = xf.std(axis=2)
    alpha = sd[:, 0] / np.maximum(sd[:, 1], _EPS)
    s = (xf[:, 0] - alpha[:, None] * xf[:, 1]) * get_window("hann", win, fftbins=True)
    out = np.zeros(padded_len)
    # Two interleaved half-overlapping streams: even windows and odd windows never overlap
    # among themselves, so each stream is a plain reshape.
    for parity in (0, 1):
        part = s[parity::2].reshape(-1)
        start = parity * half
        out[start : start + part.size] += part
    return out[:n]

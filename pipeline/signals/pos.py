"""POS, plane-orthogonal-to-skin pulse extraction (Wang, den Brinker, Stuijk & de Haan 2017).

For every window of ``l = ceil(window_s * fps)`` consecutive frames (step one frame), the
R, G, B trace is divided by its temporal mean, projected on the plane orthogonal to the
skin tone with ``P = [[0, 1, -1], [-2, 1, 1]]``, the two projections are combined with
alpha-tuning ``h = S0 + (std(S0) / std(S1)) S1``, and the zero-mean ``h`` is overlap-added.

Windows cover frames ``[m, m + l)`` for every ``m`` in ``0 .. T - l`` as in the published
algorithm, so every frame is covered; the rPPG-Toolbox loop stops one window earlier and
leaves the last frame uncovered. No band-pass is applied here (callers filter as their
protocol requires).

Polarity: the pipeline's pulse signals follow the blood-volume (PPG) convention, rising with
each beat like a pulse oximeter's pleth wave and CHROM's output. POS's ``h`` runs the other way
(the skin darkens as blood volume rises, and ``P`` projects that darkening onto a negative
``h``), so the overlap-added signal is negated. Heart rate is unaffected; waveform metrics
(Pearson, MCC) and POS pseudo-labels then share the sign of the PPG targets.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from pipeline.signals._traces import check_rgb, window_frames

POS_PROJECTION = np.array([[0.0, 1.0, -1.0], [-2.0, 1.0, 1.0]])
_EPS = 1e-12  # guards divisions by a zero mean or a zero spread (black or constant traces)


def pos(rgb: np.ndarray, fps: float, window_s: float = 1.6) -> np.ndarray:
    """POS pulse signal (T,) from a face-mean colour trace ``rgb`` of shape (T, 3).

    Raises ValueError when the trace is shorter than one window or not finite.
    """
    c = check_rgb(rgb)
    n = c.shape[0]
    win = window_frames(window_s, fps)
    if n < win:
        raise ValueError(f"POS needs at least one window of {win} frames, got {n}")
    windows = sliding_window_view(c, win, axis=0)  # (K, 3, win), a view: no copy
    mean = windows.mean(axis=2, keepdims=True)
    cn = windows / np.where(np.abs(mean) < _EPS, _EPS, mean)
    # S = P . Cn written out (P has only 0 and +-1, +-2 entries): cheaper than a matmul.
    s0 = cn[:, 1] - cn[:, 2]
    s1 = cn[:, 1] + cn[:, 2] - 2.0 * cn[:, 0]
    alpha = s0.std(axis=1) / np.maximum(s1.std(axis=1), _EPS)
    h = s0 + alpha[:, None] * s1
    h -= h.mean(axis=1, keepdims=True)
    out = np.zeros(n)
    k = h.shape[0]
    # Overlap-add: a loop over the window offsets (win iterations), not over frames.
    for j in range(win):
        out[j : j + k] += h[:, j]
    return -out

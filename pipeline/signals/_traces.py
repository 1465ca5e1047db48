"""Input checks shared by the colour-trace methods."""

from __future__ import annotations

import math

import numpy as np


def check_rgb(rgb: np.ndarray, name: str = "rgb") -> np.ndarray:
    """Return ``rgb`` as a float (T, 3) array; raise ValueError if it is not one, or not finite."""
    arr = np.asarray(rgb, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name}: expected a (T, 3) face-mean R, G, B trace, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name}: {int(np.sum(~np.isfinite(arr)))} non-finite values")
    return arr


def window_frames(window_s: float, fps: float) -> int:
    """Frames in a window of ``window_s`` seconds: ceil(window_s * fps).

    The product is rounded to 1e-9 first so that float noise (e.g. 1.6 * 30 computed as
    48.000000000000004) does not add a frame.
    """
    if not (window_s > 0 and fps > 0):
        raise ValueError(f"window ({window_s} s) and fps ({fps}) must be > 0")
    return max(2, math.ceil(round(window_s * fps, 9)))

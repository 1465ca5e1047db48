"""The unsupervised pulse methods by name, with their ``signals`` constants."""

from __future__ import annotations

import numpy as np

from pipeline.signals.chrom import chrom
from pipeline.signals.pos import pos

METHODS = ("POS", "CHROM")


def pulse_signal(method: str, rgb: np.ndarray, fps: float, signals: dict) -> np.ndarray:
    """The pulse waveform of ``method`` (POS or CHROM) from a (T, 3) face-mean RGB trace."""
    if method == "POS":
        return pos(rgb, fps, window_s=float(signals["pos"]["window_s"]))
    if method == "CHROM":
        c = signals["chrom"]
        return chrom(rgb, fps, window_s=float(c["window_s"]), band_hz=tuple(c["band_hz"]), order=int(c["order"]))
    raise ValueError(f"unknown unsupervised method {method!r}")

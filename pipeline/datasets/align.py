"""Label-to-frame alignment by time, shared by every layout.

Two cases occur in the real datasets:

- timestamps for both frames and label samples (PURE, and the PPG timestamps of UBFC-rPPG):
  the label is linearly interpolated at the frame times;
- no timestamps (BP4D+ physiology at 1 kHz, DISFA): the recording is taken to span the whole
  video (as in the authors' code), so label sample ``i`` of ``L`` sits at time ``i * T / L``
  for a video of duration ``T = n_frames / fps`` and frame ``k`` at ``k / fps``.

The authors' code interpolates at ``linspace(0, L, n_frames)`` (the grid ends one sample past
the last, so frame ``k`` maps to sample ``k * L / (n_frames - 1)``); ``stretch_authors`` gives that
variant for comparison. The difference is below one frame period at the end of a trial.
"""

from __future__ import annotations

import numpy as np


def frame_times(n_frames: int, fps: float) -> np.ndarray:
    """Start time (s) of each frame of a constant-rate video."""
    return np.arange(n_frames, dtype=np.float64) / float(fps)


def interp_at(times: np.ndarray, label_times: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Linear interpolation of a timestamped label at ``times`` (clamped at the ends).

    ``label_times`` must be strictly increasing (checked by the readers before calling).
    """
    return np.interp(np.asarray(times, np.float64), np.asarray(label_times, np.float64),
                     np.asarray(values, np.float64))


def stretch(values: np.ndarray, n_frames: int) -> np.ndarray:
    """Resample a uniformly sampled label that spans the whole video onto its frames.

    Sample ``i`` of ``L`` is at the same relative time as frame ``k`` of ``n_frames`` when
    ``i / L == k / n_frames``; so frame ``k`` takes the label at fractional index ``k * L / n``.
    """
    values = np.asarray(values, np.float64)
    n_samples = len(values)
    idx = np.arange(n_frames, dtype=np.float64) * (n_samples / n_frames)
    return np.interp(idx, np.arange(n_samples, dtype=np.float64), values)


def stretch_authors(values: np.ndarray, n_frames: int) -> np.ndarray:
    """The authors' resampling: ``interp(linspace(0, L, n_frames), arange(L), values)``."""
    values = np.asarray(values, np.float64)
    n_samples = len(values)
    return np.interp(np.linspace(0, n_samples, n_frames), np.arange(n_samples), values)

"""Types shared by the dataset layouts (BP4D+, UBFC-rPPG, PURE, DISFA).

Each layout module in this package (``bp4d``, ``ubfc``, ``pure``, ``disfa``) exposes:

- ``NAME`` (str) and ``FPS`` (the expected video frame rate);
- ``list_trials(root: Path) -> list[TrialRef]``: enumerate the trials of a raw dataset folder
  in sorted order (raises InputError if ``root`` is missing);
- ``load_trial(ref: TrialRef) -> TrialData``: read one trial's metadata and labels aligned to
  video frames; frames are streamed lazily by ``TrialData.frames()``. Bad input raises
  ``InputError(path, reason)`` with a short reason that ingest records as the exclusion reason;
- ``write_trial(root, ...)``: write one trial in the exact real layout (used by the
  semi-synthetic generator and by tests).

One reader per layout, no per-dataset preprocessing: everything after ``load_trial`` is shared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Literal

import numpy as np

PulseKind = Literal["bp", "ppg"]


@dataclass(frozen=True)
class TrialRef:
    """Where a trial lives. ``trial_id`` is unique within its dataset (e.g. ``F001T1``)."""

    dataset: str
    subject: str
    task: str
    trial_id: str
    paths: dict[str, Path] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class TrialData:
    """One trial: lazily streamed RGB frames plus labels aligned to the video frames.

    signals: per-frame float64 arrays of length ``n_frames``; keys present where the dataset has
      them: ``pulse`` (BP wave for BP4D+, PPG otherwise), ``resp`` (respiration wave),
      ``hr_bpm``, ``resp_bpm``.
    au: (n_frames, len(au_names)) int8 occurrence: 1 active, 0 inactive, -1 not coded.
    au_range: [start, stop) frame indices of the AU-coded segment, if any.
    meta: facts ingest checks and records: ``video_duration_s`` (float),
      ``label_duration_s`` and ``label_len`` (dicts over the raw label streams, before alignment).
    """

    ref: TrialRef
    fps: float
    n_frames: int
    frame_shape: tuple[int, int, int]
    frames: Callable[[], Iterator[np.ndarray]]
    signals: dict[str, np.ndarray] = field(default_factory=dict)
    pulse_kind: PulseKind | None = None
    au: np.ndarray | None = None
    au_names: list[str] = field(default_factory=list)
    au_range: tuple[int, int] | None = None
    meta: dict[str, Any] = field(default_factory=dict)

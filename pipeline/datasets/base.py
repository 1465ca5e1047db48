"""Types shared by the dataset layouts (BP4D+, UBFC-rPPG, PURE, DISFA).

Each layout module in this package (``bp4d``, ``ubfc``, ``pure``, ``disfa``) exposes:

- ``NAME`` (str) and ``FPS`` (the expected video frame rate);
- ``list_trials(root: Path) -> list[TrialRef]``: enumerate the trials of a raw dataset folder
  in sorted order (raises InputError if ``root`` is missing);
- ``load_trial(ref: TrialRef) -> TrialData``: read one trial's metadata and labels aligned to
  video frames; frames are streamed lazily by ``TrialData.frames()``. Bad input raises
  ``InputError(path, reason)`` with a short reason that ingest records as the exclusion reason;
- ``write_trial(root, ...)``: write one trial in the exact real layout (used by the
  semi-synthetic generator and by tests);
- ``list_strays(root: Path) -> list[Stray]``: folders and files where the layout puts trials
  but whose names do not match it (``subject 16``, ``Subject18``), so that ingest lists them as
  excluded instead of skipping them without a word. Hidden names and sidecar folders starting
  with ``_`` (the generator's ``_truth/``) are not strays.

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


@dataclass(frozen=True)
class Stray:
    """A folder or file where trials live whose name the layout does not accept."""

    path: str  # relative to the dataset root, '/'-separated
    is_dir: bool
    expected: str  # the accepted name pattern, e.g. ``subject<N>``


def strays(folder: Path, root: Path, accept: Callable[[Path], bool], expected: str,
           dirs: bool = True, suffix: str | None = None) -> list[Stray]:
    """Entries of ``folder`` (folders if ``dirs``, else files ending in ``suffix``) that
    ``accept`` rejects; hidden and ``_``-prefixed names are skipped."""
    if not folder.is_dir():
        return []
    out = []
    for p in sorted(folder.iterdir()):
        if p.name.startswith((".", "_")) or p.is_dir() != dirs:
            continue
        if suffix is not None and not p.name.lower().endswith(suffix):
            continue
        if not accept(p):
            out.append(Stray(p.relative_to(root).as_posix(), p.is_dir(), expected))
    return out


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

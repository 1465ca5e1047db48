"""UBFC-rPPG (DATASET_2) layout.

::

    subject<N>/vid.avi           uncompressed video, 30 fps
    subject<N>/ground_truth.txt  3 whitespace-separated rows: PPG, HR (bpm), timestamps (s)

The PPG and HR rows are aligned to the frames through the timestamp row (frame ``k`` at
``k / fps``, timestamps taken relative to their first value).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from pipeline.datasets import align
from pipeline.datasets.base import Stray, TrialData, TrialRef, strays
from pipeline.datasets.labels import finite
from pipeline.datasets.media import FOURCC_UNCOMPRESSED, iter_video, probe_video, write_video
from pipeline.errors import InputError

NAME = "ubfc"
FPS = 30.0
SUBJECT_RE = re.compile(r"^subject(\d+)$")
TASK = "vid"


def write_trial(root: Path, subject: int, frames: Iterable[np.ndarray], fps: float,
                ppg: np.ndarray, hr_bpm: np.ndarray, timestamps_s: np.ndarray) -> None:
    """Write ``subject<N>/vid.avi`` (uncompressed, bit-exact) and ``ground_truth.txt``."""
    sdir = Path(root) / f"subject{int(subject)}"
    sdir.mkdir(parents=True, exist_ok=True)
    rows = [np.asarray(r, np.float64).ravel() for r in (ppg, hr_bpm, timestamps_s)]
    if len({len(r) for r in rows}) != 1:
        raise ValueError("ppg, hr_bpm and timestamps_s must have the same length")
    write_video(sdir / "vid.avi", frames, fps, FOURCC_UNCOMPRESSED)
    text = "\n".join("  ".join(f"{v:.9e}" for v in row) for row in rows) + "\n"
    (sdir / "ground_truth.txt").write_text(text)


def list_trials(root: Path) -> list[TrialRef]:
    """One trial per ``subject<N>`` folder, in numeric order."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "dataset folder missing")
    dirs = [(int(m.group(1)), d) for d in root.iterdir()
            if d.is_dir() and (m := SUBJECT_RE.match(d.name))]
    if not dirs:
        raise InputError(root, "no UBFC-rPPG trials (expected subject<N>/ folders)")
    return [TrialRef(NAME, d.name, TASK, d.name, {"video": d / "vid.avi", "labels": d / "ground_truth.txt"})
            for _, d in sorted(dirs)]


def list_strays(root: Path) -> list[Stray]:
    """Folders beside the trials whose name is not ``subject<N>`` (e.g. ``subject 16``)."""
    root = Path(root)
    return strays(root, root, lambda p: bool(SUBJECT_RE.match(p.name)), "subject<N>")


def _read_ground_truth(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not path.is_file():
        raise InputError(path, "label file missing")
    try:
        rows = [np.array(line.split(), dtype=np.float64)
                for line in path.read_text().splitlines() if line.strip()]
    except (ValueError, UnicodeDecodeError):
        raise InputError(path, "label file not numeric") from None
    if len(rows) < 3:
        raise InputError(path, f"expected 3 rows (PPG, HR, timestamps), found {len(rows)}")
    ppg, hr, ts = (finite(r, path) for r in rows[:3])
    if not (len(ppg) == len(hr) == len(ts)):
        raise InputError(path, "rows of different lengths")
    if len(ts) < 2 or np.any(np.diff(ts) <= 0):
        raise InputError(path, "timestamps not strictly increasing")
    return ppg, hr, ts


def load_trial(ref: TrialRef) -> TrialData:
    """Read one UBFC-rPPG trial; PPG and HR aligned to frames by the timestamps."""
    video, labels = ref.paths["video"], ref.paths["labels"]
    fps, n_frames, shape = probe_video(video)
    ppg, hr, ts = _read_ground_truth(labels)
    t_label = ts - ts[0]
    t_frame = align.frame_times(n_frames, fps)
    dt = float(np.median(np.diff(ts)))

    def frames() -> Iterator[np.ndarray]:
        return iter_video(video, n_frames)

    return TrialData(
        ref=ref, fps=fps, n_frames=n_frames, frame_shape=shape, frames=frames,
        signals={"pulse": align.interp_at(t_frame, t_label, ppg),
                 "hr_bpm": align.interp_at(t_frame, t_label, hr)},
        pulse_kind="ppg",
        meta={"video_duration_s": n_frames / fps,
              "label_duration_s": {"pulse": float(t_label[-1]) + dt, "hr_bpm": float(t_label[-1]) + dt},
              "label_len": {"pulse": len(ppg), "hr_bpm": len(hr)}})

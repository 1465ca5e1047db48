"""DISFA layout (left camera): compressed AVI plus one intensity file per AU.

::

    Videos_LeftCamera/LeftVideoSN<id>_comp.avi          20 fps
    ActionUnit_Labels/SN<id>/SN<id>_au<k>.txt           rows "frame,intensity" (1-based, 0-5)

The 8 AUs used in the paper (1, 2, 4, 6, 9, 12, 25, 26) are binarised: intensity > 0 active.
The published coding is complete (every video frame, every AU), so a label file that does not
hold exactly one row per video frame (a short file, a repeated or missing frame number), or
any intensity other than the integers 0..5, raises InputError naming the file: such a trial
is excluded rather than trained on with silently uncoded or invented labels.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from pipeline.datasets.base import Stray, TrialData, TrialRef, strays
from pipeline.datasets.labels import finite
from pipeline.datasets.media import FOURCC_COMPRESSED, iter_video, probe_video, write_video
from pipeline.errors import InputError

NAME = "disfa"
FPS = 20.0
AUS_USED = [1, 2, 4, 6, 9, 12, 25, 26]
AU_NAMES = [f"AU{k:02d}" for k in AUS_USED]
VIDEO_RE = re.compile(r"^LeftVideo(SN\d{3})_comp\.avi$")
LABEL_DIR_RE = re.compile(r"^SN\d{3}$")
TASK = "left"
JPEG_QUALITY = 90


def _video_path(root: Path, sn: str) -> Path:
    return root / "Videos_LeftCamera" / f"LeftVideo{sn}_comp.avi"


def _label_dir(root: Path, sn: str) -> Path:
    return root / "ActionUnit_Labels" / sn


def write_trial(root: Path, sn: int, frames: Iterable[np.ndarray], fps: float,
                au_intensity: dict[int, np.ndarray]) -> None:
    """Write the left-camera video (Motion-JPEG) and one ``frame,intensity`` file per AU."""
    root = Path(root)
    name = f"SN{int(sn):03d}"
    write_video(_video_path(root, name), frames, fps, FOURCC_COMPRESSED, quality=JPEG_QUALITY)
    ldir = _label_dir(root, name)
    ldir.mkdir(parents=True, exist_ok=True)
    for k, values in sorted(au_intensity.items()):
        vals = np.asarray(values).ravel().astype(np.int64)
        text = "".join(f"{i},{v}\n" for i, v in enumerate(vals, start=1))
        (ldir / f"{name}_au{int(k)}.txt").write_text(text)


def list_trials(root: Path) -> list[TrialRef]:
    """One trial per left-camera video (or label folder), sorted by SN id."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "dataset folder missing")
    names: set[str] = set()
    vdir, ldir = root / "Videos_LeftCamera", root / "ActionUnit_Labels"
    if vdir.is_dir():
        names.update(m.group(1) for p in vdir.iterdir() if (m := VIDEO_RE.match(p.name)))
    if ldir.is_dir():
        names.update(d.name for d in ldir.iterdir() if d.is_dir() and LABEL_DIR_RE.match(d.name))
    if not names:
        raise InputError(root, "no DISFA trials (expected Videos_LeftCamera/LeftVideoSN<id>_comp.avi)")
    return [TrialRef(NAME, sn, TASK, sn, {"video": _video_path(root, sn), "labels": _label_dir(root, sn)})
            for sn in sorted(names)]


def list_strays(root: Path) -> list[Stray]:
    """Left-camera videos and label folders whose names do not match the layout."""
    root = Path(root)
    return (strays(root / "Videos_LeftCamera", root, lambda p: bool(VIDEO_RE.match(p.name)),
                   "LeftVideoSN<NNN>_comp.avi", dirs=False, suffix=".avi")
            + strays(root / "ActionUnit_Labels", root, lambda p: bool(LABEL_DIR_RE.match(p.name)), "SN<NNN>"))


def _read_au_file(path: Path, n_frames: int) -> tuple[np.ndarray, np.ndarray]:
    """1-based frame numbers and integer intensities of one AU file covering every video frame."""
    if not path.is_file():
        raise InputError(path, "AU label file missing")
    try:
        table = pd.read_csv(path, header=None)
        values = table.to_numpy(dtype=np.float64)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        raise InputError(path, "AU label file not parseable") from None
    if values.ndim != 2 or values.shape[1] < 2:
        raise InputError(path, "AU label file needs 2 columns (frame,intensity)")
    values = finite(values[:, :2], path)
    if np.any(values[:, 0] != np.round(values[:, 0])):
        raise InputError(path, "AU frame numbers not integers")
    frames = values[:, 0].astype(np.int64)
    if frames.min() < 1 or frames.max() > n_frames:
        raise InputError(path, f"AU frame numbers {frames.min()}..{frames.max()} outside the video (1..{n_frames})")
    unique, counts = np.unique(frames, return_counts=True)
    if np.any(counts > 1):
        raise InputError(path, f"AU frame number {int(unique[counts > 1][0])} appears {int(counts.max())} times")
    if len(unique) != n_frames:
        raise InputError(path, f"AU label file shorter than the video (codes {len(unique)} of {n_frames} frames)")
    intensity = values[:, 1]
    bad = (intensity != np.round(intensity)) | (intensity < 0) | (intensity > 5)
    if np.any(bad):
        i = int(np.flatnonzero(bad)[0])
        raise InputError(path, f"AU intensity {intensity[i]:g} at frame {frames[i]} outside the integers 0..5"
                         f" ({int(bad.sum())} rows)")
    return frames, intensity


def load_trial(ref: TrialRef) -> TrialData:
    """Read one DISFA trial: video metadata and the 8 binarised AUs."""
    video, ldir = ref.paths["video"], ref.paths["labels"]
    fps, n_frames, shape = probe_video(video)
    au = np.full((n_frames, len(AUS_USED)), -1, np.int8)
    coded = np.zeros(n_frames, bool)
    for j, k in enumerate(AUS_USED):
        frames, intensity = _read_au_file(ldir / f"{ref.subject}_au{k}.txt", n_frames)
        au[frames - 1, j] = (intensity > 0).astype(np.int8)
        coded[frames - 1] = True
    idx = np.flatnonzero(coded)
    au_range = (int(idx[0]), int(idx[-1]) + 1)

    def frames_iter() -> Iterator[np.ndarray]:
        return iter_video(video, n_frames)

    return TrialData(
        ref=ref, fps=fps, n_frames=n_frames, frame_shape=shape, frames=frames_iter,
        au=au, au_names=list(AU_NAMES), au_range=au_range,
        meta={"video_duration_s": n_frames / fps, "label_duration_s": {},
              "label_len": {"au": int(coded.sum())}})

"""Landmark face alignment of the Big frames (BigSmall supp. B.7, the "dagger" rows of Table 2).

Each frame is warped by a similarity transform (in-plane rotation, uniform scale, translation:
shape-preserving, so no expression changes) that maps five anchor points of the face (the two
eye centres, the nose tip, the two mouth corners) onto a canonical template, least squares over
the five points (Umeyama 1991). The template is the widely used 5-point template of 112x112
face crops (eyes at (38.29, 51.70) and (73.53, 51.50), nose (56.03, 71.74), mouth corners
(41.55, 92.37) and (70.73, 92.20)), shrunk about the centre by ``scale`` (default 0.8) so that
the brows and forehead, where AU 1, 2 and 4 act, stay inside the aligned frame.

Landmark sources (``preprocess.face_alignment.source``):

- ``truth``: the generator's exact rendered landmarks, ``<raw>/_truth/<trial>.npz``
  (``landmarks``, (T, 68, 2), iBUG order); built-in data only.
- ``mediapipe``: MediaPipe Face Mesh on every frame. Its model files ship inside the mediapipe
  0.10.14 wheel (the legacy ``solutions.face_mesh``; nothing downloads at run time); later
  wheels (1.x) ship no model. Installed by ``scripts/setup.sh`` without mediapipe's unused
  dependencies (jax, a second OpenCV).
- ``file``: ``<raw>/_landmarks/<trial>.npy``, (T, K, 2) pixel coordinates of every video frame
  with K = 68 (iBUG order) or 5 (the anchors in the order above), NaN rows for frames without a
  face: for instance BP4D+'s own 2D feature points converted.
- ``auto`` (the default): ``truth`` where the raw folder holds the generator's truth, else
  ``mediapipe``.

A frame without landmarks (a NaN row, no detection) reuses the last transform found; frames
before the first detection use the first one (the trial's landmarks are read up front, or the
detector looks ahead for the first face). A trial with landmarks in fewer than half its frames
is excluded with that reason.

The warp runs at twice the output size and is then area-resized, and a frame much larger than
the face (a real BP4D+ frame of 1040x1392) is first area-shrunk, so no resampling step aliases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Protocol

import cv2
import numpy as np

from pipeline.errors import InputError

SOURCES: tuple[str, ...] = ("auto", "truth", "mediapipe", "file")
# the 5-point template of 112x112 face crops (eye centres, nose tip, mouth corners), pixels
TEMPLATE_112 = np.array([[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366],
                         [41.5493, 92.3655], [70.7299, 92.2041]], dtype=np.float64)
# the share of a trial's frames that must have landmarks
MIN_LANDMARK_FRACTION = 0.5
# iBUG 68: eye contours 36-41 (image left) and 42-47, nose tip 30, mouth corners 48 and 54
_IBUG_EYES = (slice(36, 42), slice(42, 48))
_IBUG_POINTS = (30, 48, 54)
# MediaPipe Face Mesh (468 points): eye corners 33/133 and 362/263, nose tip 1, mouth corners 61/291
_MESH_EYES = ((33, 133), (362, 263))
_MESH_POINTS = (1, 61, 291)
OVERSAMPLE = 2


def template(size: int, scale: float = 0.8) -> np.ndarray:
    """The five template points (5, 2) in an output frame of ``size`` pixels."""
    unit = TEMPLATE_112 / 112.0
    return (0.5 + float(scale) * (unit - 0.5)) * float(size)


def anchors(points: np.ndarray) -> np.ndarray:
    """The five anchor points (..., 5, 2) of landmarks (..., K, 2) with K = 68 (iBUG), 468 or 478
    (MediaPipe Face Mesh) or 5 (already the anchors)."""
    p = np.asarray(points, dtype=np.float64)
    k = p.shape[-2]
    if k == 5:
        return p
    if k == 68:
        eyes = [p[..., s, :].mean(axis=-2) for s in _IBUG_EYES]
        return np.stack([*eyes, *(p[..., i, :] for i in _IBUG_POINTS)], axis=-2)
    if k in (468, 478):
        eyes = [(p[..., a, :] + p[..., b, :]) / 2 for a, b in _MESH_EYES]
        return np.stack([*eyes, *(p[..., i, :] for i in _MESH_POINTS)], axis=-2)
    raise ValueError(f"landmarks with {k} points: expected 68 (iBUG), 468 (MediaPipe) or 5")


def similarity(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity transform (rotation, uniform scale, translation) taking ``src`` (K, 2)
    closest to ``dst`` (K, 2) in least squares (Umeyama's closed form, no reflection)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    a, b = src - mu_s, dst - mu_d
    var_s = float((a * a).sum()) / len(src)
    if var_s <= 0:
        raise ValueError("degenerate landmarks: all points coincide")
    u, d, vt = np.linalg.svd(b.T @ a / len(src))
    sign = np.diag([1.0, np.sign(np.linalg.det(u) * np.linalg.det(vt)) or 1.0])
    rot = u @ sign @ vt
    s = float(np.trace(np.diag(d) @ sign)) / var_s
    t = mu_d - s * rot @ mu_s
    return np.hstack([s * rot, t[:, None]])


class Aligner:
    """Warps frames to ``size`` x ``size`` aligned faces given each frame's anchor points."""

    def __init__(self, size: int, scale: float = 0.8) -> None:
        self.size = int(size)
        self.work = OVERSAMPLE * self.size
        self.dst = template(self.work, scale)

    def matrix(self, points: np.ndarray) -> np.ndarray:
        """The 2x3 transform from frame pixels to the oversampled output."""
        return similarity(anchors(points), self.dst)

    def warp(self, frame: np.ndarray, matrix: np.ndarray) -> np.ndarray:
        """The aligned ``size`` x ``size`` uint8 face of ``frame`` under ``matrix``."""
        m = np.asarray(matrix, dtype=np.float64)
        zoom = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))  # output pixels per frame pixel
        if zoom < 0.75:  # shrink the frame first (area average), then warp at about unit scale
            f = zoom
            h, w = frame.shape[:2]
            frame = cv2.resize(frame, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
            fx, fy = frame.shape[1] / w, frame.shape[0] / h
            m = m @ np.array([[1 / fx, 0, 0], [0, 1 / fy, 0], [0, 0, 1]])
        out = cv2.warpAffine(np.ascontiguousarray(frame), m, (self.work, self.work), flags=cv2.INTER_LINEAR,
                             borderMode=cv2.BORDER_REPLICATE)
        return cv2.resize(out, (self.size, self.size), interpolation=cv2.INTER_AREA)


class FrameLandmarks(Protocol):
    """Landmarks of one trial, frame by frame: ``(video_index, frame) -> (K, 2) or None``."""

    def __call__(self, index: int, frame: np.ndarray) -> np.ndarray | None: ...


def resolve_source(source: str, raw: str | Path) -> str:
    """``auto`` -> ``truth`` where ``raw`` holds the generator's truth, else ``mediapipe``."""
    if source not in SOURCES:
        raise ValueError(f"face_alignment.source must be one of {SOURCES}, not {source!r}")
    if source != "auto":
        return source
    return "truth" if (Path(raw) / "_truth").is_dir() else "mediapipe"


def _array_landmarks(path: Path, array: np.ndarray, n_frames: int) -> FrameLandmarks:
    a = np.asarray(array, dtype=np.float64)
    if a.ndim != 3 or a.shape[2] != 2 or a.shape[0] < n_frames:
        raise InputError(path, f"landmarks of shape {a.shape}: expected ({n_frames} frames, points, 2)")
    anchors(a[:1])  # a clear error for an unknown point count

    def at(index: int, frame: np.ndarray) -> np.ndarray | None:
        row = a[index]
        return row if np.isfinite(row).all() else None
    return at


def truth_landmarks(raw: str | Path, trial_id: str, n_frames: int) -> FrameLandmarks:
    """The generator's rendered landmarks of ``trial_id``."""
    path = Path(raw) / "_truth" / f"{trial_id}.npz"
    if not path.is_file():
        raise InputError(path, "no generator truth for this trial; face_alignment.source 'truth' needs built-in "
                               "data (use 'mediapipe' or 'file' for user-supplied data)")
    with np.load(path) as z:
        if "landmarks" not in z.files:
            raise InputError(path, "holds no 'landmarks' array")
        return _array_landmarks(path, z["landmarks"], n_frames)


def file_landmarks(raw: str | Path, trial_id: str, n_frames: int) -> FrameLandmarks:
    """User-supplied landmarks ``<raw>/_landmarks/<trial_id>.npy``."""
    path = Path(raw) / "_landmarks" / f"{trial_id}.npy"
    if not path.is_file():
        raise InputError(path, "no landmark file (face_alignment.source 'file' reads <raw>/_landmarks/<trial>.npy, "
                               "shape (frames, 68 or 5, 2))")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise InputError(path, f"unreadable landmark file ({err})") from None
    return _array_landmarks(path, array, n_frames)


def mediapipe_landmarks(static: bool = False) -> FrameLandmarks:
    """MediaPipe Face Mesh in video mode (it tracks the face from frame to frame), or on single
    images (``static``)."""
    try:
        from mediapipe.python.solutions import face_mesh  # the legacy solution ships its model
    except ImportError as err:
        raise InputError("mediapipe", f"face_alignment.source 'mediapipe' needs mediapipe 0.10.14 "
                                      f"(scripts/setup.sh installs it; {err})") from None
    mesh = face_mesh.FaceMesh(static_image_mode=static, max_num_faces=1, refine_landmarks=False)

    def at(index: int, frame: np.ndarray) -> np.ndarray | None:
        result = mesh.process(np.ascontiguousarray(frame))
        if not result.multi_face_landmarks:
            return None
        h, w = frame.shape[:2]
        return np.array([[p.x * w, p.y * h] for p in result.multi_face_landmarks[0].landmark])
    return at


def mediapipe_face_box(frame: np.ndarray) -> tuple[int, int, int, int] | None:
    """The face box of one frame, (x, y, w, h) pixels: the extent of MediaPipe's face mesh (brow
    to chin, cheek to cheek), squared to its longer side about its centre (as the rPPG-Toolbox
    squares its YOLO5Face boxes); None when no face is found. OpenCV 5, which this project
    installs, no longer ships the Haar cascade the toolbox uses by default."""
    detect = mediapipe_landmarks(static=True)
    points = detect(0, frame)
    if points is None:
        return None
    (x0, y0), (x1, y1) = points.min(axis=0), points.max(axis=0)
    side = max(x1 - x0, y1 - y0)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    return int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side)), int(round(side))


def landmark_source(source: str, raw: str | Path, trial_id: str, n_frames: int) -> FrameLandmarks:
    """The landmarks of one trial from ``source`` (``auto`` resolved against ``raw``)."""
    kind = resolve_source(source, raw)
    if kind == "truth":
        return truth_landmarks(raw, trial_id, n_frames)
    if kind == "file":
        return file_landmarks(raw, trial_id, n_frames)
    return mediapipe_landmarks()


def aligned_frames(
    frames: Iterator[tuple[int, np.ndarray]], landmarks: FrameLandmarks, aligner: Aligner, where: str | Path,
    lookahead: int = 64,
) -> Iterator[tuple[np.ndarray, np.ndarray, bool]]:
    """``(frame, aligned frame, had landmarks)`` for each ``(video index, frame)``.

    A frame without landmarks reuses the last transform; frames before the first face are held
    back (at most ``lookahead``) and use the first face's transform. No face in the first
    ``lookahead`` frames raises InputError."""
    pending: list[tuple[np.ndarray, bool]] = []
    last: np.ndarray | None = None
    for index, frame in frames:
        points = landmarks(index, frame)
        if points is not None:
            last = aligner.matrix(points)
            for held, _ in pending:
                yield held, aligner.warp(held, last), False
            pending.clear()
        if last is None:
            pending.append((frame, False))
            if len(pending) > lookahead:
                raise InputError(where, f"no face landmarks in the first {lookahead} frames")
            continue
        yield frame, aligner.warp(frame, last), points is not None
    if pending:
        raise InputError(where, "no face landmarks in any frame")


def check_coverage(found: int, total: int, where: str | Path) -> None:
    """Exclude a trial whose landmarks cover fewer than ``MIN_LANDMARK_FRACTION`` of its frames."""
    if total and found / total < MIN_LANDMARK_FRACTION:
        raise InputError(where, f"face landmarks in only {found} of {total} frames "
                                f"(alignment needs {MIN_LANDMARK_FRACTION:.0%})")


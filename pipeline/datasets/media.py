"""Frame and video I/O shared by the dataset layouts: streaming, deterministic bytes.

Writers never hold a whole video in memory and never embed wall-clock time; readers raise
``InputError(path, reason)`` on anything they cannot decode so ingest can record the reason.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Iterable, Iterator

import cv2
import numpy as np

from pipeline.errors import InputError

# Raw (uncompressed) BGRA frames in AVI: cv2 writes and reads these back bit-exact, like the
# uncompressed originals (UBFC-rPPG). Checked by tests/test_layouts.py.
FOURCC_UNCOMPRESSED = "RGBA"
# Motion-JPEG for layouts whose originals are compressed (DISFA "_comp.avi").
FOURCC_COMPRESSED = "MJPG"
JPEG_EOI = b"\xff\xd9"


def check_frame(frame: np.ndarray, where: str | Path) -> np.ndarray:
    """Validate one RGB uint8 HxWx3 frame given to a writer."""
    arr = np.asarray(frame)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{where}: frames must be uint8 HxWx3 RGB, got {arr.dtype} {arr.shape}")
    return arr


def peek(frames: Iterable[np.ndarray], where: str | Path) -> tuple[np.ndarray, Iterator[np.ndarray]]:
    """First frame and an iterator over all frames (first included), without materialising."""
    it = iter(frames)
    try:
        first = next(it)
    except StopIteration:
        raise ValueError(f"{where}: no frames to write") from None
    return check_frame(first, where), itertools.chain([first], it)


def write_video(path: Path, frames: Iterable[np.ndarray], fps: float, fourcc: str,
                quality: int | None = None) -> int:
    """Stream RGB frames into an AVI file; returns the number of frames written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    first, it = peek(frames, path)
    h, w = first.shape[:2]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (w, h))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot write fourcc {fourcc!r}")
    if quality is not None:
        writer.set(cv2.VIDEOWRITER_PROP_QUALITY, float(quality))
    n = 0
    try:
        for frame in it:
            arr = check_frame(frame, path)
            if arr.shape[:2] != (h, w):
                raise ValueError(f"{path}: frame {n} has shape {arr.shape}, expected {(h, w, 3)}")
            writer.write(cv2.cvtColor(arr, cv2.COLOR_RGB2BGR))
            n += 1
    finally:
        writer.release()
    return n


def probe_video(path: Path) -> tuple[float, int, tuple[int, int, int]]:
    """(fps, frame count from the container header, frame shape) of a video file."""
    if not path.is_file():
        raise InputError(path, "video file missing")
    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            raise InputError(path, "video unreadable (cannot open)")
        fps = float(cap.get(cv2.CAP_PROP_FPS))
        count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
        ok, frame = cap.read()
        if not ok or frame is None:
            raise InputError(path, "video unreadable (no decodable frame)")
        shape = tuple(int(s) for s in frame.shape)
    finally:
        cap.release()
    if count <= 0:
        raise InputError(path, "video has no frames")
    if not np.isfinite(fps) or fps <= 0:
        raise InputError(path, "video frame rate missing from the container")
    return fps, count, shape  # type: ignore[return-value]


def iter_video(path: Path, n_expected: int) -> Iterator[np.ndarray]:
    """Stream RGB frames of a video; raise InputError if fewer than ``n_expected`` decode."""
    cap = cv2.VideoCapture(str(path))
    if not cap.isOpened():
        raise InputError(path, "video unreadable (cannot open)")
    n = 0
    try:
        while n < n_expected:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            n += 1
            yield cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
    finally:
        cap.release()
    if n < n_expected:
        raise InputError(path, f"video truncated or corrupt: decoded {n} of {n_expected} frames")


def encode_image(frame: np.ndarray, ext: str, jpeg_quality: int = 90) -> bytes:
    """Encode an RGB frame as JPEG (fixed quality) or PNG (fixed compression level)."""
    bgr = cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    params = ([cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)] if ext == ".jpg"
              else [cv2.IMWRITE_PNG_COMPRESSION, 3])
    ok, buf = cv2.imencode(ext, bgr, params)
    if not ok:
        raise RuntimeError(f"cannot encode frame as {ext}")
    return buf.tobytes()


def decode_image(data: bytes, where: str | Path) -> np.ndarray:
    """Decode JPEG/PNG bytes to RGB; truncated or corrupt images raise InputError."""
    if data[:2] == b"\xff\xd8" and not data.rstrip(b"\x00").endswith(JPEG_EOI):
        # libjpeg pads a truncated JPEG with grey and only warns: catch it here instead
        raise InputError(where, "truncated JPEG (no end-of-image marker)")
    try:
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) if data else None
    except cv2.error:  # some malformed headers make the decoder raise instead of returning None
        img = None
    if img is None:
        raise InputError(where, "corrupt image (cannot decode)")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)

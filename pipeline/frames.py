"""Per-frame operations of preprocessing: square crop, area resize, normalised difference frames,
the face-mean RGB of a crop (over every pixel or over its skin pixels).

These are the only places where pixel values are transformed, so the streaming writer
(``pipeline.preprocess``) and any float reference computation share exactly the same code.

Geometry of the square crop of an ``H x W`` frame (side ``s = min(H, W)``):

- portrait (``H > W``): rows ``[r0, r0 + W)`` with ``r0`` = ``(H - W) // 2`` for anchor
  ``center``, ``H - W`` for ``bottom`` (what the BigSmall authors' code keeps: it drops the
  first ``H - W`` rows), ``0`` for ``top``;
- landscape (``W > H``): columns ``[c0, c0 + H)`` with ``c0 = (W - H) // 2`` whatever the anchor
  (the anchor names a vertical position only);
- square frames are returned unchanged.
"""

from __future__ import annotations

from typing import Literal

import cv2
import numpy as np

CropAnchor = Literal["center", "bottom", "top"]
ANCHORS: tuple[str, ...] = ("center", "bottom", "top")
TraceRegion = Literal["skin", "crop"]
TRACE_REGIONS: tuple[str, ...] = ("skin", "crop")

# denominator guard of the normalised difference, as in the authors' code
DIFF_EPS = 1e-7


def crop_box(height: int, width: int, anchor: CropAnchor = "center") -> tuple[int, int, int]:
    """``(row0, col0, side)`` of the square crop of a ``height x width`` frame."""
    if anchor not in ANCHORS:
        raise ValueError(f"crop anchor must be one of {ANCHORS}, got {anchor!r}")
    side = min(height, width)
    if height > width:
        row0 = {"center": (height - width) // 2, "bottom": height - width, "top": 0}[anchor]
        return row0, 0, side
    return 0, (width - height) // 2, side


def square_crop(frame: np.ndarray, anchor: CropAnchor = "center") -> np.ndarray:
    """The square crop of ``frame`` (H, W, C) as a view (no copy)."""
    row0, col0, side = crop_box(frame.shape[0], frame.shape[1], anchor)
    return frame[row0 : row0 + side, col0 : col0 + side]


def resize_area(image: np.ndarray, size: int) -> np.ndarray:
    """Resize to ``size x size`` with ``cv2.INTER_AREA`` (the authors' choice); dtype is kept.

    uint8 input gives rounded uint8 output, exactly what the authors' loaders store.
    """
    if image.shape[0] == size and image.shape[1] == size:
        return np.ascontiguousarray(image)
    out = cv2.resize(np.ascontiguousarray(image), (size, size), interpolation=cv2.INTER_AREA)
    return out.reshape(size, size, *image.shape[2:])


def diff_frame(current: np.ndarray, following: np.ndarray) -> np.ndarray:
    """Normalised difference ``(x[t+1] - x[t]) / (x[t+1] + x[t] + eps)`` in float32 (supp. D.1)."""
    a = current.astype(np.float32)
    b = following.astype(np.float32)
    return (b - a) / (b + a + np.float32(DIFF_EPS))


def skin_mask(rgb: np.ndarray, cr: tuple[int, int], cb: tuple[int, int]) -> np.ndarray:
    """uint8 mask (255 = skin) of the pixels whose YCrCb chrominance lies in the box ``cr`` x ``cb``
    (inclusive). Chrominance separates skin from hair, background and clothing nearly independently
    of brightness; Chai and Ngan (1999) give Cr 133-173, Cb 77-127."""
    ycrcb = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2YCrCb)
    return cv2.inRange(ycrcb, (0, int(cr[0]), int(cb[0])), (255, int(cr[1]), int(cb[1])))


def face_means(
    crop: np.ndarray, cr: tuple[int, int], cb: tuple[int, int], min_skin_fraction: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean RGB of ``crop`` over every pixel and over its skin pixels, and the skin fraction.

    The skin mean is NaN when fewer than ``min_skin_fraction`` of the pixels are skin. Averages are
    accumulated in float64 by OpenCV (about 50x faster than numpy on a strided view)."""
    whole = np.asarray(cv2.mean(crop)[:3], dtype=np.float64)
    mask = skin_mask(crop, cr, cb)
    count = cv2.countNonZero(mask)
    fraction = count / mask.size
    if count == 0 or fraction < min_skin_fraction:
        return whole, np.full(3, np.nan), fraction
    return whole, np.asarray(cv2.mean(crop, mask=mask)[:3], dtype=np.float64), fraction

"""Per-frame operations of preprocessing: square crop, area resize, normalised difference frames,
the face-mean RGB of a crop (over every pixel or over a face region).

These are the only places where pixel values are transformed, so the streaming writer
(``pipeline.preprocess``) and any float reference computation share exactly the same code.

Geometry of the square crop of an ``H x W`` frame (side ``s = min(H, W)``):

- portrait (``H > W``): rows ``[r0, r0 + W)`` with ``r0`` = ``(H - W) // 2`` for anchor
  ``center``, ``H - W`` for ``bottom`` (what the BigSmall authors' code keeps: it drops the
  first ``H - W`` rows), ``0`` for ``top``;
- landscape (``W > H``): columns ``[c0, c0 + H)`` with ``c0 = (W - H) // 2`` whatever the anchor
  (the anchor names a vertical position only);
- square frames are returned unchanged.

Face regions (``preprocess.face_trace.region``):

- ``adaptive``: each trial's own skin colour. The pixels of the central square of the crop
  (``seed_fraction`` of its side; every dataset's crop is centred on the face) over the first
  ``fit_frames`` frames give a robust Gaussian in (hue, saturation) of 8-bit HSV, two
  coordinates that do not change with brightness or shading; the region is every pixel of the
  crop within ``radius`` (Mahalanobis) of it and bright enough to carry colour. Because the
  model is fitted per trial it follows the skin tone (Fitzpatrick I-VI) and the colour cast of
  the light (tungsten to daylight, imperfect white balance), which shift the whole cluster.
- ``skin``: a fixed YCrCb box (Chai and Ngan 1999). Warm light pushes Cr above the box (a face
  at RGB (211, 95, 63) has Cr 189 against the box's 173) and the box then keeps a few
  percent of the pixels, mostly not skin.
- ``crop``: every pixel of the crop (the authors' choice); hair, background and clothing dilute
  the pulse and their moving edges add broadband noise.

Measured on the generator's probe trials (benchmarks/bench_face_region.py: Fitzpatrick I-VI x
2700 K/wb 0.3, 3200 K/wb 0.6, 4500 K/wb 0.8, 6500 K/wb 1.0 x 2 seeds, 10 s, preset easy), the
adaptive region has the lowest POS and CHROM error of the three overall: POS MAE 1.25 bpm
against 10.5 (crop) and 6.3 (fixed box), CHROM 1.6 against 6.5 and 6.7, averaging 18% of the
crop's pixels.

Expected effect of skin tone: melanin absorbs in the epidermis, so a smaller share of the
remitted light has crossed the perfused dermis and the relative pulse dC/C falls with the
skin type (the generator's model, pipeline/synth/skin.py, keeps for type VI 83%, 62% and 23% of
type I's relative pulse in R, G and B); the darker face also has a lower DC level, so the same
camera noise is larger relative to it. Both lower the pulse SNR of POS on the adaptive trace
(benchmark, preset easy: 4.9 dB for type I, 0.1 dB for V, -5.9 dB for VI), so the darkest type
is the first to lose the rate when the recording is noisy (type VI: POS MAE 6.6 bpm on easy,
types I-V 0.9 or less). That dependence is physics, not a region defect.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Literal

import cv2
import numpy as np
from scipy.stats import chi2

CropAnchor = Literal["center", "bottom", "top"]
ANCHORS: tuple[str, ...] = ("center", "bottom", "top")
TraceRegion = Literal["adaptive", "skin", "crop"]
TRACE_REGIONS: tuple[str, ...] = ("adaptive", "skin", "crop")

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


def region_means(
    crop: np.ndarray, mask: np.ndarray, min_fraction: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean RGB of ``crop`` over every pixel and over the pixels of ``mask`` (uint8, 255 = in),
    and the fraction of the crop's pixels in the mask.

    The masked mean is NaN when fewer than ``min_fraction`` of the pixels are in the mask.
    Averages are accumulated in float64 by OpenCV (about 50x faster than numpy on a strided
    view)."""
    whole = np.asarray(cv2.mean(crop)[:3], dtype=np.float64)
    count = cv2.countNonZero(mask)
    fraction = count / mask.size
    if count == 0 or fraction < min_fraction:
        return whole, np.full(3, np.nan), fraction
    return whole, np.asarray(cv2.mean(crop, mask=mask)[:3], dtype=np.float64), fraction


def face_means(
    crop: np.ndarray, cr: tuple[int, int], cb: tuple[int, int], min_skin_fraction: float
) -> tuple[np.ndarray, np.ndarray, float]:
    """Mean RGB of ``crop`` over every pixel and over its fixed-box skin pixels
    (:func:`skin_mask`), and the skin fraction (see :func:`region_means`)."""
    return region_means(crop, skin_mask(crop, cr, cb), min_skin_fraction)


# ---------------------------------------------------------------------------------------------
# adaptive skin region: a per-trial Gaussian model of the face's own colour

HUE_LEVELS = 180  # OpenCV 8-bit hue: degrees / 2, circular
# floor of the cluster's spread (hue in 2-degree steps, saturation in 8-bit levels): a clean
# face can be narrower than the quantisation of the two channels
MIN_STD = (1.0, 3.0)
# the robust fit keeps the samples within this chi-square quantile of the current estimate
_FIT_QUANTILE = 0.975
_FIT_ITERATIONS = 6
# hues skin can take (8-bit units, -20 to 70 degrees): red to yellow whatever the melanin and
# the light's cast; a centre of another colour is background (a face too small or off-centre)
SKIN_HUE = (-10.0, 35.0)
# side of the pixel grid the adaptive region is averaged over (a larger crop is strided)
TRACE_SIDE = 256
# seed samples kept for the fit (a strided subset): enough for a 2-D mean and covariance
_MAX_SEED_SAMPLES = 40_000
_MIN_SEED_SAMPLES = 50


@dataclass(frozen=True)
class SkinModel:
    """One trial's skin colour: a Gaussian in (hue, saturation) of 8-bit HSV, the Mahalanobis
    radius kept, and the brightness range (HSV value) of usable pixels.

    ``lut`` is the (180, 256) float32 back-projection table: 255 for the (hue, saturation)
    pairs inside the ellipse, 0 elsewhere."""

    mean: tuple[float, float]
    cov: np.ndarray
    radius: float
    value_range: tuple[int, int]
    lut: np.ndarray


def _wrap_hue(dh: np.ndarray) -> np.ndarray:
    """Hue differences folded into [-90, 90) (8-bit hue is circular with period 180)."""
    return (dh + HUE_LEVELS / 2) % HUE_LEVELS - HUE_LEVELS / 2


def seed_region(side: int, seed_fraction: float) -> slice:
    """Rows (and columns) of the central square covering ``seed_fraction`` of a crop's side:
    every dataset's crop is centred on the face, so its centre is mostly skin."""
    if not 0 < seed_fraction <= 1:
        raise ValueError(f"seed_fraction must be in (0, 1], got {seed_fraction}")
    half = max(1, int(round(side * seed_fraction / 2)))
    c = side // 2
    return slice(max(c - half, 0), min(c + half, side))


def seed_samples(crops: list[np.ndarray], seed_fraction: float) -> np.ndarray:
    """(N, 3) uint8 HSV of the central part of each crop, strided to at most
    ``_MAX_SEED_SAMPLES`` pixels in all."""
    parts = []
    for crop in crops:
        rows = seed_region(crop.shape[0], seed_fraction)
        cols = seed_region(crop.shape[1], seed_fraction)
        centre = np.ascontiguousarray(crop[rows, cols])
        parts.append(cv2.cvtColor(centre, cv2.COLOR_RGB2HSV).reshape(-1, 3))
    hsv = np.concatenate(parts) if parts else np.empty((0, 3), np.uint8)
    step = max(1, -(-hsv.shape[0] // _MAX_SEED_SAMPLES))
    return hsv[::step]


def fit_skin_model(
    hsv: np.ndarray, radius: float = 3.0, min_value: int = 20, min_value_rel: float = 0.4
) -> SkinModel:
    """Fit the skin cluster to seed pixels ``hsv`` ((N, 3) uint8 HSV).

    Pixels darker than ``min_value`` or clipped (value 255) carry no usable chroma and are
    left out. The cluster is a robust Gaussian (median start, then iterated mean and
    covariance of the samples within the 97.5% chi-square quantile, rescaled for the
    truncation), so eyes, brows, nostrils and a little background in the seed do not move it.
    A cluster whose hue is not a skin hue (``SKIN_HUE``) raises ValueError. Pixels darker than ``min_value_rel`` times the cluster's median brightness (hair and deep
    shadows with a skin-like hue) are left out of the region. Raises ValueError when too few
    usable seed pixels remain."""
    hsv = np.asarray(hsv)
    v = hsv[:, 2].astype(np.float64)
    ok = (v >= min_value) & (v < 255)
    if int(ok.sum()) < _MIN_SEED_SAMPLES:
        raise ValueError(f"only {int(ok.sum())} usable pixels in the centre of the crop")
    h = hsv[ok, 0].astype(np.float64)
    s = hsv[ok, 1].astype(np.float64)
    v = v[ok]
    ang = h * (2 * np.pi / HUE_LEVELS)
    h0 = np.arctan2(np.sin(ang).mean(), np.cos(ang).mean()) * HUE_LEVELS / (2 * np.pi)
    h0 += float(np.median(_wrap_hue(h - h0)))
    dh = _wrap_hue(h - h0)
    x = np.stack([dh, s], axis=1)
    mean = np.median(x, axis=0)
    mad = np.median(np.abs(x - mean), axis=0) * 1.4826
    cov = np.diag(np.maximum(mad, MIN_STD) ** 2)
    cut = chi2.ppf(_FIT_QUANTILE, 2)
    # variance of a 2-D Gaussian truncated at chi-square ``cut``, relative to the full one
    shrink = chi2.cdf(cut, 4) / chi2.cdf(cut, 2)
    keep = np.ones(len(x), dtype=bool)
    for _ in range(_FIT_ITERATIONS):
        d = x - mean
        keep = np.einsum("ni,ij,nj->n", d, np.linalg.inv(cov), d) <= cut
        if int(keep.sum()) < _MIN_SEED_SAMPLES:
            break
        mean = x[keep].mean(axis=0)
        cov = np.cov(x[keep].T) / shrink
        floor = np.asarray(MIN_STD) ** 2
        cov[np.diag_indices(2)] = np.maximum(np.diag(cov), floor)
    hue = float((h0 + mean[0]) % HUE_LEVELS)
    if not SKIN_HUE[0] <= _wrap_hue(np.float64(hue)) <= SKIN_HUE[1]:
        raise ValueError(f"the centre's colour (hue {2 * hue:.0f} degrees) is not a skin hue")
    low = int(max(min_value, np.floor(min_value_rel * np.median(v[keep]))))
    return SkinModel(mean=(hue, float(mean[1])), cov=cov, radius=float(radius),
                     value_range=(low, 254), lut=_ellipse_lut(hue, float(mean[1]), cov, radius))


def _ellipse_lut(hue: float, sat: float, cov: np.ndarray, radius: float) -> np.ndarray:
    """(180, 256) float32: 255 where (hue, saturation) is within ``radius`` (Mahalanobis)."""
    dh = _wrap_hue(np.arange(HUE_LEVELS, dtype=np.float64) - hue)[:, None]
    ds = np.arange(256, dtype=np.float64)[None, :] - sat
    p = np.linalg.inv(cov)
    d2 = p[0, 0] * dh * dh + 2 * p[0, 1] * dh * ds + p[1, 1] * ds * ds
    return np.where(d2 <= radius * radius, 255.0, 0.0).astype(np.float32)


def adaptive_mask(rgb: np.ndarray, model: SkinModel) -> np.ndarray:
    """uint8 mask (255 = skin) of the pixels inside the trial's skin model: (hue, saturation)
    within the ellipse (a histogram back-projection, one table look-up per pixel) and brightness
    in ``model.value_range``."""
    hsv = cv2.cvtColor(np.ascontiguousarray(rgb), cv2.COLOR_RGB2HSV)
    chroma = cv2.calcBackProject([hsv], [0, 1], model.lut, [0, HUE_LEVELS, 0, 256], 1)
    low, high = model.value_range
    bright = cv2.inRange(hsv, (0, 0, low), (255, 255, high))
    return cv2.bitwise_and(chroma, bright)


# ---------------------------------------------------------------------------------------------
# the per-frame face traces of one trial, streamed


@dataclass
class FaceTraces:
    """The per-frame traces of one trial: whole-crop mean RGB, region mean RGB (NaN rows where
    the frame had too few region pixels), the fraction of the crop's pixels in the region, the
    fitted skin model (``adaptive``) and why the region could not be used, if it could not."""

    crop: np.ndarray
    region: np.ndarray
    fraction: np.ndarray
    model: SkinModel | None = None
    failure: str | None = None


class FaceTracer:
    """Accumulates the face traces of a trial frame by frame (``add``), then ``finish``.

    ``config`` is params.yaml ``preprocess.face_trace``. For ``adaptive`` the skin model is
    fitted on the seed region of the first ``fit_frames`` crops, which are held (copied) until
    then; every later frame is masked as it arrives, so memory stays bounded by those crops."""

    def __init__(self, n_frames: int, config: dict) -> None:
        self.config = config
        self.region = str(config["region"])
        if self.region not in TRACE_REGIONS:
            raise ValueError(f"face_trace.region must be one of {TRACE_REGIONS}, got {self.region!r}")
        self.min_fraction = float(config["min_skin_fraction"])
        self.crop = np.empty((n_frames, 3), dtype=np.float64)
        self.region_rgb = np.full((n_frames, 3), np.nan)
        self.fraction = np.zeros(n_frames, dtype=np.float32)
        self.model: SkinModel | None = None
        self.failure: str | None = None
        self._pending: list[tuple[int, np.ndarray]] = []
        self._n = 0

    def add(self, crop: np.ndarray) -> None:
        """Process the square crop of the next frame (uint8 RGB at native resolution)."""
        i = self._n
        self._n += 1
        if self.region == "crop":
            self.crop[i] = cv2.mean(crop)[:3]
            self.region_rgb[i] = self.crop[i]
            self.fraction[i] = 1.0
        elif self.region == "skin":
            cr, cb = self.config["skin_cr"], self.config["skin_cb"]
            self.crop[i], self.region_rgb[i], self.fraction[i] = face_means(crop, cr, cb, self.min_fraction)
        elif self.model is not None:
            self._masked(i, crop)
        else:
            self.crop[i] = cv2.mean(crop)[:3]
            if self.failure is None:
                self._pending.append((i, np.array(crop)))
                if len(self._pending) >= int(self.config["fit_frames"]):
                    self._fit()

    def _masked(self, i: int, crop: np.ndarray) -> None:
        assert self.model is not None
        # the region is averaged over a pixel grid of about TRACE_SIDE per side: tens of
        # thousands of pixels already average the camera noise far below the pulse, and a large
        # crop costs no more than a small one
        step = max(1, int(round(max(crop.shape[:2]) / TRACE_SIDE)))
        grid = np.ascontiguousarray(crop[::step, ::step]) if step > 1 else crop
        _, self.region_rgb[i], self.fraction[i] = region_means(
            grid, adaptive_mask(grid, self.model), self.min_fraction)
        self.crop[i] = cv2.mean(crop)[:3]

    def _fit(self) -> None:
        pending, self._pending = self._pending, []
        cfg = self.config
        try:
            samples = seed_samples([c for _, c in pending], float(cfg["seed_fraction"]))
            self.model = fit_skin_model(samples, float(cfg["radius"]), int(cfg["min_value"]),
                                        float(cfg["min_value_rel"]))
        except ValueError as err:
            self.failure = f"no skin model: {err}"
            return
        for i, crop in pending:
            self._masked(i, crop)

    def finish(self) -> FaceTraces:
        """The traces of the frames added so far (fits the model if fewer than ``fit_frames``
        frames came)."""
        if self._pending:
            self._fit()
        n = self._n
        return FaceTraces(self.crop[:n], self.region_rgb[:n], self.fraction[:n], self.model, self.failure)


# ---------------------------------------------------------------------------------------------
# the rPPG-Toolbox's enlarged face box (its protocol behind the published UBFC-rPPG and PURE errors)

LARGE_BOX_COEF = 1.5
FaceBox = tuple[int, int, int, int]  # x, y, w, h in pixels


def enlarge_box(box: FaceBox, coef: float = LARGE_BOX_COEF) -> FaceBox:
    """The toolbox's larger face box: grown by ``coef`` about its centre, clipped at 0 on the
    left and top (the right and bottom are clipped by slicing)."""
    x, y, w, h = box
    x = max(0, int(x - (coef - 1.0) / 2 * w))
    y = max(0, int(y - (coef - 1.0) / 2 * h))
    return x, y, int(coef * w), int(coef * h)


class NoFaceDetector(RuntimeError):
    """Raised by a face detector that cannot run (its package is not installed)."""


class BoxTracer:
    """Per-frame mean RGB over the toolbox's face box: the face found in the first frame by
    ``detect`` (frame -> (x, y, w, h) or None), enlarged 1.5 times and kept for the whole video
    (the toolbox's default: no dynamic detection); the whole frame when no face is found, as the
    toolbox falls back, or when the detector cannot run (``description`` says which)."""

    def __init__(self, n_frames: int, detect: Callable[[np.ndarray], FaceBox | None]) -> None:
        self.detect = detect
        self.means = np.empty((n_frames, 3), dtype=np.float64)
        self.box: FaceBox | None = None
        self.description = ""
        self._n = 0

    def add(self, frame: np.ndarray) -> None:
        if self._n == 0:
            try:
                found, why = self.detect(frame), "no face found in the first frame"
            except NoFaceDetector as err:
                found, why = None, str(err)
            if found is None:
                self.box = (0, 0, frame.shape[1], frame.shape[0])
                self.description = f"whole frame ({why})"
            else:
                self.box = enlarge_box(found)
                self.description = f"face of the first frame x{LARGE_BOX_COEF:g}: (x, y, w, h) = {self.box}"
        x, y, w, h = self.box
        self.means[self._n] = cv2.mean(np.ascontiguousarray(frame[y:y + h, x:x + w]))[:3]
        self._n += 1

    def finish(self) -> np.ndarray:
        return self.means[: self._n]

"""Stage ``preprocess``: trials -> one HDF5 file per trial in a keyed chunk cache.

``python -m pipeline preprocess --dataset bp4d --params params.yaml --raw data/raw/bp4d
--manifest data/interim/bp4d/manifest.csv --out data/cache/bp4d`` writes

    data/cache/bp4d/<key>/<trial_id>.h5     (layout: see pipeline/cache/format.py)
    data/cache/bp4d/<key>/index.csv         trial_id, subject, task, n_frames, n_chunks, fps, file, ...
    data/cache/bp4d/<key>/cache_info.json   key, settings, code version, provenance

for every trial whose manifest status is ``ok``. ``<key>`` hashes every setting that shapes the
content plus the code version, so a cache made by other settings or other code is never read
as if it were current. The whole out folder is written atomically.

Per trial (BigSmall supp. D.1/D.2, details in research notes on the authors' code):

- frames are square-cropped (anchor ``center`` | ``bottom`` | ``top``), resized to
  ``big_size`` with INTER_AREA and stored as uint8; the trial's scalar mean/std (over every pixel
  and channel of the processed segment) are attributes and standardisation happens at read time;
- Small frames are normalised differences ``(x[t+1]-x[t])/(x[t+1]+x[t]+eps)`` of the Big-size
  frames, resized to ``small_size`` with INTER_AREA and divided by the whole-trial std of the
  Big-size difference frames;
- pulse and respiration waves and the POS pseudo-PPG are difference-normalised
  ``diff(x)/std(diff(x))``; AU occurrence is binarised;
- BP4D+ (``crop_to_au_range``) keeps only the AU-coded segment, as the authors;
- the face-mean RGB trace (``rgb_mean``) behind the POS pseudo-label and the unsupervised methods
  is averaged over a face region of the square crop (``face_trace.region``): ``adaptive`` (the
  default) keeps the pixels of the trial's own skin colour, a robust Gaussian in (hue,
  saturation) fitted to the centre of the crop over the first frames (pipeline/frames.py), so it
  follows every skin tone and the colour of the light; ``skin`` is a fixed YCrCb box (it misses
  warm light and dark skin); ``crop`` averages the whole crop (the authors, who average the
  144x144 frames, the same mean up to resampling error). Hair, background and clothing move with
  the head and the shoulders; in the whole-crop mean their edges add broadband motion that POS
  cannot cancel. Frames with too few region pixels are interpolated from their neighbours; a
  trial whose region covers on average less than ``min_region_fraction`` of the crop, or is
  missing in more than half the frames, falls back to the whole crop and says why (attribute
  ``face_trace``). Quality per trial: the mean fraction of the crop's pixels averaged
  (``face_fraction``) and the pulse SNR of POS on the trace (``pulse_snr_db``, flag ``low_snr``
  below ``min_snr_db``), as ``rgb_mean`` attributes and index.csv columns; a low SNR is
  recorded, not excluded. Per frame: ``skin_fraction``, the fraction of the crop in the region.

A trial that raises InputError (short video, unreadable frame, failed pseudo-label) is left out
of the cache and listed with its reason under ``excluded`` in cache_info.json.

Length at the trial end (``diff_tail``): a difference exists for T-1 frame pairs. ``trim`` (the
default, as the original BigSmall code) stores L = T-1 frames of every array, so frame t holds
Big x[t], Small d[t] and label diff[t]: all aligned, no artificial values. ``pad_zero`` (as the
rPPG-Toolbox loader) stores L = T frames and a zero last Small frame and last label difference.
The standardisation statistics are taken over all T frames of the segment in both modes (as both
code paths do before trimming or padding).

Face alignment (``face_alignment.enabled``, the ``aligned`` cache variant of params.yaml
``cache_variants``; supp. B.7, the dagger rows): the Big frames are warped by a similarity
transform from each frame's landmarks to a canonical template (pipeline/face_align.py) instead
of being square-cropped; the Small frames, the face traces and the labels are those of the plain
cache, as the paper aligns the Big input only. ``big`` attributes ``face_aligned`` and
``landmark_fraction`` (frames with landmarks; a trial below half is excluded with the reason).

Streaming: one pass decodes, crops, resizes and writes Big frames block by block while
accumulating the statistics of the Big frames and of their difference frames, and keeps the
unscaled Small frames (9x9x3 floats per frame), which are scaled by the trial's difference std
once it is known. Only a block of video frames is alive at any time, so peak memory does not
grow with the frame size (per-frame scalars such as the face-mean RGB trace, the labels and the
Small frames are small).
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from functools import partial
from typing import Any, Callable, Iterable, Iterator

import h5py
import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline import face_align
from pipeline import frames as frame_ops
from pipeline.atomic import atomic_path, write_json
from pipeline.cache.format import FORMAT_VERSION, INDEX_COLUMNS, QUALITY_COLUMNS, chunk_rows
from pipeline.config import load_params, params_hash, variant_section
from pipeline.dag.closure import code_fingerprint
from pipeline.datasets.base import TrialData
from pipeline.errors import InputError
from pipeline.manifest import read_manifest
from pipeline.provenance import provenance
from pipeline.signals.pos import pos
from pipeline.signals.pseudo_label import pos_pseudo_label
from pipeline.signals.quality import pulse_snr_db

# labels stored raw (aligned to frames) and, for the waves, difference-normalised
WAVE_SIGNALS = ("pulse", "resp")
RATE_SIGNALS = ("hr_bpm", "resp_bpm")
# the manifest columns preprocessing reads
MANIFEST_COLUMNS = ("trial_id", "subject", "task", "status")
# frames per block in both passes: bounds memory whatever the video length
DEFAULT_BLOCK_FRAMES = 64
# a skin trace with more missing frames than this is not trusted: the whole-crop mean is used
MAX_SKINLESS_FRACTION = 0.5
DEFAULT_FACE_TRACE = {
    "region": "adaptive", "seed_fraction": 0.3, "radius": 3.0, "fit_frames": 10, "min_value": 20,
    "min_value_rel": 0.4, "skin_cr": [133, 173], "skin_cb": [77, 127], "min_skin_fraction": 0.02,
    "min_region_fraction": 0.05, "min_snr_db": -6.0,
}
DEFAULT_FACE_ALIGNMENT = {"enabled": False, "source": "auto", "scale": 0.8}


@dataclass(frozen=True)
class Settings:
    """The ``preprocess`` params resolved for one dataset (all of them shape the content,
    except ``compression`` which only changes how the bytes are stored)."""

    big_size: int = 144
    small_size: int = 9
    chunk_length: int = 3
    crop_anchor: str = "center"
    face_trace: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_FACE_TRACE))
    face_alignment: dict[str, Any] = field(default_factory=lambda: dict(DEFAULT_FACE_ALIGNMENT))
    crop_to_au_range: bool = False
    diff_tail: str = "trim"
    small_dtype: str = "float32"
    pseudo_label: dict[str, Any] = field(default_factory=dict)
    compression: str = "none"

    def shaping(self) -> dict[str, Any]:
        """The settings that shape the cache content (the cache key covers exactly these)."""
        d = asdict(self)
        d.pop("compression")
        return d


def settings_from_params(params: dict[str, Any], dataset: str, variant: str | None = None) -> Settings:
    """Resolve params.yaml for ``dataset`` (and a cache variant): the ``preprocess`` section
    (``variant_section``) plus the POS pseudo-label keys of ``signals``
    (``signals.pseudo_label``, ``signals.pos.window_s``). Per-dataset lists become booleans, so
    editing the list for one dataset does not change another's key."""
    section = variant_section(params, variant)
    signals = params.get("signals", {})
    pseudo = dict(signals.get("pseudo_label", {}))
    if "window_s" in signals.get("pos", {}):
        pseudo["window_s"] = signals["pos"]["window_s"]
    return Settings(
        big_size=int(section["big_size"]),
        small_size=int(section["small_size"]),
        chunk_length=int(section["chunk_length"]),
        crop_anchor=str(section["crop_anchor"]),
        face_trace=dict(section["face_trace"]),
        face_alignment={**DEFAULT_FACE_ALIGNMENT, **section.get("face_alignment", {})},
        crop_to_au_range=dataset in section["crop_to_au_range"],
        diff_tail=str(section["diff_tail"]),
        small_dtype=str(section["small_dtype"]),
        pseudo_label=pseudo,
        compression=str(section["compression"]),
    )


# ---------------------------------------------------------------------------------------------
# cache key


def code_version() -> str:
    """Hash of the cache format version and of every file this module runs or reads (its import
    closure: the writer, frame operations, layout readers, label alignment, the signal code
    behind the POS pseudo-label). The DAG's preprocess job depends on the same files, so an edit
    that re-runs the job also changes the key, and no other edit does. The dataset enters the
    key separately (``cache_key``)."""
    return code_fingerprint("pipeline.preprocess", extra=FORMAT_VERSION)


def cache_key(dataset: str, settings: Settings, code: str | None = None) -> str:
    """Name of the key folder: hash of the shaping settings, the dataset and the code version."""
    code = code_version() if code is None else code
    return params_hash({"dataset": dataset, "settings": settings.shaping(), "code": code})


# ---------------------------------------------------------------------------------------------
# statistics and label normalisation


class RunningMoments:
    """Count, mean and sum of squared deviations merged block by block (Chan et al.), float64."""

    def __init__(self) -> None:
        self.n = 0
        self.mean = 0.0
        self.m2 = 0.0

    def update(self, values: np.ndarray) -> None:
        v = values.astype(np.float64, copy=False).ravel()
        n_b = v.size
        if n_b == 0:
            return
        mean_b = float(v.sum()) / n_b
        c = v - mean_b
        m2_b = float(np.einsum("i,i->", c, c))  # one pass; BLAS dot is slower on small vectors
        n = self.n + n_b
        delta = mean_b - self.mean
        self.mean += delta * n_b / n
        self.m2 += m2_b + delta * delta * self.n * n_b / n
        self.n = n

    @property
    def std(self) -> float:
        """Population standard deviation (ddof 0, as numpy's default used by the authors)."""
        return float(np.sqrt(self.m2 / self.n)) if self.n else 0.0


class Uint8Moments:
    """Exact mean and std of uint8 values from a 256-bin histogram (integer counts)."""

    def __init__(self) -> None:
        self.counts = np.zeros(256, dtype=np.int64)

    def update(self, values: np.ndarray) -> None:
        self.counts += np.bincount(values.ravel(), minlength=256)

    @property
    def n(self) -> int:
        return int(self.counts.sum())

    @property
    def mean(self) -> float:
        n = self.n
        return float(self.counts @ np.arange(256, dtype=np.float64)) / n if n else 0.0

    @property
    def std(self) -> float:
        n = self.n
        if not n:
            return 0.0
        levels = np.arange(256, dtype=np.float64) - self.mean
        return float(np.sqrt(self.counts @ (levels * levels) / n))


def diff_normalise(x: np.ndarray) -> np.ndarray:
    """``diff(x) / std(diff(x))`` as float32 (length T-1); zeros if the std is 0 or not finite."""
    d = np.diff(np.asarray(x, dtype=np.float64))
    sd = float(d.std()) if d.size else 0.0
    if not np.isfinite(sd) or sd == 0.0:
        return np.zeros(d.shape, dtype=np.float32)
    out = d / sd
    return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32)


def _tail(x: np.ndarray, length: int) -> np.ndarray:
    """Fit a length-(T-1) difference series to the stored length (append zeros when padding)."""
    if x.shape[0] >= length:
        return x[:length]
    pad = np.zeros((length - x.shape[0],) + x.shape[1:], dtype=x.dtype)
    return np.concatenate([x, pad])


# ---------------------------------------------------------------------------------------------
# per-trial core


def _segment(trial: TrialData, settings: Settings) -> tuple[int, int]:
    if settings.crop_to_au_range and trial.au_range is not None:
        start, stop = (int(v) for v in trial.au_range)
    else:
        start, stop = 0, int(trial.n_frames)
    if not 0 <= start < stop <= trial.n_frames:
        raise InputError(_trial_path(trial), f"AU range {start}..{stop} outside the video")
    if stop - start < 2:
        raise InputError(_trial_path(trial), "fewer than 2 frames to preprocess")
    return start, stop


def _trial_path(trial: TrialData) -> str:
    paths = trial.ref.paths
    return str(next(iter(paths.values()))) if paths else trial.ref.trial_id


def _h5_opts(settings: Settings) -> dict[str, Any]:
    return {} if settings.compression == "none" else {"compression": settings.compression}


def _segment_frames(trial: TrialData, start: int, stop: int) -> Iterator[tuple[int, np.ndarray]]:
    """``(video index, frame)`` of the segment, each checked to be an HxWx3 uint8 RGB image."""
    for idx, frame in enumerate(trial.frames()):
        if idx < start:
            continue
        if idx >= stop:
            break
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise InputError(_trial_path(trial), f"frame {idx} is not an HxWx3 uint8 RGB image")
        yield idx, frame


def _pass1_big(
    trial: TrialData, settings: Settings, h5: h5py.File, start: int, stop: int, block: int,
    landmarks: face_align.FrameLandmarks | None = None,
) -> tuple[frame_ops.FaceTraces, Uint8Moments, RunningMoments, np.ndarray, float | None, frame_ops.BoxTracer]:
    """Decode, crop, resize and write Big frames; return the face traces (whole-crop and region
    mean RGB, region fraction per frame), the moments of the Big frames and of the Big-size
    difference frames, the Small frames before their scaling by the trial's difference std,
    (aligned Big frames only) the fraction of frames with landmarks, and the trace over the
    rPPG-Toolbox's face box (``rgb_mean_box``).

    The Small frames and the face traces always come from the square crop: alignment (when
    ``settings.face_alignment`` is enabled, ``landmarks`` giving each frame's landmarks) changes
    the Big input only, as the paper's dagger rows."""
    n = stop - start
    size = settings.big_size
    s = settings.small_size
    big = h5.create_dataset(
        "big",
        shape=(n, size, size, 3),
        maxshape=(None, size, size, 3),
        dtype=np.uint8,
        chunks=(chunk_rows(settings.chunk_length, size * size * 3, n),) + (size, size, 3),
        **_h5_opts(settings),
    )
    tracer = frame_ops.FaceTracer(n, face_trace_config(settings))
    box_tracer = frame_ops.BoxTracer(n, face_box)
    buf = np.empty((block, size, size, 3), dtype=np.uint8)
    small = np.zeros((max(n - 1, 0), s, s, 3), dtype=np.float32)
    big_m, diff_m = Uint8Moments(), RunningMoments()
    source = _segment_frames(trial, start, stop)
    if settings.face_alignment.get("enabled"):
        if landmarks is None:
            raise ValueError("face alignment enabled but no landmark source given")
        aligner = face_align.Aligner(size, float(settings.face_alignment.get("scale", 0.8)))
        frames = face_align.aligned_frames(source, landmarks, aligner, _trial_path(trial))
    else:
        frames = ((frame, None, True) for _, frame in source)
    prev: np.ndarray | None = None
    found = 0
    i = 0  # index within the segment
    for frame, aligned, had_landmarks in frames:
        crop = frame_ops.square_crop(frame, settings.crop_anchor)
        tracer.add(crop)
        box_tracer.add(frame)
        resized = frame_ops.resize_area(crop, size)
        if prev is not None:
            d = frame_ops.diff_frame(prev, resized)
            diff_m.update(d)
            small[i - 1] = frame_ops.resize_area(d, s)
        prev = resized
        shown = resized if aligned is None else aligned
        big_m.update(shown)
        buf[i % block] = shown
        found += bool(had_landmarks)
        i += 1
        if i % block == 0:
            big[i - block : i] = buf
    if i != n:
        raise InputError(_trial_path(trial), f"video ended after {start + i} of {stop} frames")
    rest = i % block
    if rest:
        big[i - rest : i] = buf[:rest]
    coverage = found / n if settings.face_alignment.get("enabled") else None
    if coverage is not None:
        face_align.check_coverage(found, n, _trial_path(trial))
    return tracer.finish(), big_m, diff_m, small, coverage, box_tracer


def face_box(frame: np.ndarray) -> frame_ops.FaceBox | None:
    """The face box of the box trace (MediaPipe's face mesh). Without mediapipe the trace falls
    back to the whole frame and its ``face_box`` attribute says why."""
    try:
        return face_align.mediapipe_face_box(frame)
    except InputError as err:  # mediapipe not installed
        raise frame_ops.NoFaceDetector(str(err)) from None


def face_trace_config(settings: Settings) -> dict[str, Any]:
    """``settings.face_trace`` over the defaults (a config naming only the keys its region uses
    still resolves)."""
    return {**DEFAULT_FACE_TRACE, **settings.face_trace}


def select_face_trace(traces: frame_ops.FaceTraces, config: dict[str, Any]) -> tuple[np.ndarray, str]:
    """The face trace for ``config['region']`` and a description of what was used.

    ``adaptive`` and ``skin``: the region mean with region-less frames (NaN rows) linearly
    interpolated from their neighbours, or the whole-crop mean, with the reason, when the region
    cannot be trusted: no skin model could be fitted, the region covers on average less than
    ``min_region_fraction`` of the crop (the colour found is not the face's: the fixed box under
    warm light keeps a few percent of the pixels and their mean has no pulse), or more than
    ``MAX_SKINLESS_FRACTION`` of the frames have too few region pixels."""
    region = str(config["region"])
    if region == "crop":
        return traces.crop, "crop"
    if traces.failure is not None:
        return traces.crop, f"crop ({region} region failed: {traces.failure})"
    used = float(np.mean(traces.fraction)) if traces.fraction.size else 0.0
    limit = float(config["min_region_fraction"])
    if used < limit:
        return traces.crop, f"crop ({region} region covered {used:.1%} of the crop, below {limit:.1%})"
    missing = ~np.isfinite(traces.region).all(axis=1)
    if missing.mean() > MAX_SKINLESS_FRACTION:
        return traces.crop, f"crop ({region} region found in only {1 - missing.mean():.0%} of frames)"
    if not missing.any():
        return traces.region, region
    t = np.arange(len(traces.region))
    filled = traces.region.copy()
    for c in range(3):
        filled[missing, c] = np.interp(t[missing], t[~missing], traces.region[~missing, c])
    return filled, f"{region} ({int(missing.sum())} skinless frames interpolated)"


def trace_quality(
    rgb: np.ndarray, trace_used: str, traces: frame_ops.FaceTraces, fps: float, settings: Settings
) -> dict[str, Any]:
    """Quality figures of the face trace used: the mean fraction of the crop's pixels averaged
    (1 for the whole crop), the pulse SNR (dB) of its POS signal, and a flag when the SNR is
    below ``min_snr_db``. A low SNR is recorded, not excluded: dropping the hard trials would
    bias the POS/CHROM error down."""
    config = face_trace_config(settings)
    fraction = 1.0 if trace_used.startswith("crop") else float(np.mean(traces.fraction))
    try:
        window = float(settings.pseudo_label.get("window_s", 1.6))
        snr = pulse_snr_db(pos(rgb, fps, window), fps)
    except ValueError:  # shorter than a POS window, or a band the frame rate cannot hold
        snr = float("nan")
    low = not snr >= float(config["min_snr_db"])  # NaN (no pulse band to measure) is low too
    quality: dict[str, Any] = {"face_fraction": round(fraction, 4),
                               "pulse_snr_db": round(snr, 2) if np.isfinite(snr) else float("nan"),
                               "low_snr": low}
    if traces.model is not None:
        m = traces.model
        quality["skin_model"] = json.dumps({"hue": round(m.mean[0], 2), "saturation": round(m.mean[1], 2),
                                            "cov": np.round(m.cov, 3).tolist(), "radius": m.radius,
                                            "value_range": list(m.value_range)})
    return quality


def _write_small(h5: h5py.File, settings: Settings, small: np.ndarray, length: int, diff_std: float) -> None:
    """The Small frames divided by the trial's difference std (``pad_zero``: a zero last frame)."""
    s = settings.small_size
    dset = h5.create_dataset(
        "small",
        shape=(length, s, s, 3),
        dtype=np.dtype(settings.small_dtype),
        chunks=(chunk_rows(settings.chunk_length, s * s * 3 * 4, length),) + (s, s, 3),
        **_h5_opts(settings),
    )
    scale = 1.0 / diff_std if np.isfinite(diff_std) and diff_std > 0 else 0.0
    n = small.shape[0]
    dset[:n] = np.nan_to_num(small * np.float32(scale), nan=0.0).astype(dset.dtype)
    if length > n:  # pad_zero: the last Small frame has no successor
        dset[n:] = 0


def preprocess_trial(
    trial: TrialData,
    out_file: str | Path,
    settings: Settings,
    key: str = "",
    prov: dict | None = None,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
    landmarks: face_align.FrameLandmarks | None = None,
) -> dict[str, Any]:
    """Write one trial's HDF5 file (atomically) and return its index.csv row.

    Streams ``trial.frames()`` once; memory is bounded by ``block_frames`` frames (plus the
    trial's Small frames, 9x9x3 floats each). ``landmarks`` gives each frame's landmarks when
    ``settings.face_alignment`` is enabled (``face_align.landmark_source``).
    """
    if settings.crop_anchor not in frame_ops.ANCHORS:
        raise ValueError(f"crop_anchor must be one of {frame_ops.ANCHORS}")
    if settings.face_trace["region"] not in frame_ops.TRACE_REGIONS:
        raise ValueError(f"face_trace.region must be one of {frame_ops.TRACE_REGIONS}")
    trace_config = face_trace_config(settings)
    start, stop = _segment(trial, settings)
    n = stop - start
    length = n - 1 if settings.diff_tail == "trim" else n
    block = max(1, int(block_frames))
    out_file = Path(out_file)
    with atomic_path(out_file) as tmp:
        with h5py.File(tmp, "w") as h5:
            traces, big_m, diff_m, small, coverage, box = _pass1_big(trial, settings, h5, start, stop, block,
                                                                     landmarks)
            rgb, trace_used = select_face_trace(traces, trace_config)
            quality = trace_quality(rgb[:length], trace_used, traces, float(trial.fps), settings)
            _write_small(h5, settings, small, length, diff_m.std)
            if length < n:
                h5["big"].resize(length, axis=0)
            h5["big"].attrs["mean"] = big_m.mean
            h5["big"].attrs["std"] = big_m.std
            h5["big"].attrs["face_aligned"] = coverage is not None
            if coverage is not None:
                h5["big"].attrs["landmark_fraction"] = round(coverage, 4)
            h5["small"].attrs["diff_std"] = diff_m.std
            h5.create_dataset("rgb_mean", data=rgb[:length])
            h5["rgb_mean"].attrs["face_trace"] = trace_used
            for name, value in quality.items():
                h5["rgb_mean"].attrs[name] = value
            # the whole crop's mean as well: the authors' BP4D+ code averages the whole frame, which
            # is how the published POS/CHROM errors were measured (unsupervised option 'trace')
            h5.create_dataset("rgb_mean_crop", data=np.asarray(traces.crop)[:length])
            # and the mean over the rPPG-Toolbox's face box (its protocol behind the published
            # UBFC-rPPG and PURE errors of POS and CHROM)
            h5.create_dataset("rgb_mean_box", data=box.finish()[:length])
            h5["rgb_mean_box"].attrs["face_box"] = box.description
            h5.create_dataset("skin_fraction", data=traces.fraction[:length])
            h5.create_dataset("frame_index", data=np.arange(start, start + length, dtype=np.int64))
            labels = _write_labels(h5, trial, settings, rgb, start, stop, length)
            _write_attrs(h5, trial, settings, start, stop, length, key, prov)
    return {
        "trial_id": trial.ref.trial_id,
        "subject": trial.ref.subject,
        "task": trial.ref.task,
        "n_frames": length,
        "n_chunks": length // settings.chunk_length,
        "fps": float(trial.fps),
        "file": out_file.name,
        "labels": " ".join(labels),
        "face_trace": trace_used,
        **{k: quality[k] for k in QUALITY_COLUMNS if k != "face_trace"},
    }


def _write_labels(
    h5: h5py.File,
    trial: TrialData,
    settings: Settings,
    rgb: np.ndarray,
    start: int,
    stop: int,
    length: int,
) -> list[str]:
    grp = h5.create_group("labels")
    for name, values in sorted(trial.signals.items()):
        seg = np.asarray(values, dtype=np.float64)[start:stop]
        if seg.shape[0] != stop - start:
            raise InputError(_trial_path(trial), f"label '{name}' shorter than the video")
        if name in WAVE_SIGNALS:
            grp.create_dataset(f"{name}_raw", data=seg[:length].astype(np.float32))
            grp.create_dataset(name, data=_tail(diff_normalise(seg), length))
        else:
            grp.create_dataset(name, data=seg[:length].astype(np.float32))
    if "pulse" in trial.signals:
        try:
            filtered, env = pseudo_ppg(rgb, trial.fps, trial.signals["pulse"][start:stop], settings)
        except ValueError as err:
            if trial.pulse_kind != "ppg":
                # the pseudo-label is this trial's only pulse training target (BP4D+: BP wave)
                raise InputError(_trial_path(trial), f"POS pseudo-label failed: {err}") from None
            # a measured PPG is the target: keep the trial, record why the extra label is absent
            grp.attrs["pos_ppg_missing"] = f"POS pseudo-label failed: {err}"
        else:
            grp.create_dataset("pos_ppg_filtered", data=filtered[:length].astype(np.float32))
            grp.create_dataset("pos_ppg_raw", data=env[:length].astype(np.float32))
            grp.create_dataset("pos_ppg", data=_tail(diff_normalise(env), length))
    if trial.au is not None:
        au = np.asarray(trial.au)[start:stop][:length]
        # occurrence: 1 active; every other coded value is inactive (as the authors); -1 uncoded
        au = np.where(au == 1, 1, np.where(au < 0, -1, 0)).astype(np.int8)
        dset = grp.create_dataset("au", data=au)
        dset.attrs["au_names"] = list(trial.au_names)
    return sorted(grp.keys())


def pseudo_ppg(
    rgb: np.ndarray, fps: float, reference_pulse: np.ndarray, settings: Settings
) -> tuple[np.ndarray, np.ndarray]:
    """POS pseudo-PPG (band-passed, envelope-normalised) of the face-mean RGB trace."""
    kwargs = dict(settings.pseudo_label)
    if "limits_hz" in kwargs:
        kwargs["limits_hz"] = tuple(kwargs["limits_hz"])
    filtered, env = pos_pseudo_label(
        rgb, fps, np.asarray(reference_pulse, dtype=np.float64), **kwargs
    )
    return np.asarray(filtered, dtype=np.float64), np.asarray(env, dtype=np.float64)


def _write_attrs(
    h5: h5py.File,
    trial: TrialData,
    settings: Settings,
    start: int,
    stop: int,
    length: int,
    key: str,
    prov: dict | None,
) -> None:
    ref = trial.ref
    attrs = h5.attrs
    attrs["format_version"] = FORMAT_VERSION
    attrs["dataset"] = ref.dataset
    attrs["subject"] = ref.subject
    attrs["task"] = ref.task
    attrs["trial_id"] = ref.trial_id
    attrs["fps"] = float(trial.fps)
    attrs["n_frames"] = int(length)
    attrs["video_n_frames"] = int(trial.n_frames)
    attrs["segment"] = np.array([start, stop], dtype=np.int64)
    attrs["pulse_kind"] = trial.pulse_kind or ""
    rng = trial.au_range
    attrs["au_range"] = np.array(rng if rng is not None else [-1, -1], dtype=np.int64)
    attrs["cache_key"] = key
    attrs["chunk_length"] = int(settings.chunk_length)
    attrs["crop_anchor"] = settings.crop_anchor
    attrs["diff_tail"] = settings.diff_tail
    attrs["settings"] = json.dumps(asdict(settings), sort_keys=True)
    attrs["provenance"] = json.dumps(prov or {}, sort_keys=True, default=str)


# ---------------------------------------------------------------------------------------------
# dataset level


def ok_trials(path: str | Path) -> pd.DataFrame:
    """The manifest's trials with status ok (raises InputError on a bad manifest)."""
    table = read_manifest(path, required=MANIFEST_COLUMNS)
    return table[table["status"] == "ok"].reset_index(drop=True)


def preprocess_trials(
    dataset: str,
    trials: Iterable[TrialData | "LazyTrial"],
    out: str | Path,
    settings: Settings,
    info: dict[str, Any] | None = None,
    total: int | None = None,
    progress: bool = True,
    block_frames: int = DEFAULT_BLOCK_FRAMES,
    code: str | None = None,
    landmarks_for: Callable[[TrialData], face_align.FrameLandmarks] | None = None,
) -> Path:
    """Write the keyed cache of ``trials`` under ``out`` atomically; return the key folder.

    ``trials`` holds TrialData or lazy loaders (``LazyTrial``), so one trial is in memory at a
    time. A trial that raises InputError (unreadable, too short, failed pseudo-label) is left
    out and listed with its reason under ``excluded`` in cache_info.json; other errors abort
    and leave no out folder. ``landmarks_for(trial)`` gives a trial's landmarks when the settings
    align the Big frames.
    """
    out = Path(out)
    code = code_version() if code is None else code  # read the sources once per run
    key = cache_key(dataset, settings, code)
    prov = provenance(
        {"dataset": dataset, "settings": asdict(settings)}, (info or {}).get("data_paths", ())
    )
    rows: list[dict[str, Any]] = []
    excluded: list[dict[str, str]] = []
    with atomic_path(out, is_dir=True) as tmp:
        keydir = tmp / key
        keydir.mkdir()
        bar = tqdm(trials, total=total, desc=f"preprocess {dataset}", unit="trial",
                   disable=not progress, file=sys.stderr)
        for item in bar:
            trial_id = item.ref.trial_id if isinstance(item, TrialData) else item.trial_id
            try:
                trial = item if isinstance(item, TrialData) else item()
                file = keydir / f"{trial_id}.h5"
                landmarks = landmarks_for(trial) if landmarks_for is not None else None
                rows.append(preprocess_trial(trial, file, settings, key, prov, block_frames, landmarks))
            except InputError as err:  # one bad trial is recorded, not fatal for the dataset
                excluded.append({"trial_id": trial_id, "reason": str(err)})
                print(f"preprocess {dataset}: excluded {err}", file=sys.stderr)
        if not rows:
            raise InputError(out, f"no trial could be preprocessed ({len(excluded)} excluded)")
        pd.DataFrame(rows, columns=list(INDEX_COLUMNS) + list(QUALITY_COLUMNS)).to_csv(
            keydir / "index.csv", index=False)
        write_json(
            keydir / "cache_info.json",
            {
                "key": key,
                "dataset": dataset,
                "format_version": FORMAT_VERSION,
                "code_version": code,
                "settings": asdict(settings),
                "n_trials": len(rows),
                "excluded": excluded,
                "provenance": prov,
                **{k: v for k, v in (info or {}).items() if k != "data_paths"},
            },
        )
    return out / key


@dataclass(frozen=True)
class LazyTrial:
    """A trial loaded only when called (``layout.load_trial(ref)``)."""

    trial_id: str
    load: Callable[[], TrialData]

    def __call__(self) -> TrialData:
        return self.load()


def preprocess_dataset(
    dataset: str,
    raw: str | Path,
    manifest: str | Path,
    out: str | Path,
    settings: Settings,
    progress: bool = True,
) -> Path:
    """Preprocess every ok trial of ``manifest`` read from ``raw`` with the dataset's layout."""
    from pipeline.datasets import get_layout

    raw, manifest = Path(raw), Path(manifest)
    table = ok_trials(manifest)
    layout = get_layout(dataset)
    refs = {ref.trial_id: ref for ref in layout.list_trials(raw)}
    wanted = list(table["trial_id"])
    absent = [t for t in wanted if t not in refs]
    if absent:
        raise InputError(raw, f"trial {absent[0]} of the manifest not found in the raw data")
    trials = [LazyTrial(t, partial(layout.load_trial, refs[t])) for t in wanted]
    info = {
        "raw": str(raw),
        "manifest": str(manifest),
        "data_paths": [manifest],
    }
    landmarks_for = None
    if settings.face_alignment.get("enabled"):
        source = str(settings.face_alignment.get("source", "auto"))
        info["landmark_source"] = face_align.resolve_source(source, raw)
        if info["landmark_source"] == "mediapipe":
            face_align.mediapipe_landmarks()  # a missing detector stops the stage once, in one line
        landmarks_for = partial(_trial_landmarks, source, raw)
    return preprocess_trials(dataset, trials, out, settings, info, total=len(wanted),
                             progress=progress, landmarks_for=landmarks_for)


def _trial_landmarks(source: str, raw: Path, trial: TrialData) -> face_align.FrameLandmarks:
    return face_align.landmark_source(source, raw, trial.ref.trial_id, int(trial.n_frames))


def preprocess_from_params(dataset: str, raw: Path, manifest: Path, out: Path, params: dict,
                           progress: bool = True, variant: str | None = None) -> str:
    """Write the keyed cache of ``dataset`` (of cache variant ``variant``: params.yaml
    ``cache_variants``) with the settings of params.yaml; one-line summary."""
    settings = settings_from_params(params, dataset, variant)
    keydir = preprocess_dataset(dataset, raw, manifest, out, settings, progress=progress)
    what = dataset if variant is None else f"{dataset} ({variant})"
    return f"preprocess {what}: cache written to {keydir}"

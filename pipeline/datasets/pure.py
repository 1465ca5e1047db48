"""PURE layout: PNG frames named by timestamp plus one JSON file of timestamped sensor data.

::

    <NN-MM>/<NN-MM>/Image<timestamp_ns>.png
    <NN-MM>/<NN-MM>.json   {"/FullPackage": [{"Timestamp": ns, "Value": {"waveform": ..,
                            "pulseRate": .., "o2saturation": ..}}, ...],
                            "/Image": [{"Timestamp": ns}, ...]}

NN is the person, MM the setup (recording). Both streams carry timestamps, so the PPG is
interpolated at the frame times (not stretched over the trial) and fps comes from the frame
timestamps.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from pipeline.datasets import align
from pipeline.datasets.base import Stray, TrialData, TrialRef, strays
from pipeline.datasets.labels import finite
from pipeline.datasets.media import decode_image, encode_image, peek
from pipeline.errors import InputError

NAME = "pure"
FPS = 30.0
TRIAL_RE = re.compile(r"^(\d{2})-(\d{2})$")
IMAGE_RE = re.compile(r"^Image(\d+)\.png$")


def _name(person: int, setup: int) -> str:
    return f"{int(person):02d}-{int(setup):02d}"


def _json_number(v: float | int) -> float | int:
    return int(v) if float(v).is_integer() else float(v)


def write_trial(root: Path, person: int, setup: int, frames: Iterable[np.ndarray],
                frame_timestamps_ns: np.ndarray, ppg: np.ndarray, ppg_timestamps_ns: np.ndarray,
                pulse_rate_bpm: np.ndarray | None = None,
                o2saturation: np.ndarray | None = None) -> None:
    """Write ``<NN-MM>/<NN-MM>/Image<ts>.png`` frames and the ``<NN-MM>.json`` sensor file."""
    name = _name(person, setup)
    tdir = Path(root) / name
    fdir = tdir / name
    fdir.mkdir(parents=True, exist_ok=True)
    fts = np.asarray(frame_timestamps_ns, np.int64)
    pts = np.asarray(ppg_timestamps_ns, np.int64)
    ppg = np.asarray(ppg).ravel()
    if len(pts) != len(ppg):
        raise ValueError("ppg and ppg_timestamps_ns differ in length")
    extra = {k: np.asarray(v).ravel() for k, v in
             (("pulseRate", pulse_rate_bpm), ("o2saturation", o2saturation)) if v is not None}
    if any(len(v) != len(ppg) for v in extra.values()):
        raise ValueError("pulse_rate_bpm / o2saturation must match ppg in length")
    _, it = peek(frames, fdir)
    n = 0
    for frame in it:
        if n >= len(fts):
            raise ValueError(f"{fdir}: more frames than frame_timestamps_ns")
        (fdir / f"Image{int(fts[n])}.png").write_bytes(encode_image(frame, ".png"))
        n += 1
    if n != len(fts):
        raise ValueError(f"{fdir}: {n} frames but {len(fts)} frame timestamps")
    package = []
    for i in range(len(ppg)):
        value = {k: _json_number(v[i]) for k, v in sorted(extra.items())}
        value["waveform"] = _json_number(ppg[i])
        package.append({"Timestamp": int(pts[i]), "Value": value})
    doc = {"/FullPackage": package, "/Image": [{"Timestamp": int(t)} for t in fts]}
    (tdir / f"{name}.json").write_text(json.dumps(doc, separators=(",", ":")))


def list_trials(root: Path) -> list[TrialRef]:
    """One trial per ``NN-MM`` folder; subject = person NN, task = setup MM."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "dataset folder missing")
    refs = []
    for d in sorted(root.iterdir()):
        m = TRIAL_RE.match(d.name)
        if d.is_dir() and m:
            refs.append(TrialRef(NAME, m.group(1), m.group(2), d.name,
                                 {"frames": d / d.name, "labels": d / f"{d.name}.json"}))
    if not refs:
        raise InputError(root, "no PURE trials (expected NN-MM/ folders)")
    return refs


def list_strays(root: Path) -> list[Stray]:
    """Folders beside the trials whose name is not ``NN-MM``."""
    root = Path(root)
    return strays(root, root, lambda p: bool(TRIAL_RE.match(p.name)), "NN-MM")


def _timestamps(entries: object, key: str, path: Path) -> np.ndarray:
    if not isinstance(entries, list) or not entries:
        raise InputError(path, f"'{key}' missing or empty")
    try:
        ts = np.array([e["Timestamp"] for e in entries], dtype=np.int64)
    except (KeyError, TypeError, ValueError):
        raise InputError(path, f"'{key}' entries without a numeric Timestamp") from None
    if len(ts) > 1 and np.any(np.diff(ts) <= 0):
        raise InputError(path, f"'{key}' timestamps not strictly increasing")
    return ts


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise InputError(path, "label file missing")
    try:
        doc = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError):
        raise InputError(path, "unparseable JSON") from None
    if not isinstance(doc, dict):
        raise InputError(path, "unparseable JSON (top level is not an object)")
    return doc


def _read_frame(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as err:
        raise InputError(path, f"frame unreadable ({type(err).__name__})") from None


def load_trial(ref: TrialRef) -> TrialData:
    """Read one PURE trial; PPG (and pulse rate) interpolated at the frame timestamps."""
    fdir, jpath = ref.paths["frames"], ref.paths["labels"]
    images = sorted((int(m.group(1)), p) for p in (fdir.iterdir() if fdir.is_dir() else [])
                    if (m := IMAGE_RE.match(p.name)))
    if not images:
        raise InputError(fdir, "no frames (empty trial folder)")
    doc = _read_json(jpath)
    t_img = _timestamps(doc.get("/Image"), "/Image", jpath)
    if len(t_img) != len(images):
        raise InputError(jpath, f"{len(t_img)} /Image timestamps but {len(images)} PNG frames")
    package = doc.get("/FullPackage")
    t_ppg = _timestamps(package, "/FullPackage", jpath)
    try:
        wave = np.array([e["Value"]["waveform"] for e in package], dtype=np.float64)
        rate = (np.array([e["Value"]["pulseRate"] for e in package], dtype=np.float64)
                if all("pulseRate" in e["Value"] for e in package) else None)
    except (KeyError, TypeError, ValueError):
        raise InputError(jpath, "'/FullPackage' entries without a numeric Value.waveform") from None
    wave = finite(wave, jpath)
    n_frames = len(images)
    if n_frames < 2:
        raise InputError(fdir, "fewer than 2 frames")
    span_s = (t_img[-1] - t_img[0]) / 1e9
    fps = (n_frames - 1) / span_s
    t_frame = (t_img - t_img[0]) / 1e9
    t_label = (t_ppg - t_img[0]) / 1e9
    signals = {"pulse": align.interp_at(t_frame, t_label, wave)}
    if rate is not None:
        signals["hr_bpm"] = align.interp_at(t_frame, t_label, finite(rate, jpath))
    paths = [p for _, p in images]
    first = decode_image(_read_frame(paths[0]), paths[0])
    # the label must cover the frames: measure how much of [first, last frame] it spans
    covered = min(t_label[-1], t_frame[-1]) - max(t_label[0], 0.0)
    dt_frame = 1.0 / fps

    def frames() -> Iterator[np.ndarray]:
        for p in paths:
            yield decode_image(_read_frame(p), p)

    return TrialData(
        ref=ref, fps=float(fps), n_frames=n_frames, frame_shape=tuple(first.shape), frames=frames,
        signals=signals, pulse_kind="ppg",
        meta={"video_duration_s": float(span_s + dt_frame),
              "label_duration_s": {k: float(max(covered, 0.0) + dt_frame) for k in signals},
              "label_len": {k: len(wave) for k in signals}})

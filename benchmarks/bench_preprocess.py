"""Preprocessing benchmark: throughput against decode-only, peak memory against video length,
cache size against the authors' per-chunk pickles.

    python benchmarks/bench_preprocess.py [--frames 250] [--height 1040 --width 1392]
                                          [--raw data/raw/bp4d --dataset bp4d]

Without ``--raw`` a BP4D+-like trial (portrait JPEG frames in the real zip layout, 1 kHz
physiology) is generated in-process at the given size; with ``--raw`` the first trial of that
dataset is used. Printed figures:

1. preprocessing frames/s (decode + crop + resize + HDF5 write + Small pass + labels + POS) and
   its ratio to decode-only frames/s of the same video;
2. peak RSS (``ru_maxrss`` of a fresh subprocess) preprocessing a streamed video of F frames and
   one of 4F frames: streaming keeps them about equal;
3. cache bytes per frame against float32 pickles of ``{0: big (N,S,S,3), 1: small (N,s,s,3)}``
   plus a float32 (N, 49) label array per chunk (the authors' format).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import pickle
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.cache.reader import TrialCache  # noqa: E402
from pipeline.datasets.base import TrialData, TrialRef  # noqa: E402
from pipeline.config import load_params  # noqa: E402
from pipeline.preprocess import preprocess_trial, settings_from_params  # noqa: E402

FPS = 25.0
# the committed params.yaml settings (whole trials: the timed video is not cut to an AU segment)
SETTINGS = dataclasses.replace(settings_from_params(load_params(ROOT / "params.yaml"), "bp4d"),
                               crop_to_au_range=False)


def face_frames(n: int, h: int, w: int, seed: int = 0) -> Iterator[np.ndarray]:
    """A face-like portrait scene: skin ellipse on a blank background, pulse, motion, noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    face = (((yy - 0.55 * h) / (0.3 * h)) ** 2 + ((xx - 0.5 * w) / (0.28 * w)) ** 2) < 1
    skin = np.array([180, 130, 110], np.float32)
    base = np.where(face[..., None], skin * (0.85 + 0.15 * yy[..., None] / h), 235).astype(np.float32)
    noise = rng.normal(0, 3, size=(16, h, w // 8 + 1, 3)).astype(np.float32)  # reused noise bank
    t = np.arange(n) / FPS
    gain = 1 + 0.004 * np.sin(2 * np.pi * 1.2 * t)
    shift = np.rint(4 * np.sin(2 * np.pi * 0.25 * t)).astype(int)
    for i in range(n):
        img = np.roll(base, shift[i], axis=0)
        img[face] *= gain[i]
        img += np.tile(noise[i % 16], (1, 8, 1))[:, :w]
        yield np.clip(img, 0, 255).astype(np.uint8)


def signals(n: int) -> dict[str, np.ndarray]:
    t = np.arange(n) / FPS
    return {"pulse": 80 + 20 * np.sin(2 * np.pi * 1.2 * t), "resp": np.sin(2 * np.pi * 0.3 * t),
            "hr_bpm": np.full(n, 72.0), "resp_bpm": np.full(n, 18.0)}


def generated_trial(n: int, h: int, w: int) -> TrialData:
    ref = TrialRef("bp4d", "F001", "T1", "F001T1")
    return TrialData(ref=ref, fps=FPS, n_frames=n, frame_shape=(h, w, 3),
                     frames=lambda: face_frames(n, h, w), signals=signals(n), pulse_kind="bp")


def write_bp4d(root: Path, n: int, h: int, w: int) -> TrialData:
    """The generated trial written in the real BP4D+ layout and read back through its reader."""
    from pipeline.datasets import bp4d

    hz = 1000
    t = np.arange(int(n * hz / FPS)) / hz
    physiology = {"BP_mmHg": 80 + 20 * np.sin(2 * np.pi * 1.2 * t),
                  "Resp_Volts": np.sin(2 * np.pi * 0.3 * t),
                  "Pulse Rate_BPM": np.full(t.size, 72.0),
                  "Respiration Rate_BPM": np.full(t.size, 18.0)}
    bp4d.write_trial(root, "F001", "T1", face_frames(n, h, w), physiology)
    return bp4d.load_trial(bp4d.list_trials(root)[0])


def child_peak_rss(n: int, h: int, w: int) -> None:
    """Run in a fresh process: preprocess a streamed generated video, print peak RSS (KiB)."""
    with tempfile.TemporaryDirectory() as tmp:
        preprocess_trial(generated_trial(n, h, w), Path(tmp) / "t.h5", SETTINGS)
    print(json.dumps({"frames": n, "maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))


def peak_rss(n: int, h: int, w: int) -> int:
    out = subprocess.run([sys.executable, __file__, "--child", str(n), "--height", str(h),
                          "--width", str(w)], capture_output=True, text=True, check=True).stdout
    return int(json.loads(out.strip().splitlines()[-1])["maxrss_kib"])


def authors_chunk_bytes(big: np.ndarray, small: np.ndarray) -> int:
    """Bytes of one chunk in the authors' format: input pickle + (N, 49) label .npy."""
    blob = pickle.dumps({0: big.astype(np.float32), 1: small.astype(np.float32)})
    label = np.zeros((big.shape[0], 49), np.float32)
    return len(blob) + 128 + label.nbytes  # a .npy header is 128 bytes


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=250, help="F: frames of the timed video")
    ap.add_argument("--height", type=int, default=1040)
    ap.add_argument("--width", type=int, default=1392)
    ap.add_argument("--raw", type=Path, help="use the first trial of this raw dataset folder")
    ap.add_argument("--dataset", default="bp4d")
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    h, w = args.height, args.width
    if args.child:
        child_peak_rss(args.child, h, w)
        return

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        if args.raw:
            from pipeline.datasets import get_layout

            layout = get_layout(args.dataset)
            trial = layout.load_trial(layout.list_trials(args.raw)[0])
            source = f"{args.raw} trial {trial.ref.trial_id}"
        else:
            trial = write_bp4d(tmp / "raw", args.frames, h, w)
            source = f"generated BP4D+-like trial, JPEG frames {h}x{w} in the zip layout"
        n = trial.n_frames
        # warm-up: first-call costs (HDF5 library, lazy imports) are not per-frame work
        preprocess_trial(generated_trial(60, 64, 48), tmp / "warm.h5", SETTINGS)
        t0 = time.perf_counter()
        for _ in trial.frames():
            pass
        decode_fps = n / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        preprocess_trial(trial, tmp / "t.h5", SETTINGS)
        prep_fps = n / (time.perf_counter() - t0)
        h5_bytes = (tmp / "t.h5").stat().st_size
        with TrialCache(tmp / "t.h5") as tc:
            stored = tc.n_frames
            big, small = tc.big(0, 3), tc.small(0, 3)
    print(f"source: {source}, {n} frames")
    print(f"decode only:    {decode_fps:8.1f} frames/s")
    print(f"preprocess:     {prep_fps:8.1f} frames/s  (ratio to decode-only {prep_fps / decode_fps:.2f})")

    short, long = args.frames, 4 * args.frames
    rss_short, rss_long = peak_rss(short, h, w), peak_rss(long, h, w)
    raw_mib = long * h * w * 3 / 2**20
    print(f"peak RSS, {short:5d} frames: {rss_short / 1024:8.1f} MiB")
    print(f"peak RSS, {long:5d} frames: {rss_long / 1024:8.1f} MiB  (ratio {rss_long / rss_short:.3f};"
          f" the decoded video alone would be {raw_mib:.0f} MiB)")

    per_frame = h5_bytes / stored
    authors = authors_chunk_bytes(big, small) / 3
    print(f"cache bytes/frame: {per_frame:10.0f}  (one HDF5 per trial: uint8 Big, float32 Small, labels)")
    print(f"authors' format:   {authors:10.0f}  (float32 pickle + label .npy per 3-frame chunk)"
          f"  -> {authors / per_frame:.1f}x larger; {2 * (stored // 3)} files per trial instead of 1")


if __name__ == "__main__":
    main()

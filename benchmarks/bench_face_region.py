"""Face region benchmark: POS and CHROM heart-rate error of each face-trace region over skin
tones (Fitzpatrick I-VI) and light colours, and the fraction of the crop's pixels each averages.

    python benchmarks/bench_face_region.py [--seeds 2] [--duration 10] [--preset easy]
                                           [--timing-size 480 1040] [--timing-only]

Trials are the generator's probe trials (``pipeline.synth.generate.render_probe_trial``: UBFC-
format 160x120 video at 30 fps with the chosen skin type under a light of the chosen colour
temperature and white-balance quality). Each trial's face traces come from the preprocessing
code (``pipeline.frames.FaceTracer`` and ``pipeline.preprocess.select_face_trace``) with the
committed params.yaml settings, one region at a time:

- ``crop``: the whole square crop (the authors' choice);
- ``skin``: the fixed YCrCb box (Chai and Ngan 1999), falling back to the crop below
  ``min_region_fraction``; ``skin-nofb`` is the box without that fallback (the old default);
- ``adaptive``: the per-trial skin colour model (pipeline/frames.py).

The rate of each method's output and of the rendered facial pulse go through the same protocol
(params.yaml ``signals``: detrend, band-pass, spectral peak over the whole trial). Printed: MAE
(bpm) per skin type and light for each region and method, the mean region fraction, the mean
pulse SNR (dB) of POS, and the per-frame cost of each region on a ``--timing-size`` square crop.

Expected effect of skin tone (the physics, not a defect of a region): melanin absorbs in the
epidermis, so less of the remitted light has crossed the perfused dermis and the relative pulse
dC/C falls; the generator's model (pipeline/synth/skin.py, ``relative_pulse_factor``) keeps for
type VI about 60% of type I's relative green pulse, and the darker image adds relative camera
noise. The pulse SNR therefore falls by roughly 20*log10(0.6) = -4.4 dB from type I to VI before
the noise term. On the clean preset POS and CHROM find the rate for types I-V; type VI, on
these small frames, has a POS SNR near or below 0 dB and a single trial may miss.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import frames as F  # noqa: E402
from pipeline.config import load_params  # noqa: E402
from pipeline.preprocess import DEFAULT_FACE_TRACE, select_face_trace  # noqa: E402
from pipeline.signals.chrom import chrom  # noqa: E402
from pipeline.signals.pos import pos  # noqa: E402
from pipeline.signals.quality import pulse_snr_db  # noqa: E402
from pipeline.signals.rates import pulse_rate_bpm, rate_kwargs  # noqa: E402
from pipeline.synth.generate import render_probe_trial  # noqa: E402

LIGHTS = ((2700.0, 0.3), (3200.0, 0.6), (4500.0, 0.8), (6500.0, 1.0))
TYPES = (1, 2, 3, 4, 5, 6)
REGIONS = ("crop", "skin-nofb", "skin", "adaptive")


def region_config(params: dict, region: str) -> dict:
    """The committed face_trace settings with ``region`` (``skin-nofb``: the box, no fallback)."""
    cfg = {**DEFAULT_FACE_TRACE, **params["preprocess"]["face_trace"]}
    if region == "skin-nofb":
        return {**cfg, "region": "skin", "min_region_fraction": 0.0}
    return {**cfg, "region": region}


def face_trace(video: np.ndarray, config: dict) -> tuple[np.ndarray, str, float]:
    """(trace, what was used, mean region fraction) through the preprocessing code."""
    tracer = F.FaceTracer(len(video), config)
    for frame in video:
        tracer.add(F.square_crop(frame, "center"))
    traces = tracer.finish()
    rgb, used = select_face_trace(traces, config)
    return rgb, used, float(np.mean(traces.fraction))


def trial_errors(video: np.ndarray, truth: dict, params: dict, regions=REGIONS) -> dict:
    """{region: {"POS": abs err, "CHROM": abs err, "fraction": f, "snr": dB, "used": str}}."""
    sig = params["signals"]
    fps = float(truth["fps"])
    kw = rate_kwargs(sig, "pulse")
    hr_true = pulse_rate_bpm(np.asarray(truth["pulse"], float), fps, diff_normalised=False, **kw)
    out = {}
    for region in regions:
        rgb, used, fraction = face_trace(video, region_config(params, region))
        c = sig["chrom"]
        waves = {"POS": pos(rgb, fps, float(sig["pos"]["window_s"])),
                 "CHROM": chrom(rgb, fps, float(c["window_s"]), tuple(c["band_hz"]), int(c["order"]))}
        row = {m: abs(pulse_rate_bpm(w, fps, diff_normalised=False, **kw) - hr_true) for m, w in waves.items()}
        row.update(fraction=fraction, snr=pulse_snr_db(waves["POS"], fps), used=used)
        out[region] = row
    return out


def timing(size: int, repeats: int = 200) -> dict[str, float]:
    """Milliseconds per frame of each region's per-frame work on a ``size`` square crop."""
    video, _ = render_probe_trial(0, 3, 4500.0, 0.8, duration_s=1.0, frame_size=(160, 120))
    import cv2

    crop = cv2.resize(F.square_crop(video[0], "center"), (size, size), interpolation=cv2.INTER_LINEAR)
    cfg = {**DEFAULT_FACE_TRACE}
    model = F.fit_skin_model(F.seed_samples([crop], cfg["seed_fraction"]), cfg["radius"], cfg["min_value"],
                             cfg["min_value_rel"])
    tracer = F.FaceTracer(1, {**cfg, "region": "adaptive"})
    tracer.model = model

    def adaptive() -> None:
        tracer._n = 0
        tracer.add(crop)

    jobs = {
        "crop": lambda: cv2.mean(crop),
        "skin": lambda: F.face_means(crop, cfg["skin_cr"], cfg["skin_cb"], 0.02),
        "adaptive": adaptive,
    }
    out = {}
    for name, job in jobs.items():
        job()
        t0 = time.perf_counter()
        for _ in range(repeats):
            job()
        out[name] = 1e3 * (time.perf_counter() - t0) / repeats
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--preset", default="easy")
    ap.add_argument("--timing-size", type=int, nargs="+", default=[480, 1040])
    ap.add_argument("--timing-only", action="store_true")
    args = ap.parse_args(argv)
    params = load_params(ROOT / "params.yaml")
    for size in args.timing_size:
        ms = timing(size)
        print(f"per-frame cost on a {size}x{size} crop: " + ", ".join(f"{k} {v:.2f} ms" for k, v in ms.items()))
    if args.timing_only:
        return

    rows = []
    for fitz in TYPES:
        for cct, wb in LIGHTS:
            for seed in range(args.seeds):
                video, truth = render_probe_trial(seed, fitz, cct, wb, duration_s=args.duration, params=params,
                                                  preset=args.preset)
                res = trial_errors(video, truth, params)
                for region, r in res.items():
                    rows.append({"type": fitz, "light": f"{int(cct)}K/wb{wb}", "region": region, **r})

    import pandas as pd

    df = pd.DataFrame(rows)
    print(f"preset {args.preset}, {args.duration:g} s trials, {args.seeds} seeds per cell, "
          f"{len(df) // len(REGIONS)} trials")
    for method in ("POS", "CHROM"):
        table = df.pivot_table(index=["type"], columns="region", values=method, aggfunc="mean")[list(REGIONS)]
        print(f"\n{method} MAE (bpm) per Fitzpatrick type (mean over lights and seeds)")
        print(table.round(2).to_string())
        table = df.pivot_table(index=["light"], columns="region", values=method, aggfunc="mean")[list(REGIONS)]
        print(f"\n{method} MAE (bpm) per light (mean over types and seeds)")
        print(table.round(2).to_string())
        worst = df.groupby(["type", "light", "region"])[method].mean().unstack("region")[list(REGIONS)].max()
        print(f"{method} worst cell MAE: " + ", ".join(f"{k} {v:.1f}" for k, v in worst.items()))
    summary = df.groupby("region")[["POS", "CHROM", "fraction", "snr"]].mean().loc[list(REGIONS)]
    summary.columns = ["POS MAE", "CHROM MAE", "pixel fraction", "POS SNR dB"]
    print("\noverall")
    print(summary.round(3).to_string())
    snr = df.pivot_table(index="type", columns="region", values="snr", aggfunc="mean")[list(REGIONS)]
    print("\nPOS pulse SNR (dB) per Fitzpatrick type")
    print(snr.round(1).to_string())
    fb = df[df["used"].str.startswith("crop") & (df["region"] != "crop")]
    print(f"\nfallbacks to the crop: {len(fb)}")
    for r in fb.itertuples():
        print(f"  type {r.type} {r.light} {r.region}: {r.used}")


if __name__ == "__main__":
    main()

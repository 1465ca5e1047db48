"""Report figures, each returned as PNG and SVG bytes with a caption naming the data that produced it."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from pipeline.cache.reader import open_cache  # noqa: E402
from pipeline.errors import InputError  # noqa: E402
from pipeline.report.tables import DATASET_NAMES, UnsupervisedResult  # noqa: E402
from pipeline.signals.rates import pulse_rate_bpm, rate_kwargs, waveform_for_rate  # noqa: E402
from pipeline.signals.methods import pulse_signal  # noqa: E402


@dataclass
class Figure:
    name: str  # file stem under reports/figures/
    title: str
    caption: str
    png: bytes
    svg: bytes


def _png(fig: plt.Figure) -> tuple[bytes, bytes]:
    """The figure as PNG and as SVG, then closed; no creation-date or software metadata and a
    fixed SVG id salt, so an unchanged figure gives unchanged bytes."""
    png, svg = io.BytesIO(), io.BytesIO()
    fig.savefig(png, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    with matplotlib.rc_context({"svg.hashsalt": "pipeline-report"}):
        fig.savefig(svg, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    return png.getvalue(), svg.getvalue()


def _z(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    sd = x.std()
    return (x - x.mean()) / sd if sd > 0 else x - x.mean()


def waveform_figure(
    cache_root: Path, dataset: str, signals: dict, seconds: float, trial_id: str | None, commit: str
) -> Figure:
    """POS output vs the ground-truth pulse and the POS pseudo-label for one cached trial."""
    index = open_cache(cache_root)
    ids = sorted(index.trial_ids)
    if not ids:
        raise InputError(cache_root, "cache holds no trial")
    tid = trial_id if trial_id is not None else ids[0]
    if tid not in ids:
        raise InputError(cache_root, f"trial {tid} (report.example_waveform.trial) not in the cache")
    with index.open(tid) as trial:
        fps, rgb, labels = trial.fps, trial.rgb_mean, dict(trial.labels)
        pulse_kind = str(trial.attrs.get("pulse_kind", "")) or "pulse"
        path = trial.path
    if "pulse_raw" not in labels:
        raise InputError(path, "no labels/pulse_raw to plot against")
    kw = rate_kwargs(signals, "pulse")
    filt = {k: v for k, v in kw.items() if k != "zero_pad_factor"}
    pos_wave = pulse_signal("POS", rgb, fps, signals)
    gt = np.asarray(labels["pulse_raw"], dtype=float)
    n = min(len(gt), len(pos_wave), max(2, int(round(seconds * fps))))
    t = np.arange(n) / fps
    hr_pos = pulse_rate_bpm(pos_wave, fps, diff_normalised=False, **kw)
    hr_gt = pulse_rate_bpm(gt, fps, diff_normalised=False, **kw)
    pos_f = waveform_for_rate(pos_wave, fps, False, **filt)
    gt_f = waveform_for_rate(gt, fps, False, **filt)
    pseudo = labels.get("pos_ppg_raw")

    fig, axes = plt.subplots(2, 1, figsize=(9, 5.2), sharex=True)
    axes[0].plot(t, _z(gt[:n]), color="0.25", lw=1.2, label=f"ground truth ({pulse_kind}), {hr_gt:.1f} bpm")
    axes[0].plot(t, _z(pos_wave[:n]), color="tab:red", lw=1.0, label=f"POS, {hr_pos:.1f} bpm")
    if pseudo is not None:
        axes[0].plot(t, _z(np.asarray(pseudo, dtype=float)[:n]), color="tab:blue", lw=1.0, ls="--",
                     label="POS pseudo-label (labels/pos_ppg_raw)")
    axes[0].set_ylabel("standardised")
    axes[0].set_title("as computed, each standardised over the time shown", fontsize=9)
    axes[1].plot(t, _z(gt_f)[:n], color="0.25", lw=1.2, label="ground truth")
    axes[1].plot(t, _z(pos_f)[:n], color="tab:red", lw=1.0, label="POS")
    band = kw["band"]
    axes[1].set_title(f"whole trial detrended, band-passed {band[0]}-{band[1]} Hz and standardised", fontsize=9)
    axes[1].set_xlabel("time (s)")
    axes[1].set_ylabel("standardised")
    for ax in axes:
        ax.legend(loc="upper right", fontsize=8, framealpha=0.85)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{DATASET_NAMES.get(dataset, dataset)} trial {tid}: POS vs ground-truth pulse", fontsize=11)
    caption = (
        f"First {t[-1] + 1 / fps:.1f} s of trial {tid} of {DATASET_NAMES.get(dataset, dataset)}, read from "
        f"{path} (cache key {index.key}). POS (window {signals['pos']['window_s']} s) runs on the cached "
        f"face-mean RGB; the ground truth is labels/pulse_raw ({pulse_kind}); "
        + ("the dashed line is the POS pseudo-label stored by the preprocess stage (labels/pos_ppg_raw). "
           if pseudo is not None else "this cache stores no POS pseudo-label (labels/pos_ppg_raw absent). ")
        + f"Heart rates from the whole trial. Code at commit {commit}."
    )
    return Figure(f"waveform_{dataset}", "Example waveform", caption, *_png(fig))


def hr_scatter_figure(result: UnsupervisedResult, commit: str) -> Figure:
    """Per-trial heart rate of each method against the ground truth, with the identity line."""
    pred = result.predictions[result.predictions["status"] == "ok"]
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    markers = {"POS": "o", "CHROM": "s"}
    lo, hi = np.inf, -np.inf
    for method in result.methods:
        p = pred[pred["method"] == method]
        if p.empty:
            continue
        ax.scatter(p["hr_true"], p["hr_pred"], s=22, alpha=0.75, marker=markers.get(method, "^"),
                   label=f"{method} (n={len(p)})")
        lo = min(lo, p["hr_true"].min(), p["hr_pred"].min())
        hi = max(hi, p["hr_true"].max(), p["hr_pred"].max())
    if np.isfinite(lo):
        pad = 0.05 * max(hi - lo, 1.0)
        ax.plot([lo - pad, hi + pad], [lo - pad, hi + pad], color="0.5", lw=1, ls=":", label="identity")
    name = DATASET_NAMES.get(result.dataset, result.dataset)
    _finish(ax, "ground-truth heart rate (bpm)", "estimated heart rate (bpm)",
            f"{name}: unsupervised heart rate per {result.metrics.get('hr_mode', 'trial')}")
    caption = (f"Each point is one {'trial' if result.metrics.get('hr_mode', 'trial') == 'trial' else 'window'} "
               f"of {name}. " + unsupervised_source(result, commit))
    return Figure(f"hr_scatter_{result.dataset}", f"Heart rate, {name}", caption, *_png(fig))


def bland_altman_figure(name: str, title: str, series: dict[str, tuple[np.ndarray, np.ndarray]],
                        source: str) -> Figure:
    """Bland-Altman plot of per-trial heart rates: for each series (label -> (estimate, truth)) the
    difference estimate - truth against the mean of the two, with its bias and 95% limits of
    agreement (bias +- 1.96 SD); the caption gives them and ``source``."""
    fig, ax = plt.subplots(figsize=(5.6, 4.6))
    markers = "os^Dv"
    lines = []
    for k, (label, (est, truth)) in enumerate(series.items()):
        est, truth = np.asarray(est, dtype=float), np.asarray(truth, dtype=float)
        if est.size == 0:
            continue
        diff = est - truth
        bias = float(diff.mean())
        sd = float(diff.std(ddof=1)) if diff.size > 1 else 0.0
        colour = f"C{k}"
        ax.scatter((est + truth) / 2, diff, s=22, alpha=0.75, marker=markers[k % len(markers)], color=colour,
                   label=f"{label} (n={diff.size})")
        ax.axhline(bias, color=colour, lw=1.2)
        for limit in (bias - 1.96 * sd, bias + 1.96 * sd):
            ax.axhline(limit, color=colour, lw=1, ls="--")
        lines.append(f"{label}: bias {bias:+.2f} bpm, limits of agreement {bias - 1.96 * sd:+.2f} to "
                     f"{bias + 1.96 * sd:+.2f} bpm")
    ax.axhline(0.0, color="0.5", lw=1, ls=":")
    _finish(ax, "mean of estimated and ground-truth heart rate (bpm)", "estimated - ground-truth heart rate (bpm)",
            title)
    caption = f"Solid lines: bias; dashed: bias +- 1.96 SD. {'; '.join(lines) or 'No evaluated trial'}. {source}"
    return Figure(name, title, caption, *_png(fig))


def _finish(ax: plt.Axes, xlabel: str, ylabel: str, title: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title, fontsize=10)


def unsupervised_source(result: UnsupervisedResult, commit: str) -> str:
    """Where an unsupervised figure's points come from, for its caption."""
    return (f"From {result.folder / 'predictions.csv'} (status ok; cache key {result.metrics.get('cache_key', '?')}, "
            f"stage commit {result.metrics.get('provenance', {}).get('git_commit', '?')}); report code at commit "
            f"{commit}.")


def hr_bland_altman_figure(result: UnsupervisedResult, commit: str) -> Figure:
    """Bland-Altman plot of each unsupervised method's heart rate on one dataset."""
    pred = result.predictions[result.predictions["status"] == "ok"]
    series = {m: (pred.loc[pred["method"] == m, "hr_pred"].to_numpy(), pred.loc[pred["method"] == m, "hr_true"].to_numpy())
              for m in result.methods}
    name = DATASET_NAMES.get(result.dataset, result.dataset)
    return bland_altman_figure(f"hr_bland_altman_{result.dataset}",
                               f"{name}: Bland-Altman, heart rate per {result.metrics.get('hr_mode', 'trial')}",
                               series, unsupervised_source(result, commit))


def per_au_f1_figure(name: str, title: str, aus: list[str], bars: dict[str, dict[str, float]],
                     reference: dict[str, float] | None, caption: str) -> Figure:
    """Grouped bars of per-AU F1, one group per AU and one bar per series (e.g. a reproduced run
    and its published row), with the all-positive predictor's F1 per AU as black ticks."""
    fig, ax = plt.subplots(figsize=(max(6.0, 0.75 * len(aus) + 2), 4.2))
    x = np.arange(len(aus))
    width = 0.8 / max(1, len(bars))
    for k, (label, values) in enumerate(bars.items()):
        heights = [values.get(au, np.nan) for au in aus]
        ax.bar(x - 0.4 + width * (k + 0.5), heights, width, label=label,
               hatch="//" if label.startswith("published") else None, edgecolor="white", linewidth=0.5)
    if reference:
        ax.scatter(x, [reference.get(au, np.nan) for au in aus], marker="_", s=400, color="black", zorder=3,
                   label="all-positive, real data (published class weights)")
    ax.set_xticks(x, aus)
    ax.set_ylabel("F1 (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    ax.set_title(title, fontsize=10)
    return Figure(name, title, caption, *_png(fig))

"""POS/CHROM baseline stage on a tiny cache whose pulse frequencies are known exactly."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest
import yaml

from pipeline import unsupervised as uns
from pipeline.folds import fold_of_subjects
from pipeline.cache.format import FORMAT_VERSION, INDEX_COLUMNS
from pipeline.errors import ConfigError, InputError
from pipeline.stages import unsupervised as stage

REPO = Path(__file__).resolve().parent.parent
FPS = 30.0
N = 600  # 20 s: nfft = 1024, one spectral bin = FPS / 1024 Hz
BIN_BPM = 60.0 * FPS / 1024
SIGNALS = yaml.safe_load((REPO / "tests" / "tiny" / "signals.yaml").read_text())["signals"]
SECTION = {"methods": ["POS", "CHROM"], "hr_mode": "trial", "trace": "region"}
PULSE_DIR = np.array([0.33, 0.77, 0.53])  # blood-volume pulse direction in RGB


def _trace(f_hz: float, n: int, seed: int) -> np.ndarray:
    """Face-mean RGB: skin tone, a 0.5 % pulse along PULSE_DIR, slow illumination drift, noise."""
    t = np.arange(n) / FPS
    rng = np.random.default_rng(seed)
    tone = np.array([180.0, 120.0, 100.0])
    drift = 1.0 + 0.02 * np.sin(2 * np.pi * 0.05 * t)
    pulse = 0.005 * np.sin(2 * np.pi * f_hz * t)
    rgb = tone[None, :] * drift[:, None] * (1.0 + pulse[:, None] * PULSE_DIR[None, :])
    return rgb + rng.normal(0.0, 0.02, size=rgb.shape)


BACKGROUND = np.array([196.0, 198.0, 204.0])


def _write_trial(folder: Path, trial_id: str, subject: str, rgb: np.ndarray, pulse: np.ndarray,
                 crop_rgb: np.ndarray | None = None, box_rgb: np.ndarray | None = None) -> dict:
    """One cached trial; the whole-crop and face-box traces are the face trace diluted by a
    still background unless ``crop_rgb`` or ``box_rgb`` is given."""
    with h5py.File(folder / f"{trial_id}.h5", "w") as h5:
        h5.create_dataset("rgb_mean", data=rgb)
        h5.create_dataset("rgb_mean_crop", data=0.4 * rgb + 0.6 * BACKGROUND if crop_rgb is None else crop_rgb)
        h5.create_dataset("rgb_mean_box", data=0.7 * rgb + 0.3 * BACKGROUND if box_rgb is None else box_rgb)
        h5.create_dataset("labels/pulse_raw", data=pulse.astype(np.float32))
        h5.attrs.update({"fps": FPS, "n_frames": len(pulse), "trial_id": trial_id, "subject": subject,
                         "dataset": "ubfc", "format_version": FORMAT_VERSION})
    return {"trial_id": trial_id, "subject": subject, "task": "T1", "n_frames": len(pulse),
            "n_chunks": len(pulse) // 3, "fps": FPS, "file": f"{trial_id}.h5", "labels": "pulse_raw"}


def _bp_wave(f_hz: float, n: int) -> np.ndarray:
    """A BP-like ground truth: fundamental plus a harmonic, a delay, and a DC level in mmHg."""
    t = np.arange(n) / FPS
    ph = 2 * np.pi * f_hz * (t - 0.2)
    return 90.0 + 20.0 * np.sin(ph) + 6.0 * np.sin(2 * ph + 0.8)


@pytest.fixture()
def tiny(tmp_path: Path) -> dict:
    """Cache of 5 trials; rates on exact spectral bins so the estimation error is known."""
    key = tmp_path / "cache" / "ubfc" / "abc123"
    key.mkdir(parents=True)
    k = {"s01": 41, "s02": 50, "s03": 60, "s04": 45}  # ground-truth bins (72.1 .. 105.5 bpm)
    rows = [
        # video pulse at the ground-truth rate: error 0
        _write_trial(key, "s01_T1", "s01", _trace(k["s01"] * FPS / 1024, N, 1), _bp_wave(k["s01"] * FPS / 1024, N)),
        # ... except in the whole-crop trace, where the background's motion puts the peak 2 bins higher
        _write_trial(key, "s02_T1", "s02", _trace(k["s02"] * FPS / 1024, N, 2), _bp_wave(k["s02"] * FPS / 1024, N),
                     crop_rgb=_trace((k["s02"] + 2) * FPS / 1024, N, 2), box_rgb=_trace((k["s02"] + 1) * FPS / 1024, N, 2)),
        # video pulse 3 bins above the ground truth: error 3 bins
        _write_trial(key, "s03_T1", "s03", _trace((k["s03"] + 3) * FPS / 1024, N, 3), _bp_wave(k["s03"] * FPS / 1024, N)),
        # too short for a 1.6 s POS window (48 frames): excluded with a reason
        _write_trial(key, "s04_T1", "s04", _trace(k["s04"] * FPS / 1024, 40, 4), _bp_wave(k["s04"] * FPS / 1024, 40)),
        # subject in no fold's test set
        _write_trial(key, "s99_T1", "s99", _trace(1.2, N, 5), _bp_wave(1.2, N)),
    ]
    pd.DataFrame(rows, columns=list(INDEX_COLUMNS)).to_csv(key / "index.csv", index=False)
    (key / "cache_info.json").write_text(json.dumps({"key": "abc123", "format_version": FORMAT_VERSION}))
    splits = tmp_path / "splits.json"
    splits.write_text(json.dumps({
        "dataset": "ubfc", "folds": [
            {"name": "fold1", "test": ["s01", "s03"], "train": ["s02", "s04"]},
            {"name": "fold2", "test": ["s02", "s04"], "train": ["s01", "s03"]},
        ], "unlisted_subjects": ["s99"],
    }))
    return {"cache": tmp_path / "cache" / "ubfc", "splits": splits, "bins": k, "tmp": tmp_path}


def test_known_rates_and_metrics(tiny):
    pred, metrics = uns.run_unsupervised("ubfc", tiny["cache"], tiny["splits"], SIGNALS, SECTION, progress=False)
    k = tiny["bins"]
    ok = pred[pred["status"] == "ok"].set_index(["trial_id", "method"])
    for method in ("POS", "CHROM"):
        for subj in ("s01", "s02", "s03"):
            assert ok.loc[(f"{subj}_T1", method), "hr_true"] == pytest.approx(k[subj] * BIN_BPM)
        assert ok.loc[("s01_T1", method), "hr_pred"] == pytest.approx(k["s01"] * BIN_BPM)
        assert ok.loc[("s02_T1", method), "hr_pred"] == pytest.approx(k["s02"] * BIN_BPM)
        assert ok.loc[("s03_T1", method), "hr_pred"] == pytest.approx((k["s03"] + 3) * BIN_BPM)
        m = metrics[method]
        errs = np.array([0.0, 0.0, 3 * BIN_BPM])
        truth = np.array([k["s01"], k["s02"], k["s03"]]) * BIN_BPM
        assert m["hr_mae"] == pytest.approx(errs.mean())
        assert m["hr_rmse"] == pytest.approx(np.sqrt((errs ** 2).mean()))
        assert m["hr_mape"] == pytest.approx(100 * (errs / truth).mean())
        assert m["n_trials"] == 3 and m["n_excluded_trials"] == 1
        # per fold: fold1 = s01 (exact) + s03 (3 bins); fold2 = s02 (exact), s04 excluded
        assert metrics["per_fold"]["fold1"][method]["hr_mae"] == pytest.approx(1.5 * BIN_BPM)
        assert metrics["per_fold"]["fold2"][method]["hr_mae"] == pytest.approx(0.0)
        assert metrics["per_fold"]["fold2"][method]["hr_pearson"] is None  # one trial: undefined
    short = pred[pred["trial_id"] == "s04_T1"]
    assert set(short["status"]) == {"excluded"}
    assert short["reason"].str.contains("window").all()
    assert metrics["trials_outside_test_folds"] == ["s99_T1"]
    assert "s99_T1" not in set(pred["trial_id"])
    assert set(pred["fold"]) == {"fold1", "fold2"}


def test_windowed_mode_pairs_windows(tiny):
    signals = json.loads(json.dumps(SIGNALS))
    signals["eval_window"] = {"enabled": True, "window_s": 10.0, "step_s": 5.0}
    section = {**SECTION, "methods": ["POS"], "hr_mode": "windowed"}
    pred, metrics = uns.run_unsupervised("ubfc", tiny["cache"], tiny["splits"], signals, section, progress=False)
    s01 = pred[(pred["trial_id"] == "s01_T1") & (pred["status"] == "ok")]
    assert list(s01["window_start_s"]) == [0.0, 5.0, 10.0]  # 20 s trial, 10 s windows every 5 s
    assert list(s01["window_end_s"]) == [10.0, 15.0, 20.0]
    assert metrics["POS"]["n_samples"] == 9 and metrics["POS"]["n_trials"] == 3


def test_cli_writes_outputs(tiny, tmp_path):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["signals"] = SIGNALS
    params["unsupervised"] = {**SECTION}
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(params))
    out = tmp_path / "results" / "runs" / "baselines" / "ubfc"
    sheet = str(REPO / "experiments.yaml")
    summary = tmp_path / "manifest.json"
    origin = {"kind": "built-in", "preset": "easy", "seed": 0}
    summary.write_text(json.dumps({"dataset": "ubfc", "data_origin": origin,
                                   "provenance": {"raw_listing_hash": "0123abcd"}}))
    stage.main(["--run", "baselines/ubfc", "--sheet", sheet, "--params", str(pfile), "--cache", str(tiny["cache"]),
                "--splits", str(tiny["splits"]), "--manifest-summary", str(summary), "--out", str(out),
                "--no-progress"])
    metrics = json.loads((out / "metrics.json").read_text())  # strict JSON: no NaN
    pred = pd.read_csv(out / "predictions.csv")
    assert list(pred.columns) == uns.PREDICTION_COLUMNS
    # the sheet's UBFC-rPPG row reads the toolbox's face-box trace (trace: box): s02 is 1 bin off there
    assert metrics["trace"] == "box"
    assert metrics["POS"]["hr_mae"] == pytest.approx((0 + 1 + 3) / 3 * BIN_BPM)
    assert metrics["provenance"]["params_hash"] and metrics["cache_key"] == "abc123"
    # where the numbers come from, as ingest recorded it
    assert metrics["data_origin"] == origin and metrics["raw_listing_hash"] == "0123abcd"
    assert not list(out.glob(".*tmp"))  # no temporary files left behind
    assert metrics["run"] == "baselines/ubfc"
    with pytest.raises(ConfigError, match="no run 'baselines/disfa'"):
        stage.main(["--run", "baselines/disfa", "--sheet", sheet, "--params", str(pfile), "--cache", str(tiny["cache"]),
                    "--splits", str(tiny["splits"]), "--manifest-summary", str(summary), "--out", str(out)])
    summary.write_text(json.dumps({"dataset": "ubfc"}))  # written before origins were recorded
    with pytest.raises(InputError, match=r"manifest.json: no data_origin \(re-run ingest\)"):
        stage.main(["--run", "baselines/ubfc", "--sheet", sheet, "--params", str(pfile), "--cache", str(tiny["cache"]),
                    "--splits", str(tiny["splits"]), "--manifest-summary", str(summary), "--out", str(out)])


def test_a_row_overrides_its_stage_defaults(tiny, tmp_path):
    """A baseline row's overrides replace params.yaml's 'unsupervised' defaults for that run only;
    an override naming no key of the section is one line naming the row."""
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params["signals"] = SIGNALS
    params["unsupervised"] = {**SECTION}
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(params))
    sheet = yaml.safe_load((REPO / "experiments.yaml").read_text())
    sheet["experiments"]["baselines"]["runs"]["ubfc"]["overrides"] = {"methods": ["CHROM"]}
    sfile = tmp_path / "experiments.yaml"
    sfile.write_text(yaml.safe_dump(sheet))
    out = tmp_path / "out"
    argv = ["--run", "baselines/ubfc", "--sheet", str(sfile), "--params", str(pfile), "--cache", str(tiny["cache"]),
            "--splits", str(tiny["splits"]), "--out", str(out), "--no-progress"]
    stage.main(argv)
    assert json.loads((out / "metrics.json").read_text())["methods"] == ["CHROM"]
    sheet["experiments"]["baselines"]["runs"]["ubfc"]["overrides"] = {"window": 3}
    sfile.write_text(yaml.safe_dump(sheet))
    with pytest.raises(ConfigError, match=r"experiments.baselines.runs.ubfc.overrides.window': not a key"):
        stage.main(argv)


def test_overlapping_test_folds_rejected(tmp_path):
    bad = {"folds": [{"name": "a", "test": ["s1"]}, {"name": "b", "test": ["s1"]}]}
    with pytest.raises(InputError, match="s1"):
        fold_of_subjects(bad, tmp_path / "splits.json")


def test_predictions_carry_the_face_trace_quality(tiny):
    """Each prediction row repeats its trial's face-trace quality from the cache index, so a
    large error can be read beside the region used and the pulse SNR."""
    index_path = next((tiny["cache"]).rglob("index.csv"))
    index = pd.read_csv(index_path)
    index["face_trace"] = ["adaptive", "adaptive", "crop (no skin model)", "adaptive", "adaptive"]
    index["face_fraction"] = [0.15, 0.2, 1.0, 0.18, 0.17]
    index["pulse_snr_db"] = [4.0, 3.5, -7.5, 1.0, 2.0]
    index["low_snr"] = [False, False, True, False, False]
    index.to_csv(index_path, index=False)
    pred, _ = uns.run_unsupervised("ubfc", tiny["cache"], tiny["splits"], SIGNALS, SECTION, progress=False)
    s03 = pred[pred["trial_id"] == "s03_T1"]
    assert set(s03["face_trace"]) == {"crop (no skin model)"} and set(s03["pulse_snr_db"]) == {-7.5}
    assert bool(s03["low_snr"].iloc[0]) is True
    s01 = pred[pred["trial_id"] == "s01_T1"]
    assert set(s01["face_fraction"]) == {0.15} and not s01["low_snr"].iloc[0]


def test_trace_chooses_the_face_region_the_whole_crop_or_the_face_box(tiny):
    """trace: region reads rgb_mean (s02 exact), trace: crop reads rgb_mean_crop (s02 2 bins off:
    the whole crop's mean, diluted by the background, carries its motion), trace: box reads
    rgb_mean_box (s02 1 bin off)."""
    k = tiny["bins"]
    region, m_region = uns.run_unsupervised("ubfc", tiny["cache"], tiny["splits"], SIGNALS, SECTION, progress=False)
    crop, m_crop = uns.run_unsupervised("ubfc", tiny["cache"], tiny["splits"], SIGNALS, {**SECTION, "trace": "crop"},
                                        progress=False)
    pick = lambda p: p[(p["trial_id"] == "s02_T1") & (p["method"] == "POS")]["hr_pred"].item()  # noqa: E731
    assert pick(region) == pytest.approx(k["s02"] * BIN_BPM)
    assert pick(crop) == pytest.approx((k["s02"] + 2) * BIN_BPM)
    box, m_box = uns.run_unsupervised("ubfc", tiny["cache"], tiny["splits"], SIGNALS, {**SECTION, "trace": "box"},
                                      progress=False)
    assert pick(box) == pytest.approx((k["s02"] + 1) * BIN_BPM) and m_box["trace"] == "box"
    # the other trials: the diluted trace still peaks at the face's rate
    s01 = crop[(crop["trial_id"] == "s01_T1") & (crop["method"] == "POS")]["hr_pred"].item()
    assert s01 == pytest.approx(k["s01"] * BIN_BPM)
    assert (m_region["trace"], m_crop["trace"]) == ("region", "crop")
    with pytest.raises(ConfigError, match="unsupervised.trace must be one of"):
        uns.run_unsupervised("ubfc", tiny["cache"], tiny["splits"], SIGNALS, {**SECTION, "trace": "skin"},
                             progress=False)

"""Evaluation of trained models (pipeline/evaluate): predictions, metrics, baselines, aggregation.

A tiny cache of six trials (one per subject, three folds of two subjects) whose labels are
known sinusoids at exact spectral bins, and AU labels with known prevalence inside an AU-coded
range; an oracle model that returns each input frame's own labels, a constant model, and real
registry models saved and reloaded as checkpoints.
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from pipeline.cache.reader import open_cache
from pipeline.errors import InputError
from pipeline.evaluate import run as run_mod
from pipeline.evaluate.aggregate import aggregate_runs, flatten_metrics, write_aggregate
from pipeline.evaluate.metrics import (
    AUCollector,
    coded_mask,
    merge_rate_rows,
    rate_rows,
)
from pipeline.evaluate.predict import (
    CHECKPOINT_KEYS,
    iter_predictions,
    load_checkpoint_model,
    predict_trials,
)
from pipeline.evaluate.run import evaluate_fold
from pipeline.folds import read_fold
from pipeline.models.device import place
from pipeline.models.registry import build_model, resolved_options
from pipeline.preprocess import preprocess_trials
from pipeline.signals.rates import rate_kwargs, resp_rate_bpm
from tests.test_preprocess import make_trial, small_settings

pytestmark = pytest.mark.usefixtures("one_torch_thread")

FPS = 25.0
N = 3
PREDICTED = 249                     # 83 chunks of 3 frames in every trial
BIN = FPS * 60.0 / 1024             # bpm per spectral bin: nfft = next_pow2(4 * 249) = 1024
HR_BINS = [41, 45, 49, 53, 57, 61]  # exact bins: 60.06 ... 89.36 bpm
RR_BINS = [8, 9, 10, 11, 12, 13]
SUBJECTS = ["F001", "F002", "F003", "F004", "F005", "F006"]
FOLDS = {"fold1": SUBJECTS[:2], "fold2": SUBJECTS[2:4], "fold3": SUBJECTS[4:]}
AU_RANGE = (30, 230)                # video frames; frame_index t = video frame t (no crop)
SIGNALS = {
    "zero_pad_factor": 4,
    "eval_window": {"enabled": False, "window_s": 4.0, "step_s": 4.0},
    "pulse": {"band_hz": [0.75, 2.5], "order": 2, "detrend_lambda": 100.0},
    "resp": {"band_hz": [0.08, 0.5], "order": 2, "detrend_lambda": 100.0},
}


def au_labels(n: int) -> np.ndarray:
    """Inside AU_RANGE: AU01 active on f % 4 == 0 (p = 1/4), AU02 on even frames with frames
    f % 10 == 5 uncoded (p = 100/180), AU03 on f % 10 == 0 (p = 1/10); outside: all active."""
    f = np.arange(n)
    au = np.ones((n, 3), np.int8)
    inside = (f >= AU_RANGE[0]) & (f < AU_RANGE[1])
    au[inside, 0] = (f[inside] % 4 == 0)
    au[inside, 1] = np.where(f[inside] % 10 == 5, -1, f[inside] % 2 == 0)
    au[inside, 2] = (f[inside] % 10 == 0)
    return au


PREVALENCE = {"AU01": 50 / 200, "AU02": 100 / 180, "AU03": 20 / 200}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("evalcache") / "ubfc"
    trials = []
    for i, subject in enumerate(SUBJECTS):
        n = 250 + i % 3  # cached L = 249, 250, 251: tails of 0, 1 and 2 frames
        t = np.arange(n) / FPS
        hr, rr = HR_BINS[i] * BIN, RR_BINS[i] * BIN
        signals = {
            "pulse": np.sin(2 * np.pi * hr / 60 * t + 0.3 * i) + 0.3 * np.sin(4 * np.pi * hr / 60 * t),
            "resp": np.sin(2 * np.pi * rr / 60 * t + 0.7 * i),
            "hr_bpm": np.full(n, hr), "resp_bpm": np.full(n, rr),
        }
        trial = make_trial(n=n, trial_id=f"{subject}T1", seed=i, signals=signals, au=au_labels(n),
                           au_range=AU_RANGE)
        trials.append(dataclasses.replace(trial, pulse_kind="ppg"))
    preprocess_trials("ubfc", trials, out, small_settings(), progress=False, code="c")
    return out


@pytest.fixture(scope="module")
def splits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("splits") / "splits.json"
    names = list(FOLDS)
    doc = {"folds": [{"name": k, "test": FOLDS[k], "train": [s for o in names if o != k for s in FOLDS[o]]}
                     for k in names]}
    path.write_text(json.dumps(doc))
    return path


class Oracle(nn.Module):
    """Returns, for each input Big frame, that frame's own labels: the difference-normalised
    pulse and breathing waves, and AU logits of +-8 (label 1 -> active)."""

    def __init__(self, cache_root: Path):
        super().__init__()
        self.tasks, self.n_frames = ("au", "pulse", "resp"), N
        self.table: dict[bytes, tuple[float, float, np.ndarray]] = {}
        index = open_cache(cache_root)
        for tid in index.trial_ids:
            with index.open(tid) as tc:
                big = tc.big().transpose(0, 3, 1, 2)
                lab = tc.labels
                for t in range(tc.n_frames):
                    logits = np.where(lab["au"][t] == 1, 8.0, -8.0).astype(np.float32)
                    self.table[np.ascontiguousarray(big[t]).tobytes()] = (lab["pulse"][t], lab["resp"][t], logits)
        assert len(self.table) == sum(open_cache(cache_root).table["n_frames"])  # frames are unique

    def forward(self, big: torch.Tensor, small: torch.Tensor) -> dict[str, torch.Tensor]:
        rows = [self.table[np.ascontiguousarray(x).tobytes()] for x in big.numpy()]
        return {"pulse": torch.tensor([[r[0]] for r in rows]), "resp": torch.tensor([[r[1]] for r in rows]),
                "au": torch.tensor(np.stack([r[2] for r in rows]))}


class Constant(nn.Module):
    """Every AU active (logit 5), flat pulse and breathing."""

    tasks, n_frames = ("au", "pulse", "resp"), N

    def forward(self, big: torch.Tensor, small: torch.Tensor) -> dict[str, torch.Tensor]:
        n = small.shape[0]
        return {"au": torch.full((n, 3), 5.0), "pulse": torch.zeros(n, 1), "resp": torch.zeros(n, 1)}


@pytest.fixture(scope="module")
def oracle(cache: Path) -> Oracle:
    return Oracle(cache)


def fake_checkpoints(tmp: Path, monkeypatch: pytest.MonkeyPatch, model: nn.Module) -> dict[str, Path]:
    """A checkpoint file that the loader answers with ``model`` (not a registered variant)."""
    path = tmp / "fake.pt"
    path.write_bytes(b"fake")
    monkeypatch.setattr(run_mod, "load_checkpoint_model", lambda p, device=None: model)
    return {"all": path}


def strict_load(path: Path) -> Any:
    def refuse(token: str) -> None:
        raise ValueError(f"non-strict JSON token {token}")
    return json.loads(path.read_text(), parse_constant=refuse)


# ---------------------------------------------------------------------------------------------
# predictions


def test_predictions_are_frame_aligned_and_drop_the_tail(cache: Path, oracle: Oracle) -> None:
    index = open_cache(cache)
    ids = index.trial_ids
    preds = predict_trials(oracle, cache, ids, batch_chunks=7, device="cpu")  # 7 does not divide 83
    whole = predict_trials(oracle, cache, ids, batch_chunks=1000, device="cpu")
    assert list(preds) == ids
    for tid in ids:
        p = preds[tid]
        with index.open(tid) as tc:
            assert p.n_frames == tc.n_frames and tc.n_frames in (249, 250, 251)
            assert p.n_chunks == tc.n_frames // N and p.n_predicted == PREDICTED == p.n_chunks * N
            np.testing.assert_array_equal(p.frame_index, tc.frame_index[:PREDICTED])
            np.testing.assert_array_equal(p.pulse, tc.labels["pulse"][:PREDICTED])  # time order kept
            np.testing.assert_array_equal(p.resp, tc.labels["resp"][:PREDICTED])
            assert p.au_logits.shape == (PREDICTED, 3)
            np.testing.assert_array_equal(p.au_logits > 0, tc.labels["au"][:PREDICTED] == 1)
        np.testing.assert_array_equal(p.pulse, whole[tid].pulse)


def test_per_task_models_and_task_selection(cache: Path) -> None:
    ids = open_cache(cache).trial_ids[:1]
    pulse = build_model("small_branch", tasks=("pulse",), small_size=4, seed=0)
    resp = build_model("small_branch", tasks=("resp",), small_size=4, seed=1)
    pulse.train()
    (p,) = iter_predictions({"pulse": pulse, "resp": resp}, cache, ids, device="cpu")
    assert pulse.training  # the caller's mode is restored
    assert p.au_logits is None and p.pulse.shape == p.resp.shape == (PREDICTED,)
    assert not np.allclose(p.pulse, p.resp)
    (q,) = iter_predictions([pulse, resp], cache, ids, tasks=["resp"], device="cpu")
    assert q.pulse is None
    np.testing.assert_array_equal(q.resp, p.resp)
    with pytest.raises(ValueError, match="no model"):
        next(iter_predictions([pulse], cache, ids, tasks=["au"], device="cpu"))
    with pytest.raises(ValueError, match="N=3"):
        next(iter_predictions(pulse, cache, ids, chunk_length=5, device="cpu"))


def test_auxiliary_outputs_are_not_predictions(cache: Path) -> None:
    """jaanet_2021's au_local (its local AU detections, a training output) is never read: the
    AU predictions are its final au logits."""
    ids = open_cache(cache).trial_ids[:1]
    model = build_model("jaanet_2021", n_au=3, big_size=16, seed=0)
    (p,) = iter_predictions(model, cache, ids, batch_chunks=20, device="cpu")
    with open_cache(cache).open(ids[0]) as tc:
        big = torch.from_numpy(np.ascontiguousarray(tc.big(0, PREDICTED).transpose(0, 3, 1, 2)))
    with torch.no_grad():
        out = model.eval()(big)
    assert p.au_logits.shape == (PREDICTED, 3) and p.pulse is None and p.resp is None
    np.testing.assert_allclose(p.au_logits, out["au"].numpy(), rtol=0, atol=1e-5)
    assert np.abs(p.au_logits - out["au_local"].numpy()).max() > 1e-2


def test_checkpoint_round_trip(tmp_path: Path) -> None:
    options = {"tasks": ["au", "pulse", "resp"], "n_frames": 3, "big_size": 64, "small_size": 4, "n_au": 3}
    model = build_model("bigsmall", seed=3, **options).eval()
    path = tmp_path / "model.pt"
    torch.save({"model": model.state_dict(), "variant": "bigsmall", "options": options,
                "au_names": ["AU01", "AU02", "AU03"], "epoch": 5, "optimizer": {"state": {}},
                "rng": {"torch_cpu": torch.get_rng_state()}}, path)
    loaded = load_checkpoint_model(path, "cpu")
    assert set(CHECKPOINT_KEYS) == {"model", "variant", "options"}
    assert loaded.variant == "bigsmall" and not loaded.training
    assert loaded.checkpoint_info["au_names"] == ["AU01", "AU02", "AU03"]
    assert loaded.checkpoint_info["epoch"] == 5 and "optimizer" not in loaded.checkpoint_info
    assert "rng" not in loaded.checkpoint_info and "model" not in loaded.checkpoint_info
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    g = torch.Generator().manual_seed(0)
    big, small = torch.randn(6, 3, 64, 64, generator=g), torch.randn(6, 3, 4, 4, generator=g)
    # the scorer places the model as the trainer does (channels-last conv weights): same sums
    place(model, torch.device("cpu"))
    with torch.no_grad():
        want, got = model(big, small), loaded(big, small)
    for task in ("au", "pulse", "resp"):
        assert torch.equal(want[task], got[task])
    torch.save({"model": model.state_dict(), "variant": "bigsmall"}, tmp_path / "bad.pt")
    with pytest.raises(InputError, match="options"):
        load_checkpoint_model(tmp_path / "bad.pt", "cpu")
    torch.save({"model": model.state_dict(), "variant": "bigsmall", "options": options,
                "extra": Constant()}, tmp_path / "pickled.pt")
    with pytest.raises(InputError, match="unreadable checkpoint"):  # weights_only refuses objects
        load_checkpoint_model(tmp_path / "pickled.pt", "cpu")


# ---------------------------------------------------------------------------------------------
# metrics


def test_coded_mask_uses_au_range_and_uncoded_labels() -> None:
    labels = np.array([[1, -1], [0, 1], [1, 1], [-1, 0]])
    m = coded_mask(labels, np.array([9, 10, 11, 12]), [10, 12])
    np.testing.assert_array_equal(m, [[False, False], [True, True], [True, True], [False, False]])
    np.testing.assert_array_equal(coded_mask(labels, np.arange(4), [-1, -1]), labels >= 0)
    col = AUCollector(["A", "B"])
    col.add(np.array([[5.0, 5.0]] * 4), labels, np.array([9, 10, 11, 12]), [10, 12])
    res = col.model_metrics()
    assert res["n_coded"] == {"A": 2, "B": 2} and res["positives"] == {"A": 1, "B": 2}
    assert res["f1"]["A"] == pytest.approx(100 * 2 / 3) and res["f1"]["B"] == 100.0


def test_rate_rows_exclusions_and_merge() -> None:
    t = np.arange(249) / FPS
    wave = np.sin(2 * np.pi * HR_BINS[0] * BIN / 60 * t)
    rows = rate_rows(np.zeros(249), wave, FPS, SIGNALS, "pulse")
    assert rows[0]["status"] == "excluded" and "no power" in rows[0]["reason"]
    assert rate_rows(np.diff(wave, append=0), None, FPS, SIGNALS, "pulse")[0]["reason"].startswith("no labels/pulse_raw")
    ok = rate_rows(np.diff(wave, append=0), wave, FPS, SIGNALS, "pulse", rate_label=np.full(249, 60.0))
    assert ok[0]["status"] == "ok" and ok[0]["true"] == pytest.approx(HR_BINS[0] * BIN)
    assert ok[0]["rate_label"] == 60.0
    merged = merge_rate_rows({"pulse": ok, "resp": rate_rows(None, wave, FPS, SIGNALS, "resp")}, FPS, 249)
    assert len(merged) == 1 and merged[0]["hr_status"] == "ok" and merged[0]["rr_status"] == "excluded"
    assert merged[0]["window_end_s"] == pytest.approx(249 / FPS)


def test_rate_label_under_the_floor_is_no_reading() -> None:
    """A device that lost the pulse for part of a trial (UBFC-rPPG's erroneous HR rows read 0-4
    bpm) leaves those samples out of the label's rate; without a floor they drag the mean down."""
    t = np.arange(249) / FPS
    wave = np.sin(2 * np.pi * HR_BINS[0] * BIN / 60 * t)
    label = np.full(249, 72.0)
    label[50:150] = 2.0
    pred = np.diff(wave, append=0)
    floored = rate_rows(pred, wave, FPS, SIGNALS, "pulse", rate_label=label, rate_label_floor=30.0)
    assert floored[0]["rate_label"] == 72.0
    raw = rate_rows(pred, wave, FPS, SIGNALS, "pulse", rate_label=label)
    assert raw[0]["rate_label"] == pytest.approx((149 * 72.0 + 100 * 2.0) / 249)
    # a label with no sample over the floor has no rate: the trial is left out of that protocol
    none = rate_rows(pred, wave, FPS, SIGNALS, "pulse", rate_label=np.zeros(249), rate_label_floor=30.0)
    assert math.isnan(none[0]["rate_label"]) and none[0]["status"] == "ok"


def test_perfect_predictions(cache: Path, splits: Path, oracle: Oracle, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "fold1"
    metrics = evaluate_fold(checkpoints=fake_checkpoints(tmp_path, monkeypatch, oracle), cache_root=cache,
                            splits_path=splits, fold="fold1", tasks=["au", "pulse", "resp"], signals=SIGNALS,
                            settings={"batch_chunks": 10}, out_dir=out, device="cpu", progress=False,
                            run_id="test/oracle")
    assert metrics["n_trials"] == 2 and metrics["n_frames"] == 2 * PREDICTED
    assert metrics["test_trials"] == ["F001T1", "F002T1"] and metrics["n_train_trials"] == 4
    pulse, resp = metrics["pulse"], metrics["resp"]
    assert pulse["hr_mae"] == pytest.approx(0.0, abs=1e-9) and pulse["hr_rmse"] == pytest.approx(0.0, abs=1e-9)
    assert pulse["hr_pearson"] == pytest.approx(1.0) and pulse["n_trials"] == 2
    assert pulse["vs_rate_label"]["hr_mae"] == pytest.approx(0.0, abs=1e-9)  # rendered rate
    assert resp["rr_mae"] == pytest.approx(0.0, abs=1e-9)
    au = metrics["au"]
    assert au["f1"] == {"AU01": 100.0, "AU02": 100.0, "AU03": 100.0} and au["f1_mean"] == 100.0
    assert au["accuracy_mean"] == 100.0
    # coded frames only: 200 frames of AU_RANGE per trial, AU02's 20 uncoded frames left out
    assert au["n_coded"] == {"AU01": 400, "AU02": 360, "AU03": 400} and au["n_frames"] == 400

    # the constant training-mean predictor, by hand: training trials are subjects 3-6
    hr = np.array(HR_BINS) * BIN
    hr_mean = hr[2:].mean()
    base = metrics["baselines"]["hr_train_mean"]
    assert base["value"] == pytest.approx(hr_mean) and base["n_train_trials"] == 4
    assert base["hr_mae"] == pytest.approx(np.mean(np.abs(hr[:2] - hr_mean)))
    assert base["hr_rmse"] == pytest.approx(np.sqrt(np.mean((hr[:2] - hr_mean) ** 2)))
    assert base["hr_pearson"] is None  # a constant has no correlation
    index = open_cache(cache)
    rr_true = []
    for tid in index.trial_ids:
        with index.open(tid) as tc:
            rr_true.append(resp_rate_bpm(tc.labels["resp_raw"][:PREDICTED], FPS, False, **rate_kwargs(SIGNALS, "resp")))
    rr_true = np.array(rr_true)
    assert np.all(np.abs(rr_true - np.array(RR_BINS) * BIN) <= BIN + 1e-9)
    rr_base = metrics["baselines"]["rr_train_mean"]
    assert rr_base["value"] == pytest.approx(rr_true[2:].mean())
    assert rr_base["rr_mae"] == pytest.approx(np.mean(np.abs(rr_true[:2] - rr_true[2:].mean())))

    # the all-positive AU baseline: F1 = 2p/(1+p), accuracy = p
    allpos = metrics["baselines"]["au_all_positive"]
    for name, p in PREVALENCE.items():
        assert allpos["f1"][name] == pytest.approx(100 * 2 * p / (1 + p))
        assert allpos["accuracy"][name] == pytest.approx(100 * p)
    assert allpos["f1_mean"] == pytest.approx(np.mean([200 * p / (1 + p) for p in PREVALENCE.values()]))

    # outputs: strict JSON, one CSV row per trial, frame-aligned HDF5 groups
    doc = strict_load(out / "metrics.json")
    assert doc["baselines"]["hr_train_mean"]["hr_pearson"] is None and "provenance" in doc
    table = pd.read_csv(out / "predictions.csv", keep_default_na=False, na_values=[""])
    assert list(table["trial_id"]) == ["F001T1", "F002T1"] and set(table["fold"]) == {"fold1"}
    np.testing.assert_allclose(table["hr_pred"], hr[:2], rtol=1e-5)
    np.testing.assert_allclose(table["hr_true"], hr[:2], rtol=1e-5)
    assert list(table["n_frames"]) == [249, 250] and list(table["n_predicted"]) == [PREDICTED] * 2
    assert set(table["hr_status"]) == {"ok"} and list(table["n_au_frames"]) == [200, 200]
    with h5py.File(out / "predictions.h5", "r") as h5:
        assert sorted(h5) == ["F001T1", "F002T1"] and h5.attrs["fold"] == "fold1"
        assert json.loads(h5.attrs["au_names"]) == ["AU01", "AU02", "AU03"]
        g = h5["F002T1"]
        assert g["pulse"].shape == g["resp"].shape == g["frame_index"].shape == (PREDICTED,)
        assert g["au_logits"].shape == (PREDICTED, 3) and g.attrs["n_frames"] == 250
        # the scored labels beside the logits: -1 outside the AU-coded range, else the label
        au_true = g["au_true"][()]
        assert au_true.shape == (PREDICTED, 3) and int((au_true >= 0).any(axis=1).sum()) == 200
        assert h5.attrs["au_threshold"] == 0.5
        with index.open("F002T1") as tc:
            np.testing.assert_array_equal(g["pulse"][()], tc.labels["pulse"][:PREDICTED])
            scored = au_true >= 0
            np.testing.assert_array_equal(au_true[scored], (tc.labels["au"][:PREDICTED] == 1)[scored])
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporaries left


def test_all_positive_model_scores_on_coded_frames_only(cache: Path, splits: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Frames outside AU_RANGE are all active and AU02 has uncoded frames: counting either
    would move F1 away from 2p/(1+p)."""
    metrics = evaluate_fold(checkpoints=fake_checkpoints(tmp_path, monkeypatch, Constant()), cache_root=cache,
                            splits_path=splits, fold="fold2", tasks=["au"], signals=SIGNALS, settings={},
                            out_dir=tmp_path / "out", device="cpu", progress=False)
    assert "pulse" not in metrics and metrics["au"]["n_frames"] == 400
    for name, p in PREVALENCE.items():
        assert metrics["au"]["f1"][name] == pytest.approx(100 * 2 * p / (1 + p))
        assert metrics["au"]["accuracy"][name] == pytest.approx(100 * p)
    assert metrics["au"]["f1"] == metrics["baselines"]["au_all_positive"]["f1"]
    table = pd.read_csv(tmp_path / "out" / "predictions.csv", keep_default_na=False)
    assert set(table["hr_status"]) == {"skipped"} and set(table["rr_status"]) == {"skipped"}


def test_flat_predictions_are_excluded_not_scored(cache: Path, splits: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Also: training subjects from the training data's own splits (a model trained elsewhere)."""
    train_splits = tmp_path / "train_splits.json"
    train_splits.write_text(json.dumps({"folds": [{"name": "fold3", "test": ["F001"], "train": ["F003"]}]}))
    metrics = evaluate_fold(checkpoints=fake_checkpoints(tmp_path, monkeypatch, Constant()), cache_root=cache,
                            splits_path=splits, fold="fold3", tasks=["pulse"], signals=SIGNALS, settings={},
                            out_dir=tmp_path / "out", device="cpu", progress=False,
                            train_cache_root=cache, train_splits_path=train_splits)
    assert metrics["pulse"]["hr_mae"] is None and metrics["pulse"]["n_excluded_trials"] == 2
    base = metrics["baselines"]["hr_train_mean"]
    assert base["n_samples"] == 0 and base["hr_mae"] is None
    assert base["n_train_trials"] == 1 and base["value"] == pytest.approx(HR_BINS[2] * BIN)
    doc = strict_load(tmp_path / "out" / "metrics.json")
    assert doc["pulse"]["hr_mae"] is None
    table = pd.read_csv(tmp_path / "out" / "predictions.csv", keep_default_na=False)
    assert set(table["hr_status"]) == {"excluded"} and all("no power" in r for r in table["hr_reason"])


def test_windowed_mode_gives_one_row_per_window(cache: Path, splits: Path, oracle: Oracle, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    metrics = evaluate_fold(checkpoints=fake_checkpoints(tmp_path, monkeypatch, oracle), cache_root=cache,
                            splits_path=splits, fold="fold1", tasks=["pulse"], signals=SIGNALS,
                            settings={"hr_mode": "windowed"}, out_dir=tmp_path / "out", device="cpu",
                            progress=False)
    table = pd.read_csv(tmp_path / "out" / "predictions.csv")
    assert len(table) == 4  # two 4 s windows (100 frames, step 100) in each 249-frame trial
    assert list(table["window_start_s"]) == [0.0, 4.0, 0.0, 4.0]
    assert metrics["hr_mode"] == "windowed" and metrics["pulse"]["n_samples"] == 4
    assert metrics["pulse"]["n_trials"] == 2 and metrics["pulse"]["hr_mae"] == pytest.approx(0.0, abs=1e-9)


def test_real_checkpoints_one_model_per_task(cache: Path, splits: Path, tmp_path: Path) -> None:
    paths = {}
    for i, task in enumerate(("pulse", "resp")):
        # as the trainer saves them: every constructor option, tasks as a tuple
        options = resolved_options("small_branch", tasks=(task,), n_frames=N, small_size=4)
        model = build_model("small_branch", seed=i, **options)
        paths[task] = tmp_path / f"{task}.pt"
        torch.save({"model": model.state_dict(), "variant": "small_branch", "options": options}, paths[task])
    out = tmp_path / "run"
    out.mkdir()
    (out / "metrics.json").write_text("{}")  # a stale one from an earlier run is replaced
    metrics = evaluate_fold(checkpoints=paths, cache_root=cache, splits_path=splits, fold="fold2",
                            tasks=["pulse", "resp"], signals=SIGNALS, settings={"amp": "bf16"},
                            out_dir=out, device="cpu", progress=False)
    assert metrics["models"]["pulse"]["variant"] == "small_branch" and "au" not in metrics
    assert metrics["n_trials"] == 2 and strict_load(out / "metrics.json")["fold"] == "fold2"
    with h5py.File(out / "predictions.h5", "r") as h5:
        assert sorted(h5) == ["F003T1", "F004T1"] and "au_logits" not in h5["F003T1"]
        assert np.all(np.isfinite(h5["F003T1"]["pulse"][()]))


def test_read_fold_and_errors(splits: Path, tmp_path: Path) -> None:
    test, train = read_fold(splits, "fold2")
    assert test == ["F003", "F004"] and sorted(train) == ["F001", "F002", "F005", "F006"]
    no_train = tmp_path / "s.json"
    no_train.write_text(json.dumps({"folds": [{"name": "a", "test": ["x"]}, {"name": "b", "test": ["y", "z"]}]}))
    assert read_fold(no_train, "a") == (["x"], ["y", "z"])
    with pytest.raises(InputError, match="no fold"):
        read_fold(splits, "fold9")


# ---------------------------------------------------------------------------------------------
# aggregation


def test_aggregate_mean_and_std_over_three_folds(tmp_path: Path) -> None:
    values = {"fold1": (2.0, 40.0, 0.5), "fold2": (3.5, 45.0, None), "fold3": (7.0, 50.5, 0.7)}
    paths = {}
    for fold, (mae, f1, r) in values.items():
        paths[fold] = tmp_path / f"{fold}.json"
        paths[fold].write_text(json.dumps({
            "fold": fold, "n_trials": 4, "tasks": ["au", "pulse"], "flag": True,
            "pulse": {"hr_mae": mae, "hr_pearson": r}, "au": {"f1": {"AU01": f1}},
            "provenance": {"seed": 1}, "models": {"all": {"variant": "x"}}}))
    table = aggregate_runs(paths).set_index("metric")
    assert list(table.columns) == ["mean", "std", "n_folds", "fold1", "fold2", "fold3"]
    mae = np.array([v[0] for v in values.values()])
    assert table.loc["pulse.hr_mae", "mean"] == pytest.approx(np.mean(mae))
    assert table.loc["pulse.hr_mae", "std"] == pytest.approx(np.std(mae, ddof=1))
    f1 = np.array([v[1] for v in values.values()])
    assert table.loc["au.f1.AU01", "std"] == pytest.approx(np.std(f1, ddof=1))
    assert aggregate_runs(paths, ddof=0).set_index("metric").loc["au.f1.AU01", "std"] == pytest.approx(np.std(f1))
    assert table.loc["pulse.hr_pearson", "n_folds"] == 2  # null in fold2
    assert table.loc["pulse.hr_pearson", "mean"] == pytest.approx(0.6)
    assert table.loc["n_trials", "std"] == 0.0
    assert "provenance.seed" not in table.index and "flag" not in table.index
    assert "models.all.variant" not in flatten_metrics(json.loads(paths["fold1"].read_text()))

    csv_path = tmp_path / "results" / "metrics" / "exp.csv"
    write_aggregate(paths, csv_path, extra={"experiment": "exp"})
    written = pd.read_csv(csv_path).set_index("metric")
    assert written.loc["pulse.hr_mae", "fold3"] == 7.0
    doc = strict_load(csv_path.with_suffix(".json"))
    assert doc["experiment"] == "exp" and doc["folds"] == ["fold1", "fold2", "fold3"]
    assert doc["metrics"]["pulse.hr_pearson"]["per_fold"]["fold2"] is None
    assert doc["metrics"]["pulse.hr_mae"]["mean"] == pytest.approx(np.mean(mae))
    single = aggregate_runs({"fold1": paths["fold1"]}).set_index("metric")
    assert math.isnan(single.loc["pulse.hr_mae", "std"])


# ------------------------------------------------------------------------------------------
# confidence intervals (pipeline/evaluate/stats.py)


def test_fold_t_interval() -> None:
    from scipy import stats as st

    from pipeline.evaluate.stats import fold_ci

    # mean 2, sem 1/sqrt(3), t(0.975, 2) = 4.3027
    lo, hi = fold_ci([1.0, 2.0, 3.0])
    half = st.t.ppf(0.975, 2) / np.sqrt(3)
    assert (lo, hi) == (pytest.approx(2 - half), pytest.approx(2 + half)) and half == pytest.approx(2.4842, abs=1e-4)
    assert fold_ci([4.0]) is None and fold_ci([4.0, None]) is None and fold_ci([5.0, 5.0]) == (5.0, 5.0)


def test_rate_metrics_from_subject_sums_equal_the_direct_ones() -> None:
    from pipeline.evaluate.stats import SUM_COLUMNS, metric_from_sums, subject_sums

    rng = np.random.default_rng(3)
    true = rng.uniform(55, 95, 40)
    pred = true + rng.normal(0, 6, 40)
    subjects = [f"s{i % 7}" for i in range(40)]
    sums = subject_sums(pred, true, subjects)
    assert len(sums) == 7 and sums["n"].sum() == 40
    cols = [sums[c].to_numpy() for c in SUM_COLUMNS]
    err = pred - true
    assert metric_from_sums("mae", *cols) == pytest.approx(np.mean(np.abs(err)))
    assert metric_from_sums("rmse", *cols) == pytest.approx(np.sqrt(np.mean(err ** 2)))
    assert metric_from_sums("mape", *cols) == pytest.approx(100 * np.mean(np.abs(err) / true))
    assert metric_from_sums("pearson", *cols) == pytest.approx(np.corrcoef(pred, true)[0, 1])


def test_subject_bootstrap_resamples_subjects_not_trials() -> None:
    import pandas as pd

    from pipeline.evaluate.stats import rate_cis, subject_bootstrap_ci, subject_sums

    # every subject has the same errors: any resample of subjects gives the same MAE, so the
    # interval collapses, although the trials' errors differ (a trial bootstrap would not)
    pred = np.tile([71.0, 75.0], 5)
    true = np.full(10, 72.0)
    subjects = np.repeat([f"s{i}" for i in range(5)], 2)
    sums = subject_sums(pred, true, subjects)
    assert subject_bootstrap_ci(sums, "mae") == (pytest.approx(2.0), pytest.approx(2.0))
    # one subject with large errors: the interval spans the subject-level spread, deterministically
    pred2 = np.concatenate([np.full(8, 73.0), np.full(2, 92.0)])
    sums2 = subject_sums(pred2, true, subjects)
    lo, hi = subject_bootstrap_ci(sums2, "mae", seed=0)
    assert lo < 4.8 < hi and lo >= 1.0 and hi <= 20.0
    assert subject_bootstrap_ci(sums2, "mae", seed=0) == (lo, hi)
    assert subject_bootstrap_ci(sums.iloc[:1], "mae") is None  # one subject: no interval
    frame = pd.DataFrame({"subject": subjects, "hr_pred": pred2, "hr_true": true,
                          "hr_status": ["ok"] * 9 + ["failed"]})
    cis = rate_cis(frame, "hr")
    assert set(cis) == {"pulse.hr_mae", "pulse.hr_rmse", "pulse.hr_mape", "pulse.hr_pearson"}
    assert cis["pulse.hr_pearson"] is None  # the truth is constant: r undefined


def test_paired_wilcoxon_effect_size_and_ties() -> None:
    from scipy import stats as st

    from pipeline.evaluate.paired import paired_wilcoxon

    better = paired_wilcoxon(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]), np.array([3.0, 5.0, 4.0, 9.0, 8.0, 6.0]))
    # differences -2, -3, -1, -5, -3, 0: the tie is dropped, all others favour the first
    assert better["n"] == 6 and better["median_difference"] == -2.5 and better["rank_biserial"] == -1.0
    assert better["p_value"] == pytest.approx(st.wilcoxon([-2, -3, -1, -5, -3]).pvalue)
    mixed = paired_wilcoxon(np.array([2.0, 1.0, 4.0]), np.array([1.0, 2.0, 2.0]))  # +1, -1, +2
    assert mixed["rank_biserial"] == pytest.approx((1.5 + 3 - 1.5) / 6)
    assert paired_wilcoxon(np.ones(3), np.ones(3)) == {"n": 3, "median_difference": 0.0, "rank_biserial": 0.0,
                                                      "p_value": 1.0}
    assert paired_wilcoxon(np.array([np.nan]), np.array([1.0]))["n"] == 0


def test_paired_au_f1_difference_interval_and_permutation_p() -> None:
    """The mean-F1 difference of two sets of decisions on the same frames, computed from pooled
    confusion counts (as the evaluation's F1), with uncoded frames left out; identical decisions
    differ by exactly 0 with p = 1; a model right on every frame against the all-positive predictor
    on 8 subjects reaches the smallest exact p, 2/2^8."""
    from pipeline.evaluate.paired import paired_au_f1
    from pipeline.metrics.au import au_metrics

    # 8 subjects x 10 frames, 2 AUs; AU 1 active on frames 0-3 of each subject, AU 2 on frame 0
    true = np.zeros((80, 2), dtype=np.int8)
    true[np.arange(80) % 10 < 4, 0] = 1
    true[np.arange(80) % 10 == 0, 1] = 1
    true[np.arange(80) % 10 == 9, 1] = -1  # not coded: neither counted as negative nor scored
    subjects = np.repeat([f"S{k}" for k in range(8)], 10)
    perfect = np.where(true == 1, 1, 0)
    allpos = np.ones_like(true)
    r = paired_au_f1(true, perfect, allpos, subjects)
    # all-positive: AU 1 F1 = 2*32/(2*32+48) = 57.14; AU 2: 2*8/(2*8+64) = 20.0 (frame 9 uncoded)
    assert r["f1"] == pytest.approx(100.0)
    assert r["f1_reference"] == pytest.approx((200 * 32 / 112 + 200 * 8 / 80) / 2)
    assert r["f1_difference"] == pytest.approx(100.0 - r["f1_reference"])
    assert (r["n_frames"], r["n_subjects"]) == (80, 8)
    assert r["p_value"] == pytest.approx(2 / 2**8)  # exact: every swap of the 8 subjects enumerated
    assert r["ci_low"] == pytest.approx(r["f1_difference"]) and r["ci_high"] == pytest.approx(r["f1_difference"])
    same = paired_au_f1(true, allpos, allpos, subjects)
    assert (same["f1_difference"], same["ci_low"], same["ci_high"], same["p_value"]) == (0.0, 0.0, 0.0, 1.0)
    # the evaluation's F1 rule: a third AU coded on every frame but never active scores 0 for the
    # all-positive predictor and counts in the mean, as in pipeline.metrics.au.au_metrics
    never = np.concatenate([true, np.zeros((80, 1), np.int8)], axis=1)
    r3 = paired_au_f1(never, np.ones_like(never), np.where(never == 1, 1, 0), subjects)
    coded = never >= 0
    per_au = [au_metrics(np.ones((int(coded[:, k].sum()), 1), int), never[coded[:, k], k][:, None])["f1"]["AU0"]
              for k in range(3)]
    assert r3["f1"] == pytest.approx(np.mean(per_au)) and per_au[2] == 0.0
    # perfect on the two AUs; on the third no positive and no positive decision: 0, as the evaluation
    assert r3["f1_reference"] == pytest.approx(200 / 3)
    # one subject: the difference, but neither an interval nor a p-value
    one = paired_au_f1(true[:10], perfect[:10], allpos[:10], subjects[:10])
    assert one["f1_difference"] > 0 and (one["ci_low"], one["ci_high"], one["p_value"]) == (None, None, None)
    # reproducible given the seed
    noisy = perfect.copy()
    noisy[::7, 0] = 1 - noisy[::7, 0]
    assert paired_au_f1(true, noisy, allpos, subjects, seed=3) == paired_au_f1(true, noisy, allpos, subjects, seed=3)

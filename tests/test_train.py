"""Training library: loss terms, pos_weight, chunk selection, gradient angles, determinism,
atomic checkpoints, resume after SIGKILL, fine-tuning initialisation (pipeline/train)."""

from __future__ import annotations

import csv
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.cache.dataset import ChunkDataset
from pipeline.models.registry import build_model, resolved_options
from pipeline.preprocess import preprocess_trials
from pipeline.train.checkpoint import load_checkpoint
from pipeline.train.data import EpochBatches, coded_chunks, plan_chunks
from pipeline.train.gradients import angle_deg, gradient_angles, task_gradients
from pipeline.train.loop import DEFAULT_SETTINGS, resolve_settings, train_model
from pipeline.train.loss import (
    AU_LOCAL_WEIGHT,
    MultiTaskLoss,
    au_counts,
    au_pos_weight,
    loss_terms,
    multitask_loss,
    task_label,
    task_losses,
)
from tests.test_preprocess import make_trial, pulse_wave, small_settings

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parent.parent
TRIALS = ["F001T1", "M002T6", "F003T7"]
N_FRAMES = 60            # 59 stored frames (diff tail trimmed): 19 chunks of 3
AU_RANGES = {"F001T1": (6, 54), "M002T6": (0, 60), "F003T7": (10, 40)}
# chunks k with frames [3k, 3k+3) inside the range: k = 2..17, 0..18, 4..12
CODED = {"F001T1": list(range(2, 18)), "M002T6": list(range(0, 19)), "F003T7": list(range(4, 13))}
SMALL_RUN = dict(epochs=3, batch_chunks=4)  # small_branch on the pulse: ~1 s


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three 60-frame trials with a pulse in the frames and the pulse label, breathing and
    three AUs; Big 32x32, Small 2x2 (BigSmall pools Big by 16 onto the Small size)."""
    out = tmp_path_factory.mktemp("train_cache") / "bp4d"
    trials = []
    for i, tid in enumerate(TRIALS):
        t = np.arange(N_FRAMES) / 25.0
        au = (np.random.default_rng(i).random((N_FRAMES, 3)) < 0.3).astype(np.int8)
        au[:, 2] = 0  # AU03 never active: its pos_weight falls back to 1
        trials.append(make_trial(n=N_FRAMES, h=40, w=40, trial_id=tid, seed=i, au=au,
                                 au_range=AU_RANGES[tid],
                                 signals={"pulse": pulse_wave(N_FRAMES), "resp": np.sin(2 * np.pi * 0.3 * t + i)}))
    preprocess_trials("bp4d", trials, out, small_settings(big_size=32, small_size=2), progress=False, code="c")
    return out


def state_equal(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def weights(run: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(run / "checkpoint.pt")["model"]


def log_rows(run: Path) -> list[list[str]]:
    with open(run / "log.csv", newline="") as fh:
        return [row[:-1] for row in csv.reader(fh)]  # without the seconds column


def small_run(cache_root: Path, out: Path, seed: int = 0, **settings) -> dict:
    return train_model(variant="small_branch", tasks=["pulse"], cache_root=cache_root, train_trials=TRIALS,
                       settings={**SMALL_RUN, **settings}, seed=seed, out_dir=out, progress=False,
                       code_version="test")


@pytest.fixture(scope="module")
def reference_run(cache_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("reference") / "run"
    small_run(cache_root, out)
    return out


# ------------------------------------------------------------------------------------------
# loss


def test_pos_weight_is_negatives_over_positives() -> None:
    au = np.array([
        [1, 0, 0, 1],
        [0, 0, 0, 1],
        [0, 1, 0, 1],
        [0, 9, -1, 1],   # 9 ("unknown") is inactive; -1 is not coded and not counted
        [-1, 0, 0, 1],
    ], dtype=np.int8)
    pos, neg = au_counts(au)
    np.testing.assert_array_equal(pos, [1, 1, 0, 5])
    np.testing.assert_array_equal(neg, [3, 4, 4, 0])
    # no positive (col 2) or no negative (col 3): plain BCE, weight 1
    np.testing.assert_allclose(au_pos_weight(au), [3.0, 4.0, 1.0, 1.0])
    # an explicit mask counts only its entries
    mask = np.ones_like(au)
    mask[1:, 0] = 0
    np.testing.assert_allclose(au_pos_weight(au, mask)[:2], [1.0, 4.0])  # col 0: no negative left


def test_loss_terms_by_hand() -> None:
    # two chunks of N=2 frames, 2 AUs; zero logits: BCE = w ln2 on positives, ln2 on negatives
    outputs = {
        "au": torch.zeros(4, 2),
        "pulse": torch.tensor([[1.0], [2.0], [0.0], [-1.0]]),
        "resp": torch.tensor([[0.5], [0.5], [0.5], [0.5]]),
    }
    labels = {
        "au": torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]]),
        "au_mask": torch.ones(2, 2, 2),
        "pos_ppg": torch.tensor([[0.0, 2.0], [1.0, -1.0]]),
        "pulse": torch.zeros(2, 2),
        "resp": torch.tensor([[0.5, 1.5], [-0.5, 0.5]]),
    }
    w = torch.tensor([3.0, 5.0])
    total, parts = multitask_loss(outputs, labels, ("au", "pulse", "resp"), "pos_ppg", w)
    ln2 = math.log(2.0)
    au_expected = (3 * ln2 + ln2 + 3 * ln2 + 5 * ln2 + 4 * ln2) / 8  # 2 positives of AU1, 1 of AU2
    assert parts["au"].item() == pytest.approx(au_expected, rel=1e-6)
    assert parts["pulse"].item() == pytest.approx((1 + 0 + 1 + 0) / 4)  # against pos_ppg, not pulse
    assert parts["resp"].item() == pytest.approx((0 + 1 + 1 + 0) / 4)
    assert total.item() == pytest.approx(au_expected + 0.5 + 0.5, rel=1e-6)
    # uncoded entries leave the mean: mask out the AU2 positive -> 7 entries
    masked = dict(labels, au_mask=torch.tensor([[[1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]]))
    _, parts = multitask_loss(outputs, masked, ("au",), pos_weight=w)
    assert parts["au"].item() == pytest.approx((3 * ln2 + ln2 + 3 * ln2 + 4 * ln2) / 7, rel=1e-6)
    # a single-task model has its own term only; 'pulse' as target by default
    total, parts = MultiTaskLoss(("pulse",))(outputs, labels)
    assert list(parts) == ["pulse"] and total.item() == pytest.approx((1 + 4 + 0 + 1) / 4)
    assert task_label("pulse", "pos_ppg") == "pos_ppg" and task_label("resp", "pos_ppg") == "resp"
    with pytest.raises(KeyError, match="resp"):
        multitask_loss({"pulse": outputs["pulse"]}, labels, ("pulse", "resp"))


def test_local_au_term_has_the_au_pos_weight_and_mask() -> None:
    # JÂA-Net's local detections (au_local): the AU term's weighted BCE, pos_weight and mask
    labels = {"au": torch.tensor([[[1.0, 0.0], [0.0, 0.0]], [[1.0, 1.0], [0.0, 0.0]]]),
              "au_mask": torch.tensor([[[1.0, 1.0], [1.0, 1.0]], [[1.0, 0.0], [1.0, 1.0]]]),
              "pulse": torch.zeros(2, 2)}
    w = torch.tensor([3.0, 5.0])
    local = torch.full((4, 2), math.log(3.0))
    local[2, 1] = 100.0  # the uncoded entry (chunk 2, frame 1, AU2): weight 0, whatever the logit
    outputs = {"au": torch.zeros(4, 2), "au_local": local, "pulse": torch.zeros(4, 1)}
    total, parts = multitask_loss(outputs, labels, ("au",), pos_weight=w)
    assert list(parts) == ["au", "au_local"] and AU_LOCAL_WEIGHT == 1.0
    ln2 = math.log(2.0)
    # 7 coded entries: 2 positives of AU1 (weight 3), 5 negatives; logit ln 3 gives
    # -ln sigmoid = ln(4/3) on a positive and -ln(1 - sigmoid) = ln 4 on a negative
    au_expected = (3 * ln2 + ln2 + 3 * ln2 + 4 * ln2) / 7
    local_expected = (2 * 3 * math.log(4 / 3) + 5 * math.log(4.0)) / 7
    assert parts["au"].item() == pytest.approx(au_expected, rel=1e-6)
    assert parts["au_local"].item() == pytest.approx(local_expected, rel=1e-6)
    assert total.item() == pytest.approx(au_expected + AU_LOCAL_WEIGHT * local_expected, rel=1e-6)
    # without pos_weight both terms are plain BCE: the positives count ln(4/3) once
    _, plain = multitask_loss(outputs, labels, ("au",))
    assert plain["au_local"].item() == pytest.approx((2 * math.log(4 / 3) + 5 * math.log(4.0)) / 7, rel=1e-6)
    # the task's whole loss folds its auxiliary term in (gradient angles are between tasks)
    folded = task_losses(parts)
    assert list(folded) == ["au"] and folded["au"].item() == pytest.approx(total.item(), rel=1e-6)
    # no AU task, no AU labels used: au_local adds nothing
    total, parts = multitask_loss(outputs, labels, ("pulse",))
    assert list(parts) == ["pulse"] and total.item() == 0.0
    assert loss_terms(("au",), ("au_local",)) == ["au", "au_local"]
    assert loss_terms(("pulse", "resp"), ("au_local",)) == ["pulse", "resp"]
    assert loss_terms(("au", "pulse")) == ["au", "pulse"]


# ------------------------------------------------------------------------------------------
# gradient angles


def test_gradient_angles_of_known_cases() -> None:
    w = torch.nn.Parameter(torch.tensor([1.0, 2.0, 3.0]))
    unused = torch.nn.Parameter(torch.ones(2))  # no task reaches it: zeros in every vector
    losses = {
        "a": 3.0 * w[0],                   # gradient (3, 0, 0)
        "b": w[1] ** 2,                    # (0, 4, 0): orthogonal to a
        "a_twice": 2.0 * (3.0 * w[0]),     # parallel to a
        "minus_a": -w[0] + 0.0 * w[2],     # opposite to a
        "mix": w[0] + 1.5 * w[1],          # (1, 1.5, 0): atan(1.5) from a
    }
    grads = task_gradients(losses, [w, unused])
    assert grads["b"].tolist() == [0.0, 4.0, 0.0, 0.0, 0.0]
    out = gradient_angles(grads)
    assert out["tasks"] == list(losses)
    assert out["angles_deg"]["a|b"] == pytest.approx(90.0, abs=1e-9)
    assert out["angles_deg"]["a|a_twice"] == pytest.approx(0.0, abs=1e-9)
    assert out["angles_deg"]["a|minus_a"] == pytest.approx(180.0, abs=1e-9)
    assert out["angles_deg"]["a|mix"] == pytest.approx(math.degrees(math.atan(1.5)), abs=1e-9)
    assert out["dot"][0][1] == 0.0 and out["norm"]["b"] == pytest.approx(4.0)
    assert out["angle_matrix_deg"][0][0] == pytest.approx(0.0, abs=1e-9)
    assert math.isnan(angle_deg(torch.zeros(3), torch.ones(3)))


# ------------------------------------------------------------------------------------------
# which chunks, in which order


def test_coded_chunks_follow_the_video_frame_index() -> None:
    # whole video stored: frame t is video frame t
    np.testing.assert_array_equal(np.flatnonzero(coded_chunks(np.arange(59), (10, 40), 3)), range(4, 13))
    # a cache cut to the AU range starts at video frame 100: every whole chunk is coded
    assert coded_chunks(np.arange(100, 130), (100, 130), 3).all()
    assert not coded_chunks(np.arange(59), (-1, -1), 3).any()


def test_plan_selects_au_coded_chunks_and_a_fixed_subsample(cache_root: Path) -> None:
    ds = ChunkDataset(cache_root, TRIALS, 3, tasks=["au"])
    plan = plan_chunks(ds, au_coded_only=True, max_chunks=None, seed=0, au_names=["AU01", "AU02", "AU03"])
    expected = [ds.index_of(t, k) for t in TRIALS for k in CODED[t]]
    assert plan.indices == expected
    assert plan.per_trial == {t: [len(CODED[t]), 19] for t in TRIALS}
    # the AU codes of exactly those chunks, for the fold's pos_weight
    codes = np.concatenate([ds[i][2]["au"] for i in expected])
    np.testing.assert_array_equal(plan.au_codes == 1, codes == 1)
    everything = plan_chunks(ds, au_coded_only=False, max_chunks=None, seed=0)
    assert everything.indices == list(range(57)) and everything.au_codes is None
    sub = plan_chunks(ds, au_coded_only=True, max_chunks=10, seed=3)
    assert len(sub.indices) == 10 and set(sub.indices) <= set(expected)
    assert sub.indices == plan_chunks(ds, au_coded_only=True, max_chunks=10, seed=3).indices
    assert sub.indices != plan_chunks(ds, au_coded_only=True, max_chunks=10, seed=4).indices
    assert sum(v[0] for v in sub.per_trial.values()) == 10


def test_a_stride_keeps_every_kth_chunk_of_each_trial(cache_root: Path) -> None:
    """chunk_length 1 with stride 3 trains on frames 0, 3, 6, ... of each trial: the first frames
    of its 3-frame chunks (the Big frames BigSmall's down-sampled Big branch sees), plus a frame
    of the tail that no whole 3-frame chunk holds."""
    by3 = ChunkDataset(cache_root, TRIALS, 3, tasks=["au"])
    by1 = ChunkDataset(cache_root, TRIALS, 1, tasks=["au"])
    for coded in (False, True):
        every = plan_chunks(by1, au_coded_only=coded, max_chunks=None, seed=0, au_names=["AU01"])
        strided = plan_chunks(by1, au_coded_only=coded, max_chunks=None, seed=0, au_names=["AU01"], stride=3)
        first = {t: by1.trial_items(t)[0] for t in TRIALS}
        trial_of = {i: t for t in TRIALS for i in by1.trial_items(t)}
        assert strided.indices == [i for i in every.indices if (i - first[trial_of[i]]) % 3 == 0]
        np.testing.assert_array_equal(strided.au_codes, np.concatenate([by1[i][2]["au"] for i in strided.indices])[:, :1])
        chunks = plan_chunks(by3, au_coded_only=coded, max_chunks=None, seed=0)
        for i in chunks.indices:  # every 3-frame chunk's first frame is among the strided frames
            t = next(t for t in TRIALS if i in by3.trial_items(t))
            j = first[t] + 3 * by3.trial_items(t).index(i)
            assert j in strided.indices
            np.testing.assert_array_equal(by3[i][0][0], by1[j][0][0])
        assert len(strided.indices) - len(chunks.indices) <= len(TRIALS) * (2 if coded else 1)


def test_epoch_batches_depend_on_seed_and_epoch_only() -> None:
    sampler = EpochBatches(list(range(10)), 4, seed=7)
    sampler.set_epoch(1)
    batches = list(sampler)
    assert [len(b) for b in batches] == [4, 4, 2] and sorted(sum(batches, [])) == list(range(10))
    again = EpochBatches(list(range(10)), 4, seed=7)
    again.set_epoch(0)
    list(again)
    again.set_epoch(1)
    assert list(again) == batches
    sampler.set_epoch(2)
    assert list(sampler) != batches


def test_settings_are_validated() -> None:
    s = resolve_settings({"epochs": 2})
    assert s["epochs"] == 2 and s["lr"] == 1e-3 and s["optimizer"] == "adamw" and s["chunk_length"] == 3
    assert set(s) == set(DEFAULT_SETTINGS)
    with pytest.raises(ValueError, match="unknown training setting"):
        resolve_settings({"epoch": 2})
    with pytest.raises(ValueError, match="precision"):
        resolve_settings({"precision": "fp8"})
    with pytest.raises(ValueError, match="pulse_label"):
        resolve_settings({"pulse_label": "bp"})


# ------------------------------------------------------------------------------------------
# training runs


def test_training_lowers_the_loss(cache_root: Path, tmp_path: Path) -> None:
    summary = small_run(cache_root, tmp_path / "run", epochs=8)
    losses = [e["loss"]["total"] for e in summary["epoch_losses"]]
    assert len(losses) == 8 and summary["steps"] == 8 * 15  # 57 chunks in batches of 4
    assert losses[-1] < 0.3 * losses[0], losses
    assert summary["final_losses"] == {"total": losses[-1], "pulse": losses[-1]}
    assert summary["chunks_per_epoch"] == 57 and summary["frames_per_epoch"] == 171
    assert summary["frames_per_second"] > 0
    # the CPU named with the instruction set its bf16 sums follow (results repeat on one kind of CPU)
    assert summary["device"].startswith("cpu (") and "torch kernels " in summary["device"]
    assert torch.backends.cpu.get_cpu_capability() in summary["device"]


def test_same_seed_same_weights_other_seed_other_weights(cache_root: Path, reference_run: Path,
                                                          tmp_path: Path) -> None:
    again = tmp_path / "again"
    small_run(cache_root, again, num_workers=1, log_every=5)  # neither changes the weights
    assert state_equal(weights(again), weights(reference_run))
    # another seed, in a folder holding the seed-0 checkpoint: not resumed, other weights
    other = tmp_path / "other"
    shutil.copytree(reference_run, other)
    summary = small_run(cache_root, other, seed=1)
    assert summary["resumed_from_epoch"] is None
    a, b = weights(other), weights(reference_run)
    assert a.keys() == b.keys() and not any(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_loads_weights_only_and_describes_the_run(reference_run: Path) -> None:
    ckpt = torch.load(reference_run / "checkpoint.pt", weights_only=True)
    assert ckpt["epoch"] == 3 and ckpt["step"] == 45 and ckpt["variant"] == "small_branch"
    assert ckpt["options"] == resolved_options("small_branch", tasks=("pulse",), n_frames=3, big_size=32, small_size=2)
    assert ckpt["settings"] == resolve_settings(SMALL_RUN) and ckpt["seed"] == 0
    assert ckpt["code_version"] == "test" and ckpt["train_trials"] == TRIALS
    assert isinstance(ckpt["rng"]["torch_cpu"], torch.Tensor)
    assert {"state", "param_groups"} <= set(ckpt["optimizer"])
    model = build_model("small_branch", **ckpt["options"])
    model.load_state_dict(ckpt["model"])  # the weights fit the recorded options
    summary = json.loads((reference_run / "train.json").read_text())
    assert summary["complete"] and summary["epochs"] == 3 and summary["settings"]["epochs"] == 3
    assert summary["provenance"]["seed"] == 0 and summary["provenance"]["data_hash"]
    assert summary["options"]["tasks"] == ["pulse"] and summary["pos_weight"] is None
    header, *rows = log_rows(reference_run)
    assert header == ["epoch", "step", "chunks", "loss", "loss_pulse", "lr"]
    assert [int(r[1]) for r in rows] == list(range(1, 46)) and rows[-1][0] == "3"
    assert sum(int(r[2]) for r in rows) == 3 * 57


KILLED_RUN = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    import torch
    torch.set_num_threads(1)
    from pipeline.cache.dataset import ChunkDataset
    from pipeline.train.loop import train_model
    read = ChunkDataset.__getitem__
    def slow(self, i):  # slow reading: the parent kills this run in epoch 2
        time.sleep(0.02)
        return read(self, i)
    ChunkDataset.__getitem__ = slow
    train_model(variant="small_branch", tasks=["pulse"], cache_root=Path(sys.argv[1]),
                train_trials=sys.argv[3].split(","), settings={"epochs": 3, "batch_chunks": 4},
                seed=0, out_dir=Path(sys.argv[2]), progress=False, code_version="test")
""")


def test_sigkill_mid_epoch_then_resume_gives_the_uninterrupted_weights(
        cache_root: Path, reference_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "killed"
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(cache_root), str(out), ",".join(TRIALS)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and proc.poll() is None:
            log = out / "log.csv"
            if (out / "checkpoint.pt").exists() and log.exists() and "\n2," in log.read_text():
                break
            time.sleep(0.01)
        assert proc.poll() is None, f"the run ended before it was killed: {proc.stderr.read().decode()[-2000:]}"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    # killed inside epoch done+1 (epoch 2 unless this process was starved): the last end-of-epoch
    # checkpoint, rows of the epoch it was killed in, no summary
    done = load_checkpoint(out / "checkpoint.pt")["epoch"]
    assert done in (1, 2) and any(r[0] == str(done + 1) for r in log_rows(out)[1:])
    assert not (out / "train.json").exists()
    summary = small_run(cache_root, out)
    assert summary["resumed_from_epoch"] == done and summary["epochs"] == 3
    assert state_equal(weights(out), weights(reference_run))
    # the killed epoch's log rows were replaced by the resumed ones
    assert log_rows(out) == log_rows(reference_run)
    ref = json.loads((reference_run / "train.json").read_text())
    assert summary["final_losses"] == ref["final_losses"]
    # a finished run asked for more epochs continues from its checkpoint
    more = small_run(cache_root, out, epochs=4)
    assert more["resumed_from_epoch"] == 3 and more["epochs"] == 4 and more["steps"] == 60


def test_bigsmall_multitask_run(cache_root: Path, tmp_path: Path) -> None:
    """AU-coded chunks only, the fold's pos_weight, gradient angles after epoch 1."""
    out = tmp_path / "bigsmall"
    summary = train_model(variant="bigsmall", tasks=["au", "pulse", "resp"], cache_root=cache_root,
                          train_trials=TRIALS, settings={"epochs": 1, "batch_chunks": 8, "gradient_angles": True,
                                                         "pulse_label": "pos_ppg"},
                          seed=0, out_dir=out, progress=False)
    n_coded = sum(len(v) for v in CODED.values())
    assert summary["chunks_per_epoch"] == n_coded == 44
    assert summary["chunks_per_trial"] == {t: [len(CODED[t]), 19] for t in TRIALS}
    ds = ChunkDataset(cache_root, TRIALS, 3, tasks=["au"])
    codes = np.concatenate([ds[ds.index_of(t, k)][2]["au"] for t in TRIALS for k in CODED[t]])
    expected = au_pos_weight(codes)
    assert expected[2] == 1.0  # AU03 never active
    assert summary["pos_weight"] == pytest.approx(dict(zip(["AU01", "AU02", "AU03"], expected)), rel=1e-12)
    assert summary["au_counts"]["AU01"]["pos"] + summary["au_counts"]["AU01"]["neg"] == 3 * n_coded
    assert summary["options"]["big_size"] == 32 and summary["options"]["n_au"] == 3
    assert set(summary["final_losses"]) == {"total", "au", "pulse", "resp"}
    assert summary["final_losses"]["total"] == pytest.approx(
        sum(summary["final_losses"][t] for t in ("au", "pulse", "resp")), rel=1e-6)
    angles = json.loads((out / "gradient_angles.json").read_text())
    assert summary["gradient_angles"] == "gradient_angles.json"
    assert angles["tasks"] == ["au", "pulse", "resp"] and angles["after_epoch"] == 1
    assert set(angles["angles_deg"]) == {"au|pulse", "au|resp", "pulse|resp"}
    assert all(0.0 < a < 180.0 for a in angles["angles_deg"].values())
    # the angles leave the run alone: the same run without them has the same weights
    plain = tmp_path / "plain"
    train_model(variant="bigsmall", tasks=["au", "pulse", "resp"], cache_root=cache_root, train_trials=TRIALS,
                settings={"epochs": 1, "batch_chunks": 8, "pulse_label": "pos_ppg"}, seed=0, out_dir=plain,
                progress=False)
    assert state_equal(weights(plain), weights(out))
    assert not (plain / "gradient_angles.json").exists()


def test_jaanet_2021_run_logs_and_sums_the_local_au_term(cache_root: Path, tmp_path: Path) -> None:
    """The local AU detection term is trained, logged (loss_au_local) and summed into the total;
    the gradient angles stay between tasks (au with its local term), the batch's terms listed."""
    out = tmp_path / "jaanet_2021"
    summary = train_model(variant="jaanet_2021", tasks=["au"], cache_root=cache_root, train_trials=TRIALS,
                          settings={"epochs": 1, "batch_chunks": 22, "gradient_angles": True},
                          seed=0, out_dir=out, progress=False)
    assert summary["steps"] == 2 and summary["options"]["big_size"] == 32
    losses = summary["final_losses"]
    assert set(losses) == {"total", "au", "au_local"}
    assert losses["total"] == pytest.approx(losses["au"] + losses["au_local"], rel=1e-6)
    assert 0.0 < losses["au_local"] < 10.0
    with open(out / "log.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["epoch", "step", "chunks", "loss", "loss_au", "loss_au_local", "lr", "seconds"]
    last = dict(zip(rows[0], rows[-1]))
    assert float(last["loss"]) == pytest.approx(float(last["loss_au"]) + float(last["loss_au_local"]), rel=1e-4)
    angles = json.loads((out / "gradient_angles.json").read_text())
    assert angles["tasks"] == ["au"] and angles["angles_deg"] == {}
    assert set(angles["losses"]) == {"au", "au_local"} and angles["norm"]["au"] > 0


def test_init_checkpoint_copies_matching_weights(cache_root: Path, tmp_path: Path) -> None:
    parent = tmp_path / "parent"
    settings = {"epochs": 1, "batch_chunks": 8, "au_coded_only": False}
    train_model(variant="big_branch", tasks=["au"], cache_root=cache_root, train_trials=TRIALS[:1],
                settings=settings, seed=0, out_dir=parent, progress=False)
    parent_w = weights(parent)
    child = tmp_path / "child"
    summary = train_model(variant="big_branch", tasks=["au"], cache_root=cache_root, train_trials=TRIALS[:1],
                          settings={**settings, "epochs": 1, "lr": 1e-12, "au_names": ["AU01", "AU02"]},
                          seed=5, out_dir=child, init_checkpoint=parent / "checkpoint.pt", progress=False)
    init = summary["init_checkpoint"]
    left = sorted(init["left_at_init"])
    assert left and all(k.startswith("heads.au.") for k in left)  # the 2-AU output layer
    assert init["copied"] == len(parent_w) - len(left) and init["unused"] == []
    # with a vanishing lr, every copied entry still equals the parent's, the rest the child's init
    child_w, fresh = weights(child), build_model("big_branch", seed=5, tasks=("au",), n_au=2, big_size=32).state_dict()
    for k, v in child_w.items():
        ref = fresh[k] if k in left else parent_w[k]
        torch.testing.assert_close(v, ref, rtol=0, atol=1e-9)


def test_bf16_autocast_trains_and_fp16_needs_cuda(cache_root: Path, tmp_path: Path) -> None:
    summary = small_run(cache_root, tmp_path / "bf16", epochs=1, precision="bf16")
    assert summary["precision"] == "bf16" and math.isfinite(summary["final_losses"]["total"])
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="fp16"):
            small_run(cache_root, tmp_path / "fp16", epochs=1, precision="fp16")

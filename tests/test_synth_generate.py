"""The generate stage: real layouts readable by the readers, truth sidecar, defects, determinism."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from pipeline.__main__ import main as cli
from pipeline.config import load_params, validate_params
from pipeline.errors import ConfigError
from pipeline.ingest import listing_hash
from pipeline.synth import generate as gen
from pipeline.synth import physio

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ("bp4d", "ubfc", "pure", "disfa")
AU_LABELS = ("AUCoding/", "ActionUnit_Labels/")  # AU label files of BP4D+ and DISFA


def small_params(seed: int = 0) -> dict:
    params = copy.deepcopy(load_params(ROOT / "params.yaml"))
    params["seed"] = seed
    s = params["synth"]
    s["difficulty"] = "easy"  # the realistic preset's head motion would carry a face out of these small frames
    s["bp4d"].update(frame_size=[48, 64], subjects=["F001", "F041", "F082"], au_task_frames=30,
                     au_coded_frames=20, other_task_frames=3)
    s["ubfc"].update(frame_size=[48, 36], subjects=[1], duration_s=2)
    s["pure"].update(frame_size=[48, 36], persons=[1], setups=[1, 4], duration_s=2)
    s["disfa"].update(frame_size=[48, 36], subjects=["SN001"], duration_s=2)
    return params


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.name != "provenance.json"}


@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> Path:
    base = tmp_path_factory.mktemp("raw")
    for ds in DATASETS:
        gen.generate(ds, small_params(), base / ds)
    return base


def test_bp4d_layout_truth_and_defects(generated):
    root = generated / "bp4d"
    assert sorted(p.name for p in (root / "2D+3D").iterdir()) == ["F001.zip", "F041.zip", "F082.zip"]
    assert not (root / "Physiology" / "F082" / "T1").exists()  # F082 lacks T1 as in the real data
    assert not (root / "Physiology" / "F001" / "T8" / "BP_mmHg.txt").exists()  # missing data
    bp = (root / "Physiology" / "F001" / "T1" / "BP_mmHg.txt").read_text().splitlines()
    assert len(bp) == 1 + 30 * 1000 // 25  # header + 1 kHz over the video
    header = (root / "AUCoding" / "AU_OCC" / "F001_T1.csv").read_text().splitlines()
    assert len(header[0].split(",")) == 35 and len(header) == 21
    # F041T7: AU coding longer than the video (the published reason for its exclusion)
    rows = (root / "AUCoding" / "AU_OCC" / "F041_T7.csv").read_text().splitlines()[1:]
    assert int(rows[-1].split(",")[0]) > 30
    assert not (root / "Physiology" / "M005").exists()  # a defect of an absent subject writes nothing
    summary = json.loads((root / "_truth" / "summary.json").read_text())
    assert summary["n_trials"] == 3 * 10 - 1
    truth = np.load(root / "_truth" / "F001T1.npz")
    assert truth["landmarks"].shape == (30, 68, 2) and truth["face_boxes"].shape == (30, 4)
    box = truth["face_boxes"]
    assert np.all(box[:, 0] >= 0) and np.all(box[:, 2] <= 48) and np.all(box[:, 1] < box[:, 3])
    # AU CSV equals the rendered occurrence on the coded segment
    lo, hi = truth["au_coded_range"]
    csv = np.loadtxt(root / "AUCoding" / "AU_OCC" / "F001_T1.csv", delimiter=",", skiprows=1, dtype=int)
    for j, au in enumerate(truth["au_ids"]):
        np.testing.assert_array_equal(csv[:, 1 + gen.BP4D_AU_COLUMNS.index(au)], truth["au_occurrence"][lo:hi, j])


def test_readers_load_generated_trials(generated):
    layouts = pytest.importorskip("pipeline.datasets")
    for ds in ("bp4d", "ubfc", "pure", "disfa"):
        layout = layouts.get_layout(ds)
        refs = layout.list_trials(generated / ds)
        assert refs, ds
        ok = [r for r in refs if r.trial_id in ("F001T1", "subject1", "01-01", "SN001")]
        trial = layout.load_trial(ok[0])
        frames = list(trial.frames())
        assert len(frames) == trial.n_frames > 0
        assert trial.fps == pytest.approx(gen.FPS[ds], abs=0.05)  # PURE: from jittered timestamps


def test_ubfc_ppg_matches_truth_rate(generated):
    gt = np.loadtxt(generated / "ubfc" / "subject1" / "ground_truth.txt")
    truth = np.load(generated / "ubfc" / "_truth" / "subject1.npz")
    assert gt.shape == (3, 60)
    np.testing.assert_allclose(gt[2], truth["frame_times_s"])
    # the oximeter's wave is the finger's, rising with blood volume
    assert np.corrcoef(gt[0], truth["finger_ppg"])[0, 1] > 0.95


def test_ubfc_erroneous_rate_row(tmp_path):
    """Subjects listed in synth.ubfc.erroneous_rate_row get an HR row under 5 bpm for 20-60% of
    the recording, as four subjects of the real UBFC-rPPG; their PPG row, video and truth are
    those they have without the defect."""
    params = small_params()
    params["synth"]["ubfc"].update(subjects=[1, 11], duration_s=4, erroneous_rate_row=[])
    gen.generate("ubfc", params, tmp_path / "clean")
    params["synth"]["ubfc"]["erroneous_rate_row"] = [11, 18]
    validate_params(params)
    gen.generate("ubfc", params, tmp_path / "defect")
    clean, defect = files(tmp_path / "clean"), files(tmp_path / "defect")
    for name in ("subject1/vid.avi", "subject1/ground_truth.txt", "subject11/vid.avi", "_truth/subject11.npz"):
        assert clean[name] == defect[name], name
    before = np.loadtxt(tmp_path / "clean" / "subject11" / "ground_truth.txt")
    after = np.loadtxt(tmp_path / "defect" / "subject11" / "ground_truth.txt")
    np.testing.assert_array_equal(after[[0, 2]], before[[0, 2]])  # PPG row and timestamps sound
    assert np.all(before[1] > 40)
    low = after[1] < 5
    assert 0.2 <= low.mean() <= 0.6 and np.array_equal(after[1][~low], before[1][~low])
    assert np.count_nonzero(np.diff(low.astype(int))) <= 2  # one contiguous stretch
    summary = json.loads((tmp_path / "defect" / "_truth" / "summary.json").read_text())
    assert [t["defect"] for t in summary["trials"]] == [None, "erroneous_rate_row"]


def test_ubfc_heart_rate_follows_the_game(tmp_path):
    """UBFC-rPPG's heart rate starts within synth.ubfc.heart_rate_bpm and rises by the drawn game
    rise (here fixed at 25 bpm, no wander): the recording's rate is that of the real subjects
    playing the game, not of resting ones."""
    params = small_params()
    params["synth"]["ubfc"].update(subjects=[1, 3, 4], duration_s=40, heart_rate_bpm=[100, 110],
                                   game_rise_bpm=[25, 25], hr_drift_bpm=0.0)
    validate_params(params)
    gen.generate("ubfc", params, tmp_path / "ubfc")
    for sid in (1, 3, 4):
        hr = np.load(tmp_path / "ubfc" / "_truth" / f"subject{sid}.npz")["hr_bpm"]
        start, end = np.median(hr[:15]), np.median(hr[-150:])
        # sinus arrhythmia swings the rate by a few bpm around the trend
        assert 95 <= start <= 115, (sid, start)
        assert 15 <= end - start <= 30, (sid, start, end)


def test_same_seed_identical_bytes_other_seed_differs(generated, tmp_path):
    """All four datasets: the same seed rewrites every file byte for byte; another seed changes
    every video, frame archive, waveform, rate channel and truth file. Exempt: AU label files (a
    short coded segment may hold no episode under either seed)."""
    for ds in DATASETS:
        first = files(generated / ds)
        gen.generate(ds, small_params(), tmp_path / "same" / ds)
        same = files(tmp_path / "same" / ds)
        assert same.keys() == first.keys(), ds
        assert [k for k in first if same[k] != first[k]] == [], ds
        # no wall-clock figure anywhere: the ingest stage's listing hash (names and sizes) agrees
        assert listing_hash(generated / ds) == listing_hash(tmp_path / "same" / ds), ds
        gen.generate(ds, small_params(seed=1), tmp_path / "other" / ds)
        other = files(tmp_path / "other" / ds)
        assert len(other) == len(first), ds
        # a rate channel of a trial shorter than one breath is one number: two seeds may round
        # it to the same 0.01 bpm by chance
        shared = {v for k, v in first.items() if not k.startswith(AU_LABELS)
                  and not (k.endswith("Rate_BPM.txt") and len(set(v.splitlines()[1:])) == 1)}
        shared &= set(other.values())
        assert not shared, (ds, [k for k, v in first.items() if v in shared])


def test_au_length_mismatch_needs_an_au_coded_task(tmp_path, capsys):
    params = small_params()
    params["synth"]["bp4d"]["defects"] = {"F001T2": "au_length_mismatch"}
    with pytest.raises(ConfigError, match=r"^params\.yaml: key 'synth\.bp4d\.defects\.F001T2': au_length_mismatch "
                                          r"needs an AU-coded task \(T1, T6, T7, T8\); T2 has no AU coding$"):
        gen.generate("bp4d", params, tmp_path / "bp4d")
    assert not (tmp_path / "bp4d").exists()  # refused before anything is written
    # the schema refuses it when params.yaml is read, so the CLI stops with one line
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    with pytest.raises(ConfigError, match=r"key 'synth\.bp4d\.defects\.F001T2'"):
        validate_params(params)
    assert cli(["generate", "--dataset", "bp4d", "--params", str(path), "--out", str(tmp_path / "bp4d")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {path}: key 'synth.bp4d.defects.F001T2'")
    # on an AU-coded task, and another defect on a task without AU coding, are valid
    params["synth"]["bp4d"]["defects"] = {"F001T6": "au_length_mismatch", "F001T10": "missing_physiology",
                                          "F001T2": "nonfinite_physiology"}
    validate_params(params)
    gen.check_defects(params["synth"]["bp4d"])


def test_truth_hr_is_spectral_peak_of_written_bp(tmp_path):
    params = small_params()
    params["synth"]["bp4d"].update(subjects=["F003"], au_task_frames=500, other_task_frames=3, frame_size=[32, 40])
    gen.generate("bp4d", params, tmp_path / "bp4d")
    summary = json.loads((tmp_path / "bp4d" / "_truth" / "summary.json").read_text())
    for trial in summary["trials"]:
        if trial["task"] not in ("T1", "T6"):
            continue
        path = tmp_path / "bp4d" / "Physiology" / "F003" / trial["task"] / "BP_mmHg.txt"
        bp = np.loadtxt(path, skiprows=1)
        assert abs(physio.spectral_peak_bpm(bp, 1000.0, (0.7, 3.0)) - trial["mean_hr_bpm"]) < 3.0


def test_truth_records_skin_type_and_light(generated):
    """Every trial's skin type and light are in the truth, and six subjects cover I-VI."""
    for ds in DATASETS:
        summary = json.loads((generated / ds / "_truth" / "summary.json").read_text())
        for trial in summary["trials"]:
            assert trial["fitzpatrick"] in range(1, 7)
            light = trial["illuminant"]
            assert 2700 <= light["cct_k"] <= 6500 and 0.3 <= light["white_balance"] <= 1.0
            assert len(light["rgb_gain"]) == 3
            npz = np.load(generated / ds / "_truth" / f"{trial['trial_id']}.npz")
            assert int(npz["fitzpatrick"]) == trial["fitzpatrick"]
            np.testing.assert_allclose(npz["light_rgb"], light["rgb_gain"], atol=1e-4)
    params = load_params(ROOT / "params.yaml")
    for ds, key in (("bp4d", "subjects"), ("ubfc", "subjects"), ("pure", "persons"), ("disfa", "subjects")):
        names = [str(n) for n in params["synth"][ds][key]]
        subjects = gen.make_subjects(0, ds, names, 0.14, gen.resolve_preset(params["synth"], ds))
        assert {s.app.fitzpatrick for s in subjects} == set(range(1, 7)), ds


def test_realistic_preset_overrides_per_dataset():
    synth = load_params(ROOT / "params.yaml")["synth"]
    synth = dict(synth, difficulty="realistic")
    base = gen.resolve_preset(synth, "ubfc")
    bp4d = gen.resolve_preset(synth, "bp4d")
    assert "datasets" not in base and bp4d["head_translation_px"] > base["head_translation_px"]
    assert bp4d["talking_tasks"] and "talking_tasks" not in base
    assert bp4d["pulse_amplitude"] == base["pulse_amplitude"]  # physiology is not a dataset property


def test_camera_noise_and_jpeg_are_referred_from_the_real_camera_to_the_rendered_frame():
    """A rendered pixel stands for k = native area / rendered area camera pixels: read-noise std
    / sqrt(k), shot-noise gain / k, JPEG quantisation steps / sqrt(k); a frame as large as the
    camera's keeps the preset's values."""
    preset = {"read_noise": 3.0, "shot_noise": 0.05, "jpeg_quality": 75}
    k = 1040 * 1392 / (150 * 200)
    bp4d = gen.camera_at_rendered_size(preset, "bp4d", [150, 200])
    assert bp4d["read_noise"] == pytest.approx(3.0 / np.sqrt(k)) and bp4d["shot_noise"] == pytest.approx(0.05 / k)
    assert preset["read_noise"] == 3.0 and preset["jpeg_quality"] == 75  # the input untouched
    # libjpeg's table scale 200 - 2q = 50 % at q 75, divided by sqrt(48.3): 7.2 %, i.e. q 96
    assert bp4d["jpeg_quality"] == 96
    assert gen.jpeg_quality_at_rendered_size(75, 1.0) == 75 and gen.jpeg_quality_at_rendered_size(30, 16) == 79
    assert gen.jpeg_quality_at_rendered_size(100, 16) == 100
    ubfc = gen.camera_at_rendered_size(preset, "ubfc", [160, 120])
    assert ubfc["read_noise"] == pytest.approx(3.0 / 4.0) and ubfc["shot_noise"] == pytest.approx(0.05 / 16)
    assert ubfc["jpeg_quality"] == 94  # scale 50 % / 4
    assert gen.camera_at_rendered_size(preset, "ubfc", [640, 480])["read_noise"] == 3.0
    assert gen.camera_at_rendered_size(preset, "ubfc", [1280, 960])["read_noise"] == 3.0  # never amplified

"""Landmark face alignment (supp. B.7): the similarity fit, the warp, the landmark sources, the
aligned cache variant (Big frames aligned, everything else as the plain cache) and its place in
the configuration and the DAG."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Callable, Iterator

import cv2
import h5py
import numpy as np
import pytest

from pipeline import face_align as fa
from pipeline.config import validate_params, variant_section
from pipeline.errors import ConfigError, InputError
from pipeline.preprocess import preprocess_trial, settings_from_params
from tests.test_preprocess import make_trial, small_settings
from tests.tiny_config import ROOT, tiny_params

CANVAS = 200  # side of the canonical face image the test videos are rendered from
SCALE = 0.8


def random_similarity(rng: np.random.Generator) -> np.ndarray:
    # the whole canvas stays inside a 160x200 frame
    angle = rng.uniform(-0.3, 0.3)
    s = rng.uniform(0.35, 0.5)
    c, sn = np.cos(angle), np.sin(angle)
    return np.array([[s * c, -s * sn, rng.uniform(35, 40)], [s * sn, s * c, rng.uniform(35, 40)]])


def apply(m: np.ndarray, pts: np.ndarray) -> np.ndarray:
    return pts @ m[:, :2].T + m[:, 2]


def canonical_face() -> np.ndarray:
    """A face-like image in template coordinates: bright blobs on the five anchors over a
    textured gradient (so that misregistration shows as a grey-level difference)."""
    yy, xx = np.mgrid[0:CANVAS, 0:CANVAS].astype(np.float64)
    img = np.stack([80 + 60 * yy / CANVAS, 70 + 50 * xx / CANVAS, 60 + 20 * np.sin(xx / 9) * np.cos(yy / 13)], -1)
    for x, y in fa.template(CANVAS, SCALE):
        img += 120 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 5.0**2))[..., None]
    return np.clip(img, 0, 255).astype(np.uint8)


def moving_face_video(n: int, seed: int = 0) -> tuple[Callable[[], Iterator[np.ndarray]], np.ndarray]:
    """Frames of the canonical face under a new similarity each frame (160x200 frames) and the
    true anchor points of every frame (n, 5, 2)."""
    rng = np.random.default_rng(seed)
    mats = [random_similarity(rng) for _ in range(n)]
    face = canonical_face()
    points = np.stack([apply(m, fa.template(CANVAS, SCALE)) for m in mats])

    def frames() -> Iterator[np.ndarray]:
        for m in mats:
            yield cv2.warpAffine(face, m, (160, 200), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return frames, points


def test_similarity_recovers_a_known_transform_exactly() -> None:
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, size=(5, 2))
    for _ in range(5):
        m = random_similarity(rng)
        np.testing.assert_allclose(fa.similarity(src, apply(m, src)), m, atol=1e-9)
    with pytest.raises(ValueError, match="degenerate"):
        fa.similarity(np.ones((5, 2)), src)


def test_anchor_points_of_each_landmark_scheme() -> None:
    ibug = np.arange(68 * 2, dtype=np.float64).reshape(68, 2)
    a = fa.anchors(ibug)
    np.testing.assert_array_equal(a[0], ibug[36:42].mean(0))
    np.testing.assert_array_equal(a[1], ibug[42:48].mean(0))
    np.testing.assert_array_equal(a[2:], ibug[[30, 48, 54]])
    mesh = np.arange(468 * 2, dtype=np.float64).reshape(468, 2)
    np.testing.assert_array_equal(fa.anchors(mesh)[2:], mesh[[1, 61, 291]])
    assert fa.anchors(np.zeros((3, 5, 2))).shape == (3, 5, 2)
    with pytest.raises(ValueError, match="17 points"):
        fa.anchors(np.zeros((17, 2)))


def test_aligned_frames_show_the_face_where_the_template_puts_it() -> None:
    frames, points = moving_face_video(12)
    aligner = fa.Aligner(48, SCALE)
    expected = cv2.resize(canonical_face(), (48, 48), interpolation=cv2.INTER_AREA).astype(np.float64)
    errors = []
    plain = []
    for frame, pts in zip(frames(), points):
        errors.append(np.abs(aligner.warp(frame, aligner.matrix(pts)) - expected).mean())
        plain.append(np.abs(cv2.resize(frame[20:180], (48, 48), interpolation=cv2.INTER_AREA) - expected).mean())
    # interpolation blur only (the frames hold the face at 0.35-0.5 of the canvas scale)
    assert max(errors) < 2.0 and min(plain) > 3 * max(errors), (errors, plain)


def test_aligned_cache_changes_the_big_frames_only(tmp_path: Path) -> None:
    n = 60
    frames, points = moving_face_video(n)
    trial = make_trial(n=n, h=200, w=160, frames=frames)
    plain = small_settings(big_size=48, face_trace={"region": "crop"})
    aligned = small_settings(big_size=48, face_trace={"region": "crop"},
                             face_alignment={"enabled": True, "source": "file", "scale": SCALE})
    preprocess_trial(trial, tmp_path / "plain.h5", plain)
    row = preprocess_trial(trial, tmp_path / "aligned.h5", aligned, landmarks=lambda i, f: points[i])
    expected = cv2.resize(canonical_face(), (48, 48), interpolation=cv2.INTER_AREA).astype(np.float64)
    with h5py.File(tmp_path / "plain.h5") as p, h5py.File(tmp_path / "aligned.h5") as a:
        assert a["big"].attrs["face_aligned"] and a["big"].attrs["landmark_fraction"] == 1.0
        assert not p["big"].attrs["face_aligned"]
        big = a["big"][:].astype(np.float64)
        assert np.abs(big - expected).mean(axis=(1, 2, 3)).max() < 2.0
        # the plain crop's face moves: its frames differ from each other far more
        assert p["big"][:].astype(np.float64).std(axis=0).mean() > 3 * big.std(axis=0).mean()
        for name in ("small", "rgb_mean", "rgb_mean_crop", "labels/resp", "frame_index"):
            np.testing.assert_array_equal(a[name][:], p[name][:], err_msg=name)
        assert a["small"].attrs["diff_std"] == p["small"].attrs["diff_std"]
    assert row["n_frames"] == n - 1


def test_frames_without_landmarks_reuse_the_nearest_transform(tmp_path: Path) -> None:
    n = 30
    frames, points = moving_face_video(n, seed=3)
    missing = {0, 1, 2, 10, 11}
    settings = small_settings(big_size=32, face_trace={"region": "crop"},
                              face_alignment={"enabled": True, "source": "file", "scale": SCALE})
    trial = make_trial(n=n, h=200, w=160, frames=frames)
    preprocess_trial(trial, tmp_path / "a.h5", settings,
                     landmarks=lambda i, f: None if i in missing else points[i])
    with h5py.File(tmp_path / "a.h5") as h5:
        assert h5["big"].attrs["landmark_fraction"] == round((n - len(missing)) / n, 4)
        assert h5["big"].shape[0] == n - 1
    # landmarks in fewer than half the frames: the trial is excluded with the reason
    with pytest.raises(InputError, match="face landmarks in only 10 of 30 frames"):
        preprocess_trial(trial, tmp_path / "b.h5", settings, landmarks=lambda i, f: points[i] if i % 3 == 0 else None)
    assert not (tmp_path / "b.h5").exists()
    with pytest.raises(InputError, match="no face landmarks in any frame"):
        preprocess_trial(trial, tmp_path / "c.h5", settings, landmarks=lambda i, f: None)


def test_landmark_sources(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    (raw / "_truth").mkdir(parents=True)
    lm = np.random.default_rng(0).uniform(10, 50, size=(20, 68, 2)).astype(np.float32)
    np.savez(raw / "_truth" / "F001T1.npz", landmarks=lm)
    assert fa.resolve_source("auto", raw) == "truth"
    assert fa.resolve_source("auto", tmp_path / "licensed") == "mediapipe"
    got = fa.landmark_source("auto", raw, "F001T1", 20)
    np.testing.assert_array_equal(got(5, None), lm[5])
    with pytest.raises(InputError, match=r"F002T1\.npz: no generator truth"):
        fa.landmark_source("truth", raw, "F002T1", 20)
    with pytest.raises(InputError, match=r"shape \(20, 68, 2\): expected \(30 frames"):
        fa.landmark_source("truth", raw, "F001T1", 30)
    # user-supplied landmarks, NaN rows for frames without a face
    (raw / "_landmarks").mkdir()
    five = np.full((20, 5, 2), np.nan)
    five[3:] = 7.0
    np.save(raw / "_landmarks" / "F001T1.npy", five)
    got = fa.landmark_source("file", raw, "F001T1", 20)
    assert got(2, None) is None and got(3, None).shape == (5, 2)
    with pytest.raises(InputError, match=r"_landmarks/F003T1\.npy: no landmark file"):
        fa.landmark_source("file", raw, "F003T1", 20)
    with pytest.raises(ValueError, match="source must be one of"):
        fa.resolve_source("dlib", raw)


def test_mediapipe_finds_the_generated_face() -> None:
    """The detector for user-supplied data, on a built-in frame: its anchors within 1.5 px of the
    rendered truth (frames of 150x200)."""
    pytest.importorskip("mediapipe", reason="mediapipe 0.10.14 not installed (scripts/setup.sh installs it)")
    from pipeline.synth.generate import render_probe_trial

    errors = []
    for fitzpatrick in (2, 6):
        video, truth = render_probe_trial(0, fitzpatrick, 3200.0, 0.6, duration_s=0.3, preset="realistic",
                                          frame_size=(150, 200), params=tiny_params())
        detect = fa.mediapipe_landmarks()
        for t, frame in enumerate(video):
            pts = detect(t, frame)
            assert pts is not None, f"no face found in frame {t} (type {fitzpatrick})"
            errors.append(np.abs(fa.anchors(pts) - fa.anchors(truth["landmarks"][t])).mean())
        # the face box of the box trace: a square around the rendered face, brows to chin
        x, y, w, h = fa.mediapipe_face_box(video[0])
        lm = truth["landmarks"][0]
        assert w == h and x <= lm[:, 0].min() + 2 and x + w >= lm[:, 0].max() - 2
        assert y <= lm[:, 1].min() and y + h >= lm[:, 1].max() - 2 and w < 1.4 * np.ptp(lm[:, 0])
    assert np.mean(errors) < 1.5, errors


def test_cache_variant_merges_over_the_section_and_is_validated() -> None:
    params = tiny_params()
    section = variant_section(params, "aligned")
    assert section["face_alignment"] == {**params["preprocess"]["face_alignment"], "enabled": True}
    assert section["big_size"] == params["preprocess"]["big_size"]
    settings = settings_from_params(params, "bp4d", "aligned")
    assert settings.face_alignment["enabled"] and not settings_from_params(params, "bp4d").face_alignment["enabled"]
    bad = copy.deepcopy(params)
    bad["cache_variants"]["aligned"]["big_sise"] = 72
    with pytest.raises(ConfigError, match=r"key 'cache_variants\.aligned\.big_sise': not a key of 'preprocess'"):
        validate_params(bad)
    bad = copy.deepcopy(params)
    bad["cache_variants"]["aligned"]["face_alignment"]["source"] = "dlib"
    with pytest.raises(ConfigError, match=r"cache_variants\.aligned\.face_alignment\.source"):
        validate_params(bad)
    with pytest.raises(ConfigError, match="no cache variant 'tilted'"):
        variant_section(params, "tilted")


def test_sheet_rows_name_known_cache_variants_and_the_dag_builds_them() -> None:
    import yaml

    from pipeline.dag.spec import Config, stage
    from pipeline.experiments.references import check_references
    from pipeline.experiments.sheet import validate_sheet

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    sheet = yaml.safe_load((ROOT / "experiments.yaml").read_text())
    cfg = Config(params, sheet)
    assert stage("preprocess_variant").jobs(cfg) == [{"dataset": "bp4d", "variant": "aligned"}]
    job = {"run": "table2/big_branch_aligned", "fold": "fold1"}
    assert stage("train").inputs(cfg, job)["cache"] == "data/cache/bp4d-aligned"
    assert stage("evaluate").inputs(cfg, job)["cache"] == "data/cache/bp4d-aligned"
    assert stage("train").inputs(cfg, {"run": "table2/drml", "fold": "fold1"})["cache"] == "data/cache/bp4d"
    aligned_rows = {r.name for r in cfg.runs("train") if r.cache == "aligned"}
    assert aligned_rows == {"drml_aligned", "alexnet_aligned", "jaanet_2018_aligned", "jaanet_2021_aligned",
                            "big_branch_aligned", "bigsmall_aligned", "bigsmall_pp_aligned"}
    bad = copy.deepcopy(sheet)
    bad["experiments"]["table2"]["runs"]["drml_aligned"]["cache"] = "tilted"
    with pytest.raises(ConfigError, match=r"key 'experiments\.table2\.runs\.drml_aligned\.cache': no cache variant"):
        check_references(validate_sheet(bad), params)

"""Preprocessing core: crop geometry, uint8 storage vs float computation, Small difference frames,
label normalisation, AU segment, cache key, atomic writes and bounded memory."""

from __future__ import annotations

import dataclasses
import tracemalloc
import weakref
from pathlib import Path
from typing import Callable, Iterator

import cv2
import h5py
import numpy as np
import pytest

from pipeline import frames as F
from pipeline.cache.reader import TrialCache, open_cache
from pipeline.datasets.base import TrialData, TrialRef
from pipeline.errors import InputError
from pipeline.preprocess import (
    Settings,
    cache_key,
    diff_normalise,
    preprocess_trial,
    preprocess_trials,
    settings_from_params,
)

FPS = 25.0


def pulse_wave(n: int, fps: float = FPS, bpm: float = 72.0) -> np.ndarray:
    t = np.arange(n) / fps
    return np.sin(2 * np.pi * bpm / 60.0 * t) + 0.3 * np.sin(4 * np.pi * bpm / 60.0 * t)


def frame_source(n: int, h: int, w: int, seed: int = 0, fps: float = FPS) -> Callable[[], Iterator[np.ndarray]]:
    """Deterministic RGB frames: a skin-like gradient, a small pulsatile colour change, noise."""

    def frames() -> Iterator[np.ndarray]:
        rng = np.random.default_rng(seed)
        yy, xx = np.mgrid[0:h, 0:w]
        base = np.stack([120 + 40 * yy / h, 90 + 30 * xx / w, 70 + 20 * (yy + xx) / (h + w)], -1)
        pulse = pulse_wave(n, fps)
        for t in range(n):
            img = base * (1 + 0.01 * pulse[t] * np.array([0.3, 0.8, 0.5]))
            img = img + rng.normal(0, 2.0, size=(h, w, 3))
            yield np.clip(np.rint(img), 0, 255).astype(np.uint8)

    return frames


def make_trial(
    n: int = 60,
    h: int = 40,
    w: int = 30,
    trial_id: str = "F001T1",
    seed: int = 0,
    frames: Callable[[], Iterator[np.ndarray]] | None = None,
    signals: dict[str, np.ndarray] | None = None,
    au: np.ndarray | None = None,
    au_range: tuple[int, int] | None = None,
) -> TrialData:
    ref = TrialRef("bp4d", trial_id[:4], trial_id[4:], trial_id)
    if signals is None:
        t = np.arange(n) / FPS
        signals = {"resp": np.sin(2 * np.pi * 0.25 * t) + 0.01 * t}
    return TrialData(
        ref=ref,
        fps=FPS,
        n_frames=n,
        frame_shape=(h, w, 3),
        frames=frames or frame_source(n, h, w, seed),
        signals=signals,
        pulse_kind="bp" if "pulse" in signals else None,
        au=au,
        au_names=[f"AU{k:02d}" for k in range(1, (0 if au is None else au.shape[1]) + 1)],
        au_range=au_range,
    )


def small_settings(**kw) -> Settings:
    base = dict(big_size=16, small_size=4, chunk_length=3, crop_anchor="center",
                crop_to_au_range=False, diff_tail="trim", small_dtype="float32",
                pseudo_label={"halfband_bpm": 20.0, "window_s": 1.6, "limits_hz": [0.7, 3.0],
                              "order": 2, "detrend_lambda": 100.0},
                compression="none")
    base.update(kw)
    return Settings(**base)


CROP_TRACE = {"region": "crop", "skin_cr": [133, 173], "skin_cb": [77, 127], "min_skin_fraction": 0.02}
SKIN_TRACE = dict(CROP_TRACE, region="skin")
SKIN_RGB = (200, 150, 120)      # YCrCb (162, 155, 104): inside the skin box
BACKDROP_RGB = (90, 110, 170)   # YCrCb (111, 113, 161): Cr below, Cb above the box


def skin_scene(n: int, moving_edge: bool, skinless: tuple[int, ...] = ()) -> Callable[[], Iterator[np.ndarray]]:
    """A 20x20 skin patch with a faint pulse in a 40x40 bluish backdrop; optionally a backdrop
    edge that moves across the frame (like hair or a shoulder), and frames without the patch."""

    def frames() -> Iterator[np.ndarray]:
        pulse = pulse_wave(n)
        for t in range(n):
            img = np.empty((40, 40, 3), dtype=np.float64)
            img[:] = BACKDROP_RGB
            if moving_edge:
                img[:, : 5 + (t % 7)] = (20, 60, 40)  # dark green band of varying width
            if t not in skinless:
                img[10:30, 10:30] = np.array(SKIN_RGB) * (1 + 0.01 * pulse[t] * np.array([0.3, 0.8, 0.5]))
            yield np.clip(np.rint(img), 0, 255).astype(np.uint8)

    return frames


def test_skin_mask_separates_skin_from_backdrop() -> None:
    img = np.array([[SKIN_RGB, BACKDROP_RGB, (20, 60, 40), (255, 255, 255)]], dtype=np.uint8)
    mask = F.skin_mask(img, (133, 173), (77, 127))
    np.testing.assert_array_equal(mask[0], [255, 0, 0, 0])


def test_skin_trace_is_the_mean_over_skin_pixels_only(tmp_path: Path) -> None:
    """The skin trace ignores a moving non-skin edge that dominates the whole-crop mean."""
    n = 12
    frames = skin_scene(n, moving_edge=True)
    trial = make_trial(n=n, h=40, w=40, frames=frames)
    preprocess_trial(trial, tmp_path / "skin.h5", small_settings(face_trace=dict(SKIN_TRACE)))
    preprocess_trial(trial, tmp_path / "crop.h5", small_settings(face_trace=dict(CROP_TRACE)))
    expect_skin = np.stack([f[10:30, 10:30].reshape(-1, 3).mean(0) for f in frames()])[: n - 1]
    expect_crop = np.stack([f.reshape(-1, 3).mean(0) for f in frames()])[: n - 1]
    with TrialCache(tmp_path / "skin.h5") as tc:
        np.testing.assert_allclose(tc.rgb_mean, expect_skin, rtol=0, atol=1e-9)
        assert tc.h5["rgb_mean"].attrs["face_trace"] == "skin"
        np.testing.assert_allclose(tc.h5["skin_fraction"][()], 0.25)
    with TrialCache(tmp_path / "crop.h5") as tc:
        np.testing.assert_allclose(tc.rgb_mean, expect_crop, rtol=0, atol=1e-9)
        assert tc.h5["rgb_mean"].attrs["face_trace"] == "crop"
    # the moving edge shifts the whole-crop mean by far more than the pulse
    assert np.ptp(expect_crop[:, 1]) > 5 * np.ptp(expect_skin[:, 1])


def test_skinless_frames_are_interpolated(tmp_path: Path) -> None:
    n = 12
    frames = skin_scene(n, moving_edge=False, skinless=(4, 5))
    trial = make_trial(n=n, h=40, w=40, frames=frames)
    preprocess_trial(trial, tmp_path / "t.h5", small_settings(face_trace=dict(SKIN_TRACE)))
    skin = [f[10:30, 10:30].reshape(-1, 3).mean(0) for f in frames()]
    with TrialCache(tmp_path / "t.h5") as tc:
        rgb = tc.rgb_mean
        assert "2 skinless frames interpolated" in tc.h5["rgb_mean"].attrs["face_trace"]
        np.testing.assert_allclose(tc.h5["skin_fraction"][[4, 5]], 0.0)
    np.testing.assert_allclose(rgb[3], skin[3], atol=1e-9)
    np.testing.assert_allclose(rgb[4], skin[3] + (skin[6] - skin[3]) / 3, atol=1e-9)
    np.testing.assert_allclose(rgb[5], skin[3] + 2 * (skin[6] - skin[3]) / 3, atol=1e-9)


def test_mostly_skinless_trial_falls_back_to_the_whole_crop(tmp_path: Path) -> None:
    n = 12
    frames = skin_scene(n, moving_edge=False, skinless=tuple(range(8)))
    trial = make_trial(n=n, h=40, w=40, frames=frames)
    preprocess_trial(trial, tmp_path / "t.h5", small_settings(face_trace=dict(SKIN_TRACE)))
    expect_crop = np.stack([f.reshape(-1, 3).mean(0) for f in frames()])[: n - 1]
    with TrialCache(tmp_path / "t.h5") as tc:
        np.testing.assert_allclose(tc.rgb_mean, expect_crop, atol=1e-9)
        assert tc.h5["rgb_mean"].attrs["face_trace"] == "crop (skin region found in only 33% of frames)"


def float_reference(trial: TrialData, s: Settings) -> tuple[np.ndarray, np.ndarray]:
    """Big and Small computed the straightforward way: whole video in float64 memory."""
    x = np.stack([F.resize_area(F.square_crop(f, s.crop_anchor), s.big_size) for f in trial.frames()])
    x = x.astype(np.float64)
    big = (x - x.mean()) / x.std()
    d = (x[1:] - x[:-1]) / (x[1:] + x[:-1] + 1e-7)
    d = d / d.std()
    small = np.stack([cv2.resize(f, (s.small_size, s.small_size), interpolation=cv2.INTER_AREA) for f in d])
    return big, small


# --- crop geometry ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "anchor, rows", [("center", (2, 8)), ("bottom", (4, 10)), ("top", (0, 6))]
)
def test_portrait_crop_rows_per_anchor(anchor: str, rows: tuple[int, int]) -> None:
    frame = np.arange(10 * 6 * 3, dtype=np.int32).reshape(10, 6, 3)
    assert F.crop_box(10, 6, anchor) == (rows[0], 0, 6)
    crop = F.square_crop(frame, anchor)
    np.testing.assert_array_equal(crop, frame[rows[0] : rows[1], :, :])
    assert np.shares_memory(crop, frame)  # a view, no copy


@pytest.mark.parametrize("anchor", ["center", "bottom", "top"])
def test_landscape_crop_is_horizontally_centred(anchor: str) -> None:
    frame = np.arange(6 * 11 * 3).reshape(6, 11, 3)
    assert F.crop_box(6, 11, anchor) == (0, 2, 6)
    np.testing.assert_array_equal(F.square_crop(frame, anchor), frame[:, 2:8])
    square = np.zeros((5, 5, 3))
    assert F.square_crop(square, anchor).shape == (5, 5, 3)


def test_unknown_anchor_rejected() -> None:
    with pytest.raises(ValueError):
        F.crop_box(10, 6, "middle")


@pytest.mark.parametrize("anchor", ["bottom", "top"])
def test_stored_rgb_mean_uses_the_anchor_crop(tmp_path: Path, anchor: str) -> None:
    trial = make_trial(n=8, h=12, w=6)
    s = small_settings(crop_anchor=anchor, big_size=6, small_size=3,
                       face_trace=dict(CROP_TRACE))
    preprocess_trial(trial, tmp_path / "t.h5", s)
    r0 = 6 if anchor == "bottom" else 0
    expect = np.stack([f[r0 : r0 + 6].mean(axis=(0, 1)) for f in trial.frames()])[:7]
    with TrialCache(tmp_path / "t.h5") as tc:
        np.testing.assert_allclose(tc.rgb_mean, expect, rtol=0, atol=1e-12)
        np.testing.assert_array_equal(tc.big(standardised=False),
                                      np.stack([f[r0 : r0 + 6] for f in trial.frames()])[:7])


# --- model inputs: uint8 storage vs float computation ------------------------------------------


@pytest.mark.parametrize("anchor", ["center", "bottom"])
def test_inputs_equal_float_computation(tmp_path: Path, anchor: str) -> None:
    trial = make_trial(n=50, h=48, w=36)
    s = small_settings(crop_anchor=anchor, big_size=24, small_size=6)
    row = preprocess_trial(trial, tmp_path / "t.h5", s, block_frames=7)  # blocks straddle chunks
    big_ref, small_ref = float_reference(trial, s)
    assert row["n_frames"] == 49 and row["n_chunks"] == 16
    with TrialCache(tmp_path / "t.h5") as tc:
        assert tc.h5["big"].dtype == np.uint8
        big = tc.big()
        small = tc.small()
    assert big.dtype == np.float32 and big.shape == (49, 24, 24, 3)
    np.testing.assert_allclose(big, big_ref[:49], rtol=0, atol=2e-5)
    assert small.shape == (49, 6, 6, 3)
    np.testing.assert_allclose(small, small_ref, rtol=0, atol=2e-5)


def test_big_inputs_within_half_a_grey_level_of_an_all_float_resize(tmp_path: Path) -> None:
    """The resize output is stored as uint8 (as the authors' toolbox keeps its frames): against
    a resize done in float, each standardised value differs by at most half a grey level over the
    trial's std, and by far less on average."""
    trial = make_trial(n=30, h=48, w=36)
    s = small_settings(big_size=20, small_size=5)
    preprocess_trial(trial, tmp_path / "t.h5", s)
    x = np.stack([cv2.resize(F.square_crop(f).astype(np.float32), (20, 20), interpolation=cv2.INTER_AREA)
                  for f in trial.frames()]).astype(np.float64)
    big_float = (x - x.mean()) / x.std()
    with TrialCache(tmp_path / "t.h5") as tc:
        big = tc.big().astype(np.float64)
    err = np.abs(big - big_float[: big.shape[0]])
    assert err.max() <= 0.5 / x.std() + 1e-4
    assert err.mean() < 0.3 / x.std()


def test_small_frames_match_hand_computation(tmp_path: Path) -> None:
    # 4x4 frames, left half a[t], right half b[t]; Big size 4 (no resize), Small 2x2 (block means)
    a = [10, 30, 30, 10]
    b = [20, 20, 60, 20]

    def frames() -> Iterator[np.ndarray]:
        for t in range(4):
            f = np.zeros((4, 4, 3), np.uint8)
            f[:, :2] = a[t]
            f[:, 2:] = b[t]
            yield f

    trial = make_trial(n=4, h=4, w=4, frames=frames)
    preprocess_trial(trial, tmp_path / "t.h5", small_settings(big_size=4, small_size=2))
    # d[t] left: (a[t+1]-a[t])/(a[t+1]+a[t]); right likewise
    dl = [20 / 40, 0.0, -20 / 40]
    dr = [0.0, 40 / 80, -40 / 80]
    # std over all Big-size difference pixels: half of them dl, half dr (equal pixel counts)
    vals = np.array(dl + dr)
    sd = vals.std()
    with TrialCache(tmp_path / "t.h5") as tc:
        small = tc.small()
        assert tc.h5["small"].attrs["diff_std"] == pytest.approx(sd, rel=1e-6)
    assert small.shape == (3, 2, 2, 3)
    for t in range(3):
        np.testing.assert_allclose(small[t, :, 0], dl[t] / sd, atol=1e-6)
        np.testing.assert_allclose(small[t, :, 1], dr[t] / sd, atol=1e-6)


def test_constant_video_gives_zero_inputs(tmp_path: Path) -> None:
    const = lambda: (np.full((8, 8, 3), 77, np.uint8) for _ in range(6))  # noqa: E731
    preprocess_trial(make_trial(n=6, h=8, w=8, frames=const), tmp_path / "t.h5",
                     small_settings(big_size=8, small_size=2))
    with TrialCache(tmp_path / "t.h5") as tc:
        assert tc.big_mean == 77.0 and tc.big_std == 0.0
        assert not np.any(tc.big()) and not np.any(tc.small())  # NaN -> 0, as the authors


def test_pad_zero_keeps_t_frames(tmp_path: Path) -> None:
    trial = make_trial(n=20, h=20, w=20)
    trim, pad = tmp_path / "trim.h5", tmp_path / "pad.h5"
    preprocess_trial(trial, trim, small_settings())
    row = preprocess_trial(trial, pad, small_settings(diff_tail="pad_zero"))
    assert row["n_frames"] == 20
    with TrialCache(trim) as a, TrialCache(pad) as b:
        assert a.n_frames == 19
        np.testing.assert_array_equal(b.big(0, 19), a.big())
        np.testing.assert_array_equal(b.small(0, 19), a.small())
        assert not np.any(b.small(19, 20))
        np.testing.assert_array_equal(b.labels["resp"][:19], a.labels["resp"])
        assert b.labels["resp"][19] == 0.0
        np.testing.assert_array_equal(b.labels["resp_raw"], trial.signals["resp"].astype(np.float32))


# --- labels ------------------------------------------------------------------------------------


def test_diff_normalise_exact() -> None:
    x = np.array([0.0, 1.0, 3.0, 6.0, 10.0])  # diff 1,2,3,4; std sqrt(1.25)
    np.testing.assert_allclose(diff_normalise(x), np.array([1, 2, 3, 4]) / np.sqrt(1.25), rtol=1e-6)
    assert not np.any(diff_normalise(np.ones(5)))


def test_labels_aligned_and_diff_normalised(tmp_path: Path) -> None:
    n = 30
    resp = np.cumsum(np.arange(n, dtype=float) % 5)  # diff = (t+1) % 5
    trial = make_trial(n=n, signals={"resp": resp, "resp_bpm": np.full(n, 15.0)})
    preprocess_trial(trial, tmp_path / "t.h5", small_settings())
    d = np.diff(resp)
    with TrialCache(tmp_path / "t.h5") as tc:
        lab = tc.labels
        np.testing.assert_allclose(lab["resp"], d / d.std(), rtol=1e-6)
        np.testing.assert_array_equal(lab["resp_raw"], resp[: n - 1].astype(np.float32))
        np.testing.assert_array_equal(lab["resp_bpm"], np.full(n - 1, 15.0, np.float32))
        assert sorted(lab) == ["resp", "resp_bpm", "resp_raw"]
        assert tc.frame_index.tolist() == list(range(n - 1))


def test_au_segment_crop_and_binarisation(tmp_path: Path) -> None:
    n = 40
    au = np.full((n, 2), -1, np.int8)
    au[10:30, 0] = np.tile([0, 1], 10)
    au[10:30, 1] = 1
    resp = np.arange(n, dtype=float) ** 2
    trial = make_trial(n=n, signals={"resp": resp}, au=au, au_range=(10, 30))
    s = small_settings(crop_to_au_range=True)
    row = preprocess_trial(trial, tmp_path / "t.h5", s)
    assert row["n_frames"] == 19
    frames = list(trial.frames())[10:30]
    with TrialCache(tmp_path / "t.h5") as tc:
        attrs = tc.attrs
        assert attrs["au_range"] == [10, 30] and attrs["segment"] == [10, 30]
        assert tc.frame_index.tolist() == list(range(10, 29))
        np.testing.assert_array_equal(tc.labels["au"], au[10:29])
        assert tc.au_names == ["AU01", "AU02"]
        x = np.stack([F.resize_area(F.square_crop(f), 16) for f in frames]).astype(np.float64)
        assert tc.big_mean == pytest.approx(x.mean(), rel=1e-12)
        assert tc.big_std == pytest.approx(x.std(), rel=1e-9)
        d = np.diff(resp[10:30])
        np.testing.assert_allclose(tc.labels["resp"], d / d.std(), rtol=1e-6)
    # without the crop: whole video, -1 kept for uncoded frames
    preprocess_trial(trial, tmp_path / "all.h5", small_settings())
    with TrialCache(tmp_path / "all.h5") as tc:
        assert tc.n_frames == n - 1
        np.testing.assert_array_equal(tc.labels["au"], au[: n - 1])


def test_pos_pseudo_label_stored(tmp_path: Path) -> None:
    pytest.importorskip("pipeline.signals.pseudo_label")
    from pipeline.signals.pseudo_label import pos_pseudo_label

    n = 250
    bp = 80 + 20 * pulse_wave(n)
    trial = make_trial(n=n, h=24, w=20, signals={"pulse": bp, "resp": pulse_wave(n, bpm=15)})
    s = small_settings(big_size=8, small_size=2, face_trace=dict(CROP_TRACE))
    preprocess_trial(trial, tmp_path / "t.h5", s)
    rgb = np.stack([F.square_crop(f).mean(axis=(0, 1)) for f in trial.frames()])
    kw = dict(s.pseudo_label, limits_hz=tuple(s.pseudo_label["limits_hz"]))
    filtered, env = pos_pseudo_label(rgb, FPS, bp, **kw)
    with TrialCache(tmp_path / "t.h5") as tc:
        lab = tc.labels
        np.testing.assert_allclose(lab["pos_ppg_raw"], env[: n - 1], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(lab["pos_ppg_filtered"], filtered[: n - 1], rtol=1e-5, atol=1e-6)
        d = np.diff(env)
        np.testing.assert_allclose(lab["pos_ppg"], d / d.std(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(lab["pulse_raw"], bp[: n - 1], rtol=1e-6)
        assert tc.attrs["pulse_kind"] == "bp"
    # the synthetic pulse is at 72 bpm: the pseudo-label should oscillate at that rate
    spec = np.abs(np.fft.rfft(env - env.mean(), 4096))
    assert np.fft.rfftfreq(4096, 1 / FPS)[spec.argmax()] * 60 == pytest.approx(72, abs=3)


def test_failed_pseudo_label_excludes_bp_trials_but_keeps_ppg_trials(tmp_path: Path) -> None:
    """A pulse with no power in the heart-rate band gives no pseudo-label. For BP4D+ (BP wave)
    the pseudo-label is the only pulse training target, so the trial is excluded; a PPG trial
    keeps its measured target and records why the extra label is missing."""
    n = 60
    flat = {"pulse": np.full(n, 80.0), "resp": pulse_wave(n, bpm=15)}
    bp_trial = make_trial(n=n, trial_id="F001T1", signals=dict(flat))
    with pytest.raises(InputError, match="POS pseudo-label failed: reference pulse has no power"):
        preprocess_trial(bp_trial, tmp_path / "bp.h5", small_settings())
    assert not (tmp_path / "bp.h5").exists()
    ppg_trial = dataclasses.replace(make_trial(n=n, trial_id="F002T1", signals=dict(flat)), pulse_kind="ppg")
    preprocess_trial(ppg_trial, tmp_path / "ppg.h5", small_settings())
    with h5py.File(tmp_path / "ppg.h5") as h5:
        assert {"pulse", "pulse_raw", "resp"} <= set(h5["labels"]) and "pos_ppg" not in h5["labels"]
        assert "reference pulse has no power" in h5["labels"].attrs["pos_ppg_missing"]


# --- cache key --------------------------------------------------------------------------------


def test_cache_key_changes_only_with_shaping_settings() -> None:
    s = small_settings()
    key = cache_key("bp4d", s, code="c1")
    assert cache_key("bp4d", small_settings(), code="c1") == key
    assert cache_key("bp4d", dataclasses.replace(s, compression="lzf"), code="c1") == key
    for change in (
        dict(big_size=18), dict(small_size=5), dict(chunk_length=4), dict(crop_anchor="bottom"),
        dict(crop_to_au_range=True), dict(diff_tail="pad_zero"), dict(small_dtype="float16"),
        dict(pseudo_label={**s.pseudo_label, "halfband_bpm": 48.0}),
    ):
        assert cache_key("bp4d", dataclasses.replace(s, **change), code="c1") != key, change
    assert cache_key("bp4d", s, code="c2") != key
    assert cache_key("ubfc", s, code="c1") != key
    assert len(cache_key("bp4d", s)) == 16  # the real code version hashes the sources


def test_code_version_covers_exactly_the_code_the_dag_tracks() -> None:
    """The key hashes the same files whose edits re-run the preprocess job (the import closure),
    so code that changes the content (readers, label alignment, POS) can never leave a stale
    key, and code it never runs (metrics, the training reader, other stages) is in neither."""
    import yaml

    from pipeline import preprocess as pp
    from pipeline.dag.closure import import_closure

    root = Path(pp.__file__).resolve().parents[1]
    deps = yaml.safe_load((root / "dvc.yaml").read_text())["stages"]["preprocess-bp4d"]["deps"]
    code_deps = {d for d in deps if d.startswith("pipeline/")}
    hashed = set(import_closure("pipeline.preprocess"))
    # the job also runs its command line, which shapes no content
    assert code_deps - hashed == {"pipeline/stages/preprocess.py", "pipeline/stages/__init__.py", "pipeline/cli.py"}
    assert hashed <= code_deps
    assert {"pipeline/signals/pos.py", "pipeline/signals/detrend.py", "pipeline/datasets/align.py",
            "pipeline/datasets/bp4d.py", "pipeline/frames.py", "pipeline/cache/format.py"} <= hashed
    # the training reader shapes no cache content
    assert "pipeline/cache/dataset.py" not in hashed and "pipeline/cache/reader.py" not in hashed
    assert not any(p.startswith(("pipeline/metrics", "pipeline/models", "pipeline/report")) for p in hashed)
    assert "pipeline/__main__.py" not in hashed
    # an edit of any hashed module, e.g. the POS code behind the pseudo-label, changes the version
    before = pp.code_version()
    real_read = Path.read_bytes

    def edited(path: Path) -> bytes:
        data = real_read(path)
        return data + b"\n# edited\n" if path.name == "pos.py" else data

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Path, "read_bytes", edited)
        assert pp.code_version() != before
    assert pp.code_version() == before


def test_settings_from_params_resolves_per_dataset() -> None:
    params = {
        "preprocess": {"big_size": 144, "small_size": 9, "chunk_length": 3, "crop_anchor": "center",
                       "crop_to_au_range": ["bp4d"], "diff_tail": "trim", "small_dtype": "float32",
                       "compression": "none", "face_trace": dict(SKIN_TRACE)},
        "signals": {"pos": {"window_s": 1.6},
                    "pseudo_label": {"halfband_bpm": 20, "limits_hz": [0.7, 3.0], "order": 2,
                                     "detrend_lambda": 100}},
    }
    bp4d = settings_from_params(params, "bp4d")
    assert bp4d.crop_to_au_range and bp4d.pseudo_label["window_s"] == 1.6
    ubfc = settings_from_params(params, "ubfc")
    assert not ubfc.crop_to_au_range
    params["preprocess"]["crop_to_au_range"] = ["bp4d", "disfa"]  # another dataset's choice
    assert cache_key("ubfc", settings_from_params(params, "ubfc"), "c") == cache_key("ubfc", ubfc, "c")
    params["preprocess"]["face_trace"]["region"] = "crop"  # shapes rgb_mean and the pseudo-label
    assert cache_key("ubfc", settings_from_params(params, "ubfc"), "c") != cache_key("ubfc", ubfc, "c")


# --- atomic writes ----------------------------------------------------------------------------


def failing_frames(n_ok: int, h: int = 20, w: int = 20) -> Callable[[], Iterator[np.ndarray]]:
    def frames() -> Iterator[np.ndarray]:
        ok = frame_source(100, h, w)()
        for _ in range(n_ok):
            yield next(ok)
        raise RuntimeError("decoder crashed")

    return frames


def test_failed_trial_leaves_no_h5(tmp_path: Path) -> None:
    trial = make_trial(n=30, frames=failing_frames(12))
    with pytest.raises(RuntimeError):
        preprocess_trial(trial, tmp_path / "t.h5", small_settings(), block_frames=4)
    assert list(tmp_path.iterdir()) == []


def test_short_video_is_input_error_and_excluded(tmp_path: Path) -> None:
    short = make_trial(n=30, trial_id="F002T1", frames=frame_source(25, 20, 20))
    with pytest.raises(InputError, match="video ended after 25 of 30 frames"):
        preprocess_trial(short, tmp_path / "t.h5", small_settings())
    assert list(tmp_path.iterdir()) == []
    good = make_trial(n=12, trial_id="F001T1")
    keydir = preprocess_trials("bp4d", [good, short], tmp_path / "out", small_settings(),
                               progress=False, code="c")
    index = open_cache(tmp_path / "out")
    assert index.trial_ids == ["F001T1"]
    assert index.info["excluded"][0]["trial_id"] == "F002T1"
    assert sorted(p.name for p in keydir.iterdir()) == ["F001T1.h5", "cache_info.json", "index.csv"]


def test_failed_run_leaves_no_out_folder(tmp_path: Path) -> None:
    out = tmp_path / "cache" / "bp4d"
    trials = [make_trial(n=12, trial_id="F001T1"), make_trial(n=30, trial_id="F002T1", frames=failing_frames(5))]
    with pytest.raises(RuntimeError):
        preprocess_trials("bp4d", trials, out, small_settings(), progress=False, code="c")
    assert list((tmp_path / "cache").iterdir()) == []
    # a previous complete cache is replaced only by a complete new one
    preprocess_trials("bp4d", trials[:1], out, small_settings(), progress=False, code="c")
    with pytest.raises(RuntimeError):
        preprocess_trials("bp4d", trials, out, small_settings(big_size=8), progress=False, code="c")
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["bp4d"]
    assert open_cache(out).trial_ids == ["F001T1"]


def test_out_folder_holds_exactly_one_key(tmp_path: Path) -> None:
    out = tmp_path / "bp4d"
    trial = make_trial(n=12)
    first = preprocess_trials("bp4d", [trial], out, small_settings(), progress=False, code="c")
    second = preprocess_trials("bp4d", [trial], out, small_settings(big_size=8), progress=False, code="c")
    assert first.name != second.name
    assert [p.name for p in out.iterdir()] == [second.name]
    info = open_cache(out).info
    assert info["key"] == second.name and info["settings"]["big_size"] == 8
    assert info["provenance"]["params_hash"]


# --- streaming ----------------------------------------------------------------------------------


class Tracked:
    """Frames from a generator, counting how many of the yielded frames are still alive."""

    def __init__(self, n: int, h: int, w: int):
        self.source = frame_source(n, h, w)
        self.refs: list[weakref.ref] = []
        self.max_alive = 0

    def __call__(self) -> Iterator[np.ndarray]:
        for frame in self.source():
            self.refs = [r for r in self.refs if r() is not None]
            self.max_alive = max(self.max_alive, len(self.refs))
            self.refs.append(weakref.ref(frame))
            yield frame


def test_core_never_holds_more_than_a_few_frames(tmp_path: Path) -> None:
    tracked = Tracked(120, 24, 24)
    preprocess_trial(make_trial(n=120, h=24, w=24, frames=tracked), tmp_path / "t.h5",
                     small_settings(), block_frames=8)
    assert tracked.max_alive <= 2  # the frame being processed and at most the previous one


def _peak_bytes(tmp_path: Path, n: int) -> int:
    trial = make_trial(n=n, h=96, w=96, trial_id=f"F{n:03d}T1")
    tracemalloc.start()
    preprocess_trial(trial, tmp_path / f"{n}.h5", small_settings(big_size=48, small_size=9),
                     block_frames=16)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak


def test_peak_memory_does_not_grow_with_length(tmp_path: Path) -> None:
    short = _peak_bytes(tmp_path, 100)
    long = _peak_bytes(tmp_path, 400)
    frame_bytes = 96 * 96 * 3
    # a 4x longer video would need 300 more frames (~8 MB) if it were materialised
    assert long - short < 20 * frame_bytes, (short, long)
    with h5py.File(tmp_path / "400.h5") as h5:
        assert h5["big"].shape == (399, 48, 48, 3)


# --- the stage through a real layout and the CLI ---------------------------------------------


def test_cli_on_bp4d_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pandas as pd
    import yaml

    from pipeline.datasets import bp4d
    from pipeline.stages.preprocess import main
    from tests.tiny_config import tiny_params

    raw = tmp_path / "raw" / "bp4d"
    n, hz = 150, 1000
    t = np.arange(n * hz // int(FPS)) / hz
    physiology = {
        "BP_mmHg": 80 + 20 * np.sin(2 * np.pi * 1.2 * t),
        "Resp_Volts": np.sin(2 * np.pi * 0.3 * t),
        "Pulse Rate_BPM": np.full(t.size, 72.0),
        "Respiration Rate_BPM": np.full(t.size, 18.0),
    }
    occ = np.zeros((100, len(bp4d.AU_COLUMNS)), np.int64)
    occ[::3, bp4d.AU_COLUMNS.index(12)] = 1
    for subject, task in (("F001", "T1"), ("M001", "T6")):
        frames = list(frame_source(n, 40, 30, seed=len(subject + task))())
        bp4d.write_trial(raw, subject, task, frames, physiology, occ, au_first_frame=21)
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame({"dataset": "bp4d", "trial_id": ["F001T1", "M001T6"], "subject": ["F001", "M001"],
                  "task": ["T1", "T6"], "status": ["ok", "excluded"]}).to_csv(manifest, index=False)
    params = tiny_params()
    params["preprocess"].update(big_size=16, small_size=4)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    # only this stage's sections matter here (load_params validates the whole file)
    monkeypatch.setattr("pipeline.preprocess.load_params", lambda path: yaml.safe_load(Path(path).read_text()))
    out = tmp_path / "cache" / "bp4d"
    main(["--dataset", "bp4d", "--params", str(tmp_path / "params.yaml"), "--raw", str(raw),
          "--manifest", str(manifest), "--out", str(out), "--no-progress"])
    index = open_cache(out)
    assert index.trial_ids == ["F001T1"]  # the excluded trial is not cached
    assert index.row("F001T1")["n_frames"] == 99 and index.row("F001T1")["n_chunks"] == 33
    with index.open("F001T1") as tc:
        assert tc.attrs["segment"] == [20, 120] and tc.frame_index[0] == 20
        assert tc.au_names == list(bp4d.AU_NAMES)
        col = list(bp4d.AU_NAMES).index("AU12")
        np.testing.assert_array_equal(tc.labels["au"][:, col], (np.arange(99) % 3 == 0).astype(np.int8))
        assert {"pulse", "pulse_raw", "resp", "pos_ppg", "pos_ppg_raw", "hr_bpm"} <= set(tc.labels)
    with pytest.raises(InputError, match="not found in the raw data"):
        pd.DataFrame({"trial_id": ["F009T1"], "subject": ["F009"], "task": ["T1"],
                      "status": ["ok"]}).to_csv(manifest, index=False)
        main(["--dataset", "bp4d", "--params", str(tmp_path / "params.yaml"), "--raw", str(raw),
              "--manifest", str(manifest), "--out", str(out), "--no-progress"])

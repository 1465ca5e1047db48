"""Each layout round-trips: what a writer puts on disk its reader gives back, frames and labels
aligned to frames by time, and the bytes written are deterministic."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from pipeline.datasets import align, bp4d, disfa, get_layout, pure, ubfc
from pipeline.errors import ConfigError

H, W = 32, 24


def noise_frames(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (H, W, 3), dtype=np.uint8) for _ in range(n)]


def smooth_frames(n: int) -> list[np.ndarray]:
    """Gradients with a per-frame offset: JPEG keeps them within a few grey levels."""
    yy, xx = np.mgrid[0:H, 0:W]
    out = []
    for k in range(n):
        img = np.stack([60 + 3 * yy + k, 90 + 4 * xx, 120 + 2 * (xx + yy) - k], axis=-1)
        out.append(np.clip(img, 0, 255).astype(np.uint8))
    return out


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(f.relative_to(root)).encode() + f.read_bytes())
    return digest.hexdigest()


def test_registry() -> None:
    assert get_layout("bp4d") is bp4d and get_layout("disfa") is disfa
    assert [get_layout(n).FPS for n in ("bp4d", "ubfc", "pure", "disfa")] == [25.0, 30.0, 30.0, 20.0]
    with pytest.raises(ConfigError):
        get_layout("cohface")


def test_stretch_is_exact_in_time() -> None:
    # 1 kHz sine spanning 2 s of 25 fps video: frame k must get sin(2*pi*f*k/25) exactly
    t = np.arange(2000) / 1000.0
    got = align.stretch(np.sin(2 * np.pi * 1.3 * t), 50)
    np.testing.assert_allclose(got, np.sin(2 * np.pi * 1.3 * np.arange(50) / 25.0), atol=1e-12)
    # the authors' grid ends one sample late: frame 49 maps to sample 2000 (clamped)
    authors = align.stretch_authors(np.arange(2000.0), 50)
    assert authors[-1] == 1999.0 and authors[1] == pytest.approx(2000 / 49)


def _bp4d_write(root: Path, subject: str = "F001", task: str = "T1", n: int = 50,
                **kw) -> dict[str, np.ndarray]:
    t = np.arange(n * 40) / 1000.0  # 1 kHz over n frames at 25 fps
    phys = {"BP_mmHg": 90 + 20 * np.sin(2 * np.pi * 1.2 * t), "Resp_Volts": np.cos(2 * np.pi * 0.25 * t),
            "Pulse Rate_BPM": np.full(len(t), 72.0), "Respiration Rate_BPM": 15 + t,
            "EDA_microsiemens": np.full(len(t), 3.0)}
    bp4d.write_trial(root, subject, task, iter(smooth_frames(n)), phys, **kw)
    return phys


def test_bp4d_round_trip(tmp_path: Path) -> None:
    occ = np.zeros((20, 34), np.int64)
    col = {k: j for j, k in enumerate(bp4d.AU_COLUMNS)}
    occ[:, col[12]] = 1                # AU12 active throughout
    occ[5, col[6]] = 9                 # "unknown" code: not coded for that AU only
    occ[6, col[6]] = 1
    occ[:, col[5]] = 1                 # AU05 is not among the 12 used
    _bp4d_write(tmp_path, au_occurrence=occ, au_first_frame=11)
    _bp4d_write(tmp_path, task="T6")  # appended to the same zip, no AU coding
    assert (tmp_path / "2D+3D" / "F001.zip").is_file()
    assert (tmp_path / "Physiology" / "F001" / "T1" / "Pulse Rate_BPM.txt").read_text().startswith("Pulse Rate_BPM\n")
    refs = bp4d.list_trials(tmp_path)
    assert [r.trial_id for r in refs] == ["F001T1", "F001T6"]
    data = bp4d.load_trial(refs[0])
    assert (data.n_frames, data.fps, data.pulse_kind, data.frame_shape) == (50, 25.0, "bp", (H, W, 3))
    tk = np.arange(50) / 25.0
    np.testing.assert_allclose(data.signals["pulse"], 90 + 20 * np.sin(2 * np.pi * 1.2 * tk), atol=1e-5)
    np.testing.assert_allclose(data.signals["resp"], np.cos(2 * np.pi * 0.25 * tk), atol=1e-7)
    np.testing.assert_allclose(data.signals["resp_bpm"], 15 + tk, atol=1e-7)
    assert set(data.signals) == {"pulse", "resp", "hr_bpm", "resp_bpm"}
    assert data.meta["label_len"]["pulse"] == 2000 and data.meta["label_duration_s"]["pulse"] == 2.0
    # AU: 12 columns, frames 11..30 (1-based) coded -> indices [10, 30)
    assert data.au_names == ["AU01", "AU02", "AU04", "AU06", "AU07", "AU10", "AU12", "AU14",
                             "AU15", "AU17", "AU23", "AU24"]
    assert data.au_range == (10, 30) and data.au.shape == (50, 12) and data.au.dtype == np.int8
    au12, au06 = data.au[:, 6], data.au[:, 3]
    assert np.all(au12[:10] == -1) and np.all(au12[10:30] == 1) and np.all(au12[30:] == -1)
    assert au06[15] == -1 and au06[16] == 1 and np.sum(au06[10:30] == 1) == 1 and np.sum(au06[10:30] == -1) == 1
    assert np.all(data.au[15, np.arange(12) != 3] >= 0)  # the other AUs of that frame stay coded
    frames = list(data.frames())
    assert len(frames) == 50
    err = max(np.abs(a.astype(int) - b).max() for a, b in zip(frames, smooth_frames(50)))
    assert err <= 8  # JPEG at quality 90 on smooth content
    assert bp4d.load_trial(refs[1]).au is None


def test_bp4d_frames_follow_frame_numbers(tmp_path: Path) -> None:
    # distinct flat frames: the reader must return them in frame-number order
    frames = [np.full((H, W, 3), 10 * k, np.uint8) for k in range(12)]
    bp4d.write_trial(tmp_path, "M001", "T8", iter(frames), {"BP_mmHg": np.zeros(480), "Resp_Volts": np.zeros(480)})
    got = list(bp4d.load_trial(bp4d.list_trials(tmp_path)[0]).frames())
    assert [int(round(f.mean())) for f in got] == [10 * k for k in range(12)]


def test_ubfc_round_trip_bit_exact(tmp_path: Path) -> None:
    frames = noise_frames(40)
    ts = 0.5 + np.arange(40) / 30.0  # timestamps need not start at 0
    ppg = np.sin(2 * np.pi * 1.1 * (ts - 0.5))
    ubfc.write_trial(tmp_path, 7, iter(frames), 30.0, ppg, np.full(40, 66.0), ts)
    rows = (tmp_path / "subject7" / "ground_truth.txt").read_text().splitlines()
    assert len(rows) == 3 and all(len(r.split()) == 40 for r in rows)
    ubfc.write_trial(tmp_path, 12, iter(frames), 30.0, ppg, np.full(40, 66.0), ts)
    refs = ubfc.list_trials(tmp_path)
    assert [r.subject for r in refs] == ["subject7", "subject12"]  # numeric order
    data = ubfc.load_trial(refs[0])
    assert (data.n_frames, data.fps, data.pulse_kind) == (40, 30.0, "ppg")
    got = list(data.frames())
    assert len(got) == 40 and all(np.array_equal(a, b) for a, b in zip(got, frames))
    np.testing.assert_allclose(data.signals["pulse"], ppg, atol=1e-8)
    np.testing.assert_allclose(data.signals["hr_bpm"], 66.0)


def test_pure_timestamp_alignment_is_exact(tmp_path: Path) -> None:
    # 30 fps frames starting at t0; 60 Hz PPG starting 0.25 s earlier: frame k coincides with
    # PPG sample 2k + 15, so a time-based reader gives the sine exactly at frame times while a
    # stretch over the samples would be off by a quarter of a second
    t0 = 1_600_000_000_000_000_000
    n, fs = 45, 60
    f_ns = t0 + np.round(np.arange(n) * 1e9 / 30).astype(np.int64)
    p_ns = t0 - 250_000_000 + np.round(np.arange(2 * n + 40) * 1e9 / fs).astype(np.int64)
    wave = lambda t_ns: np.sin(2 * np.pi * 1.4 * (t_ns - t0) / 1e9)  # noqa: E731
    frames = noise_frames(n, seed=3)
    pure.write_trial(tmp_path, 4, 2, iter(frames), f_ns, wave(p_ns), p_ns, pulse_rate_bpm=np.full(len(p_ns), 84))
    assert (tmp_path / "04-02" / "04-02" / f"Image{f_ns[0]}.png").is_file()
    refs = pure.list_trials(tmp_path)
    assert [(r.subject, r.task, r.trial_id) for r in refs] == [("04", "02", "04-02")]
    data = pure.load_trial(refs[0])
    assert data.n_frames == n and data.fps == pytest.approx(30.0, abs=1e-6)
    np.testing.assert_allclose(data.signals["pulse"], wave(f_ns), atol=1e-9)
    np.testing.assert_allclose(data.signals["hr_bpm"], 84.0)
    stretched = align.stretch(wave(p_ns), n)
    assert np.abs(stretched - wave(f_ns)).max() > 0.5
    got = list(data.frames())
    assert all(np.array_equal(a, b) for a, b in zip(got, frames))


def test_pure_ramp_at_offset_timestamps(tmp_path: Path) -> None:
    # a ramp is reproduced exactly by linear interpolation at any offset
    t0 = 10**12
    f_ns = t0 + np.arange(20) * 33_333_333
    p_ns = t0 - 7_000_000 + np.arange(70) * 16_666_667
    pure.write_trial(tmp_path, 1, 1, iter(noise_frames(20)), f_ns, (p_ns - t0) / 1e6, p_ns)
    data = pure.load_trial(pure.list_trials(tmp_path)[0])
    np.testing.assert_allclose(data.signals["pulse"], (f_ns - t0) / 1e6, atol=1e-9)


def test_disfa_round_trip(tmp_path: Path) -> None:
    n = 30
    intensity = {k: np.zeros(n, np.int64) for k in (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)}
    intensity[12][5:9] = [1, 3, 5, 2]
    intensity[5][:] = 4  # AU5 is not among the 8 used
    disfa.write_trial(tmp_path, 3, iter(smooth_frames(n)), 20.0, intensity)
    lines = (tmp_path / "ActionUnit_Labels" / "SN003" / "SN003_au12.txt").read_text().splitlines()
    assert lines[0] == "1,0" and lines[6] == "7,3" and len(lines) == n
    refs = disfa.list_trials(tmp_path)
    assert [r.trial_id for r in refs] == ["SN003"]
    data = disfa.load_trial(refs[0])
    assert (data.n_frames, data.fps, data.au_range) == (n, 20.0, (0, n))
    assert data.au_names == ["AU01", "AU02", "AU04", "AU06", "AU09", "AU12", "AU25", "AU26"]
    expected = np.zeros((n, 8), np.int8)
    expected[5:9, 5] = 1
    np.testing.assert_array_equal(data.au, expected)
    got = list(data.frames())
    assert len(got) == n
    assert max(np.abs(a.astype(int) - b).mean() for a, b in zip(got, smooth_frames(n))) < 3


def _write_all(root: Path) -> None:
    fr = noise_frames(8, seed=9)
    _bp4d_write(root / "bp4d", n=8, au_occurrence=np.ones((4, 34), int), au_first_frame=2)
    ts = np.arange(8) / 30.0
    ubfc.write_trial(root / "ubfc", 1, iter(fr), 30.0, ts, ts, ts)
    f_ns = np.arange(8) * 33_333_333
    pure.write_trial(root / "pure", 1, 1, iter(fr), f_ns, np.arange(16), np.arange(16) * 16_666_667)
    disfa.write_trial(root / "disfa", 1, iter(fr), 20.0, {1: np.arange(8) % 3})


def test_writers_are_deterministic(tmp_path: Path) -> None:
    _write_all(tmp_path / "a")
    _write_all(tmp_path / "b")
    for name in ("bp4d", "ubfc", "pure", "disfa"):
        assert tree_digest(tmp_path / "a" / name) == tree_digest(tmp_path / "b" / name), name


def test_writers_refuse_bad_frames(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        ubfc.write_trial(tmp_path, 1, iter([np.zeros((4, 4), np.uint8)]), 30.0, [0.0], [0.0], [0.0])
    bp4d.write_trial(tmp_path, "F002", "T1", iter(smooth_frames(2)), {"BP_mmHg": np.zeros(80)})
    with pytest.raises(ValueError):  # the same trial twice in one zip
        bp4d.write_trial(tmp_path, "F002", "T1", iter(smooth_frames(2)), {"BP_mmHg": np.zeros(80)})

"""The generator's physics against its own exact ground truth (arrays only, no files)."""

from __future__ import annotations

import dataclasses

import numpy as np
from scipy.signal import periodogram

from pipeline.synth import face, physio, render, skin
from pipeline.synth.generate import render_probe_trial

EASY = dict(pulse_amplitude=0.005, read_noise=2.0, shot_noise=0.03, head_translation_px=0.6, head_rotation_deg=0.8,
            head_yaw=0.02, motion_time_constant_s=2.5, illumination_drift=0.005, illumination_steps_per_min=0.0,
            specular=0.02, breath_motion_px=1.5, breath_irregularity=0.1, jpeg_quality=90)
HARD = dict(EASY, pulse_amplitude=0.0025, read_noise=4.0, shot_noise=0.08, head_translation_px=4.0,
            head_rotation_deg=4.0, head_yaw=0.12, motion_time_constant_s=0.6, illumination_drift=0.03,
            illumination_steps_per_min=3.0, specular=0.06, breath_irregularity=0.25)
FPS = 25.0
HW = (100, 75)
BP4D_PREV = {1: .09, 2: .08, 4: .06, 6: .49, 7: .65, 10: .64, 12: .57, 14: .59, 15: .11, 17: .13, 23: .17, 24: .04}


def render_trial(seed: int, seconds: float, preset: dict, still: bool = False, hw: tuple[int, int] = HW,
                 fitzpatrick: int = 3, light_rgb: np.ndarray | None = None):
    rng = np.random.default_rng(seed)
    sub = physio.draw_subject(rng)
    app = face.draw_appearance(rng, 0.19, fitzpatrick)
    n = int(seconds * FPS)
    ph = physio.simulate(seconds, 1000.0, sub, rng, 0.0, preset["breath_irregularity"])
    t = np.arange(n) / FPS
    vol = physio.resample(ph.resp.volume, 1000.0, t)
    preset = dict(preset, head_translation_px=0.0, head_rotation_deg=0.0, head_yaw=0.0) if still else preset
    geom = face.geometry(app, {}, np.zeros(n))
    nz = render.draw_nuisance(n, FPS, hw, app, 0.5, vol, preset, rng, light_rgb=light_rgb)
    scene = render.make_scene(hw, app)
    pulse = physio.resample(ph.ppg, 1000.0, t)
    frames = np.stack([render.render_frame(scene, geom, k, nz, pulse[k], preset["pulse_amplitude"],
                                           (preset["read_noise"], preset["shot_noise"]), rng) for k in range(n)])
    return frames, ph, pulse, render.landmarks_pixels(geom, nz)


def skin_mask(lm: np.ndarray, shape) -> np.ndarray:
    """Both cheeks, from the first frame's landmarks: below the eyes, beside the nose."""
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    top = max(lm[0, 40, 1], lm[0, 47, 1]) + 2
    bottom = lm[0, 31, 1]
    left = (xx > lm[0, 36, 0]) & (xx < lm[0, 39, 0])
    right = (xx > lm[0, 42, 0]) & (xx < lm[0, 45, 0])
    return (yy > top) & (yy < bottom) & (left | right)


def band_snr_db(x: np.ndarray, fs: float, f0: float) -> float:
    f, p = periodogram(x - x.mean(), fs=fs, nfft=8 * len(x))
    sig = (np.abs(f - f0) < 0.1) | (np.abs(f - 2 * f0) < 0.1)
    band = (f > 0.7) & (f < 4.0)
    return 10 * np.log10(p[sig & band].sum() / p[~sig & band].sum())


def pos(rgb: np.ndarray, fs: float, win_s: float = 1.6) -> np.ndarray:
    """Plane-orthogonal-to-skin pulse (Wang et al. 2017) with overlap-add over 1.6 s windows."""
    n, w = len(rgb), int(win_s * fs)
    out = np.zeros(n)
    for s in range(0, n - w + 1):
        c = rgb[s : s + w] / rgb[s : s + w].mean(0)
        s1 = c[:, 1] - c[:, 2]
        s2 = c[:, 1] + c[:, 2] - 2 * c[:, 0]
        h = s1 + s1.std() / (s2.std() + 1e-12) * s2
        out[s : s + w] += h - h.mean()
    return out


def test_bp_wave_shape_and_rate():
    x = np.linspace(0, 1, 1000, endpoint=False)
    bp = physio.bp_shape(x)
    peak = int(np.argmax(bp))
    after = bp[peak:]
    d = np.diff(after)
    turns = np.flatnonzero(np.sign(d[1:]) != np.sign(d[:-1]))
    # systolic peak early (fast upstroke), then a notch (minimum) and the dicrotic wave (maximum)
    assert peak / 1000 < 0.2 and len(turns) >= 2 and d[turns[0]] < 0 < d[turns[0] + 1]
    for seed in range(4):
        rng = np.random.default_rng(seed)
        sub = physio.draw_subject(rng)
        ph = physio.simulate(60.0, 1000.0, sub, rng, task_rise_bpm=6.0)
        est = physio.spectral_peak_bpm(ph.bp_mmhg, 1000.0, (0.7, 3.0))
        assert abs(est - ph.mean_hr_bpm) < 2.5, (est, ph.mean_hr_bpm)
        assert 50 < ph.bp_mmhg.min() < 90 < 100 < ph.bp_mmhg.max() < 145


def test_pulse_transit_delay():
    rng = np.random.default_rng(3)
    sub = physio.draw_subject(rng)
    ph = physio.simulate(30.0, 1000.0, sub, rng)
    ref = physio.bp_shape(ph.phase)  # the BP wave as it would be without delay
    bp = ph.bp_mmhg - ph.bp_mmhg.mean()
    lags = np.arange(0, 500)
    corr = [np.dot(ref[: len(ref) - 500] - ref.mean(), bp[k : k + len(ref) - 500]) for k in lags]
    assert abs(lags[int(np.argmax(corr))] / 1000.0 - sub.ptt_s) < 0.01


def test_breathing_rate_is_spectral_peak_and_modulates_hr():
    for seed in range(4):
        rng = np.random.default_rng(seed)
        sub = physio.draw_subject(rng)
        ph = physio.simulate(90.0, 100.0, sub, rng, breath_irregularity=0.1)
        est = physio.spectral_peak_bpm(ph.resp.volume, 100.0, (0.08, 0.5))
        assert abs(est - ph.resp.mean_rate_bpm) < 1.5, (est, ph.resp.mean_rate_bpm)
        # sinus arrhythmia: heart rate correlates with lung volume
        assert np.corrcoef(ph.hr_bpm - physio.gaussian_filter1d(ph.hr_bpm, 800), ph.resp.volume)[0, 1] > 0.3


def test_single_pixel_noise_face_mean_pulse_and_breathing_motion():
    frames, ph, pulse, lm = render_trial(0, 16.0, EASY, still=True, hw=(200, 150))
    mask = skin_mask(lm, frames.shape[1:3])
    assert mask.sum() > 60
    green = frames[..., 1].astype(float)
    f0 = ph.mean_hr_bpm / 60.0
    ys, xs = np.nonzero(mask)
    pixel = green[:, ys[len(ys) // 2], xs[len(xs) // 2]]
    snr_pixel = band_snr_db(pixel, FPS, f0)
    snr_mean = band_snr_db(green[:, mask].mean(1), FPS, f0)
    assert snr_mean > snr_pixel + 10.0, (snr_pixel, snr_mean)
    assert snr_pixel < 0.0 < snr_mean
    # breathing lifts the shoulders: body coverage of a shoulder column follows the breathing rate
    col = frames[:, :, int(0.85 * frames.shape[2]), :].astype(float)
    bg = render.BACKGROUND_RGB
    coverage = (np.abs(col - bg).sum(-1) / np.abs(col - bg).sum(-1).max((0, 1))).sum(1)
    est = physio.spectral_peak_bpm(coverage, FPS, (0.08, 0.5))
    assert abs(est - ph.resp.mean_rate_bpm) < 2.0, (est, ph.resp.mean_rate_bpm)


def face_trace(frames: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """Mean RGB of the cheeks, the region following the landmarks frame by frame."""
    return np.array([f[skin_mask(lm[k : k + 1], f.shape[:2])].astype(float).mean(0) for k, f in enumerate(frames)])


def test_pos_easy_within_2bpm_and_hard_degrades():
    errors = {}
    for name, preset, trials in (("easy", EASY, (100, 101)), ("hard", HARD, (100,))):
        errs = []
        for seed in trials:
            frames, ph, _, lm = render_trial(seed, 10.0, preset, hw=(200, 150))
            est = physio.spectral_peak_bpm(pos(face_trace(frames, lm), FPS), FPS, (0.7, 3.0))
            errs.append(abs(est - ph.mean_hr_bpm))
        errors[name] = float(np.mean(errs))
    assert errors["easy"] <= 2.0, errors
    assert errors["hard"] > errors["easy"] + 2.0, errors


def test_au_prevalence_cooccurrence_and_dynamics():
    rng = np.random.default_rng(7)
    occ, inten = face.au_dynamics(40000, FPS, face.BP4D_AUS, BP4D_PREV, rng)
    rates = occ.mean(0)
    for j, au in enumerate(face.BP4D_AUS):
        target = BP4D_PREV[au]
        assert abs(rates[j] - target) < max(0.05, 0.3 * target), (au, rates[j], target)
    col = {a: occ[:, j] for j, a in enumerate(face.BP4D_AUS)}

    def lift(a, b):
        return (col[a] & col[b]).mean() / (col[a].mean() * col[b].mean())

    for a, b in ((6, 12), (1, 2), (4, 7), (4, 10), (15, 17)):
        assert lift(a, b) > 1.2, (a, b, lift(a, b))
    # occurrence is exactly intensity >= 0.5; episodes have onset and offset ramps
    assert np.array_equal(occ, inten >= 0.5)
    assert inten.max() <= 5.0 and np.any((inten > 0.5) & (inten < 1.5))
    disfa_prev = {1: .07, 2: .06, 4: .18, 6: .08, 9: .05, 12: .13, 25: .27, 26: .12}
    occ, _ = face.au_dynamics(40000, 20.0, face.DISFA_AUS, disfa_prev, rng)
    for j, au in enumerate(face.DISFA_AUS):
        assert abs(occ[:, j].mean() - disfa_prev[au]) < max(0.04, 0.3 * disfa_prev[au]), au


def test_au_changes_pixels_where_expected():
    rng = np.random.default_rng(1)
    app = face.draw_appearance(rng, 0.19)
    scene = render.make_scene((200, 150), app)
    nz = render.draw_nuisance(1, FPS, (200, 150), app, 0.5, np.zeros(1),
                              dict(EASY, head_translation_px=0.0, head_rotation_deg=0.0, head_yaw=0.0), rng)
    lm = render.landmarks_pixels(face.geometry(app, {}, np.zeros(1)), nz)[0]

    def draw(aus):
        g = face.geometry(app, {a: np.full(1, 5.0) for a in aus}, np.zeros(1))
        return render.render_frame(scene, g, 0, nz, 0.0, 0.0, (0.0, 0.0), rng).astype(float)

    neutral = draw([])
    brow_y = int(lm[19, 1])
    mouth_y = int(lm[51, 1])
    eye_y = int(lm[41, 1]) + 3
    for au, region in ((1, slice(0, eye_y)), (4, slice(0, eye_y)), (12, slice(mouth_y - 8, 200)),
                       (17, slice(mouth_y - 3, 200)), (6, slice(brow_y, mouth_y))):
        diff = np.abs(draw([au]) - neutral).sum(-1)
        assert diff[region].sum() > 0.8 * diff.sum() > 0, au
    # 68 landmarks follow the AU geometry: AU12 lifts the lip corners, AU26 lowers the chin
    g12 = face.geometry(app, {12: np.full(1, 5.0)}, np.zeros(1))
    assert render.landmarks_pixels(g12, nz)[0, 48, 1] < lm[48, 1] - 1
    g26 = face.geometry(app, {26: np.full(1, 5.0)}, np.zeros(1))
    assert render.landmarks_pixels(g26, nz)[0, 8, 1] > lm[8, 1] + 2


def test_short_trials_keep_a_plausible_heart_rate():
    """Trials of a few frames (BP4D+'s filler tasks at small sizes) draw their slow drift from
    the stationary process: near the subject's rate, never pinned at the clip limits."""
    for seed in range(20):
        for seconds in (0.12, 1.0, 4.0):
            rng = np.random.default_rng(seed)
            sub = physio.draw_subject(rng)
            ph = physio.simulate(seconds, 1000.0, sub, rng)
            assert np.abs(ph.hr_bpm - sub.base_hr_bpm).max() < 5 * 2.0 + sub.rsa_bpm, (seed, seconds)
            assert 42.0 < ph.hr_bpm.min() and ph.hr_bpm.max() < 160.0


def _relative_pulse(fitzpatrick: int, skin_rgb=None) -> np.ndarray:
    """Relative change dC/C of the mean skin colour between blood volume -0.5 and +0.5, rendered
    without noise or motion (a large amplitude so that 8-bit rounding does not matter)."""
    rng = np.random.default_rng(5)
    app = face.draw_appearance(rng, 0.19, fitzpatrick)
    if skin_rgb is not None:
        import dataclasses

        app = dataclasses.replace(app, skin_rgb=np.asarray(skin_rgb, float))
    still = dict(EASY, head_translation_px=0.0, head_rotation_deg=0.0, head_yaw=0.0, illumination_drift=0.0,
                 specular=0.0)
    nz = render.draw_nuisance(1, FPS, (200, 150), app, 0.5, np.zeros(1), still, rng)
    scene = render.make_scene((200, 150), app)
    g = face.geometry(app, {}, np.zeros(1))
    lm = render.landmarks_pixels(g, nz)
    mask = skin_mask(lm, (200, 150))
    lo, hi, mid = (render.render_frame(scene, g, 0, nz, p, 0.2, (0.0, 0.0), rng)[mask].astype(float).mean(0)
                   for p in (-0.5, 0.5, 0.0))
    return (hi - lo) / mid


def test_pulse_is_a_relative_per_channel_darkening_along_the_signature():
    """More blood, darker skin; each channel changes relative to its own DC level, so the
    normalised direction is the signature [0.33, 0.77, 0.53] (times the melanin factor) on any skin,
    whatever its red/green ratio (an absolute green-scaled change would tilt it towards blue on
    dark skin)."""
    signature = np.array([0.33, 0.77, 0.53])
    for fitz, rgb in ((1, None), (3, None), (6, None), (3, (211.0, 95.0, 63.0)), (3, (90.0, 90.0, 90.0))):
        rel = _relative_pulse(fitz, rgb)
        assert np.all(rel < 0), (fitz, rgb, rel)  # darker as blood volume rises
        expected = signature * skin.relative_pulse_factor(fitz)
        np.testing.assert_allclose(rel / rel[1], expected / expected[1], rtol=0.06, err_msg=str((fitz, rgb)))
    # melanin: type VI keeps about 60% of type I's relative green pulse
    ratio = _relative_pulse(6)[1] / _relative_pulse(1)[1]
    assert 0.5 < ratio < 0.75, ratio


def test_melanin_factor_and_light_colour():
    factors = np.array([skin.relative_pulse_factor(t) for t in skin.FITZPATRICK_TYPES])
    assert np.all(np.diff(factors, axis=0) < 0)  # darker skin, smaller relative pulse, every channel
    assert np.all(factors[-1] == factors[-1].min()) or factors[-1, 2] < factors[-1, 1] < factors[-1, 0]
    np.testing.assert_allclose(skin.light_gain(6500, 1.0), 1.0, atol=1e-9)
    warm = skin.light_gain(2700, 0.3)
    assert warm[0] > 1.25 and warm[2] < 0.7 and warm[1] == 1.0
    # the tungsten case: a medium skin reads about RGB (211, 95, 63): Cr far above 173
    lit = np.array(skin.FITZPATRICK_RGB[4]) * warm
    assert lit[0] / lit[1] > 1.8
    # auto-exposure keeps the brightest surface below saturation
    assert np.max(np.array(skin.FITZPATRICK_RGB[1]) * skin.light_gain(2700, 0.0, skin.FITZPATRICK_RGB[1])) <= 235.0 + 1e-9


def test_camera_signal_and_recorded_ppg_are_inverted_and_delayed():
    """The face's green falls as blood volume rises; the oximeter's PPG rises with it and lags the
    face by the pulse transit time, as in UBFC-rPPG and PURE."""
    from scipy.signal import butter, sosfiltfilt

    video, truth = render_probe_trial(3, 2, 5500.0, 0.9, duration_s=12.0, preset="easy")
    fps = truth["fps"]
    h, w = video.shape[1:3]
    green = video[:, int(0.35 * h) : int(0.6 * h), int(0.4 * w) : int(0.6 * w), 1].reshape(len(video), -1).mean(1)
    sos = butter(2, [0.7, 3.0], btype="band", fs=fps, output="sos")
    camera = sosfiltfilt(sos, green - green.mean())
    volume = sosfiltfilt(sos, truth["pulse"] - truth["pulse"].mean())
    finger = sosfiltfilt(sos, truth["finger_ppg"] - truth["finger_ppg"].mean())
    assert np.corrcoef(camera, volume)[0, 1] < -0.5
    lags = np.arange(0, 16)
    core = slice(20, len(camera) - 20)
    corr = [np.corrcoef(-camera[core], np.roll(finger, -k)[core])[0, 1] for k in lags]
    lag_s = lags[int(np.argmax(corr))] / fps
    assert abs(lag_s - truth["ptt_s"]) <= 1.5 / fps, (lag_s, truth["ptt_s"])
    assert max(corr) > 0.5


def test_perfusion_varies_between_subjects_around_the_typical_pulse():
    """Facial pulse size differs several-fold between people: median 1, about 0.5x-2x."""
    rng = np.random.default_rng(11)
    perf = np.array([physio.draw_subject(rng).perfusion for _ in range(4000)])
    assert 0.95 < np.median(perf) < 1.05
    lo, hi = np.quantile(perf, [0.025, 0.975])
    assert 0.4 < lo < 0.6 and 1.7 < hi < 2.3, (lo, hi)


def test_key_and_fill_light_mix_changes_colour_with_head_turn():
    """A fill light of another colour: turning the head changes the skin's chromaticity; with one
    light colour the same turn changes brightness only (which POS and CHROM cancel)."""
    rng = np.random.default_rng(2)
    app = face.draw_appearance(rng, 0.19, 3)
    base = dict(EASY, head_translation_px=0.0, head_rotation_deg=0.0, head_yaw=0.0, illumination_drift=0.0,
                specular=0.0, light_side_deg=40.0, light_falloff=0.0)
    scene = render.make_scene((200, 150), app)
    g = face.geometry(app, {}, np.zeros(1))

    def chroma(mixed: float, yaw: float) -> np.ndarray:
        nz = render.draw_nuisance(1, FPS, (200, 150), app, 0.5, np.zeros(1), dict(base, mixed_light=mixed),
                                  np.random.default_rng(3), fill_rgb=np.array([1.3, 1.0, 0.6]))
        nz.lighting[1] = np.deg2rad(40.0)  # key light on the right
        nz.yaw[:] = yaw
        mask = skin_mask(render.landmarks_pixels(g, nz), (200, 150))
        img = render.render_frame(scene, g, 0, nz, 0.0, 0.0, (0.0, 0.0), np.random.default_rng(0)).astype(float)
        mean = img[mask].mean(0)
        return mean / mean.sum()

    turn_mixed = np.abs(chroma(0.5, 0.3) - chroma(0.5, -0.3)).max()
    turn_single = np.abs(chroma(0.0, 0.3) - chroma(0.0, -0.3)).max()
    assert turn_mixed > 0.002 > 5 * turn_single, (turn_mixed, turn_single)


def test_finger_pulse_narrows_as_the_rate_rises_the_face_pulse_does_not():
    """Mental effort raises the heart rate and constricts the finger's arterioles: a 25 bpm task
    rise leaves the finger's pulse at 0.8^2.5 (about 57%) of its size at the start, while the
    facial blood-volume wave keeps its size. Both still beat at the same rate."""
    rng = np.random.default_rng(4)
    sub = physio.draw_subject(rng)
    sub = dataclasses.replace(sub, rsa_bpm=0.0)
    ph = physio.simulate(60.0, 1000.0, sub, rng, task_rise_bpm=25.0, hr_drift_bpm=0.0)
    first, last = slice(0, 1000), slice(55000, 60000)  # before any rise, and with the rise complete

    def swing(x, part):
        return float(np.ptp(x[part]))

    assert abs(swing(ph.ppg, last) / swing(ph.ppg, first) - 1.0) < 0.02
    ratio = swing(ph.finger_ppg, last) / swing(ph.finger_ppg, first)
    expected = (1.0 - physio.FINGER_VASOCONSTRICTION_PER_10_BPM) ** ((ph.hr_bpm[57000] - ph.hr_bpm[500]) / 10.0)
    assert abs(ratio - expected) < 0.03, (ratio, expected)
    assert 0.5 < ratio < 0.65
    assert abs(np.mean(ph.hr_bpm[55000:]) - np.mean(ph.hr_bpm[:500]) - 25.0) < 1.5

"""Signal toolkit against known ground truth: detrend, band-pass, spectral peak, POS, CHROM,
rates, diff-normalisation and the POS pseudo-label."""

from __future__ import annotations

import jsonschema
import numpy as np
import pytest
import yaml

from pipeline.config import REPO_ROOT as ROOT
from pipeline.config import load_schema
from pipeline.signals.chrom import chrom
from pipeline.signals.detrend import detrend
from pipeline.signals.filters import bandpass, bandpass_gain, hilbert_envelope
from pipeline.signals.pos import pos
from pipeline.signals.pseudo_label import pos_pseudo_label
from pipeline.signals.rates import (
    diff_normalise,
    integrate,
    next_pow2,
    pulse_rate_bpm,
    rate_kwargs,
    resp_rate_bpm,
    spectral_peak_hz,
    windowed_rate_bpm,
)
from pipeline.signals.pseudo_label import pseudo_label_band, reference_rate_hz

# Plausible blood-volume signature in normalised R, G, B (pulse strongest in green).
PBV = np.array([0.33, 0.77, 0.53])
SKIN_DC = np.array([180.0, 120.0, 95.0])


def pulse_wave(t: np.ndarray, hr_hz: float) -> np.ndarray:
    """A pulse with two harmonics (non-sinusoidal, like a PPG)."""
    w = 2 * np.pi * hr_hz * t
    return np.sin(w) + 0.5 * np.sin(2 * w + 0.7) + 0.2 * np.sin(3 * w + 1.3)


def face_trace(fs: float, seconds: float, hr_bpm: float, seed: int = 0, motion_hz: float = 1.9) -> np.ndarray:
    """Face-mean RGB: skin DC x common intensity changes x (1 + small pulse along PBV) + noise.

    The intensity changes (illumination drift, a random walk, and a motion-like flicker at
    ``motion_hz`` inside the heart-rate band, 3x stronger than the pulse in green) move all
    channels together, which POS and CHROM cancel and the green channel does not.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(fs * seconds))) / fs
    intensity = (
        1.0
        + 0.01 * np.sin(2 * np.pi * motion_hz * t)
        + 0.03 * np.sin(2 * np.pi * 0.25 * t)
        + np.cumsum(rng.normal(0.0, 0.002, t.size))
    )
    pulse = 0.004 * pulse_wave(t, hr_bpm / 60.0)
    return SKIN_DC * intensity[:, None] * (1.0 + pulse[:, None] * PBV) + rng.normal(0.0, 0.3, (t.size, 3))


def dense_detrend(x: np.ndarray, lam: float) -> np.ndarray:
    n = x.size
    d = np.diff(np.eye(n), 2, axis=0)
    return x - np.linalg.inv(np.eye(n) + lam**2 * d.T @ d) @ x


# --- detrend -------------------------------------------------------------------------------

@pytest.mark.parametrize("n", [3, 4, 7, 64])
@pytest.mark.parametrize("lam", [0.0, 1.0, 100.0])
def test_detrend_equals_dense_formula(n: int, lam: float) -> None:
    x = np.random.default_rng(n).normal(size=n) + np.linspace(0, 5, n)
    np.testing.assert_allclose(detrend(x, lam), dense_detrend(x, lam), atol=1e-10)


def test_detrend_removes_linear_trend_exactly_and_keeps_pulse() -> None:
    fs = 25.0
    t = np.arange(1000) / fs
    pulse = np.sin(2 * np.pi * 1.2 * t)
    trend = 50.0 - 3.0 * t
    np.testing.assert_allclose(detrend(pulse + trend), detrend(pulse), atol=1e-8)
    np.testing.assert_allclose(detrend(trend), 0.0, atol=1e-8)
    # The trend filter's gain at 1.2 Hz is 1 / (1 + 16 lam^2 sin^4(w/2)) = 0.0122 for lam 100.
    w = 2 * np.pi * 1.2 / fs
    keep = 1.0 - 1.0 / (1.0 + 16e4 * np.sin(w / 2) ** 4)
    mid = slice(200, 800)
    np.testing.assert_allclose(detrend(pulse)[mid], keep * pulse[mid], atol=2e-3)


def test_detrend_columns_and_axis() -> None:
    x = np.random.default_rng(1).normal(size=(40, 3))
    out = detrend(x, 10.0)
    for c in range(3):
        np.testing.assert_allclose(out[:, c], dense_detrend(x[:, c], 10.0), atol=1e-10)
    np.testing.assert_allclose(detrend(x.T, 10.0, axis=1), out.T, atol=1e-12)
    np.testing.assert_array_equal(detrend(np.array([1.0, 2.0])), [0.0, 0.0])


# --- band-pass -----------------------------------------------------------------------------

def _amplitude_at(x: np.ndarray, f: float, fs: float) -> float:
    t = np.arange(x.size) / fs
    basis = np.exp(-2j * np.pi * f * t)
    return float(2 * np.abs(np.mean(x * basis)))


@pytest.mark.parametrize(
    "band,order,freq",
    [((0.75, 2.5), 2, 1.3), ((0.75, 2.5), 2, 0.3), ((0.75, 2.5), 2, 5.0), ((0.08, 0.5), 2, 0.25),
     ((0.08, 0.5), 2, 1.5), ((0.13, 0.5), 1, 0.05)],
)
def test_bandpass_gain_matches_design(band: tuple[float, float], order: int, freq: float) -> None:
    fs = 25.0
    t = np.arange(int(fs * 400)) / fs
    y = bandpass(np.sin(2 * np.pi * freq * t), fs, band, order)
    mid = slice(y.size // 4, 3 * y.size // 4)  # away from the edge transients
    expected = float(bandpass_gain([freq], fs, band, order)[0])
    assert _amplitude_at(y[mid], freq, fs) == pytest.approx(expected, rel=0.02, abs=2e-4)


def test_bandpass_attenuation() -> None:
    fs, band = 25.0, (0.75, 2.5)
    g = bandpass_gain(np.array([0.1, 0.3, 1.37, 5.0, 10.0]), fs, band, 2)
    assert g[2] == pytest.approx(1.0, abs=0.01)  # centre (geometric mean) passes
    assert g[1] < 0.05 and g[3] < 0.05  # more than 26 dB down outside the band
    assert g[0] < 1e-3 and g[4] < 1e-3
    # Butterworth edges are the half-power points (|H| = 1/sqrt 2); filtering forwards and
    # backwards squares the amplitude gain to exactly 0.5 there.
    np.testing.assert_allclose(bandpass_gain(np.array(band), fs, band, 2), [0.5, 0.5], atol=1e-9)


def test_bandpass_rejects_bad_band() -> None:
    with pytest.raises(ValueError):
        bandpass(np.zeros(100), 25.0, (2.5, 0.75))
    with pytest.raises(ValueError):
        bandpass(np.zeros(100), 4.0, (0.75, 2.5))  # above Nyquist


# --- spectral peak, diff-normalisation ------------------------------------------------------

@pytest.mark.parametrize("factor", [1, 4, 16])
def test_spectral_peak_exact_on_bin_sine(factor: int) -> None:
    fs, n = 25.0, 1000
    nfft = next_pow2(factor * n)
    assert nfft == {1: 1024, 4: 4096, 16: 16384}[factor]
    k = int(round(1.234 * nfft / fs))  # a bin of that grid near 1.234 Hz
    f = k * fs / nfft
    x = np.cos(2 * np.pi * f * np.arange(n) / fs)
    assert spectral_peak_hz(x, fs, (0.75, 2.5), zero_pad_factor=factor) == f


def test_zero_padding_refines_off_grid_sine() -> None:
    fs, n, f = 25.0, 500, 1.2345
    x = np.sin(2 * np.pi * f * np.arange(n) / fs)
    coarse = spectral_peak_hz(x, fs, (0.75, 2.5), 1)
    fine = spectral_peak_hz(x, fs, (0.75, 2.5), 32)
    assert abs(coarse - f) <= fs / 512 / 2 + 1e-12
    assert abs(fine - f) < abs(coarse - f) and abs(fine - f) < 2e-3


def test_spectral_peak_degenerate() -> None:
    assert np.isnan(spectral_peak_hz(np.zeros(100), 25.0, (0.75, 2.5)))
    with pytest.raises(ValueError):
        spectral_peak_hz(np.array([1.0, np.nan, 2.0]), 25.0, (0.75, 2.5))


def test_constant_waveform_has_no_rate() -> None:
    """A constant (e.g. a flat BP trace at 80 mmHg) leaves only rounding residue after the
    detrend: no rate, rather than the band edge that the residue's periodogram would peak at."""
    from pipeline.signals.rates import rate_bpm

    assert np.isnan(rate_bpm(np.full(500, 80.0), 25.0, False, (0.75, 2.5)))
    assert np.isnan(rate_bpm(np.zeros(500), 25.0, True, (0.75, 2.5)))
    sine = 80 + 1e-3 * np.sin(2 * np.pi * 1.2 * np.arange(500) / 25.0)  # small but real
    assert rate_bpm(sine, 25.0, False, (0.75, 2.5)) == pytest.approx(72, abs=3)


def test_diff_normalise_round_trip() -> None:
    x = np.random.default_rng(3).normal(size=200).cumsum() + 7.0
    d = diff_normalise(x)
    assert d.shape == (199,) and np.std(d) == pytest.approx(1.0)
    np.testing.assert_allclose(integrate(d, x0=x[0], scale=np.std(np.diff(x))), x, atol=1e-10)
    padded = diff_normalise(x, pad_end=True)
    assert padded.shape == (200,) and padded[-1] == 0.0
    np.testing.assert_array_equal(diff_normalise(np.full(10, 3.0)), np.zeros(9))


# --- rates -----------------------------------------------------------------------------------

def test_pulse_rate_of_diff_normalised_wave() -> None:
    fs, hr = 25.0, 84.0
    t = np.arange(int(60 * fs)) / fs
    wave = pulse_wave(t, hr / 60) + 0.5 * t  # a drift the integration + detrend must survive
    raw = pulse_rate_bpm(wave, fs, diff_normalised=False, zero_pad_factor=16)
    dn = pulse_rate_bpm(diff_normalise(wave), fs, diff_normalised=True, zero_pad_factor=16)
    assert abs(raw - hr) < 0.2 and abs(dn - hr) < 0.2


def test_resp_rate_paper_and_code_bands() -> None:
    fs, br = 25.0, 15.0
    t = np.arange(int(120 * fs)) / fs
    wave = np.sin(2 * np.pi * br / 60 * t) + 0.3 * np.sin(2 * np.pi * 2 * br / 60 * t)
    wave += 0.05 * np.random.default_rng(0).normal(size=t.size)
    paper = resp_rate_bpm(diff_normalise(wave), fs, True, zero_pad_factor=8)
    code = resp_rate_bpm(diff_normalise(wave), fs, True, band=(0.13, 0.5), order=1, zero_pad_factor=8)
    assert abs(paper - br) < 0.5 and abs(code - br) < 0.5


def test_windowed_rates_track_a_rate_change() -> None:
    fs = 25.0
    t = np.arange(int(40 * fs)) / fs
    hr = np.where(t < 20, 60.0, 90.0)
    wave = np.sin(2 * np.pi * np.cumsum(hr / 60) / fs)
    centres, rates = windowed_rate_bpm(wave, fs, window_s=10.0, zero_pad_factor=8, diff_normalised=False)
    np.testing.assert_allclose(centres, [5.0, 15.0, 25.0, 35.0])
    np.testing.assert_allclose(rates, [60, 60, 90, 90], atol=1.0)
    _, overlapping = windowed_rate_bpm(wave, fs, 10.0, 5.0, diff_normalised=False)
    assert overlapping.size == 7


def _signals_sections() -> list[dict]:
    """The ``signals`` section of params.yaml and of the tiny configuration, schema-checked."""
    schema = load_schema()["properties"]["signals"]
    sections = [yaml.safe_load((ROOT / "params.yaml").read_text())["signals"]]
    tiny = yaml.safe_load((ROOT / "tests" / "tiny" / "signals.yaml").read_text())
    sections.append(tiny.get("signals", tiny))
    for section in sections:
        jsonschema.Draft202012Validator(schema).validate(section)
    return sections


def test_params_defaults_are_the_papers() -> None:
    for section in _signals_sections():
        assert section["pulse"]["band_hz"] == [0.75, 2.5] and section["pulse"]["order"] == 2
        assert section["resp"]["band_hz"] == [0.08, 0.5] and section["resp"]["order"] == 2
        assert section["pseudo_label"]["halfband_bpm"] == 20.0
        assert section["pseudo_label"]["limits_hz"] == [0.70, 3.0]
        assert section["pos"]["window_s"] == 1.6 and section["eval_window"]["enabled"] is False


def test_signals_schema_is_strict() -> None:
    schema = load_schema()["properties"]["signals"]
    section = _signals_sections()[0]
    for bad in ({**section, "extra": 1}, {**section, "pulse": {**section["pulse"], "order": 0}},
                {**section, "resp": {**section["resp"], "band_hz": [0.1]}}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(schema).validate(bad)


def test_rate_kwargs_from_params() -> None:
    section = _signals_sections()[0]
    kw = rate_kwargs(section, "resp")
    assert kw["band"] == tuple(section["resp"]["band_hz"]) and kw["order"] == section["resp"]["order"]
    assert set(kw) == {"band", "order", "detrend_lambda", "zero_pad_factor"}


# --- POS and CHROM ---------------------------------------------------------------------------

@pytest.mark.parametrize("fs,hr,seed", [(30.0, 72.0, 0), (25.0, 96.0, 1), (25.0, 57.0, 2)])
def test_pos_and_chrom_recover_rate_and_beat_green(fs: float, hr: float, seed: int) -> None:
    rgb = face_trace(fs, 60.0, hr, seed=seed)
    kw = dict(diff_normalised=False, zero_pad_factor=8)
    err = {
        "pos": abs(pulse_rate_bpm(pos(rgb, fs), fs, **kw) - hr),
        "chrom": abs(pulse_rate_bpm(chrom(rgb, fs), fs, **kw) - hr),
        "green": abs(pulse_rate_bpm(rgb[:, 1], fs, **kw) - hr),
    }
    assert err["pos"] < 1.0 and err["chrom"] < 1.0, err
    assert err["green"] > 10.0, err  # locked on the motion flicker


def test_pos_matches_loop_definition() -> None:
    """The vectorised POS equals the per-window definition of Wang et al. 2017."""
    fs = 20.0
    rgb = face_trace(fs, 6.0, 80.0, seed=4)
    win = 32
    expected = np.zeros(len(rgb))
    proj = np.array([[0, 1, -1], [-2, 1, 1]], dtype=float)
    for m in range(len(rgb) - win + 1):
        cn = rgb[m : m + win] / rgb[m : m + win].mean(axis=0)
        s = proj @ cn.T
        h = s[0] + s[0].std() / s[1].std() * s[1]
        expected[m : m + win] += h - h.mean()
    # negated: the pipeline's pulse signals rise with blood volume (PPG convention)
    np.testing.assert_allclose(pos(rgb, fs), -expected, atol=1e-12)


def test_pos_and_chrom_follow_blood_volume() -> None:
    """Skin that darkens as blood volume rises (relative change along [0.33, 0.77, 0.53]) gives
    POS and CHROM outputs that rise with blood volume, like the oximeter's PPG."""
    fs = 30.0
    t = np.arange(int(12 * fs)) / fs
    volume = np.sin(2 * np.pi * 1.2 * t)
    dc = np.array([180.0, 130.0, 100.0])
    rgb = dc * (1.0 - 0.004 * volume[:, None] * np.array([0.33, 0.77, 0.53]) / 0.77)
    assert np.corrcoef(pos(rgb, fs), volume)[0, 1] > 0.95
    assert np.corrcoef(chrom(rgb, fs), volume)[0, 1] > 0.95


def test_chrom_output_length_and_cola() -> None:
    fs = 25.0
    rgb = face_trace(fs, 20.0, 70.0)
    out = chrom(rgb, fs)
    assert out.shape == (len(rgb),) and np.all(np.isfinite(out))
    assert np.all(out[20:] != 0)  # every frame after the first half window is covered


def test_methods_reject_short_or_bad_traces() -> None:
    with pytest.raises(ValueError):
        pos(np.ones((10, 3)), 25.0)
    with pytest.raises(ValueError):
        chrom(np.ones((100, 2)), 25.0)
    bad = np.ones((100, 3))
    bad[5, 1] = np.nan
    with pytest.raises(ValueError):
        pos(bad, 25.0)


# --- POS pseudo-label ------------------------------------------------------------------------

def bp_wave(t: np.ndarray, hr_hz: float) -> np.ndarray:
    """A blood-pressure-like wave: 80 mmHg DC, a systolic peak and a dicrotic harmonic."""
    w = 2 * np.pi * hr_hz * t
    return 80.0 + 20.0 * np.sin(w) + 6.0 * np.sin(2 * w - 1.0) + 2.0 * np.sin(3 * w)


def test_pseudo_label_peak_equals_reference_rate() -> None:
    fs, hr = 25.0, 78.0
    rgb = face_trace(fs, 60.0, hr, seed=5)
    ref = bp_wave(np.arange(len(rgb)) / fs, hr / 60)
    assert reference_rate_hz(ref, fs) * 60 == pytest.approx(hr, abs=0.2)
    filtered, normalised = pos_pseudo_label(rgb, fs, ref)
    assert filtered.shape == normalised.shape == (len(rgb),)
    for sig in (filtered, normalised):
        assert spectral_peak_hz(sig, fs, (0.7, 3.0), zero_pad_factor=8) * 60 == pytest.approx(hr, abs=0.5)
    # Dividing by the envelope bounds the signal by 1 and leaves a unit envelope.
    assert np.max(np.abs(normalised)) <= 1.0 + 1e-12
    assert np.median(hilbert_envelope(normalised)[100:-100]) == pytest.approx(1.0, abs=0.01)


def test_pseudo_label_halfband_changes_passband() -> None:
    fs, hr = 25.0, 66.0
    n = int(60 * fs)
    t = np.arange(n) / fs
    rgb = face_trace(fs, 60.0, hr, seed=6)
    # A chrominance disturbance (not along the intensity direction, so POS keeps it) at
    # hr + 35 bpm: outside +-20 bpm, inside the authors' +-48 bpm at 25 fps.
    dist = 0.004 * np.sin(2 * np.pi * (hr + 35) / 60 * t)
    rgb = rgb * (1 + dist[:, None] * np.array([-0.5, 1.0, -0.3]))
    ref = bp_wave(t, hr / 60)
    narrow, _ = pos_pseudo_label(rgb, fs, ref, halfband_bpm=20.0)
    wide, _ = pos_pseudo_label(rgb, fs, ref, halfband_bpm=1200.0 / fs)
    f_dist = (hr + 35) / 60
    ratio_narrow = _amplitude_at(narrow, f_dist, fs) / _amplitude_at(narrow, hr / 60, fs)
    ratio_wide = _amplitude_at(wide, f_dist, fs) / _amplitude_at(wide, hr / 60, fs)
    # The disturbance is 2.3x the pulse with the wide band and under half of it with the narrow.
    assert ratio_narrow < 0.6 and ratio_wide > 1.5
    assert pseudo_label_band(hr / 60, 20.0) == pytest.approx((hr / 60 - 1 / 3, hr / 60 + 1 / 3))
    assert pseudo_label_band(hr / 60, 48.0) == pytest.approx((0.70, hr / 60 + 0.8))  # clamped


def test_pseudo_label_band_clamped_to_limits() -> None:
    assert pseudo_label_band(2.9, 20.0) == pytest.approx((2.9 - 1 / 3, 3.0))
    with pytest.raises(ValueError):
        pseudo_label_band(1.2, 0.0)


# --- pulse SNR (de Haan and Jeanne 2013) --------------------------------------------------------


def test_pulse_snr_matches_the_power_ratio_of_a_sine_in_white_noise() -> None:
    """A 1.5 Hz sine (power A^2/2) in white noise (one-sided density 2 sigma^2 / fs): the SNR is
    (A^2/2 + noise in the two 0.2 Hz windows) / (noise in the other 2.9 Hz of 0.7-4 Hz)."""
    from pipeline.signals.quality import pulse_snr_db

    fs, seconds, amp = 30.0, 120.0, 1.0
    t = np.arange(int(fs * seconds)) / fs
    for sigma2 in (0.5, 2.6, 10.0):
        rng = np.random.default_rng(int(sigma2 * 10))
        x = amp * np.sin(2 * np.pi * 1.5 * t) + np.sqrt(sigma2) * rng.standard_normal(t.size)
        density = sigma2 / (fs / 2)
        expect = 10 * np.log10((amp**2 / 2 + 0.4 * density) / (2.9 * density))
        assert pulse_snr_db(x, fs) == pytest.approx(expect, abs=0.8), sigma2
        # told the true rate, the same figure; told a wrong one, the pulse counts as noise
        assert pulse_snr_db(x, fs, pulse_hz=1.5) == pytest.approx(pulse_snr_db(x, fs), abs=0.05)
        assert pulse_snr_db(x, fs, pulse_hz=3.1) < expect - 8


def test_pulse_snr_degenerate_inputs() -> None:
    from pipeline.signals.quality import pulse_snr_db

    assert np.isnan(pulse_snr_db(np.zeros(300), 30.0))
    with pytest.raises(ValueError, match="non-finite"):
        pulse_snr_db(np.array([0.0, 1.0, np.nan, 2.0, 1.0]), 30.0)
    with pytest.raises(ValueError, match="fs/2"):
        pulse_snr_db(np.random.default_rng(0).standard_normal(100), 6.0)  # 4 Hz band edge > fs/2

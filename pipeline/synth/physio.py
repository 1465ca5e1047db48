"""Physiological signals with exactly known ground truth.

Heart rate varies between subjects (base rate), within a trial (slow drift, a task-driven rise)
and with breathing (respiratory sinus arrhythmia). The cardiac phase is the integral of the
instantaneous rate; the facial blood volume, the finger pulse-oximeter wave (PPG) and the finger
blood-pressure wave are shape functions of that phase, the finger waves lagging the face by a
pulse-transit delay. Polarity: blood volume and the oximeter's pleth wave both rise with each
beat (the oximeter displays inverted absorbance, the clinical convention of the CMS50-type
devices of UBFC-rPPG and PURE); the skin the camera sees darkens as the facial blood volume
rises (pipeline.synth.render), so the camera signal and the recorded PPG are inverted and
delayed with respect to each other, as in the real recordings. Breathing is
generated breath by breath (irregular durations and depths, occasional sighs and pauses).
The finger's pulse narrows as sympathetic tone raises the heart rate (peripheral
vasoconstriction under mental effort), while the face's does not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d


PERFUSION_LOG_STD = 0.35
# finger pulse amplitude under sympathetic activation: the finger's arterioles constrict under
# mental effort and stress while the heart rate rises (finger pulse wave amplitude falls during
# arithmetic, Stroop and memory tasks: Iani et al., Psychophysiology 2004; Tanaka et al.,
# J Physiol Anthropol 2013); the facial skin's vessels are under little vasoconstrictor control.
# Fraction lost per 10 bpm of slow rate rise above the subject's start, and the bounds.
FINGER_VASOCONSTRICTION_PER_10_BPM = 0.2
FINGER_AMPLITUDE_BOUNDS = (0.3, 1.5)


@dataclass(frozen=True)
class SubjectPhysiology:
    """Per-subject constants (drawn once per subject)."""

    base_hr_bpm: float
    base_rr_bpm: float
    systolic_mmhg: float
    diastolic_mmhg: float
    ptt_s: float  # pulse transit delay of the finger waves (BP, PPG) behind the facial pulse
    rsa_bpm: float  # peak respiratory sinus arrhythmia swing
    perfusion: float = 1.0  # the subject's facial pulse size relative to the typical one


RESTING_HR_BPM = (58.0, 88.0)


def draw_subject(rng: np.random.Generator, base_hr_bpm: tuple[float, float] = RESTING_HR_BPM) -> SubjectPhysiology:
    """Subject constants within resting adult ranges (50-100 bpm, 12-20 breaths/min).

    ``base_hr_bpm`` is the range of the subject's heart rate at the start of the recording; a
    dataset whose subjects are not at rest (UBFC-rPPG's game) sets its own.
    """
    return SubjectPhysiology(
        base_hr_bpm=float(rng.uniform(*base_hr_bpm)),
        base_rr_bpm=float(rng.uniform(12.0, 19.0)),
        systolic_mmhg=float(rng.uniform(108.0, 135.0)),
        diastolic_mmhg=float(rng.uniform(62.0, 84.0)),
        ptt_s=float(rng.uniform(0.1, 0.3)),
        rsa_bpm=float(rng.uniform(1.5, 4.0)),
        # skin perfusion varies several-fold between people (the camera pulse spans about 0.1-1%
        # of the DC level): log-normal, median 1, about 0.5x to 2x at two standard deviations
        perfusion=float(np.clip(np.exp(PERFUSION_LOG_STD * rng.standard_normal()), 0.3, 3.0)),
    )


@dataclass
class Breathing:
    """A breathing recording on a uniform grid.

    volume: lung-volume-like wave (0 at end-expiration, about 1 at a normal peak);
    rate_bpm: breath-by-breath rate held over each breath; breath_starts_s: onset times.
    """

    volume: np.ndarray
    rate_bpm: np.ndarray
    breath_starts_s: np.ndarray

    @property
    def mean_rate_bpm(self) -> float:
        return float(np.mean(self.rate_bpm))


def breathing(
    duration_s: float,
    fs: float,
    rate_bpm: float,
    rng: np.random.Generator,
    irregularity: float = 0.12,
    sigh_prob: float = 0.05,
    pause_prob: float = 0.05,
) -> Breathing:
    """Irregular breathing: per-breath duration jitter, depth jitter, sighs and end-expiratory pauses.

    Each breath is a half-cosine inspiration (40% of the cycle) followed by a slower half-cosine
    expiration; a pause holds end-expiration. ``irregularity`` is the breath-duration coefficient of
    variation.
    """
    n = int(round(duration_s * fs))
    t = np.arange(n) / fs
    volume = np.zeros(n)
    rate = np.zeros(n)
    starts = []
    period0 = 60.0 / rate_bpm
    # start mid-cycle so that trials do not all begin at end-expiration
    cursor = -rng.uniform(0.0, period0)
    while cursor < duration_s:
        period = period0 * float(np.clip(1.0 + irregularity * rng.standard_normal(), 0.6, 1.6))
        depth = float(np.clip(1.0 + 0.15 * rng.standard_normal(), 0.6, 1.5))
        if rng.random() < sigh_prob:  # a sigh: deeper and longer
            depth *= 2.0
            period *= 1.5
        pause = float(rng.uniform(0.8, 2.0)) if rng.random() < pause_prob else 0.0
        t_in = 0.4 * period
        t_out = period - t_in
        end = cursor + period + pause
        sel = (t >= cursor) & (t < end)
        tau = t[sel] - cursor
        v = np.where(
            tau < t_in,
            0.5 * (1.0 - np.cos(np.pi * tau / t_in)),
            np.where(tau < period, 0.5 * (1.0 + np.cos(np.pi * (tau - t_in) / t_out)), 0.0),
        )
        volume[sel] = depth * v
        rate[sel] = 60.0 / (period + pause)
        starts.append(cursor)
        cursor = end
    return Breathing(volume=volume, rate_bpm=rate, breath_starts_s=np.asarray(starts))


# slow heart-rate drift: white noise at 4 Hz smoothed by a Gaussian of DRIFT_SIGMA samples; the
# smoothed process has std 1 / sqrt(2 sqrt(pi) sigma)
DRIFT_SIGMA = 16
DRIFT_WALK_STD = 1.0 / np.sqrt(2.0 * np.sqrt(np.pi) * DRIFT_SIGMA)


def heart_rate(
    duration_s: float,
    fs: float,
    subject: SubjectPhysiology,
    resp_volume: np.ndarray,
    rng: np.random.Generator,
    task_rise_bpm: float = 0.0,
    drift_bpm: float = 2.0,
) -> np.ndarray:
    """Instantaneous heart rate (bpm) on the grid of ``resp_volume``.

    base + task rise (approached with a ~6 s time constant from a random onset in the first third)
    + slow drift (smoothed random walk of about ``drift_bpm`` spread) + sinus arrhythmia (rate up
    on inspiration, down on expiration).
    """
    n = len(resp_volume)
    t = np.arange(n) / fs
    onset = rng.uniform(0.0, duration_s / 3.0)
    rise = task_rise_bpm * np.clip(1.0 - np.exp(-(t - onset) / 6.0), 0.0, None)
    # slow drift: white noise at 4 Hz, smoothed over ~4 s, scaled to the requested spread
    n_slow = max(int(duration_s * 4) + 2, 4)
    if n_slow >= 2 * DRIFT_SIGMA:
        walk = gaussian_filter1d(rng.standard_normal(n_slow), sigma=DRIFT_SIGMA, mode="nearest")
        walk = walk / (np.std(walk) + 1e-9) * drift_bpm
    else:
        # under ~8 s the few slow samples are one nearly constant value whose sample std would
        # blow the drift up to the clip limits: take a stretch of the stationary process (noise
        # 4 sigma past both ends) scaled by the process's own std instead. Longer trials keep the
        # sample-spread scaling, which is sound there, so the default data stay as they were
        pad = 4 * DRIFT_SIGMA
        noise = rng.standard_normal(n_slow + 2 * pad)
        walk = gaussian_filter1d(noise, sigma=DRIFT_SIGMA)[pad : pad + n_slow] / DRIFT_WALK_STD * drift_bpm
    drift = np.interp(t, np.linspace(0.0, duration_s, n_slow), walk)
    vol = resp_volume - np.mean(resp_volume)
    vol = vol / (np.max(np.abs(vol)) + 1e-9)
    rsa = subject.rsa_bpm * vol
    return np.clip(subject.base_hr_bpm + rise + drift + rsa, 42.0, 160.0)


def cardiac_phase(hr_bpm: np.ndarray, fs: float, rng: np.random.Generator) -> np.ndarray:
    """Cardiac phase in cycles (integral of the instantaneous rate), from a random start."""
    return rng.uniform(0.0, 1.0) + np.cumsum(hr_bpm / 60.0) / fs


def _bump(x: np.ndarray, centre: float, left: float, right: float) -> np.ndarray:
    """Asymmetric Gaussian on the cyclic unit interval (summed over neighbouring cycles)."""
    out = np.zeros_like(x)
    for shift in (-1.0, 0.0, 1.0):
        d = x - centre + shift
        out += np.exp(-0.5 * (d / np.where(d < 0, left, right)) ** 2)
    return out


def _ppg_raw(x: np.ndarray) -> np.ndarray:
    return _bump(x, 0.22, 0.08, 0.16) + 0.35 * _bump(x, 0.52, 0.08, 0.12)


def _bp_raw(x: np.ndarray) -> np.ndarray:
    return (
        _bump(x, 0.15, 0.045, 0.10)
        + 0.42 * _bump(x, 0.40, 0.05, 0.07)
        + 0.45 * np.exp(-np.mod(x - 0.15, 1.0) / 0.55)  # diastolic run-off after systole
    )


# one cycle of each raw shape, for normalisation
_CYCLE = np.linspace(0.0, 1.0, 4000, endpoint=False)
_PPG_MEAN, _PPG_PTP = float(np.mean(_ppg_raw(_CYCLE))), float(np.ptp(_ppg_raw(_CYCLE)))
_BP_MIN, _BP_MAX = float(np.min(_bp_raw(_CYCLE))), float(np.max(_bp_raw(_CYCLE)))


def ppg_shape(phase: np.ndarray) -> np.ndarray:
    """Facial blood-volume pulse for a cardiac phase: fast upstroke, rounded peak, diastolic wave.

    Zero mean over a cycle, peak-to-peak 1.
    """
    return (_ppg_raw(np.mod(phase, 1.0)) - _PPG_MEAN) / _PPG_PTP


def bp_shape(phase: np.ndarray) -> np.ndarray:
    """Arterial pressure wave, 0 at diastole and 1 at systole: steep systolic upstroke, a dicrotic
    notch followed by the dicrotic wave, then a slow diastolic run-off."""
    return (_bp_raw(np.mod(phase, 1.0)) - _BP_MIN) / (_BP_MAX - _BP_MIN)


@dataclass
class Physiology:
    """All ground-truth signals of one trial on a uniform grid at ``fs`` Hz."""

    fs: float
    hr_bpm: np.ndarray  # instantaneous heart rate
    phase: np.ndarray  # cardiac phase (cycles) at the face
    ppg: np.ndarray  # facial blood volume, zero mean, peak-to-peak 1, rising with volume
    finger_ppg: np.ndarray  # finger pulse-oximeter wave (same shape), lagging by subject.ptt_s
    bp_mmhg: np.ndarray  # finger arterial pressure, lagging by subject.ptt_s
    resp: Breathing

    @property
    def mean_hr_bpm(self) -> float:
        return float(np.mean(self.hr_bpm))


def finger_amplitude(hr_bpm: np.ndarray, fs: float, base_hr_bpm: float) -> np.ndarray:
    """Relative size of the finger's pulse: smaller as the slow heart rate (breathing's swing
    averaged out over ~2 s) rises above the subject's start (FINGER_VASOCONSTRICTION_PER_10_BPM)."""
    slow = gaussian_filter1d(np.asarray(hr_bpm, dtype=float), sigma=2.0 * fs, mode="nearest")
    gain = (1.0 - FINGER_VASOCONSTRICTION_PER_10_BPM) ** ((slow - base_hr_bpm) / 10.0)
    return np.clip(gain, *FINGER_AMPLITUDE_BOUNDS)


def simulate(
    duration_s: float,
    fs: float,
    subject: SubjectPhysiology,
    rng: np.random.Generator,
    task_rise_bpm: float = 0.0,
    breath_irregularity: float = 0.12,
    hr_drift_bpm: float = 2.0,
) -> Physiology:
    """One trial's physiology at ``fs`` Hz (1 kHz for BP4D+-style recordings)."""
    resp = breathing(duration_s, fs, subject.base_rr_bpm * rng.uniform(0.93, 1.07), rng, breath_irregularity)
    hr = heart_rate(duration_s, fs, subject, resp.volume, rng, task_rise_bpm, hr_drift_bpm)
    phase = cardiac_phase(hr, fs, rng)
    ppg = ppg_shape(phase)
    # the finger sees the same beat ptt seconds later: phase(t - ptt), extrapolated at the start
    t = np.arange(len(phase)) / fs
    phase_delayed = np.interp(t - subject.ptt_s, t, phase, left=np.nan)
    head = np.isnan(phase_delayed)
    phase_delayed[head] = phase[0] - (subject.ptt_s - t[head]) * hr[0] / 60.0
    finger_ppg = ppg_shape(phase_delayed) * finger_amplitude(hr, fs, subject.base_hr_bpm)
    pulse_pressure = subject.systolic_mmhg - subject.diastolic_mmhg
    # breathing also modulates pressure a little (a few mmHg)
    bp = subject.diastolic_mmhg + pulse_pressure * bp_shape(phase_delayed) + 2.0 * (resp.volume - 0.5)
    return Physiology(fs=fs, hr_bpm=hr, phase=phase, ppg=ppg, finger_ppg=finger_ppg, bp_mmhg=bp,
                      resp=resp)


def resample(signal: np.ndarray, fs_in: float, times_s: np.ndarray) -> np.ndarray:
    """Linear interpolation of a uniformly sampled signal at arbitrary times."""
    t = np.arange(len(signal)) / fs_in
    return np.interp(times_s, t, signal)


def spectral_peak_bpm(x: np.ndarray, fs: float, band_hz: tuple[float, float]) -> float:
    """Frequency (per minute) of the periodogram peak of ``x`` inside ``band_hz`` (zero-padded FFT)."""
    from scipy.signal import periodogram

    n_fft = max(len(x), int(fs * 600))  # 0.1/60 Hz grid resolution after padding
    f, p = periodogram(x - np.mean(x), fs=fs, nfft=n_fft, window="hann")
    sel = (f >= band_hz[0]) & (f <= band_hz[1])
    return float(f[sel][np.argmax(p[sel])] * 60.0)

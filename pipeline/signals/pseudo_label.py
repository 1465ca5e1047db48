"""POS pseudo-PPG training target (BigSmall supp. D.2).

BP4D+ has no PPG; the pulse target for training is derived from the video itself:

1. POS on the face-mean R, G, B trace (1.6 s windows);
2. smoothness-priors detrending (lambda 100);
3. an order-2 zero-phase Butterworth band-pass centred on the trial's mean heart rate,
   ``hr +- halfband``, clamped to ``limits_hz`` = [0.70, 3] Hz. The mean heart rate is the
   spectral peak of the reference pulse wave (the BP waveform, sampled at the video rate)
   within ``limits_hz``, after detrending and band-passing it to ``limits_hz``;
4. division by the Hilbert envelope, giving unit amplitude.

The paper says the band accounts for 20 bpm of variation (``halfband_bpm = 20``). The
authors' code used a half-band of ``20 / fps`` Hz, i.e. ``halfband_bpm = 1200 / fps``
(48 bpm at 25 fps), and estimated the mean heart rate from the provided pulse-rate file
instead of the BP waveform.
"""

from __future__ import annotations

import numpy as np

from pipeline.signals._traces import check_rgb
from pipeline.signals.detrend import detrend
from pipeline.signals.filters import bandpass, check_band, hilbert_envelope
from pipeline.signals.pos import pos
from pipeline.signals.rates import rate_bpm

# The reference rate only centres the filter; a fine spectral grid costs nothing here.
REFERENCE_ZERO_PAD = 8
_EPS = 1e-12


def reference_rate_hz(
    reference_pulse: np.ndarray, fps: float, limits_hz: tuple[float, float] = (0.70, 3.0),
    order: int = 2, detrend_lambda: float = 100.0,
) -> float:
    """Mean heart rate (Hz) of the reference pulse wave: its spectral peak within ``limits_hz``."""
    ref = np.asarray(reference_pulse, dtype=float)
    hz = rate_bpm(ref, fps, False, limits_hz, order, REFERENCE_ZERO_PAD, detrend_lambda) / 60.0
    if not np.isfinite(hz):
        raise ValueError("reference pulse has no power in the heart-rate band")
    return hz


def pseudo_label_band(
    hr_hz: float, halfband_bpm: float, limits_hz: tuple[float, float] = (0.70, 3.0)
) -> tuple[float, float]:
    """The pass-band ``[max(hr - hb, lo), min(hr + hb, hi)]`` in Hz, ``hb = halfband_bpm / 60``."""
    if not halfband_bpm > 0:
        raise ValueError(f"halfband_bpm must be > 0, got {halfband_bpm}")
    lo, hi = float(limits_hz[0]), float(limits_hz[1])
    low, high = max(hr_hz - halfband_bpm / 60.0, lo), min(hr_hz + halfband_bpm / 60.0, hi)
    if not low < high:
        raise ValueError(f"empty pseudo-label band: hr {hr_hz:.3f} Hz outside limits ({lo}, {hi}) Hz")
    return low, high


def pos_pseudo_label(
    rgb: np.ndarray,
    fps: float,
    reference_pulse: np.ndarray,
    halfband_bpm: float = 20.0,
    window_s: float = 1.6,
    limits_hz: tuple[float, float] = (0.70, 3.0),
    order: int = 2,
    detrend_lambda: float = 100.0,
) -> tuple[np.ndarray, np.ndarray]:
    """POS pseudo-PPG of one trial: (band-passed POS, envelope-normalised POS), each (T,).

    ``rgb`` is the (T, 3) face-mean trace; ``reference_pulse`` is the reference pulse wave
    (the BP waveform) at the same rate ``fps``, used only for its mean heart rate, so its
    length may differ from T. Raises ValueError on malformed input (not (T, 3), non-finite,
    shorter than a POS window, a reference without power in ``limits_hz``).
    """
    c = check_rgb(rgb)
    check_band(limits_hz, fps)
    hr_hz = reference_rate_hz(reference_pulse, fps, limits_hz, order, detrend_lambda)
    band = pseudo_label_band(hr_hz, halfband_bpm, limits_hz)
    filtered = bandpass(detrend(pos(c, fps, window_s), detrend_lambda), fps, band, order=order)
    envelope = hilbert_envelope(filtered)
    normalised = filtered / np.maximum(envelope, _EPS)
    return filtered, normalised

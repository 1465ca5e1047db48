"""Signal quality of a pulse waveform: its spectral signal-to-noise ratio.

``pulse_snr_db`` follows de Haan and Jeanne (2013, "Robust pulse rate from chrominance-based
rPPG"): the power within ``half_width_hz`` of the pulse frequency and of its first harmonic,
over the power in the rest of the heart-rate band, in dB. Without a reference the pulse
frequency is the spectral peak of the waveform itself (a blind figure: a strong motion peak
also scores well, so it flags weak pulses rather than proving a rate right).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.signal import periodogram

from pipeline.signals.detrend import detrend
from pipeline.signals.filters import check_band
from pipeline.signals.rates import next_pow2

SNR_BAND_HZ = (0.7, 4.0)
# a finer grid than one bin per 1/T Hz keeps the +-0.1 Hz windows several bins wide
_ZERO_PAD = 4


def pulse_snr_db(
    x: np.ndarray,
    fps: float,
    band: Sequence[float] = SNR_BAND_HZ,
    half_width_hz: float = 0.1,
    pulse_hz: float | None = None,
    detrend_lambda: float = 100.0,
) -> float:
    """SNR (dB) of pulse waveform ``x``: power within ``half_width_hz`` of the pulse frequency
    (``pulse_hz``, or the spectral peak in ``band``) and of its first harmonic, over the power in
    the rest of ``band``. The waveform is detrended first (smoothness priors).

    Returns NaN for a waveform without power in the band; raises ValueError for a non-finite or
    too short waveform or a band the sampling rate cannot hold."""
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size < 4:
        raise ValueError(f"pulse SNR needs a 1-D waveform of >= 4 samples, got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("pulse SNR: waveform has non-finite values")
    low, high = check_band(band, fps)
    freqs, power = periodogram(detrend(x, detrend_lambda), fs=fps, nfft=next_pow2(_ZERO_PAD * x.size),
                               detrend=False)
    in_band = (freqs >= low) & (freqs <= high)
    if not in_band.any() or not power[in_band].max() > 0:
        return float("nan")
    f0 = float(freqs[in_band][np.argmax(power[in_band])]) if pulse_hz is None else float(pulse_hz)
    near = (np.abs(freqs - f0) <= half_width_hz) | (np.abs(freqs - 2 * f0) <= half_width_hz)
    signal = float(power[in_band & near].sum())
    noise = float(power[in_band & ~near].sum())
    if noise <= 0:
        return float("inf") if signal > 0 else float("nan")
    if signal <= 0:
        return float("-inf")
    return float(10.0 * np.log10(signal / noise))

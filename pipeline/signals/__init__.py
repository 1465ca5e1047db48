"""Signal toolkit: detrending, filters, POS and CHROM, rates, metrics, POS pseudo-labels.

Pure numpy/scipy, arrays in and numbers out; the stages (preprocess, evaluate,
unsupervised baselines) call these functions with the values of the ``signals`` section
of params.yaml.
"""

from pipeline.signals.chrom import chrom
from pipeline.signals.detrend import detrend
from pipeline.signals.filters import bandpass, bandpass_gain, hilbert_envelope
from pipeline.signals.metrics import (
    au_accuracy,
    au_f1,
    au_metrics,
    binarise_logits,
    mae,
    mape,
    pearson,
    rate_metrics,
    rmse,
    sigmoid,
)
from pipeline.signals.pos import pos
from pipeline.signals.pseudo_label import pos_pseudo_label
from pipeline.signals.rates import (
    diff_normalise,
    integrate,
    next_pow2,
    pulse_rate_bpm,
    rate_bpm,
    rate_kwargs,
    resp_rate_bpm,
    spectral_peak_hz,
    windowed_rate_bpm,
)

__all__ = [
    "au_accuracy", "au_f1", "au_metrics", "bandpass", "bandpass_gain", "binarise_logits",
    "chrom", "detrend", "diff_normalise", "hilbert_envelope", "integrate", "mae", "mape",
    "next_pow2", "pearson", "pos", "pos_pseudo_label", "pulse_rate_bpm", "rate_bpm",
    "rate_kwargs", "rate_metrics", "resp_rate_bpm", "rmse", "sigmoid", "spectral_peak_hz",
    "windowed_rate_bpm",
]

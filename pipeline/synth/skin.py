"""Skin optics of the built-in data: Fitzpatrick skin types, the melanin effect on the relative
pulse, and the colour of the light as the camera records it.

Skin tone. Each subject has a Fitzpatrick type I-VI; its diffuse face colour under neutral light
spans roughly sRGB (230, 190, 170) for type I to (70, 45, 35) for type VI, with the red/green and
green/blue ratios changing along the way (``FITZPATRICK_RGB``).

Melanin and the pulse. Light that carries the pulse has crossed the epidermis twice and been
remitted by the blood-perfused dermis; the rest of the remitted light (surface reflection and
epidermal scattering) carries none. With an epidermal double-pass transmittance ``T2`` that falls
with the melanin volume fraction ``f``, the pulsatile share of the remitted light is

    share = T2 * R_d / (R_s + T2 * R_d),     T2 = exp(-mu_mel(lambda) * f * 2 d)

(mu_mel(lambda) = 6.6e11 * lambda_nm ** -3.33 per cm, d = 60 um epidermis: Jacques, "Optical
properties of biological tissues: a review", Phys. Med. Biol. 2013; melanin fractions from its
ranges: 1-6% light, 11-16% moderate, 18-43% dark skin). The relative pulse dC_i/C_i of channel i
is the type-I signature [0.33, 0.77, 0.53] (de Haan and van Leest 2014) times the channel's share
relative to type I. The effect is physical and moderate: type VI keeps about 60% of type I's
relative green pulse (``relative_pulse_factor``), and its lower DC level adds relative camera
noise on top. Blue loses most, red least, so the pulse direction tilts slightly towards red on
dark skin, as it does in real skin.

Light colour. A trial is lit by a source of correlated colour temperature ``cct_k`` (2700 K
tungsten to 6500 K daylight); the camera's white balance removes a fraction ``white_balance`` of
the colour cast (1 = perfect, 0 = none) and auto-exposure keeps the skin below saturation. The
residual per-channel gain multiplies the whole scene (``light_gain``).
"""

from __future__ import annotations

import numpy as np

FITZPATRICK_TYPES = (1, 2, 3, 4, 5, 6)
ROMAN = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI"}

# mean diffuse face colour under neutral light, sRGB 0..255 (approximate anchors; see module doc)
FITZPATRICK_RGB = {
    1: (230.0, 190.0, 170.0),
    2: (212.0, 165.0, 138.0),
    3: (190.0, 140.0, 108.0),
    4: (158.0, 108.0, 78.0),
    5: (115.0, 76.0, 55.0),
    6: (72.0, 46.0, 35.0),
}

# melanin volume fraction of the epidermis per type (inside Jacques's ranges)
MELANIN_FRACTION = {1: 0.02, 2: 0.04, 3: 0.08, 4: 0.13, 5: 0.20, 6: 0.30}
CHANNEL_WAVELENGTH_NM = np.array([610.0, 540.0, 460.0])  # camera R, G, B centre wavelengths
DERMAL_REFLECTANCE = np.array([0.55, 0.40, 0.30])  # remittance of the perfused dermis per channel
SURFACE_REFLECTANCE = 0.05  # Fresnel and epidermal scattering: carries no pulse
EPIDERMIS_CM = 0.006


def _melanin_absorption_per_cm(wavelength_nm: np.ndarray) -> np.ndarray:
    return 6.6e11 * np.asarray(wavelength_nm, float) ** -3.33


def _pulsatile_share(fitzpatrick: int) -> np.ndarray:
    t2 = np.exp(-_melanin_absorption_per_cm(CHANNEL_WAVELENGTH_NM) * MELANIN_FRACTION[fitzpatrick]
                * 2.0 * EPIDERMIS_CM)
    return t2 * DERMAL_REFLECTANCE / (SURFACE_REFLECTANCE + t2 * DERMAL_REFLECTANCE)


def relative_pulse_factor(fitzpatrick: int) -> np.ndarray:
    """Per-channel (R, G, B) relative pulse of skin type ``fitzpatrick`` over that of type I."""
    if fitzpatrick not in MELANIN_FRACTION:
        raise ValueError(f"Fitzpatrick type must be 1..6, got {fitzpatrick!r}")
    return _pulsatile_share(fitzpatrick) / _pulsatile_share(1)


# normalised blackbody colours (sRGB, D65 white) of common light sources, a published table of
# facts (Charity's blackbody colour datafile); linear interpolation between rows
_CCT_K = np.array([2700.0, 3000.0, 3500.0, 4000.0, 4500.0, 5000.0, 5500.0, 6000.0, 6500.0])
_CCT_RGB = np.array([
    [255, 169, 87], [255, 180, 107], [255, 196, 137], [255, 209, 163], [255, 219, 186],
    [255, 228, 206], [255, 236, 224], [255, 243, 239], [255, 249, 253],
], dtype=float) / 255.0
CCT_RANGE_K = (float(_CCT_K[0]), float(_CCT_K[-1]))
SKIN_CEILING = 235.0  # auto-exposure keeps the brightest channel of the scene below this level


def source_rgb(cct_k: float) -> np.ndarray:
    """Colour of a light of ``cct_k`` kelvin relative to daylight white (R, G, B), max 1."""
    if not CCT_RANGE_K[0] <= cct_k <= CCT_RANGE_K[1]:
        raise ValueError(f"colour temperature {cct_k} K outside {CCT_RANGE_K}")
    return np.array([np.interp(cct_k, _CCT_K, _CCT_RGB[:, c]) for c in range(3)])


def light_gain(cct_k: float, white_balance: float, skin_rgb: np.ndarray | None = None) -> np.ndarray:
    """Per-channel gain the camera applies to the scene: the residual colour cast after an
    imperfect white balance, normalised to green, and scaled down by auto-exposure when it would
    push the brightest surface (``skin_rgb``: skin, or the channel-wise maximum of the scene's
    surfaces) above ``SKIN_CEILING``."""
    if not 0.0 <= white_balance <= 1.0:
        raise ValueError(f"white balance must be in [0, 1], got {white_balance}")
    cast = source_rgb(cct_k) ** (1.0 - white_balance)
    gain = cast / cast[1]
    if skin_rgb is not None:
        peak = float(np.max(np.asarray(skin_rgb, float) * gain))
        if peak > SKIN_CEILING:
            gain = gain * SKIN_CEILING / peak
    return gain


def draw_light(rng: np.random.Generator, cct_range_k: tuple[float, float] = CCT_RANGE_K,
               white_balance_range: tuple[float, float] = (0.3, 1.0)) -> tuple[float, float]:
    """A trial's light colour temperature and white-balance quality, uniform over the ranges."""
    return float(rng.uniform(*cct_range_k)), float(rng.uniform(*white_balance_range))


def assign_types(n_subjects: int, rng: np.random.Generator) -> list[int]:
    """Fitzpatrick types of a dataset's subjects: every type once per six subjects (a seeded
    rotation), so any dataset of six or more subjects covers I-VI."""
    offset = int(rng.integers(0, 6))
    return [FITZPATRICK_TYPES[(k + offset) % 6] for k in range(n_subjects)]

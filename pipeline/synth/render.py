"""Vectorised frame rendering: skin-reflection pulse, face features, breathing, nuisances.

Colour of a skin pixel follows the skin reflection model of the POS paper (Wang et al. 2017):
C = I(t) * L * (u_d * d0 * shading * (1 - u_p * p(t)) + u_s * s(t)) + camera noise, with L the
colour of the light after the camera's white balance (pipeline.synth.skin). The blood volume
p(t) changes each channel by a relative amount, dC_i / C_i = -a * u_p,i * p(t), along the
blood-volume signature [0.33, 0.77, 0.53] (scaled per channel by the melanin factor of the
subject's skin type): more blood absorbs more light, so the skin darkens as blood volume rises.
The change is a fraction of a percent of the DC level, so one pixel's trace is dominated by noise
and quantisation while the face mean carries the pulse. Every frame is computed from pixel coordinates mapped into canonical face
coordinates through the head pose, so head motion, breathing and AU deformations are
sub-pixel accurate (anti-aliased edges).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter, gaussian_filter1d

from pipeline.synth.face import Appearance, Geometry, landmark_depth, landmarks_canonical
from pipeline.synth.skin import relative_pulse_factor

BVP_DIRECTION = np.array([0.33, 0.77, 0.53])  # de Haan & van Leest 2014, normalised RGB
BACKGROUND_RGB = np.array([196.0, 198.0, 204.0])  # blank studio background
_BVP_REL = (BVP_DIRECTION / BVP_DIRECTION[1]).astype(np.float32)  # relative change per unit green change
_IRIS, _SCLERA = np.float32([70.0, 48.0, 34.0]), np.float32([232.0, 228.0, 222.0])
_CAVITY, _TEETH = np.float32([45.0, 22.0, 24.0]), np.float32([215.0, 210.0, 196.0])


@dataclass
class Nuisance:
    """Per-frame scene state (arrays of length T)."""

    cx: np.ndarray  # face centre, pixels
    cy: np.ndarray
    scale: np.ndarray  # pixels per canonical unit (face half width)
    roll: np.ndarray  # radians
    yaw: np.ndarray  # canonical units of interior-feature shift
    shoulder_dy: np.ndarray  # pixels (negative: up)
    illum: np.ndarray  # global illumination factor
    illum_grad: np.ndarray  # left-right illumination gradient
    specular: np.ndarray  # specular strength
    light_rgb: np.ndarray  # (3,) colour of the light after white balance (pipeline.synth.skin)
    fill_rgb: np.ndarray  # (3,) colour of the fill light relative to the key light (green = 1)
    lighting: np.ndarray  # (3,) fill share, key-light side angle (radians), key falloff across the frame


def smooth_noise(n: int, fps: float, tau_s: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-std low-pass Gaussian noise with time constant ``tau_s``."""
    sigma = max(tau_s * fps, 0.5)
    pad = int(4 * sigma) + 1
    x = gaussian_filter1d(rng.standard_normal(n + 2 * pad), sigma=sigma)[pad : pad + n]
    # theoretical std of Gaussian-filtered white noise (a sample std would fail for short clips)
    return x * np.sqrt(2.0 * np.sqrt(np.pi) * sigma)


def draw_nuisance(
    n: int,
    fps: float,
    frame_hw: tuple[int, int],
    app: Appearance,
    face_centre_y: float,
    resp_volume: np.ndarray,
    preset: dict,
    rng: np.random.Generator,
    translation_gain: float = 1.0,
    rotation_gain: float = 1.0,
    light_rgb: np.ndarray | None = None,
    fill_rgb: np.ndarray | None = None,
) -> Nuisance:
    """Head motion, breathing displacement, illumination drift and steps for one trial.

    ``resp_volume`` is the breathing wave at the frame times: inspiration lifts the shoulders by
    ``breath_motion_px`` and the head by 40% of that, and enlarges the face very slightly.
    """
    H, W = frame_hw
    tau = preset["motion_time_constant_s"]
    tr = preset["head_translation_px"] * translation_gain
    rot = np.deg2rad(preset["head_rotation_deg"]) * rotation_gain
    lift = -preset["breath_motion_px"] * (resp_volume - np.mean(resp_volume))
    cx = 0.5 * W + tr * smooth_noise(n, fps, tau, rng)
    cy = face_centre_y * H + tr * 0.6 * smooth_noise(n, fps, tau, rng) + 0.4 * lift
    scale = app.face_width_frac * W * (1.0 + 0.004 * (resp_volume - np.mean(resp_volume)))
    roll = rot * smooth_noise(n, fps, tau, rng)
    yaw = preset["head_yaw"] * rotation_gain * smooth_noise(n, fps, tau, rng)
    illum = 1.0 + preset["illumination_drift"] * smooth_noise(n, fps, 4.0, rng)
    # abrupt light changes (a door, a screen) smoothed over a few frames
    steps = rng.poisson(preset["illumination_steps_per_min"] * n / fps / 60.0)
    for _ in range(steps):
        at = int(rng.integers(0, n))
        illum[at:] *= 1.0 + rng.choice([-1.0, 1.0]) * rng.uniform(0.03, 0.08)
    illum = gaussian_filter1d(illum, sigma=1.0, mode="nearest")
    grad = preset["illumination_drift"] * 0.5 * smooth_noise(n, fps, 6.0, rng)
    spec = preset["specular"] * (1.0 + 0.5 * smooth_noise(n, fps, tau, rng)) * np.clip(1 + roll * 3, 0.2, 2)
    light = np.ones(3) if light_rgb is None else np.asarray(light_rgb, float)
    fill = np.ones(3) if fill_rgb is None else np.asarray(fill_rgb, float)
    side = np.deg2rad(preset.get("light_side_deg", 0.0)) * float(rng.uniform(-1.0, 1.0))
    lighting = np.array([preset.get("mixed_light", 0.0), side, preset.get("light_falloff", 0.0)])
    arrays = (cx, cy, scale, roll, yaw, lift, illum, grad, np.clip(spec, 0.0, None), light, fill, lighting)
    # float32 scalars keep the float32 pixel arithmetic from being promoted to float64
    return Nuisance(*(np.asarray(a, dtype=np.float32) for a in arrays))


@dataclass
class Scene:
    """Static per-trial rendering state (pixel grid, texture maps)."""

    H: int
    W: int
    app: Appearance
    xx: np.ndarray
    yy: np.ndarray
    tex: np.ndarray  # skin texture in canonical coords
    fine: np.ndarray  # fine bumps (chin, wrinkles)
    light_dir: float
    background: np.ndarray  # blank background with a faint vertical gradient, float32
    pulse_rel: np.ndarray  # (3,) relative pulse per channel per unit green (signature x melanin)


TEX_N = 96


def make_scene(frame_hw: tuple[int, int], app: Appearance) -> Scene:
    H, W = frame_hw
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    trng = np.random.default_rng(app.texture_seed)
    tex = gaussian_filter(trng.standard_normal((TEX_N, TEX_N)), 1.5)
    tex = (tex / np.std(tex)).astype(np.float32)
    fine = gaussian_filter(trng.standard_normal((TEX_N, TEX_N)), 0.8)
    fine = (fine / np.std(fine)).astype(np.float32)
    background = (BACKGROUND_RGB * (1.0 - 0.06 * (yy / H))[..., None]).astype(np.float32)
    pulse_rel = (_BVP_REL * relative_pulse_factor(app.fitzpatrick)).astype(np.float32)
    return Scene(H, W, app, xx, yy, tex, fine, float(trng.uniform(-1, 1)), background, pulse_rel)


def _lookup(tex: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Nearest-neighbour texture lookup over canonical [-1.5, 1.5] x [-1.6, 1.8]."""
    iu = np.clip(((u + 1.5) / 3.0 * (TEX_N - 1)).astype(np.intp), 0, TEX_N - 1)
    iv = np.clip(((v + 1.6) / 3.4 * (TEX_N - 1)).astype(np.intp), 0, TEX_N - 1)
    return tex[iv, iu]


def _edge(d: np.ndarray, px: float) -> np.ndarray:
    """Anti-aliased coverage of the region d < 0 (d in canonical units, px = units per pixel)."""
    return np.clip(0.5 - d / px, 0.0, 1.0)


def _band(v: np.ndarray, lo, hi, px: float) -> np.ndarray:
    return _edge(lo - v, px) * _edge(v - hi, px)


def render_frame(
    scene: Scene,
    g: Geometry,
    t: int,
    nz: Nuisance,
    pulse: float,
    pulse_amplitude: float,
    noise: tuple[float, float],
    rng: np.random.Generator,
) -> np.ndarray:
    """One RGB uint8 frame (H, W, 3) at frame index ``t``.

    pulse: facial blood volume (zero mean, peak-to-peak 1, rising with blood volume);
    pulse_amplitude: the peak-to-peak relative change of type-I green it causes (the skin darkens
    as blood volume rises); noise: (read std, shot gain) in 8-bit levels.
    """
    app = scene.app
    skin_rgb, lip_rgb, hair_rgb, cloth_rgb, brow_rgb = (
        np.asarray(c, np.float32) for c in (app.skin_rgb, app.lip_rgb, app.hair_rgb, app.cloth_rgb, app.brow_rgb)
    )
    f = geometry_at(g, t)
    H, W = scene.H, scene.W
    s = float(nz.scale[t])
    cx, cy = float(nz.cx[t]), float(nz.cy[t])
    px = 1.0 / s  # canonical units per pixel

    # ---------------- background and body (no pulse on clothing) ----------------
    img = scene.background.copy()
    chin_y = cy + 1.3 * s
    shoulder_top = chin_y + 0.55 * s + nz.shoulder_dy[t]
    r0 = max(int(shoulder_top) - 1, 0)
    if r0 < H:
        yb, xb = scene.yy[r0:], scene.xx[r0:]
        body_x = xb - (0.5 * W + 0.3 * (cx - 0.5 * W))
        y_top = shoulder_top + 1.8 * s * np.clip(np.abs(body_x) / (2.2 * s) - 0.25, 0, None) ** 2
        body = np.clip(yb - y_top + 0.5, 0.0, 1.0)[..., None]
        cloth = cloth_rgb * (1.0 - 0.15 * (yb - shoulder_top) / H)[..., None]
        img[r0:] = img[r0:] * (1 - body) + cloth * body

    # everything else lives in the head's region of interest (with the neck down to the body)
    y0 = max(int(cy - 1.75 * s) - 2, 0)
    y1 = min(max(int(shoulder_top) + 2, y0 + 1), H)
    x0 = max(int(cx - 1.45 * s) - 2, 0)
    x1 = min(int(cx + 1.45 * s) + 3, W)
    full = img
    img = full[y0:y1, x0:x1]
    yy, xx = scene.yy[y0:y1, x0:x1], scene.xx[y0:y1, x0:x1]
    c, sn = np.cos(nz.roll[t]), np.sin(nz.roll[t])
    dx, dy = xx - cx, yy - cy
    u = (c * dx + sn * dy) / s
    v = (-sn * dx + c * dy) / s
    yaw = float(nz.yaw[t])
    ui = u - 0.35 * yaw  # interior features sit in front of the outline
    un = u - 0.6 * yaw
    absu = np.abs(ui)

    # ---------------- skin: face ellipse, neck, ears ----------------
    drop = float(f.chin_drop)
    vb = np.where(v > -0.1, np.float32(1.4 + drop), np.float32(1.35))
    r = np.sqrt(u**2 + ((v + 0.1) / vb) ** 2)
    face = _edge(r - 1.0, px)
    neck = _edge(np.abs(u) - 0.55, px) * _edge(0.3 - v, px) * np.clip(shoulder_top - yy + 0.5, 0, 1)
    ears = _edge(np.sqrt(((np.abs(u) - 0.98) / 0.13) ** 2 + ((v + 0.1) / 0.25) ** 2) - 1.0, px)
    skin = np.clip(face + neck + ears, 0.0, 1.0)
    shade = 0.72 + 0.28 * np.sqrt(np.clip(1.0 - r**2, 0.0, 1.0))
    shade *= 1.0 + 0.06 * scene.light_dir * u
    shade = np.where(face > 0, shade, np.float32(0.8))
    tex = 1.0 + 0.025 * _lookup(scene.tex, ui, v)
    dark = np.zeros_like(u)  # multiplicative darkening of skin by folds and wrinkles

    # forehead wrinkles (AU1 centre, AU2 sides)
    if f.forehead_c + f.forehead_l > 0:  # (textures are skipped when their AU is off)
        wc = f.forehead_c * np.clip(1.0 - absu / 0.7, 0, 1) + f.forehead_l * np.clip(absu / 0.7, 0, 1)
        lines = np.clip(np.cos(2 * np.pi * (v + 0.9) / 0.13), 0, 1) ** 4
        dark += 0.3 * wc * lines * _band(v, g.hair_line + 0.1, f.brow_mid - 0.1, px) * _edge(absu - 0.75, px)
    # vertical furrows between the brows (AU4)
    if f.furrow > 0:
        dark += 0.4 * f.furrow * np.exp(-(((absu - 0.06) / 0.03) ** 2)) * _band(v, -0.62, -0.25, px)
    # crow's feet at the outer eye corners (AU6)
    if f.crows > 0:
        ex, ey = absu - (g.eye_spacing + 0.17), v + 0.15
        rr = np.sqrt(ex**2 + ey**2)
        ang = np.arctan2(ey, np.maximum(ex, 1e-6))
        crows = np.clip(np.cos(ang * 9), 0, 1) ** 3 * _band(rr, 0.03, 0.2, px) * (ex > 0)
        dark += 0.35 * f.crows * crows
    # raised cheeks: infra-orbital furrow below the eye, brighter cheek (AU6)
    dark += 0.18 * f.cheek * np.exp(-(((v - (-0.15 + f.eye_low + 0.07)) / 0.03) ** 2)) * _edge(
        np.abs(absu - g.eye_spacing) - 0.16, px
    )
    cheek_c = np.exp(-(((absu - 0.45) / 0.15) ** 2 + ((v - (0.22 - 0.07 * f.cheek)) / 0.12) ** 2))
    dark -= 0.08 * (0.3 + f.cheek) * cheek_c
    # nasolabial folds (deepened by AU10/AU12/AU9)
    v_end = f.mouth_v + 0.08
    fold_u = 0.17 + (v - 0.34) / (v_end - 0.34) * (f.mouth_hw + 0.06 - 0.17)
    dark += 0.45 * f.nasolabial * np.exp(-(((absu - fold_u) / 0.028) ** 2)) * _band(v, 0.34, v_end, px)
    # nose: side shadows, nostrils, nose wrinkles (AU9)
    absn = np.abs(un)
    dark += 0.10 * np.exp(-(((absn - 0.1) / 0.035) ** 2)) * _band(v, -0.1, 0.3, px)
    nostril = np.sqrt(((absn - 0.085) / 0.05) ** 2 + ((v - f.nostril_v) / 0.026) ** 2)
    dark += 0.5 * _edge(nostril - 1.0, px)
    if f.nose_wrinkle > 0:
        nw = np.clip(np.cos(2 * np.pi * v / 0.07), 0, 1) ** 3 * _band(v, -0.24, 0.02, px) * _edge(absn - 0.12, px)
        dark += 0.35 * f.nose_wrinkle * nw
    # dimples (AU14) beside the lip corners
    if f.dimple > 0:
        dim = np.sqrt((absu - f.mouth_hw - 0.05) ** 2 + (v - f.mouth_v - f.corner_dv) ** 2)
        dark += 0.4 * f.dimple * np.exp(-((dim / 0.035) ** 2))
    # chin raiser: bumpy chin and a shadow under the lower lip (AU17)
    if f.chin_bumps > 0:
        chin = np.exp(-((ui / 0.25) ** 2 + ((v - 1.05 - drop) / 0.15) ** 2))
        dark += f.chin_bumps * (0.12 * chin * np.abs(_lookup(scene.fine, ui * 2, v * 2)) + 0.2 * np.exp(
            -((ui / 0.2) ** 2 + ((v - f.mouth_v - f.lip_low - 0.09) / 0.03) ** 2)
        ))
    skin_col = skin_rgb * (shade * tex * (1.0 - np.clip(dark, -0.3, 0.8)))[..., None]
    tint = _key_fill_tint(nz, t, u, r, xx / W)
    skin_col = skin_col * tint

    # pulse: each channel changes relative to its own DC level along the blood-volume signature;
    # more blood absorbs more light (negative sign)
    perf = 0.8 + 0.4 * np.exp(-((v + 0.7) / 0.4) ** 2) + 0.3 * cheek_c  # forehead and cheeks perfuse more
    rel = np.float32(-pulse_amplitude * pulse) * perf[..., None] * scene.pulse_rel
    skin_col = skin_col * (1.0 + rel)
    img = img * (1 - skin[..., None]) + skin_col * skin[..., None]

    # ---------------- hair ----------------
    hair_r = np.sqrt((u / 1.07) ** 2 + ((v + 0.1) / 1.45) ** 2)
    hair = _edge(hair_r - 1.0, px) * _edge(v - (g.hair_line + 0.12 * u**2), px) * (v < 0)
    img = img * (1 - hair[..., None]) + (hair_rgb * (0.8 + 0.2 * shade[..., None])) * hair[..., None]

    # ---------------- brows ----------------
    brow_v = _quad3(absu, f)
    brow = _edge(np.abs(v - brow_v) - app.brow_thickness / 2, px) * _band(absu, f.brow_in_u, 0.66, px)
    img = img * (1 - 0.85 * brow[..., None]) + 0.85 * brow[..., None] * brow_rgb

    # ---------------- eyes ----------------
    ecx = ui - np.sign(ui) * g.eye_spacing
    prof = np.sqrt(np.clip(1.0 - (ecx / 0.16) ** 2, 0.0, 1.0))
    upper = -0.15 - f.eye_up * prof
    lower = -0.15 + f.eye_low * prof
    eye = _edge(upper - v, px) * _edge(v - lower, px) * (prof > 0)
    iris = _edge(np.sqrt(ecx**2 + (v + 0.15) ** 2) - 0.06, px)
    eye_rgb = np.where(iris[..., None] > 0.5, _IRIS, _SCLERA)
    img = img * (1 - eye[..., None]) + eye_rgb * (0.85 + 0.15 * shade[..., None]) * eye[..., None]
    lash = np.exp(-(((v - upper) / 0.018) ** 2)) * (prof > 0)
    img *= 1 - 0.6 * lash[..., None]

    # ---------------- mouth ----------------
    hw = f.mouth_hw
    mprof = np.sqrt(np.clip(1.0 - (ui / hw) ** 2, 0.0, 1.0))
    line = f.mouth_v + f.corner_dv * (ui / hw) ** 2
    half_gap = f.gap / 2 * mprof
    lip_top = line - half_gap - f.lip_up * mprof
    lip_bot = line + half_gap + f.lip_low * mprof
    inside = _edge(np.abs(ui) - hw, px)
    lips = _edge(lip_top - v, px) * _edge(v - lip_bot, px) * inside
    lip_col = lip_rgb * (shade * tex)[..., None] * tint * (1.0 + rel)
    img = img * (1 - lips[..., None]) + lip_col * lips[..., None]
    if f.gap > 0.01:
        cavity = _edge(np.abs(v - line) - half_gap, px) * inside
        teeth = cavity * _edge(v - (line - half_gap + 0.045), px)
        img = img * (1 - cavity[..., None]) + _CAVITY * cavity[..., None]
        img = img * (1 - teeth[..., None]) + _TEETH * teeth[..., None]
    seam = np.exp(-(((v - line) / 0.015) ** 2)) * inside * (0.35 + 0.35 * f.press)
    img *= 1 - seam[..., None]
    corner_shadow = np.exp(-(((absu - hw) / 0.05) ** 2 + ((v - line - 0.07) / 0.06) ** 2))
    img *= 1 - 0.25 * np.clip(f.corner_dv / 0.1, 0, 1) * corner_shadow[..., None]

    # ---------------- light: illumination, gradient, specular highlight ----------------
    hl = np.exp(-((un / 0.3) ** 2 + ((v + 0.75) / 0.2) ** 2)) + 0.8 * np.exp(-((un / 0.07) ** 2 + ((v - 0.28) / 0.07) ** 2))
    img += (nz.specular[t] * 255.0 * hl * face)[..., None]
    full[y0:y1, x0:x1] = img
    light = nz.illum[t] * (1.0 + nz.illum_grad[t] * (scene.xx[0] / W - 0.5))
    full *= light[None, :, None] * nz.light_rgb

    # ---------------- camera noise and 8-bit quantisation ----------------
    read, shot = noise
    sigma = np.sqrt(read**2 + shot * np.clip(full, 0, 255))
    # triangular noise (sum of two uniforms, unit variance): near-Gaussian at a quarter of the cost
    tri = rng.random((2, *full.shape), dtype=np.float32)
    full += sigma * ((tri[0] + tri[1] - 1.0) * np.float32(np.sqrt(6.0)))
    return np.clip(np.rint(full), 0, 255).astype(np.uint8)


KEY_SOFTNESS = 0.6  # a large (soft) key light: the irradiance of a point facing away keeps 60%


def _key_fill_tint(nz: Nuisance, t: int, u: np.ndarray, r: np.ndarray, x_frac: np.ndarray) -> np.ndarray:
    """Per-pixel colour of the light on the skin (H, W, 3), 1 for a frontal face lit by the key
    light alone.

    The key light, a soft source (``KEY_SOFTNESS``), comes from the side (angle ``lighting[1]``) and falls off across the frame
    (``lighting[2]``, relative change over the frame width: a window or a lamp beside the camera);
    a fill light of another colour (``fill_rgb``, share ``lighting[0]``) lights every point alike.
    The key irradiance of a point follows Lambert's law on a spherical face turned by the head's
    yaw, so turning or moving the head changes the mixture of the two colours on the skin: a
    chromaticity change at the motion's frequencies that POS and CHROM can only partly cancel.
    """
    share, side, falloff = (float(v) for v in nz.lighting)
    if share == 0.0 and side == 0.0 and falloff == 0.0:
        return np.float32(1.0)
    sin_yaw = float(np.clip(nz.yaw[t], -0.9, 0.9))
    cos_yaw = np.sqrt(1.0 - sin_yaw**2)
    nx = np.clip(u, -1.0, 1.0)
    nzz = np.sqrt(np.clip(1.0 - r**2, 0.0, 1.0))
    nx_t = nx * cos_yaw + nzz * sin_yaw
    nz_t = -nx * sin_yaw + nzz * cos_yaw
    lambert = np.clip(nx_t * np.sin(side) + nz_t * np.cos(side), 0.0, None)
    key = (KEY_SOFTNESS + (1.0 - KEY_SOFTNESS) * lambert) * (1.0 + falloff * (x_frac - 0.5))
    tint = ((1.0 - share) * key[..., None] + share * nz.fill_rgb) / ((1.0 - share) + share * nz.fill_rgb[1])
    return tint.astype(np.float32)


def geometry_at(g: Geometry, t: int) -> Geometry:
    """The geometry of frame ``t`` as float32 scalars (keeps the pixel arithmetic in float32)."""
    return Geometry(**{k: np.float32(v[t] if np.ndim(v) else v) for k, v in vars(g).items()})


def _quad3(absu: np.ndarray, f: Geometry) -> np.ndarray:
    """Brow height at |u| (quadratic through the inner, middle and outer brow points)."""
    x0, y0, x1, y1, x2, y2 = f.brow_in_u, f.brow_in, 0.38, f.brow_mid, 0.64, f.brow_out
    l0 = (absu - x1) * (absu - x2) / ((x0 - x1) * (x0 - x2))
    l1 = (absu - x0) * (absu - x2) / ((x1 - x0) * (x1 - x2))
    l2 = (absu - x0) * (absu - x1) / ((x2 - x0) * (x2 - x1))
    return y0 * l0 + y1 * l1 + y2 * l2


def landmarks_pixels(g: Geometry, nz: Nuisance) -> np.ndarray:
    """The 68 landmarks in pixel coordinates (T, 68, 2) as rendered (pose, yaw, breathing)."""
    can = landmarks_canonical(g)
    u = can[..., 0] + nz.yaw[:, None] * landmark_depth()[None, :]
    v = can[..., 1]
    c, sn = np.cos(nz.roll)[:, None], np.sin(nz.roll)[:, None]
    s = nz.scale[:, None]
    x = nz.cx[:, None] + s * (c * u - sn * v)
    y = nz.cy[:, None] + s * (sn * u + c * v)
    return np.stack([x, y], axis=-1)


def face_boxes(lm: np.ndarray, nz: Nuisance) -> np.ndarray:
    """Face boxes [x0, y0, x1, y1] (T, 4): landmark extent widened to the forehead top."""
    x0, x1 = lm[..., 0].min(1), lm[..., 0].max(1)
    y1 = lm[..., 1].max(1)
    brow_top = lm[:, 17:27, 1].min(1)
    y0 = brow_top - 0.5 * nz.scale  # the forehead above the brows
    return np.stack([x0, y0, x1, y1], axis=1)

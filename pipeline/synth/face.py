"""Face model: subject appearance, action-unit dynamics, per-frame geometry and 68 landmarks.

Geometry lives in canonical face coordinates: ``u`` to the image right, ``v`` downwards, the face
outline an ellipse of semi-axes 1 (horizontal) and 1.3 (vertical) around the origin. Action units
change a small set of geometric parameters (brow heights, lid apertures, mouth corners, lip
thickness, jaw drop) and texture strengths (forehead wrinkles, brow furrows, crow's feet,
nasolabial folds, nose wrinkles, dimples, chin bumps); the renderer draws from these parameters
and the landmarks are computed from the very same ones, so labels and pixels agree.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.synth.skin import FITZPATRICK_RGB

BP4D_AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
DISFA_AUS = (1, 2, 4, 6, 9, 12, 25, 26)
MODELLED_AUS = tuple(sorted(set(BP4D_AUS) | set(DISFA_AUS)))

# co-occurring groups (facial expressions) used when no groups are configured
DEFAULT_GROUPS: list[tuple[tuple[int, ...], float]] = [
    ((6, 7, 10, 12, 14), 0.42),  # smile with cheek raise and lid tightening
    ((1, 2), 0.06),  # brow raise
    ((4, 7, 10), 0.04),  # pain / disgust
    ((15, 17), 0.07),  # sadness / doubt
    ((17, 23, 24), 0.03),  # lip press
    ((4, 9, 10), 0.02),  # disgust (nose wrinkle)
    ((6, 12, 25), 0.03),  # laughing with lips apart
    ((25, 26), 0.08),  # mouth open, jaw drop
]


@dataclass(frozen=True)
class Appearance:
    """Per-subject appearance constants."""

    skin_rgb: np.ndarray  # diffuse skin reflectance times light, 0..255 scale
    lip_rgb: np.ndarray
    hair_rgb: np.ndarray
    cloth_rgb: np.ndarray
    brow_rgb: np.ndarray
    face_width_frac: float  # face half-width as a fraction of the frame width
    eye_spacing: float
    mouth_width: float
    brow_thickness: float
    hair_line: float  # canonical v of the hair line
    texture_seed: int
    fitzpatrick: int = 3  # skin type I-VI (pipeline.synth.skin)


def draw_appearance(rng: np.random.Generator, face_width_frac: float, fitzpatrick: int | None = None) -> Appearance:
    """Skin tone of Fitzpatrick type ``fitzpatrick`` (drawn when None) with a little individual
    variation, plus hair, clothing and feature geometry. A darker tone has a lower DC level and a
    smaller relative pulse (pipeline.synth.skin)."""
    if fitzpatrick is None:
        fitzpatrick = int(rng.integers(1, 7))
    skin = np.array(FITZPATRICK_RGB[fitzpatrick]) * rng.uniform(0.95, 1.05, 3)
    hair = np.array([40.0, 30.0, 25.0]) * rng.uniform(0.6, 2.5)
    return Appearance(
        skin_rgb=skin,
        lip_rgb=skin * np.array([0.85, 0.55, 0.58]),
        hair_rgb=np.clip(hair, 10, 200),
        cloth_rgb=rng.uniform(40.0, 200.0, 3),
        brow_rgb=np.clip(hair * 0.9, 10, 180),
        face_width_frac=face_width_frac * rng.uniform(0.93, 1.07),
        eye_spacing=float(rng.uniform(0.33, 0.39)),
        mouth_width=float(rng.uniform(0.27, 0.33)),
        brow_thickness=float(rng.uniform(0.045, 0.07)),
        hair_line=float(rng.uniform(-1.05, -0.85)),
        texture_seed=int(rng.integers(0, 2**31 - 1)),
        fitzpatrick=int(fitzpatrick),
    )


# --------------------------------------------------------------------------------------------
# action-unit dynamics


def _renewal(n: int, fps: float, p: float, mean_on_s: float, rng: np.random.Generator) -> np.ndarray:
    """Stationary on/off process with on-fraction ``p``: gamma-distributed episode durations.

    Mean off-duration is mean_on * (1 - p) / p, so the expected on-fraction is exactly ``p``; the
    first state is drawn from the stationary distribution so short clips are unbiased.
    """
    out = np.zeros(n, dtype=bool)
    if p <= 0.0:
        return out
    if p >= 1.0:
        out[:] = True
        return out
    mean_on = mean_on_s * fps
    mean_off = mean_on * (1.0 - p) / p
    state = bool(rng.random() < p)
    # residual life of the first episode (gamma shape 2 -> residual mean 0.75 of mean)
    pos = -int(rng.uniform(0.0, 1.0) * rng.gamma(2.0, (mean_on if state else mean_off) / 2.0))
    while pos < n:
        length = max(1, int(round(rng.gamma(2.0, (mean_on if state else mean_off) / 2.0))))
        if state:
            out[max(pos, 0) : max(pos + length, 0)] = True
        pos += length
        state = not state
    return out


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True."""
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(d == 1), np.flatnonzero(d == -1)))


def au_dynamics(
    n_frames: int,
    fps: float,
    aus: tuple[int, ...],
    prevalence: dict[int, float],
    rng: np.random.Generator,
    groups: list[tuple[tuple[int, ...], float]] | None = None,
    mean_event_s: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Occurrence (n, len(aus)) bool and continuous intensity (n, len(aus)) in [0, 5].

    Expressions (groups of AUs) switch on together, giving the co-occurrences of real data; each
    AU is topped up with its own independent episodes so that its stationary on-fraction equals
    ``prevalence[au]`` (p = 1 - (1 - u)(1 - q), u the probability that one of its groups is on).
    Within each episode the intensity rises over an onset, holds an apex (1.5-5) and falls over an
    offset; occurrence is intensity >= 0.5 (FACS trace level), so labels and rendering agree.
    """
    groups = DEFAULT_GROUPS if groups is None else groups
    # a group is never more frequent than its rarest member present in this AU set
    capped = []
    for g, gp in groups:
        present = [a for a in g if a in aus]
        if present:
            capped.append((tuple(present), min([gp] + [float(prevalence.get(a, 0.0)) for a in present])))
    groups = capped
    group_masks = [(set(g), _renewal(n_frames, fps, gp, mean_event_s, rng)) for g, gp in groups]
    occ = np.zeros((n_frames, len(aus)), dtype=bool)
    inten = np.zeros((n_frames, len(aus)))
    for j, au in enumerate(aus):
        p = float(prevalence.get(au, 0.0))
        member = [(gp, m) for (g, m), (_, gp) in zip(group_masks, groups) if au in g]
        u = 1.0 - float(np.prod([1.0 - gp for gp, _ in member])) if member else 0.0
        q = max(0.0, (p - u) / (1.0 - u)) if u < 1.0 else 0.0
        mask = _renewal(n_frames, fps, q, mean_event_s, rng)
        for _, m in member:
            mask |= m
        occ[:, j] = mask
        for start, stop in _runs(mask):
            length = stop - start
            apex = rng.uniform(1.5, 5.0)
            onset = max(1, min(int(rng.uniform(0.15, 0.8) * fps), length // 3))
            offset = max(1, min(int(rng.uniform(0.2, 1.0) * fps), length // 3))
            env = np.ones(length)
            env[:onset] = np.linspace(0.0, 1.0, onset + 1)[1:]
            env[length - offset :] = np.minimum(env[length - offset :], np.linspace(1.0, 0.0, offset + 1)[:-1])
            inten[start:stop, j] = 0.5 + (apex - 0.5) * env
    return occ, inten


def blinks(n_frames: int, fps: float, rng: np.random.Generator, rate_per_min: float = 15.0) -> np.ndarray:
    """Lid closure 0..1 per frame: brief (~0.25 s) blinks at a natural rate (not an AU label here)."""
    closure = np.zeros(n_frames)
    t = rng.exponential(60.0 / rate_per_min)
    dur = 0.25
    while t < n_frames / fps:
        frames = np.arange(int(t * fps), min(int((t + dur) * fps) + 1, n_frames))
        phase = (frames / fps - t) / dur
        closure[frames] = np.maximum(closure[frames], np.sin(np.pi * np.clip(phase, 0, 1)))
        t += dur + rng.exponential(60.0 / rate_per_min)
    return closure


# --------------------------------------------------------------------------------------------
# per-frame geometry


@dataclass
class Geometry:
    """Canonical geometry parameters, each an array over frames (shape (T,))."""

    brow_in: np.ndarray  # v of the inner brow end
    brow_mid: np.ndarray
    brow_out: np.ndarray
    brow_in_u: np.ndarray  # |u| of the inner brow end
    eye_up: np.ndarray  # upper-lid half aperture
    eye_low: np.ndarray  # lower-lid half aperture
    nostril_v: np.ndarray
    mouth_v: np.ndarray  # v of the mouth line at the centre
    mouth_hw: np.ndarray  # mouth half width
    corner_dv: np.ndarray  # corner offset from centre (negative: up)
    lip_up: np.ndarray  # upper lip thickness
    lip_low: np.ndarray
    gap: np.ndarray  # lips apart
    chin_drop: np.ndarray
    # texture strengths 0..1
    forehead_c: np.ndarray
    forehead_l: np.ndarray
    furrow: np.ndarray
    crows: np.ndarray
    nasolabial: np.ndarray
    nose_wrinkle: np.ndarray
    dimple: np.ndarray
    chin_bumps: np.ndarray
    cheek: np.ndarray
    press: np.ndarray
    eye_spacing: float
    hair_line: float


def geometry(app: Appearance, au_intensity: dict[int, np.ndarray], blink: np.ndarray) -> Geometry:
    """Map AU intensities (0-5, per frame) and blinks to canonical geometry parameters."""
    T = len(blink)

    def a(k: int) -> np.ndarray:
        x = au_intensity.get(k)
        return np.zeros(T) if x is None else np.clip(np.asarray(x, float) / 5.0, 0.0, 1.0)

    a1, a2, a4, a6, a7, a9, a10 = a(1), a(2), a(4), a(6), a(7), a(9), a(10)
    a12, a14, a15, a17, a23, a24, a25, a26 = a(12), a(14), a(15), a(17), a(23), a(24), a(25), a(26)
    open_ = 1.0 - blink
    hw = app.mouth_width * (1 + 0.25 * a12 - 0.18 * a23 - 0.1 * a14 - 0.06 * a24)
    return Geometry(
        brow_in=-0.44 - 0.16 * a1 + 0.10 * a4,
        brow_mid=-0.53 - 0.08 * a1 - 0.10 * a2 + 0.06 * a4,
        brow_out=-0.42 - 0.16 * a2 + 0.03 * a4,
        brow_in_u=0.13 - 0.05 * a4,
        eye_up=0.075 * open_ * (1 + 0.3 * np.maximum(a1, a2) - 0.2 * a4 - 0.25 * a7 - 0.15 * a6 - 0.2 * a9),
        eye_low=0.05 * open_ * (1 - 0.55 * a7 - 0.4 * a6),
        nostril_v=0.38 - 0.04 * a9 - 0.03 * a10,
        mouth_v=0.72 - 0.035 * a17 - 0.02 * a10,
        mouth_hw=hw,
        corner_dv=-0.11 * a12 + 0.10 * a15 - 0.02 * a14,
        lip_up=0.055 * (1 - 0.45 * a23 - 0.6 * a24) * (1 + 0.3 * a10),
        lip_low=0.075 * (1 - 0.45 * a23 - 0.6 * a24) * (1 + 0.15 * a17),
        gap=0.10 * a25 + 0.2 * a26 + 0.035 * a10,
        chin_drop=0.18 * a26,
        forehead_c=np.clip(a1 + 0.3 * a2, 0, 1),
        forehead_l=np.clip(a2 + 0.3 * a1, 0, 1),
        furrow=np.clip(a4 + 0.3 * a9, 0, 1),
        crows=np.clip(a6 + 0.3 * a7, 0, 1),
        nasolabial=np.clip(0.15 + 0.55 * a10 + 0.4 * a12 + 0.2 * a6 + 0.3 * a9, 0, 1),
        nose_wrinkle=a9,
        dimple=a14,
        chin_bumps=a17,
        cheek=a6,
        press=np.clip(a24 + 0.5 * a23, 0, 1),
        eye_spacing=app.eye_spacing,
        hair_line=app.hair_line,
    )


def _quad(x: np.ndarray, x0, y0, x1, y1, x2, y2) -> np.ndarray:
    """Quadratic through three points (x0 < x1 < x2), evaluated at x; broadcasting."""
    l0 = (x - x1) * (x - x2) / ((x0 - x1) * (x0 - x2))
    l1 = (x - x0) * (x - x2) / ((x1 - x0) * (x1 - x2))
    l2 = (x - x0) * (x - x1) / ((x2 - x0) * (x2 - x1))
    return y0 * l0 + y1 * l1 + y2 * l2


# depth factors: how far a feature shifts horizontally per unit of yaw
YAW_DEPTH = {"interior": 0.35, "nose": 0.6}


def landmarks_canonical(g: Geometry) -> np.ndarray:
    """68 landmarks (iBUG order) in canonical coordinates, shape (T, 68, 2), before head yaw."""
    T = len(g.eye_up)
    pts = np.zeros((T, 68, 2))
    # jaw 0..16 along the lower face outline (stretched by jaw drop)
    ang = np.pi * np.arange(17) / 16
    pts[:, :17, 0] = -np.cos(ang)[None, :]
    pts[:, :17, 1] = -0.1 + (1.4 + g.chin_drop)[:, None] * np.sin(ang)[None, :]
    # brows: 17..21 image-left outer->inner, 22..26 image-right inner->outer
    for k, side in ((17, -1), (22, 1)):
        absu = g.brow_in_u[:, None] + (0.64 - g.brow_in_u[:, None]) * np.linspace(1, 0, 5)[None, :]
        if side == 1:
            absu = absu[:, ::-1]
        pts[:, k : k + 5, 0] = side * absu
        pts[:, k : k + 5, 1] = _quad(absu, g.brow_in_u[:, None], g.brow_in[:, None], 0.38,
                                     g.brow_mid[:, None], 0.64, g.brow_out[:, None])
    # nose bridge 27..30, lower nose 31..35
    pts[:, 27:31, 0] = 0.0
    pts[:, 27:31, 1] = np.linspace(-0.28, 0.3, 4)[None, :]
    pts[:, 31:36, 0] = np.array([-0.13, -0.07, 0.0, 0.07, 0.13])[None, :]
    pts[:, 31:36, 1] = g.nostril_v[:, None] + np.array([0.0, 0.02, 0.03, 0.02, 0.0])[None, :]
    # eyes: 36..41 image-left (outer, upper x2, inner, lower x2), 42..47 image-right
    es, hw = g.eye_spacing, 0.16
    # both eyes are traversed from their left corner: upper lid left to right, lower lid back
    up_lo = np.array([0, -1, -1, 0, 1, 1], float)
    for k, side in ((36, -1), (42, 1)):
        c = side * es
        xs = np.array([c - hw, c - hw / 3, c + hw / 3, c + hw, c + hw / 3, c - hw / 3])
        prof = np.sqrt(np.clip(1 - ((xs - c) / hw) ** 2, 0.0, 1.0))
        lid = np.where(up_lo[None, :] < 0, g.eye_up[:, None], g.eye_low[:, None])
        pts[:, k : k + 6, 0] = xs[None, :]
        pts[:, k : k + 6, 1] = -0.15 + up_lo[None, :] * lid * prof[None, :]
    # outer lip 48..59, inner lip 60..67
    hwm = g.mouth_hw[:, None]
    xo = np.array([-1, -0.6, -0.25, 0, 0.25, 0.6, 1, 0.6, 0.25, 0, -0.25, -0.6])[None, :] * hwm
    line = g.mouth_v[:, None] + g.corner_dv[:, None] * (xo / hwm) ** 2
    prof = np.sqrt(np.clip(1 - (xo / hwm) ** 2, 0, 1))
    upper = np.array([0, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0], bool)[None, :]
    half_gap = g.gap[:, None] / 2 * prof
    vo = np.where(upper, line - half_gap - g.lip_up[:, None] * prof, line + half_gap + g.lip_low[:, None] * prof)
    pts[:, 48:60, 0] = xo
    pts[:, 48:60, 1] = vo
    xi = np.array([-0.9, -0.3, 0, 0.3, 0.9, 0.3, 0, -0.3])[None, :] * hwm
    line_i = g.mouth_v[:, None] + g.corner_dv[:, None] * (xi / hwm) ** 2
    prof_i = np.sqrt(np.clip(1 - (xi / hwm) ** 2, 0, 1))
    upper_i = np.array([1, 1, 1, 1, 0, 0, 0, 0], bool)[None, :]
    vi = np.where(upper_i, line_i - g.gap[:, None] / 2 * prof_i, line_i + g.gap[:, None] / 2 * prof_i)
    pts[:, 60:68, 0] = xi
    pts[:, 60:68, 1] = vi
    # interior points move with yaw more than the outline; applied by the caller via YAW_DEPTH
    return pts


def landmark_depth() -> np.ndarray:
    """Per-landmark yaw depth factor (0 for the outline, larger for nose points)."""
    d = np.full(68, YAW_DEPTH["interior"])
    d[:17] = 0.0
    d[27:36] = YAW_DEPTH["nose"]
    return d

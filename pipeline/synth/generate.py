"""Stage ``generate``: write a semi-synthetic dataset in the real layout of BP4D+, UBFC-rPPG,
PURE or DISFA, with its exact ground truth in a sidecar folder ``_truth/`` that readers ignore.

Usage: ``python -m pipeline generate --dataset bp4d --params params.yaml --out data/raw/bp4d``

Everything is deterministic given ``seed``: each subject and trial draws from its own
``SeedSequence(seed, dataset, name)``, so the bytes of every file depend only on the params.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import time
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d, minimum_filter1d
from tqdm import tqdm

from pipeline.atomic import atomic_path, write_json
from pipeline.config import load_params
from pipeline.errors import ConfigError, InputError
from pipeline.provenance import provenance
from pipeline.raw_data import check_generation_target
from pipeline.synth import face, physio, render, skin

PHYSIO_HZ = 1000.0
FPS = {"bp4d": 25.0, "ubfc": 30.0, "pure": 30.0, "disfa": 20.0}
BP4D_AU_COLUMNS = [1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24,
                   27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39]
AU_CODED_TASKS = ("T1", "T6", "T7", "T8")
# heart-rate rise per BP4D+ task (bpm): the cold pressor (T6) and startle (T3) raise it most
TASK_RISE_BPM = {"T1": 5, "T2": 2, "T3": 9, "T4": 6, "T5": 8, "T6": 15, "T7": 8, "T8": 5, "T9": 4, "T10": 6}
# PURE setups: 1 steady, 2 talking, 3 slow / 4 fast translation, 5 small / 6 medium rotation
PURE_MOTION = {1: (1.0, 1.0, False), 2: (1.0, 1.0, True), 3: (3.0, 1.0, False), 4: (6.0, 1.0, False),
               5: (1.0, 3.0, False), 6: (1.0, 6.0, False)}
# the real recordings' frame sizes (width, height): a preset's camera noise and JPEG quality are
# those of these cameras, referred to the smaller rendered frame (camera_at_rendered_size)
NATIVE_SIZE = {"bp4d": (1040, 1392), "ubfc": (640, 480), "pure": (640, 480), "disfa": (1024, 768)}
# preset keys that are not scalar rendering constants
PRESET_STRUCTURE_KEYS = ("datasets",)
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _rng(seed: int, dataset: str, name: str) -> np.random.Generator:
    """Independent stream per (seed, dataset, subject or trial)."""
    key = [seed, zlib.crc32(dataset.encode()), zlib.crc32(name.encode())]
    return np.random.default_rng(np.random.SeedSequence(key))


def _prevalence(cfg: dict) -> dict[int, float]:
    return {int(k.removeprefix("AU")): float(v) for k, v in cfg.get("au_prevalence", {}).items()}


def resolve_preset(synth: dict, dataset: str) -> dict:
    """The difficulty preset's constants for ``dataset``: the preset's values with its
    ``datasets.<dataset>`` overrides applied (a preset may model each dataset's own conditions)."""
    preset = synth["presets"][synth["difficulty"]]
    base = {k: v for k, v in preset.items() if k not in PRESET_STRUCTURE_KEYS}
    return {**base, **(preset.get("datasets") or {}).get(dataset, {})}


def jpeg_quality_at_rendered_size(quality: int, k: float) -> int:
    """The JPEG quality whose quantisation steps are 1/sqrt(k) of those of ``quality``.

    A camera compresses its own frame: an 8x8 block covers k times fewer rendered pixels than
    rendered blocks do, so a face mean averages k times more blocks and their quantisation errors
    shrink by sqrt(k). libjpeg scales its tables by S = 5000/q (q < 50) or 200 - 2q (percent).
    """
    q = min(max(int(quality), 1), 100)
    scale = (5000.0 / q if q < 50 else 200.0 - 2.0 * q) / np.sqrt(max(k, 1.0))
    referred = 5000.0 / scale if scale > 100.0 else (200.0 - scale) / 2.0
    return int(min(max(round(referred), 1), 100))


def camera_at_rendered_size(preset: dict, dataset: str, frame_size: list[int] | tuple[int, int]) -> dict:
    """The preset with its camera noise and JPEG compression referred from the real camera's
    pixels to the rendered ones.

    A rendered pixel stands for k = (native area) / (rendered area) camera pixels; their mean has
    1/k of one pixel's noise variance, so the read-noise std is divided by sqrt(k) and the shot-noise
    gain (variance per level) by k; the JPEG quality is raised so that its quantisation steps shrink
    by sqrt(k) (jpeg_quality_at_rendered_size). Without this, a frame rendered at a seventh of
    BP4D+'s width would carry seven times the noise and compression error of a real frame resized
    to the same size.
    """
    native_w, native_h = NATIVE_SIZE.get(dataset, tuple(frame_size))
    k = max(1.0, native_w * native_h / float(frame_size[0] * frame_size[1]))
    return {**preset, "read_noise": float(preset["read_noise"]) / np.sqrt(k),
            "shot_noise": float(preset["shot_noise"]) / k,
            "jpeg_quality": jpeg_quality_at_rendered_size(int(preset["jpeg_quality"]), k)}


@dataclass
class Subject:
    name: str
    physio: physio.SubjectPhysiology
    app: face.Appearance
    cct_k: float  # colour temperature of the session's key light
    white_balance: float  # fraction of the colour cast the camera removed
    fill_cct_k: float  # colour temperature of the fill light (the room's other source)

    @property
    def light_rgb(self) -> np.ndarray:
        # auto-exposure keeps both the skin and the blank background below saturation
        return skin.light_gain(self.cct_k, self.white_balance, np.maximum(self.app.skin_rgb, render.BACKGROUND_RGB))

    @property
    def fill_rgb(self) -> np.ndarray:
        """The fill light's colour relative to the key light's (green = 1)."""
        ratio = skin.source_rgb(self.fill_cct_k) / skin.source_rgb(self.cct_k)
        return ratio / ratio[1]


def make_subject(seed: int, dataset: str, name: str, face_width: float, fitzpatrick: int | None = None,
                 preset: dict | None = None,
                 base_hr_bpm: tuple[float, float] = physio.RESTING_HR_BPM) -> Subject:
    """A subject's physiology (heart rate at the start drawn over ``base_hr_bpm``), appearance
    (skin type ``fitzpatrick``) and the light of its recording session (colour temperature and
    white balance drawn over the preset's ranges)."""
    rng = _rng(seed, dataset, "subject:" + name)
    phys = physio.draw_subject(rng, base_hr_bpm)
    app = face.draw_appearance(rng, face_width, fitzpatrick)
    preset = preset or {}
    cct_range = tuple(preset.get("light_cct_k", skin.CCT_RANGE_K))
    cct, wb = skin.draw_light(rng, cct_range, tuple(preset.get("white_balance", (0.3, 1.0))))
    fill_cct = float(rng.uniform(*cct_range))
    return Subject(name, phys, app, cct, wb, fill_cct)


def make_subjects(seed: int, dataset: str, names: list[str], face_width: float, preset: dict,
                  base_hr_bpm: tuple[float, float] = physio.RESTING_HR_BPM) -> list[Subject]:
    """The dataset's subjects, their skin types rotating over I-VI (every type once per six)."""
    types = skin.assign_types(len(names), _rng(seed, dataset, "fitzpatrick"))
    return [make_subject(seed, dataset, n, face_width, t, preset, base_hr_bpm) for n, t in zip(names, types)]


@dataclass
class Trial:
    """Everything known about one rendered trial (ground truth and render state)."""

    trial_id: str
    fps: float
    n_frames: int
    phys: physio.Physiology
    frame_times: np.ndarray
    aus: tuple[int, ...]
    au_occ: np.ndarray
    au_int: np.ndarray
    geom: face.Geometry
    nuisance: render.Nuisance
    scene: render.Scene
    pulse: np.ndarray  # facial blood volume at frame times
    pulse_amplitude: float
    subject: Subject
    noise: tuple[float, float]
    rng: np.random.Generator


def simulate_trial(
    subject: Subject,
    trial_id: str,
    n_frames: int,
    fps: float,
    cfg: dict,
    preset: dict,
    rng: np.random.Generator,
    aus: tuple[int, ...],
    task_rise_bpm: float = 0.0,
    translation_gain: float = 1.0,
    rotation_gain: float = 1.0,
    talking: bool = False,
    hr_drift_bpm: float = 2.0,
) -> Trial:
    """Physiology, AU dynamics, head motion and lighting of one trial (no pixels yet)."""
    duration = n_frames / fps
    phys = physio.simulate(duration, PHYSIO_HZ, subject.physio, rng, task_rise_bpm, preset["breath_irregularity"],
                           hr_drift_bpm)
    times = np.arange(n_frames) / fps
    prev = _prevalence(cfg)
    occ, inten = face.au_dynamics(n_frames, fps, aus, prev, rng, mean_event_s=cfg.get("au_event_s", 2.0))
    intensity = {a: inten[:, j] for j, a in enumerate(aus)}
    if talking:  # speech opens and closes the lips and jaw at syllable rate (not labelled)
        syll = np.clip(render.smooth_noise(n_frames, fps, 0.08, rng), 0, None)
        intensity[25] = np.maximum(intensity.get(25, 0), 2.5 * syll)
        intensity[26] = np.maximum(intensity.get(26, 0), 1.0 * syll)
    geom = face.geometry(subject.app, intensity, face.blinks(n_frames, fps, rng))
    width, height = cfg["frame_size"]
    vol = physio.resample(phys.resp.volume, PHYSIO_HZ, times)
    nz = render.draw_nuisance(n_frames, fps, (height, width), subject.app, cfg["face_centre_y"], vol, preset, rng,
                              translation_gain, rotation_gain, subject.light_rgb, subject.fill_rgb)
    return Trial(
        trial_id=trial_id, fps=fps, n_frames=n_frames, phys=phys, frame_times=times, aus=aus,
        au_occ=occ, au_int=inten, geom=geom, nuisance=nz,
        scene=render.make_scene((height, width), subject.app),
        pulse=physio.resample(phys.ppg, PHYSIO_HZ, times),
        pulse_amplitude=float(preset["pulse_amplitude"]) * subject.physio.perfusion * float(rng.uniform(0.9, 1.1)),
        noise=(float(preset["read_noise"]), float(preset["shot_noise"])),
        subject=subject,
        rng=rng,
    )


def frames(trial: Trial, progress: tqdm | None = None) -> Iterator[np.ndarray]:
    """Render the trial's frames one by one (streamed into the layout writers)."""
    for t in range(trial.n_frames):
        yield render.render_frame(trial.scene, trial.geom, t, trial.nuisance, float(trial.pulse[t]),
                                  trial.pulse_amplitude, trial.noise, trial.rng)
        if progress is not None:
            progress.update(1)


def truth_arrays(trial: Trial) -> dict[str, np.ndarray]:
    """Exact rendered ground truth per frame: landmarks, boxes, signals, AUs, pose, light."""
    lm = render.landmarks_pixels(trial.geom, trial.nuisance)
    ph, t = trial.phys, trial.frame_times
    nz = trial.nuisance
    return {
        "frame_times_s": t,
        "landmarks": lm.astype(np.float32),
        "face_boxes": render.face_boxes(lm, nz).astype(np.float32),
        "pulse": trial.pulse,  # facial blood volume (the skin darkens as it rises)
        "finger_ppg": physio.resample(ph.finger_ppg, PHYSIO_HZ, t),
        "bp_mmhg": physio.resample(ph.bp_mmhg, PHYSIO_HZ, t),
        "resp": physio.resample(ph.resp.volume, PHYSIO_HZ, t),
        "hr_bpm": physio.resample(ph.hr_bpm, PHYSIO_HZ, t),
        "rr_bpm": physio.resample(ph.resp.rate_bpm, PHYSIO_HZ, t),
        "au_ids": np.asarray(trial.aus, np.int64),
        "au_occurrence": trial.au_occ.astype(np.int8),
        "au_intensity": trial.au_int.astype(np.float32),
        "head_pose": np.stack([nz.cx, nz.cy, nz.scale, nz.roll, nz.yaw], 1),
        "shoulder_dy": nz.shoulder_dy,
        "illumination": nz.illum,
        "pulse_amplitude": np.float64(trial.pulse_amplitude),
        "fitzpatrick": np.int64(trial.subject.app.fitzpatrick),
        "skin_rgb": np.asarray(trial.subject.app.skin_rgb, np.float64),
        "light_rgb": np.asarray(trial.subject.light_rgb, np.float64),
        "cct_k": np.float64(trial.subject.cct_k),
        "fill_cct_k": np.float64(trial.subject.fill_cct_k),
        "lighting": np.asarray(nz.lighting, np.float64),  # fill share, key side (rad), key falloff
        "white_balance": np.float64(trial.subject.white_balance),
    }


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An .npz readable by ``np.load`` whose bytes depend only on the arrays (fixed zip dates)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, arr in arrays.items():
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.asanyarray(arr), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, buf.getvalue())


def trial_summary(trial: Trial, subject: str, task: str) -> dict:
    rates = trial.au_occ.mean(0) if trial.n_frames else np.zeros(len(trial.aus))
    return {
        "subject": subject,
        "task": task,
        "n_frames": trial.n_frames,
        "fps": trial.fps,
        "mean_hr_bpm": round(trial.phys.mean_hr_bpm, 4),
        "mean_rr_bpm": round(trial.phys.resp.mean_rate_bpm, 4),
        "au_rates": {f"AU{a:02d}": round(float(r), 4) for a, r in zip(trial.aus, rates)},
        "fitzpatrick": int(trial.subject.app.fitzpatrick),
        "illuminant": {
            "cct_k": round(trial.subject.cct_k, 1),
            "fill_cct_k": round(trial.subject.fill_cct_k, 1),
            "white_balance": round(trial.subject.white_balance, 4),
            "rgb_gain": [round(float(g), 4) for g in trial.subject.light_rgb],
        },
        "relative_pulse_factor": [round(float(f), 4) for f in skin.relative_pulse_factor(trial.subject.app.fitzpatrick)],
    }


def render_probe_trial(
    seed: int,
    fitzpatrick: int,
    cct_k: float,
    white_balance: float,
    duration_s: float = 10.0,
    preset: str = "easy",
    frame_size: tuple[int, int] = (160, 120),
    fps: float = 30.0,
    params: dict | None = None,
) -> tuple[np.ndarray, dict]:
    """One UBFC-style trial of a chosen skin type under a chosen light, rendered in memory.

    For sweeps over skin tones and illuminants (tests, benchmarks). ``preset`` names a preset of
    ``params['synth']['presets']`` (params.yaml when ``params`` is None); ``frame_size`` is
    (width, height). Returns uint8 RGB frames (T, H, W, 3) and the truth: ``mean_hr_bpm``, the
    per-frame facial blood volume ``pulse`` and ``finger_ppg``, ``fitzpatrick``, ``rgb_gain``,
    the rendered 68 ``landmarks`` (T, 68, 2).
    """
    if params is None:
        params = load_params("params.yaml")
    synth = dict(params["synth"], difficulty=preset)
    cfg = dict(params["synth"]["ubfc"], frame_size=list(frame_size))
    conditions = camera_at_rendered_size(resolve_preset(synth, "ubfc"), "ubfc", frame_size)
    rng = _rng(seed, "probe", f"{fitzpatrick}:{cct_k}:{white_balance}")
    name = f"probe{seed}"
    drawn = make_subject(seed, "probe", name, cfg["face_width"], fitzpatrick, conditions)
    # one light colour (key and fill alike) and a typical perfusion: the sweep varies skin and
    # light, not the mixture or the subject's pulse size
    subject = dataclasses.replace(drawn, physio=dataclasses.replace(drawn.physio, perfusion=1.0),
                                  cct_k=float(cct_k), white_balance=float(white_balance), fill_cct_k=float(cct_k))
    n = int(round(duration_s * fps))
    trial = simulate_trial(subject, name, n, fps, cfg, conditions, rng, ())
    video = np.stack(list(frames(trial)))
    truth = truth_arrays(trial)
    return video, {
        "mean_hr_bpm": trial.phys.mean_hr_bpm,
        "pulse": truth["pulse"],
        "finger_ppg": truth["finger_ppg"],
        "fitzpatrick": int(fitzpatrick),
        "rgb_gain": truth["light_rgb"],
        "skin_rgb": truth["skin_rgb"],
        "ptt_s": subject.physio.ptt_s,
        "fps": fps,
        "landmarks": truth["landmarks"],
    }


# ------------------------------------------------------------------------------------ datasets


def _bp4d_physiology(trial: Trial, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The eight BP4D+ physiology channels at 1 kHz, as the monitors would record them."""
    ph = trial.phys
    n = len(ph.bp_mmhg)
    beat = int(PHYSIO_HZ * 60.0 / max(ph.mean_hr_bpm, 40.0))
    bp = ph.bp_mmhg
    eda = 2.0 + 6.0 * rng.random() + 0.8 * render.smooth_noise(n // 100 + 1, 10.0, 8.0, rng)
    return {
        "BP_mmHg": np.round(bp, 4),
        "Resp_Volts": np.round(0.4 + 0.9 * ph.resp.volume + 0.003 * rng.standard_normal(n), 5),
        "Pulse Rate_BPM": np.round(ph.hr_bpm, 2),
        "Respiration Rate_BPM": np.round(ph.resp.rate_bpm, 2),
        "LA Mean BP_mmHg": np.round(gaussian_filter1d(bp, beat, mode="nearest"), 3),
        "LA Systolic BP_mmHg": np.round(maximum_filter1d(bp, 2 * beat, mode="nearest"), 3),
        "BP Dia_mmHg": np.round(minimum_filter1d(bp, 2 * beat, mode="nearest"), 3),
        "EDA_microsiemens": np.round(np.repeat(np.clip(eda, 0.5, None), 100)[:n], 4),
    }


DEFECTS = ("au_length_mismatch", "missing_physiology", "nonfinite_physiology")


def check_defects(cfg: dict, source: str = "params.yaml") -> None:
    """Raise ConfigError (one line) for a configured BP4D+ defect that cannot be written.

    ``au_length_mismatch`` lengthens the trial's AU file, which only the AU-coded tasks have.
    """
    for tid, kind in sorted(cfg.get("defects", {}).items()):
        key = f"synth.bp4d.defects.{tid}"
        if kind not in DEFECTS:
            raise ConfigError(f"{source}: key '{key}': unknown defect {kind!r} (one of {', '.join(DEFECTS)})")
        task = tid[4:]
        if kind == "au_length_mismatch" and task not in AU_CODED_TASKS:
            raise ConfigError(f"{source}: key '{key}': au_length_mismatch needs an AU-coded task "
                              f"({', '.join(AU_CODED_TASKS)}); {task} has no AU coding")


def _apply_defect(root: Path, subject: str, task: str, kind: str, n_frames: int) -> None:
    """Reproduce a published exclusion reason on an already written trial."""
    pdir = root / "Physiology" / subject / task
    if kind == "au_length_mismatch":  # AU coding runs past the last video frame
        apath = root / "AUCoding" / "AU_OCC" / f"{subject}_{task}.csv"
        lines = apath.read_text().splitlines()
        last = lines[-1].split(",")
        extra = [",".join([str(int(last[0]) + k)] + last[1:]) for k in range(1, 26)]
        apath.write_text("\n".join(lines + extra) + "\n")
    elif kind == "missing_physiology":  # the BP wave file is absent
        (pdir / "BP_mmHg.txt").unlink()
    elif kind == "nonfinite_physiology":  # a dropout of the respiration belt recorded as NaN
        path = pdir / "Resp_Volts.txt"
        lines = path.read_text().splitlines()
        start = 1 + len(lines) // 3
        for i in range(start, min(start + 2000, len(lines))):
            lines[i] = "nan"
        path.write_text("\n".join(lines) + "\n")
    else:
        raise ValueError(f"unknown defect {kind!r}")


def _gen_bp4d(root: Path, cfg: dict, preset: dict, seed: int, bar: tqdm) -> list[dict]:
    from pipeline.datasets import bp4d

    summaries = []
    fps = FPS["bp4d"]
    missing = set(cfg.get("missing_trials", []))
    talking_tasks = set(preset.get("talking_tasks", []))
    for subject in make_subjects(seed, "bp4d", list(cfg["subjects"]), cfg["face_width"], preset):
        name = subject.name
        for k in range(1, 11):
            task = f"T{k}"
            tid = f"{name}{task}"
            if tid in missing:
                continue
            coded = task in AU_CODED_TASKS
            n = cfg["au_task_frames"] if coded else cfg["other_task_frames"]
            rng = _rng(seed, "bp4d", tid)
            trial = simulate_trial(subject, tid, n, fps, cfg, preset, rng, face.BP4D_AUS, TASK_RISE_BPM[task],
                                   talking=task in talking_tasks)
            occ = None
            first = 1
            if coded:
                n_coded = min(cfg["au_coded_frames"], n)
                first = 1 + (n - n_coded) // 2
                occ = np.zeros((n_coded, len(BP4D_AU_COLUMNS)), np.int64)
                for j, au in enumerate(trial.aus):
                    occ[:, BP4D_AU_COLUMNS.index(au)] = trial.au_occ[first - 1 : first - 1 + n_coded, j]
            bp4d.write_trial(root, name, task, frames(trial, bar), _bp4d_physiology(trial, rng), occ, first,
                             jpeg_quality=int(preset["jpeg_quality"]))
            defect = cfg.get("defects", {}).get(tid)
            if defect:
                _apply_defect(root, name, task, defect, n)
            truth = truth_arrays(trial)
            truth["au_coded_range"] = np.array([first - 1, first - 1 + (len(occ) if occ is not None else 0)])
            write_npz(root / "_truth" / f"{tid}.npz", truth)
            summary = trial_summary(trial, name, task)
            summary["defect"] = defect
            if coded:  # rates over the AU-coded segment only (what the labels cover)
                seg = trial.au_occ[first - 1 : first - 1 + len(occ)]
                summary["au_rates"] = {f"AU{a:02d}": round(float(r), 4) for a, r in zip(trial.aus, seg.mean(0))}
            else:
                summary["au_rates"] = {}
            summaries.append({"trial_id": tid, **summary})
    return summaries


def _gen_ubfc(root: Path, cfg: dict, preset: dict, seed: int, bar: tqdm) -> list[dict]:
    from pipeline.datasets import ubfc

    fps = FPS["ubfc"]
    n = int(round(cfg["duration_s"] * fps))
    out = []
    names = [f"subject{sid}" for sid in cfg["subjects"]]
    subjects = make_subjects(seed, "ubfc", names, cfg["face_width"], preset, tuple(cfg["heart_rate_bpm"]))
    for sid, subject in zip(cfg["subjects"], subjects):
        name = subject.name
        rng = _rng(seed, "ubfc", name)
        # the time-sensitive math game of UBFC-rPPG raises the heart rate during the recording, by
        # a subject's own amount, and the rate wanders: the whole-recording spectrum is broad
        trial = simulate_trial(subject, name, n, fps, cfg, preset, rng, (),
                               task_rise_bpm=rng.uniform(*cfg["game_rise_bpm"]), hr_drift_bpm=cfg["hr_drift_bpm"])
        t = trial.frame_times
        # the finger oximeter's pleth: rises with blood volume, lags the face by the transit time
        ppg = physio.resample(trial.phys.finger_ppg, PHYSIO_HZ, t)
        ppg = 2.0 + ppg + 0.01 * rng.standard_normal(n)  # oximeter units: positive, a little noisy
        hr = np.round(physio.resample(trial.phys.hr_bpm, PHYSIO_HZ, t))
        erroneous = sid in set(cfg.get("erroneous_rate_row", []))
        if erroneous:
            hr = erroneous_rate_row(hr, _rng(seed, "ubfc-oximeter", name))
        ubfc.write_trial(root, sid, frames(trial, bar), fps, ppg, hr, t)
        write_npz(root / "_truth" / f"{name}.npz", truth_arrays(trial))
        out.append({"trial_id": name, **trial_summary(trial, name, ""),
                    "defect": "erroneous_rate_row" if erroneous else None})
    return out


def erroneous_rate_row(hr: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The oximeter's HR row ``hr`` with a stretch of 20-60% of the recording reading 0-4 bpm.

    Four subjects of the real UBFC-rPPG (11, 18, 20, 24) have "erroneous (< 5 bpm) heart rate
    data" with sound videos (the contrastive paper, Sec. 4, leaves them out of its tests, whose
    reference is the device's rate); the rPPG-Toolbox's label audit finds their HR row 15-67 bpm
    off the rate of their PPG row on average, as a row that drops out for part of the recording
    would be. Their PPG row is written as for every other subject: under the rPPG-Toolbox
    protocol behind the BigSmall paper's Table 3, which reads the rate from the PPG row over all
    42 subjects, the published spread (POS RMSE 4.69 and r 0.97, BigSmall MAE 1.03) leaves no
    room for four subjects whose PPG carries no pulse. The random stream is the defect's own, so
    the video and the PPG row are those the subject has without it.
    """
    n = len(hr)
    length = int(round(n * rng.uniform(0.2, 0.6)))
    start = int(rng.integers(0, n - length + 1))
    out = np.array(hr, dtype=float)
    out[start : start + length] = float(rng.integers(0, 5))
    return out


def _gen_pure(root: Path, cfg: dict, preset: dict, seed: int, bar: tqdm) -> list[dict]:
    from pipeline.datasets import pure

    fps = FPS["pure"]
    n = int(round(cfg["duration_s"] * fps))
    out = []
    persons = list(cfg["persons"])
    subjects = make_subjects(seed, "pure", [f"{p:02d}" for p in persons], cfg["face_width"], preset)
    for person, subject in zip(persons, subjects):
        for setup in cfg["setups"]:
            name = f"{person:02d}-{setup:02d}"
            rng = _rng(seed, "pure", name)
            tg, rg, talking = PURE_MOTION[setup]
            trial = simulate_trial(subject, name, n, fps, cfg, preset, rng, (), 0.0, tg, rg, talking)
            t0_ns = 1_392_000_000_000_000_000 + int(rng.integers(0, 10**15))
            # camera clock with small jitter; the pulse oximeter samples at 60 Hz on its own clock
            jitter = rng.normal(0.0, 0.5e-3, n)
            frame_ns = t0_ns + np.round((trial.frame_times + jitter) * 1e9).astype(np.int64)
            frame_ns = np.maximum.accumulate(frame_ns)
            ppg_t = np.arange(0.0, n / fps, 1.0 / 60.0) + rng.uniform(0.0, 1.0 / 60.0)
            ppg_t = ppg_t[ppg_t < n / fps]
            ppg = np.round(64 + 40 * physio.resample(trial.phys.finger_ppg, PHYSIO_HZ, ppg_t)).astype(np.int64)
            rate = np.round(physio.resample(trial.phys.hr_bpm, PHYSIO_HZ, ppg_t)).astype(np.int64)
            pure.write_trial(root, person, setup, frames(trial, bar), frame_ns, ppg,
                             t0_ns + np.round(ppg_t * 1e9).astype(np.int64), rate)
            write_npz(root / "_truth" / f"{name}.npz", truth_arrays(trial))
            out.append({"trial_id": name, **trial_summary(trial, f"{person:02d}", f"{setup:02d}")})
    return out


def _gen_disfa(root: Path, cfg: dict, preset: dict, seed: int, bar: tqdm) -> list[dict]:
    from pipeline.datasets import disfa

    fps = FPS["disfa"]
    n = int(round(cfg["duration_s"] * fps))
    out = []
    for subject in make_subjects(seed, "disfa", list(cfg["subjects"]), cfg["face_width"], preset):
        name = subject.name
        sn = int(name.removeprefix("SN"))
        rng = _rng(seed, "disfa", name)
        trial = simulate_trial(subject, name, n, fps, cfg, preset, rng, face.DISFA_AUS)
        # DISFA codes integer intensity 0-5; occurrence (>0) matches the rendered episodes
        levels = np.where(trial.au_occ, np.clip(np.rint(trial.au_int), 1, 5), 0).astype(np.int64)
        disfa.write_trial(root, sn, frames(trial, bar), fps, {a: levels[:, j] for j, a in enumerate(trial.aus)})
        write_npz(root / "_truth" / f"{name}.npz", truth_arrays(trial))
        out.append({"trial_id": name, **trial_summary(trial, name, "")})
    return out


GENERATORS = {"bp4d": _gen_bp4d, "ubfc": _gen_ubfc, "pure": _gen_pure, "disfa": _gen_disfa}


def _total_frames(dataset: str, cfg: dict) -> int:
    if dataset == "bp4d":
        per = len(AU_CODED_TASKS) * cfg["au_task_frames"] + (10 - len(AU_CODED_TASKS)) * cfg["other_task_frames"]
        return len(cfg["subjects"]) * per
    n = int(round(cfg["duration_s"] * FPS[dataset]))
    if dataset == "pure":
        return n * len(cfg["persons"]) * len(cfg["setups"])
    return n * len(cfg["subjects"])


def generate(dataset: str, params: dict, out: Path, source: str = "params.yaml") -> dict:
    """Write the semi-synthetic ``dataset`` into ``out`` atomically; return the summary.

    Inputs: params ``seed`` and section ``synth`` (difficulty preset, per-dataset sizes).
    Outputs: the real layout under ``out`` plus ``out/_truth/<trial_id>.npz`` (per-frame
    landmarks, face boxes, signals, AUs, pose), ``out/_truth/summary.json`` (per-trial true mean
    HR/RR and AU rates, seed, params) and ``out/_truth/provenance.json``. A configuration that
    cannot be written raises ConfigError naming the key (``source`` is the params file) before
    anything is written.
    """
    if dataset not in GENERATORS:
        raise InputError(out, f"unknown dataset {dataset!r} (one of {sorted(GENERATORS)})")
    synth = params["synth"]
    cfg = synth[dataset]
    if dataset == "bp4d":
        check_defects(cfg, source)
    preset = camera_at_rendered_size(resolve_preset(synth, dataset), dataset, cfg["frame_size"])
    seed = int(params["seed"])
    start = time.perf_counter()
    with atomic_path(out, is_dir=True) as tmp:
        with tqdm(total=_total_frames(dataset, cfg), desc=f"generate {dataset}", unit="frame",
                  disable=os.environ.get("TQDM_DISABLE") == "1") as bar:
            trials = GENERATORS[dataset](tmp, cfg, preset, seed, bar)
        summary = {
            "dataset": dataset,
            "seed": seed,
            "difficulty": synth["difficulty"],
            "params": {"preset": preset, dataset: cfg},
            "n_trials": len(trials),
            "n_frames": int(sum(t["n_frames"] for t in trials)),
            "trials": trials,
        }
        write_json(tmp / "_truth" / "summary.json", summary)
        # provenance (commit, params hash) kept apart from the data files; no wall-clock figures in
        # it, so that the same seed gives the same bytes and hashes everywhere
        write_json(tmp / "_truth" / "provenance.json", provenance({"seed": seed, "synth": synth}, seed=seed))
    summary["seconds"] = round(time.perf_counter() - start, 2)
    return summary


def generate_dataset(params: dict, dataset: str, out: Path, source: str = "params.yaml") -> str:
    """Write the built-in ``dataset`` to ``out`` (never over user-supplied data); one JSON line."""
    check_generation_target(params, dataset, out)
    summary = generate(dataset, params, out, source=source)
    return json.dumps({"dataset": dataset, "trials": summary["n_trials"], "frames": summary["n_frames"],
                       "seconds": summary["seconds"], "out": str(out)})

"""Stage ingest: scan a raw dataset in its real layout and write the trial manifest.

Every trial found gets one row, ``ok`` or ``excluded`` with a reason. Exclusions come from
the published BP4D+ list (supp. D), from the task selection (BigSmall uses the AU-coded
BP4D+ tasks T1/T6/T7/T8 only) and from automatic checks: unreadable or truncated frames,
missing or non-finite labels, labels that do not span the video, AU codes outside the video,
a frame rate other than the dataset's. A bad trial never stops the stage: a reader error the
layouts did not foresee still becomes an exclusion whose reason names the exception type and
message. Only a dataset that cannot be read at all (missing folder, no trial) raises
``InputError``.

Two checks look beyond one trial:

- a folder (or file) where the layout keeps trials but whose name it does not accept
  (``subject 16``, ``Subject18``) gets an excluded row, its relative path as trial id and no
  subject, instead of being skipped without a word;
- the same recording under two names would put one subject in two folds (train/test
  leakage): every trial that passed the checks is fingerprinted by content (decoded pixels of
  its first frames, frame count, every aligned label) and, of trials with equal fingerprints,
  the first in the layout's order is kept and the others are excluded as duplicates of it.

A label that is readable but implausible is flagged, not silently scored: a trial whose
device-recorded heart rate sits below ``ingest.min_recorded_hr_bpm`` for more than 5% of it (as on
four subjects of the real UBFC-rPPG) gets a ``warning``, and ``ingest.implausible_recorded_hr``
decides whether it stays (the published protocol of the dataset keeps it) or is excluded with
the warning as reason.

Outputs: ``manifest.csv`` (columns ``MANIFEST_COLUMNS``; ``au_uncoded_frames`` counts the
frames inside the AU-coded segment that lack a code for at least one AU) and
``manifest.json`` next to it (provenance, counts by reason, duplicate groups, warned trials).
"""

from __future__ import annotations

import hashlib
import zipfile
import zlib
from collections import Counter
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pandas as pd
from tqdm import tqdm

from pipeline.atomic import atomic_path, write_json
from pipeline.config import load_params
from pipeline.datasets import check_dataset, get_layout
from pipeline.datasets.base import Stray, TrialData, TrialRef
from pipeline.errors import InputError
from pipeline.manifest import INT_COLUMNS, MANIFEST_COLUMNS, NUMERIC_COLUMNS
from pipeline.provenance import provenance
from pipeline.reference.datasets import published_exclusions
from pipeline.raw_data import data_origin, require_user_data

PUBLISHED_REASON = "published exclusion list (supp. D)"
DUPLICATE_KIND = "duplicate recording"
# frames decoded for the content fingerprint: enough to tell recordings apart (sensor noise
# differs in every frame), few enough to cost a fraction of the full decode check
FINGERPRINT_FRAMES = 8


class Excluded(Exception):
    """A trial fails a check; ``kind`` is the reason without trial-specific detail."""

    def __init__(self, kind: str, detail: str = "", reason: str | None = None):
        self.kind = kind
        self.reason = reason or (f"{kind} ({detail})" if detail else kind)
        super().__init__(self.reason)


def _rel(path: str | Path, raw: Path) -> str:
    try:
        return str(Path(path).relative_to(raw))
    except ValueError:
        return str(path)


def _type_name(err: BaseException) -> str:
    """``KeyError``, ``zlib.error``, ``cv2.error``: builtins bare, others with their module."""
    cls = type(err)
    module = cls.__module__
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


def _with_message(kind: str, err: BaseException, raw: Path) -> str:
    """``kind: <message>`` on one line, paths inside ``raw`` made relative, at most 300 chars."""
    message = " ".join(str(err).split())
    for prefix in (f"{raw.resolve()}/", f"{raw}/"):
        message = message.replace(prefix, "")
    if len(message) > 300:
        message = message[:297] + "..."
    return f"{kind}: {message}" if message else kind


def check_trial(data: TrialData, expected_fps: float, cfg: dict) -> None:
    """Raise Excluded when a loaded trial fails an automatic check."""
    if abs(data.fps - expected_fps) > cfg["fps_tolerance"]:
        raise Excluded("fps other than expected", f"{data.fps:.3f} vs {expected_fps:g}")
    video_s = float(data.meta.get("video_duration_s", data.n_frames / data.fps))
    tol = cfg["max_duration_mismatch_s"]
    for name, label_s in sorted(data.meta.get("label_duration_s", {}).items()):
        if label_s < video_s - tol:
            raise Excluded("label shorter than the video", f"{name}: {label_s:.2f} s < {video_s:.2f} s")
        if label_s > video_s + tol:
            raise Excluded("label longer than the video", f"{name}: {label_s:.2f} s > {video_s:.2f} s")
    if data.n_frames < cfg["min_frames"]:
        raise Excluded("too few frames", f"{data.n_frames} < {cfg['min_frames']}")
    if cfg["verify_frames"]:
        n = 0
        for frame in data.frames():
            if frame.shape != data.frame_shape:
                raise Excluded("frame size changes within the video", f"frame {n}: {frame.shape}")
            n += 1
        if n != data.n_frames:
            raise Excluded("frame count mismatch", f"decoded {n}, expected {data.n_frames}")


IMPLAUSIBLE_HR_KIND = "recorded heart rate implausible"


def recorded_rate_warning(data: TrialData, min_bpm: float, max_fraction: float = 0.05) -> str:
    """A warning when more than ``max_fraction`` of the device's recorded heart rate (``hr_bpm``)
    sits below ``min_bpm`` (as on four subjects of the real UBFC-rPPG, whose oximeter's rate drops
    under 5 bpm): the device's data are suspect, and a rate label read from it is wrong; empty
    when plausible or not recorded."""
    rate = data.signals.get("hr_bpm")
    if rate is None:
        return ""
    rate = np.asarray(rate, float)
    rate = rate[np.isfinite(rate)]
    if rate.size == 0:
        return ""
    low = float(np.mean(rate < min_bpm))
    if low <= max_fraction:
        return ""
    return f"{IMPLAUSIBLE_HR_KIND} ({low:.0%} of it under {min_bpm:g} bpm, lowest {float(rate.min()):.1f})"


def _row(ref: TrialRef) -> dict[str, Any]:
    return {"dataset": ref.dataset, "trial_id": ref.trial_id, "subject": ref.subject,
            "task": ref.task, "n_frames": None, "fps": None, "duration_s": None,
            "pulse_len": None, "resp_len": None, "au_len": None, "au_start": None,
            "au_stop": None, "au_uncoded_frames": None, "status": "ok", "reason": "", "warning": ""}


def fingerprint(data: TrialData, n_frames: int = FINGERPRINT_FRAMES) -> str:
    """Content hash of a trial: frame count and shape, the decoded pixels of its first
    ``n_frames`` frames and every aligned label array (names do not enter it)."""
    digest = hashlib.sha256(f"{data.n_frames} {data.frame_shape}".encode())
    for k, frame in enumerate(data.frames()):
        if k >= n_frames:
            break
        digest.update(np.ascontiguousarray(frame).tobytes())
    for name, values in sorted(data.signals.items()):
        digest.update(name.encode() + np.asarray(values, np.float64).tobytes())
    if data.au is not None:
        digest.update(b"au" + np.ascontiguousarray(data.au, np.int8).tobytes())
    return digest.hexdigest()


def _stray_rows(dataset: str, strays: list[Stray]) -> list[tuple[dict[str, Any], str]]:
    rows = []
    for stray in strays:
        kind = f"{'folder' if stray.is_dir else 'file'} name does not match the {dataset} layout"
        row = {**_row(TrialRef(dataset, "", "", stray.path)), "status": "excluded",
               "reason": f"{kind} (expected {stray.expected})"}
        rows.append((row, kind))
    return rows


def duplicate_groups(table: pd.DataFrame) -> dict[str, list[str]]:
    """Kept trial id -> the trial ids excluded as duplicate recordings of it."""
    prefix = f"{DUPLICATE_KIND} of "
    groups: dict[str, list[str]] = {}
    for tid, reason in zip(table["trial_id"], table["reason"]):
        if isinstance(reason, str) and reason.startswith(prefix):
            groups.setdefault(reason[len(prefix):], []).append(str(tid))
    return groups


def ingest(dataset: str, raw: Path, cfg: dict) -> tuple[pd.DataFrame, Counter]:
    """Manifest rows for every trial of ``raw`` and the exclusion counts by reason kind.

    ``cfg`` is the ``ingest`` params section.
    """
    raw = Path(raw)
    layout = get_layout(dataset)
    refs = layout.list_trials(raw)
    listed = published_exclusions() if dataset == "bp4d" and cfg["bp4d_published_exclusions"] else {}
    tasks = set(cfg["bp4d_tasks"]) if dataset == "bp4d" else None
    rows, kinds = [], Counter()
    first_of: dict[str, str] = {}  # fingerprint -> first trial id with it
    for ref in tqdm(refs, desc=f"ingest {dataset}", unit="trial", leave=False):
        row = _row(ref)
        try:
            if ref.trial_id in listed:
                raise Excluded(listed[ref.trial_id])
            if tasks is not None and ref.task not in tasks:
                raise Excluded("task not AU-coded", f"tasks used: {','.join(cfg['bp4d_tasks'])}")
            data = layout.load_trial(ref)
            lengths = data.meta.get("label_len", {})
            row.update(n_frames=data.n_frames, fps=round(float(data.fps), 6),
                       duration_s=round(data.n_frames / data.fps, 6),
                       pulse_len=lengths.get("pulse"), resp_len=lengths.get("resp"))
            if data.au_range is not None:
                start, stop = data.au_range
                uncoded = int(np.any(np.asarray(data.au)[start:stop] < 0, axis=1).sum())
                row.update(au_start=start, au_stop=stop, au_len=stop - start, au_uncoded_frames=uncoded)
            if dataset in ("bp4d", "disfa") and data.au is None:
                raise Excluded("AU occurrence file missing", _rel(ref.paths.get("au", ""), raw))
            check_trial(data, layout.FPS, cfg)
            warning = recorded_rate_warning(data, cfg["min_recorded_hr_bpm"])
            if warning:
                row.update(warning=warning)
                if cfg["implausible_recorded_hr"] == "exclude":
                    raise Excluded(IMPLAUSIBLE_HR_KIND, reason=warning)
            key = fingerprint(data)
            if key in first_of:
                raise Excluded(DUPLICATE_KIND, reason=f"{DUPLICATE_KIND} of {first_of[key]}")
            first_of[key] = ref.trial_id
        except Excluded as exc:
            row.update(status="excluded", reason=exc.reason)
            kinds[exc.kind] += 1
        except InputError as err:
            row.update(status="excluded", reason=f"{err.reason}: {_rel(err.path, raw)}")
            kinds[err.reason] += 1
        except (OSError, ValueError, EOFError, cv2.error, zipfile.BadZipFile, zlib.error,
                NotImplementedError, RuntimeError) as err:
            # a decoder failing in an unforeseen way on bad bytes: still one trial, one reason
            kind = f"unreadable input ({_type_name(err)})"
            row.update(status="excluded", reason=_with_message(kind, err, raw))
            kinds[kind] += 1
        except Exception as err:  # noqa: BLE001 - last guard: one bad trial never stops the stage
            kind = f"unexpected error while reading the trial ({_type_name(err)})"
            row.update(status="excluded", reason=_with_message(kind, err, raw))
            kinds[kind] += 1
        rows.append(row)
    for row, kind in _stray_rows(dataset, getattr(layout, "list_strays", lambda _: [])(raw)):
        rows.append(row)
        kinds[kind] += 1
    table = pd.DataFrame(rows, columns=MANIFEST_COLUMNS)
    for col in INT_COLUMNS:
        table[col] = table[col].astype("Int64")
    return table, kinds


def listing_hash(raw: Path) -> str:
    """Hash of the relative names and sizes of every raw file (cheap on terabytes)."""
    digest = hashlib.sha256()
    for f in sorted(p for p in Path(raw).rglob("*") if p.is_file()):
        digest.update(f"{f.relative_to(raw)}\t{f.stat().st_size}\n".encode())
    return digest.hexdigest()[:16]


def write_manifest(table: pd.DataFrame, kinds: Counter, out: Path, dataset: str, raw: Path,
                   params: dict) -> None:
    """Write manifest.csv and the manifest.json sidecar (provenance, counts)."""
    out = Path(out)
    with atomic_path(out) as tmp:
        table.to_csv(tmp, index=False, lineterminator="\n")
    ok = int((table["status"] == "ok").sum())
    meta = {
        "dataset": dataset,
        "raw": str(raw),
        "data_origin": data_origin(dataset, raw, params),
        "counts": {"trials": len(table), "ok": ok, "excluded": len(table) - ok,
                   "subjects_ok": int(table.loc[table["status"] == "ok", "subject"].nunique()),
                   "by_reason": dict(sorted(kinds.items()))},
        "duplicate_recordings": [{"kept": kept, "excluded": dups}
                                 for kept, dups in sorted(duplicate_groups(table).items())],
        "warnings": {str(t): str(w) for t, w in zip(table["trial_id"], table["warning"]) if w},
        "provenance": {**provenance({"ingest": params["ingest"], "dataset": dataset},
                                    seed=params.get("seed")),
                       "raw_listing_hash": listing_hash(raw)},
    }
    write_json(out.with_suffix(".json"), meta)


def ingest_dataset(dataset: str, raw: Path, out: Path, params: dict) -> str:
    """Scan ``raw``, write the manifest and its sidecar to ``out``; return a one-line summary."""
    if dataset not in params["synth"]["datasets"]:
        require_user_data(dataset, raw)  # one line naming the folder (DVC runs this too)
    table, kinds = ingest(dataset, raw, params["ingest"])
    write_manifest(table, kinds, out, dataset, raw, params)
    ok = int((table["status"] == "ok").sum())
    return f"ingest {dataset}: {len(table)} trials, {ok} ok, {len(table) - ok} excluded -> {out}"

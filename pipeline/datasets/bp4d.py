"""BP4D+ layout: JPEG frames in per-subject zips, 1 kHz physiology text files, AU occurrence CSVs.

::

    2D+3D/<subj>.zip                     members <subj>/<task>/<frame>.jpg (task = 2nd component)
    Physiology/<subj>/<task>/<stem>.txt  one header line, then one sample per line (1 kHz)
    AUCoding/AU_OCC/<subj>_<task>.csv    header; col 0 = 1-based frame number; 34 AU columns

Frames are ordered by the integer value of their file stem (the writer uses zero-padded
0-based numbers). Labels: the BP wave is the pulse ground truth (BP4D+ has no PPG), the
respiration wave, heart and breathing rates, and the 12 AUs used in the paper: 1 active, 0
inactive, -1 not coded. The coded segment runs from the first to the last frame number of the
AU file; inside it, a frame whose row is missing (the frame numbers jump) and an AU marked 9
("unknown") are not coded (-1), so training masks them out of the AU loss and the metrics
instead of counting them as inactive (the authors' code counted every value other than 1 as
inactive). Any other value in a used AU column, or a repeated frame number, raises InputError
naming the file.
"""

from __future__ import annotations

import re
import zipfile
import zlib
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from pipeline.datasets import align
from pipeline.datasets.base import Stray, TrialData, TrialRef, strays
from pipeline.datasets.labels import finite, format_column, read_single_column
from pipeline.datasets.media import decode_image, encode_image, peek
from pipeline.errors import InputError

NAME = "bp4d"
FPS = 25.0
PHYSIOLOGY_HZ = 1000.0
# AU columns of AUCoding/AU_OCC/*.csv, in file order (columns 1..34)
AU_COLUMNS = [1, 2, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 22, 23, 24,
              27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39]
AUS_USED = [1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24]
AU_NAMES = [f"AU{k:02d}" for k in AUS_USED]
# physiology file stem -> TrialData.signals key (the first two are required)
SIGNAL_FILES = {"BP_mmHg": "pulse", "Resp_Volts": "resp",
                "Pulse Rate_BPM": "hr_bpm", "Respiration Rate_BPM": "resp_bpm"}
REQUIRED_FILES = ("BP_mmHg", "Resp_Volts")
SUBJECT_RE = re.compile(r"^[FM]\d{3}$")
TASK_RE = re.compile(r"^T\d+$")
# fixed member metadata so the zip bytes do not depend on when they were written
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)


def _zip_path(root: Path, subject: str) -> Path:
    return root / "2D+3D" / f"{subject}.zip"


def _au_path(root: Path, subject: str, task: str) -> Path:
    return root / "AUCoding" / "AU_OCC" / f"{subject}_{task}.csv"


def _physio_dir(root: Path, subject: str, task: str) -> Path:
    return root / "Physiology" / subject / task


# ---------------------------------------------------------------------------------- writing

def write_trial(root: Path, subject: str, task: str, frames: Iterable[np.ndarray],
                physiology: dict[str, np.ndarray], au_occurrence: np.ndarray | None = None,
                au_first_frame: int = 1, jpeg_quality: int = 90) -> None:
    """Write one BP4D+ trial in the real layout (frames appended to the subject's zip).

    physiology maps file stems (``BP_mmHg``, ``Resp_Volts``, ``Pulse Rate_BPM``,
    ``Respiration Rate_BPM``, optionally others) to 1 kHz sample arrays. au_occurrence is
    (n_coded_frames, 34) int in the order of ``AU_COLUMNS``, its first row being 1-based frame
    ``au_first_frame``.
    """
    root = Path(root)
    zpath = _zip_path(root, subject)
    zpath.parent.mkdir(parents=True, exist_ok=True)
    prefix = f"{subject}/{task}/"
    first, it = peek(frames, zpath)
    mode = "a" if zpath.exists() else "w"
    with zipfile.ZipFile(zpath, mode) as zf:
        if any(name.startswith(prefix) for name in zf.namelist()):
            raise ValueError(f"{zpath}: trial {subject}/{task} already written")
        for i, frame in enumerate(it):
            info = zipfile.ZipInfo(f"{prefix}{i:04d}.jpg", date_time=_ZIP_DATE)
            info.compress_type = zipfile.ZIP_STORED  # JPEG does not deflate further
            info.external_attr = 0o644 << 16
            zf.writestr(info, encode_image(frame, ".jpg", jpeg_quality))
    pdir = _physio_dir(root, subject, task)
    pdir.mkdir(parents=True, exist_ok=True)
    for stem, values in sorted(physiology.items()):
        (pdir / f"{stem}.txt").write_text(format_column(values, stem))
    if au_occurrence is not None:
        occ = np.asarray(au_occurrence)
        if occ.ndim != 2 or occ.shape[1] != len(AU_COLUMNS):
            raise ValueError(f"au_occurrence must be (n, {len(AU_COLUMNS)}), got {occ.shape}")
        table = pd.DataFrame(occ.astype(np.int64), columns=[str(k) for k in AU_COLUMNS])
        table.insert(0, "Frame", np.arange(au_first_frame, au_first_frame + len(occ)))
        apath = _au_path(root, subject, task)
        apath.parent.mkdir(parents=True, exist_ok=True)
        apath.write_text(table.to_csv(index=False, lineterminator="\n"))


# ---------------------------------------------------------------------------------- reading

def _zip_members(zpath: Path, task: str) -> list[str]:
    """JPEG members of one task, ordered by frame number."""
    try:
        with zipfile.ZipFile(zpath) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError):
        raise InputError(zpath, "corrupt zip archive") from None
    members = []
    for name in names:
        parts = name.split("/")
        if len(parts) == 3 and parts[1] == task and parts[2].lower().endswith(".jpg"):
            stem = parts[2][:-4]
            if not stem.isdigit():
                raise InputError(zpath, f"frame name not numeric: {name}")
            members.append((int(stem), name))
    return [name for _, name in sorted(members)]


def list_trials(root: Path) -> list[TrialRef]:
    """Trials found in Physiology/<subj>/<task>/ or in 2D+3D/<subj>.zip, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(root, "dataset folder missing")
    found: set[tuple[str, str]] = set()
    phys = root / "Physiology"
    if phys.is_dir():
        for sdir in phys.iterdir():
            if sdir.is_dir() and SUBJECT_RE.match(sdir.name):
                found.update((sdir.name, t.name) for t in sdir.iterdir()
                             if t.is_dir() and TASK_RE.match(t.name))
    zdir = root / "2D+3D"
    if zdir.is_dir():
        for zpath in zdir.glob("*.zip"):
            if not SUBJECT_RE.match(zpath.stem):
                continue
            try:
                with zipfile.ZipFile(zpath) as zf:
                    tasks = {n.split("/")[1] for n in zf.namelist() if n.count("/") == 2}
            except (zipfile.BadZipFile, OSError):
                tasks = set()  # reported per trial by load_trial
            found.update((zpath.stem, t) for t in tasks if TASK_RE.match(t))
    if not found:
        raise InputError(root, "no BP4D+ trials (expected Physiology/<subj>/<task>/ and 2D+3D/<subj>.zip)")
    refs = []
    for subject, task in sorted(found, key=lambda st: (st[0], int(st[1][1:]))):
        refs.append(TrialRef(NAME, subject, task, f"{subject}{task}", {
            "zip": _zip_path(root, subject), "physiology": _physio_dir(root, subject, task),
            "au": _au_path(root, subject, task)}))
    return refs


AU_UNKNOWN = 9  # AU_OCC code for "could not be coded"


def list_strays(root: Path) -> list[Stray]:
    """Subject zips, subject folders and task folders whose names do not match the layout."""
    root = Path(root)
    phys = root / "Physiology"
    found = strays(root / "2D+3D", root, lambda p: bool(SUBJECT_RE.match(p.stem)), "F<NNN>.zip or M<NNN>.zip",
                   dirs=False, suffix=".zip")
    found += strays(phys, root, lambda p: bool(SUBJECT_RE.match(p.name)), "F<NNN> or M<NNN>")
    if phys.is_dir():
        for sdir in sorted(phys.iterdir()):
            if sdir.is_dir() and SUBJECT_RE.match(sdir.name):
                found += strays(sdir, root, lambda p: bool(TASK_RE.match(p.name)), "T<N>")
    return found


def _read_au(path: Path, n_frames: int) -> tuple[np.ndarray, tuple[int, int]]:
    """(n_frames, 12) AU occurrence (1, 0, -1 not coded) and the coded range [start, stop)."""
    try:
        table = pd.read_csv(path)
    except (ValueError, pd.errors.ParserError, pd.errors.EmptyDataError):
        raise InputError(path, "AU file not parseable") from None
    if table.shape[1] < 1 + len(AU_COLUMNS):
        raise InputError(path, f"AU file has {table.shape[1]} columns, expected {1 + len(AU_COLUMNS)}")
    if table.empty:
        raise InputError(path, "AU file has no coded frames")
    try:
        values = table.to_numpy(dtype=np.float64)
    except ValueError:
        raise InputError(path, "AU file not numeric") from None
    values = finite(values, path)
    if np.any(values[:, 0] != np.round(values[:, 0])):
        raise InputError(path, "AU frame numbers not integers")
    frames = values[:, 0].astype(np.int64)
    if frames.min() < 1 or frames.max() > n_frames:
        raise InputError(path, f"AU frame numbers {frames.min()}..{frames.max()} outside the video (1..{n_frames})")
    unique, counts = np.unique(frames, return_counts=True)
    if np.any(counts > 1):
        raise InputError(path, f"AU frame number {int(unique[counts > 1][0])} appears {int(counts.max())} times")
    codes = values[:, [1 + AU_COLUMNS.index(k) for k in AUS_USED]]
    bad = ~np.isin(codes, (0, 1, AU_UNKNOWN))
    if np.any(bad):
        row, col = (int(v[0]) for v in np.nonzero(bad))
        raise InputError(path, f"AU{AUS_USED[col]:02d} value {codes[row, col]:g} at frame {frames[row]} "
                         f"is not 0, 1 or {AU_UNKNOWN} ({int(bad.sum())} values)")
    au = np.full((n_frames, len(AUS_USED)), -1, np.int8)  # rows absent from the file stay uncoded
    au[frames - 1] = np.where(codes == AU_UNKNOWN, -1, codes).astype(np.int8)
    return au, (int(frames.min()) - 1, int(frames.max()))


def _read_member(zf: zipfile.ZipFile, zpath: Path, name: str) -> bytes:
    """Bytes of one zip member; any failure to extract it raises InputError naming the member.

    zipfile reports bad members through several exception types: ``zlib.error`` (corrupt
    deflate stream), ``BadZipFile`` (CRC mismatch, bad local header), ``EOFError`` (member cut
    short), ``NotImplementedError`` (unsupported compression method), ``RuntimeError``
    (encrypted member).
    """
    where = f"{zpath}:{name}"
    try:
        return zf.read(name)
    except zlib.error:
        raise InputError(where, "corrupt zip member (invalid compressed data)") from None
    except zipfile.BadZipFile as err:
        what = "CRC mismatch" if "CRC" in str(err) else "bad member header"
        raise InputError(where, f"corrupt zip member ({what})") from None
    except EOFError:
        raise InputError(where, "corrupt zip member (compressed data cut short)") from None
    except NotImplementedError:
        info = zf.getinfo(name)
        raise InputError(where, f"zip member uses an unsupported compression method ({info.compress_type})") from None
    except RuntimeError:
        raise InputError(where, "zip member is encrypted (cannot be read without a password)") from None
    except OSError as err:
        raise InputError(where, f"zip member unreadable ({type(err).__name__})") from None


def load_trial(ref: TrialRef) -> TrialData:
    """Read one BP4D+ trial: frame count, aligned physiology and AU occurrence."""
    zpath, pdir, apath = ref.paths["zip"], ref.paths["physiology"], ref.paths["au"]
    if not zpath.is_file():
        raise InputError(zpath, "frame archive missing")
    members = _zip_members(zpath, ref.task)
    if not members:
        raise InputError(zpath, f"no frames for task {ref.task}")
    n_frames = len(members)
    try:
        with zipfile.ZipFile(zpath) as zf:
            first = decode_image(_read_member(zf, zpath, members[0]), f"{zpath}:{members[0]}")
    except (zipfile.BadZipFile, OSError):
        raise InputError(zpath, "corrupt zip archive") from None
    if not pdir.is_dir():
        raise InputError(pdir, "physiology folder missing")
    signals: dict[str, np.ndarray] = {}
    lengths: dict[str, int] = {}
    for stem, key in SIGNAL_FILES.items():
        path = pdir / f"{stem}.txt"
        if not path.is_file():
            if stem in REQUIRED_FILES:
                raise InputError(path, "physiology file missing")
            continue
        raw = read_single_column(path)
        lengths[key] = len(raw)
        signals[key] = align.stretch(raw, n_frames)
    au, au_range = (None, None)
    if apath.is_file():
        au, au_range = _read_au(apath, n_frames)

    def frames() -> Iterator[np.ndarray]:
        try:
            zf = zipfile.ZipFile(zpath)
        except (zipfile.BadZipFile, OSError):
            raise InputError(zpath, "corrupt zip archive") from None
        with zf:
            for name in members:
                yield decode_image(_read_member(zf, zpath, name), f"{zpath}:{name}")

    return TrialData(
        ref=ref, fps=FPS, n_frames=n_frames, frame_shape=tuple(first.shape), frames=frames,
        signals=signals, pulse_kind="bp", au=au, au_names=list(AU_NAMES) if au is not None else [],
        au_range=au_range,
        meta={"video_duration_s": n_frames / FPS,
              "label_duration_s": {k: n / PHYSIOLOGY_HZ for k, n in lengths.items()},
              "label_len": lengths})

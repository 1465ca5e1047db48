"""The preprocessed chunk cache: on-disk layout and the reader API used for training.

Folder layout (written by ``pipeline.preprocess``)::

    data/cache/<dataset>/<key>/
        index.csv          trial_id, subject, task, n_frames, n_chunks, fps, file, labels
        cache_info.json    key, dataset, format and code version, settings, provenance
        <trial_id>.h5      one file per trial

``<key>`` hashes every preprocessing setting that shapes the content plus the code version;
the cache folder holds exactly one key folder. ``labels`` in index.csv lists the label
datasets present in the trial's file, space-separated.

HDF5 file of one trial (L stored frames; S = big_size, s = small_size; frame t of every
array refers to the same video frame, ``frame_index[t]``)::

    big            (L, S, S, 3) uint8   square crop resized with INTER_AREA, RGB; attrs
                                        ``mean``, ``std``: the trial's scalar statistics.
                                        Model input = (big - mean) / std (0 where std is 0)
    small          (L, s, s, 3) float32 (or float16) normalised difference frames
                                        (x[t+1]-x[t])/(x[t+1]+x[t]+1e-7) at size S, resized to s,
                                        divided by their whole-trial std (attr ``diff_std``)
    rgb_mean       (L, 3)       float64 per-frame face-mean RGB at native size: over the skin
                                        pixels of the square crop or the whole crop (attr
                                        ``face_trace`` says which; see pipeline/preprocess.py)
    skin_fraction  (L,)         float32 fraction of the crop's pixels taken as skin
    frame_index    (L,)         int64   video frame number of stored frame t
    labels/        group, every dataset (L,) float32 unless noted; present where available:
        pulse, resp            diff(x)/std(diff(x)) of the pulse wave (BP wave for BP4D+, PPG
                               otherwise) and of the respiration wave
        pulse_raw, resp_raw    the waves themselves, aligned to frames
        pos_ppg                diff-normalised envelope-normalised POS pseudo-PPG (training
                               pulse target for BP4D+)
        pos_ppg_raw            envelope-normalised POS pseudo-PPG
        pos_ppg_filtered       POS pseudo-PPG after the band-pass, before envelope normalisation
                               (the three pos_ppg labels are absent from a PPG trial whose
                               pseudo-label failed; group attr ``pos_ppg_missing`` says why)
        hr_bpm, resp_bpm       rates aligned to frames
        au                     (L, K) int8: 1 active, 0 inactive, -1 not coded; attr ``au_names``

File attributes: ``format_version``, ``dataset``, ``subject``, ``task``, ``trial_id``, ``fps``,
``n_frames`` (= L), ``video_n_frames``, ``segment`` ([start, stop) of the processed video
frames), ``pulse_kind`` (``bp`` | ``ppg`` | ''), ``au_range`` ([start, stop) of the AU-coded
frames, [-1, -1] if none), ``cache_key``, ``chunk_length``, ``crop_anchor``, ``diff_tail``
(``trim``: L = T-1; ``pad_zero``: L = T with a zero last difference), ``settings`` and
``provenance`` (JSON strings).

Chunks are views: chunk k of length N is frames ``[k*N, k*N + N)``; a trial has ``L // N``
chunks (the tail is dropped, as the authors). HDF5 chunking of ``big`` and ``small`` is a whole
number of N-frame chunks, so reading one chunk touches one HDF5 chunk.
"""

from __future__ import annotations

import bisect
import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import h5py
import numpy as np
import pandas as pd

from pipeline.errors import InputError

FORMAT_VERSION = "2"
INDEX_COLUMNS = ("trial_id", "subject", "task", "n_frames", "n_chunks", "fps", "file", "labels")
# face-trace quality per trial, after INDEX_COLUMNS in index.csv: the region used, the mean
# fraction of the crop it covers, the POS pulse SNR (dB) on the trace and its low-SNR flag
QUALITY_COLUMNS = ("face_trace", "face_fraction", "pulse_snr_db", "low_snr")
# target size of one HDF5 chunk; always a whole number of N-frame chunks
_TARGET_CHUNK_BYTES = 1 << 16


def chunk_rows(chunk_length: int, frame_bytes: int, n_frames: int) -> int:
    """Frames per HDF5 chunk: a multiple of ``chunk_length`` near 64 KiB, at most the length."""
    per = max(1, _TARGET_CHUNK_BYTES // max(1, chunk_length * frame_bytes))
    return max(1, min(chunk_length * per, n_frames))


@dataclass
class CacheIndex:
    """One keyed cache folder: its index table and its info record."""

    root: Path
    key: str
    info: dict[str, Any]
    table: pd.DataFrame

    @property
    def trial_ids(self) -> list[str]:
        return list(self.table["trial_id"])

    def row(self, trial_id: str) -> pd.Series:
        hit = self.table[self.table["trial_id"] == trial_id]
        if hit.empty:
            raise KeyError(f"trial {trial_id} not in cache {self.root}")
        return hit.iloc[0]

    def path(self, trial_id: str) -> Path:
        return self.root / str(self.row(trial_id)["file"])

    def open(self, trial_id: str) -> "TrialCache":
        return TrialCache(self.path(trial_id))


def _key_folder(root: Path) -> Path:
    if (root / "index.csv").is_file():
        return root
    if not root.is_dir():
        raise InputError(root, "cache folder not found")
    keys = sorted(p for p in root.iterdir() if p.is_dir() and (p / "index.csv").is_file())
    if len(keys) != 1:
        raise InputError(root, f"expected exactly one cache key folder, found {len(keys)}")
    return keys[0]


def open_cache(root: str | Path) -> CacheIndex:
    """Open ``data/cache/<dataset>`` (or its key folder directly) and read index.csv."""
    folder = _key_folder(Path(root))
    try:
        table = pd.read_csv(
            folder / "index.csv",
            dtype={"trial_id": str, "subject": str, "task": str, "file": str, "labels": str},
            keep_default_na=False,
        )
        info = json.loads((folder / "cache_info.json").read_text())
    except (OSError, ValueError, pd.errors.ParserError) as err:
        raise InputError(folder, f"unreadable cache index ({type(err).__name__})") from None
    if info.get("format_version") != FORMAT_VERSION:
        raise InputError(folder, f"cache format {info.get('format_version')} != {FORMAT_VERSION}")
    return CacheIndex(root=folder, key=str(info.get("key", folder.name)), info=info, table=table)


def standardise(big_u8: np.ndarray, mean: float, std: float) -> np.ndarray:
    """``(x - mean) / std`` as float32; zeros where ``std`` is 0 (NaN -> 0, as the authors)."""
    if not np.isfinite(std) or std <= 0:
        return np.zeros(big_u8.shape, dtype=np.float32)
    return ((big_u8.astype(np.float32) - np.float32(mean)) / np.float32(std)).astype(np.float32)


class TrialCache:
    """One trial's HDF5 file, opened read-only on first use (context manager or ``close()``)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._h5: h5py.File | None = None
        self._labels: dict[str, np.ndarray] | None = None

    @property
    def h5(self) -> h5py.File:
        if self._h5 is None:
            try:
                self._h5 = h5py.File(self.path, "r")
            except OSError:
                raise InputError(self.path, "cannot open cache file") from None
        return self._h5

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()
            self._h5 = None

    def __enter__(self) -> "TrialCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def attrs(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, value in self.h5.attrs.items():
            if isinstance(value, bytes):
                value = value.decode()
            if name in ("settings", "provenance"):
                value = json.loads(value)
            elif isinstance(value, np.ndarray):
                value = value.tolist()
            elif isinstance(value, np.generic):
                value = value.item()
            out[name] = value
        return out

    @property
    def n_frames(self) -> int:
        return int(self.h5.attrs["n_frames"])

    @property
    def fps(self) -> float:
        return float(self.h5.attrs["fps"])

    @property
    def big_mean(self) -> float:
        return float(self.h5["big"].attrs["mean"])

    @property
    def big_std(self) -> float:
        return float(self.h5["big"].attrs["std"])

    def big(self, start: int = 0, stop: int | None = None, standardised: bool = True) -> np.ndarray:
        """Big frames ``[start, stop)`` as (n, S, S, 3): standardised float32 or stored uint8."""
        raw = self.h5["big"][start:stop]
        return standardise(raw, self.big_mean, self.big_std) if standardised else raw

    def small(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """Small frames ``[start, stop)`` as float32 (n, s, s, 3)."""
        return self.h5["small"][start:stop].astype(np.float32)

    @property
    def rgb_mean(self) -> np.ndarray:
        return self.h5["rgb_mean"][()]

    @property
    def frame_index(self) -> np.ndarray:
        return self.h5["frame_index"][()]

    @property
    def labels(self) -> dict[str, np.ndarray]:
        """Every label dataset, read once into memory (labels are per-frame scalars)."""
        if self._labels is None:
            self._labels = {name: ds[()] for name, ds in self.h5["labels"].items()}
        return self._labels

    @property
    def au_names(self) -> list[str]:
        if "au" not in self.h5["labels"]:
            return []
        return [n.decode() if isinstance(n, bytes) else str(n)
                for n in self.h5["labels"]["au"].attrs["au_names"]]

    def n_chunks(self, chunk_length: int) -> int:
        return self.n_frames // chunk_length


def _label_arrays(
    labels: dict[str, np.ndarray], names: Sequence[str], sl: slice, au_cols: list[int] | None
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for name in names:
        value = labels[name][sl]
        if name == "au":
            if au_cols is not None:
                value = value[:, au_cols]
            # authors' binarisation: every value other than 1 (including uncoded) is 0
            out["au"] = (value == 1).astype(np.float32)
            out["au_mask"] = (value >= 0).astype(np.float32)
        else:
            out[name] = value.astype(np.float32)
    return out


class ChunkDataset:
    """N-frame chunks of cached trials, for ``torch.utils.data.DataLoader``.

    Item ``i`` is chunk k of trial j (trials in the given order, chunks in time order):
    ``(big (N,3,S,S) float32 standardised, small (N,3,s,s) float32, labels)`` where labels maps
    each requested label name to a float32 array (N,) (``au``: (N,K) in {0,1} plus ``au_mask``
    (N,K), 1 where the AU was coded). HDF5 files are opened lazily in the process that reads
    (each DataLoader worker opens its own handles), never in ``__init__``.

    tasks: label names to return (names in the ``labels`` group, e.g. ``pos_ppg``, ``resp``,
      ``au``); None returns every label present in all selected trials.
    au_names: AU columns to keep, by name, in this order (None keeps all).
    """

    def __init__(
        self,
        root: str | Path,
        trial_ids: Sequence[str] | None = None,
        chunk_length: int | None = None,
        tasks: Sequence[str] | None = None,
        au_names: Sequence[str] | None = None,
        max_open_files: int = 32,
    ):
        self.index = open_cache(root)
        self.trial_ids = list(self.index.trial_ids if trial_ids is None else trial_ids)
        rows = [self.index.row(t) for t in self.trial_ids]
        settings = self.index.info.get("settings", {})
        self.chunk_length = int(chunk_length or settings.get("chunk_length", 3))
        if self.chunk_length < 1:
            raise ValueError("chunk_length must be >= 1")
        present = [set(str(r["labels"]).split()) for r in rows]
        common = set.intersection(*present) if present else set()
        if tasks is None:
            self.tasks = sorted(common)
        else:
            self.tasks = list(tasks)
            for tid, have in zip(self.trial_ids, present):
                lacking = [t for t in self.tasks if t not in have]
                if lacking:
                    raise InputError(self.index.path(tid), f"no label '{lacking[0]}' in this trial")
        self.au_names = None if au_names is None else list(au_names)
        self._paths = [self.index.root / str(r["file"]) for r in rows]
        counts = [int(r["n_frames"]) // self.chunk_length for r in rows]
        self._offsets = np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]).tolist()
        self._max_open = max(1, int(max_open_files))
        self._open: OrderedDict[int, TrialCache] = OrderedDict()
        self._au_cols: dict[int, list[int] | None] = {}
        self._pid: int | None = None

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def locate(self, i: int) -> tuple[str, int]:
        """``(trial_id, chunk k)`` of item ``i``."""
        j, k = self._locate(i)
        return self.trial_ids[j], k

    def index_of(self, trial_id: str, k: int) -> int:
        """Item index of chunk ``k`` of ``trial_id``."""
        j = self.trial_ids.index(trial_id)
        n = self._offsets[j + 1] - self._offsets[j]
        if not 0 <= k < n:
            raise IndexError(f"chunk {k} out of range for {trial_id} ({n} chunks)")
        return int(self._offsets[j] + k)

    def trial_items(self, trial_id: str) -> range:
        """Item indices of all chunks of ``trial_id``, in time order."""
        j = self.trial_ids.index(trial_id)
        return range(int(self._offsets[j]), int(self._offsets[j + 1]))

    def _locate(self, i: int) -> tuple[int, int]:
        n = len(self)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"item {i} out of range ({n} items)")
        j = bisect.bisect_right(self._offsets, i) - 1
        return j, int(i - self._offsets[j])

    def _trial(self, j: int) -> TrialCache:
        if self._pid != os.getpid():  # forked worker: never reuse the parent's handles
            self._open = OrderedDict()
            self._pid = os.getpid()
        trial = self._open.get(j)
        if trial is None:
            trial = TrialCache(self._paths[j])
            self._open[j] = trial
            if len(self._open) > self._max_open:
                _, old = self._open.popitem(last=False)
                old.close()
            if self.au_names is not None and "au" in self.tasks:
                have = trial.au_names
                missing = [a for a in self.au_names if a not in have]
                if missing:
                    raise InputError(self._paths[j], f"no AU '{missing[0]}' in this trial")
                self._au_cols[j] = [have.index(a) for a in self.au_names]
        else:
            self._open.move_to_end(j)
        return trial

    def __getitem__(self, i: int) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        j, k = self._locate(int(i))
        trial = self._trial(j)
        n = self.chunk_length
        sl = slice(k * n, k * n + n)
        big = trial.big(sl.start, sl.stop).transpose(0, 3, 1, 2)
        small = trial.small(sl.start, sl.stop).transpose(0, 3, 1, 2)
        labels = _label_arrays(trial.labels, self.tasks, sl, self._au_cols.get(j))
        return np.ascontiguousarray(big), np.ascontiguousarray(small), labels

    def close(self) -> None:
        for trial in self._open.values():
            trial.close()
        self._open.clear()

    def __getstate__(self) -> dict[str, Any]:
        # open HDF5 handles cannot travel to worker processes
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()
        state["_pid"] = None
        return state

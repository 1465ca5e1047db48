"""Reading the chunk cache: a keyed cache folder (index and info) and one trial's HDF5 file.
The layout is documented in ``pipeline.cache.format``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from pipeline.cache.format import FORMAT_VERSION
from pipeline.errors import InputError


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
    def rgb_mean_crop(self) -> np.ndarray:
        """The whole crop's per-frame mean RGB (the authors' trace), whatever ``rgb_mean`` used."""
        if "rgb_mean_crop" not in self.h5:
            raise InputError(self.path, "no rgb_mean_crop (written by an older preprocess: re-run it)")
        return self.h5["rgb_mean_crop"][()]

    @property
    def rgb_mean_box(self) -> np.ndarray:
        """The per-frame mean RGB over the rPPG-Toolbox's face box (Haar face of the first frame
        enlarged 1.5 times, or the whole frame when none was found)."""
        if "rgb_mean_box" not in self.h5:
            raise InputError(self.path, "no rgb_mean_box (written by an older preprocess: re-run it)")
        return self.h5["rgb_mean_box"][()]

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

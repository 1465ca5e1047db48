"""N-frame chunks of cached trials for training (``torch.utils.data`` compatible)."""

from __future__ import annotations

import bisect
import os
from collections import OrderedDict
from pathlib import Path
from typing import Sequence

import numpy as np

from pipeline.cache.reader import TrialCache, open_cache
from pipeline.errors import InputError


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


SMALL_IN_MEMORY_BYTES = 512 * 2**20


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
    inputs: which of ("big", "small") to read; an input not read comes back as an empty
      (N, 0) array (a Small-only model never pays for reading 144x144 frames).
    """

    def __init__(
        self,
        root: str | Path,
        trial_ids: Sequence[str] | None = None,
        chunk_length: int | None = None,
        tasks: Sequence[str] | None = None,
        au_names: Sequence[str] | None = None,
        max_open_files: int = 32,
        inputs: Sequence[str] = ("big", "small"),
    ):
        self.inputs = tuple(inputs)
        unknown = [i for i in self.inputs if i not in ("big", "small")]
        if unknown:
            raise ValueError(f"unknown input {unknown[0]!r}; inputs are 'big' and 'small'")
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
        # every trial's Small frames, read whole on first use and kept (9x9x3 float32 is about 1 kB
        # a frame): one HDF5 read per trial instead of one per chunk, which dominated the step time
        # of the Small-only models; beyond SMALL_IN_MEMORY_BYTES chunks are read one by one
        size = int(settings.get("small_size", 9))
        small_bytes = sum(int(r["n_frames"]) for r in rows) * size * size * 3 * 4
        self._keep_small = "small" in self.inputs and small_bytes <= SMALL_IN_MEMORY_BYTES
        self._small: dict[int, np.ndarray] = {}
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
            self._small = {}
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
        empty = np.zeros((n, 0), dtype=np.float32)
        big = trial.big(sl.start, sl.stop).transpose(0, 3, 1, 2) if "big" in self.inputs else empty
        if "small" not in self.inputs:
            small = empty
        elif self._keep_small:
            if j not in self._small:
                self._small[j] = trial.small()
            small = self._small[j][sl].transpose(0, 3, 1, 2)
        else:
            small = trial.small(sl.start, sl.stop).transpose(0, 3, 1, 2)
        labels = _label_arrays(trial.labels, self.tasks, sl, self._au_cols.get(j))
        return np.ascontiguousarray(big), np.ascontiguousarray(small), labels

    def close(self) -> None:
        for trial in self._open.values():
            trial.close()
        self._open.clear()
        self._small.clear()

    def __getstate__(self) -> dict[str, Any]:
        # open HDF5 handles cannot travel to worker processes
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()
        state["_small"] = {}
        state["_pid"] = None
        return state

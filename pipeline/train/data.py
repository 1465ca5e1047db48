"""Which cached chunks a run trains on, and the order it sees them in.

- ``plan_chunks``: the training chunks of a ``ChunkDataset`` (all, or only the chunks lying
  wholly inside their trial's AU-coded range, as the paper trains on the AU-coded frames),
  optionally every k-th chunk of each trial, optionally a seeded subsample of them (the same
  chunks every epoch), and the AU codes of exactly those chunks (for the fold's ``pos_weight``).
- ``EpochBatches``: shuffled batches of chunk indices; epoch ``e`` of seed ``s`` always gives the
  same order, whatever happened before (so a resumed run sees what an uninterrupted one saw).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import Sampler

from pipeline.cache.dataset import ChunkDataset


@dataclasses.dataclass
class ChunkPlan:
    """indices: dataset items to train on, ascending. per_trial: trial -> [selected, total]
    chunks. au_codes: the cache's AU codes (frames of the selected chunks, K), or None."""

    indices: list[int]
    per_trial: dict[str, list[int]]
    au_codes: np.ndarray | None


def coded_chunks(frame_index: np.ndarray, au_range: Sequence[int], chunk_length: int) -> np.ndarray:
    """Per chunk of a trial: True when all its N frames lie in the AU-coded video frames
    ``[au_range[0], au_range[1])``. ``frame_index[t]`` is the video frame of stored frame t (a
    cache cut to the AU range starts at its first coded frame); ``[-1, -1]`` means none coded."""
    n = len(frame_index) // chunk_length
    start, stop = int(au_range[0]), int(au_range[1])
    if n == 0 or start < 0 or stop <= start:
        return np.zeros(n, dtype=bool)
    frames = np.asarray(frame_index[: n * chunk_length]).reshape(n, chunk_length)
    return ((frames >= start) & (frames < stop)).all(axis=1)


def subsample_seed(seed: int) -> np.random.Generator:
    """The generator of the ``max_chunks`` subsample (its own stream of ``seed``)."""
    return np.random.default_rng([int(seed), 0x5AB5])


def plan_chunks(dataset: ChunkDataset, *, au_coded_only: bool, max_chunks: int | None,
                seed: int, au_names: Sequence[str] | None = None, stride: int = 1) -> ChunkPlan:
    """Select the training chunks of ``dataset`` (see the module docstring).

    au_coded_only: keep only chunks wholly inside their trial's ``au_range`` attribute.
    stride: keep only chunks ``0, stride, 2 * stride, ...`` of each trial (counted over all its
        chunks, so with 1-frame chunks and stride 3 the frames kept are the first frames of its
        3-frame chunks, the Big frames BigSmall's down-sampled Big branch sees, and the first
        frame of a tail shorter than a chunk).
    max_chunks: None for all; else ``min(max_chunks, available)`` chunks drawn without
        replacement by ``subsample_seed(seed)``.
    au_names: AU columns whose codes to return (None: no AU codes are read).
    """
    n = dataset.chunk_length
    indices: list[int] = []
    per_trial: dict[str, list[int]] = {}
    codes: dict[int, np.ndarray] = {}
    for tid in dataset.trial_ids:
        items = dataset.trial_items(tid)
        with dataset.index.open(tid) as trial:
            if au_coded_only:
                keep = coded_chunks(trial.frame_index, trial.attrs["au_range"], n)[: len(items)]
            else:
                keep = np.ones(len(items), dtype=bool)
            keep &= np.arange(len(keep)) % int(stride) == 0
            if au_names is not None:
                have = trial.au_names
                cols = [have.index(a) for a in au_names]
                au = np.asarray(trial.labels["au"])[:, cols]
                for k in np.flatnonzero(keep):
                    codes[items[k]] = au[k * n : k * n + n]
        chosen = [items[k] for k in np.flatnonzero(keep)]
        indices.extend(chosen)
        per_trial[tid] = [len(chosen), len(items)]
    if max_chunks is not None and len(indices) > int(max_chunks):
        pick = subsample_seed(seed).choice(len(indices), size=int(max_chunks), replace=False)
        kept = set(indices[i] for i in pick)
        indices = sorted(kept)
        for tid in dataset.trial_ids:
            per_trial[tid][0] = sum(1 for i in dataset.trial_items(tid) if i in kept)
    au_codes = None
    if au_names is not None:
        k = len(au_names)
        au_codes = (np.concatenate([codes[i] for i in indices]) if indices
                    else np.zeros((0, k), dtype=np.int8))
    return ChunkPlan(indices=indices, per_trial=per_trial, au_codes=au_codes)


def epoch_seed(seed: int, epoch: int) -> int:
    """Seed of epoch ``epoch``'s shuffle: a function of the run seed and the epoch only."""
    return int(np.random.SeedSequence([int(seed), int(epoch), 0xE90C]).generate_state(1, np.uint64)[0] >> 1)


class EpochBatches(Sampler[list[int]]):
    """Batches of ``batch_chunks`` dataset indices, shuffled afresh each epoch (``set_epoch``)
    by a generator seeded with ``epoch_seed(seed, epoch)``; the last batch may be smaller.
    Used as a DataLoader ``batch_sampler`` (iterated in the main process, so persistent
    workers see the new epoch)."""

    def __init__(self, indices: Sequence[int], batch_chunks: int, seed: int):
        if batch_chunks < 1:
            raise ValueError("batch_chunks must be >= 1")
        self.indices = list(indices)
        self.batch_chunks = int(batch_chunks)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def order(self, epoch: int | None = None) -> list[int]:
        g = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch if epoch is None else epoch))
        perm = torch.randperm(len(self.indices), generator=g).tolist()
        return [self.indices[i] for i in perm]

    def __iter__(self) -> Iterator[list[int]]:
        order = self.order()
        for s in range(0, len(order), self.batch_chunks):
            yield order[s : s + self.batch_chunks]

    def __len__(self) -> int:
        return math.ceil(len(self.indices) / self.batch_chunks)

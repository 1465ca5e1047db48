"""Frame-aligned predictions of a trained model over cached trials, and the checkpoint loader.

A trial of L cached frames is cut into ``L // N`` chunks of N frames in time order (chunk k is
frames ``[k*N, k*N + N)``, the tail that does not fill a chunk is dropped, as in training and
as the authors); batches of chunks go through the model in ``eval()`` mode under
``torch.no_grad()``, so memory is bounded by the batch, not by the trial. The per-frame
outputs are concatenated in chunk order: one sequence per trial of ``n_chunks * N`` frames,
aligned with the cache's frames ``[0, n_chunks * N)`` (``frame_index`` gives their video frame
numbers).

Outputs per trial (:class:`TrialPrediction`): ``pulse`` (the model's difference-normalised
pulse wave), ``resp`` (breathing wave, same convention) and ``au_logits`` (frames, K); each is
None when no model predicts that task.

A run may train one model for all tasks or one single-task model per task; ``models`` is one
module, a list of modules, or a mapping ``group -> module`` where the group is ``'all'`` or a
task name (a task's own group wins over ``'all'``).

Checkpoints are dicts saved by the training library with the keys :data:`CHECKPOINT_KEYS`:
``'model'`` (the state_dict), ``'variant'`` (registry name) and ``'options'`` (the
constructor options given to ``build_model``); other keys (``au_names``, ``tasks``, ...) are
kept as ``model.checkpoint_info``, less the training state (optimizer, scaler, rng).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from pipeline.cache.reader import open_cache
from pipeline.errors import InputError
from pipeline.models.device import pick_device, place
from pipeline.models.registry import build_model, variant_info

CHECKPOINT_KEYS = ("model", "variant", "options")
_TRAINING_STATE = frozenset({"model", "optimizer", "scaler", "rng"})
TASKS = ("au", "pulse", "resp")
DEFAULT_BATCH_CHUNKS = 32
_AMP_DTYPES = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
               "float16": torch.float16}

Models = nn.Module | Sequence[nn.Module] | Mapping[str, nn.Module]


@dataclass
class TrialPrediction:
    """One trial's frame-aligned outputs (frames ``[0, n_chunks * chunk_length)`` of the cache)."""

    trial_id: str
    fps: float
    chunk_length: int
    n_frames: int                  # frames in the cache (L); the last L % N are not predicted
    frame_index: np.ndarray        # (n_chunks * N,) int64 video frame numbers
    pulse: np.ndarray | None       # (n_chunks * N,) float32, difference-normalised pulse wave
    resp: np.ndarray | None        # (n_chunks * N,) float32, difference-normalised breathing wave
    au_logits: np.ndarray | None   # (n_chunks * N, K) float32

    @property
    def n_predicted(self) -> int:
        return int(self.frame_index.size)

    @property
    def n_chunks(self) -> int:
        return self.n_predicted // self.chunk_length

    def output(self, task: str) -> np.ndarray | None:
        return {"pulse": self.pulse, "resp": self.resp, "au": self.au_logits}[task]


# ---------------------------------------------------------------------------------------------
# checkpoints


def load_checkpoint_model(path: str | Path, device: str | torch.device | None = None) -> nn.Module:
    """Rebuild the variant saved in checkpoint ``path`` and load its weights (strictly).

    The file is read with ``torch.load(path, weights_only=True)``: a dict with ``'model'``
    (state_dict), ``'variant'`` (registry name) and ``'options'`` (``build_model`` options).
    Returns the model on ``device`` (default: CUDA when available) in ``eval()`` mode, with
    ``model.variant`` and ``model.checkpoint_info`` (the other keys, less the training state) set.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "checkpoint not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling refused or a corrupt file
        raise InputError(path, f"unreadable checkpoint ({type(err).__name__}: {err})") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in CHECKPOINT_KEYS):
        have = sorted(ckpt) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise InputError(path, f"checkpoint needs keys {list(CHECKPOINT_KEYS)}, has {have}")
    options = dict(ckpt["options"] or {})
    try:
        model = build_model(str(ckpt["variant"]), **options)
    except (TypeError, ValueError) as err:
        raise InputError(path, f"cannot rebuild variant {ckpt['variant']!r}: {err}") from None
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise InputError(path, f"weights do not fit variant {ckpt['variant']!r}: {err}") from None
    # what the run recorded (au_names, tasks, epoch, ...), without the weights and training state
    model.checkpoint_info = {k: v for k, v in ckpt.items()  # type: ignore[attr-defined]
                             if k not in _TRAINING_STATE and not isinstance(v, torch.Tensor)}
    return place(model, pick_device(device)).eval()


# ---------------------------------------------------------------------------------------------
# helpers


def amp_dtype(amp: bool | str | None) -> torch.dtype | None:
    """Autocast dtype of the ``amp`` setting: False/None/'none'/'fp32' = off, True = bfloat16."""
    if amp in (None, False, "none", "off", "false", "fp32"):
        return None
    if amp is True:
        return torch.bfloat16
    try:
        return _AMP_DTYPES[str(amp).lower()]
    except KeyError:
        raise ValueError(f"amp must be false, true, 'fp32', 'bf16' or 'fp16', got {amp!r}") from None


def _group_map(models: Models) -> dict[str, nn.Module]:
    if isinstance(models, nn.Module):
        return {"all": models}
    if isinstance(models, Mapping):
        out = dict(models)
    else:
        out = {f"model{i}": m for i, m in enumerate(models)}
    if not out:
        raise ValueError("no model given")
    return out


def model_inputs(model: nn.Module) -> tuple[str, ...]:
    """Which of ('big', 'small') the model reads: the registry's record for a registered
    variant, both otherwise."""
    name = getattr(model, "variant", None)
    if isinstance(name, str):
        try:
            return variant_info(name).inputs
        except ValueError:
            pass
    return ("big", "small")


def chunk_length_of(models: Mapping[str, nn.Module], requested: int | None, cache_default: int) -> int:
    """N shared by the models (their ``n_frames``); ``requested`` must agree with it; models
    without ``n_frames`` (single-frame models) take ``requested`` or the cache's N."""
    own = {int(m.n_frames) for m in models.values() if isinstance(getattr(m, "n_frames", None), int)}
    if len(own) > 1:
        raise ValueError(f"models disagree on the chunk length N: {sorted(own)}")
    if own:
        n = own.pop()
        if requested is not None and int(requested) != n:
            raise ValueError(f"chunk length {requested} requested, the model was built for N={n}")
        return n
    n = int(requested) if requested is not None else int(cache_default)
    if n < 1:
        raise ValueError(f"chunk length must be >= 1, got {n}")
    return n


def _assign(groups: dict[str, nn.Module], outputs: dict[str, set[str]], tasks: Sequence[str] | None
            ) -> dict[str, str]:
    """task -> group whose model predicts it. A task's own group wins, then 'all'; otherwise
    the one model that gives it."""
    wanted = list(tasks) if tasks is not None else [t for t in TASKS if any(t in o for o in outputs.values())]
    out: dict[str, str] = {}
    for task in wanted:
        if task not in TASKS:
            raise ValueError(f"unknown task {task!r}; known: {', '.join(TASKS)}")
        if task in groups:
            group = task
        elif "all" in groups:
            group = "all"
        else:
            having = [g for g, o in outputs.items() if task in o]
            if len(having) != 1:
                raise ValueError(f"task {task!r}: {'no model' if not having else 'several models'} "
                                 f"predicts it ({', '.join(having) or 'none'})")
            group = having[0]
        if task not in outputs[group]:
            raise ValueError(f"task {task!r}: the model of group {group!r} has no {task} output "
                             f"(it gives {', '.join(sorted(outputs[group])) or 'nothing'})")
        out[task] = group
    if not out:
        raise ValueError("the models predict none of the tasks au, pulse, resp")
    return out


# ---------------------------------------------------------------------------------------------
# prediction


def iter_predictions(
    models: Models,
    cache_root: str | Path,
    trial_ids: Sequence[str],
    *,
    tasks: Sequence[str] | None = None,
    device: str | torch.device | None = None,
    batch_chunks: int = DEFAULT_BATCH_CHUNKS,
    amp: bool | str | None = False,
    chunk_length: int | None = None,
    progress: bool = False,
) -> Iterator[TrialPrediction]:
    """Yield one :class:`TrialPrediction` per trial of ``trial_ids``, in that order.

    ``tasks`` limits the outputs (default: every task some model predicts); ``batch_chunks``
    chunks go through the model at once; ``amp`` enables autocast (True/'bf16' or 'fp16');
    ``chunk_length`` defaults to the models' ``n_frames`` (or the cache's N for single-frame
    models). Models are moved to ``device`` and put in eval mode for the duration (their
    training flag is restored afterwards). A trial shorter than one chunk yields empty arrays.
    """
    if int(batch_chunks) < 1:
        raise ValueError(f"batch_chunks must be >= 1, got {batch_chunks}")
    groups = _group_map(models)
    dev = pick_device(device)
    dtype = amp_dtype(amp)
    index = open_cache(cache_root)
    n = chunk_length_of(groups, chunk_length, int(index.info.get("settings", {}).get("chunk_length", 3)))
    modes = {g: m.training for g, m in groups.items()}
    for m in groups.values():
        place(m, dev).eval()
    assignment: dict[str, str] | None = None
    try:
        bar = tqdm(list(trial_ids), desc="predict", unit="trial", disable=not progress, file=sys.stderr)
        for trial_id in bar:
            with index.open(str(trial_id)) as trial:
                pred, assignment = _predict_trial(trial, str(trial_id), groups, assignment, tasks, n,
                                                  dev, dtype, int(batch_chunks))
            yield pred
    finally:
        for g, m in groups.items():
            m.train(modes[g])


def predict_trials(models: Models, cache_root: str | Path, trial_ids: Sequence[str], **kwargs: Any
                   ) -> dict[str, TrialPrediction]:
    """``{trial_id: TrialPrediction}`` for ``trial_ids`` (see :func:`iter_predictions`)."""
    return {p.trial_id: p for p in iter_predictions(models, cache_root, trial_ids, **kwargs)}


def _forward(model: nn.Module, big: torch.Tensor | None, small: torch.Tensor | None,
             dev: torch.device, dtype: torch.dtype | None) -> dict[str, torch.Tensor]:
    inputs = model_inputs(model)
    b = big if "big" in inputs else None
    s = small if "small" in inputs else None
    if dtype is None:
        out = model(b, s)
    else:
        with torch.autocast(device_type=dev.type, dtype=dtype):
            out = model(b, s)
    if not isinstance(out, Mapping):
        raise TypeError(f"model returned {type(out).__name__}, expected a dict task -> tensor")
    return dict(out)


def _predict_trial(trial: Any, trial_id: str, groups: dict[str, nn.Module],
                   assignment: dict[str, str] | None, tasks: Sequence[str] | None, n: int,
                   dev: torch.device, dtype: torch.dtype | None, batch_chunks: int
                   ) -> tuple[TrialPrediction, dict[str, str] | None]:
    length = trial.n_frames
    n_chunks = length // n
    frames = n_chunks * n
    frame_index = np.asarray(trial.frame_index[:frames], dtype=np.int64)
    arrays: dict[str, np.ndarray] = {}
    # the models that run: all of them until the first batch has shown who predicts what
    running = groups if assignment is None else {g: groups[g] for g in sorted(set(assignment.values()))}
    need_big = any("big" in model_inputs(m) for m in running.values())
    need_small = any("small" in model_inputs(m) for m in running.values())
    with torch.no_grad():
        for c0 in range(0, n_chunks, batch_chunks):
            f0, f1 = c0 * n, min(n_chunks, c0 + batch_chunks) * n
            big = small = None
            if need_big:
                big = torch.from_numpy(np.ascontiguousarray(trial.big(f0, f1).transpose(0, 3, 1, 2))).to(dev)
            if need_small:
                small = torch.from_numpy(np.ascontiguousarray(trial.small(f0, f1).transpose(0, 3, 1, 2))).to(dev)
            if assignment is None:  # first batch of the run: who predicts what
                outs = {g: _forward(m, big, small, dev, dtype) for g, m in groups.items()}
                assignment = _assign(groups, {g: set(o) for g, o in outs.items()}, tasks)
            else:
                outs = {g: _forward(m, big, small, dev, dtype) for g, m in running.items()}
            for task, group in assignment.items():
                value = outs[group].get(task)
                if value is None:
                    raise ValueError(f"model of group {group!r} gave no {task!r} output")
                value = value.detach().float().cpu().numpy()
                value = value.reshape(value.shape[0], -1)
                if value.shape[0] != f1 - f0:
                    raise ValueError(f"{task} output has {value.shape[0]} rows for {f1 - f0} frames")
                if task in ("pulse", "resp") and value.shape[1] != 1:
                    raise ValueError(f"{task} output has {value.shape[1]} values per frame, expected 1")
                if task not in arrays:
                    arrays[task] = np.empty((frames, value.shape[1]), dtype=np.float32)
                arrays[task][f0:f1] = value
    wanted = list(assignment) if assignment is not None else list(tasks or [])

    def out(task: str) -> np.ndarray | None:
        if task not in wanted:
            return None
        if task in arrays:
            return arrays[task] if task == "au" else arrays[task][:, 0]
        return np.zeros((0, 0) if task == "au" else 0, dtype=np.float32)  # shorter than a chunk

    pred = TrialPrediction(
        trial_id=trial_id, fps=trial.fps, chunk_length=n, n_frames=length, frame_index=frame_index,
        pulse=out("pulse"), resp=out("resp"), au_logits=out("au"),
    )
    return pred, assignment

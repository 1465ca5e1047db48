"""The training loop: one variant on the training trials of one cache, with resume.

``train_model`` trains a registered variant (pipeline.models.registry) on the chunks of the
training trials (pipeline.cache.dataset.ChunkDataset) with the multi-task loss
(pipeline.train.loss) and AdamW, as the authors (research/bigsmall-facts.md sec. 4: AdamW,
lr 1e-3, no weight decay, no schedule, shuffled batches of 180 chunks, 5 epochs, last epoch
kept). Everything a run writes lives in ``out_dir``:

    checkpoint.pt         end of every epoch, atomically (pipeline.train.checkpoint)
    log.csv               one row every ``log_every`` steps and at each epoch's end: epoch
                          (1-based), step (optimiser steps so far), chunks (in the row's
                          steps), loss and loss_<term> (chunk-weighted means over the row's
                          steps; the terms are the tasks, then any auxiliary term of the model,
                          e.g. loss_au_local), lr, seconds (training time so far, resumed parts
                          included)
    gradient_angles.json  after the first epoch, when settings['gradient_angles']
                          (pipeline.train.gradients.gradient_angles between the tasks' whole
                          losses, auxiliary terms inside their task's, plus the batch's terms)
    train.json            the summary, written last: its presence means the run is complete

Determinism: the model is initialised by ``build_model(seed=...)``, the training chunks and the
shuffle of every epoch are functions of the seed (and the epoch) only, dropout draws from the
torch generator seeded with the seed at the start and saved in each checkpoint, and on the CPU
``torch.use_deterministic_algorithms`` is on while training. So on the CPU (same thread count)
the same seed gives bit-identical weights, and a run killed at any moment and started again
resumes from its last checkpoint and ends with the weights of an uninterrupted run. On CUDA,
cuDNN is put in deterministic mode but bitwise repeatability is not promised.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import inspect
import json
import math
import sys
import time
from pathlib import Path
from typing import Any, Iterator, Sequence

import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from pipeline.atomic import atomic_path, write_json
from pipeline.cache.dataset import ChunkDataset
from pipeline.models.device import device_description, pick_device, place
from pipeline.models.registry import build_model, resolved_options, variant_info
from pipeline.provenance import provenance
from pipeline.train.checkpoint import (
    CHECKPOINT_FORMAT,
    copy_matching,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from pipeline.train.data import ChunkPlan, EpochBatches, plan_chunks
from pipeline.train.gradients import gradient_angles, task_gradients
from pipeline.train.loss import (
    PULSE_LABELS,
    TASKS,
    MultiTaskLoss,
    au_counts,
    loss_terms,
    pos_weight_from_counts,
    task_label,
    task_losses,
)

CHECKPOINT = "checkpoint.pt"
LOG = "log.csv"
SUMMARY = "train.json"
ANGLES = "gradient_angles.json"

# Every training setting with its default (the authors' values where they exist).
DEFAULT_SETTINGS: dict[str, Any] = {
    "epochs": 5,               # passes over the training chunks
    "batch_chunks": 180,       # chunks per optimiser step (x N frames)
    "lr": 1e-3,                # AdamW learning rate, constant
    "weight_decay": 0.0,       # AdamW weight decay (authors: 0)
    "optimizer": "adamw",      # the only one
    "chunk_length": 3,         # N frames per chunk (also the model's n_frames)
    "precision": "fp32",       # fp32 | bf16 (autocast, CPU and CUDA) | fp16 (CUDA only, AMP + GradScaler)
    "au_coded_only": True,     # with an AU head: only chunks wholly inside the trial's au_range
    "chunk_stride": 1,         # train on every k-th chunk of each trial (k = 3 with 1-frame chunks: one frame in three)
    "max_chunks": None,        # None: every training chunk; else a seeded subsample, fixed over epochs
    "pulse_label": "pulse",    # pulse target: 'pos_ppg' (BP4D+, no PPG) or 'pulse'
    "gradient_angles": False,  # write gradient_angles.json after the first epoch
    "log_every": 1,            # steps per log.csv row (means over those steps); every epoch ends with a row
    "num_workers": 0,          # DataLoader worker processes (0: load in the training process)
    "au_names": None,          # AU columns to train on, in order (None: all of the first training trial's)
    "model_options": {},       # build_model options over the automatic ones (tasks, n_frames, n_au, sizes)
}
# settings that do not change the trained weights: a checkpoint written under other values of
# these is resumed (a larger 'epochs' continues a finished run)
RESULT_NEUTRAL = frozenset({"epochs", "log_every", "num_workers"})
PRECISIONS = ("fp32", "bf16", "fp16")


def resolve_settings(settings: dict[str, Any] | None) -> dict[str, Any]:
    """``DEFAULT_SETTINGS`` updated by ``settings``, validated (ValueError on an unknown key or a
    bad value)."""
    settings = dict(settings or {})
    unknown = sorted(set(settings) - set(DEFAULT_SETTINGS))
    if unknown:
        raise ValueError(f"unknown training setting(s) {unknown}; known: {sorted(DEFAULT_SETTINGS)}")
    s = {**copy.deepcopy(DEFAULT_SETTINGS), **settings}
    for key in ("epochs", "batch_chunks", "chunk_length", "chunk_stride", "log_every"):
        if int(s[key]) != s[key] or int(s[key]) < 1:
            raise ValueError(f"settings['{key}'] must be an integer >= 1, got {s[key]!r}")
        s[key] = int(s[key])
    if int(s["num_workers"]) != s["num_workers"] or s["num_workers"] < 0:
        raise ValueError(f"settings['num_workers'] must be an integer >= 0, got {s['num_workers']!r}")
    s["num_workers"] = int(s["num_workers"])
    if not float(s["lr"]) > 0 or not float(s["weight_decay"]) >= 0:
        raise ValueError(f"lr must be > 0 and weight_decay >= 0, got {s['lr']!r}, {s['weight_decay']!r}")
    s["lr"], s["weight_decay"] = float(s["lr"]), float(s["weight_decay"])
    if s["optimizer"] != "adamw":
        raise ValueError(f"settings['optimizer'] must be 'adamw', got {s['optimizer']!r}")
    if s["precision"] not in PRECISIONS:
        raise ValueError(f"settings['precision'] must be one of {PRECISIONS}, got {s['precision']!r}")
    if s["max_chunks"] is not None:
        if int(s["max_chunks"]) != s["max_chunks"] or s["max_chunks"] < 1:
            raise ValueError(f"settings['max_chunks'] must be None or an integer >= 1, got {s['max_chunks']!r}")
        s["max_chunks"] = int(s["max_chunks"])
    if s["pulse_label"] not in PULSE_LABELS:
        raise ValueError(f"settings['pulse_label'] must be one of {PULSE_LABELS}, got {s['pulse_label']!r}")
    s["au_coded_only"] = bool(s["au_coded_only"])
    s["gradient_angles"] = bool(s["gradient_angles"])
    if s["au_names"] is not None:
        s["au_names"] = [str(a) for a in s["au_names"]]
    s["model_options"] = dict(s["model_options"] or {})
    return s


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@contextlib.contextmanager
def _deterministic(device: torch.device) -> Iterator[None]:
    """Deterministic kernels while training (CPU: every op; CUDA: cuDNN), restored afterwards."""
    before = (torch.are_deterministic_algorithms_enabled(),
              torch.is_deterministic_algorithms_warn_only_enabled(),
              torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark)
    if device.type == "cpu":
        torch.use_deterministic_algorithms(True)
    else:
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0], warn_only=before[1])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = before[2], before[3]


def _model_options(variant: str, tasks: Sequence[str], chunk_length: int, au_names: list[str] | None,
                   cache_settings: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """build_model options: the tasks, N, the AU count and the cache's frame sizes (those the
    variant's constructor takes), then the caller's overrides."""
    accepted = inspect.signature(variant_info(variant).constructor).parameters
    opts: dict[str, Any] = {"tasks": tuple(tasks), "n_frames": int(chunk_length)}
    if au_names is not None and "n_au" in accepted:
        opts["n_au"] = len(au_names)
    for key in ("big_size", "small_size"):
        if key in accepted and key in cache_settings:
            opts[key] = int(cache_settings[key])
    return {**opts, **overrides}


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _mismatch(ckpt: dict[str, Any], expect: dict[str, Any], epochs: int) -> str | None:
    """Why ``ckpt`` cannot be resumed by this run (None if it can)."""
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        return f"checkpoint format {ckpt.get('format')!r}"
    for key, value in expect.items():
        have = ckpt.get(key)
        if key == "settings":
            have = {k: v for k, v in (have or {}).items() if k not in RESULT_NEUTRAL}
            value = {k: v for k, v in value.items() if k not in RESULT_NEUTRAL}
        if _jsonable(have) != _jsonable(value):
            return f"its {key} differ"
    if int(ckpt.get("epoch", 0)) > epochs:
        return f"it has {ckpt['epoch']} epochs done, more than the {epochs} asked for"
    return None


def _read_log(path: Path, keep_epochs: int) -> list[list[str]]:
    """Header and rows of log.csv of epochs <= keep_epochs (a killed epoch's rows are dropped)."""
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    if not rows:
        return []
    out = [rows[0]]
    for row in rows[1:]:
        try:
            if row and int(row[0]) <= keep_epochs:
                out.append(row)
        except ValueError:
            continue
    return out


def _batch_to(batch: Any, device: torch.device, inputs: Sequence[str]) -> tuple[Any, Any, dict[str, torch.Tensor]]:
    big, small, labels = batch
    nb = device.type == "cuda"

    def frames(x: torch.Tensor) -> torch.Tensor:  # (B, N, C, H, W) -> (B*N, C, H, W)
        return x.reshape(-1, *x.shape[2:]).to(device, non_blocking=nb)

    big_t = frames(big) if "big" in inputs else None
    small_t = frames(small) if "small" in inputs else None
    return big_t, small_t, {k: v.to(device, non_blocking=nb) for k, v in labels.items()}


def fixed_batch(dataset: ChunkDataset, plan: ChunkPlan, batch_chunks: int, seed: int) -> Any:
    """The gradient-angle batch: the first batch of epoch 1 (same chunks for the same seed)."""
    idx = EpochBatches(plan.indices, batch_chunks, seed).order(epoch=0)[:batch_chunks]
    return torch.utils.data.default_collate([dataset[i] for i in idx])


def measure_gradient_angles(model: torch.nn.Module, criterion: MultiTaskLoss, batch: Any,
                            device: torch.device, inputs: Sequence[str], seed: int) -> dict[str, Any]:
    """Angles between the task gradients on one batch, computed on a copy of ``model`` in
    training mode (dropout on, from a private RNG seeded with ``seed``), in fp32; neither the
    model (weights, BatchNorm statistics) nor the caller's RNG are touched."""
    twin = copy.deepcopy(model).train()
    big, small, labels = _batch_to(batch, device, inputs)
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        _, parts = criterion(twin(big, small), labels)
        # angles between tasks: an auxiliary term (au_local) is part of its task's loss
        result = gradient_angles(task_gradients(task_losses(parts), twin))
    result["losses"] = {t: float(v.detach()) for t, v in parts.items()}
    return result


class _Window:
    """Chunk-weighted sums of the losses since the last reset (kept on the device)."""

    def __init__(self) -> None:
        self.sums: dict[str, torch.Tensor] = {}
        self.chunks = 0

    def add(self, total: torch.Tensor, parts: dict[str, torch.Tensor], chunks: int) -> None:
        for k, v in {"loss": total, **{f"loss_{t}": p for t, p in parts.items()}}.items():
            v = v.detach().float() * chunks
            self.sums[k] = self.sums[k] + v if k in self.sums else v
        self.chunks += chunks

    def means(self) -> dict[str, float]:
        return {k: float(v) / max(self.chunks, 1) for k, v in self.sums.items()}


def train_model(
    *,
    variant: str,
    tasks: Sequence[str],
    cache_root: str | Path,
    train_trials: Sequence[str],
    settings: dict[str, Any] | None,
    seed: int,
    out_dir: str | Path,
    init_checkpoint: str | Path | None = None,
    device: str | torch.device | None = None,
    progress: bool = True,
    code_version: str = "",
) -> dict[str, Any]:
    """Train ``variant`` with heads ``tasks`` on the chunks of ``train_trials`` of the cache at
    ``cache_root`` and write ``out_dir`` (see the module docstring). Returns the summary that
    is written to ``out_dir/train.json``.

    settings: see ``DEFAULT_SETTINGS`` (unknown keys are an error).
    init_checkpoint: a parent run's checkpoint.pt whose weights initialise the model (fine-tuning);
        entries whose name or shape differ (e.g. an AU head of another size) stay at their init
        and are listed in the summary under ``init_checkpoint.left_at_init``.
    device: None picks CUDA when available, else the CPU.
    code_version: recorded in the checkpoint and the summary; a checkpoint of another code
        version is not resumed.

    An existing ``out_dir/checkpoint.pt`` of the same run (variant, options, settings other than
    epochs/log_every/num_workers, seed, trials, code version) with fewer epochs done is resumed;
    one of another run is ignored and overwritten.
    """
    s = resolve_settings(settings)
    dev = pick_device(device)
    if s["precision"] == "fp16" and dev.type != "cuda":
        raise ValueError("precision 'fp16' needs CUDA; use 'bf16' (autocast) or 'fp32' on the CPU")
    tasks = tuple(tasks)
    if not tasks or any(t not in TASKS for t in tasks) or len(set(tasks)) != len(tasks):
        raise ValueError(f"tasks must be distinct names from {TASKS}, got {list(tasks)}")
    info = variant_info(variant)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    train_trials = [str(t) for t in train_trials]
    if not train_trials:
        raise ValueError("no training trial")
    n = s["chunk_length"]

    # data
    au_names = None
    if "au" in tasks:
        au_names = s["au_names"]
        if au_names is None:
            first = ChunkDataset(cache_root, train_trials[:1], n, tasks=["au"])
            with first.index.open(train_trials[0]) as trial:
                au_names = trial.au_names
        if not au_names:
            raise ValueError("the 'au' task needs AU labels; the first training trial has none")
    labels = [task_label(t, s["pulse_label"]) for t in tasks]
    dataset = ChunkDataset(cache_root, train_trials, n, tasks=labels, au_names=au_names,
                           inputs=variant_info(variant).inputs)
    plan = plan_chunks(dataset, au_coded_only=s["au_coded_only"] and "au" in tasks,
                       max_chunks=s["max_chunks"], seed=seed, au_names=au_names, stride=s["chunk_stride"])
    if not plan.indices:
        raise ValueError(f"no training chunk in {len(train_trials)} trials"
                         + (" inside their AU-coded ranges" if s["au_coded_only"] and "au" in tasks else ""))
    pos_weight = counts = None
    if au_names is not None:
        pos, neg = au_counts(plan.au_codes)
        pos_weight = pos_weight_from_counts(pos, neg)
        counts = {a: {"pos": int(p), "neg": int(q)} for a, p, q in zip(au_names, pos, neg)}

    # model and its options
    build_opts = _model_options(variant, tasks, n, au_names, dataset.index.info.get("settings", {}),
                                s["model_options"])
    options = resolved_options(variant, **build_opts)
    init_path = None if init_checkpoint is None else str(Path(init_checkpoint))
    identity = {"variant": variant, "tasks": list(tasks), "options": options, "settings": s,
                "seed": int(seed), "train_trials": train_trials, "code_version": code_version,
                "init_checkpoint": init_path}

    # resume or start afresh; a partial run never keeps a summary
    ckpt_path = out / CHECKPOINT
    (out / SUMMARY).unlink(missing_ok=True)
    ckpt = None
    if ckpt_path.is_file():
        try:
            ckpt = load_checkpoint(ckpt_path)
        except Exception as err:  # unreadable (e.g. from another torch): start afresh
            print(f"train: ignoring unreadable {ckpt_path} ({type(err).__name__})", file=sys.stderr)
        if ckpt is not None:
            why = _mismatch(ckpt, identity, s["epochs"])
            if why is not None:
                print(f"train: not resuming {ckpt_path}: {why}; starting afresh", file=sys.stderr)
                ckpt = None
    if ckpt is None:
        for name in (CHECKPOINT, LOG, ANGLES):
            (out / name).unlink(missing_ok=True)

    model = build_model(variant, seed=seed, **build_opts)
    init_report = None
    if ckpt is not None:
        model.load_state_dict(ckpt["model"])
        init_report = ckpt.get("init")
    elif init_path is not None:
        parent = load_checkpoint(init_path)
        parent = parent.get("model", parent)  # a run's checkpoint, or a bare state_dict
        init_report = {"path": init_path, **copy_matching(model, parent)}
        if init_report["left_at_init"]:
            print(f"train: {len(init_report['left_at_init'])} entries left at their init "
                  f"(not in {init_path} with the same shape): "
                  f"{', '.join(sorted(init_report['left_at_init']))}", file=sys.stderr)
    place(model, dev)
    optimizer = torch.optim.AdamW(model.parameters(), lr=s["lr"], weight_decay=s["weight_decay"])
    scaler = torch.amp.GradScaler("cuda") if s["precision"] == "fp16" else None
    if ckpt is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
        if scaler is not None and ckpt.get("scaler"):
            scaler.load_state_dict(ckpt["scaler"])
    criterion = MultiTaskLoss(tasks, s["pulse_label"], pos_weight).to(dev)

    epochs_done = int(ckpt["epoch"]) if ckpt is not None else 0
    step = int(ckpt["step"]) if ckpt is not None else 0
    history: list[dict[str, Any]] = list(ckpt["history"]) if ckpt is not None else []
    train_seconds = float(ckpt["train_seconds"]) if ckpt is not None else 0.0
    frames_done = int(ckpt["frames"]) if ckpt is not None else 0
    resumed_from = epochs_done if ckpt is not None else None

    sampler = EpochBatches(plan.indices, s["batch_chunks"], seed)
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=s["num_workers"],
                        pin_memory=dev.type == "cuda", persistent_workers=s["num_workers"] > 0,
                        generator=torch.Generator().manual_seed(int(seed)))
    terms = loss_terms(tasks, getattr(model, "auxiliary_outputs", ()))
    log_cols = (["epoch", "step", "chunks", "loss"] + [f"loss_{t}" for t in terms] + ["lr", "seconds"])
    kept = _read_log(out / LOG, epochs_done)
    if ckpt is not None and kept:
        with atomic_path(out / LOG) as tmp, open(tmp, "w", newline="") as fh:
            csv.writer(fh).writerows(kept)
    else:
        with atomic_path(out / LOG) as tmp, open(tmp, "w", newline="") as fh:
            csv.writer(fh).writerow(log_cols)

    rng_devices = [dev.index or 0] if dev.type == "cuda" else []
    with torch.random.fork_rng(devices=rng_devices), _deterministic(dev), \
            open(out / LOG, "a", newline="") as log_fh:
        log = csv.writer(log_fh)
        if ckpt is not None:
            set_rng_state(ckpt["rng"], dev)
        else:
            torch.manual_seed(int(seed))
        for epoch in range(epochs_done + 1, s["epochs"] + 1):
            model.train()
            sampler.set_epoch(epoch - 1)
            epoch_win, log_win = _Window(), _Window()
            t0 = time.perf_counter()
            bar = tqdm(loader, total=len(sampler), desc=f"train {variant} epoch {epoch}/{s['epochs']}",
                       unit="batch", disable=not progress, file=sys.stderr, leave=False)
            for batch in bar:
                big, small, targets = _batch_to(batch, dev, info.inputs)
                chunks = int(batch[1].shape[0])
                with _autocast(dev, s["precision"]):
                    outputs = model(big, small)
                total, parts = criterion({k: v.float() for k, v in outputs.items()}, targets)
                optimizer.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(total).backward()
                    scaler.step(optimizer)
                    scaler.update()
                else:
                    total.backward()
                    optimizer.step()
                step += 1
                epoch_win.add(total, parts, chunks)
                log_win.add(total, parts, chunks)
                last = epoch_win.chunks >= len(plan.indices)
                if step % s["log_every"] == 0 or last:
                    means = log_win.means()
                    if not math.isfinite(means["loss"]):
                        raise FloatingPointError(f"non-finite training loss {means['loss']} at epoch {epoch}, step {step}")
                    log.writerow([epoch, step, log_win.chunks, *(f"{means[c]:.6g}" for c in log_cols[3:-2]),
                                  f"{optimizer.param_groups[0]['lr']:.6g}",
                                  f"{train_seconds + time.perf_counter() - t0:.3f}"])
                    log_fh.flush()
                    bar.set_postfix(loss=f"{means['loss']:.4f}")
                    log_win = _Window()
            if dev.type == "cuda":
                torch.cuda.synchronize(dev)
            seconds = time.perf_counter() - t0
            bar.close()
            train_seconds += seconds
            frames_done += len(plan.indices) * n
            means = epoch_win.means()
            history.append({"epoch": epoch, "seconds": seconds, "chunks": epoch_win.chunks,
                            "loss": {"total": means["loss"], **{t: means[f"loss_{t}"] for t in terms}}})
            if epoch == 1 and s["gradient_angles"]:
                batch = fixed_batch(dataset, plan, s["batch_chunks"], seed)
                angles = measure_gradient_angles(model, criterion, batch, dev, info.inputs, seed)
                angles.update({"after_epoch": 1, "variant": variant, "chunks": int(batch[1].shape[0]),
                               "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)})
                write_json(out / ANGLES, angles)
            save_checkpoint(ckpt_path, {
                "format": CHECKPOINT_FORMAT,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scaler": scaler.state_dict() if scaler is not None else None,
                "rng": rng_state(dev),
                "epoch": epoch,
                "step": step,
                **identity,
                "au_names": au_names,
                "pos_weight": None if pos_weight is None else [float(w) for w in pos_weight],
                "history": history,
                "train_seconds": train_seconds,
                "frames": frames_done,
                "init": init_report,
            })
    del loader  # stops persistent workers
    dataset.close()

    data_paths = [dataset.index.root / "index.csv", dataset.index.root / "cache_info.json"]
    if init_path is not None:
        data_paths.append(Path(init_path))
    summary = {
        "complete": True,
        "variant": variant,
        "tasks": list(tasks),
        "options": _jsonable(options),
        "settings": _jsonable(s),
        "seed": int(seed),
        "device": device_description(dev),
        "precision": s["precision"],
        "epochs": len(history),
        "steps": step,
        "chunks_per_epoch": len(plan.indices),
        "frames_per_epoch": len(plan.indices) * n,
        "frames_per_second": frames_done / train_seconds if train_seconds > 0 else None,
        "train_seconds": train_seconds,
        "final_losses": history[-1]["loss"] if history else None,
        "epoch_losses": history,
        "au_names": au_names,
        "pos_weight": None if pos_weight is None else dict(zip(au_names, map(float, pos_weight))),
        "au_counts": counts,
        "train_trials": train_trials,
        "chunks_per_trial": plan.per_trial,
        "cache_key": dataset.index.key,
        "resumed_from_epoch": resumed_from,
        "init_checkpoint": init_report,
        "gradient_angles": ANGLES if (out / ANGLES).is_file() else None,
        "files": {"checkpoint": CHECKPOINT, "log": LOG},
        "code_version": code_version,
        "provenance": provenance(_jsonable(identity), data_paths, int(seed)),
    }
    write_json(out / SUMMARY, summary)
    return summary

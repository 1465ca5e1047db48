"""Training checkpoints: written atomically, loadable with ``torch.load(weights_only=True)``.

A checkpoint is a dict of tensors, numbers, strings, lists, tuples and dicts only (no pickled
classes), so loading it never runs code from the file. Keys written by ``pipeline.train.loop``:

    format          CHECKPOINT_FORMAT
    model           the model's state_dict
    optimizer       the optimiser's state_dict
    scaler          the fp16 GradScaler's state_dict (None unless fp16 on CUDA)
    rng             {"torch_cpu": ByteTensor, "torch_cuda": [ByteTensor per device]}
    epoch           epochs done; step: optimiser steps done
    variant, tasks, options (pipeline.models.registry.resolved_options), settings (resolved),
    seed, code_version, au_names, pos_weight, history (per-epoch mean losses), train_seconds,
    frames, init (what init_checkpoint copied, or None)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from pipeline.atomic import atomic_path

CHECKPOINT_FORMAT = 1


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file beside ``path``, then ``os.replace`` onto it: a kill
    at any moment leaves either the previous checkpoint or the new one, never a partial file."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with ``weights_only=True``."""
    return torch.load(Path(path), map_location=map_location, weights_only=True)


def rng_state(device: torch.device) -> dict[str, Any]:
    """The torch RNG states a training step draws from (dropout): the CPU generator and, when
    training on CUDA, every CUDA device's."""
    state: dict[str, Any] = {"torch_cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["torch_cuda"] = [s.cpu() for s in torch.cuda.get_rng_state_all()]
    return state


def set_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch_cpu"].cpu())
    if device.type == "cuda" and state.get("torch_cuda"):
        torch.cuda.set_rng_state_all([s.cpu() for s in state["torch_cuda"]])


def copy_matching(model: nn.Module, state: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Copy into ``model`` every entry of ``state`` whose name and shape match; leave the others
    at their init. Returns what happened: ``copied`` (count), ``left_at_init`` (name ->
    reason: absent from the parent, or the two shapes), ``unused`` (parent entries the model
    has no slot for)."""
    own = model.state_dict()
    copied: dict[str, torch.Tensor] = {}
    left: dict[str, str] = {}
    for name, value in own.items():
        if name not in state:
            left[name] = "absent from the parent"
        elif tuple(state[name].shape) != tuple(value.shape):
            left[name] = f"shape {tuple(state[name].shape)} in the parent, {tuple(value.shape)} here"
        else:
            copied[name] = state[name]
    model.load_state_dict(copied, strict=False)
    return {"copied": len(copied), "left_at_init": left,
            "unused": sorted(k for k in state if k not in own)}

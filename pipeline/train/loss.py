"""The BigSmall multi-task loss (paper Sec. 4; authors' code: research/bigsmall-facts.md sec. 4).

total = AU + pulse + breathing, an unweighted sum with one backward pass, where

- AU: ``BCEWithLogits`` per frame and AU with a per-AU ``pos_weight`` = negatives / positives of
  the training fold's AU labels (the authors' 12 BP4D+ weights are these ratios);
- pulse: MSE between the pulse head and the pulse target, whose label name the caller gives:
  ``pos_ppg`` (the POS pseudo-PPG) for BP4D+, which records no PPG, ``pulse`` elsewhere;
- breathing: MSE between the resp head and the ``resp`` label.

A single-task model has only its own term. Every term is a mean over the frames of the batch
(the AU term over the coded frame x AU entries; see ``au_bce``).

Auxiliary outputs (``AUXILIARY_TERMS``) add a term of their own beside their task's: JÂA-Net's
(``jaanet_2021``) per-AU local detections ``au_local`` are trained with the AU term's weighted
BCE, its ``pos_weight`` and its mask of coded entries, times ``AU_LOCAL_WEIGHT``.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

TASKS = ("au", "pulse", "resp")
PULSE_LABELS = ("pulse", "pos_ppg")
# weight of an AU whose training labels hold no positive (or no negative): the plain,
# unweighted BCE. With no positive the weight multiplies nothing during training anyway; with
# no negative the ratio would be 0 and silence the AU's loss altogether.
DEGENERATE_POS_WEIGHT = 1.0
# weight of the local AU detection term: 1.0, the local detections count as much as the final
# ones (both are means over the same coded entries, so on one scale); their gradient is what
# refines each AU's attention map
AU_LOCAL_WEIGHT = 1.0
# auxiliary output -> (the task whose labels supervise it, the weight of its term)
AUXILIARY_TERMS: dict[str, tuple[str, float]] = {"au_local": ("au", AU_LOCAL_WEIGHT)}


def task_label(task: str, pulse_label: str = "pulse") -> str:
    """The cache label a task is trained on: ``au`` -> ``au``, ``pulse`` -> ``pulse_label``,
    ``resp`` -> ``resp``."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    if pulse_label not in PULSE_LABELS:
        raise ValueError(f"pulse_label must be one of {PULSE_LABELS}, not {pulse_label!r}")
    return pulse_label if task == "pulse" else task


def au_counts(au: np.ndarray, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative frame counts per AU (column) of ``au`` (frames, K).

    ``au`` holds the cache's codes (1 active, 0 inactive, -1 not coded; any other value, e.g. 9
    "unknown", is inactive as in the authors' binarisation) or the binarised {0, 1} labels.
    Entries count only where ``mask`` is 1 (default: where the code is >= 0, i.e. coded).
    """
    au = np.asarray(au)
    if au.ndim != 2:
        raise ValueError(f"AU labels must be (frames, K), got shape {au.shape}")
    coded = (au >= 0) if mask is None else (np.asarray(mask) > 0)
    positive = (au == 1) & coded
    pos = positive.sum(axis=0).astype(np.int64)
    neg = (coded & ~positive).sum(axis=0).astype(np.int64)
    return pos, neg


def pos_weight_from_counts(pos: Sequence[int], neg: Sequence[int]) -> np.ndarray:
    """``neg / pos`` per AU; ``DEGENERATE_POS_WEIGHT`` (1.0) where either count is 0."""
    pos = np.asarray(pos, dtype=np.float64)
    neg = np.asarray(neg, dtype=np.float64)
    ok = (pos > 0) & (neg > 0)
    return np.where(ok, neg / np.where(ok, pos, 1.0), DEGENERATE_POS_WEIGHT)


def au_pos_weight(au: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """Per-AU ``pos_weight`` (negatives / positives) of the training labels ``au`` (frames, K);
    see ``au_counts`` for the codes and ``pos_weight_from_counts`` for AUs without positives."""
    return pos_weight_from_counts(*au_counts(au, mask))


def au_bce(logits: torch.Tensor, target: torch.Tensor, pos_weight: torch.Tensor | None = None,
           mask: torch.Tensor | None = None) -> torch.Tensor:
    """Mean BCE-with-logits over the coded entries of ``(frames, K)`` logits and {0,1} targets.

    Without a mask (or with every entry coded) this is ``BCEWithLogitsLoss(pos_weight=w)``, the
    authors' loss. Uncoded entries (mask 0) are left out of the mean instead of being treated
    as inactive; a batch with no coded entry gives 0.
    """
    logits = logits.reshape(target.shape[0], -1).float()
    target = target.reshape(logits.shape).float()
    if pos_weight is not None:
        pos_weight = pos_weight.to(logits.device, torch.float32)
    per = F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight, reduction="none")
    if mask is None:
        return per.mean()
    mask = mask.reshape(logits.shape).to(per.dtype)
    return (per * mask).sum() / mask.sum().clamp(min=1.0)


def _frames(x: torch.Tensor) -> torch.Tensor:
    """(B, N) or (B*N,) or (B*N, 1) -> (B*N,) float32."""
    return x.reshape(-1).float()


def multitask_loss(outputs: Mapping[str, torch.Tensor], labels: Mapping[str, torch.Tensor],
                   tasks: Sequence[str], pulse_label: str = "pulse",
                   pos_weight: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Total loss and each task's term.

    outputs: the model's dict task -> ``(B*N, n_au)`` logits or ``(B*N, 1)`` predictions.
    labels: label name -> targets as ``ChunkDataset`` gives them, batched: ``(B, N)`` (or
        already flat ``(B*N,)``) for pulse/resp, ``(B, N, K)`` for ``au`` plus ``au_mask``.
    tasks: the terms to sum (a single-task model passes its one task); an auxiliary output of
        ``outputs`` (``AUXILIARY_TERMS``) adds its term, under its own name, beside its task's.
    """
    parts: dict[str, torch.Tensor] = {}
    for task in tasks:
        name = task_label(task, pulse_label)
        if task not in outputs:
            raise KeyError(f"the model has no {task!r} head (outputs: {sorted(outputs)})")
        if name not in labels:
            raise KeyError(f"no {name!r} label for task {task!r} (labels: {sorted(labels)})")
        pred, target = outputs[task], labels[name]
        if task == "au":
            n_au = pred.shape[-1]
            target = target.reshape(-1, n_au)
            mask = labels.get("au_mask")
            mask = None if mask is None else mask.reshape(-1, n_au).to(pred.device)
            target = target.to(pred.device)
            parts[task] = au_bce(pred, target, pos_weight, mask)
            for term, (of_task, weight) in AUXILIARY_TERMS.items():
                if of_task == task and term in outputs:
                    parts[term] = weight * au_bce(outputs[term], target, pos_weight, mask)
        else:
            p, t = _frames(pred), _frames(target).to(pred.device)
            if p.shape != t.shape:
                raise ValueError(f"{task}: {p.numel()} predictions for {t.numel()} targets")
            parts[task] = F.mse_loss(p, t)
    if not parts:
        raise ValueError("no task to compute a loss for")
    total = torch.stack(list(parts.values())).sum()
    return total, parts


def loss_terms(tasks: Sequence[str], auxiliary_outputs: Sequence[str] = ()) -> list[str]:
    """Names of the terms ``multitask_loss`` returns for ``tasks`` and a model with
    ``auxiliary_outputs``: the tasks, then the auxiliary terms whose task is among them."""
    return [*tasks, *(a for a in auxiliary_outputs if a in AUXILIARY_TERMS and AUXILIARY_TERMS[a][0] in tasks)]


def task_losses(parts: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Each task's whole loss: its own term plus its auxiliary terms (``au`` + ``au_local``)."""
    out = {t: v for t, v in parts.items() if t not in AUXILIARY_TERMS}
    for term, (task, _) in AUXILIARY_TERMS.items():
        if term in parts:
            out[task] = out[task] + parts[term] if task in out else parts[term]
    return out


class MultiTaskLoss(nn.Module):
    """``multitask_loss`` as a module holding the tasks, the pulse label and ``pos_weight``."""

    def __init__(self, tasks: Sequence[str], pulse_label: str = "pulse",
                 pos_weight: Sequence[float] | torch.Tensor | None = None):
        super().__init__()
        self.tasks = tuple(tasks)
        for task in self.tasks:
            task_label(task, pulse_label)
        self.pulse_label = pulse_label
        weight = None if pos_weight is None else torch.as_tensor(pos_weight, dtype=torch.float32)
        self.register_buffer("pos_weight", weight)

    def forward(self, outputs: Mapping[str, torch.Tensor],
                labels: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return multitask_loss(outputs, labels, self.tasks, self.pulse_label, self.pos_weight)

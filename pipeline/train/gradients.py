"""Angles between the tasks' gradients (paper Sec. 5.1, Fig. 6D).

As in the authors' analysis (pcgrad.py, research/bigsmall-facts.md sec. 4): the gradient of
each task's loss alone over **all** model parameters, flattened into one vector (parameters
that a task does not reach, such as another task's head, contribute zeros), and for every
pair of tasks the angle ``arccos(g_i . g_j / (|g_i| |g_j|))`` in degrees. 90 degrees means the
tasks pull the shared weights in unrelated directions, above 90 that they conflict.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import torch
from torch import nn


def task_gradients(losses: Mapping[str, torch.Tensor],
                   params: Iterable[torch.Tensor] | nn.Module) -> dict[str, torch.Tensor]:
    """task -> flat float64 gradient of that task's loss alone over ``params`` (a module's
    parameters, or a list of tensors), zeros for the parameters the loss does not depend on.
    The graph is kept between tasks, so the losses may share one forward pass."""
    if isinstance(params, nn.Module):
        params = params.parameters()
    params = [p for p in params if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameter")
    out: dict[str, torch.Tensor] = {}
    names = list(losses)
    for i, task in enumerate(names):
        grads = torch.autograd.grad(losses[task], params, retain_graph=i < len(names) - 1,
                                    allow_unused=True)
        out[task] = torch.cat([
            (torch.zeros(p.numel(), dtype=torch.float64, device=p.device) if g is None
             else g.detach().reshape(-1).to(torch.float64))
            for p, g in zip(params, grads)
        ]).cpu()
    return out


def angle_deg(a: torch.Tensor, b: torch.Tensor) -> float:
    """Angle between two vectors in degrees; NaN when either is zero."""
    a = a.reshape(-1).to(torch.float64)
    b = b.reshape(-1).to(torch.float64)
    na, nb = float(a.norm()), float(b.norm())
    if na == 0.0 or nb == 0.0:
        return math.nan
    # 2 atan2(|u - v|, |u + v|) of the unit vectors: accurate near 0 and 180 degrees too,
    # where arccos of the cosine loses half the digits
    u, v = a / na, b / nb
    return math.degrees(2.0 * math.atan2(float((u - v).norm()), float((u + v).norm())))


def gradient_angles(grads: Mapping[str, torch.Tensor]) -> dict:
    """Pairwise angles of flat gradients, JSON-ready.

    Returns ``tasks`` (order), ``angles_deg`` ("a|b" -> degrees, None where a gradient is
    zero), ``angle_matrix_deg`` (tasks x tasks), ``dot`` (the raw dot products, as the authors
    print) and ``norm`` (task -> gradient norm).
    """
    tasks = list(grads)
    vecs = {t: grads[t].reshape(-1).to(torch.float64) for t in tasks}

    def clean(x: float) -> float | None:
        return None if math.isnan(x) else x

    matrix = [[clean(angle_deg(vecs[a], vecs[b])) for b in tasks] for a in tasks]
    pairs = {f"{a}|{b}": matrix[i][j] for i, a in enumerate(tasks) for j, b in enumerate(tasks) if i < j}
    return {
        "tasks": tasks,
        "angles_deg": pairs,
        "angle_matrix_deg": matrix,
        "dot": [[float(torch.dot(vecs[a], vecs[b])) for b in tasks] for a in tasks],
        "norm": {t: float(vecs[t].norm()) for t in tasks},
    }

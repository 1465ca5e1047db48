"""The device a model runs on: the one asked for, else CUDA when present, else the CPU."""

from __future__ import annotations

import torch


def pick_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` if given, else the first CUDA device when available, else the CPU."""
    if device is not None:
        return torch.device(device)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def place(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """``model`` on ``device`` with its conv weights in channels-last memory (NHWC).

    oneDNN's convolutions are fastest on NHWC: a training step of the Big branch takes 0.73 s
    instead of 1.08 s on 2 CPU cores (bf16, 16 chunks), BigSmall 0.21 s instead of 0.28 s
    (cuDNN's tensor-core convolutions prefer NHWC too; not measured here). A conv whose weight is channels-last returns channels-last activations, so the
    inputs need no conversion; the weights' values and the model's outputs are unchanged up to
    the order of floating-point sums.
    """
    return model.to(device, memory_format=torch.channels_last)

"""Baselines of the paper's Table 2 (supp. F.1, F.2), at the input sizes the paper trains them on.

Temporal baselines (DeepPhys, MTTS-CAN, EfficientPhys) read the 3x9x9 normalised difference
frames (Small input); their appearance input is the Big frame reduced to 9x9 by area averaging.
At 9x9 they have no pooling and padded convolutions, so the head reads 64*9*9 = 5184 features.
Spatial baselines (DRML, AlexNet) read single 3x144x144 Big frames.
All return one prediction per input frame.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.models.layers import (
    AttentionMask,
    RegionConv,
    TemporalShift,
    check_chunked,
    conv3x3,
    make_heads,
)


class ConvAttentionNet(nn.Module):
    """DeepPhys-style two-branch attention CNN (shift="none") or TS-CAN/MTTS-CAN (shift="tsm").

    Motion branch on difference frames, appearance branch on raw frames; after convs 2 and 4 a
    1x1 conv + sigmoid + mask normalisation on the appearance features gates the motion features.
    tanh activations; heads 5184 -> 128 (tanh, dropout 0.5) -> 1.
    """

    def __init__(self, tasks: Sequence[str] = ("pulse",), n_frames: int = 3, shift: str = "none",
                 small_size: int = 9, f1: int = 32, f2: int = 64, hidden: int = 128):
        super().__init__()
        self.tasks, self.n_frames, self.small_size = tuple(tasks), n_frames, small_size
        widths = [(3, f1), (f1, f1), (f1, f2), (f2, f2)]
        self.motion = nn.ModuleList(conv3x3(a, b) for a, b in widths)
        self.appearance = nn.ModuleList(conv3x3(a, b) for a, b in widths)
        self.shifts = nn.ModuleList(TemporalShift(n_frames, shift) for _ in widths)
        self.att1, self.att2 = nn.Conv2d(f1, 1, 1), nn.Conv2d(f2, 1, 1)
        self.mask = AttentionMask()
        self.heads = make_heads(self.tasks, f2 * small_size * small_size, 12, hidden, "tanh", 0.5)

    def forward(self, big: torch.Tensor, small: torch.Tensor) -> dict[str, torch.Tensor]:
        check_chunked(small, self.n_frames, "small")
        if big.shape[0] != small.shape[0]:
            raise ValueError("big and small must hold the same frames")
        raw = F.adaptive_avg_pool2d(big, small.shape[-2:])  # appearance frame at 9x9
        m = lambda i, x: torch.tanh(self.motion[i](self.shifts[i](x)))  # noqa: E731
        a = lambda i, x: torch.tanh(self.appearance[i](x))  # noqa: E731
        r2 = a(1, a(0, raw))
        d2 = m(1, m(0, small)) * self.mask(torch.sigmoid(self.att1(r2)))
        r4 = a(3, a(2, r2))
        d4 = m(3, m(2, d2)) * self.mask(torch.sigmoid(self.att2(r4)))
        flat = d4.flatten(1)
        return {t: head(flat) for t, head in self.heads.items()}


class EfficientPhys(nn.Module):
    """EfficientPhys-style single-branch network on difference frames.

    BatchNorm on the input (learned normalisation), a TSM before each of four 3x3 convs (tanh),
    self-attention masks (1x1 conv + sigmoid + normalisation) after convs 2 and 4, head
    5184 -> 128 (tanh, dropout 0.5) -> 1. The original computes frame differences inside the
    model from N+1 raw frames; here it reads the pipeline's normalised difference frames.
    """

    def __init__(self, tasks: Sequence[str] = ("pulse",), n_frames: int = 3, small_size: int = 9,
                 f1: int = 32, f2: int = 64, hidden: int = 128):
        super().__init__()
        self.tasks, self.n_frames = tuple(tasks), n_frames
        self.norm = nn.BatchNorm2d(3)
        widths = [(3, f1), (f1, f1), (f1, f2), (f2, f2)]
        self.convs = nn.ModuleList(conv3x3(a, b) for a, b in widths)
        self.shifts = nn.ModuleList(TemporalShift(n_frames, "tsm") for _ in widths)
        self.att1, self.att2 = nn.Conv2d(f1, 1, 1), nn.Conv2d(f2, 1, 1)
        self.mask = AttentionMask()
        self.heads = make_heads(self.tasks, f2 * small_size * small_size, 12, hidden, "tanh", 0.5)

    def forward(self, big: torch.Tensor | None, small: torch.Tensor) -> dict[str, torch.Tensor]:
        check_chunked(small, self.n_frames, "small")
        x = self.norm(small)
        c = lambda i, v: torch.tanh(self.convs[i](self.shifts[i](v)))  # noqa: E731
        x = c(1, c(0, x))
        x = x * self.mask(torch.sigmoid(self.att1(x)))
        x = c(3, c(2, x))
        x = x * self.mask(torch.sigmoid(self.att2(x)))
        flat = x.flatten(1)
        return {t: head(flat) for t, head in self.heads.items()}


class DRML(nn.Module):
    """Deep Region and Multi-label Learning on 3x144x144 frames.

    Conv 11x11 3->32, region layer (8x8 cells, BN + ReLU + 3x3 conv + residual per cell), ReLU,
    max-pool 2, BN, convs 8x8 32->16, 8x8 16->16, 6x6/2 16->16, 5x5 16->16 (ReLU), then
    FC 16*20*20=6400 -> 4096 -> 2048 -> n_au with dropout 0.5. Region cells are near-equal
    (``tensor_split``) over the 134x134 map.
    """

    def __init__(self, tasks: Sequence[str] = ("au",), n_au: int = 12, big_size: int = 144):
        super().__init__()
        self.tasks = tuple(tasks)
        self.extractor = nn.Sequential(
            nn.Conv2d(3, 32, 11), RegionConv(32, 32, grid=8, residual=True), nn.ReLU(),
            nn.MaxPool2d(2), nn.BatchNorm2d(32),
            nn.Conv2d(32, 16, 8), nn.ReLU(), nn.Conv2d(16, 16, 8), nn.ReLU(),
            nn.Conv2d(16, 16, 6, stride=2), nn.ReLU(), nn.Conv2d(16, 16, 5), nn.ReLU(),
        )
        with torch.no_grad():
            n_flat = self.extractor(torch.zeros(1, 3, big_size, big_size)).numel()
        self.classifier = nn.Sequential(
            nn.Linear(n_flat, 4096), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(4096, 2048), nn.ReLU(), nn.Dropout(0.5),
        )
        self.heads = nn.ModuleDict({t: nn.Linear(2048, n_au if t == "au" else 1) for t in self.tasks})

    def forward(self, big: torch.Tensor, small: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        z = self.classifier(self.extractor(big).flatten(1))
        return {t: head(z) for t, head in self.heads.items()}


class AlexNet(nn.Module):
    """AlexNet (torchvision layout) on 3x144x144 frames: features -> 256x3x3 = 2304 ->
    FC 4096 -> 4096 -> n_au, dropout 0.5."""

    def __init__(self, tasks: Sequence[str] = ("au",), n_au: int = 12, big_size: int = 144):
        super().__init__()
        self.tasks = tuple(tasks)
        self.features = nn.Sequential(
            nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
            nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
            nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        )
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, 3, big_size, big_size)).numel()
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(n_flat, 4096), nn.ReLU(),
            nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(),
        )
        self.heads = nn.ModuleDict({t: nn.Linear(4096, n_au if t == "au" else 1) for t in self.tasks})

    def forward(self, big: torch.Tensor, small: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        z = self.classifier(self.features(big).flatten(1))
        return {t: head(z) for t, head in self.heads.items()}

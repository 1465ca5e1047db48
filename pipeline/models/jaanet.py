"""JAA-Net (Shao et al.) adapted to 144x144 Big frames: ``JAANet``, the ECCV 2018 design
(registry variant ``jaanet_2018``), ``JAANet2021``, its IJCV 2021 extension (JÂA-Net, variant
``jaanet_2021``), and their trunk, which BigSmall++ uses as Big branch. Each variant is named
after the published row it reproduces.

Kept from JAA-Net: a 3x3 stem, two hierarchical multi-scale region (HMR) layers (per-cell
convolutions on 8x8, 4x4 and 2x2 grids, concatenated, plus a residual), max-pooling after each,
global feature convolutions, per-AU attention maps that pool local AU features, and an AU
classifier over global + local features. ``JAANet2021`` adds JÂA-Net's adaptive attention
learning as far as the data allow: every AU's attention-pooled local feature feeds a local AU
detection head of its own (output ``au_local``), whose loss (pipeline.train.loss) supervises
and so refines that AU's attention map; the final prediction (``au``) stays global + local.
Simplified (listed in the compute audit): no face-alignment branch and no landmark loss (the
pipeline has no landmark labels; the aligned cache already puts the landmarks at the template),
so the per-AU attention maps are learned from the features instead of being initialised at
landmark-defined AU centres and refined under JAA-Net's attention constraint; one logit per AU
with weighted BCE instead of JAA-Net's two-class softmax + dice loss; input 144x144 instead of
176x176.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.models.layers import RegionConv, conv3x3, make_heads


def conv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(conv3x3(c_in, c_out), nn.BatchNorm2d(c_out), nn.ReLU())


class HMRLayer(nn.Module):
    """Hierarchical multi-scale region layer: C -> C/2 (8x8 cells) -> C/4 (4x4) -> C/4 (2x2),
    concatenated back to C channels and added to the input."""

    def __init__(self, channels: int):
        super().__init__()
        if channels % 4:
            raise ValueError("HMR layer channels must be divisible by 4")
        c2, c4 = channels // 2, channels // 4
        self.r8 = RegionConv(channels, c2, grid=8, pre_activation=False)
        self.r4 = RegionConv(c2, c4, grid=4, pre_activation=False)
        self.r2 = RegionConv(c4, c4, grid=2, pre_activation=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.r8(x)
        b = self.r4(a)
        c = self.r2(b)
        return torch.cat([a, b, c], dim=1) + x


class JaaTrunk(nn.Module):
    """Stem + HMR + pool, conv + HMR + pool, two global convs: 3xHxW -> out x H/4 x W/4."""

    def __init__(self, in_channels: int = 3, width: int = 32, out_channels: int = 64):
        super().__init__()
        self.stem = conv_bn_relu(in_channels, width)
        self.hmr1 = HMRLayer(width)
        self.conv2 = conv_bn_relu(width, 2 * width)
        self.hmr2 = HMRLayer(2 * width)
        self.global_convs = nn.Sequential(conv_bn_relu(2 * width, out_channels), conv_bn_relu(out_channels, out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.hmr1(self.stem(x)), 2)
        x = F.max_pool2d(self.hmr2(self.conv2(x)), 2)
        return self.global_convs(x)


class JAANet(nn.Module):
    """JAA-Net-style AU detector (ECCV 2018) on single Big frames (per frame, no temporal
    modelling)."""

    def __init__(self, tasks: Sequence[str] = ("au",), n_au: int = 12, n_frames: int = 3,
                 big_size: int = 144, hidden: int = 512):
        super().__init__()
        self.tasks, self.n_frames, self.n_au = tuple(tasks), n_frames, n_au
        self.trunk = JaaTrunk()
        c = 64
        self.attention = nn.Conv2d(c, n_au, kernel_size=1)
        # per-AU local feature transform (grouped 1x1 conv = one small linear map per AU)
        self.local = nn.Conv1d(n_au * c, n_au * c, kernel_size=1, groups=n_au)
        side = big_size // 16
        self.heads = make_heads(self.tasks, c * side * side + n_au * c, n_au, hidden, dropout=0.5)

    def global_and_local(self, big: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Global features ``(B, 64 * (H/16)^2)`` and per-AU local features ``(B, n_au, 64)``
        (attention-pooled, then each AU's own linear map and ReLU)."""
        f = self.trunk(big)  # (B, 64, H/4, W/4)
        att = torch.sigmoid(self.attention(f))  # (B, n_au, h, w)
        att = att / att.sum(dim=(2, 3), keepdim=True).clamp_min(1e-6)
        local = torch.einsum("bkhw,bchw->bkc", att, f).reshape(f.shape[0], -1, 1)
        local = F.relu(self.local(local)).reshape(f.shape[0], self.n_au, -1)
        glob = F.avg_pool2d(f, 4).flatten(1)
        return glob, local

    def task_outputs(self, glob: torch.Tensor, local: torch.Tensor) -> dict[str, torch.Tensor]:
        """The task heads on the global + local features."""
        feat = torch.cat([glob, local.flatten(1)], dim=1)
        return {t: head(feat) for t, head in self.heads.items()}

    def forward(self, big: torch.Tensor, small: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        return self.task_outputs(*self.global_and_local(big))


class JAANet2021(JAANet):
    """JÂA-Net (IJCV 2021): ``JAANet`` plus one local AU detection head per AU on that AU's own
    local feature. Returns the final ``au`` logits (global + local features, as ``JAANet``) and
    the local logits under ``au_local``, which the loss supervises with the AU labels.

    The extra head is built after every ``JAANet`` module, so a seed gives the weights of
    ``JAANet`` for the shared modules and the same ``au`` output at initialisation.
    """

    # outputs beside the task heads: trained on the AU labels, never evaluated
    auxiliary_outputs: tuple[str, ...] = ("au_local",)

    def __init__(self, tasks: Sequence[str] = ("au",), n_au: int = 12, n_frames: int = 3,
                 big_size: int = 144, hidden: int = 512):
        if "au" not in tuple(tasks):
            raise ValueError(f"JAANet2021's local AU heads need the au task, got tasks {tuple(tasks)}")
        super().__init__(tasks, n_au, n_frames, big_size, hidden)
        c = self.attention.in_channels
        # per-AU local detector (grouped 1x1 conv = one linear map 64 -> 1 per AU)
        self.local_heads = nn.Conv1d(n_au * c, n_au, kernel_size=1, groups=n_au)

    def forward(self, big: torch.Tensor, small: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        glob, local = self.global_and_local(big)
        out = self.task_outputs(glob, local)
        out["au_local"] = self.local_heads(local.reshape(local.shape[0], -1, 1)).flatten(1)
        return out

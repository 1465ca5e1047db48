"""BigSmall (paper Sec. 3.6 and 4) and every ablation of its Table 1 and supp. B.4, B.5, B.7.

One configurable class covers them all; the registry names the configurations. Layer sizes
are those of the paper's instantiation: 3x3 convs, Big 3x144x144 pooled 2, 2, 4 down to 64x9x9,
Small 3x9x9 without pooling, fusion, flatten to 64*9*9 = 5184, one 5184->128->out head per task.
"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.models.jaanet import JaaTrunk
from pipeline.models.layers import (
    TemporalShift,
    check_chunked,
    chunk_mean,
    conv3x3,
    first_frame_of_chunk,
    make_heads,
    repeat_per_frame,
)

FUSIONS = ("sum", "concat")
LATERALS = ("none", "b2s", "s2b", "bidir")
BIG_BACKBONES = ("bigsmall", "jaanet")


class BigBranch(nn.Module):
    """Big branch: three blocks of two 3x3 convs, each followed by avg-pooling and dropout.

    ``block1`` (convs 1-2, pool 2, dropout 0.25) and ``block23`` (convs 3-6, pools 2 and 4,
    dropout 0.5) are separate so lateral connections can enter after the first block.
    ``batchnorm`` adds BatchNorm after convs 1, 3 and 5 (the face-aligned variant, supp. B.7).
    ``lateral_channels`` widens conv 3 for a Small-to-Big lateral input.
    """

    def __init__(self, in_channels: int = 3, f1: int = 32, f2: int = 64, batchnorm: bool = False,
                 lateral_channels: int = 0, dropout: Sequence[float] = (0.25, 0.5, 0.5)):
        super().__init__()
        widths = [(in_channels, f1), (f1, f1), (f1 + lateral_channels, f1), (f1, f2), (f2, f2), (f2, f2)]
        self.convs = nn.ModuleList(conv3x3(a, b) for a, b in widths)
        self.norms = nn.ModuleDict(
            {str(i): nn.BatchNorm2d(widths[i][1]) for i in (0, 2, 4)} if batchnorm else {}
        )
        self.pools = nn.ModuleList([nn.AvgPool2d(2), nn.AvgPool2d(2), nn.AvgPool2d(4)])
        self.drops = nn.ModuleList(nn.Dropout(p) for p in dropout)

    def _conv(self, i: int, x: torch.Tensor) -> torch.Tensor:
        x = self.convs[i](x)
        if str(i) in self.norms:
            x = self.norms[str(i)](x)
        return F.relu(x)

    def block1(self, x: torch.Tensor) -> torch.Tensor:
        x = self._conv(1, self._conv(0, x))
        return self.drops[0](self.pools[0](x))

    def block23(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drops[1](self.pools[1](self._conv(3, self._conv(2, x))))
        return self.drops[2](self.pools[2](self._conv(5, self._conv(4, x))))


class SmallBranch(nn.Module):
    """Small branch: four 3x3 convs, a temporal shift before each, no pooling, no dropout.

    ``lateral_channels`` widens conv 3 for a Big-to-Small lateral input.
    """

    def __init__(self, n_frames: int, shift: str = "wtsm", in_channels: int = 3, f1: int = 32,
                 f2: int = 64, lateral_channels: int = 0):
        super().__init__()
        widths = [(in_channels, f1), (f1, f1), (f1 + lateral_channels, f1), (f1, f2)]
        self.convs = nn.ModuleList(conv3x3(a, b) for a, b in widths)
        self.shifts = nn.ModuleList(TemporalShift(n_frames, shift) for _ in widths)

    def _layer(self, i: int, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.convs[i](self.shifts[i](x)))

    def block1(self, x: torch.Tensor) -> torch.Tensor:
        return self._layer(1, self._layer(0, x))

    def block2(self, x: torch.Tensor) -> torch.Tensor:
        return self._layer(3, self._layer(2, x))


class BigSmall(nn.Module):
    """BigSmall and its ablations.

    Args:
        tasks: heads to build, a subset of ("au", "pulse", "resp").
        n_frames: chunk length N (frames of a chunk are consecutive along dim 0).
        use_big / use_small: branch switches (Big-only and Small-only baselines).
        shift: temporal shift of the Small branch, "wtsm", "tsm" or "none".
        big_downsample: pass only frame 0 of each chunk through Big and reuse its map for the N
            Small frames; otherwise every frame goes through Big.
        fusion: "sum" (element-wise) or "concat" (channels, doubling the head inputs).
        lateral: "none", "b2s" (Big-to-Small), "s2b" (Small-to-Big) or "bidir", after block 1.
        big_gray: average the Big frame over RGB and feed a 1-channel first conv (supp. B.5).
        big_batchnorm: BatchNorm after Big convs 1, 3, 5 (face-aligned inputs, supp. B.7).
        big_backbone: "bigsmall" or "jaanet" (BigSmall++: the JAA-Net trunk as Big branch).
        n_au: AU logits (12 for BP4D+, 8 for DISFA).
        big_size / small_size: input sizes; the Big output (big_size / 16) must equal small_size.
    """

    def __init__(self, tasks: Sequence[str] = ("au", "pulse", "resp"), n_frames: int = 3,
                 use_big: bool = True, use_small: bool = True, shift: str = "wtsm",
                 big_downsample: bool = True, fusion: str = "sum", lateral: str = "none",
                 big_gray: bool = False, big_batchnorm: bool = False,
                 big_backbone: str = "bigsmall", n_au: int = 12, big_size: int = 144,
                 small_size: int = 9, hidden: int = 128):
        super().__init__()
        if not (use_big or use_small):
            raise ValueError("at least one of use_big and use_small must be true")
        if fusion not in FUSIONS or lateral not in LATERALS or big_backbone not in BIG_BACKBONES:
            raise ValueError(f"bad option: fusion={fusion!r}, lateral={lateral!r}, big_backbone={big_backbone!r}")
        if lateral != "none" and not (use_big and use_small and big_backbone == "bigsmall"):
            raise ValueError("lateral connections need both branches and the BigSmall Big backbone")
        if use_big and use_small and big_size // 16 != small_size:
            raise ValueError(f"Big output {big_size}//16 must equal the Small size {small_size}")
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        self.tasks = tuple(tasks)
        self.n_frames, self.use_big, self.use_small = n_frames, use_big, use_small
        self.big_downsample = big_downsample and use_big and use_small
        self.fusion, self.lateral, self.big_gray = fusion, lateral, big_gray
        f1, f2 = 32, 64
        b2s, s2b = lateral in ("b2s", "bidir"), lateral in ("s2b", "bidir")
        self.big: nn.Module | None = None
        if use_big:
            in_ch = 1 if big_gray else 3
            if big_backbone == "jaanet":
                self.big = JaaTrunk(in_channels=in_ch, out_channels=f2)
            else:
                self.big = BigBranch(in_ch, f1, f2, big_batchnorm, lateral_channels=f1 if s2b else 0)
        self.small = (
            SmallBranch(n_frames, shift, 3, f1, f2, lateral_channels=f1 if b2s else 0) if use_small else None
        )
        side = small_size if use_small else big_size // 16
        channels = f2 * (2 if (fusion == "concat" and use_big and use_small) else 1)
        self.flat_features = channels * side * side
        self.heads = make_heads(self.tasks, self.flat_features, n_au, hidden)

    def _big_input(self, big: torch.Tensor) -> torch.Tensor:
        check_chunked(big, self.n_frames, "big")
        x = first_frame_of_chunk(big, self.n_frames) if self.big_downsample else big
        return x.mean(dim=1, keepdim=True) if self.big_gray else x

    def _big_to_frames(self, b: torch.Tensor) -> torch.Tensor:
        return repeat_per_frame(b, self.n_frames) if self.big_downsample else b

    def forward(self, big: torch.Tensor | None, small: torch.Tensor | None) -> dict[str, torch.Tensor]:
        b_out = s_out = None
        if self.use_small:
            if small is None:
                raise ValueError("this variant needs the Small input")
            check_chunked(small, self.n_frames, "small")
        if self.use_big:
            if big is None:
                raise ValueError("this variant needs the Big input")
            xb = self._big_input(big)
            if isinstance(self.big, JaaTrunk):
                b_out = F.avg_pool2d(self.big(xb), 4)
            else:
                b1 = self.big.block1(xb)
                if self.use_small:
                    s1 = self.small.block1(small)
                    b_in, s_in = b1, s1
                    if self.lateral in ("s2b", "bidir"):
                        # Small-to-Big: average over the chunk (when Big is down-sampled) and
                        # repeat each cell 8x8 (nearest) up to the Big block-1 resolution
                        src = chunk_mean(s1, self.n_frames) if self.big_downsample else s1
                        up = F.interpolate(src, size=b1.shape[-2:], mode="nearest")
                        b_in = torch.cat([up, b1], dim=1)
                    if self.lateral in ("b2s", "bidir"):
                        # Big-to-Small: average-pool the Big map to the Small resolution (8x8)
                        k = b1.shape[-1] // s1.shape[-1]
                        pooled = self._big_to_frames(F.avg_pool2d(b1, k))
                        s_in = torch.cat([s1, pooled], dim=1)
                    b_out = self.big.block23(b_in)
                    s_out = self.small.block2(s_in)
                else:
                    b_out = self.big.block23(b1)
            b_out = self._big_to_frames(b_out)
        if self.use_small and s_out is None:
            s_out = self.small.block2(self.small.block1(small))
        if b_out is None:
            fused = s_out
        elif s_out is None:
            fused = b_out
        elif self.fusion == "sum":
            fused = b_out + s_out
        else:
            fused = torch.cat([b_out, s_out], dim=1)
        flat = fused.flatten(1)
        return {t: head(flat) for t, head in self.heads.items()}

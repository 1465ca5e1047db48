"""Building blocks shared by the model zoo: temporal shift, chunk reshapes, attention masks,
per-region convolutions and task heads.

Tensors follow the zoo convention (see ``pipeline.models``): frames of a chunk are consecutive
along dim 0, so a batch of B chunks of N frames is a ``(B*N, C, H, W)`` tensor.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

SHIFT_MODES = ("none", "tsm", "wtsm")


def check_chunked(x: torch.Tensor, n_frames: int, what: str = "input") -> int:
    """Number of chunks in a ``(B*N, ...)`` tensor; a clear error if it is not a multiple of N."""
    if x.dim() < 1 or x.shape[0] % n_frames != 0:
        raise ValueError(
            f"{what}: leading dimension {tuple(x.shape)[:1]} is not a multiple of the chunk "
            f"length N={n_frames} (frames of a chunk must be consecutive along dim 0)"
        )
    return x.shape[0] // n_frames


def temporal_shift(x: torch.Tensor, n_frames: int, mode: str = "wtsm", fold_div: int = 3) -> torch.Tensor:
    """Shift channel folds of ``x`` (``(B*N, C, H, W)``) along the N frames of each chunk.

    With ``fold = C // fold_div``: channels ``[0, fold)`` of frame t take frame t+1's values,
    channels ``[fold, 2*fold)`` take frame t-1's, the rest stay. ``mode='tsm'`` zero-fills the
    frame that has no neighbour (the last for the first fold, the first for the second);
    ``mode='wtsm'`` wraps around within the chunk (a cyclic roll by -1 and +1). ``'none'`` is
    the identity. Built from slices and concatenations (no in-place writes), so it traces,
    differentiates and runs on any device; it costs no arithmetic.
    """
    if mode == "none":
        return x
    if mode not in SHIFT_MODES:
        raise ValueError(f"unknown temporal shift mode {mode!r}; expected one of {SHIFT_MODES}")
    n_chunks = check_chunked(x, n_frames)
    nt, c, h, w = x.shape
    fold = c // fold_div
    if fold == 0:
        return x
    v = x.reshape(n_chunks, n_frames, c, h, w)
    fwd, bwd, keep = v[:, :, :fold], v[:, :, fold : 2 * fold], v[:, :, 2 * fold :]
    if mode == "wtsm":
        fwd = torch.roll(fwd, shifts=-1, dims=1)  # out[t] = x[t+1], out[N-1] = x[0]
        bwd = torch.roll(bwd, shifts=1, dims=1)  # out[t] = x[t-1], out[0] = x[N-1]
    else:
        zf = torch.zeros_like(fwd[:, :1])
        zb = torch.zeros_like(bwd[:, :1])
        fwd = torch.cat([fwd[:, 1:], zf], dim=1)
        bwd = torch.cat([zb, bwd[:, :-1]], dim=1)
    return torch.cat([fwd, bwd, keep], dim=2).reshape(nt, c, h, w)


class TemporalShift(nn.Module):
    """Module wrapper of :func:`temporal_shift` (TSM or WTSM) for chunks of ``n_frames``."""

    def __init__(self, n_frames: int, mode: str = "wtsm", fold_div: int = 3):
        super().__init__()
        if n_frames < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        if mode not in SHIFT_MODES:
            raise ValueError(f"unknown temporal shift mode {mode!r}; expected one of {SHIFT_MODES}")
        self.n_frames, self.mode, self.fold_div = n_frames, mode, fold_div

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return temporal_shift(x, self.n_frames, self.mode, self.fold_div)

    def extra_repr(self) -> str:
        return f"n_frames={self.n_frames}, mode={self.mode}, fold_div={self.fold_div}"


def first_frame_of_chunk(x: torch.Tensor, n_frames: int) -> torch.Tensor:
    """``(B*N, ...)`` -> ``(B, ...)``: frame 0 of every chunk (Big temporal down-sampling)."""
    b = check_chunked(x, n_frames, "big")
    return x.reshape(b, n_frames, *x.shape[1:])[:, 0]


def repeat_per_frame(x: torch.Tensor, n_frames: int) -> torch.Tensor:
    """``(B, ...)`` -> ``(B*N, ...)``: one map per chunk broadcast to its N frames."""
    return x.unsqueeze(1).expand(x.shape[0], n_frames, *x.shape[1:]).reshape(-1, *x.shape[1:])


def chunk_mean(x: torch.Tensor, n_frames: int) -> torch.Tensor:
    """``(B*N, ...)`` -> ``(B, ...)``: mean over the frames of each chunk."""
    b = check_chunked(x, n_frames)
    return x.reshape(b, n_frames, *x.shape[1:]).mean(dim=1)


def conv3x3(c_in: int, c_out: int) -> nn.Conv2d:
    """3x3, stride 1, padding 1, with bias: the only convolution of the BigSmall branches."""
    return nn.Conv2d(c_in, c_out, kernel_size=3, stride=1, padding=1, bias=True)


class AttentionMask(nn.Module):
    """Soft attention normalisation of DeepPhys/TS-CAN: ``x / sum_hw(x) * H * W / 2``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return x / x.sum(dim=(2, 3), keepdim=True) * (h * w * 0.5)


class TaskHead(nn.Sequential):
    """Linear(in -> hidden) + activation (+ dropout) + Linear(hidden -> out)."""

    def __init__(self, in_features: int, out_features: int, hidden: int = 128,
                 activation: str = "relu", dropout: float = 0.0):
        act: nn.Module = nn.ReLU() if activation == "relu" else nn.Tanh()
        layers: list[nn.Module] = [nn.Linear(in_features, hidden), act]
        if dropout > 0:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(hidden, out_features))
        super().__init__(*layers)


class RegionConv(nn.Module):
    """A 3x3 convolution whose weights differ per cell of a ``grid x grid`` partition.

    The feature map is cut into near-equal cells (``torch.tensor_split``), each cell gets its own
    ``[BN] + ReLU + conv`` (padding inside the cell, as in region layers), and the cells are
    stitched back. With ``residual`` the input is added (DRML's region layer).
    """

    def __init__(self, c_in: int, c_out: int, grid: int, batchnorm: bool = True,
                 residual: bool = False, pre_activation: bool = True):
        super().__init__()
        if residual and c_in != c_out:
            raise ValueError("a residual region layer needs c_in == c_out")
        self.grid, self.residual = grid, residual
        cells = []
        for _ in range(grid * grid):
            ops: list[nn.Module] = []
            if pre_activation:
                if batchnorm:
                    ops.append(nn.BatchNorm2d(c_in))
                ops += [nn.ReLU(), conv3x3(c_in, c_out)]
            else:
                ops.append(conv3x3(c_in, c_out))
                if batchnorm:
                    ops.append(nn.BatchNorm2d(c_out))
                ops.append(nn.ReLU())
            cells.append(nn.Sequential(*ops))
        self.cells = nn.ModuleList(cells)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = torch.tensor_split(x, self.grid, dim=2)
        out_rows = []
        k = 0
        for row in rows:
            out_cells = []
            for cell in torch.tensor_split(row, self.grid, dim=3):
                y = self.cells[k](cell)
                out_cells.append(y + cell if self.residual else y)
                k += 1
            out_rows.append(torch.cat(out_cells, dim=3))
        return torch.cat(out_rows, dim=2)


def make_heads(tasks: Sequence[str], in_features: int, n_au: int, hidden: int = 128,
               activation: str = "relu", dropout: float = 0.0) -> nn.ModuleDict:
    """One head per task: ``au`` -> n_au logits, ``pulse`` and ``resp`` -> 1 value."""
    sizes = {"au": n_au, "pulse": 1, "resp": 1}
    unknown = [t for t in tasks if t not in sizes]
    if unknown or not tasks:
        raise ValueError(f"tasks must be a non-empty subset of {tuple(sizes)}, got {tuple(tasks)}")
    return nn.ModuleDict(
        {t: TaskHead(in_features, sizes[t], hidden, activation, dropout) for t in tasks}
    )

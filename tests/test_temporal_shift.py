"""Temporal shift semantics: TSM zero-fills, WTSM wraps, for any chunk length N."""

from __future__ import annotations

import pytest
import torch

from pipeline.models.layers import TemporalShift, temporal_shift


def labelled(n_chunks: int, n_frames: int, channels: int) -> torch.Tensor:
    """(B*N, C, 2, 2) whose every value names its source: 1 + frame + 100 * chunk."""
    x = torch.empty(n_chunks * n_frames, channels, 2, 2)
    for b in range(n_chunks):
        for t in range(n_frames):
            x[b * n_frames + t] = 1 + t + 100 * b
    return x


def expected(n_chunks: int, n_frames: int, channels: int, mode: str) -> torch.Tensor:
    """Hand-written reference: value of channel c of frame t after the shift (0 = zero-filled)."""
    fold = channels // 3
    out = torch.zeros(n_chunks * n_frames, channels, 2, 2)
    for b in range(n_chunks):
        for t in range(n_frames):
            for c in range(channels):
                if c < fold:  # takes the next frame's features
                    src = t + 1
                elif c < 2 * fold:  # takes the previous frame's features
                    src = t - 1
                else:
                    src = t
                if 0 <= src < n_frames:
                    value = 1 + src + 100 * b
                elif mode == "wtsm":
                    value = 1 + (src % n_frames) + 100 * b
                else:
                    value = 0.0
                out[b * n_frames + t, c] = value
    return out


@pytest.mark.parametrize("n_frames", [1, 2, 3, 5])
@pytest.mark.parametrize("channels", [3, 7, 32])
@pytest.mark.parametrize("mode", ["tsm", "wtsm"])
def test_shift_matches_reference(n_frames: int, channels: int, mode: str) -> None:
    x = labelled(2, n_frames, channels)
    out = TemporalShift(n_frames, mode)(x)
    assert torch.equal(out, expected(2, n_frames, channels, mode))


def test_wtsm_n3_is_cyclic_roll_as_in_the_authors_code() -> None:
    # C = 32, fold 10: ch 0-9 read frames [1, 2, 0], ch 10-19 [2, 0, 1], ch 20-31 [0, 1, 2]
    x = labelled(1, 3, 32) - 1  # values = source frame index
    out = temporal_shift(x, 3, "wtsm")[:, :, 0, 0]
    assert out[:, 0].tolist() == [1, 2, 0]
    assert out[:, 9].tolist() == [1, 2, 0]
    assert out[:, 10].tolist() == [2, 0, 1]
    assert out[:, 19].tolist() == [2, 0, 1]
    assert out[:, 20].tolist() == [0, 1, 2]
    assert out[:, 31].tolist() == [0, 1, 2]


def test_tsm_n3_zero_fills_edges() -> None:
    x = labelled(1, 3, 3)  # fold 1, values 1 + frame
    out = temporal_shift(x, 3, "tsm")[:, :, 0, 0]
    assert out[:, 0].tolist() == [2, 3, 0]
    assert out[:, 1].tolist() == [0, 1, 2]
    assert out[:, 2].tolist() == [1, 2, 3]


def test_none_is_identity_and_chunks_do_not_mix() -> None:
    x = labelled(3, 4, 6)
    assert torch.equal(temporal_shift(x, 4, "none"), x)
    out = temporal_shift(x, 4, "wtsm")
    # every value stays inside its own chunk (hundreds digit = chunk)
    chunk_of_row = torch.arange(12).div(4, rounding_mode="floor").view(-1, 1, 1, 1)
    assert torch.equal(((out - 1) / 100).floor(), chunk_of_row.expand_as(out).float())


def test_wtsm_is_a_permutation_gradient_is_one() -> None:
    x = torch.randn(6, 9, 3, 3, requires_grad=True)
    y = temporal_shift(x, 3, "wtsm")
    assert torch.allclose(y.sum(), x.sum())
    y.sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_bad_inputs_raise() -> None:
    with pytest.raises(ValueError, match="multiple of the chunk length"):
        temporal_shift(torch.zeros(5, 3, 2, 2), 3, "wtsm")
    with pytest.raises(ValueError, match="unknown temporal shift"):
        TemporalShift(3, "roll")
    with pytest.raises(ValueError):
        TemporalShift(0, "tsm")

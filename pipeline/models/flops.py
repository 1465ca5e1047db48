"""FLOP counting with fvcore, configured to the BigSmall paper's convention.

The paper's counter (flopth) counts one multiply-accumulate as one FLOP; convolutions add one
per output element for the bias; linear layers count in*out (no bias); pooling counts its input
elements; activations, temporal shifts, reshapes, concatenations and element-wise sums are free.
fvcore traces the model and counts per ATen op, so functional calls (F.avg_pool2d) are counted
the same as modules; nearest up-sampling (a copy) is free. BatchNorm (absent from the paper's
models) keeps fvcore's count: scale and shift, two FLOPs per element in eval mode.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from math import prod
from typing import Any

import torch
from fvcore.nn import FlopCountAnalysis
from fvcore.nn.jit_handles import conv_flop_jit, get_shape
from torch import nn

# Ops that cost nothing under the convention (listed so they are not reported as uncounted).
FREE_OPS = (
    "aten::relu", "aten::relu_", "aten::tanh", "aten::sigmoid", "aten::dropout", "aten::feature_dropout",
    "aten::roll", "aten::cat", "aten::add", "aten::add_", "aten::mul", "aten::div", "aten::sum",
    "aten::mean", "aten::upsample_nearest2d", "aten::zeros_like", "aten::expand", "aten::select",
    "aten::slice", "aten::reshape", "aten::view", "aten::flatten", "aten::unsqueeze", "aten::clamp_min",
    "aten::split_with_sizes", "aten::tensor_split", "aten::unbind", "aten::contiguous",
)
POOL_OPS = (
    "aten::avg_pool2d", "aten::adaptive_avg_pool2d", "aten::max_pool2d",
    "aten::max_pool2d_with_indices",
)
CONV_OPS = ("aten::_convolution", "aten::convolution", "aten::conv2d", "aten::conv1d")


def _conv_with_bias(inputs: list[Any], outputs: list[Any]) -> Counter:
    """Conv MACs (fvcore) plus one addition per output element when the conv has a bias."""
    flops = Counter(conv_flop_jit(inputs, outputs))
    has_bias = len(inputs) > 2 and inputs[2].type().kind() != "NoneType"
    if has_bias:
        flops["conv"] += prod(get_shape(outputs[0]))
    return flops


def _pool_inputs(inputs: list[Any], outputs: list[Any]) -> Counter:
    """Pooling: one FLOP per input element."""
    return Counter({"pool": prod(get_shape(inputs[0]))})


def _free(inputs: list[Any], outputs: list[Any]) -> Counter:
    return Counter()


@dataclass
class FlopCount:
    """Total FLOPs of one forward pass, by operator kind, and the ops left uncounted."""

    total: int
    by_operator: dict[str, int]
    uncounted_ops: dict[str, int] = field(default_factory=dict)


def count_flops(model: nn.Module, inputs: tuple[Any, ...]) -> FlopCount:
    """FLOPs of ``model(*inputs)`` in eval mode under the paper's convention."""
    was_training = model.training
    model.eval()
    try:
        analysis = FlopCountAnalysis(model, inputs)
        for op in CONV_OPS:
            analysis.set_op_handle(op, _conv_with_bias)
        for op in POOL_OPS:
            analysis.set_op_handle(op, _pool_inputs)
        for op in FREE_OPS:
            # a zero-count handle (not None: fvcore keeps its own handle for some of these)
            analysis.set_op_handle(op, _free)
        analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False).tracer_warnings("none")
        with torch.no_grad():
            total = int(analysis.total())
        by_op = {k: int(v) for k, v in analysis.by_operator().items()}
        uncounted = {k: int(v) for k, v in analysis.unsupported_ops().items()}
    finally:
        model.train(was_training)
    return FlopCount(total, by_op, uncounted)

"""Registry of the model zoo: stable variant names -> constructor, default options, metadata.

One name per thing: a variant's name is the row id of the paper table it reproduces
(pipeline/reference/published.yaml: paper_table1, paper_table2/3/4, supp_table3, supp_table4),
and the same name keys its published compute (pipeline/reference/compute_published.yaml).
The two registered variants without a row of their own are ``bigsmall_aligned_bn`` and
``big_branch_aligned_bn``, BigSmall and the Big branch with batch norm after Big convs 1, 3, 5,
which the face-aligned ("dagger", ``*_aligned``) rows run on the aligned cache variant (the
paper's ``bigsmall_aligned`` and ``big_branch_aligned`` rows are these variants on aligned
frames; supp. B.7).

``build_model(name, **options)`` builds a variant; options override its defaults (e.g.
``n_frames=5``, ``tasks=("resp",)``, ``n_au=8``). ``list_variants()`` gives the names in a
stable order, ``variant_info(name)`` the metadata that the training stage and the compute
audit use.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import torch
from torch import nn

from pipeline.models.baselines import DRML, AlexNet, ConvAttentionNet, EfficientPhys
from pipeline.models.bigsmall import BigSmall
from pipeline.models.jaanet import JAANet, JAANet2021

ALL_TASKS = ("au", "pulse", "resp")


@dataclasses.dataclass(frozen=True)
class VariantInfo:
    """Metadata of a registered variant.

    tasks: the heads built by default (one prediction per frame for each).
    evaluated_tasks: tasks the paper reports for it; when wider than ``tasks`` the paper trains
        one single-task model per task (pass ``tasks=(task,)`` to build each).
    inputs: which of ("big", "small") the forward pass reads.
    chunk_length: default N, frames per chunk (consecutive along dim 0).
    published_key: key into pipeline/reference/compute_published.yaml: always the variant's own
        name when a published compute figure exists, None when none does (so it records only
        whether the paper prints parameters and FLOPs for the variant).
    big_frames_per_chunk: Big frames processed per chunk (1 with Big down-sampling, else N; 0
        when the variant has no Big path).
    """

    name: str
    family: str
    constructor: Callable[..., nn.Module]
    options: dict[str, Any]
    tasks: tuple[str, ...]
    evaluated_tasks: tuple[str, ...]
    inputs: tuple[str, ...]
    chunk_length: int
    published_key: str | None
    description: str

    def big_frames_per_chunk(self, n_frames: int | None = None) -> int:
        n = n_frames or self.chunk_length
        if "big" not in self.inputs:
            return 0
        return 1 if self.options.get("big_downsample", False) else n


_REGISTRY: dict[str, VariantInfo] = {}


def _register(name: str, family: str, constructor: Callable[..., nn.Module], options: dict[str, Any],
              tasks: tuple[str, ...], inputs: tuple[str, ...], published_key: str | None,
              description: str, evaluated_tasks: tuple[str, ...] | None = None) -> None:
    if published_key not in (None, name):
        raise ValueError(f"variant {name!r}: published_key must be its own name or None, not {published_key!r}")
    opts = {"tasks": tasks, "n_frames": 3, **options}
    _REGISTRY[name] = VariantInfo(name, family, constructor, opts, tasks, evaluated_tasks or tasks,
                                  inputs, 3, published_key, description)


_BS = dict(use_big=True, use_small=True, shift="wtsm", big_downsample=True, fusion="sum", lateral="none")
_BOTH = ("big", "small")

# BigSmall and its ablations (paper Table 1; supp. Table 3, B.5, B.7; paper Sec. 4)
_register("small_branch", "bigsmall", BigSmall, {**_BS, "use_big": False, "shift": "none", "big_downsample": False},
          ("pulse",), ("small",), "small_branch",
          "Small branch alone (no temporal shift), one single-task model per temporal task",
          evaluated_tasks=("pulse", "resp"))
_register("big_branch", "bigsmall", BigSmall, {**_BS, "use_small": False, "shift": "none", "big_downsample": False},
          ("au",), ("big",), "big_branch", "Big branch alone on every frame, AU head")
_register("bigsmall_no_downsampling", "bigsmall", BigSmall, {**_BS, "big_downsample": False},
          ALL_TASKS, _BOTH, "bigsmall_no_downsampling", "BigSmall with WTSM, every frame through Big")
_register("bigsmall_no_shift", "bigsmall", BigSmall, {**_BS, "shift": "none"},
          ALL_TASKS, _BOTH, "bigsmall_no_shift", "BigSmall with Big down-sampling, no temporal shift")
_register("bigsmall_tsm", "bigsmall", BigSmall, {**_BS, "shift": "tsm"},
          ALL_TASKS, _BOTH, "bigsmall_tsm", "BigSmall with zero-filling TSM")
_register("bigsmall", "bigsmall", BigSmall, dict(_BS),
          ALL_TASKS, _BOTH, "bigsmall", "BigSmall (WTSM, Big down-sampling, sum fusion): the default")
_register("bigsmall_concat", "bigsmall", BigSmall, {**_BS, "fusion": "concat"},
          ALL_TASKS, _BOTH, "bigsmall_concat", "BigSmall with channel-concatenation fusion")
_register("bigsmall_lateral_big2small", "bigsmall", BigSmall, {**_BS, "lateral": "b2s"},
          ALL_TASKS, _BOTH, "bigsmall_lateral_big2small", "BigSmall + Big-to-Small lateral connection")
_register("bigsmall_lateral_small2big", "bigsmall", BigSmall, {**_BS, "lateral": "s2b"},
          ALL_TASKS, _BOTH, "bigsmall_lateral_small2big", "BigSmall + Small-to-Big lateral connection")
_register("bigsmall_lateral_bidir", "bigsmall", BigSmall, {**_BS, "lateral": "bidir"},
          ALL_TASKS, _BOTH, "bigsmall_lateral_bidir", "BigSmall + bidirectional lateral connections")
_register("bigsmall_gray_big", "bigsmall", BigSmall, {**_BS, "big_gray": True},
          ALL_TASKS, _BOTH, None, "BigSmall with gray-scale Big input (mean over RGB)")
_register("bigsmall_aligned_bn", "bigsmall", BigSmall, {**_BS, "big_batchnorm": True},
          ALL_TASKS, _BOTH, None, "BigSmall for face-aligned input: BatchNorm after Big convs 1, 3, 5")
_register("big_branch_aligned_bn", "bigsmall", BigSmall,
          {**_BS, "use_small": False, "shift": "none", "big_downsample": False, "big_batchnorm": True},
          ("au",), ("big",), None, "Big branch for face-aligned input: BatchNorm after Big convs 1, 3, 5")
_register("bigsmall_pp", "bigsmall", BigSmall, {**_BS, "big_backbone": "jaanet"},
          ALL_TASKS, _BOTH, None, "BigSmall++: JAA-Net trunk as Big branch")

# Baselines (paper Table 2; supp. F.1, F.2)
_register("deepphys", "baseline", ConvAttentionNet, {"shift": "none"}, ("pulse",), _BOTH, None,
          "DeepPhys attention CNN on 9x9 inputs, one single-task model per temporal task",
          evaluated_tasks=("pulse", "resp"))
_register("mtts_can", "baseline", ConvAttentionNet, {"shift": "tsm"}, ("pulse", "resp"), _BOTH, None,
          "MTTS-CAN: TS-CAN (TSM in the motion branch) with pulse and breathing heads, 9x9 inputs")
_register("efficientphys", "baseline", EfficientPhys, {}, ("pulse",), ("small",), None,
          "EfficientPhys single-branch network on 9x9 difference frames")
_register("drml", "baseline", DRML, {}, ("au",), ("big",), None, "DRML (region layer) on 144x144 frames")
_register("alexnet", "baseline", AlexNet, {}, ("au",), ("big",), None, "AlexNet on 144x144 frames")
_register("jaanet_2018", "baseline", JAANet, {}, ("au",), ("big",), None,
          "JAA-Net (Shao et al., ECCV 2018; Table 2 row [39]) AU detector on 144x144 frames, "
          "simplified (no face-alignment branch, learned attention; see the compute audit)")
_register("jaanet_2021", "baseline", JAANet2021, {}, ("au",), ("big",), None,
          "JÂA-Net (Shao et al., IJCV 2021; Table 2 row [40]): jaanet_2018 plus a local AU "
          "detection head per AU on its attention-pooled feature, trained on the AU labels (output "
          "au_local, an auxiliary loss term) so that local detection refines the attention maps; "
          "the same simplifications (no face-alignment branch or landmark loss, learned attention, "
          "weighted BCE, 144x144)")

# constructors that know nothing of chunks (single-frame models)
_NO_CHUNK_ARG = {DRML, AlexNet}


def list_variants() -> list[str]:
    """Registered variant names in registration order."""
    return list(_REGISTRY)


def variant_info(name: str) -> VariantInfo:
    """Metadata of a variant; ValueError naming the known variants if unknown."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown model variant {name!r}; known: {', '.join(_REGISTRY)}") from None


def resolved_options(name: str, **options: Any) -> dict[str, Any]:
    """The constructor options of ``name`` with ``options`` applied over its defaults."""
    info = variant_info(name)
    opts = {**info.options, **options}
    if "tasks" in opts:
        opts["tasks"] = tuple(opts["tasks"])
    return opts


def build_model(name: str, seed: int | None = None, **options: Any) -> nn.Module:
    """Build variant ``name``; ``options`` override its defaults; ``seed`` fixes the init."""
    info = variant_info(name)
    opts = resolved_options(name, **options)
    if info.constructor in _NO_CHUNK_ARG:
        opts.pop("n_frames", None)
    model = info.constructor(**opts) if seed is None else _seeded(info.constructor, opts, seed)
    model.variant = name  # type: ignore[attr-defined]
    return model


def _seeded(constructor: Callable[..., nn.Module], opts: dict[str, Any], seed: int) -> nn.Module:
    """``constructor(**opts)`` on a private RNG stream: the same seed gives the same weights and
    the caller's RNG state (CPU and every accelerator) is left as it was.

    Models are built on the CPU, so only the CPU generator is seeded (the same weights as after
    ``torch.manual_seed(seed)``). ``torch.manual_seed`` itself would also re-seed every CUDA
    generator, or, before CUDA is initialised, queue that re-seeding for the first CUDA call,
    and ``fork_rng`` restores only the devices it forks. Already-initialised CUDA devices are
    forked as well, so nothing a constructor might draw there leaks out either.
    """
    cuda_devices = list(range(torch.cuda.device_count())) if torch.cuda.is_initialized() else []
    with torch.random.fork_rng(devices=cuda_devices):
        torch.default_generator.manual_seed(int(seed))
        return constructor(**opts)


def count_params(model: nn.Module) -> int:
    """Trainable parameters (BatchNorm running statistics are buffers, not counted)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)

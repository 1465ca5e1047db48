"""Model zoo: shapes per variant, Big temporal down-sampling, gradients, determinism, params."""

from __future__ import annotations

import pytest
import torch

from pipeline.compute_audit import load_reference
from pipeline.models import build_model, count_params, list_variants, variant_info
from pipeline.models.bigsmall import BigSmall

ALL = list_variants()
HEAVY = {"drml", "alexnet", "jaanet", "bigsmall_pp"}  # large or slow on CPU: fewer cases
N_AU = {"au": 12, "pulse": 1, "resp": 1}
# Reduced input sizes keep the forward/backward tests fast on 2 cores (the layer structure is
# the same; full-size shapes and counts are checked separately).
SIZES = {"drml": (72, 9), "alexnet": (96, 9), "deepphys": (48, 3), "mtts_can": (48, 3),
         "efficientphys": (48, 3), "jaanet": (48, 3)}


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def sized(name: str) -> dict:
    big, small = SIZES.get(name, (48, 3))
    if variant_info(name).family == "bigsmall":
        return {"big_size": big, "small_size": small}
    return {"big_size": big} if "big" in variant_info(name).inputs and name not in ("deepphys", "mtts_can") else {"small_size": small}


def inputs(n_chunks: int, n_frames: int, seed: int = 0, big_size: int = 144, small_size: int = 9) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n_chunks * n_frames, 3, big_size, big_size, generator=g),
            torch.randn(n_chunks * n_frames, 3, small_size, small_size, generator=g))


def small_inputs(name: str, n_chunks: int, n_frames: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    big, small = SIZES.get(name, (48, 3))
    return inputs(n_chunks, n_frames, seed, big, small)


def test_registry_names_are_the_contract() -> None:
    assert ALL == [
        "small_only", "big_only", "bigsmall_no_downsample", "bigsmall_no_shift", "bigsmall_tsm",
        "bigsmall", "bigsmall_concat", "bigsmall_lateral_b2s", "bigsmall_lateral_s2b",
        "bigsmall_lateral_bidir", "bigsmall_gray", "bigsmall_aligned_bn", "bigsmall_pp",
        "deepphys", "mtts_can", "efficientphys", "drml", "alexnet", "jaanet",
    ]
    with pytest.raises(ValueError, match="unknown model variant"):
        build_model("bigsmal")


@pytest.mark.parametrize("name", ALL)
def test_output_shapes_one_prediction_per_frame(name: str) -> None:
    info = variant_info(name)
    cases = [(2, 3)] if name in HEAVY else [(1, 3), (2, 3), (2, 1), (1, 5)]
    for n_chunks, n_frames in cases:
        model = build_model(name, seed=0, n_frames=n_frames, **sized(name)).eval()
        big, small = small_inputs(name, n_chunks, n_frames)
        with torch.no_grad():
            out = model(big if "big" in info.inputs else None, small if "small" in info.inputs else None)
        assert set(out) == set(info.tasks)
        for task, y in out.items():
            assert y.shape == (n_chunks * n_frames, N_AU[task])
            assert torch.isfinite(y).all()


def test_full_size_shapes() -> None:
    model = build_model("bigsmall", seed=0).eval()
    with torch.no_grad():
        out = model(*inputs(2, 3))
    assert {k: tuple(v.shape) for k, v in out.items()} == {"au": (6, 12), "pulse": (6, 1), "resp": (6, 1)}


def test_tasks_option_and_au_count() -> None:
    m = build_model("small_only", tasks=("resp",))
    assert set(m(None, inputs(1, 3)[1])) == {"resp"}
    assert count_params(m) == 701697
    m = build_model("bigsmall", n_au=8).eval()
    assert m(*inputs(1, 3))["au"].shape == (3, 8)


def test_bad_batch_raises() -> None:
    big, small = inputs(1, 4)
    with pytest.raises(ValueError, match="multiple of the chunk length"):
        build_model("bigsmall")(big, small)


@pytest.mark.parametrize("name", [n for n in ALL if variant_info(n).family == "bigsmall" and "big" in variant_info(n).inputs])
def test_big_sees_one_frame_per_chunk(name: str) -> None:
    n_chunks, n_frames = 2, 3
    model = build_model(name, seed=0, **sized(name)).eval()
    info = variant_info(name)
    seen: list[int] = []
    first = next(m for m in model.big.modules() if isinstance(m, torch.nn.Conv2d))
    hook = first.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[0]))
    big, small = small_inputs(name, n_chunks, n_frames)
    with torch.no_grad():
        ref = model(big, small if "small" in info.inputs else None)
        # change every Big frame except frame 0 of each chunk
        other = big.clone()
        keep = torch.arange(big.shape[0]) % n_frames == 0
        other[~keep] = torch.randn_like(other[~keep])
        alt = model(other, small if "small" in info.inputs else None)
    hook.remove()
    per_chunk = info.big_frames_per_chunk()
    assert seen == [n_chunks * per_chunk, n_chunks * per_chunk]
    changed = any(not torch.allclose(ref[t], alt[t]) for t in ref)
    assert changed == (per_chunk != 1)


def test_big_map_is_shared_by_the_frames_of_a_chunk() -> None:
    # Big only on frame 0; with Small inputs identical across a chunk and no shift, the N
    # predictions of a chunk must then be identical
    model = build_model("bigsmall_no_shift", seed=0).eval()
    big, small = inputs(2, 3)
    small = small[::3].repeat_interleave(3, dim=0)
    with torch.no_grad():
        out = model(big, small)["au"]
    assert torch.allclose(out[0], out[1]) and torch.allclose(out[0], out[2])
    assert not torch.allclose(out[0], out[3])


@pytest.mark.parametrize("name", ALL)
def test_gradient_reaches_every_parameter(name: str) -> None:
    info = variant_info(name)
    model = build_model(name, seed=0, **sized(name))
    model.eval()  # deterministic (no dropout); gradients flow all the same
    big, small = small_inputs(name, 1, 3)
    out = model(big if "big" in info.inputs else None, small if "small" in info.inputs else None)
    sum(y.pow(2).sum() for y in out.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


@pytest.mark.parametrize("name", ["bigsmall", "bigsmall_lateral_bidir", "mtts_can", "efficientphys", "drml"])
def test_same_seed_same_outputs(name: str) -> None:
    info = variant_info(name)
    big, small = small_inputs(name, 1, 3)
    args = (big if "big" in info.inputs else None, small if "small" in info.inputs else None)
    outs = []
    for seed in (5, 5, 6):
        model = build_model(name, seed=seed, **sized(name)).eval()
        with torch.no_grad():
            outs.append(model(*args))
    task = info.tasks[0]
    assert torch.equal(outs[0][task], outs[1][task])
    assert not torch.equal(outs[0][task], outs[2][task])


def test_seed_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    a = torch.rand(3)
    torch.manual_seed(123)
    build_model("small_only", seed=9)
    assert torch.equal(torch.rand(3), a)


@pytest.mark.parametrize("name", ALL)
def test_param_count_equals_the_audit(name: str) -> None:
    info = variant_info(name)
    ref = load_reference()["variants"]
    n = count_params(build_model(name))
    if info.published_key:
        assert n == ref[info.published_key]["params_exact"]
        assert round(n / 1e6, 2) == ref[info.published_key]["params_published_m"]
    else:
        assert n > 0


def test_architecture_facts() -> None:
    # BigSmall: 111,744 Big conv + 37,888 Small conv + 1,992,846 head parameters
    m = build_model("bigsmall")
    assert sum(p.numel() for p in m.big.parameters()) == 111744
    assert sum(p.numel() for p in m.small.parameters()) == 37888
    assert sum(p.numel() for p in m.heads.parameters()) == 1992846
    assert m.flat_features == 5184
    assert build_model("bigsmall_concat").flat_features == 10368
    # lateral connections widen Small conv 3 (B2S) / Big conv 3 (S2B) to 64 input channels
    assert build_model("bigsmall_lateral_b2s").small.convs[2].in_channels == 64
    assert build_model("bigsmall_lateral_s2b").big.convs[2].in_channels == 64
    assert build_model("bigsmall_gray").big.convs[0].in_channels == 1
    assert len(build_model("bigsmall_aligned_bn").big.norms) == 3
    with pytest.raises(ValueError):
        BigSmall(use_big=False, use_small=False)


def test_runs_on_cuda_when_present() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    for name in ("bigsmall", "bigsmall_lateral_bidir", "mtts_can"):
        model = build_model(name, seed=0).cuda().eval()
        big, small = (t.cuda() for t in inputs(2, 3))
        cpu = build_model(name, seed=0).eval()(*inputs(2, 3))
        with torch.no_grad():
            out = model(big, small)
        for t in out:
            assert out[t].device.type == "cuda"
            assert torch.allclose(out[t].cpu(), cpu[t].detach(), atol=1e-4)

"""Model zoo: shapes per variant, Big temporal down-sampling, gradients, determinism, params."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import torch
import yaml

from pipeline.compute_audit import audit_variant, load_reference
from pipeline.models import build_model, count_params, list_variants, variant_info
from pipeline.models.bigsmall import BigSmall
from pipeline.models.registry import resolved_options
from pipeline.train.loss import multitask_loss

PUBLISHED_PATH = Path(__file__).resolve().parents[1] / "pipeline" / "reference" / "published.yaml"
ALL = list_variants()
HEAVY = {"drml", "alexnet", "jaanet_2018", "jaanet_2021", "bigsmall_pp"}  # large or slow on CPU: fewer cases
N_AU = {"au": 12, "pulse": 1, "resp": 1, "au_local": 12}
# Reduced input sizes keep the forward/backward tests fast on 2 cores (the layer structure is
# the same; full-size shapes and counts are checked separately).
SIZES = {"drml": (72, 9), "alexnet": (96, 9), "deepphys": (48, 3), "mtts_can": (48, 3),
         "efficientphys": (48, 3), "jaanet_2018": (48, 3), "jaanet_2021": (48, 3)}
# Exact parameter counts (full-size models) of the variants without a published figure.
UNPUBLISHED_PARAMS = {
    "bigsmall_gray_big": 2_141_902, "bigsmall_aligned_bn": 2_142_734, "bigsmall_pp": 3_713_326,
    "big_branch_aligned_bn": 777_228,  # the Big branch's 776,972 plus 2 x (32 + 32 + 64) batch-norm weights
    "deepphys": 795_043, "mtts_can": 1_458_852, "efficientphys": 729_481, "drml": 35_306_252,
    "alexnet": 28_741_452, "jaanet_2018": 4_787_384,
    "jaanet_2021": 4_788_164,  # jaanet_2018 plus 12 local AU heads of 64 weights and a bias
}


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
        "small_branch", "big_branch", "bigsmall_no_downsampling", "bigsmall_no_shift", "bigsmall_tsm",
        "bigsmall", "bigsmall_concat", "bigsmall_lateral_big2small", "bigsmall_lateral_small2big",
        "bigsmall_lateral_bidir", "bigsmall_gray_big", "bigsmall_aligned_bn", "big_branch_aligned_bn", "bigsmall_pp",
        "deepphys", "mtts_can", "efficientphys", "drml", "alexnet", "jaanet_2018", "jaanet_2021",
    ]
    with pytest.raises(ValueError, match="unknown model variant"):
        build_model("bigsmal")


def test_variant_names_are_published_row_ids() -> None:
    # one name per thing: every variant is named by the paper-table row it reproduces, except
    # the batch-norm Big branches that the face-aligned ("*_aligned") rows run on aligned input
    published = yaml.safe_load(PUBLISHED_PATH.read_text())["tables"]
    row_ids = {row for table in published.values() for row in table["rows"]}
    assert set(ALL) - row_ids == {"bigsmall_aligned_bn", "big_branch_aligned_bn"}
    assert {"bigsmall_aligned", "big_branch_aligned"} <= row_ids
    assert all(variant_info(n).published_key in (n, None) for n in ALL)


@pytest.mark.parametrize("name", ALL)
def test_output_shapes_one_prediction_per_frame(name: str) -> None:
    info = variant_info(name)
    cases = [(2, 3)] if name in HEAVY else [(1, 3), (2, 3), (2, 1), (1, 5)]
    for n_chunks, n_frames in cases:
        model = build_model(name, seed=0, n_frames=n_frames, **sized(name)).eval()
        big, small = small_inputs(name, n_chunks, n_frames)
        with torch.no_grad():
            out = model(big if "big" in info.inputs else None, small if "small" in info.inputs else None)
        # the task heads, plus any auxiliary training output (jaanet_2021: au_local)
        assert set(out) == set(info.tasks) | set(getattr(model, "auxiliary_outputs", ()))
        for task, y in out.items():
            assert y.shape == (n_chunks * n_frames, N_AU[task])
            assert torch.isfinite(y).all()


def test_full_size_shapes() -> None:
    model = build_model("bigsmall", seed=0).eval()
    with torch.no_grad():
        out = model(*inputs(2, 3))
    assert {k: tuple(v.shape) for k, v in out.items()} == {"au": (6, 12), "pulse": (6, 1), "resp": (6, 1)}


def test_tasks_option_and_au_count() -> None:
    m = build_model("small_branch", tasks=("resp",))
    assert set(m(None, inputs(1, 3)[1])) == {"resp"}
    assert count_params(m) == 701697
    m = build_model("bigsmall", n_au=8).eval()
    assert m(*inputs(1, 3))["au"].shape == (3, 8)


def test_bad_batch_raises() -> None:
    big, small = inputs(1, 4)
    with pytest.raises(ValueError, match="multiple of the chunk length"):
        build_model("bigsmall")(big, small)


def _changed_rows(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> set[int]:
    """Rows (output frames) where any head's prediction differs between two forward passes."""
    return {i for i in range(next(iter(a.values())).shape[0]) if any(not torch.equal(a[t][i], b[t][i]) for t in a)}


@pytest.mark.parametrize("n_frames", [1, 3, 5])
@pytest.mark.parametrize("name", [n for n in ALL if variant_info(n).family == "bigsmall" and "big" in variant_info(n).inputs])
def test_big_sees_one_frame_per_chunk(name: str, n_frames: int) -> None:
    n_chunks = 2
    model = build_model(name, seed=0, n_frames=n_frames, **sized(name)).eval()
    info = variant_info(name)
    big, small = small_inputs(name, n_chunks, n_frames)
    small = small if "small" in info.inputs else None

    def run(x: torch.Tensor) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return model(x, small)

    seen: list[int] = []
    first = next(m for m in model.big.modules() if isinstance(m, torch.nn.Conv2d))
    hook = first.register_forward_hook(lambda mod, inp, out: seen.append(inp[0].shape[0]))
    ref = run(big)
    hook.remove()
    per_chunk = info.big_frames_per_chunk(n_frames)
    assert per_chunk == (1 if info.options["big_downsample"] and "small" in info.inputs else n_frames)
    assert seen == [n_chunks * per_chunk]
    noise = torch.Generator().manual_seed(1)

    # frame 0 of chunk 0 reaches chunk 0 only: all its N predictions when its Big map serves the
    # whole chunk, its own prediction when every frame goes through Big
    alt = big.clone()
    alt[0] = torch.randn(alt[0].shape, generator=noise)
    assert _changed_rows(ref, run(alt)) == (set(range(n_frames)) if per_chunk == 1 else {0})

    # frames 1..N-1 of every chunk: ignored with down-sampling, each its own prediction without
    if n_frames > 1:
        rest = torch.arange(n_chunks * n_frames) % n_frames != 0
        alt = big.clone()
        alt[rest] = torch.randn(alt[rest].shape, generator=noise)
        expected = set() if per_chunk == 1 else set(rest.nonzero().flatten().tolist())
        assert _changed_rows(ref, run(alt)) == expected


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


@pytest.mark.parametrize("name", ALL)
def test_same_seed_same_outputs(name: str) -> None:
    info = variant_info(name)
    big, small = small_inputs(name, 1, 3)
    args = (big if "big" in info.inputs else None, small if "small" in info.inputs else None)
    models, outs = [], []
    for seed in (5, 5, 6):
        model = build_model(name, seed=seed, **sized(name)).eval()
        with torch.no_grad():
            outs.append(model(*args))
        models.append(model.state_dict())
    assert all(torch.equal(models[0][k], models[1][k]) for k in models[0])
    for task in info.tasks:
        assert torch.equal(outs[0][task], outs[1][task])
        assert not torch.equal(outs[0][task], outs[2][task])


def test_seed_leaves_global_rng_alone() -> None:
    torch.manual_seed(123)
    a = torch.rand(3)
    torch.manual_seed(123)
    build_model("small_branch", seed=9)
    assert torch.equal(torch.rand(3), a)


@pytest.mark.parametrize("name", ["bigsmall", "bigsmall_aligned_bn", "mtts_can", "alexnet"])
def test_seeded_weights_are_those_of_manual_seed(name: str) -> None:
    # seeding only the CPU generator gives the weights torch.manual_seed(seed) gave
    info = variant_info(name)
    opts = resolved_options(name)
    if "n_frames" not in inspect.signature(info.constructor).parameters:
        opts.pop("n_frames")
    cuda = range(torch.cuda.device_count()) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=cuda):  # torch.manual_seed seeds CUDA too: restore it
        torch.manual_seed(7)
        expected = info.constructor(**opts).state_dict()
    got = build_model(name, seed=7).state_dict()
    assert list(got) == list(expected)
    assert all(torch.equal(got[k], expected[k]) for k in got)


def test_seed_does_not_reseed_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    # torch.manual_seed would re-seed every CUDA generator (or queue it until CUDA starts)
    calls: list[int] = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    monkeypatch.setattr(torch.cuda, "manual_seed", lambda seed: calls.append(seed))
    build_model("bigsmall", seed=3)
    assert calls == []


def test_seed_leaves_cuda_rng_alone() -> None:
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    torch.cuda.manual_seed_all(123)
    before = torch.cuda.get_rng_state_all()
    a = torch.rand(3, device="cuda")
    torch.cuda.set_rng_state_all(before)
    build_model("bigsmall", seed=9)
    assert all(torch.equal(x, y) for x, y in zip(torch.cuda.get_rng_state_all(), before))
    assert torch.equal(torch.rand(3, device="cuda"), a)


@pytest.mark.parametrize("name", ALL)
def test_param_count_equals_the_audit(name: str) -> None:
    # the compute audit's count (no forward pass) is that of the model the registry builds
    info = variant_info(name)
    n = count_params(build_model(name))
    assert audit_variant(name, info.chunk_length, flops=False)["params"] == n
    if info.published_key:
        pub = load_reference()["variants"][info.published_key]
        assert n == pub["params_exact"]
        assert round(n / 1e6, 2) == pub["params_published_m"]
    else:
        assert n == UNPUBLISHED_PARAMS[name]


def test_every_unpublished_count_is_pinned() -> None:
    assert set(UNPUBLISHED_PARAMS) == {n for n in ALL if variant_info(n).published_key is None}


def test_architecture_facts() -> None:
    # BigSmall: 111,744 Big conv + 37,888 Small conv + 1,992,846 head parameters
    m = build_model("bigsmall")
    assert sum(p.numel() for p in m.big.parameters()) == 111744
    assert sum(p.numel() for p in m.small.parameters()) == 37888
    assert sum(p.numel() for p in m.heads.parameters()) == 1992846
    assert m.flat_features == 5184
    assert build_model("bigsmall_concat").flat_features == 10368
    # lateral connections widen Small conv 3 (B2S) / Big conv 3 (S2B) to 64 input channels
    assert build_model("bigsmall_lateral_big2small").small.convs[2].in_channels == 64
    assert build_model("bigsmall_lateral_small2big").big.convs[2].in_channels == 64
    assert build_model("bigsmall_gray_big").big.convs[0].in_channels == 1
    assert len(build_model("bigsmall_aligned_bn").big.norms) == 3
    assert len(build_model("big_branch_aligned_bn").big.norms) == 3
    with pytest.raises(ValueError):
        BigSmall(use_big=False, use_small=False)


def test_jaanet_2021_is_jaanet_2018_plus_local_au_heads() -> None:
    """JÂA-Net (IJCV 2021): a seed gives jaanet_2018's weights and final AU logits plus one local
    head per AU, whose logit is that AU's own linear map of its local feature; a seed repeats
    both outputs exactly."""
    big, _ = small_inputs("jaanet_2021", 2, 3)
    old = build_model("jaanet_2018", seed=4, big_size=48).eval()
    new = build_model("jaanet_2021", seed=4, big_size=48).eval()
    again = build_model("jaanet_2021", seed=4, big_size=48).eval()
    old_state, new_state = old.state_dict(), new.state_dict()
    assert set(new_state) - set(old_state) == {"local_heads.weight", "local_heads.bias"}
    assert all(torch.equal(old_state[k], new_state[k]) for k in old_state)
    assert tuple(new_state["local_heads.weight"].shape) == (12, 64, 1)
    assert count_params(new) - count_params(old) == 12 * 64 + 12
    with torch.no_grad():
        out, out_again, ref = new(big), again(big), old(big)
        glob, local = new.global_and_local(big)
    assert {k: tuple(v.shape) for k, v in out.items()} == {"au": (6, 12), "au_local": (6, 12)}
    assert tuple(glob.shape) == (6, 64 * 3 * 3) and tuple(local.shape) == (6, 12, 64)
    assert torch.equal(out["au"], ref["au"])
    assert all(torch.equal(out[k], out_again[k]) for k in ("au", "au_local"))
    weight, bias = new_state["local_heads.weight"][:, :, 0], new_state["local_heads.bias"]
    assert torch.allclose(out["au_local"], torch.einsum("bkc,kc->bk", local, weight) + bias, atol=1e-6)
    assert not torch.allclose(out["au_local"], out["au"])
    with pytest.raises(ValueError, match="need the au task"):
        build_model("jaanet_2021", tasks=("pulse",))


def test_jaanet_2021_local_term_trains_the_attention_not_the_final_head() -> None:
    """The local AU detection term alone reaches the attention maps, the per-AU local transform
    and the trunk but not the final AU head; the whole loss reaches every parameter."""
    model = build_model("jaanet_2021", seed=0, big_size=48).eval()  # eval: no dropout
    big, _ = small_inputs("jaanet_2021", 1, 3)
    labels = {"au": (torch.arange(36).reshape(1, 3, 12) % 3 == 0).float(), "au_mask": torch.ones(1, 3, 12)}
    total, parts = multitask_loss(model(big), labels, ("au",), pos_weight=torch.full((12,), 2.0))
    assert list(parts) == ["au", "au_local"]
    assert total.item() == pytest.approx(parts["au"].item() + parts["au_local"].item(), rel=1e-6)
    parts["au_local"].backward(retain_graph=True)
    reached = {n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0}
    assert {"attention.weight", "attention.bias", "local.weight", "local_heads.weight"} <= reached
    assert any(n.startswith("trunk.") for n in reached)
    assert not any(n.startswith("heads.") for n in reached)
    model.zero_grad(set_to_none=True)
    total.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.parameters())


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

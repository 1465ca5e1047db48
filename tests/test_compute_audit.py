"""Compute audit: the FLOP convention on hand-countable layers, the BigSmall decomposition of the
authors' code, and the stage's CSV/JSON against the published figures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from torch import nn

from pipeline import compute_audit
from pipeline.errors import ConfigError, InputError
from pipeline.models import build_model, count_params, list_variants, variant_info
from pipeline.models.flops import count_flops
from pipeline.stages import compute_audit as audit_stage
from tests.tiny_config import ROOT, tiny_params

# the sheet's compute-audit row (no overrides: the variants come from params.yaml 'compute')
RUN = "compute_audit/all_variants"
SHEET = str(ROOT / "experiments.yaml")

PUBLISHED = [n for n in list_variants() if variant_info(n).published_key]  # Table 1, supp. Table 3


pytestmark = pytest.mark.usefixtures("one_torch_thread")


class _Toy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)  # with bias
        self.conv_nb = nn.Conv2d(4, 4, 3, padding=1, bias=False)
        self.pool = nn.AvgPool2d(2)
        self.fc = nn.Linear(4 * 3 * 3, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x))
        y = torch.tanh(self.conv_nb(y)) + y  # activations and sums are free
        y = nn.functional.max_pool2d(y, 2, ceil_mode=True)  # functional pooling counts too
        return self.fc(self.pool(y).flatten(1))


def test_convention_on_hand_counted_layers() -> None:
    fc = count_flops(_Toy(), (torch.zeros(2, 3, 12, 12),))
    conv = 9 * 3 * 4 * 144 + 4 * 144  # MACs + bias adds per image
    conv_nb = 9 * 4 * 4 * 144  # no bias, no adds
    pools = 4 * 144 + 4 * 36  # max-pool inputs + avg-pool inputs
    linear = 36 * 5  # in*out, bias free
    assert fc.total == 2 * (conv + conv_nb + pools + linear)
    assert fc.uncounted_ops == {}


def test_bigsmall_matches_the_authors_decomposition() -> None:
    # flopth on the authors' code, one 3-frame chunk: Big conv MACs 447,897,600 + bias adds
    # 1,990,656 + pooling 1,078,272; Small per frame 3,068,928; three heads per frame 1,992,448
    model = build_model("bigsmall")
    fc = count_flops(model, (torch.zeros(3, 3, 144, 144), torch.zeros(3, 3, 9, 9)))
    assert fc.by_operator["pool"] == 1_078_272
    assert fc.by_operator["linear"] == 3 * 1_992_448
    assert fc.by_operator["conv"] == 447_897_600 + 1_990_656 + 3 * 3_068_928
    assert fc.total == 466_150_656  # = 155.384 M per output frame


def test_flops_do_not_depend_on_weights_or_shift() -> None:
    counts = {
        name: count_flops(build_model(name, seed=s), (torch.zeros(3, 3, 144, 144), torch.zeros(3, 3, 9, 9))).total
        for name, s in [("bigsmall", 0), ("bigsmall_tsm", 1), ("bigsmall_no_shift", 2)]
    }
    assert len(set(counts.values())) == 1


def test_every_published_figure_has_a_variant() -> None:
    keys = {variant_info(n).published_key for n in PUBLISHED}
    assert keys == set(compute_audit.load_reference()["variants"])
    assert all(variant_info(n).published_key == n for n in PUBLISHED)  # one name per thing
    assert len(PUBLISHED) == 10


@pytest.mark.parametrize("name", PUBLISHED)
def test_published_flops_within_tolerance_and_exact_params(name: str) -> None:
    tolerance = yaml.safe_load((ROOT / "params.yaml").read_text())["compute"]["flops_tolerance"]
    assert tolerance == 0.01
    reference = compute_audit.load_reference()
    pub = reference["variants"][variant_info(name).published_key]
    table, details = compute_audit.compute_audit([name], reference["chunk_length"], tolerance, reference)
    d = details[name]
    assert d["uncounted_ops"] == {}
    assert abs(d["mflops_per_frame"] - pub["mflops_published"]) <= tolerance * pub["mflops_published"]
    assert d["flops_within_tolerance"] is True
    assert d["params"] == pub["params_exact"] == count_params(build_model(name))
    assert d["params_match"] is True and d["params_rounding_match"] is True
    row = table.iloc[0]
    assert row["published_mflops"] == pub["mflops_published"] and row["published_params"] == pub["params_exact"]
    if pub["mflops_authors_code"] is not None:
        # the counted figure is that of flopth on the authors' public class (to the printed
        # precision), except the lateral Big-to-Small pooling flopth does not see (0.055 M)
        lateral_pool = 0.055 if variant_info(name).options["lateral"] in ("b2s", "bidir") else 0.0
        assert d["mflops_per_frame"] == pytest.approx(pub["mflops_authors_code"] + lateral_pool, abs=0.006)


def test_big_plus_two_small_is_table_1_not_the_text() -> None:
    # paper Sec. 5.2 prints "Big + 2xSmall: 549M FLOPs"; its Table 1 gives 451.63 + 2 x 3.73
    big = compute_audit.audit_variant("big_branch", 3)["mflops_per_frame"]
    small = compute_audit.audit_variant("small_branch", 3)["mflops_per_frame"]
    assert big + 2 * small == pytest.approx(451.63 + 2 * 3.73, abs=0.01)
    assert big + 2 * small == pytest.approx(459.10, abs=0.005)


def _params_file(tmp_path: Path, **compute: object) -> Path:
    params = tiny_params()
    params["compute"] = {**params["compute"], **compute}
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_stage_writes_the_contract(tmp_path: Path) -> None:
    variants = ["small_branch", "big_branch", "bigsmall", "bigsmall_concat", "bigsmall_lateral_bidir", "jaanet_2018",
                "jaanet_2021"]
    out = tmp_path / "results" / "runs" / "compute_audit" / "all_variants" / "audit.csv"
    audit_stage.main(["--run", RUN, "--sheet", SHEET, "--params", str(_params_file(tmp_path, variants=variants)), "--out", str(out)])
    table = pd.read_csv(out)
    assert list(table.columns) == compute_audit.COLUMNS
    assert table["variant"].tolist() == variants
    rows = table.set_index("variant")
    for name in variants[:-2]:
        assert rows.loc[name, "params"] == count_params(build_model(name))
        assert rows.loc[name, "params"] == rows.loc[name, "published_params"]
        assert abs(rows.loc[name, "mflops_rel_diff"]) <= 0.01
    assert rows.loc["bigsmall", "published_mflops"] == 154.01
    assert rows.loc["bigsmall", "mflops_per_frame"] == pytest.approx(155.3836, abs=1e-4)
    assert rows.loc["big_branch", "mflops_per_frame"] == pytest.approx(451.63, abs=0.005)
    assert rows.loc["small_branch", "mflops_per_frame"] == pytest.approx(3.73, abs=0.005)
    assert rows.loc["bigsmall_lateral_bidir", "params"] == 2_160_910
    assert "0.9%" in rows.loc["bigsmall", "note"]
    # the text's "Big + 2xSmall: 549M" against Table 1's own 451.63 + 2 x 3.73
    assert "549M" in rows.loc["bigsmall", "note"] and "459.09 M" in rows.loc["bigsmall", "note"]
    assert pd.isna(rows.loc["jaanet_2018", "published_mflops"]) and "face-alignment" in rows.loc["jaanet_2018", "note"]
    assert "JAA-Net row [39] of paper Table 2 (ECCV 2018)" in rows.loc["jaanet_2018", "note"]
    assert "its IJCV 2021 extension [40] is jaanet_2021" in rows.loc["jaanet_2018", "note"]
    # JÂA-Net 2021: jaanet_2018 plus 12 local heads of 64 weights + bias, 780 MACs + biases per frame
    assert pd.isna(rows.loc["jaanet_2021", "published_mflops"])
    assert rows.loc["jaanet_2021", "params"] == rows.loc["jaanet_2018", "params"] + 780 == 4_788_164
    assert rows.loc["jaanet_2021", "mflops_per_frame"] - rows.loc["jaanet_2018", "mflops_per_frame"] == pytest.approx(
        780e-6, abs=1e-4)
    assert rows.loc["jaanet_2018", "mflops_per_frame"] == pytest.approx(484.4431, abs=1e-4)
    note = rows.loc["jaanet_2021", "note"]
    assert "row [40] of paper Table 2 (IJCV 2021)" in note and "local AU detection head" in note
    assert "no face-alignment branch or landmark loss" in note and "weighted BCE" in note and "144x144" in note
    summary = json.loads((out.parent / "audit.json").read_text())
    assert summary["all_checks_pass"] is True
    assert summary["variants"]["bigsmall"]["mflops_authors_code"] == 155.38
    assert {"git_commit", "params_hash", "seed"} <= set(summary["provenance"])


def test_strict_mismatch_fails_after_writing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = compute_audit.load_reference()
    ref["variants"]["small_branch"]["params_exact"] += 1
    monkeypatch.setattr(compute_audit, "load_reference", lambda: ref)
    out = tmp_path / "audit.csv"
    with pytest.raises(InputError, match="small_branch"):
        audit_stage.main(["--run", RUN, "--sheet", SHEET, "--params", str(_params_file(tmp_path, variants=["small_branch"])), "--out", str(out)])
    assert out.exists() and json.loads((tmp_path / "audit.json").read_text())["all_checks_pass"] is False


def test_other_chunk_length_is_not_compared(tmp_path: Path) -> None:
    out = tmp_path / "audit.csv"
    audit_stage.main(["--run", RUN, "--sheet", SHEET, "--params", str(_params_file(tmp_path, variants=["bigsmall"], n_frames=5)), "--out", str(out)])
    row = pd.read_csv(out).iloc[0]
    assert pd.isna(row["published_mflops"]) and "N=3" in row["note"]
    # Big once per 5 frames: (450,966,528 + 5 * (3,068,928 + 1,992,448)) / 5
    assert row["mflops_per_frame"] == pytest.approx((450_966_528 + 5 * 5_061_376) / 5 / 1e6, abs=1e-4)


def test_schema_rejects_bad_section(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="compute"):
        audit_stage.main(["--run", RUN, "--sheet", SHEET, "--params", str(_params_file(tmp_path, variants=["bigsmal"])), "--out", str(tmp_path / "a.csv")])
    with pytest.raises(ConfigError, match="compute"):
        audit_stage.main(["--run", RUN, "--sheet", SHEET, "--params", str(_params_file(tmp_path, n_frames=0)), "--out", str(tmp_path / "a.csv")])

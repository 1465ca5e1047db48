"""The experiment sheet: schema, cross-references, settings of a row, runs left out."""

from __future__ import annotations

import copy

import pytest
import yaml

from pipeline.errors import ConfigError
from pipeline.experiments.references import check_references
from pipeline.experiments.sheet import active_runs, get_run, left_out_reason, run_settings, runs_of, validate_sheet
from pipeline.models.registry import list_variants, variant_info
from pipeline.reference.papers import published
from tests.tiny_config import ROOT

SHEET = yaml.safe_load((ROOT / "experiments.yaml").read_text())
PARAMS = yaml.safe_load((ROOT / "params.yaml").read_text())


def edited(path: str, value) -> dict:
    sheet = copy.deepcopy(SHEET)
    node = sheet
    *parents, leaf = path.split(".")
    for part in parents:
        node = node[part]
    node[leaf] = value
    return sheet


def test_committed_sheet_is_valid():
    validate_sheet(SHEET)
    check_references(SHEET, PARAMS)


def test_todays_experiments_and_table_1_are_rows():
    ids = [r.id for r in runs_of(SHEET)]
    assert {"baselines/bp4d", "baselines/ubfc", "baselines/pure", "compute_audit/all_variants"} <= set(ids)
    table1 = [r for r in runs_of(SHEET, "train") if r.experiment == "table1"]
    # one row per published Table 1 row, named by its id, running the variant of that name
    assert [r.name for r in table1] == list(published("paper_table1").index)
    for run in table1:
        assert run.row["variant"] == run.name and run.name in list_variants()
        assert run.published[0] == {"table": "paper_table1", "row": run.name}
        # a run the paper repeats in another table is named there too, not trained twice
        assert all(p["row"] == run.name for p in run.published)
        assert set(run.row["tasks"]) <= set(variant_info(run.name).evaluated_tasks)
        assert run.row["train_data"] == run.row["test_data"] == "bp4d" and run.row["folds"] == "all"


def test_table_2_and_supplementary_tables_3_and_4_are_rows():
    """Every published row of those tables is one row of the sheet (its own experiment's, or Table
    1's run, or a baseline row for POS/CHROM). The face-aligned (dagger) rows read the aligned
    cache variant and run the row's model (the batch-norm Big branch for the Big branch and
    BigSmall)."""
    covered = {(p["table"], p["row"]) for r in runs_of(SHEET) for p in r.published}
    for table in ("paper_table2", "supp_table1", "supp_table3", "supp_table4"):
        missing = {row for row in published(table).index if (table, row) not in covered}
        assert missing == set(), (table, missing)
    for run in runs_of(SHEET, "train"):
        if run.experiment in ("table2", "supp_table3", "supp_table4"):
            own = {"table2": "paper_table2"}.get(run.experiment, run.experiment)
            variant = run.row["variant"]
            if run.name.endswith("_aligned"):
                assert run.cache == "aligned"
                assert run.name in (f"{variant}_aligned", variant.removesuffix("_bn"))
            else:
                assert run.cache is None and variant == run.name
            assert run.published[0] == {"table": own, "row": run.name}
            assert all(p["row"] == run.name for p in run.published)
            assert set(run.row["tasks"]) <= set(variant_info(variant).evaluated_tasks)


def test_every_train_row_names_a_registered_variant():
    for run in runs_of(SHEET, "train"):
        assert run.row["variant"] in list_variants(), run.id


@pytest.mark.parametrize("path,value,message", [
    ("experiments.table1.runs.bigsmall.colour", 1, "unknown key 'experiments.table1.runs.bigsmall.colour'"),
    ("experiments.table1.runs.bigsmall.tasks", ["ppg"], "key 'experiments.table1.runs.bigsmall.tasks.0'"),
    ("experiments.table1.runs.bigsmall.test_data", "mmse", "key 'experiments.table1.runs.bigsmall.test_data'"),
    ("experiments.table1.runs.bigsmall.parent", "table1/nothing",
     "key 'experiments.table1.runs.bigsmall.parent': no run 'table1/nothing'"),
    ("experiments.table1.stage", "fit", "key 'experiments.table1.stage'"),
])
def test_schema_errors_name_the_key(path, value, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.").replace("(", r"\(")):
        validate_sheet(edited(path, value))


def test_published_ids_and_overrides_are_checked():
    bad_row = edited("experiments.table1.runs.bigsmall.published", [{"table": "paper_table1", "row": "bigsmal"}])
    with pytest.raises(ConfigError, match="table 'paper_table1' has no row 'bigsmal'"):
        check_references(bad_row, PARAMS)
    bad_override = edited("experiments.baselines.runs.bp4d.overrides", {"method": ["POS"]})
    with pytest.raises(ConfigError, match=r"baselines\.runs\.bp4d\.overrides\.method': not a key of params\.yaml 'unsupervised'"):
        check_references(bad_override, PARAMS)
    cross = edited("experiments.table1.runs.bigsmall.parent", "baselines/bp4d")
    with pytest.raises(ConfigError, match="is a unsupervised run, not a train run"):
        check_references(validate_sheet(cross), PARAMS)
    # an override's value obeys the section's schema, like params.yaml's own
    zero_stride = edited("experiments.table2.runs.jaanet_2018_aligned.overrides", {"chunk_length": 1, "chunk_stride": 0})
    with pytest.raises(ConfigError, match=r"jaanet_2018_aligned\.overrides\.chunk_stride': 0 is less than the minimum of 1$"):
        check_references(zero_stride, PARAMS)


def test_settings_are_the_defaults_with_the_row_overrides():
    sheet = edited("experiments.baselines.runs.ubfc.overrides", {"hr_mode": "windowed"})
    ubfc, bp4d = get_run(sheet, "baselines/ubfc"), get_run(sheet, "baselines/bp4d")
    assert run_settings(PARAMS, ubfc) == {**PARAMS["unsupervised"], "hr_mode": "windowed"}
    assert run_settings(PARAMS, bp4d) == {**PARAMS["unsupervised"], "trace": "crop"}
    assert PARAMS["unsupervised"]["trace"] == "region"
    assert ubfc.tracked_key == "experiments.baselines.runs.ubfc"


def test_runs_whose_data_is_not_configured_are_left_out_with_a_reason():
    params = {**PARAMS, "datasets": ["ubfc"]}
    active = [r.id for r in active_runs(SHEET, params)]
    assert active == ["baselines/ubfc", "compute_audit/all_variants"]
    assert left_out_reason(get_run(SHEET, "table1/bigsmall"), params) == "bp4d not in params.yaml 'datasets'"
    with pytest.raises(ConfigError, match="no run 'table1/nothing'"):
        get_run(SHEET, "table1/nothing")

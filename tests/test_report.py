"""The report stage on small hand-made inputs: numbers beside the published ones, self-contained HTML."""

from __future__ import annotations

import base64
import copy
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.stats
import yaml

from pipeline.cache.format import FORMAT_VERSION, INDEX_COLUMNS
from pipeline.config import validate_params
from pipeline.manifest import read_manifest
from markupsafe import escape

from pipeline.reference.papers import table_info, table_names
from pipeline.report import build
from pipeline.report import items as report_items
from pipeline.report import tables as T
from pipeline.report.inputs import INPUT_NAMES, UndeclaredInput
from pipeline.report.items.base import ItemOutput, Published, ReportItem, fragment, html_table, table_files
from pipeline.report.tables import AUDIT_COLUMNS, DATASET_NAMES, published_hr_table
from pipeline.stages import report as report_stage
from tests.tiny_config import ROOT
from tests.test_unsupervised import FPS, _bp_wave, _trace, _write_trial

REPO = Path(__file__).resolve().parent.parent
PARAMS = yaml.safe_load((REPO / "params.yaml").read_text())

# reproduced numbers of the hand-made stage outputs (published: UBFC POS 2.79/4.69/3.25/0.97,
# UBFC CHROM 3.13/5.11/3.68/0.97, BP4D+ POS 10.40/19.53/9.73/0.41)
UBFC = {"POS": {"hr_mae": 3.21, "hr_rmse": 4.00, "hr_mape": 3.5, "hr_pearson": 0.9, "n_trials": 4},
        "CHROM": {"hr_mae": 3.13, "hr_rmse": 6.11, "hr_mape": 2.68, "hr_pearson": None, "n_trials": 4}}
BP4D = {"POS": {"hr_mae": 12.5, "hr_rmse": 19.0, "hr_mape": 9.73, "hr_pearson": 0.5, "n_trials": 3},
        "CHROM": {"hr_mae": 5.0, "hr_rmse": 13.0, "hr_mape": 5.0, "hr_pearson": 0.7, "n_trials": 3}}


def _manifest(path: Path, dataset: str, trials: list[tuple[str, ...]]) -> Path:
    """Trials as (trial id, subject, status, reason[, warning])."""
    rows = [{"dataset": dataset, "trial_id": t, "subject": s, "task": "T1", "n_frames": 600, "fps": 30.0,
             "duration_s": 20.0, "pulse_len": 600, "resp_len": "", "au_len": "", "au_start": "",
             "au_stop": "", "status": st, "reason": why, "warning": (rest or [""])[0]}
            for t, s, st, why, *rest in trials]
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _unsup(folder: Path, dataset: str, metrics: dict) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    for method, m in metrics.items():
        for i in range(m["n_trials"]):
            rows.append({"dataset": dataset, "trial_id": f"s{i}_T1", "subject": f"s{i}", "task": "T1",
                         "fold": f"fold{i % 2 + 1}", "method": method, "window_start_s": 0.0,
                         "window_end_s": 20.0, "hr_pred": 70.0 + i, "hr_true": 72.0 + 2 * i,
                         "abs_err": 2.0 + i, "status": "ok", "reason": ""})
    rows.append({"dataset": dataset, "trial_id": "s9_T1", "subject": "s9", "task": "T1", "fold": "fold1",
                 "method": "POS", "status": "excluded", "reason": "POS: POS needs at least one window of 48 frames, got 40"})
    pd.DataFrame(rows).to_csv(folder / "predictions.csv", index=False)
    per_fold = {"fold1": {k: dict(v, n_excluded_trials=0) for k, v in metrics.items()}}
    (folder / "metrics.json").write_text(json.dumps({
        **{k: dict(v, n_excluded_trials=0) for k, v in metrics.items()}, "per_fold": per_fold,
        "dataset": dataset, "hr_mode": "trial", "methods": list(metrics), "cache_key": "k1",
        "trials_outside_test_folds": [], "provenance": {"git_commit": "abc"}}))
    return folder


# rendered truth of the hand-made UBFC trials s0..s3: Fitzpatrick type and mean heart rate.
# Their predictions are 70 + i against a ground truth of 72 + 2i (absolute errors 2, 3, 4, 5).
UBFC_SKIN = {"s0_T1": 1, "s1_T1": 1, "s2_T1": 5, "s3_T1": 6}
UBFC_RENDERED = {"s0_T1": 71.0, "s1_T1": 73.0, "s2_T1": 72.0, "s3_T1": 75.0}


def _raw(folder: Path, dataset: str, skin: dict[str, int] | None, rendered: dict[str, float]) -> Path:
    """A raw folder with a generator summary (``skin`` None: the summary predates skin types)."""
    trials = []
    for tid, hr in rendered.items():
        trial = {"trial_id": tid, "subject": tid.split("_")[0], "mean_hr_bpm": hr}
        if skin is not None:
            trial["fitzpatrick"] = skin[tid]
            trial["illuminant"] = {"cct_k": 5000.0, "white_balance": 0.5, "rgb_gain": [1.0, 1.0, 1.0]}
        trials.append(trial)
    (folder / "_truth").mkdir(parents=True)
    (folder / "_truth" / "summary.json").write_text(json.dumps(
        {"dataset": dataset, "seed": 7, "difficulty": "hard", "n_trials": len(trials), "trials": trials}))
    return folder


@pytest.fixture()
def inputs(tmp_path: Path) -> build.ReportInputs:
    m_ubfc = _manifest(tmp_path / "interim/ubfc/manifest.csv", "ubfc", [
        ("subject1", "subject1", "ok", ""),
        ("subject2", "subject2", "ok", "", "recorded heart rate implausible (40% of it under 30 bpm, lowest 2.0)"),
        ("subject3", "subject3", "excluded", "label shorter than the video")])
    m_bp4d = _manifest(tmp_path / "interim/bp4d/manifest.csv", "bp4d", [
        ("F001T1", "F001", "ok", ""), ("F001T8", "F001", "excluded", "published exclusion list (supp. D)")])
    splits = []
    for ds, folds, unlisted in [("ubfc", [["subject1"], ["subject2"]], []),
                                ("bp4d", [["F001"], ["M001"]], ["F006"])]:
        p = tmp_path / f"interim/{ds}/splits.json"
        p.write_text(json.dumps({"dataset": ds, "source": "test", "policy": "exclude",
                                 "folds": [{"name": f"fold{i + 1}", "test": t, "train": []} for i, t in enumerate(folds)],
                                 "unlisted_subjects": unlisted, "excluded_subjects": {"F006": "in no published split"} if unlisted else {}}))
        splits.append(p)
    key = tmp_path / "cache/ubfc/k1"
    key.mkdir(parents=True)
    rows = [_write_trial(key, "subject1", "subject1", _trace(1.2, 600, 1), _bp_wave(1.2, 600))]
    with __import__("h5py").File(key / "subject1.h5", "a") as h5:
        h5.create_dataset("labels/pos_ppg_raw", data=np.sin(2 * np.pi * 1.2 * np.arange(600) / FPS))
    pd.DataFrame(rows, columns=list(INDEX_COLUMNS)).to_csv(key / "index.csv", index=False)
    (key / "cache_info.json").write_text(json.dumps({"key": "k1", "dataset": "ubfc", "format_version": FORMAT_VERSION}))
    audit = tmp_path / "compute/audit.csv"
    audit.parent.mkdir(parents=True)
    pd.DataFrame([{"variant": "bigsmall", "params": 2142478, "published_params": 2140000,
                   "params_rel_diff": 0.00116, "mflops_per_frame": 155.384, "published_mflops": 154.01,
                   "mflops_rel_diff": 0.00892, "source": "paper Table 1", "note": "flopth convention"}],
                 columns=AUDIT_COLUMNS).to_csv(audit, index=False)
    return build.ReportInputs(
        manifests=[m_ubfc, m_bp4d], splits=splits,
        unsupervised=[_unsup(tmp_path / "unsup/ubfc", "ubfc", UBFC), _unsup(tmp_path / "unsup/bp4d", "bp4d", BP4D)],
        audit=audit, caches=[tmp_path / "cache/ubfc"],
        raw=[_raw(tmp_path / "raw/ubfc", "ubfc", UBFC_SKIN, UBFC_RENDERED),
             _raw(tmp_path / "raw/bp4d", "bp4d", None, {"F001T1": 80.0})],
        sheet=ROOT / "experiments.yaml", audit_runs=["compute_audit/all_variants"])


def _params(**report_overrides) -> dict:
    p = copy.deepcopy(PARAMS)
    p["datasets"] = ["bp4d", "ubfc"]
    p["synth"]["datasets"] = ["bp4d", "ubfc"]
    p["report"].update(report_overrides)
    return validate_params(p)


def _row(html: str, first_cell: str, section: str) -> list[str]:
    """Cells of the first table row starting with ``first_cell`` after the heading ``section``."""
    start = html.index(section)
    row = re.search(rf"<tr>\s*<td>{re.escape(first_cell)}</td>(.*?)</tr>", html[start:], re.S)
    assert row, (first_cell, section)
    return [first_cell] + re.findall(r"<td>(.*?)</td>", row.group(1), re.S)


def test_report_numbers_beside_published(inputs, tmp_path):
    out = tmp_path / "reports"
    metrics = build.build_report(_params(), inputs, out)
    html = (out / "index.html").read_text()
    # UBFC: ours, paper, diff for MAE, RMSE, MAPE, r
    assert _row(html, "POS", "UBFC-rPPG (trial rates)") == [
        "POS", "4", "3.21", "2.79", "+0.42", "4.00", "4.69", "-0.69", "3.50", "3.25", "+0.25", "0.90", "0.97", "-0.07"]
    assert _row(html, "CHROM", "UBFC-rPPG (trial rates)")[2:5] == ["3.13", "3.13", "+0.00"]
    assert _row(html, "CHROM", "UBFC-rPPG (trial rates)")[11:14] == ["–", "0.97", "–"]  # r undefined
    assert _row(html, "POS", "BP4D+ (trial rates)")[2:5] == ["12.50", "10.40", "+2.10"]
    assert "paper, Section 5.4, Table 2" in html and "Table 3" in html
    assert metrics["unsupervised"]["ubfc"]["POS"]["hr_mae_published"] == 2.79
    assert metrics["unsupervised"]["ubfc"]["POS"]["hr_mae_diff"] == pytest.approx(0.42)
    assert metrics["unsupervised"]["bp4d"]["CHROM"]["hr_rmse_published"] == 13.28
    assert metrics["unsupervised"]["ubfc"]["CHROM"]["hr_pearson"] is None
    assert metrics["datasets"]["ubfc"] == {"trials": 3, "trials_ok": 2, "trials_excluded": 1,
                                           "data_origin": {"kind": "built-in", "preset": "hard", "seed": 7}}
    assert metrics["absent_inputs"] == 0
    on_disk = json.loads((out / "metrics.json").read_text())
    assert on_disk["unsupervised"] == metrics["unsupervised"]
    # DVC's metrics: only the headline numbers, here POS/CHROM HR MAE per dataset
    headline = json.loads((out / "headline.json").read_text())
    assert headline["unsupervised_hr_mae"]["ubfc"] == {"POS": pytest.approx(3.21), "CHROM": pytest.approx(3.13)}
    assert headline["unsupervised_hr_mae"]["bp4d"]["POS"] == pytest.approx(12.50)
    # dataset summary, exclusions with reasons, subjects outside the published splits
    assert "label shorter than the video" in html and "published exclusion list (supp. D)" in html
    # a trial kept and scored despite a warning is listed, never silently
    flagged = html[html.index("Excluded and flagged trials"):]
    cells = re.findall(r"<td>(.*?)</td>", re.search(r"<tr>\s*<td>ubfc</td>\s*<td>kept, scored</td>.*?</tr>",
                                                    flagged, re.S).group(0))
    assert cells == ["ubfc", "kept, scored", "recorded heart rate implausible (40% of it under 30 bpm, lowest 2.0)", "1", "subject2"]
    assert "(in no published split)" in html and "F006" in html
    # compute audit rendered
    assert _row(html, "bigsmall", "4. Compute audit")[1:3] == ["2142478", "2140000"]
    # honest statement about the data
    assert "not expected to equal the published numbers" in html


def test_self_contained_with_embedded_figures(inputs, tmp_path):
    out = tmp_path / "reports"
    build.build_report(_params(), inputs, out)
    html = (out / "index.html").read_text()
    assert not re.search(r"https?://|<script|<link|@import", html)
    srcs = re.findall(r'src="([^"]*)"', html)
    # 2 scatters, 2 Bland-Altman plots, the waveform
    assert len(srcs) == 5 and all(s.startswith("data:image/png;base64,") for s in srcs)
    for s in srcs:
        assert base64.b64decode(s.split(",", 1)[1])[:8] == b"\x89PNG\r\n\x1a\n"
    pngs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert pngs == ["hr_bland_altman_bp4d.png", "hr_bland_altman_ubfc.png", "hr_scatter_bp4d.png",
                    "hr_scatter_ubfc.png", "waveform_ubfc.png"]
    caption = (out / "figures" / "waveform_ubfc.txt").read_text()
    assert "subject1" in caption and "k1" in caption and "pos_ppg_raw" in caption
    assert "predictions.csv" in (out / "figures" / "hr_scatter_ubfc.txt").read_text()
    # Bland-Altman: bias and limits of agreement of each method, from the same predictions
    ba = (out / "figures" / "hr_bland_altman_ubfc.txt").read_text()
    # errors -2, -3, -4, -5: bias -3.5, SD 1.291, limits -3.5 -+ 2.53
    assert "POS: bias -3.50 bpm, limits of agreement -6.03 to -0.97 bpm" in ba and "predictions.csv" in ba
    tables = sorted(p.name for p in (out / "tables").iterdir())
    for name in ["datasets", "exclusions", "splits", "unsupervised_ubfc", "unsupervised_bp4d",
                 "unsupervised_vs_published", "compute_audit", "deviations"]:
        assert f"{name}.csv" in tables and f"{name}.md" in tables
    md = (out / "tables" / "unsupervised_ubfc.md").read_text()
    assert "| POS | 4 | 3.21 | 2.79 | +0.42 |" in md
    long = pd.read_csv(out / "tables" / "unsupervised_vs_published.csv")
    r = long[(long.dataset == "ubfc") & (long.method == "POS") & (long.metric == "hr_rmse")].iloc[0]
    assert (r.reproduced, r.published) == (4.0, 4.69) and r.difference == pytest.approx(-0.69)
    # every table also as LaTeX, every figure also as SVG, and the page links them for download
    tex = (out / "tables" / "unsupervised_ubfc.tex").read_text()
    assert tex.startswith("\\begin{tabular}") and "POS & 4 & 3.21 & 2.79 & +0.42" in tex
    svgs = sorted(p.name for p in (out / "figures").glob("*.svg"))
    assert svgs == [n.replace(".png", ".svg") for n in pngs]
    assert (out / "figures" / "waveform_ubfc.svg").read_text().lstrip().startswith("<?xml")
    links = set(re.findall(r'<a href="([^"]*)"', html))
    assert {"tables/unsupervised_ubfc.csv", "tables/unsupervised_ubfc.tex", "figures/waveform_ubfc.png",
            "figures/waveform_ubfc.svg"} <= links
    assert all((out / link).is_file() for link in links)


def test_provenance_in_the_report_is_stable(inputs, tmp_path):
    """Commit, params hash and input-data hash are printed; a second build from the same inputs
    gives the same hashes (the data hash ignores creation time stamps)."""
    first = build.build_report(_params(), inputs, tmp_path / "r1")["provenance"]
    second = build.build_report(_params(), inputs, tmp_path / "r2")["provenance"]
    html = (tmp_path / "r1" / "index.html").read_text()
    for key in ("git_commit", "params_hash", "data_hash"):
        assert first[key] and first[key] == second[key]
        assert f"<code>{first[key]}</code>" in html
    changed = _params()
    changed["report"]["digits"] = 3
    assert build.build_report(changed, inputs, tmp_path / "r3")["provenance"]["params_hash"] != first["params_hash"]


def test_absent_inputs_are_named(inputs, tmp_path):
    out = tmp_path / "reports"
    inputs.audit = tmp_path / "compute/missing.csv"
    inputs.caches = []
    metrics = build.build_report(_params(), inputs, out)
    html = (out / "index.html").read_text()
    assert "Absent inputs" in html
    assert "compute audit" in html and "missing.csv does not exist" in html
    assert "no input was given with --caches" in html
    assert "No example waveform" in html
    assert metrics["absent_inputs"] == 3  # audit, --caches, waveform


def test_deviations_built_from_params(inputs, tmp_path):
    params = _params()
    params["preprocess"]["crop_anchor"] = "bottom"
    params["report"]["deviations"].append(
        {"key": "preprocess.no_such_key", "what": "a setting nobody defined", "paper": 1, "authors_code": None})
    out = tmp_path / "reports"
    metrics = build.build_report(params, inputs, out)
    dev = pd.read_csv(out / "tables" / "deviations.csv").set_index("setting")
    assert dev.loc["preprocess.crop_anchor", "follows"] == "authors' code"
    assert bool(dev.loc["preprocess.crop_anchor", "deviates_from_paper"])
    assert dev.loc["signals.pseudo_label.halfband_bpm", "follows"] == "paper"
    assert dev.loc["preprocess.no_such_key", "this run"] == "(absent)"
    html = (out / "index.html").read_text()
    assert "vertical anchor of the square face crop (preprocess.crop_anchor): this run uses &#34;bottom&#34;" in html
    assert "this run follows the paper (20); the authors&#39; code differs (48)" in html
    assert "BP4D+: built-in semi-synthetic (preset hard, seed 7) data in the dataset" in html
    expected = int(dev["deviates_from_paper"].sum())
    assert metrics["deviations_from_paper"] == expected == 2


def test_cli(inputs, tmp_path):
    pfile = tmp_path / "params.yaml"
    pfile.write_text(yaml.safe_dump(_params()))
    out = tmp_path / "reports"
    report_stage.main(["--params", str(pfile), "--out", str(out),
                       "--manifests", *map(str, inputs.manifests), "--splits", *map(str, inputs.splits),
                       "--unsupervised", *map(str, inputs.unsupervised), "--audit", str(inputs.audit),
                       "--audit-runs", "compute_audit/all_variants",
                       "--caches", *map(str, inputs.caches), "--raw", *map(str, inputs.raw),
                       "--sheet", str(ROOT / "experiments.yaml")])
    assert (out / "index.html").is_file() and (out / "metrics.json").is_file()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary leftovers
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data_origin"]["ubfc"]["kind"] == "built-in"
    # every row of the sheet is accounted for: Table 1 is declared but has no results yet, and
    # the rows of datasets outside 'datasets' (pure) are left out with the reason
    runs = metrics["runs"]
    assert runs["compute_audit/all_variants"] == "results shown"
    assert runs["table1/bigsmall"] == "not run: no results in this report"
    assert runs["baselines/pure"] == "left out: pure not in params.yaml 'datasets'"
    sheet_table = pd.read_csv(out / "tables" / "experiment_sheet.csv")
    assert len(sheet_table) == len(runs)
    published = sheet_table.set_index("run")["published"]
    assert published["table1/bigsmall"].split(", ") == ["paper_table1/bigsmall", "paper_table2/bigsmall",
                                                         "supp_table1/bigsmall", "supp_table3/bigsmall",
                                                         "supp_table4/bigsmall"]


def test_data_origin_in_every_dataset_section(inputs, tmp_path):
    """Built-in data is named with its preset and seed (read from the raw folder's generator
    summary); data outside synth.datasets is user-supplied, even if generated data was copied in."""
    params = _params()
    params["synth"]["datasets"] = ["bp4d"]  # ubfc now user-supplied: its folder is the user's copy
    metrics = build.build_report(params, inputs, tmp_path / "reports")
    html = (tmp_path / "reports" / "index.html").read_text()
    built_in = {"kind": "built-in", "preset": "hard", "seed": 7}
    assert metrics["data_origin"]["bp4d"] == built_in
    assert metrics["data_origin"]["ubfc"] == {"kind": "user-supplied",
                                              "generator_truth": {"preset": "hard", "seed": 7}}
    assert metrics["datasets"]["bp4d"]["data_origin"] == built_in
    built_text = "built-in semi-synthetic (preset hard, seed 7)"
    assert f"Data: {built_text}. Face trace: the face region" in html  # BP4D+ baseline section
    assert "Data: user-supplied (the folder holds the generator" in html  # UBFC-rPPG baseline section
    assert "Data: UBFC-rPPG: user-supplied" in html  # example waveform section
    assert _row(html, "bp4d", "1. Datasets")[1] == built_text
    assert _row(html, "ubfc", "1. Datasets")[1].startswith("user-supplied")
    assert "User-supplied datasets" in html and "UBFC-rPPG: user-supplied data, skin type not known." in html
    # without raw folders the origin recorded by the stages is used
    (tmp_path / "unsup/ubfc/metrics.json").write_text(json.dumps(
        {**json.loads((tmp_path / "unsup/ubfc/metrics.json").read_text()), "data_origin": {"kind": "user-supplied"}}))
    inputs.raw = []
    metrics = build.build_report(params, inputs, tmp_path / "r2")
    assert metrics["data_origin"] == {"ubfc": {"kind": "user-supplied"}}
    assert "No data origin is recorded for: BP4D+" in (tmp_path / "r2" / "index.html").read_text()


def test_error_by_skin_type(inputs, tmp_path):
    """MAE per Fitzpatrick type from the predictions and the rendered truth: type I holds s0, s1
    (errors 2, 3), V holds s2 (4), VI holds s3 (5); against the rendered mean rates 71, 73, 72, 75
    the predictions 70..73 are off by 1, 2, 0, 2."""
    out = tmp_path / "reports"
    metrics = build.build_report(_params(), inputs, out)
    table = pd.read_csv(out / "tables" / "hr_error_by_skin_type.csv")
    assert set(table["dataset"]) == {"ubfc"}  # bp4d's summary has no skin types
    pos = table[table["method"] == "POS"].set_index("fitzpatrick")
    assert list(pos.index) == ["I", "V", "VI"]
    assert list(pos["trials"]) == [2, 1, 1]
    assert list(pos["hr_mae"]) == pytest.approx([2.5, 4.0, 5.0])
    assert list(pos["hr_mae_vs_rendered"]) == pytest.approx([1.5, 0.0, 2.0])
    assert metrics["hr_by_skin_type"]["ubfc"]["CHROM"]["VI"] == {"trials": 1, "hr_mae": 5.0, "hr_mae_vs_rendered": 2.0}
    html = (out / "index.html").read_text()
    assert _row(html, "ubfc", "3. Heart-rate error by skin type")[1:6] == ["POS", "I", "2", "2", "2.50"]
    assert "melanin" in html and "physics, not a defect" in html
    assert "BP4D+: the built-in data has no skin-type truth" in html
    assert "| ubfc | POS | I | 2 | 2 | 2.50 | 1.50 |" in (out / "tables" / "hr_error_by_skin_type.md").read_text()


def test_no_skin_type_truth_never_crashes(inputs, tmp_path):
    """Summaries without Fitzpatrick types (or no raw folders at all) give an empty table and a note."""
    for folder in inputs.raw:
        summary = json.loads((folder / "_truth/summary.json").read_text())
        for trial in summary["trials"]:
            trial.pop("fitzpatrick", None)
        (folder / "_truth/summary.json").write_text(json.dumps(summary))
    metrics = build.build_report(_params(), inputs, tmp_path / "reports")
    assert metrics["hr_by_skin_type"] == {}
    assert pd.read_csv(tmp_path / "reports/tables/hr_error_by_skin_type.csv").empty
    html = (tmp_path / "reports" / "index.html").read_text()
    assert "UBFC-rPPG: the built-in data has no skin-type truth" in html


def test_example_waveform_null_takes_the_first_pulse_dataset(inputs, tmp_path):
    """null: the first dataset with baseline results and a cache (bp4d has results, no cache)."""
    params = _params()
    params["report"]["example_waveform"]["dataset"] = None
    build.build_report(validate_params(params), inputs, tmp_path / "reports")
    assert (tmp_path / "reports" / "figures" / "waveform_ubfc.png").is_file()


# ---------------------------------------------------------------- report items


def test_every_item_has_a_caption_and_declares_its_published_ids():
    """Title and caption never empty; published ids are tables (and rows) of published.yaml;
    inputs read are report inputs."""
    known = set(table_names())
    for item in report_items.ITEMS:
        assert item.title.strip() and item.caption.strip() and item.section.strip(), item.id
        declared = {a for klass in type(item).__mro__ if klass is not ReportItem for a in vars(klass)}
        assert {"id", "title", "caption", "section", "published", "reads"} <= declared, item.id
        assert isinstance(item.published, tuple) and all(isinstance(p, Published) for p in item.published)
        for ref in item.published:
            assert ref.table in known, (item.id, ref.table)
            assert set(ref.rows) <= set(table_info(ref.table)["rows"]), (item.id, ref)
        assert set(item.reads) <= set(INPUT_NAMES), item.id
    by_id = {item.id: item for item in report_items.ITEMS}
    # the baseline table cites every published table holding POS/CHROM heart rates of a dataset
    declared = {ref.table: ref.rows for ref in by_id["unsupervised_vs_published"].published}
    for ds in DATASET_NAMES:
        table = published_hr_table(ds)
        if table is not None:
            assert table in declared and {"pos", "chrom"} <= set(declared[table]), ds
    assert {ref.table for ref in by_id["compute_audit"].published} == {"paper_table1", "supp_table3"}
    assert by_id["datasets"].published == () and by_id["hr_error_by_skin_type"].published == ()


def test_item_ids_are_unique():
    ids = [item.id for item in report_items.ITEMS]
    assert len(ids) == len(set(ids)) and all(ids)
    build.check_items(report_items.ITEMS)
    with pytest.raises(ValueError, match="used twice"):
        build.check_items([*report_items.ITEMS, report_items.ITEMS[0]])


def test_html_holds_every_item_title_and_caption(inputs, tmp_path):
    out = tmp_path / "reports"
    build.build_report(_params(), inputs, out)
    html = (out / "index.html").read_text()
    for item in report_items.ITEMS:
        assert str(escape(item.title)) in html, item.id
        assert str(escape(item.caption)) in html, item.id
        assert f'<section id="{item.id}">' in html
    # sections numbered in the order of their first item
    headings = re.findall(r"<h2>(\d+)\. (.*?)</h2>", html)
    sections = list(dict.fromkeys(item.section for item in report_items.ITEMS))
    assert headings == [(str(i + 1), str(escape(s))) for i, s in enumerate(sections)]


class _ExtraTable(ReportItem):
    """A new table, as a later item would add one."""

    id = "extra_table"
    section = "Extra results"
    title = "An extra table"
    caption = "Trials per dataset, counted again by a test item."
    published = (Published("paper_table3_ubfc", ("pos",)),)
    reads = ("manifests",)

    def build(self, ctx):
        df = pd.DataFrame([{"dataset": ds, "trials": len(m)} for ds, m in sorted(ctx.inputs.manifests.items())])
        return ItemOutput(fragment('<div class="wide">{{ n }} datasets counted</div>', n=len(df)),
                          table_files("extra_table", df, ctx.digits), {"extra_trials": int(df["trials"].sum())})


class _ExtraNote(ReportItem):
    """A new item in an existing section."""

    id = "extra_note"
    section = "Datasets"
    title = "A note on the datasets"
    caption = "Placed in the datasets section by a test."
    published = ()
    reads = ()

    def build(self, ctx):
        return ItemOutput(fragment("<p>{{ t }}</p>", t="note <of> the test"))


def test_a_registered_item_appears_without_touching_the_template(inputs, tmp_path, monkeypatch):
    template = (build.TEMPLATES / build.TEMPLATE).read_bytes()
    monkeypatch.setattr(report_items, "ITEMS", [*report_items.ITEMS, _ExtraTable(), _ExtraNote()])
    out = tmp_path / "reports"
    metrics = build.build_report(_params(), inputs, out)
    html = (out / "index.html").read_text()
    n_sections = len(dict.fromkeys(item.section for item in report_items.ITEMS))
    assert f"<h2>{n_sections}. Extra results</h2>" in html  # a new section, after the others
    start = html.index('<section id="extra_table">')
    assert html.index("An extra table", start) < html.index("Trials per dataset, counted again", start) \
        < html.index("2 datasets counted", start)
    # the item in an existing section goes under that section, before the next one
    assert html.index("1. Datasets") < html.index('<section id="extra_note">') < html.index("<h2>2. ")
    assert "note &lt;of&gt; the test" in html  # fragments are escaped
    assert pd.read_csv(out / "tables" / "extra_table.csv").to_dict("list") == {"dataset": ["bp4d", "ubfc"],
                                                                               "trials": [2, 3]}
    assert (out / "tables" / "extra_table.md").read_text().startswith("| dataset | trials |")
    assert metrics["extra_trials"] == 5 and json.loads((out / "metrics.json").read_text())["extra_trials"] == 5
    assert (build.TEMPLATES / build.TEMPLATE).read_bytes() == template


def test_items_get_only_the_inputs_they_declare(inputs, tmp_path, monkeypatch):
    class Sneaky(_ExtraTable):
        id = "sneaky"

        def build(self, ctx):
            return ItemOutput(fragment("{{ n }}", n=len(ctx.inputs.audit)))

    monkeypatch.setattr(report_items, "ITEMS", [*report_items.ITEMS, Sneaky()])
    with pytest.raises(UndeclaredInput, match="'sneaky' reads 'audit'"):
        build.build_report(_params(), inputs, tmp_path / "reports")


def test_malformed_items_fail_before_anything_is_written(inputs, tmp_path, monkeypatch):
    with pytest.raises(TypeError, match="does not declare"):
        class NoCaption(ReportItem):  # noqa: F841
            id, section, title, published, reads = "x", "X", "X", (), ()
    with pytest.raises(TypeError, match="unknown inputs"):
        class BadInput(_ExtraTable):  # noqa: F841
            reads = ("videos",)

    class BadTable(_ExtraTable):
        published = (Published("paper_table9"),)

    class BadRow(_ExtraTable):
        published = (Published("paper_table2", ("no_such_row",)),)

    class Empty(_ExtraTable):
        caption = " "

    class Clash(_ExtraTable):
        id = "clash"

        def build(self, ctx):
            return ItemOutput(fragment(""), table_files("datasets", pd.DataFrame(), ctx.digits))

    items = list(report_items.ITEMS)
    for bad, message in [(BadTable(), "no published table 'paper_table9'"), (BadRow(), "no rows"),
                         (Empty(), "empty caption")]:
        monkeypatch.setattr(report_items, "ITEMS", [*items, bad])
        with pytest.raises(ValueError, match=message):
            build.build_report(_params(), inputs, tmp_path / "r")
        assert not (tmp_path / "r").exists()
    monkeypatch.setattr(report_items, "ITEMS", [*items, Clash()])
    with pytest.raises(ValueError, match="tables/datasets.csv, which another item writes"):
        build.build_report(_params(), inputs, tmp_path / "r")


def test_report_imports_no_stage_module():
    """The report runs on library modules only (no stage, so no stage's edits make it stale)."""
    import subprocess
    import sys

    code = ("import sys, pipeline.report.build; "
            "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('pipeline'))))")
    loaded = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                            check=True).stdout.split()
    stages = {"pipeline.unsupervised", "pipeline.ingest", "pipeline.splits", "pipeline.preprocess",
              "pipeline.compute_audit", "pipeline.synth.generate", "pipeline.validate_params", "pipeline.__main__"}
    assert "pipeline.report.build" in loaded
    assert not [m for m in loaded if m in stages or m.startswith("pipeline.stages")]


def write_table1_bigsmall(tmp_path: Path, metrics: dict) -> Path:
    """results/metrics/table1.json (the aggregate's output) with one run, table1/bigsmall, on fold1."""
    doc = {"experiment": "table1", "runs": {"table1/bigsmall": {
        "variant": "bigsmall", "folds": ["fold1"], "metrics": metrics,
        "published": [{"table": "paper_table1", "row": "bigsmall"}]}}}
    path = tmp_path / "metrics" / "table1.json"
    path.parent.mkdir()
    path.write_text(json.dumps(doc))
    return path


def test_learned_tables_per_au_figure_and_headline(inputs, tmp_path):
    """An aggregated experiment (results/metrics/table1.json) in the report: the Table 1 rows with
    the real data's all-positive floor, the per-AU F1 figure beside supp. Table 1, and only the
    headline numbers in headline.json."""
    import dataclasses

    aus = ["AU01", "AU02", "AU04", "AU06", "AU07", "AU10", "AU12", "AU14", "AU15", "AU17", "AU23", "AU24"]
    metrics = {f"au.f1.{au}": {"mean": 10.0 + k, "std": None, "n_folds": 1} for k, au in enumerate(aus)}
    metrics.update({"baselines.hr_train_mean.value": {"mean": 76.0, "per_fold": {"fold1": 76.0, "fold2": 76.0}},
                    "au.f1_mean": {"mean": 15.5, "std": None, "n_folds": 1, "ci95": None},
                    "pulse.hr_rmse": {"mean": 8.0, "std": None, "n_folds": 1, "ci95": [5.5, 11.0]},
                    "baselines.au_all_positive.f1_mean": {"mean": 40.0, "std": None, "n_folds": 1},
                    "pulse.hr_mae": {"mean": 6.0, "std": None, "n_folds": 1},
                    "resp.rr_mae": {"mean": 3.0, "std": None, "n_folds": 1}})
    path = write_table1_bigsmall(tmp_path, metrics)
    # BigSmall's per-trial heart rates (two folds): errors +1 and +3 -> bias +2
    # and TSM's: +2 everywhere
    learned = []
    for run, fold, err in (("bigsmall", "fold1", 1.0), ("bigsmall", "fold2", 3.0), ("bigsmall_tsm", "fold1", 2.0),
                           ("bigsmall_tsm", "fold2", 2.0)):
        folder = tmp_path / "results" / "runs" / "table1" / run / fold
        folder.mkdir(parents=True)
        pd.DataFrame({"fold": fold, "trial_id": [f"F001T1_{fold}", f"M002T1_{fold}"], "window_start_s": 0.0,
                      "subject": ["F001", "M002"], "hr_pred": [71.0 + err, 81.0 + err], "hr_true": [71.0, 81.0],
                      "hr_abs_err": err, "hr_status": ["ok", "ok"]}).to_csv(folder / "predictions.csv", index=False)
        learned.append(folder / "predictions.csv")
    out = tmp_path / "reports"
    report = build.build_report(_params(), dataclasses.replace(inputs, experiments=[path], learned_predictions=learned),
                                out)
    entry = report["table1"]
    assert entry["runs"]["table1/bigsmall"]["au_f1"] == {"reproduced": 15.5, "std": None, "published": 43.3,
                                                        "difference": pytest.approx(15.5 - 43.3), "ci95": None}
    assert entry["au_f1_all_positive_published_data"] == pytest.approx(40.78, abs=0.01)
    # the four rows Table 1 prints as "BigSmall" are told apart by their row ids
    assert "Big Branch +4.52, BigSmall (bigsmall_no_downsampling) +1.72, BigSmall (bigsmall_no_shift) -0.48" \
        in entry["statements"][0]
    # one fold of BP4D+'s three: the report says which and what that leaves out
    assert entry["statements"][1].startswith("Fewer folds than the paper's 3 (fold1, fold2, fold3): "
                                             "table1/bigsmall on fold1 only.")
    table = pd.read_csv(out / "tables" / "table1.csv")
    floor = table[table["row"].str.startswith("all-positive")].iloc[0]
    assert (floor["reproduced"], round(floor["published"], 2)) == (40.0, 40.78)
    # best marks: the only run is the best reproduced; the paper's bold goes to the best published row
    best = table.set_index(["run", "metric"])["best"].fillna("")
    assert best[("table1/bigsmall", "au_f1")] == "reproduced"  # published best AU F1: Big branch, 45.3
    assert best[("table1/bigsmall", "hr_mae")] == "both"  # BigSmall's 2.38 is the published best
    assert pd.isna(floor["best"])  # the trivial row is not ranked (empty cell)
    rmse = table[(table["run"] == "table1/bigsmall") & (table["metric"] == "hr_rmse")].iloc[0]
    assert (rmse["reproduced"], rmse["95% CI low"], rmse["95% CI high"]) == (8.0, 5.5, 11.0)
    assert json.loads((out / "headline.json").read_text())["table1"] == {
        "bigsmall": {"au_f1": 15.5, "hr_mae": 6.0, "rr_mae": 3.0}}
    assert {p.name for p in (out / "figures").glob("table1_per_au_f1.*")} == {
        "table1_per_au_f1.png", "table1_per_au_f1.svg", "table1_per_au_f1.txt"}
    caption = (out / "figures" / "table1_per_au_f1.txt").read_text()
    assert "table1/bigsmall" in caption and "supplementary" in caption
    # Bland-Altman of BigSmall beside POS on BP4D+: bias +2, SD 1.155 -> limits -0.26 to +4.26
    ba = (out / "figures" / "table1_hr_bland_altman.txt").read_text()
    assert "BigSmall (table1/bigsmall): bias +2.00 bpm, limits of agreement -0.26 to +4.26 bpm" in ba
    assert "POS: bias" in ba and (out / "figures" / "table1_hr_bland_altman.svg").is_file()
    # paired comparisons on the same trials: BigSmall's errors 1, 1, 3, 3 against the constant 76's
    # 5, 5, 5, 5 -> differences -4, -4, -2, -2: all in BigSmall's favour
    paired = {(r["run"], r["against"]): r for r in report["table1_paired_rates"]}
    trivial = paired[("table1/bigsmall", "training-fold mean rate")]
    assert (trivial["n"], trivial["median_difference"], trivial["rank_biserial"]) == (4, -3.0, -1.0)
    assert trivial["p_value"] == pytest.approx(scipy.stats.wilcoxon([-4, -4, -2, -2]).pvalue)
    # TSM (2, 2, 2, 2) against BigSmall (1, 1, 3, 3): +1, +1, -1, -1, no effect
    tsm = paired[("table1/bigsmall_tsm", "table1/bigsmall")]
    assert (tsm["n"], tsm["median_difference"], tsm["rank_biserial"], tsm["p_value"]) == (4, 0.0, 0.0, 1.0)
    assert ("table1/bigsmall", "table1/bigsmall") not in paired


def test_learned_predictions_without_a_needed_column_are_one_line(inputs, tmp_path):
    import dataclasses

    from pipeline.errors import InputError

    path = tmp_path / "results" / "runs" / "table1" / "bigsmall" / "fold1" / "predictions.csv"
    path.parent.mkdir(parents=True)
    pd.DataFrame({"fold": ["fold1"], "trial_id": ["F001T1"], "subject": ["F001"], "window_start_s": [0.0],
                  "hr_pred": [70.0], "hr_true": [72.0], "hr_status": ["ok"]}).to_csv(path, index=False)
    with pytest.raises(InputError, match=r"lacks columns \['hr_abs_err'\]") as err:
        build.build_report(_params(), dataclasses.replace(inputs, learned_predictions=[path]), tmp_path / "reports")
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def _au_predictions(path, fold: str, subjects: list[str], logits_of, au_names=("AU01", "AU02")) -> None:
    """A predictions.h5 as the evaluate stage writes it: per trial AU logits and scored labels."""
    import h5py

    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5.attrs.update({"format": "2", "fold": fold, "au_names": json.dumps(list(au_names)), "au_threshold": 0.5})
        for s in subjects:
            true = np.zeros((10, len(au_names)), dtype=np.int8)
            true[:4, 0] = 1
            true[0, 1] = 1
            grp = h5.create_group(f"{s}T1")
            grp.attrs.update({"subject": s, "fold": fold})
            grp.create_dataset("frame_index", data=np.arange(10))
            grp.create_dataset("au_logits", data=logits_of(true).astype(np.float32))
            grp.create_dataset("au_true", data=true)


def test_paired_au_decisions_against_all_positive_and_bigsmall(inputs, tmp_path):
    """Per-frame AU decisions of two Table 1 runs over two folds (4 subjects): BigSmall decides every
    frame right, TSM says 'active' everywhere, i.e. exactly the all-positive predictor; the report
    pairs them on the same frames."""
    import dataclasses

    paths = []
    for run, logits_of in (("bigsmall", lambda t: np.where(t == 1, 3.0, -3.0)),
                           ("bigsmall_tsm", lambda t: np.full(t.shape, 2.0))):
        for fold, subjects in (("fold1", ["F001", "M002"]), ("fold2", ["F003", "M004"])):
            path = tmp_path / "results" / "runs" / "table1" / run / fold / "predictions.h5"
            _au_predictions(path, fold, subjects, logits_of)
            paths.append(path)
    report = build.build_report(_params(), dataclasses.replace(inputs, learned_au=paths), tmp_path / "reports")
    rows = {(r["run"], r["against"]): r for r in report["table1_paired_au"]}
    allpos_f1 = (200 * 16 / (32 + 24) + 200 * 4 / (8 + 36)) / 2  # AU01: 16 of 40 active; AU02: 4 of 40
    best = rows[("table1/bigsmall", "all-positive predictor")]
    assert (best["f1"], best["f1_reference"]) == (pytest.approx(100.0), pytest.approx(allpos_f1))
    assert (best["n_frames"], best["n_subjects"], best["p_value"]) == (40, 4, pytest.approx(2 / 2**4))
    tsm = rows[("table1/bigsmall_tsm", "all-positive predictor")]
    assert (tsm["f1_difference"], tsm["p_value"]) == (0.0, 1.0)
    vs = rows[("table1/bigsmall_tsm", "table1/bigsmall")]
    assert vs["f1_difference"] == pytest.approx(allpos_f1 - 100.0) and vs["n_frames"] == 40
    assert ("table1/bigsmall", "table1/bigsmall") not in rows
    table = pd.read_csv(tmp_path / "reports" / "tables" / "table1_paired_au.csv")
    assert len(table) == 3


def test_other_tables_pair_their_runs_with_table_1_bigsmall_on_common_trials(inputs, tmp_path):
    """A Table 2 run (fold 1 only) is paired with its own trivial predictor and with Table 1's
    BigSmall (folds 1 and 2) on the trials and frames both have; the supplement's items say they
    have no run."""
    import dataclasses

    doc = {"experiment": "table2", "runs": {"table2/bigsmall_aligned": {
        "variant": "bigsmall_aligned_bn", "folds": ["fold1"],
        "metrics": {"baselines.hr_train_mean.value": {"mean": 76.0, "per_fold": {"fold1": 76.0}},
                    "baselines.hr_train_mean.hr_mae": {"mean": 44 / 6, "std": None, "n_folds": 1},
                    "pulse.hr_mae": {"mean": 0.5, "std": None, "n_folds": 1},
                    "au.f1_mean": {"mean": 100.0, "std": None, "n_folds": 1},
                    "baselines.au_all_positive.f1_mean": {"mean": 46.75, "std": None, "n_folds": 1}},
        "published": [{"table": "paper_table2", "row": "bigsmall_aligned"}]}}}
    metrics_path = tmp_path / "metrics" / "table2.json"
    metrics_path.parent.mkdir()
    metrics_path.write_text(json.dumps(doc))
    learned, au_paths = [], []
    # BigSmall errs by 2 bpm on fold 1 and 9 on fold 2; BigSmall dagger by 0.5 on fold 1
    for run, fold, err in (("table1/bigsmall", "fold1", 2.0), ("table1/bigsmall", "fold2", 9.0),
                           ("table2/bigsmall_aligned", "fold1", 0.5)):
        folder = tmp_path / "results" / "runs" / run / fold
        folder.mkdir(parents=True)
        ids = [f"{s}T{t}" for s in ("F001", "M002") for t in (1, 6, 7)]
        true = np.array([70.0, 74.0, 79.0, 85.0, 90.0, 66.0])
        pd.DataFrame({"fold": fold, "trial_id": ids, "window_start_s": 0.0, "subject": [i[:4] for i in ids],
                      "hr_pred": true + err, "hr_true": true, "hr_abs_err": err,
                      "hr_status": "ok"}).to_csv(folder / "predictions.csv", index=False)
        learned.append(folder / "predictions.csv")
        # AU decisions: BigSmall dagger right on every frame, BigSmall active everywhere
        right = run == "table2/bigsmall_aligned"
        path = folder / "predictions.h5"
        _au_predictions(path, fold, ["F001", "M002", "F003"] if fold == "fold1" else ["M004"],
                        (lambda t: np.where(t == 1, 3.0, -3.0)) if right else (lambda t: np.full(t.shape, 2.0)))
        au_paths.append(path)
    report = build.build_report(_params(), dataclasses.replace(
        inputs, experiments=[metrics_path], learned_predictions=learned, learned_au=au_paths), tmp_path / "reports")

    rates = {(r["run"], r["against"]): r for r in report["table2_paired_rates"]}
    assert set(rates) == {("table2/bigsmall_aligned", "training-fold mean rate"),
                          ("table2/bigsmall_aligned", "table1/bigsmall")}
    # the constant 76 against 0.5 everywhere: |76 - truth| - 0.5 is positive on each of the 6 trials
    trivial = rates[("table2/bigsmall_aligned", "training-fold mean rate")]
    gaps = 0.5 - np.abs(76.0 - np.array([70.0, 74.0, 79.0, 85.0, 90.0, 66.0]))
    assert (trivial["n"], trivial["median_difference"], trivial["rank_biserial"]) == (6, np.median(gaps), -1.0)
    # against BigSmall on fold 1 only (its fold-2 trials have no partner): 0.5 - 2 on 6 trials
    vs = rates[("table2/bigsmall_aligned", "table1/bigsmall")]
    assert (vs["n"], vs["median_difference"], vs["rank_biserial"]) == (6, -1.5, -1.0)
    assert vs["p_value"] == pytest.approx(scipy.stats.wilcoxon([-1.5] * 6).pvalue)

    au = {(r["run"], r["against"]): r for r in report["table2_paired_au"]}
    allpos_f1 = (200 * 4 / (10 + 4) + 200 * 1 / (10 + 1)) / 2  # per subject 4 of 10 frames AU01, 1 of 10 AU02
    vs_allpos = au[("table2/bigsmall_aligned", "all-positive predictor")]
    assert (vs_allpos["f1"], vs_allpos["f1_reference"]) == (pytest.approx(100.0), pytest.approx(allpos_f1))
    vs_bigsmall = au[("table2/bigsmall_aligned", "table1/bigsmall")]
    assert (vs_bigsmall["n_frames"], vs_bigsmall["n_subjects"]) == (30, 3)  # fold 1's three subjects
    assert vs_bigsmall["f1_difference"] == pytest.approx(100.0 - allpos_f1)
    assert not report["supp_table3_paired_rates"] and not report["supp_table4_paired_au"]
    # the table's statements carry the paired test: 6 of 6 trials better (exact p = 2/2^6); the AU
    # decisions better for each of 3 subjects, but 3 subjects cannot make p smaller than 2/2^3
    statements = report["table2"]["statements"]
    assert ("table2/bigsmall_aligned: hr_mae 0.50 against 7.33 of the training-fold mean heart rate: beats it "
            "(paired Wilcoxon signed-rank test over 6 trials, p = 0.031).") in statements
    assert ("table2/bigsmall_aligned: au_f1 100.00 against 46.75 of the all-positive AU predictor: beats it on the "
            "mean, but not significantly (paired permutation test over 3 test subjects, p = 0.25).") in statements
    html = (tmp_path / "reports" / "index.html").read_text()
    assert "No learned AU decisions of experiment 'supp_table3' in this run of the DAG." in html


def test_learned_au_from_an_older_evaluate_is_one_line(inputs, tmp_path):
    import dataclasses

    import h5py

    from pipeline.errors import InputError

    path = tmp_path / "results" / "runs" / "table1" / "bigsmall" / "fold1" / "predictions.h5"
    path.parent.mkdir(parents=True)
    with h5py.File(path, "w") as h5:
        h5.attrs.update({"format": "1", "fold": "fold1", "au_names": json.dumps(["AU01"])})
        grp = h5.create_group("F001T1")
        grp.attrs.update({"subject": "F001", "fold": "fold1"})
        grp.create_dataset("frame_index", data=np.arange(3))
        grp.create_dataset("au_logits", data=np.zeros((3, 1), np.float32))
    with pytest.raises(InputError, match="older evaluate") as err:
        build.build_report(_params(), dataclasses.replace(inputs, learned_au=[path]), tmp_path / "reports")
    assert str(path) in str(err.value) and "\n" not in str(err.value)


def test_table_2_gathers_its_own_runs_table_1_runs_and_the_baselines(inputs, tmp_path):
    """Paper Table 2 shows the runs of experiment table2, the Table 1 runs the paper repeats (by their
    published rows, not trained twice) and POS/CHROM of the baseline rows; the headline keeps each
    run once, under its own experiment."""
    import dataclasses

    def doc(experiment: str, runs: dict) -> Path:
        path = tmp_path / "metrics" / f"{experiment}.json"
        path.parent.mkdir(exist_ok=True)
        path.write_text(json.dumps({"experiment": experiment, "runs": runs}))
        return path

    def run(variant: str, published: list, **metrics: float) -> dict:
        return {"variant": variant, "folds": ["fold1"], "published": published,
                "metrics": {k: {"mean": v, "std": None, "n_folds": 1} for k, v in metrics.items()}}

    t1 = doc("table1", {"table1/bigsmall": run("bigsmall", [{"table": "paper_table1", "row": "bigsmall"},
                                                             {"table": "paper_table2", "row": "bigsmall"}],
                                               **{"pulse.hr_mae": 4.0}),
                        "table1/bigsmall_tsm": run("bigsmall_tsm", [{"table": "paper_table1", "row": "bigsmall_tsm"}],
                                                   **{"pulse.hr_mae": 5.0})})
    t2 = doc("table2", {"table2/deepphys": run("deepphys", [{"table": "paper_table2", "row": "deepphys"}],
                                               **{"pulse.hr_mae": 6.0})})
    out = tmp_path / "reports"
    report = build.build_report(_params(), dataclasses.replace(inputs, experiments=[t1, t2]), out)
    table = pd.read_csv(out / "tables" / "table2.csv")
    hr = table[table["metric"] == "hr_mae"].set_index("run")
    assert hr.loc["table2/deepphys", "reproduced"] == 6.0 and hr.loc["table1/bigsmall", "reproduced"] == 4.0
    assert hr.loc["table1/bigsmall", "published"] == 2.38
    assert "table1/bigsmall_tsm" not in hr.index  # not a Table 2 row
    # POS and CHROM from the BP4D+ baseline row, beside the published 10.40 and 5.27
    pos = table[(table["run"] == "baselines/bp4d") & (table["metric"] == "hr_mae")].set_index("row")
    unsup = {r.dataset: r for r in load_inputs_for_test(inputs)}["bp4d"].metrics
    assert pos.loc["POS [44]", "reproduced"] == pytest.approx(unsup["POS"]["hr_mae"])
    assert pos.loc["CHROM [11]", "published"] == 5.27
    claims = [s for s in report["table2"]["statements"] if s.startswith("Claim bigsmall better than deepphys")]
    assert claims and "reproduced 4.00 vs 6.00" in claims[0] and "holds" in claims[0]
    # a claim on a row this run of the DAG did not train says which row is missing
    assert "Claim bigsmall better than mtts_can on hr_mae: not testable (no hr_mae result of mtts_can in this " \
           "run of the DAG)." in report["table2"]["statements"]
    # a metric a row has neither trained nor published is no row of the table (DeepPhys has no AU F1)
    assert set(table[table["run"] == "table2/deepphys"]["metric"]) == {
        f"{rate}_{m}" for rate in ("hr", "rr") for m in ("mae", "rmse", "mape", "pearson")}
    headline = json.loads((out / "headline.json").read_text())
    assert headline["table2"] == {"deepphys": {"hr_mae": 6.0}} and "bigsmall" in headline["table1"]
    # the supplementary tables without their own results say so
    assert report["supp_table3"] == {} and report["supp_table4"] == {}


def load_inputs_for_test(inputs) -> list:
    from pipeline.report.inputs import load_inputs

    return load_inputs(inputs, _params()).unsupervised


def test_table_2_dagger_rows_and_the_alignment_claim(inputs, tmp_path):
    """The face-aligned rows sit beside their published dagger values (JAA-Net 2018 and 2021 as
    runs of their own, in Table 2 and supp. Table 1), and supp. B.7's claim (alignment raises AU
    F1 by about 8 points) is put in numbers: reproduced mean gain over the aligned pairs against
    the published."""
    import dataclasses

    def run(variant: str, row: str, f1: float, trivial: float, tables: tuple = ("paper_table2",)) -> dict:
        return {"variant": variant, "folds": ["fold1"], "published": [{"table": t, "row": row} for t in tables],
                "metrics": {"au.f1_mean": {"mean": f1, "std": None, "n_folds": 1},
                            "baselines.au_all_positive.f1_mean": {"mean": trivial, "std": None, "n_folds": 1}}}

    both = ("paper_table2", "supp_table1")
    runs = {"table2/drml": run("drml", "drml", 40.0, 38.0),
            "table2/drml_aligned": run("drml", "drml_aligned", 46.0, 38.0),
            "table2/alexnet": run("alexnet", "alexnet", 41.0, 38.0),
            "table2/alexnet_aligned": run("alexnet", "alexnet_aligned", 43.0, 38.0),
            "table2/jaanet_2018_aligned": run("jaanet_2018", "jaanet_2018_aligned", 44.0, 38.0, both),
            "table2/jaanet_2021_aligned": run("jaanet_2021", "jaanet_2021_aligned", 45.0, 38.0, both)}
    path = tmp_path / "metrics" / "table2.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"experiment": "table2", "runs": runs}))
    out = tmp_path / "reports"
    report = build.build_report(_params(), dataclasses.replace(inputs, experiments=[path]), out)
    table = pd.read_csv(out / "tables" / "table2.csv")
    f1 = table[table["metric"] == "au_f1"].set_index("run")
    assert f1.loc["table2/drml_aligned", "published"] == 51.3 and f1.loc["table2/drml_aligned", "reproduced"] == 46.0
    assert f1.loc["table2/jaanet_2021_aligned", "published"] == 57.9
    assert f1.loc["table2/jaanet_2021_aligned", "reproduced"] == 45.0
    assert f1.loc["table2/jaanet_2018_aligned", "published"] == 55.8
    assert f1.loc["table2/jaanet_2021_aligned", "row"] == "JAA-Net † [40]"
    assert "not built" not in set(table["run"])
    supp = pd.read_csv(out / "tables" / "supp_table1.csv")
    supp_f1 = supp[supp["metric"] == "au_f1"].set_index("run")
    assert supp_f1.loc["table2/jaanet_2021_aligned", "published"] == 57.9
    assert supp_f1.loc["table2/jaanet_2021_aligned", "reproduced"] == 45.0
    assert supp_f1.loc["table2/jaanet_2018_aligned", "published"] == 55.8
    statements = report["table2"]["statements"]
    gain = [s for s in statements if s.startswith("Claim (supp. B.7)")]
    # (6 + 2) / 2 = +4.00 reproduced; published (51.3 - 44.0 + 52.5 - 44.2) / 2 = +7.80
    assert gain == ["Claim (supp. B.7) face alignment raises AU F1 by about 8 points: mean gain over 2 aligned "
                    "pair(s) +4.00 (published +7.80; drml_aligned +6.00, alexnet_aligned +2.00): holds."]
    assert any(s.startswith("Claim drml_aligned better than drml on au_f1") and "holds" in s for s in statements)
    assert not any("not reproduced" in s for s in statements)
    assert any(s.startswith("table2/jaanet_2021_aligned: au_f1 45.00 against 38.00") and "beats" in s
               for s in statements)


def test_alignment_gain_is_inconclusive_when_an_aligned_row_does_not_beat_all_positive():
    from pipeline.report.items.learned import alignment_gain

    def entry(row, ours, published, trivial):
        return {"published_row": row, "au_f1": {"reproduced": ours, "published": published}, "trivial_au_f1": trivial}

    entries = {"a": entry("drml_aligned", 40.0, 51.3, 41.0), "b": entry("drml", 35.0, 44.0, 41.0)}
    text = alignment_gain(entries, 2)
    # the unaligned row is measured from the all-positive floor (41), the aligned one is below it
    assert "mean gain over 1 aligned pair(s) -1.00 (published +7.30" in text and "inconclusive on this data" in text


def test_alignment_gain_measures_an_unaligned_row_below_the_floor_from_the_floor():
    from pipeline.report.items.learned import alignment_gain

    def entry(row, ours, published, trivial):
        return {"published_row": row, "au_f1": {"reproduced": ours, "published": published}, "trivial_au_f1": trivial}

    entries = {"a": entry("big_branch_aligned", 60.0, 52.0, 41.0), "b": entry("big_branch", 30.0, 44.0, 41.0)}
    text = alignment_gain(entries, 2)
    assert text.endswith("mean gain over 1 aligned pair(s) +19.00 (published +8.00; "
                         "big_branch_aligned +19.00 (from all-positive)): holds.")


def test_alignment_gain_leaves_out_a_pair_trained_at_different_scales():
    """The plain AlexNet row trains 1 epoch and the aligned one 6 (the sheet's budget): their
    difference is not alignment's alone, so that pair is named and left out of the mean."""
    from pipeline.report.items.learned import alignment_gain

    def entry(row, ours, published, scale):
        return {"published_row": row, "au_f1": {"reproduced": ours, "published": published}, "trivial_au_f1": 41.0,
                "training_scale": f"table2/{row}: {scale}"}

    entries = {"a": entry("drml_aligned", 54.0, 51.3, "1 epoch, 404 updates"),
               "b": entry("drml", 45.0, 44.0, "1 epoch, 404 updates"),
               "c": entry("alexnet_aligned", 57.0, 52.5, "6 epochs, 2,424 updates"),
               "d": entry("alexnet", 30.0, 44.2, "1 epoch, 404 updates")}
    text = alignment_gain(entries, 2)
    assert "mean gain over 1 aligned pair(s) +9.00 (published +7.30; drml_aligned +9.00): holds." in text
    assert text.endswith("Left out, trained unlike: alexnet_aligned (6 epochs, 2,424 updates) against "
                         "alexnet (1 epoch, 404 updates).")


def test_rows_on_different_folds_are_compared_on_the_folds_both_have():
    """A fold-1 row (the sheet's budget for Table 2) against a three-fold Table 1 row: the claim and
    the alignment gain use the three-fold row's fold-1 values, and say so."""
    from pipeline.report.items.learned import alignment_gain, on_common_folds

    def entry(row, per_fold, published, trivial_per_fold):
        mean = sum(per_fold.values()) / len(per_fold)
        return {"published_row": row, "au_f1": {"reproduced": mean, "published": published},
                "trivial_au_f1": sum(trivial_per_fold.values()) / len(trivial_per_fold),
                "per_fold": {"au_f1": per_fold, "trivial_au_f1": trivial_per_fold}}

    plain = entry("big_branch", {"fold1": 44.0, "fold2": 20.0, "fold3": 20.0}, 45.3,
                  {"fold1": 41.0, "fold2": 40.0, "fold3": 42.0})
    aligned = entry("big_branch_aligned", {"fold1": 60.0}, 52.0, {"fold1": 41.0})
    a, b, common = on_common_folds(aligned, plain, "au_f1")
    assert common == ["fold1"]
    assert (a["reproduced"], b["reproduced"], b["trivial"], b["published"]) == (60.0, 44.0, 41.0, 45.3)
    # the three-fold mean (28.0) is below its floor (41.0); on fold 1 alone it is above it (44.0)
    assert alignment_gain({"a": aligned, "b": plain}, 2).endswith(
        "mean gain over 1 aligned pair(s) +16.00 (published +6.70; big_branch_aligned +16.00 on fold1): holds.")
    # same folds: the means themselves, no fold list
    assert on_common_folds(plain, plain, "au_f1")[2] is None
    # no shared fold: not comparable
    assert on_common_folds(aligned, entry("big_branch", {"fold2": 30.0}, 45.3, {"fold2": 40.0}), "au_f1") is None


def test_training_scale_statements_name_each_runs_scale_and_the_papers() -> None:
    from pipeline.report.items.learned import paper_scale_text, training_scale_text

    scale = {"epochs": 10, "updates": 4040, "batch_chunks": 16, "lr": 0.0003, "precision": "bf16", "max_chunks": None,
             "frames_per_epoch": 19350, "n_train_trials": 75, "train_seconds": 110.0}
    other_fold = {**scale, "updates": 4080, "frames_per_epoch": 19539, "n_train_trials": 76}
    two_models = {"fold1": {"pulse": scale, "resp": scale}, "fold2": {"pulse": other_fold, "resp": other_fold}}
    assert training_scale_text("table1/small_branch", two_models) == (
        "table1/small_branch (pulse, resp models): 10 epochs, 4,040-4,080 updates of 16 chunks at lr 0.0003 (bf16), "
        "19,350-19,539 training frames per epoch from 75-76 trials")
    one = {"fold1": {"all": {**scale, "epochs": 1, "updates": 404, "max_chunks": 800}}}
    assert training_scale_text("table1/bigsmall", one) == (
        "table1/bigsmall: 1 epoch, 404 updates of 16 chunks at lr 0.0003 (bf16, a subsample of 800 chunks), "
        "19,350 training frames per epoch from 75 trials")
    assert "not recorded" in training_scale_text("table1/bigsmall", None)
    assert paper_scale_text().startswith("The paper trained 5 epochs of batches of 180 chunks of 3 frames at lr 0.001 "
                                         "(AdamW, fp32)")


def test_manifest_tables_read_through_the_manifest_reader(tmp_path):
    """The report reads manifests as ingest writes them: a stray folder's row (no subject) counts
    no subject, and empty warnings are no warnings."""
    path = _manifest(tmp_path / "manifest.csv", "ubfc", [
        ("subject1", "subject1", "ok", ""),
        ("subject2", "subject2", "ok", "", "recorded heart rate implausible (40% of it under 30 bpm, lowest 2.0)"),
        ("subject 16", "", "excluded", "folder name not in the layout (expected subject<N>)")])
    manifests = {"ubfc": read_manifest(path, required=T.MANIFEST_COLUMNS)}
    summary = T.dataset_summary(manifests, {}).iloc[0]
    assert (summary["trials"], summary["trials_ok"], summary["subjects"], summary["subjects_with_ok_trials"]) == (3, 2, 2, 2)
    assert T.exclusions(manifests).values.tolist() == [
        ["ubfc", "excluded", "folder name not in the layout (expected subject<N>)", 1, "subject 16"],
        ["ubfc", "kept, scored", "recorded heart rate implausible (40% of it under 30 bpm, lowest 2.0)", 1, "subject2"]]


def test_tables_align_words_left_numbers_right_and_keep_prose_readable():
    df = pd.DataFrame({"run": ["a/b", "c/d", "e/f"], "subjects": ["F001, F041", "01", "subject3"],
                       "trials": [4, 6, 2], "mae": [1.5, np.nan, 2.25],
                       "note": ["x" * 130, "a short note", None]})
    html = str(html_table(df, 2))
    style, table = html.split("</style>\n", 1)
    table_id = re.search(r'<table id="(t[0-9a-f]{12})"', table).group(1)
    # columns 2 (mostly names, one numeric-looking id) and 5 (prose) left-aligned, within this table
    assert style == (f"<style>#{table_id} td:nth-child(2), #{table_id} th:nth-child(2), "
                     f"#{table_id} td:nth-child(5), #{table_id} th:nth-child(5) {{ text-align: left; }}")
    # the prose column gets room instead of a word per line; short columns get no minimum width
    assert '<th style="min-width: 34em;">note</th>' in table
    assert "<th>subjects</th>" in table and "<th>mae</th>" in table
    # a table of numbers only is plain
    assert not str(html_table(df[["run", "trials", "mae"]], 2)).startswith("<style>")

"""Stage ``report``: reports/index.html with every reproduced number beside the published one.

``python -m pipeline report --params params.yaml --out reports
--manifests data/interim/bp4d/manifest.csv ... --splits data/interim/bp4d/splits.json ...
--unsupervised results/unsupervised/bp4d ... --audit results/compute/audit.csv
--caches data/cache/bp4d ... --raw data/raw/bp4d ...`` writes

    reports/index.html        self-contained (figures as base64 PNG, inline CSS, no scripts)
    reports/metrics.json      the reproduced numbers, published values and differences
    reports/tables/*.csv|md   every table of the report
    reports/figures/*.png     every figure of the report

Every dataset section says where its data came from: built-in semi-synthetic (with its preset
and seed, read from the generator's ``_truth/summary.json`` in the raw folder) or user-supplied.
For built-in data the report also tabulates the heart-rate error per Fitzpatrick skin type,
which the generator records per trial.

Inputs are passed explicitly (the DAG lists them, so both engines agree on them). An input that
is missing does not stop the report: the report names it under "Absent inputs" and leaves out
what depends on it. An input that exists but is malformed raises InputError naming the file.
"""

from __future__ import annotations

import argparse
import base64
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import pandas as pd
from markupsafe import Markup

from pipeline.atomic import atomic_path, write_json, write_text
from pipeline.cache import open_cache
from pipeline.config import load_params
from pipeline.errors import InputError
from pipeline.provenance import provenance
from pipeline.raw_data import TRUTH_SUMMARY, data_origin, describe_origin, generator_summary
from pipeline.report import tables as T
from pipeline.report.figures import Figure, hr_scatter_figure, waveform_figure

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass
class ReportInputs:
    """Paths of the stage outputs the report reads (every one optional, absence reported)."""

    manifests: list[Path] = field(default_factory=list)
    splits: list[Path] = field(default_factory=list)
    unsupervised: list[Path] = field(default_factory=list)
    audit: Path | None = None
    caches: list[Path] = field(default_factory=list)
    raw: list[Path] = field(default_factory=list)


SKIN_CAPTION = (
    "Heart-rate MAE (bpm) of each method on the built-in data, per Fitzpatrick skin type of the "
    "rendered subject (the generator's truth). Darker skin has a smaller relative pulse, because "
    "melanin absorbs much of the light that would otherwise reach the blood and return, so some "
    "rise of the error with the type is physics, not a defect of a method. MAE against the "
    "ground-truth pulse is how the baselines are scored; MAE against the rendered mean heart rate "
    "compares with the rate the generator drew (BP4D+ trials are cut to their AU-coded segment, so "
    "their rendered whole-trial mean can differ slightly)."
)


def _html(df: pd.DataFrame, digits: int, signed: tuple[str, ...] = ()) -> Markup:
    return Markup(T.formatted(df, digits, signed).to_html(index=False, escape=True, border=0))


def _clean(x: Any) -> Any:
    """JSON-safe: NaN -> None, numpy scalars -> Python."""
    if hasattr(x, "item") and not isinstance(x, (list, dict)):
        x = x.item()
    if isinstance(x, float) and math.isnan(x):
        return None
    return x


def _load_inputs(inputs: ReportInputs, params: dict, absent: list[str]) -> dict[str, Any]:
    """Read every given input; record what is missing in ``absent``."""
    manifests: dict[str, pd.DataFrame] = {}
    splits: dict[str, dict] = {}
    results: list[T.UnsupervisedResult] = []
    caches: dict[str, Path] = {}
    origins: dict[str, dict] = {}
    truths: dict[str, dict] = {}
    used: list[Path] = []
    for label, given in (("--manifests", inputs.manifests), ("--splits", inputs.splits),
                         ("--unsupervised", inputs.unsupervised), ("--caches", inputs.caches)):
        if not given:
            absent.append(f"no input was given with {label}")
    for path in map(Path, inputs.manifests):
        if not path.is_file():
            absent.append(f"manifest {path} does not exist")
            continue
        m = T.read_csv(path, T.MANIFEST_COLUMNS)
        ds = str(m["dataset"].iloc[0]) if len(m) else path.parent.name
        manifests[ds] = m
        used.append(path)
        side = path.with_suffix(".json")  # ingest's summary: the origin when no raw folder is given
        if side.is_file():
            doc = T.read_json(side)
            if isinstance(doc, dict) and isinstance(doc.get("data_origin"), dict):
                origins.setdefault(ds, doc["data_origin"])
    for path in map(Path, inputs.splits):
        if not path.is_file():
            absent.append(f"splits {path} does not exist")
            continue
        s = T.read_json(path)
        if not isinstance(s, dict) or not isinstance(s.get("folds"), list):
            raise InputError(path, "expected a mapping with a 'folds' list")
        splits[str(s.get("dataset") or path.parent.name)] = s
        used.append(path)
    for folder in map(Path, inputs.unsupervised):
        lacking = [f for f in ("metrics.json", "predictions.csv") if not (folder / f).is_file()]
        if lacking:
            absent.append(f"unsupervised results {folder}: {', '.join(lacking)} missing")
            continue
        res = T.read_unsupervised(folder)
        results.append(res)
        if isinstance(res.metrics.get("data_origin"), dict):
            origins.setdefault(res.dataset, res.metrics["data_origin"])
        used.extend([folder / "metrics.json", folder / "predictions.csv"])
    for folder in map(Path, inputs.caches):
        if not folder.exists():
            absent.append(f"cache {folder} does not exist")
            continue
        index = open_cache(folder)
        caches[str(index.info.get("dataset") or folder.name)] = folder
        used.extend([index.root / "index.csv", index.root / "cache_info.json"])
    for folder in map(Path, inputs.raw):
        if not folder.is_dir():
            absent.append(f"raw data {folder} does not exist")
            continue
        ds = folder.name
        origins[ds] = data_origin(ds, folder, params)  # the folder itself outranks the stage records
        if origins[ds]["kind"] == "built-in":
            summary = generator_summary(folder)
            if summary is not None:
                truths[ds] = summary
                used.append(folder / TRUTH_SUMMARY)  # user data is never hashed here (it may be terabytes)
    audit = None
    if inputs.audit is None:
        absent.append("no compute audit was given (--audit)")
    elif not Path(inputs.audit).is_file():
        absent.append(f"compute audit {inputs.audit} does not exist")
    else:
        audit = T.read_audit(Path(inputs.audit))
        used.append(Path(inputs.audit))
    for ds in params.get("datasets", []):
        if inputs.manifests and ds not in manifests:
            absent.append(f"no manifest of dataset {ds}")
        if inputs.splits and ds not in splits:
            absent.append(f"no splits of dataset {ds}")
    have = {r.dataset for r in results}
    for ds in params.get("unsupervised", {}).get("datasets", []):
        if ds not in have:
            absent.append(f"no unsupervised results of dataset {ds}")
    return {"manifests": manifests, "splits": splits, "results": sorted(results, key=lambda r: r.dataset),
            "caches": caches, "audit": audit, "used": used, "origins": origins, "truths": truths}


def _deviation_items(dev: pd.DataFrame, origins: dict[str, dict]) -> list[str]:
    """The deviations in words: data, settings differing from the paper, paper/code conflicts."""
    items = []
    for ds, origin in sorted(origins.items()):
        if origin.get("kind") == "built-in":
            items.append(f"{T.DATASET_NAMES.get(ds, ds)}: {describe_origin(origin)} data in the dataset's "
                         "layout, not the licensed recordings.")
    for _, r in dev.iterrows():
        what, key, run, paper, code = r["what"], r["setting"], r["this run"], r["paper"], r["authors' code"]
        if run == "(absent)":
            items.append(f"{what} ({key}): not set in params.yaml, so it cannot be compared.")
        elif r["deviates_from_paper"]:
            items.append(f"{what} ({key}): this run uses {run}, the paper {paper} (authors' code: {code}).")
        elif paper == "not stated":
            items.append(f"{what} ({key}): not stated in the paper; this run uses {run} (authors' code: {code}).")
        elif code != "not stated" and r["follows"] == "paper":
            items.append(f"{what} ({key}): this run follows the paper ({paper}); the authors' code differs ({code}).")
    return items


def _metrics_json(long: pd.DataFrame, loaded: dict, dev: pd.DataFrame, absent: list[str], prov: dict) -> dict:
    unsup: dict[str, Any] = {}
    for _, r in long.iterrows():
        d = unsup.setdefault(r["dataset"], {}).setdefault(r["method"], {})
        d[r["metric"]] = _clean(r["reproduced"])
        d[f"{r['metric']}_published"] = _clean(r["published"])
        d[f"{r['metric']}_diff"] = _clean(r["difference"])
        d["n_trials"] = _clean(r["n_trials"])
    datasets = {}
    for ds, m in loaded["manifests"].items():
        datasets[ds] = {"trials": int(len(m)), "trials_ok": int((m["status"] == "ok").sum()),
                        "trials_excluded": int((m["status"] != "ok").sum()),
                        "data_origin": loaded["origins"].get(ds, {"kind": "unknown"})}
    skin: dict[str, Any] = {}
    for _, r in loaded["skin"].iterrows():
        skin.setdefault(r["dataset"], {}).setdefault(r["method"], {})[r["fitzpatrick"]] = {
            "trials": int(r["trials"]), "hr_mae": _clean(r["hr_mae"]),
            "hr_mae_vs_rendered": _clean(r["hr_mae_vs_rendered"])}
    compute = {}
    if loaded["audit"] is not None:
        for _, r in loaded["audit"].iterrows():
            compute[str(r["variant"])] = {k: _clean(r[k]) for k in
                                          ("params", "params_rel_diff", "mflops_per_frame", "mflops_rel_diff")}
    return {"data_origin": dict(sorted(loaded["origins"].items())),
            "unsupervised": unsup, "datasets": datasets, "compute": compute, "hr_by_skin_type": skin,
            "deviations_from_paper": int(dev["deviates_from_paper"].sum()),
            "absent_inputs": len(absent), "provenance": prov}


def build_report(params: dict, inputs: ReportInputs, out: str | Path) -> dict:
    """Write the report under ``out``; return the content of reports/metrics.json."""
    out = Path(out)
    section = params["report"]
    digits = int(section["digits"])
    absent: list[str] = []
    loaded = _load_inputs(inputs, params, absent)
    prov = provenance(params, loaded["used"])
    commit = prov["git_commit"]

    manifests, splits, results = loaded["manifests"], loaded["splits"], loaded["results"]
    summary = T.dataset_summary(manifests, splits)
    excl = T.exclusions(manifests)
    split_tab = T.split_details(splits)
    long = T.unsupervised_long(results)
    per_fold = T.unsupervised_per_fold(results)
    unsup_excl = T.unsupervised_exclusions(results)
    dev = T.deviations(params, section["deviations"])
    origins: dict[str, dict] = loaded["origins"]
    known = sorted(set(manifests) | set(splits) | {r.dataset for r in results} | set(origins))
    origin_text = {ds: describe_origin(origins.get(ds)) for ds in known}
    synth = [d for d in known if origins.get(d, {}).get("kind") == "built-in"]
    user = [d for d in known if origins.get(d, {}).get("kind") == "user-supplied"]
    if not summary.empty:
        summary.insert(1, "data origin", [origin_text.get(ds, "") for ds in summary["dataset"]])
    skin = T.hr_error_by_skin_type(results, loaded["truths"])
    loaded["skin"] = skin
    skin_notes = []
    for r in results:
        name = T.DATASET_NAMES.get(r.dataset, r.dataset)
        if r.dataset not in synth:
            kind = origins.get(r.dataset, {}).get("kind", "origin unknown")
            skin_notes.append(f"{name}: {kind} data, skin type not known.")
        elif T.skin_types(loaded["truths"].get(r.dataset)) is None:
            skin_notes.append(f"{name}: the built-in data has no skin-type truth (its "
                              f"{TRUTH_SUMMARY.as_posix()} records no Fitzpatrick type per trial).")

    # figures
    figures: list[Figure] = [hr_scatter_figure(r, commit) for r in results]
    waveform, waveform_missing = None, ""
    wf = section["example_waveform"]
    # null: the first evaluated pulse dataset (so narrowing 'datasets' needs no edit here)
    pulse_datasets = params.get("unsupervised", {}).get("datasets", [])
    wf_dataset = wf["dataset"] if wf["dataset"] is not None else (pulse_datasets[0] if pulse_datasets else None)
    if wf_dataset is None:
        waveform_missing = "report.example_waveform.dataset is null and unsupervised.datasets is empty"
    elif wf_dataset in loaded["caches"]:
        try:
            waveform = waveform_figure(loaded["caches"][wf_dataset], wf_dataset, params["signals"],
                                       float(wf["seconds"]), wf["trial"], commit)
        except InputError as err:
            waveform_missing = str(err)
            absent.append(f"example waveform: {err}")
    else:
        waveform_missing = f"no cache of dataset {wf_dataset} was given (report.example_waveform.dataset)"
        absent.append(f"example waveform: {waveform_missing}")

    # tables: name -> (raw frame for CSV, formatted frame for Markdown/HTML)
    wide = {r.dataset: T.unsupervised_wide(long, r.dataset) for r in results}
    table_files: dict[str, pd.DataFrame] = {
        "datasets": summary, "exclusions": excl, "splits": split_tab,
        "unsupervised_vs_published": long, "unsupervised_per_fold": per_fold,
        "unsupervised_excluded": unsup_excl, "deviations": dev, "hr_error_by_skin_type": skin,
        **{f"unsupervised_{ds}": w for ds, w in wide.items()},
    }
    if loaded["audit"] is not None:
        table_files["compute_audit"] = loaded["audit"]
    with atomic_path(out / "tables", is_dir=True) as tmp:
        for name, df in table_files.items():
            df.to_csv(tmp / f"{name}.csv", index=False)
            fmt_digits = digits + 2 if name == "compute_audit" else digits
            (tmp / f"{name}.md").write_text(T.to_markdown(T.formatted(df, fmt_digits, signed=("diff", "difference"))))
    all_figs = figures + ([waveform] if waveform is not None else [])
    with atomic_path(out / "figures", is_dir=True) as tmp:
        for fig in all_figs:
            (tmp / f"{fig.name}.png").write_bytes(fig.png)
            (tmp / f"{fig.name}.txt").write_text(fig.caption + "\n")

    def embed(fig: Figure) -> dict:
        return {"title": fig.title, "caption": fig.caption, "b64": base64.b64encode(fig.png).decode("ascii")}

    blocks = []
    for r in results:
        table = T.published_hr_table(r.dataset)
        blocks.append({
            "title": f"{T.DATASET_NAMES.get(r.dataset, r.dataset)} ({r.metrics.get('hr_mode', 'trial')} rates)",
            "origin": origin_text.get(r.dataset, describe_origin(None)),
            "source": T.published(table).attrs["source"] if table else "no published POS/CHROM numbers for this dataset",
            "html": _html(wide[r.dataset], digits, signed=("diff",)),
        })
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    html = env.get_template("index.html.j2").render(
        prov=prov, synthetic=[f"{T.DATASET_NAMES.get(d, d)} ({origin_text[d]})" for d in synth],
        user=[T.DATASET_NAMES.get(d, d) for d in user],
        unknown=[T.DATASET_NAMES.get(d, d) for d in known if d not in synth and d not in user], absent=absent,
        summary_html=_html(summary, digits) if not summary.empty else "",
        exclusions_html=_html(excl, digits) if not excl.empty else "",
        splits_html=_html(split_tab, digits) if not split_tab.empty else "",
        unsupervised=blocks,
        per_fold_html=_html(per_fold, digits) if not per_fold.empty else "",
        unsup_excl_html=_html(unsup_excl, digits) if not unsup_excl.empty else "",
        scatter_figures=[embed(f) for f in figures],
        audit_html=_html(loaded["audit"], digits + 2) if loaded["audit"] is not None else "",
        waveform=embed(waveform) if waveform is not None else None, waveform_missing=waveform_missing,
        waveform_origin=(f"{T.DATASET_NAMES.get(wf_dataset, wf_dataset)}: {origin_text.get(wf_dataset, describe_origin(None))}"
                         if wf_dataset is not None else ""),
        skin_html=_html(skin, digits) if not skin.empty else "", skin_notes=skin_notes, skin_caption=SKIN_CAPTION,
        deviation_items=_deviation_items(dev, origins), deviations_html=_html(dev, digits),
        prov_rows=[(k, "" if v is None else v) for k, v in prov.items()],
        inputs=[str(p) for p in loaded["used"]],
    )
    write_text(out / "index.html", html)
    metrics = _metrics_json(long, loaded, dev, absent, prov)
    write_json(out / "metrics.json", metrics)
    return metrics


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline report", description=__doc__.split("\n")[0])
    parser.add_argument("--params", default="params.yaml")
    parser.add_argument("--out", required=True, type=Path, help="reports")
    parser.add_argument("--manifests", nargs="*", type=Path, default=[], help="data/interim/<ds>/manifest.csv ...")
    parser.add_argument("--splits", nargs="*", type=Path, default=[], help="data/interim/<ds>/splits.json ...")
    parser.add_argument("--unsupervised", nargs="*", type=Path, default=[], help="results/unsupervised/<ds> ...")
    parser.add_argument("--audit", type=Path, default=None, help="results/compute/audit.csv")
    parser.add_argument("--caches", nargs="*", type=Path, default=[], help="data/cache/<ds> ...")
    parser.add_argument("--raw", nargs="*", type=Path, default=[],
                        help="data/raw/<ds> ... (data origin; skin-type truth of built-in data)")
    args = parser.parse_args(argv)
    params = load_params(args.params)
    inputs = ReportInputs(args.manifests, args.splits, args.unsupervised, args.audit, args.caches, args.raw)
    metrics = build_report(params, inputs, args.out)
    print(f"report: {args.out / 'index.html'} written ({metrics['absent_inputs']} absent inputs, "
          f"{metrics['deviations_from_paper']} settings deviating from the paper)")

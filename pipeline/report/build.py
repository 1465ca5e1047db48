"""The report: reports/index.html with every reproduced number beside the published one.

``build_report`` (run by ``python -m pipeline report --params params.yaml --out reports
--manifests data/interim/bp4d/manifest.csv ... --splits data/interim/bp4d/splits.json ...
--unsupervised results/runs/baselines/bp4d ... --audit results/runs/compute_audit/all_variants/audit.csv
--caches data/cache/bp4d ... --raw data/raw/bp4d ... --sheet experiments.yaml``) writes

    reports/index.html        self-contained (figures as base64 PNG, inline CSS, no scripts)
    reports/metrics.json      the reproduced numbers, published values and differences
    reports/headline.json     the few numbers DVC lists as metrics: per dataset the POS/CHROM HR
                              MAE, per learned run its AU F1, HR MAE and RR MAE
    reports/tables/*.csv|md|tex   every table of the report (linked under its item for download)
    reports/figures/*.png|svg     every figure of the report (with its caption as *.txt)

The report is assembled from items (pipeline/report/items): one per table or figure, each with
its title, caption, the published tables it compares with, the inputs it reads, and a build
that returns its HTML fragment, its files and its entries of metrics.json. This module loads the
inputs once, runs the items in the order of ``items.ITEMS`` and renders a template that only
loops over sections and items; adding a table is adding an item.

Every dataset section says where its data came from: built-in semi-synthetic (with its preset
and seed, read from the generator's ``_truth/summary.json`` in the raw folder) or user-supplied.
For built-in data the report also tabulates the heart-rate error per Fitzpatrick skin type,
which the generator records per trial.

Inputs are passed explicitly (the DAG lists them, so both engines agree on them). An input that
is missing does not stop the report: the report names it under "Absent inputs" and leaves out
what depends on it. An input that exists but is malformed raises InputError naming the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from pipeline.atomic import atomic_path, write_json, write_text
from pipeline.provenance import provenance
from pipeline.raw_data import describe_origin
from pipeline.reference.papers import table_info, table_names
from pipeline.report import items as report_items
from pipeline.report import tables as T
from pipeline.report.inputs import InputView, LoadedInputs, ReportInputs, load_inputs
from pipeline.report.items.base import FILE_DIRS, ItemOutput, ReportContext, ReportItem

__all__ = ["ReportInputs", "build_report", "check_items"]

TEMPLATES = Path(__file__).resolve().parent / "templates"
TEMPLATE = "index.html.j2"
# metrics.json entries of the assembler itself (an item may not set them)
REPORT_METRICS = ("data_origin", "absent_inputs", "provenance")
DOWNLOADS = (".csv", ".tex", ".png", ".svg")  # item files the report links for download


def check_items(items: list[ReportItem]) -> None:
    """Fail early on a malformed item list: duplicate ids, empty captions or titles, published
    ids that published.yaml does not hold."""
    seen: set[str] = set()
    known = set(table_names())
    for item in items:
        if not item.id or item.id in seen:
            raise ValueError(f"report item id '{item.id}' is empty or used twice")
        seen.add(item.id)
        for attr in ("section", "title", "caption"):
            if not str(getattr(item, attr)).strip():
                raise ValueError(f"report item '{item.id}' has an empty {attr}")
        for ref in item.published:
            if ref.table not in known:
                raise ValueError(f"report item '{item.id}': no published table '{ref.table}'")
            rows = table_info(ref.table)["rows"]
            unknown = [r for r in ref.rows if r not in rows]
            if unknown:
                raise ValueError(f"report item '{item.id}': published table '{ref.table}' has no rows {unknown}")


def _run_items(items: list[ReportItem], params: dict, loaded: LoadedInputs, prov: dict
               ) -> tuple[list[tuple[ReportItem, ItemOutput]], dict[str, str | bytes], dict[str, Any],
                          dict[str, Any], list[str]]:
    """Build every item; gather their files, metrics and headline entries and absent inputs
    (none may clash)."""
    digits = int(params["report"]["digits"])
    built, files, metrics, headline, absent = [], {}, {}, {}, []
    for item in items:
        ctx = ReportContext(params=params, digits=digits, prov=prov, origins=loaded.origins, used=loaded.used,
                            inputs=InputView(loaded, item.reads, item.id))
        result = item.build(ctx)
        for path, content in result.files.items():
            if Path(path).parts[0] not in FILE_DIRS or len(Path(path).parts) != 2:
                raise ValueError(f"report item '{item.id}' writes {path}, outside {'/, '.join(FILE_DIRS)}/")
            if path in files:
                raise ValueError(f"report item '{item.id}' writes {path}, which another item writes")
            files[path] = content
        for key, value in result.metrics.items():
            if key in metrics or key in REPORT_METRICS:
                raise ValueError(f"report item '{item.id}' sets metrics.json '{key}', "
                                 "which another item or the assembler sets")
            metrics[key] = value
        for key, value in result.headline.items():
            if key in headline:
                raise ValueError(f"report item '{item.id}' sets headline.json '{key}', which another item sets")
            headline[key] = value
        absent.extend(result.absent)
        built.append((item, result))
    return built, files, metrics, headline, absent


def _sections(built: list[tuple[ReportItem, ItemOutput]]) -> list[dict]:
    """The items grouped under their section, sections in the order of their first item."""
    sections: dict[str, dict] = {}
    for item, result in built:
        section = sections.setdefault(item.section, {"title": item.section, "entries": []})
        # the item's tables and figures as files to download (CSV, LaTeX, PNG, SVG), linked
        # relative to index.html
        downloads = sorted(p for p in result.files if Path(p).suffix in DOWNLOADS)
        section["entries"].append({"id": item.id, "title": item.title, "caption": item.caption, "html": result.html,
                                   "downloads": downloads})
    return list(sections.values())


def build_report(params: dict, inputs: ReportInputs, out: str | Path) -> dict:
    """Write the report under ``out``; return the content of reports/metrics.json."""
    out = Path(out)
    items = list(report_items.ITEMS)
    check_items(items)
    loaded = load_inputs(inputs, params)
    prov = provenance(params, loaded.used)
    built, files, item_metrics, headline, item_absent = _run_items(items, params, loaded, prov)
    absent = loaded.absent + item_absent

    for folder in FILE_DIRS:  # each folder replaced as a whole, present even when empty
        with atomic_path(out / folder, is_dir=True) as tmp:
            for path, content in files.items():
                if Path(path).parts[0] == folder:
                    target = tmp / Path(path).name
                    if isinstance(content, bytes):
                        target.write_bytes(content)
                    else:
                        target.write_text(content)

    origins = loaded.origins
    known = sorted(set(loaded.manifests) | set(loaded.splits) | {r.dataset for r in loaded.unsupervised}
                   | set(origins))
    kind = {ds: origins.get(ds, {}).get("kind") for ds in known}
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    html = env.get_template(TEMPLATE).render(
        prov=prov,
        synthetic=[f"{T.DATASET_NAMES.get(d, d)} ({describe_origin(origins.get(d))})"
                   for d in known if kind[d] == "built-in"],
        user=[T.DATASET_NAMES.get(d, d) for d in known if kind[d] == "user-supplied"],
        unknown=[T.DATASET_NAMES.get(d, d) for d in known if kind[d] not in ("built-in", "user-supplied")],
        absent=absent, sections=_sections(built),
    )
    write_text(out / "index.html", html)
    metrics = {"data_origin": dict(sorted(origins.items())), **item_metrics,
               "absent_inputs": len(absent), "provenance": prov}
    write_json(out / "metrics.json", metrics)
    write_json(out / "headline.json", headline)
    return metrics

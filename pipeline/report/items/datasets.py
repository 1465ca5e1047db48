"""Report items of the datasets: trial and subject counts, excluded trials, subject splits."""

from __future__ import annotations

from pipeline.report import tables as T
from pipeline.report.items.base import ItemOutput, ReportContext, ReportItem, fragment, table_files, table_item, wide

SECTION = "Datasets"


class DatasetSummary(ReportItem):
    id = "datasets"
    section = SECTION
    title = "Dataset summary"
    caption = ("Trials, excluded trials, subjects and folds of every dataset, from the ingest manifests "
               "and the subject splits; the data origin says whether the data were generated here "
               "(the built-in dataset, with its preset and seed) or supplied by the user.")
    published = ()
    reads = ("manifests", "splits")

    def build(self, ctx: ReportContext) -> ItemOutput:
        manifests = ctx.inputs.manifests
        summary = T.dataset_summary(manifests, ctx.inputs.splits)
        if not summary.empty:
            summary.insert(1, "data origin", [ctx.origin(ds) for ds in summary["dataset"]])
        datasets = {}
        for ds, m in manifests.items():
            datasets[ds] = {"trials": int(len(m)), "trials_ok": int((m["status"] == "ok").sum()),
                            "trials_excluded": int((m["status"] != "ok").sum()),
                            "data_origin": ctx.origins.get(ds, {"kind": "unknown"})}
        html = wide(summary, ctx.digits) if not summary.empty else fragment("<p>No manifest available.</p>")
        return ItemOutput(html, table_files("datasets", summary, ctx.digits), {"datasets": datasets})


class Exclusions(ReportItem):
    id = "exclusions"
    section = SECTION
    title = "Excluded and flagged trials"
    caption = ("Trials the ingest stage excluded, grouped by dataset and reason, with their trial ids; "
               "then the trials it kept and scored but flagged, such as a device-recorded heart rate under "
               "ingest.min_recorded_hr_bpm, whose device data are suspect (the errors against that recorded "
               "rate measure the device, not the method; ingest.implausible_recorded_hr: exclude leaves "
               "such trials out).")
    published = ()
    reads = ("manifests",)

    def build(self, ctx: ReportContext) -> ItemOutput:
        return table_item("exclusions", T.exclusions(ctx.inputs.manifests), ctx.digits, bool(ctx.inputs.manifests),
                          "No trial excluded.", "No manifest available.")


class Splits(ReportItem):
    id = "splits"
    section = SECTION
    title = "Splits"
    caption = ("Test subjects of every fold, the subjects in no published split and the subjects the "
               "split excludes, with the reason.")
    published = ()
    reads = ("splits",)

    def build(self, ctx: ReportContext) -> ItemOutput:
        return table_item("splits", T.split_details(ctx.inputs.splits), ctx.digits, bool(ctx.inputs.splits),
                          "No splits available.", "No splits available.")

"""Report item: every run of the experiment sheet, and whether this report holds its results."""

from __future__ import annotations

import pandas as pd

from pipeline.experiments.sheet import left_out_reason, runs_of
from pipeline.report.items.base import ItemOutput, ReportContext, ReportItem, fragment, table_files, wide

COLUMNS = ["run", "stage", "variant", "tasks", "train data", "test data", "folds", "parent", "overrides",
           "published", "status"]


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value))
    return str(value)


class ExperimentSheet(ReportItem):
    id = "experiment_sheet"
    section = "Experiments"
    title = "Runs of the experiment sheet"
    caption = ("Every row of experiments.yaml with the published table rows it reproduces, and its status "
               "in this report: results shown, left out because its data is not in params.yaml "
               "'datasets', or not run (no stage of this DAG produced results for it, e.g. training rows "
               "before the train stage exists).")
    published = ()
    reads = ("sheet", "unsupervised", "audit_runs", "experiments")

    def build(self, ctx: ReportContext) -> ItemOutput:
        sheet = ctx.inputs.sheet
        if sheet is None:
            return ItemOutput(fragment("<p>No experiment sheet was given.</p>"), {}, {"runs": {}})
        with_results = ({r.metrics.get("run") for r in ctx.inputs.unsupervised} | set(ctx.inputs.audit_runs)
                        | {run for doc in ctx.inputs.experiments.values() for run in doc.get("runs", {})})
        rows, status = [], {}
        for run in runs_of(sheet):
            reason = left_out_reason(run, ctx.params)
            if run.id in with_results:
                state = "results shown"
            elif reason is not None:
                state = f"left out: {reason}"
            else:
                state = "not run: no results in this report"
            status[run.id] = state
            r = run.row
            rows.append([run.id, run.stage, _text(r.get("variant")), _text(r.get("tasks")),
                         _text(r.get("train_data")), _text(r.get("test_data")), _text(r.get("folds")),
                         _text(r.get("parent")), _text(r.get("overrides") or ""),
                         _text([f"{p['table']}/{p['row']}" for p in run.published]), state])
        table = pd.DataFrame(rows, columns=COLUMNS)
        return ItemOutput(wide(table, ctx.digits), table_files("experiment_sheet", table, ctx.digits),
                          {"runs": status})

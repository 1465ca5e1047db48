"""Per-AU F1 of the learned AU models of an experiment beside the published per-AU F1 (supp.
Table 1), with the all-positive predictor's per-AU F1 on the real data as the floor."""

from __future__ import annotations

import math
from typing import ClassVar

from pipeline.reference.au_class_weights import (
    all_positive_f1_per_au, prevalence_from_pos_weight, published_pos_weight,
)
from pipeline.report import tables as T
from pipeline.report.figures import per_au_f1_figure
from pipeline.report.items.base import ItemOutput, Published, ReportContext, ReportItem, figure_files, figure_html, fragment


class PerAuF1(ReportItem):
    id = "table1_per_au_f1"
    section = "Learned models: paper Table 1 (ablations of BigSmall)"
    title = "Per-AU F1 of the Table 1 AU models"
    caption = ("Per-AU F1 (mean over folds) of each Table 1 run with an AU head, beside the published per-AU "
               "F1 of the same model where the supplement gives one (supp. Table 1), and the all-positive "
               "predictor's F1 per AU on the real BP4D+ (from the published class weights).")
    published = (Published("supp_table1", ("big_branch", "bigsmall")),)
    reads = ("experiments",)
    experiment: ClassVar[str] = "table1"
    table: ClassVar[str] = "supp_table1"
    dataset: ClassVar[str] = "bp4d"

    def build(self, ctx: ReportContext) -> ItemOutput:
        doc = ctx.inputs.experiments.get(self.experiment)
        pub = T.published(self.table)
        aus = [c[:-3].upper() for c in pub.columns if c.startswith("au") and c.endswith("_f1") and c != "au_f1"]
        bars: dict[str, dict[str, float]] = {}
        runs = []
        for run_id, run in (doc or {}).get("runs", {}).items():
            metrics = run.get("metrics", {})
            values = {au: metrics.get(f"au.f1.{au}", {}).get("mean") for au in aus}
            values = {au: float(v) for au, v in values.items() if v is not None and not math.isnan(float(v))}
            if not values:
                continue
            runs.append(run_id)
            short = run_id.split("/", 1)[1]
            bars[f"reproduced {short}"] = values
            # the supplement's row of the same model: the run's published row ids name it
            for row in [ref["row"] for ref in run.get("published", [])] + [short]:
                if row in pub.index:
                    bars[f"published {row}"] = {au: float(pub.loc[row, f"{au.lower()}_f1"]) for au in aus}
                    break
        if not bars:
            return ItemOutput(fragment("<p>No AU model of experiment '{{ e }}' was evaluated in this run of the "
                                       "DAG.</p>", e=self.experiment))
        reference = all_positive_f1_per_au(prevalence_from_pos_weight(published_pos_weight(self.dataset)))
        caption = (f"Runs {', '.join(runs)} (results/metrics/{self.experiment}.json, mean over folds) on "
                   f"{ctx.origin(self.dataset)}; published: {pub.attrs['source']}; black ticks: 2p/(1+p) per AU "
                   f"with p = 1/(1+w) from the published class weights. Report code at commit {ctx.commit}.")
        fig = per_au_f1_figure(f"{self.experiment}_per_au_f1", "Per-AU F1, reproduced and published", aus, bars,
                               reference, caption)
        return ItemOutput(figure_html(fig), figure_files(fig))

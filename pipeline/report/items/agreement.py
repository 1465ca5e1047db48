"""Agreement of learned heart rates with the ground truth, beside POS on the same dataset."""

from __future__ import annotations

from typing import ClassVar

from pipeline.report.figures import bland_altman_figure
from pipeline.report.items.base import ItemOutput, ReportContext, ReportItem, figure_files, figure_html, fragment


class LearnedHrBlandAltman(ReportItem):
    id = "table1_hr_bland_altman"
    section = "Learned models: paper Table 1 (ablations of BigSmall)"
    title = "Agreement with the ground-truth heart rate: BigSmall and POS (Bland-Altman)"
    caption = ("Per test trial of every fold: the difference between the heart rate and the ground truth "
               "against their mean, for BigSmall (Table 1) and for POS on the same dataset, with each one's "
               "bias and 95% limits of agreement.")
    published = ()
    reads = ("learned_predictions", "unsupervised")
    runs: ClassVar[dict[str, str]] = {"table1/bigsmall": "BigSmall (table1/bigsmall)"}  # run -> legend label
    dataset: ClassVar[str] = "bp4d"
    methods: ClassVar[tuple[str, ...]] = ("POS",)

    def build(self, ctx: ReportContext) -> ItemOutput:
        learned = {r: ctx.inputs.learned_predictions[r] for r in self.runs if r in ctx.inputs.learned_predictions}
        if not learned:
            return ItemOutput(fragment("<p>No heart rates of {{ runs }} in this run of the DAG.</p>",
                                       runs=", ".join(self.runs)))
        series, sources = {}, []
        for run_id, pred in learned.items():
            ok = pred[pred["hr_status"] == "ok"]
            series[self.runs[run_id]] = (ok["hr_pred"].to_numpy(), ok["hr_true"].to_numpy())
            sources.append(f"results/runs/{run_id}/<fold>/predictions.csv")
        for result in ctx.inputs.unsupervised:
            if result.dataset != self.dataset:
                continue
            ok = result.predictions[result.predictions["status"] == "ok"]
            for method in self.methods:
                m = ok[ok["method"] == method]
                series[method] = (m["hr_pred"].to_numpy(), m["hr_true"].to_numpy())
            sources.append(str(result.folder / "predictions.csv"))
        source = (f"From {', '.join(sources)} (status ok; test trials of every fold); report code at commit "
                  f"{ctx.commit}.")
        fig = bland_altman_figure(self.id, f"{ctx.name(self.dataset)}: Bland-Altman, BigSmall and POS", series, source)
        return ItemOutput(figure_html(fig), figure_files(fig))

"""Report items of the unsupervised heart-rate baselines (POS, CHROM)."""

from __future__ import annotations

from typing import Callable, ClassVar

from pipeline.report import tables as T
from pipeline.report.figures import Figure, hr_bland_altman_figure, hr_scatter_figure
from pipeline.report.tables import UnsupervisedResult
from pipeline.report.items.base import (
    ItemOutput, Published, ReportContext, ReportItem, clean, figure_files, figure_html, fragment, table_files,
    table_item, wide,
)

SECTION = "Unsupervised heart-rate baselines (POS, CHROM)"
NO_RESULTS_TEXT = "No unsupervised results available."
NO_RESULTS = f"<p>{NO_RESULTS_TEXT}</p>"
METHOD_ROWS = tuple(T.METHOD_ROWS.values())  # the published row ids of POS and CHROM
TRACE_TEXT = {
    "crop": "the mean of the whole square crop, background and hair included (the authors' BP4D+ protocol)",
    "region": "the face region of preprocessing (preprocess.face_trace; the whole crop where it fell back)",
    "box": ("the mean over the rPPG-Toolbox's face box: OpenCV's Haar face of the first frame enlarged 1.5 times, "
            "kept for the whole video (the toolbox's protocol)"),
}


class UnsupervisedVsPublished(ReportItem):
    id = "unsupervised_vs_published"
    section = SECTION
    title = "POS and CHROM beside the published values"
    caption = ("Heart rate estimated from each trial's face-mean RGB and compared with the rate of the "
               "ground-truth pulse wave (BP wave for BP4D+, PPG for UBFC-rPPG and PURE), on the test "
               "trials of every fold. \"diff\" is ours minus the published value.")
    # the POS/CHROM rows of every published table with heart rates of a dataset the baselines run on
    published = (Published("paper_table2", METHOD_ROWS), Published("paper_table3_ubfc", METHOD_ROWS),
                 Published("paper_table3_pure", METHOD_ROWS))
    reads = ("unsupervised",)

    BLOCK = """{% for b in blocks %}<h4>{{ b.title }}</h4>
<p class="source">Data: {{ b.origin }}. Face trace: {{ b.trace }}. Published: {{ b.source }}.</p>
{{ b.table }}
{% else %}<p>No unsupervised results available.</p>
{% endfor %}"""

    def build(self, ctx: ReportContext) -> ItemOutput:
        results = ctx.inputs.unsupervised
        long = T.unsupervised_long(results)
        files = table_files("unsupervised_vs_published", long, ctx.digits)
        blocks = []
        for r in results:
            wide_table = T.unsupervised_wide(long, r.dataset)
            files.update(table_files(f"unsupervised_{r.dataset}", wide_table, ctx.digits))
            table = T.published_hr_table(r.dataset)
            blocks.append({
                "title": f"{ctx.name(r.dataset)} ({r.metrics.get('hr_mode', 'trial')} rates)",
                "origin": ctx.origin(r.dataset),
                "trace": TRACE_TEXT.get(r.metrics.get("trace", "region"), r.metrics.get("trace")),
                "source": (T.published(table).attrs["source"] if table
                           else "no published POS/CHROM numbers for this dataset"),
                "table": wide(wide_table, ctx.digits, signed=("diff",)),
            })
        unsup: dict = {}
        for _, r in long.iterrows():
            d = unsup.setdefault(r["dataset"], {}).setdefault(r["method"], {})
            d[r["metric"]] = clean(r["reproduced"])
            d[f"{r['metric']}_published"] = clean(r["published"])
            d[f"{r['metric']}_diff"] = clean(r["difference"])
            d["n_trials"] = clean(r["n_trials"])
        headline = {ds: {m: v.get("hr_mae") for m, v in methods.items()} for ds, methods in unsup.items()}
        return ItemOutput(fragment(self.BLOCK, blocks=blocks), files, {"unsupervised": unsup},
                          headline={"unsupervised_hr_mae": headline})


class UnsupervisedPerFold(ReportItem):
    id = "unsupervised_per_fold"
    section = SECTION
    title = "Per fold"
    caption = ("Heart-rate metrics of POS and CHROM on the test trials of each fold, with the trials "
               "evaluated and excluded; no published counterpart.")
    published = ()
    reads = ("unsupervised",)

    def build(self, ctx: ReportContext) -> ItemOutput:
        results = ctx.inputs.unsupervised
        return table_item("unsupervised_per_fold", T.unsupervised_per_fold(results), ctx.digits, bool(results),
                          "No per-fold results recorded.", NO_RESULTS_TEXT)


class UnsupervisedExcluded(ReportItem):
    id = "unsupervised_excluded"
    section = SECTION
    title = "Trials left out of the baseline metrics"
    caption = ("Trials a method could not evaluate (status other than ok in the predictions) and trials "
               "whose subject is in no fold's test set, with the reason.")
    published = ()
    reads = ("unsupervised",)

    def build(self, ctx: ReportContext) -> ItemOutput:
        results = ctx.inputs.unsupervised
        return table_item("unsupervised_excluded", T.unsupervised_exclusions(results), ctx.digits, bool(results),
                          "No trial left out.", NO_RESULTS_TEXT)


class _FigurePerDataset(ReportItem):
    """One figure per dataset with unsupervised results, drawn by ``draw``."""

    abstract = True
    published = ()
    reads = ("unsupervised",)
    draw: ClassVar[Callable[[UnsupervisedResult, str], Figure]]

    def build(self, ctx: ReportContext) -> ItemOutput:
        figures = [type(self).draw(r, ctx.commit) for r in ctx.inputs.unsupervised]
        files: dict = {}
        for fig in figures:
            files.update(figure_files(fig))
        html = fragment("{% for f in figs %}{{ f }}{% else %}" + NO_RESULTS + "{% endfor %}",
                        figs=[figure_html(f) for f in figures])
        return ItemOutput(html, files)


class HrScatter(_FigurePerDataset):
    id = "hr_scatter"
    section = SECTION
    title = "Estimated against ground-truth heart rate"
    caption = ("Heart rate of each method against the rate of the ground-truth pulse, one point per "
               "evaluated trial (or window), with the identity line; one figure per dataset.")
    draw = staticmethod(hr_scatter_figure)


class HrBlandAltman(_FigurePerDataset):
    id = "hr_bland_altman"
    section = SECTION
    title = "Agreement with the ground-truth heart rate (Bland-Altman)"
    caption = ("Per evaluated trial (or window): the difference between each method's heart rate and the "
               "ground truth against their mean, with each method's bias and 95% limits of agreement; "
               "one figure per dataset.")
    draw = staticmethod(hr_bland_altman_figure)

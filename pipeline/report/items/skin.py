"""Report item: heart-rate error per Fitzpatrick skin type on the built-in data."""

from __future__ import annotations

from pipeline.raw_data import TRUTH_SUMMARY
from pipeline.report import tables as T
from pipeline.report.items.base import ItemOutput, ReportContext, ReportItem, clean, fragment, table_files, wide


class HrErrorBySkinType(ReportItem):
    id = "hr_error_by_skin_type"
    section = "Heart-rate error by skin type"
    title = "Heart-rate error by skin type"
    caption = (
        "Heart-rate MAE (bpm) of each method on the built-in data, per Fitzpatrick skin type of the "
        "rendered subject (the generator's truth). Darker skin has a smaller relative pulse, because "
        "melanin absorbs much of the light that would otherwise reach the blood and return, so some "
        "rise of the error with the type is physics, not a defect of a method. MAE against the "
        "ground-truth pulse is how the baselines are scored; MAE against the rendered mean heart rate "
        "compares with the rate the generator drew (BP4D+ trials are cut to their AU-coded segment, so "
        "their rendered whole-trial mean can differ slightly)."
    )
    published = ()
    reads = ("unsupervised", "raw")

    def build(self, ctx: ReportContext) -> ItemOutput:
        results, truths = ctx.inputs.unsupervised, ctx.inputs.raw
        skin = T.hr_error_by_skin_type(results, truths)
        notes = []
        for r in results:
            kind = ctx.origins.get(r.dataset, {}).get("kind", "origin unknown")
            if kind != "built-in":
                notes.append(f"{ctx.name(r.dataset)}: {kind} data, skin type not known.")
            elif T.skin_types(truths.get(r.dataset)) is None:
                notes.append(f"{ctx.name(r.dataset)}: the built-in data has no skin-type truth (its "
                             f"{TRUTH_SUMMARY.as_posix()} records no Fitzpatrick type per trial).")
        metrics: dict = {}
        for _, r in skin.iterrows():
            metrics.setdefault(r["dataset"], {}).setdefault(r["method"], {})[r["fitzpatrick"]] = {
                "trials": int(r["trials"]), "hr_mae": clean(r["hr_mae"]),
                "hr_mae_vs_rendered": clean(r["hr_mae_vs_rendered"])}
        html = fragment("{% if table %}{{ table }}{% else %}<p>No per-skin-type numbers.</p>{% endif %}\n"
                        "{% if notes %}<ul>{% for n in notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}",
                        table=wide(skin, ctx.digits) if not skin.empty else "", notes=notes)
        return ItemOutput(html, table_files("hr_error_by_skin_type", skin, ctx.digits), {"hr_by_skin_type": metrics})

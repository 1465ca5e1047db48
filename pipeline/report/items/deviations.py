"""Report item: the settings of this run that differ from the paper, and the data used instead."""

from __future__ import annotations

import pandas as pd

from pipeline.raw_data import describe_origin
from pipeline.report import tables as T
from pipeline.report.items.base import ItemOutput, ReportContext, ReportItem, fragment, table_files, wide


def deviation_items(dev: pd.DataFrame, origins: dict[str, dict]) -> list[str]:
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


class Deviations(ReportItem):
    id = "deviations"
    section = "Deviations from the paper"
    title = "Deviations from the paper"
    caption = ("Where this run differs from the paper: the data it measured on, and every setting listed "
               "under report.deviations in params.yaml, compared with the paper and the authors' code "
               "(the table lists every checked setting).")
    published = ()
    reads = ()

    def build(self, ctx: ReportContext) -> ItemOutput:
        dev = T.deviations(ctx.params, ctx.params["report"]["deviations"])
        html = fragment(
            "{% if items %}<ul>{% for i in items %}<li>{{ i }}</li>{% endfor %}</ul>"
            "{% else %}<p>No checked setting deviates from the paper.</p>{% endif %}\n"
            "<h4>Checked settings</h4>\n{{ table }}",
            items=deviation_items(dev, ctx.origins), table=wide(dev, ctx.digits))
        return ItemOutput(html, table_files("deviations", dev, ctx.digits),
                          {"deviations_from_paper": int(dev["deviates_from_paper"].sum())})

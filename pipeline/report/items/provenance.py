"""Report item: the provenance of this report and every input file it read."""

from __future__ import annotations

from pipeline.report.items.base import ItemOutput, ReportContext, ReportItem, fragment


class Provenance(ReportItem):
    id = "provenance"
    section = "Provenance"
    title = "Provenance"
    caption = ("Code commit, params hash and input-data hash of this report, the environment it ran in, "
               "and every input file it read.")
    published = ()
    reads = ()

    def build(self, ctx: ReportContext) -> ItemOutput:
        html = fragment(
            "<table>\n{% for key, value in rows %}<tr><th>{{ key }}</th><td>{{ value }}</td></tr>\n{% endfor %}"
            "</table>\n<h4>Inputs</h4>\n<ul>{% for i in inputs %}<li><code>{{ i }}</code></li>{% endfor %}</ul>",
            rows=[(k, "" if v is None else v) for k, v in ctx.prov.items()], inputs=[str(p) for p in ctx.used])
        return ItemOutput(html)

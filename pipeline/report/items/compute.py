"""Report item: parameters and FLOPs of every model variant beside the published figures."""

from __future__ import annotations

from pipeline.report.items.base import (
    ItemOutput, Published, ReportContext, ReportItem, clean, fragment, table_files, wide,
)


class ComputeAudit(ReportItem):
    id = "compute_audit"
    section = "Compute audit"
    title = "Compute audit"
    caption = ("Parameters and FLOPs per output frame of every registered model variant, measured by the "
               "compute-audit stage, beside the published figures.")
    # the published parameters and FLOPs of the variants (pipeline/reference/compute_published.yaml
    # transcribes them per variant, citing these tables)
    published = (
        Published("paper_table1", ("small_branch", "big_branch", "bigsmall_no_downsampling",
                                   "bigsmall_no_shift", "bigsmall_tsm", "bigsmall")),
        Published("supp_table3", ("bigsmall_lateral_bidir", "bigsmall_lateral_big2small",
                                  "bigsmall_lateral_small2big", "bigsmall_concat", "bigsmall")),
    )
    reads = ("audit",)

    def build(self, ctx: ReportContext) -> ItemOutput:
        audit = ctx.inputs.audit
        if audit is None:
            return ItemOutput(fragment("<p>No compute audit available.</p>"), {}, {"compute": {}})
        digits = ctx.digits + 2  # relative differences of a percent or less
        compute = {str(r["variant"]): {k: clean(r[k]) for k in
                                       ("params", "params_rel_diff", "mflops_per_frame", "mflops_rel_diff")}
                   for _, r in audit.iterrows()}
        return ItemOutput(wide(audit, digits), table_files("compute_audit", audit, digits), {"compute": compute})

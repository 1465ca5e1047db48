"""Paired comparisons of the learned models: each run of a table's experiment against its trivial
predictor and against BigSmall (Table 1's run) on the same test trials (heart and breathing rates)
and frames (AU decisions). One pair of items per table: Table 1, Table 2, supp. Tables 3 and 4."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

import numpy as np
import pandas as pd

from pipeline.errors import InputError
from pipeline.evaluate.paired import paired_au_f1, paired_wilcoxon
from pipeline.report.inputs import AuFrames
from pipeline.report.items.base import ItemOutput, ReportContext, ReportItem, clean, fragment, table_files, wide

TASKS = (("hr", "pulse", "heart rate"), ("rr", "resp", "breathing rate"))
KEYS = ["fold", "trial_id", "window_start_s"]


class PairedRates(ReportItem):
    id = "table1_paired_rates"
    section = "Learned models: paper Table 1 (ablations of BigSmall)"
    topic: ClassVar[str] = "paired comparisons of the heart and breathing rates"
    title = f"Paper Table 1: {topic}"
    caption = ("Per test trial: a run's absolute rate error minus that of its trivial predictor (the training "
               "fold's mean rate) or of BigSmall (Table 1's run, table1/bigsmall), on the trials both have. "
               "Median difference in bpm or breaths/min (negative: the run is better), matched-pairs "
               "rank-biserial correlation (effect size; negative: the run is better) and the two-sided Wilcoxon "
               "signed-rank p-value (scipy.stats). The AU decisions are compared in the next table.")
    published = ()
    reads = ("learned_predictions", "experiments")
    experiment: ClassVar[str] = "table1"
    reference_run: ClassVar[str] = "table1/bigsmall"

    def build(self, ctx: ReportContext) -> ItemOutput:
        doc = ctx.inputs.experiments.get(self.experiment, {})
        everyone = ctx.inputs.learned_predictions
        runs = {r: p for r, p in everyone.items() if r.startswith(f"{self.experiment}/")}
        rows = []
        for run_id, pred in sorted(runs.items()):
            for prefix, task, what in TASKS:
                mine = _scored(pred, prefix)
                if mine.empty:
                    continue
                run_metrics = doc.get("runs", {}).get(run_id, {}).get("metrics", {})
                rows.append({"run": run_id, "rate": what, "against": "training-fold mean rate",
                             **rate_against_trivial(pred, run_metrics, prefix)})
                if run_id != self.reference_run and self.reference_run in everyone:
                    ref = _scored(everyone[self.reference_run], prefix)
                    both = mine.merge(ref, on=KEYS, suffixes=("", "_ref"))
                    if not both.empty:
                        rows.append({"run": run_id, "rate": what, "against": self.reference_run,
                                     **paired_wilcoxon(both["err"].to_numpy(), both["err_ref"].to_numpy())})
        table = pd.DataFrame(rows, columns=["run", "rate", "against", "n", "median_difference", "rank_biserial",
                                            "p_value"])
        if table.empty:
            html = fragment("<p>No learned heart or breathing rates of experiment '{{ e }}' in this run of the "
                            "DAG.</p>", e=self.experiment)
        else:
            html = wide(table, ctx.digits)
        return ItemOutput(html, table_files(self.id, table, ctx.digits),
                          {self.id: [{k: clean(v) for k, v in r.items()} for r in table.to_dict("records")]})


def rate_against_trivial(pred: pd.DataFrame, run_metrics: dict, prefix: str) -> dict:
    """A run's per-trial absolute ``prefix`` ('hr' or 'rr') errors against those of its trivial
    predictor, each fold's training mean rate (``baselines.<prefix>_train_mean.value`` per fold of
    the run's aggregated metrics), on the same trials: :func:`paired_wilcoxon`."""
    mine = _scored(pred, prefix)
    per_fold = run_metrics.get(f"baselines.{prefix}_train_mean.value", {}).get("per_fold", {}) or {}
    constant = mine["fold"].map(lambda f: per_fold.get(f, np.nan)).astype(float)
    trivial = (constant - mine[f"{prefix}_true"]).abs()
    return paired_wilcoxon(mine["err"].to_numpy(), trivial.to_numpy())


def au_against_all_positive(frames: AuFrames) -> dict:
    """A run's per-frame AU decisions against the all-positive predictor's on the same frames:
    :func:`paired_au_f1`."""
    return paired_au_f1(frames.true, frames.pred, np.ones_like(frames.pred), frames.keys["subject"].to_numpy())


def _scored(pred: pd.DataFrame, prefix: str) -> pd.DataFrame:
    """The trials with an ok rate: keys, truth and absolute error."""
    if f"{prefix}_status" not in pred:
        return pd.DataFrame(columns=[*KEYS, f"{prefix}_true", "err"])
    ok = pred[pred[f"{prefix}_status"] == "ok"]
    return ok[[*KEYS, f"{prefix}_true", f"{prefix}_abs_err"]].rename(columns={f"{prefix}_abs_err": "err"})


AU_KEYS = ["fold", "trial_id", "frame_index"]


class PairedAu(ReportItem):
    id = "table1_paired_au"
    section = "Learned models: paper Table 1 (ablations of BigSmall)"
    topic: ClassVar[str] = "paired comparisons of the AU decisions"
    title = f"Paper Table 1: {topic}"
    caption = ("Per scored frame and AU: a run's decision against the all-positive predictor's or BigSmall's "
               "(Table 1's run, table1/bigsmall) on the frames both have. The difference of the mean F1 over AUs "
               "(positive: the run is better), its 95% interval from a bootstrap over test subjects (frames of one "
               "subject are not independent), and the two-sided p-value of a paired permutation test that swaps "
               "the two decisions within each subject (scipy.stats). With few test subjects the smallest "
               "attainable p-value is 2/2^subjects.")
    published = ()
    reads = ("learned_au",)
    experiment: ClassVar[str] = "table1"
    reference_run: ClassVar[str] = "table1/bigsmall"

    def build(self, ctx: ReportContext) -> ItemOutput:
        runs = {r: a for r, a in ctx.inputs.learned_au.items() if r.startswith(f"{self.experiment}/")}
        ref = ctx.inputs.learned_au.get(self.reference_run)
        rows = []
        for run_id, frames in sorted(runs.items()):
            rows.append({"run": run_id, "against": "all-positive predictor", **au_against_all_positive(frames)})
            if run_id == self.reference_run or ref is None:
                continue
            if ref.names != frames.names:
                raise InputError(Path(f"results/runs/{run_id}"), f"scores AUs {frames.names}, {self.reference_run} "
                                 f"scores {ref.names}: they cannot be paired (re-evaluate with the same AUs)")
            mine = frames.keys.reset_index().merge(ref.keys.reset_index(), on=AU_KEYS, suffixes=("", "_ref"))
            if mine.empty:
                continue
            i, j = mine["index"].to_numpy(), mine["index_ref"].to_numpy()
            rows.append({"run": run_id, "against": self.reference_run,
                         **paired_au_f1(frames.true[i], frames.pred[i], ref.pred[j], mine["subject"].to_numpy())})
        columns = ["run", "against", "n_frames", "n_subjects", "f1", "f1_reference", "f1_difference", "ci_low",
                   "ci_high", "p_value"]
        table = pd.DataFrame(rows, columns=columns)
        if table.empty:
            html = fragment("<p>No learned AU decisions of experiment '{{ e }}' in this run of the DAG.</p>",
                            e=self.experiment)
        else:
            html = wide(table, ctx.digits, signed=("f1_difference",))
        return ItemOutput(html, table_files(self.id, table, ctx.digits),
                          {self.id: [{k: clean(v) for k, v in r.items()} for r in table.to_dict("records")]})


def paired_items(experiment: str, section: str, table: str) -> list[ReportItem]:
    """The two paired-comparison items (rates, then AU decisions) of another table's experiment,
    in its section, against the same BigSmall; ``table`` names the table in their titles."""
    items = []
    for base, what in ((PairedRates, "rates"), (PairedAu, "au")):
        cls = type(f"{base.__name__}_{experiment}", (base,), {
            "id": f"{experiment}_paired_{what}", "section": section, "title": f"{table}: {base.topic}",
            "experiment": experiment, "__module__": __name__})
        items.append(cls())
    return items

"""Report items of the learned models: one table per experiment of the sheet, reproduced beside
published, with the trivial baselines and the plain statements the numbers support."""

from __future__ import annotations

import math
from typing import Any, ClassVar

import pandas as pd

from pipeline.experiments.sheet import fold_names
from pipeline.reference.au_class_weights import published_all_positive_f1
from pipeline.reference.papers import paper_training
from pipeline.report import tables as T
from pipeline.report.items.base import (
    ItemOutput, Published, ReportContext, ReportItem, clean, fragment, table_files, wide,
)
from pipeline.report.items.paired import au_against_all_positive, rate_against_trivial

# published metric -> the aggregated metric of the evaluate stage (results/metrics/<exp>.json)
METRIC_SOURCES = {
    "hr_mae": "pulse.hr_mae", "hr_rmse": "pulse.hr_rmse", "hr_mape": "pulse.hr_mape", "hr_pearson": "pulse.hr_pearson",
    "rr_mae": "resp.rr_mae", "rr_rmse": "resp.rr_rmse", "rr_mape": "resp.rr_mape", "rr_pearson": "resp.rr_pearson",
    "au_f1": "au.f1_mean", "au_acc": "au.accuracy_mean",
    # per-AU F1 columns (supp. Table 4)
    **{f"au{k:02d}_f1": f"au.f1.AU{k:02d}" for k in (1, 2, 4, 6, 7, 9, 10, 12, 14, 15, 17, 23, 24, 25, 26)},
}
# published unsupervised rows (paper Table 2) -> the method in the baselines' metrics
UNSUPERVISED_ROWS = {"pos": "POS", "chrom": "CHROM"}
# the trivial predictor each task is measured against, and its metric in the aggregate
TRIVIAL = {
    "au_f1": ("all-positive AU predictor", "baselines.au_all_positive.f1_mean", "higher"),
    "hr_mae": ("training-fold mean heart rate", "baselines.hr_train_mean.hr_mae", "lower"),
    "rr_mae": ("training-fold mean breathing rate", "baselines.rr_train_mean.rr_mae", "lower"),
}
ALL_POSITIVE_ROW = "all-positive AU predictor (trivial reference)"
CLOSE_TO_FLOOR = 3.0  # points of mean AU F1 above the all-positive predictor called "close"
ALPHA = 0.05  # a run that beats its trivial predictor with a paired p at or above this is "not significantly"
# per run, what reports/headline.json (the metrics DVC lists) keeps: one number per task
HEADLINE = ("au_f1", "hr_mae", "rr_mae")
LOWER_IS_BETTER = {"hr_mae", "hr_rmse", "hr_mape", "rr_mae", "rr_rmse", "rr_mape"}


def _metric(run: dict, name: str, stat: str = "mean") -> float:
    entry = run.get("metrics", {}).get(name)
    value = None if entry is None else entry.get(stat)
    return math.nan if value is None else float(value)


def _per_fold(run: dict, name: str) -> dict[str, float]:
    """A run's per-fold values of one aggregated metric (folds without a value left out)."""
    entry = run.get("metrics", {}).get(name) or {}
    return {f: float(v) for f, v in (entry.get("per_fold") or {}).items() if v is not None and not math.isnan(v)}


def on_common_folds(a: dict, b: dict, metric: str) -> tuple[dict, dict, list[str] | None] | None:
    """Two table entries' ``metric`` made comparable: each as {reproduced, trivial, published}, the
    reproduced and trivial values the mean over the folds both rows have when their folds differ
    (then also those folds; else None). None when a row has no value on a shared fold."""
    ma, mb = a.get(metric), b.get(metric)
    if not ma or not mb or ma["reproduced"] is None or mb["reproduced"] is None:
        return None
    fa, fb = ((e.get("per_fold") or {}).get(metric) or {} for e in (a, b))
    if set(fa) == set(fb):
        return ({"reproduced": ma["reproduced"], "trivial": a.get(f"trivial_{metric}"), "published": ma["published"]},
                {"reproduced": mb["reproduced"], "trivial": b.get(f"trivial_{metric}"), "published": mb["published"]},
                None)
    common = sorted(set(fa) & set(fb))
    if not common:
        return None

    def mean_on(entry: dict, values: dict[str, float]) -> dict:
        trivial = (entry.get("per_fold") or {}).get(f"trivial_{metric}") or {}
        have = [trivial[f] for f in common if f in trivial]
        return {"reproduced": sum(values[f] for f in common) / len(common),
                "trivial": sum(have) / len(have) if len(have) == len(common) else None,
                "published": entry[metric]["published"]}

    return mean_on(a, fa), mean_on(b, fb), common


def _fmt(x: float, digits: int) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _best_marks(long: pd.DataFrame, pub: pd.DataFrame) -> list[str]:
    """Per row: whether its reproduced value is the best of its metric among the runs, and whether
    its published value is the best of the published table (as the paper marks it in bold);
    "reproduced", "published", "both" or "". Compute columns and the trivial row are not ranked."""
    marks = []
    for _, r in long.iterrows():
        metric = r["metric"]
        if metric not in METRIC_SOURCES or r["row"] == ALL_POSITIVE_ROW:
            marks.append("")
            continue
        lower = metric in LOWER_IS_BETTER
        ours = long[(long["metric"] == metric) & (long["row"] != ALL_POSITIVE_ROW)]["reproduced"].dropna()
        theirs = pub[metric].dropna() if metric in pub.columns else pd.Series(dtype=float)
        best_ours = ours.min() if lower else ours.max()
        best_theirs = theirs.min() if lower else theirs.max()
        hit_ours = bool(len(ours)) and r["reproduced"] == best_ours
        hit_theirs = bool(len(theirs)) and r["published"] == best_theirs
        marks.append("both" if hit_ours and hit_theirs else "reproduced" if hit_ours else
                     "published" if hit_theirs else "")
    return marks


def _span(values: list) -> str:
    """One value, or the range over folds where they differ."""
    known = sorted({v for v in values if v is not None})
    if not known:
        return "?"
    fmt = (lambda v: f"{v:,}") if all(isinstance(v, int) for v in known) else str
    return fmt(known[0]) if len(known) == 1 else f"{fmt(known[0])}-{fmt(known[-1])}"


def training_scale_text(run_id: str, training: dict | None) -> str:
    """What one run's models were trained with, over its folds (from the evaluate jobs' record
    of each checkpoint)."""
    if not training:
        return f"{run_id}: training scale not recorded (re-run its evaluate and aggregate jobs)"
    by_group: dict[str, list[dict]] = {}
    for fold_models in training.values():
        for group, scale in (fold_models or {}).items():
            if scale:
                by_group.setdefault(group, []).append(scale)
    texts = {}
    for group, scales in sorted(by_group.items()):
        c = {key: _span([s.get(key) for s in scales]) for key in
             ("epochs", "updates", "batch_chunks", "chunk_length", "chunk_stride", "lr", "precision", "max_chunks",
              "frames_per_epoch", "n_train_trials")}
        frames = "" if c["chunk_length"] == "?" else f" of {c['chunk_length']} frame{'' if c['chunk_length'] == '1' else 's'}"
        stride = "" if c["chunk_stride"] in ("?", "1") else f", one chunk in {c['chunk_stride']} of each trial"
        subsample = "" if all(s.get("max_chunks") is None for s in scales) else f", a subsample of {c['max_chunks']} chunks"
        texts[group] = (f"{c['epochs']} epoch{'' if c['epochs'] == '1' else 's'}, {c['updates']} updates of "
                        f"{c['batch_chunks']} chunks{frames} at lr {c['lr']} ({c['precision']}{stride}{subsample}), "
                        f"{c['frames_per_epoch']} training frames per epoch from {c['n_train_trials']} trials")
    if not texts:
        return f"{run_id}: training scale not recorded (re-run its evaluate and aggregate jobs)"
    if len(set(texts.values())) == 1:
        groups = "" if list(texts) == ["all"] else f" ({', '.join(texts)} models)"
        return f"{run_id}{groups}: {next(iter(texts.values()))}"
    return f"{run_id}: " + "; ".join(f"{g} model {t}" for g, t in texts.items())


def paper_scale_text() -> str:
    ref = paper_training()
    return (f"The paper trained {ref['epochs']} epochs of batches of {ref['batch_chunks']} chunks of "
            f"{ref['chunk_length']} frames at lr {ref['lr']} ({ref['optimizer']}, {ref['precision']}) on "
            f"{ref['training_data']} ({ref['source']}).")


class LearnedTable(ReportItem):
    """Base of the items that put one experiment's runs beside one published table: every run of
    ``experiment``, the runs of ``also_from`` that name a row of ``table`` among their published
    rows (one run, one name: a Table 1 run is not trained again for Table 2), and the baselines'
    POS/CHROM where the table has unsupervised rows."""

    abstract = True
    experiment: ClassVar[str]
    also_from: ClassVar[tuple[str, ...]] = ()
    # True: also the item's own experiment contributes only the runs that name a row of the table
    only_published_rows: ClassVar[bool] = False
    # the name of its table files and metrics entry (default: the experiment); an item with its own
    # name leaves the headline to the experiment's main item
    output_key: ClassVar[str | None] = None
    table: ClassVar[str]
    dataset: ClassVar[str]
    # (better row, other row, metric): orderings the paper's text draws from this table
    claims: ClassVar[tuple[tuple[str, str, str], ...]] = ()
    reads = ("experiments", "audit", "unsupervised", "learned_predictions", "learned_au")

    def _compute(self, ctx: ReportContext) -> dict[str, dict[str, float]]:
        audit = ctx.inputs.audit
        if audit is None:
            return {}
        return {str(r["variant"]): {"mflops": float(r["mflops_per_frame"]), "mparams": float(r["params"]) / 1e6}
                for _, r in audit.iterrows()}

    def _runs(self, ctx: ReportContext) -> dict[str, dict] | None:
        """The runs shown, by run id; None when the item's own experiment has no results."""
        doc = ctx.inputs.experiments.get(self.experiment)
        if doc is None:
            return None
        runs = {r: run for r, run in doc["runs"].items()
                if not self.only_published_rows or any(p["table"] == self.table for p in run.get("published", []))}
        for other in self.also_from:
            for run_id, run in (ctx.inputs.experiments.get(other) or {}).get("runs", {}).items():
                if any(p["table"] == self.table for p in run.get("published", [])):
                    runs[run_id] = run
        return runs

    def _unsupervised_rows(self, ctx: ReportContext, pub: pd.DataFrame) -> list[dict]:
        """POS and CHROM of the baselines on this table's dataset, where the table has their rows."""
        out = []
        for r in ctx.inputs.unsupervised:
            if r.dataset != self.dataset:
                continue
            for row_id, method in UNSUPERVISED_ROWS.items():
                if row_id not in pub.index or method not in r.metrics:
                    continue
                for metric in pub.columns:
                    value = r.metrics[method].get(metric) if metric.startswith("hr_") else None
                    if value is None:
                        continue
                    published = float(pub.loc[row_id, metric])
                    out.append({"row": pub.attrs["labels"].get(row_id, row_id), "run": f"baselines/{r.dataset}",
                                "metric": metric, "reproduced": float(value), "std over folds": math.nan,
                                "95% CI low": math.nan, "95% CI high": math.nan, "published": published,
                                "difference": float(value) - published})
        return out

    def build(self, ctx: ReportContext) -> ItemOutput:
        runs = self._runs(ctx)
        pub = T.published(self.table)
        if runs is None:
            return ItemOutput(fragment("<p>No results of experiment '{{ e }}': its runs were not trained in this "
                                       "run of the DAG (see the experiment sheet).</p>", e=self.experiment),
                              {}, {self.output_key or self.experiment: {}})
        compute = self._compute(ctx)
        rows, entries = self._unsupervised_rows(ctx, pub), {}
        for run_id, run in runs.items():
            ids = [p["row"] for p in run.get("published", []) if p["table"] == self.table]
            row_id = ids[0] if ids else run_id.split("/", 1)[1]
            label = pub.attrs["labels"].get(row_id, row_id)
            entry: dict[str, Any] = {"run": run_id, "published_row": row_id, "n_folds": len(run.get("folds", []))}
            for metric in pub.columns:
                ci = None
                if metric in METRIC_SOURCES:
                    mean, std = _metric(run, METRIC_SOURCES[metric]), _metric(run, METRIC_SOURCES[metric], "std")
                    ci = (run.get("metrics", {}).get(METRIC_SOURCES[metric]) or {}).get("ci95")
                elif metric in ("mflops", "mparams"):
                    mean, std = compute.get(str(run.get("variant")), {}).get(metric, math.nan), math.nan
                else:
                    continue
                published = float(pub.loc[row_id, metric]) if row_id in pub.index else math.nan
                low, high = (float(ci[0]), float(ci[1])) if ci else (math.nan, math.nan)
                entry[metric] = {"reproduced": clean(mean), "std": clean(std), "published": clean(published),
                                 "difference": clean(mean - published), "ci95": [low, high] if ci else None}
                if metric in METRIC_SOURCES:
                    entry.setdefault("per_fold", {})[metric] = _per_fold(run, METRIC_SOURCES[metric])
                if math.isnan(mean) and math.isnan(published):
                    continue  # a task the row has neither trained nor published (an AU model's heart rate)
                rows.append({"row": label, "run": run_id, "metric": metric, "reproduced": mean, "std over folds": std,
                             "95% CI low": low, "95% CI high": high, "published": published,
                             "difference": mean - published})
            for metric, (what, source, _) in TRIVIAL.items():
                entry[f"trivial_{metric}"] = clean(_metric(run, source))
                entry.setdefault("per_fold", {})[f"trivial_{metric}"] = _per_fold(run, source)
            entry["training_scale"] = training_scale_text(run_id, run.get("training"))
            entries[run_id] = entry
        reference = published_all_positive_f1(self.dataset) if "au_f1" in pub.columns else None
        if reference is not None:
            # the floor beside the AU columns: on the built-in test folds (reproduced, the mean of
            # the runs' all-positive F1) and on the real data (published: from the class weights)
            trivial = [e["trivial_au_f1"] for e in entries.values() if e.get("trivial_au_f1") is not None]
            ours = float(pd.Series(trivial, dtype=float).mean()) if trivial else math.nan
            rows.append({"row": ALL_POSITIVE_ROW, "run": "", "metric": "au_f1", "reproduced": ours,
                         "std over folds": math.nan, "95% CI low": math.nan, "95% CI high": math.nan,
                         "published": reference, "difference": ours - reference})
        long = pd.DataFrame(rows, columns=["row", "run", "metric", "reproduced", "std over folds", "95% CI low",
                                           "95% CI high", "published", "difference"])
        long["best"] = _best_marks(long, pub)
        statements = self._statements(ctx, runs, entries)
        paper_scale = paper_scale_text()
        if reference is not None:
            statements = [self._published_floor(pub, reference, ctx.digits, ctx.name(self.dataset))] + statements
        html = fragment(
            '<p class="source">Data: {{ origin }}. Published: {{ reference }}. Mean over folds; "difference" is '
            "reproduced minus published. 95% CI: for HR and RR a bootstrap over test subjects of the metric on all "
            "test trials; otherwise the t-interval of the per-fold values (none with one fold). \"best\": the best "
            "reproduced value of the metric among the runs, and the best published value of the table (the paper's "
            "bold).</p>\n{{ table }}\n<h4>Training scale</h4>\n<p>{{ paper_scale }} The runs here, per fold:</p>\n"
            "<ul>{% for s in scales %}<li>{{ s }}</li>{% endfor %}</ul>\n"
            "<p>Where a run trained less than the paper did (fewer epochs, updates, subjects or frames), its numbers "
            "measure what that scale learns, read beside the trivial predictors, not the paper's models.</p>\n"
            "<h4>What the numbers say</h4>\n"
            "<ul>{% for s in statements %}<li>{{ s }}</li>{% endfor %}</ul>",
            origin=ctx.origin(self.dataset), reference=pub.attrs["source"], table=wide(long, ctx.digits, signed=("difference",)),
            statements=statements, paper_scale=paper_scale,
            scales=[e["training_scale"] for e in entries.values()])
        # the headline keeps each run once: under its own experiment
        headline = {run_id.split("/", 1)[1]: {m: e[m]["reproduced"] for m in HEADLINE
                                              if m in e and e[m]["reproduced"] is not None}
                    for run_id, e in entries.items() if run_id.startswith(f"{self.experiment}/")}
        key = self.output_key or self.experiment
        return ItemOutput(html, table_files(key, long, ctx.digits),
                          {key: {"runs": entries, "statements": statements, "paper_training": paper_scale,
                                 "au_f1_all_positive_published_data": clean(reference)}},
                          headline={} if self.output_key else {self.experiment: headline})

    def _published_floor(self, pub: pd.DataFrame, reference: float, digits: int, dataset_name: str) -> str:
        """How far each published AU F1 sits above the all-positive predictor on the real data."""
        f1 = pub["au_f1"].dropna()
        labels = [pub.attrs["labels"].get(r, r) for r in f1.index]
        # Table 1 prints four rows as "BigSmall": those are told apart by their row ids
        names = {r: label if labels.count(label) == 1 else f"{label} ({r})" for r, label in zip(f1.index, labels)}
        margins = ", ".join(f"{names[r]} {v - reference:+.{digits}f}" for r, v in f1.items())
        close = [names[r] for r, v in f1.items() if v - reference < CLOSE_TO_FLOOR]
        text = (f"On the real {dataset_name} data the all-positive predictor reaches a mean AU F1 of "
                f"{reference:.{digits}f} (mean over the AUs of 2p/(1+p), p the prevalences implied by the "
                f"published class weights, p = 1/(1+w)). Published rows relative to it: {margins}.")
        if close:
            text += (f" {', '.join(close)} {'lies' if len(close) == 1 else 'lie'} less than {CLOSE_TO_FLOOR:.0f} "
                     "points above it: their AU F1 differences "
                     "are small against what predicting every AU active already scores, so orderings between "
                     "such rows say little about what the models learned.")
        return text

    def _folds_statement(self, ctx: ReportContext, runs: dict) -> str | None:
        """Which runs were trained on fewer folds than the dataset has (the sheet's budget), and
        what that leaves out; None when every run covers every fold."""
        every = fold_names(self.dataset, ctx.params)
        fewer: dict[tuple[str, ...], list[str]] = {}
        for run_id, run in runs.items():
            folds = tuple(run.get("folds", []))
            if len(folds) < len(every):
                fewer.setdefault(folds, []).append(run_id)
        if not fewer:
            return None
        groups = "; ".join(f"{', '.join(ids)} on {', '.join(folds) or 'no fold'} only" for folds, ids in fewer.items())
        return (f"Fewer folds than the paper's {len(every)} ({', '.join(every)}): {groups}. For these runs the mean "
                "is over those folds alone (with one fold: that fold's value, no standard deviation or t-interval "
                "over folds), and the HR and RR intervals resample those folds' test subjects. The sheet sets each "
                "row's folds (experiments.yaml, 'folds': all for the paper's protocol).")

    @staticmethod
    def _paired_trivial(ctx: ReportContext, run_id: str, run: dict, metric: str) -> tuple[float, str] | None:
        """The p-value of the paired test of a run against its trivial predictor on the same test
        trials or frames (as the paired-comparison items), and the test in words; None without
        the run's predictions."""
        if metric == "au_f1":
            frames = ctx.inputs.learned_au.get(run_id)
            if frames is None:
                return None
            res = au_against_all_positive(frames)
            how = f"paired permutation test over {res['n_subjects']} test subjects"
        else:
            pred = ctx.inputs.learned_predictions.get(run_id)
            if pred is None:
                return None
            res = rate_against_trivial(pred, run.get("metrics", {}), metric.split("_")[0])
            how = f"paired Wilcoxon signed-rank test over {res['n']} trials"
        return None if res["p_value"] is None else (float(res["p_value"]), how)

    def _statements(self, ctx: ReportContext, runs: dict, entries: dict) -> list[str]:
        d = ctx.digits
        folds = self._folds_statement(ctx, runs)
        out = [] if folds is None else [folds]
        pos = {r.dataset: r.metrics.get("POS", {}).get("hr_mae") for r in ctx.inputs.unsupervised}.get(self.dataset)
        for run_id, run in runs.items():
            for metric, (what, source, better) in TRIVIAL.items():
                ours, trivial = _metric(run, METRIC_SOURCES[metric]), _metric(run, source)
                if math.isnan(ours) or math.isnan(trivial):
                    continue
                beats = ours > trivial if better == "higher" else ours < trivial
                verdict = "beats it" if beats else "does NOT beat it"
                test = self._paired_trivial(ctx, run_id, run, metric)
                if test is not None:
                    p, how = test
                    if beats and p >= ALPHA:
                        verdict = "beats it on the mean, but not significantly"
                    verdict += f" ({how}, p = {p:.2g})"
                out.append(f"{run_id}: {metric} {_fmt(ours, d)} against {_fmt(trivial, d)} of the {what}: "
                           f"{verdict}.")
            hr = _metric(run, "pulse.hr_mae")
            if pos is not None and not math.isnan(hr):
                out.append(f"{run_id}: HR MAE {_fmt(hr, d)} bpm against POS {_fmt(float(pos), d)} bpm on the same "
                           f"dataset: {'better' if hr < pos else 'NOT better'} than POS.")
        by_row = {e["published_row"]: e for e in entries.values()}
        for better, other, metric in self.claims:
            pair = on_common_folds(by_row.get(better, {}), by_row.get(other, {}), metric)
            if pair is None:
                missing = [r for r in (better, other)
                           if (by_row.get(r, {}).get(metric) or {}).get("reproduced") is None]
                why = (f"no {metric} result of {' or '.join(missing)} in this run of the DAG" if missing else
                       "the two rows have no fold in common")
                out.append(f"Claim {better} better than {other} on {metric}: not testable ({why}).")
                continue
            a, b, common = pair
            where = "" if common is None else f" on the folds both rows have ({', '.join(common)})"
            lower = metric in LOWER_IS_BETTER
            holds = a["reproduced"] < b["reproduced"] if lower else a["reproduced"] > b["reproduced"]
            if metric in TRIVIAL and any(x["trivial"] is not None and not (
                    x["reproduced"] < x["trivial"] if lower else x["reproduced"] > x["trivial"]) for x in (a, b)):
                out.append(f"Claim {better} better than {other} on {metric}: inconclusive on this data "
                           f"(reproduced {_fmt(a['reproduced'], d)} vs {_fmt(b['reproduced'], d)}{where}; a row does "
                           "not beat its trivial predictor, so their order says nothing).")
                continue
            out.append(f"Claim {better} better than {other} on {metric} (published {_fmt(a['published'], d)} vs "
                       f"{_fmt(b['published'], d)}): reproduced {_fmt(a['reproduced'], d)} vs "
                       f"{_fmt(b['reproduced'], d)}{where}, {'holds' if holds else 'does NOT hold'} on this data.")
        return out


class Table1(LearnedTable):
    id = "paper_table1"
    section = "Learned models: paper Table 1 (ablations of BigSmall)"
    title = "Table 1: ablations of BigSmall on BP4D+"
    caption = ("Each Table 1 row trained and evaluated on the folds of the sheet (experiments.yaml, "
               "experiment table1), beside the published value; FLOPs and parameters from the compute "
               "audit. The trivial predictors (all-positive AUs, the training fold's mean rates) and POS "
               "are the floor a learned number has to clear.")
    published = (Published("paper_table1", ("small_branch", "big_branch", "bigsmall_no_downsampling",
                                            "bigsmall_no_shift", "bigsmall_tsm", "bigsmall")),)
    experiment = "table1"
    table = "paper_table1"
    dataset = "bp4d"
    # Section 5.3: WTSM over TSM and over no shift; down-sampling keeps accuracy at a third of the FLOPs
    claims = (("bigsmall", "bigsmall_tsm", "au_f1"), ("bigsmall", "bigsmall_no_shift", "au_f1"),
              ("bigsmall", "bigsmall_tsm", "hr_mae"), ("bigsmall", "bigsmall_no_shift", "hr_mae"),
              ("bigsmall", "bigsmall_no_downsampling", "au_f1"))


# the face-aligned (dagger) rows beside their unaligned rows: supp. B.7's claim that alignment
# raises AU F1 (by about 8 points)
ALIGNED_PAIRS = (("bigsmall_aligned", "bigsmall"), ("big_branch_aligned", "big_branch"),
                 ("drml_aligned", "drml"), ("alexnet_aligned", "alexnet"))


class Table2(LearnedTable):
    id = "paper_table2"
    section = "Learned models: paper Table 2 (BigSmall against the state of the art)"
    title = "Table 2: BigSmall against unsupervised, temporal and spatial baselines on BP4D+"
    caption = ("POS and CHROM (the baseline rows of the sheet), the temporal and spatial baselines of experiment "
               "table2, the Table 1 runs the paper repeats here (Small branch, Big branch, BigSmall), and the "
               "face-aligned (dagger) rows, which read the landmark-aligned cache variant (params.yaml "
               "cache_variants.aligned) and run the batch-norm Big branch for the Big branch and BigSmall, each on "
               "the folds of the sheet, beside the published value.")
    published = (Published("paper_table2", ("pos", "chrom", "efficientphys", "mtts_can", "deepphys", "small_branch",
                                            "drml", "alexnet", "big_branch", "drml_aligned", "alexnet_aligned",
                                            "jaanet_2018_aligned", "jaanet_2021_aligned", "big_branch_aligned",
                                            "bigsmall", "bigsmall_aligned", "bigsmall_pp_aligned")),)
    experiment = "table2"
    also_from = ("table1",)
    table = "paper_table2"
    dataset = "bp4d"
    # Section 5.4: BigSmall matches or beats the single-task models on every task; supp. B.7 and
    # Section 5.4: face alignment gives consistent, significant AU gains; BigSmall++ over BigSmall
    claims = (("bigsmall", "deepphys", "hr_mae"), ("bigsmall", "mtts_can", "hr_mae"),
              ("bigsmall", "efficientphys", "hr_mae"), ("bigsmall", "mtts_can", "rr_mae"),
              ("big_branch", "drml", "au_f1"), ("big_branch", "alexnet", "au_f1"),
              *((aligned, plain, "au_f1") for aligned, plain in ALIGNED_PAIRS),
              ("bigsmall_pp_aligned", "bigsmall_aligned", "au_f1"))

    def _statements(self, ctx: ReportContext, runs: dict, entries: dict) -> list[str]:
        return super()._statements(ctx, runs, entries) + [alignment_gain(entries, ctx.digits)]


def alignment_gain(entries: dict, digits: int) -> str:
    """Supp. B.7's claim in numbers: the mean AU F1 gain of the aligned rows over their unaligned
    ones, reproduced against published, over the pairs that have both results.

    An unaligned row that does not beat the all-positive predictor is measured from that
    predictor instead (what it scores below the floor is no AU it failed to learn from
    misalignment); an aligned row that does not beat it makes the claim inconclusive. A pair whose
    two rows' recorded training scales differ (epochs, updates, frames) is left out of the
    mean and named, since its difference is not alignment's alone."""
    by_row = {e["published_row"]: e for e in entries.values()}
    ours, theirs, names, unlike, floored = [], [], [], [], False
    for aligned, plain in ALIGNED_PAIRS:
        pair = on_common_folds(by_row.get(aligned, {}), by_row.get(plain, {}), "au_f1")
        if pair is None:
            continue
        scales = [by_row[row].get("training_scale", "").partition(": ")[2] for row in (aligned, plain)]
        if all(scales) and scales[0] != scales[1]:
            unlike.append(f"{aligned} ({scales[0]}) against {plain} ({scales[1]})")
            continue
        a, b, common = pair
        base = b["reproduced"] if b["trivial"] is None else max(b["reproduced"], b["trivial"])
        ours.append(a["reproduced"] - base)
        theirs.append(a["published"] - b["published"])
        names.append(f"{aligned} {ours[-1]:+.{digits}f}" + (" (from all-positive)" if base != b["reproduced"] else "")
                     + ("" if common is None else f" on {', '.join(common)}"))
        floored |= a["trivial"] is not None and a["reproduced"] <= a["trivial"]
    left_out = f" Left out, trained unlike: {'; '.join(unlike)}." if unlike else ""
    if not ours:
        return ("Claim (supp. B.7) face alignment raises AU F1 by about 8 points: not testable (no aligned pair "
                "trained alike has results)." + left_out)
    mean_ours, mean_theirs = sum(ours) / len(ours), sum(theirs) / len(theirs)
    verdict = ("inconclusive on this data: an aligned row does not beat the all-positive predictor, so the gain "
               "measures no learned AU" if floored else
               "holds" if mean_ours >= 0.5 * mean_theirs else "does NOT hold")
    return (f"Claim (supp. B.7) face alignment raises AU F1 by about 8 points: mean gain over {len(ours)} aligned "
            f"pair(s) {mean_ours:+.{digits}f} (published {mean_theirs:+.{digits}f}; {', '.join(names)}): {verdict}."
            + left_out)


class SuppTable3(LearnedTable):
    id = "supp_table3"
    section = "Learned models: supplementary Tables 3 and 4 (BigSmall variants)"
    title = "Supplementary Table 3: fusion and lateral connections"
    caption = ("Concatenation fusion and the three lateral connections between the branches (experiment "
               "supp_table3) beside BigSmall (Table 1's run), each on the folds of the sheet, with FLOPs and "
               "parameters from the compute audit, beside the published values.")
    published = (Published("supp_table3", ("bigsmall_lateral_bidir", "bigsmall_lateral_big2small",
                                           "bigsmall_lateral_small2big", "bigsmall_concat", "bigsmall")),)
    experiment = "supp_table3"
    also_from = ("table1",)
    table = "supp_table3"
    dataset = "bp4d"
    # supp. B.4: the lateral connections and concat fusion add compute for no consistent gain
    claims = (("bigsmall_lateral_bidir", "bigsmall", "au_f1"), ("bigsmall_lateral_bidir", "bigsmall", "hr_mae"),
              ("bigsmall", "bigsmall_lateral_small2big", "au_f1"))


class SuppTable4(LearnedTable):
    id = "supp_table4"
    section = "Learned models: supplementary Tables 3 and 4 (BigSmall variants)"
    title = "Supplementary Table 4: gray-scale Big input"
    caption = ("BigSmall with a gray-scale Big input (experiment supp_table4) beside BigSmall (Table 1's run), "
               "per AU and per task, on the folds of the sheet, beside the published values.")
    published = (Published("supp_table4", ("bigsmall_gray_big", "bigsmall")),)
    experiment = "supp_table4"
    also_from = ("table1",)
    table = "supp_table4"
    dataset = "bp4d"
    # supp. B.5: colour helps the AUs (43.3 against 40.6)
    claims = (("bigsmall", "bigsmall_gray_big", "au_f1"),)


class SuppTable1(LearnedTable):
    id = "supp_table1"
    section = "Learned models: paper Table 2 (BigSmall against the state of the art)"
    title = "Supplementary Table 1: per-AU F1 of the AU models"
    caption = ("Per-AU F1 (mean over folds) of the AU models of Table 2 (DRML, AlexNet and their face-aligned "
               "dagger rows, JAA-Net 2018 and 2021 dagger, BigSmall dagger and BigSmall++ dagger; the Big branch "
               "and BigSmall from Table 1) beside the published per-AU F1.")
    published = (Published("supp_table1", ("drml", "alexnet", "big_branch", "drml_aligned", "alexnet_aligned",
                                           "jaanet_2018_aligned", "jaanet_2021_aligned", "bigsmall",
                                           "bigsmall_aligned", "bigsmall_pp_aligned")),)
    experiment = "table2"
    also_from = ("table1",)
    only_published_rows = True
    output_key = "supp_table1"
    table = "supp_table1"
    dataset = "bp4d"

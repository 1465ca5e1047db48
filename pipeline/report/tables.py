"""Report tables: read the stage outputs and put reproduced numbers beside the published ones.

Every function takes already-located files and returns DataFrames; nothing here writes.
Readers raise ``InputError`` naming the file when an input exists but cannot be used.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from pipeline.errors import InputError
from pipeline.reference.papers import published, table_info, table_names

MANIFEST_COLUMNS = ["dataset", "trial_id", "subject", "status", "reason"]
AUDIT_COLUMNS = [
    "variant", "params", "published_params", "params_rel_diff", "mflops_per_frame",
    "published_mflops", "mflops_rel_diff", "source", "note",
]
HR_METRICS = [("hr_mae", "MAE"), ("hr_rmse", "RMSE"), ("hr_mape", "MAPE"), ("hr_pearson", "r")]
METHOD_ROWS = {"POS": "pos", "CHROM": "chrom"}
DATASET_NAMES = {"bp4d": "BP4D+", "ubfc": "UBFC-rPPG", "pure": "PURE", "disfa": "DISFA"}


def read_json(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError:
        raise InputError(path, "not valid JSON") from None
    except OSError:
        raise InputError(path, "unreadable") from None


def read_csv(path: Path, required: list[str]) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, keep_default_na=True, dtype={"trial_id": str, "subject": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError):
        raise InputError(path, "unreadable CSV") from None
    missing = [c for c in required if c not in table.columns]
    if missing:
        raise InputError(path, f"lacks columns {missing}")
    return table


# ---------------------------------------------------------------- datasets and splits

def dataset_summary(manifests: dict[str, pd.DataFrame], splits: dict[str, dict]) -> pd.DataFrame:
    """One row per dataset: trials, exclusions, subjects, folds, subjects outside the folds."""
    rows = []
    for ds in sorted(set(manifests) | set(splits)):
        m = manifests.get(ds)
        s = splits.get(ds)
        row: dict[str, Any] = {"dataset": ds}
        if m is not None:
            ok = m[m["status"] == "ok"]
            row.update({
                "trials": len(m), "trials_ok": len(ok), "trials_excluded": int((m["status"] != "ok").sum()),
                # a stray folder's row names no subject (empty)
                "subjects": m.loc[m["subject"] != "", "subject"].nunique(),
                "subjects_with_ok_trials": ok["subject"].nunique(),
            })
        if s is not None:
            folds = s.get("folds", [])
            row.update({
                "folds": len(folds),
                "test_subjects_per_fold": " / ".join(str(len(f.get("test", []))) for f in folds),
                "split_source": s.get("source", ""),
                "subjects_outside_splits": len(s.get("unlisted_subjects", [])),
                "subjects_excluded_by_split": len(s.get("excluded_subjects", {})),
            })
        rows.append(row)
    return pd.DataFrame(rows)


def exclusions(manifests: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Excluded trials grouped by dataset and reason, with the trial ids, then the trials kept
    with a warning (e.g. a device-recorded heart rate too low to be real)."""
    rows = []
    for ds, m in sorted(manifests.items()):
        bad = m[m["status"] != "ok"].copy()
        bad["reason"] = bad["reason"].replace("", "(no reason given)")
        for reason, g in bad.groupby("reason", sort=True):
            rows.append({"dataset": ds, "status": "excluded", "reason": reason, "trials": len(g),
                         "trial_ids": ", ".join(sorted(g["trial_id"].astype(str)))})
        if "warning" in m.columns:  # manifests written before the column existed have none
            warned = m[(m["status"] == "ok") & (m["warning"] != "")]
            for warning, g in warned.groupby("warning", sort=True):
                rows.append({"dataset": ds, "status": "kept, scored", "reason": str(warning), "trials": len(g),
                             "trial_ids": ", ".join(sorted(g["trial_id"].astype(str)))})
    return pd.DataFrame(rows, columns=["dataset", "status", "reason", "trials", "trial_ids"])


def split_details(splits: dict[str, dict]) -> pd.DataFrame:
    """Folds (test subjects) and the subjects outside the published splits, per dataset."""
    rows = []
    for ds, s in sorted(splits.items()):
        for fold in s.get("folds", []):
            test = [str(x) for x in fold.get("test", [])]
            rows.append({"dataset": ds, "fold": fold.get("name", ""), "test_subjects": len(test),
                         "train_subjects": len(fold.get("train", [])), "subjects": ", ".join(test)})
        unlisted = [str(x) for x in s.get("unlisted_subjects", [])]
        if unlisted:
            rows.append({"dataset": ds, "fold": "(in no published split)", "test_subjects": len(unlisted),
                         "train_subjects": 0, "subjects": ", ".join(unlisted)})
        for subj, why in sorted(s.get("excluded_subjects", {}).items()):
            rows.append({"dataset": ds, "fold": "(excluded)", "test_subjects": 0, "train_subjects": 0,
                         "subjects": f"{subj}: {why}"})
    return pd.DataFrame(rows, columns=["dataset", "fold", "test_subjects", "train_subjects", "subjects"])


# ---------------------------------------------------------------- unsupervised baselines

def published_hr_table(dataset: str) -> str | None:
    """The published table holding the POS/CHROM heart-rate rows of ``dataset`` (or None)."""
    for name in table_names():
        info = table_info(name)
        if info["dataset"] == dataset and "pos" in info["rows"] and "hr_mae" in info["metrics"]:
            return name
    return None


@dataclass
class UnsupervisedResult:
    dataset: str
    metrics: dict
    predictions: pd.DataFrame
    folder: Path
    methods: list[str] = field(default_factory=list)


def read_unsupervised(folder: Path) -> UnsupervisedResult:
    """metrics.json and predictions.csv of one dataset's unsupervised stage output."""
    folder = Path(folder)
    metrics = read_json(folder / "metrics.json")
    preds = read_csv(folder / "predictions.csv", ["trial_id", "method", "fold", "hr_pred", "hr_true", "status"])
    dataset = str(metrics.get("dataset") or folder.name)
    methods = list(metrics.get("methods") or [m for m in METHOD_ROWS if m in metrics])
    return UnsupervisedResult(dataset, metrics, preds, folder, methods)


def _diff(ours: Any, paper: Any) -> float | None:
    if ours is None or paper is None:
        return None
    if isinstance(ours, float) and math.isnan(ours) or isinstance(paper, float) and math.isnan(paper):
        return None
    return float(ours) - float(paper)


def unsupervised_long(results: list[UnsupervisedResult]) -> pd.DataFrame:
    """One row per (dataset, method, metric): reproduced, published, difference."""
    rows = []
    for res in results:
        table = published_hr_table(res.dataset)
        ref = published(table) if table else None
        for method in res.methods:
            got = res.metrics.get(method, {})
            row_id = METHOD_ROWS.get(method)
            for key, _ in HR_METRICS:
                paper = None
                if ref is not None and row_id in ref.index and not pd.isna(ref.loc[row_id, key]):
                    paper = float(ref.loc[row_id, key])
                ours = got.get(key)
                rows.append({
                    "dataset": res.dataset, "method": method, "metric": key,
                    "reproduced": ours, "published": paper, "difference": _diff(ours, paper),
                    "n_trials": got.get("n_trials"), "published_table": table or "",
                    "source": ref.attrs["source"] if ref is not None else "",
                })
    return pd.DataFrame(rows, columns=["dataset", "method", "metric", "reproduced", "published",
                                       "difference", "n_trials", "published_table", "source"])


def unsupervised_wide(long: pd.DataFrame, dataset: str) -> pd.DataFrame:
    """The side-by-side table of one dataset: a row per method, ours | paper | diff per metric."""
    sub = long[long["dataset"] == dataset]
    rows = []
    for method, g in sub.groupby("method", sort=False):
        row: dict[str, Any] = {"method": method, "trials": g["n_trials"].iloc[0]}
        for key, label in HR_METRICS:
            r = g[g["metric"] == key].iloc[0]
            row[f"{label} (ours)"] = r["reproduced"]
            row[f"{label} (paper)"] = r["published"]
            row[f"{label} diff"] = r["difference"]
        rows.append(row)
    return pd.DataFrame(rows)


def unsupervised_per_fold(results: list[UnsupervisedResult]) -> pd.DataFrame:
    rows = []
    for res in results:
        for fold, per in sorted(res.metrics.get("per_fold", {}).items()):
            for method in res.methods:
                m = per.get(method, {})
                rows.append({"dataset": res.dataset, "fold": fold, "method": method,
                             "trials": m.get("n_trials"), "excluded": m.get("n_excluded_trials"),
                             **{label: m.get(key) for key, label in HR_METRICS}})
    return pd.DataFrame(rows, columns=["dataset", "fold", "method", "trials", "excluded",
                                       *[label for _, label in HR_METRICS]])


def unsupervised_exclusions(results: list[UnsupervisedResult]) -> pd.DataFrame:
    rows = []
    for res in results:
        bad = res.predictions[res.predictions["status"] != "ok"]
        for _, r in bad.iterrows():
            rows.append({"dataset": res.dataset, "trial_id": r["trial_id"], "method": r["method"],
                         "reason": r.get("reason", "")})
        for tid in res.metrics.get("trials_outside_test_folds", []):
            rows.append({"dataset": res.dataset, "trial_id": tid, "method": "all",
                         "reason": "subject in no fold's test set"})
    return pd.DataFrame(rows, columns=["dataset", "trial_id", "method", "reason"])


# ---------------------------------------------------------------- error by skin type

FITZPATRICK = {1: "I", 2: "II", 3: "III", 4: "IV", 5: "V", 6: "VI"}
SKIN_COLUMNS = ["dataset", "method", "fitzpatrick", "trials", "samples", "hr_mae", "hr_mae_vs_rendered"]


def skin_types(summary: dict | None) -> dict[str, int] | None:
    """trial id -> Fitzpatrick type (1-6) from a generator summary; None when it records none."""
    if not summary:
        return None
    types = {}
    for trial in summary.get("trials", []):
        ftype = trial.get("fitzpatrick") if isinstance(trial, dict) else None
        if isinstance(ftype, int) and not isinstance(ftype, bool) and ftype in FITZPATRICK:
            types[str(trial["trial_id"])] = ftype
    return types or None


def rendered_hr(summary: dict | None) -> dict[str, float]:
    """trial id -> mean heart rate the generator rendered (bpm)."""
    out = {}
    for trial in (summary or {}).get("trials", []):
        if isinstance(trial, dict) and isinstance(trial.get("mean_hr_bpm"), (int, float)):
            out[str(trial["trial_id"])] = float(trial["mean_hr_bpm"])
    return out


def hr_error_by_skin_type(results: list[UnsupervisedResult], summaries: dict[str, dict]) -> pd.DataFrame:
    """Heart-rate MAE per (dataset, method, Fitzpatrick type) on built-in data.

    ``summaries`` holds the generator's ``_truth/summary.json`` of each built-in dataset (only
    those: user-supplied data has no skin-type truth). ``hr_mae`` is against the ground-truth
    pulse the baselines are scored on; ``hr_mae_vs_rendered`` against the mean heart rate the
    generator rendered (one rate per trial, so only for per-trial rates).
    """
    rows = []
    for res in results:
        types = skin_types(summaries.get(res.dataset))
        if types is None:
            continue
        rendered = rendered_hr(summaries.get(res.dataset))
        per_trial = res.metrics.get("hr_mode", "trial") == "trial"
        ok = res.predictions[res.predictions["status"] == "ok"].copy()
        ok["trial_id"] = ok["trial_id"].astype(str)
        ok["fitzpatrick"] = ok["trial_id"].map(types)
        ok = ok.dropna(subset=["fitzpatrick"])
        ok["rendered"] = ok["trial_id"].map(rendered)
        for (method, ftype), g in ok.groupby(["method", "fitzpatrick"], sort=True):
            err = (g["hr_pred"].astype(float) - g["hr_true"].astype(float)).abs()
            vs_rendered = None
            if per_trial and g["rendered"].notna().all():
                vs_rendered = float((g["hr_pred"].astype(float) - g["rendered"].astype(float)).abs().mean())
            rows.append({"dataset": res.dataset, "method": method, "fitzpatrick": FITZPATRICK[int(ftype)],
                         "trials": int(g["trial_id"].nunique()), "samples": int(len(g)),
                         "hr_mae": float(err.mean()), "hr_mae_vs_rendered": vs_rendered})
    table = pd.DataFrame(rows, columns=SKIN_COLUMNS)
    order = {m: i for i, m in enumerate(METHOD_ROWS)}
    if not table.empty:
        table["_m"] = table["method"].map(lambda m: order.get(m, len(order)))
        table["_f"] = table["fitzpatrick"].map({v: k for k, v in FITZPATRICK.items()})
        table = table.sort_values(["dataset", "_m", "method", "_f"]).drop(columns=["_m", "_f"]).reset_index(drop=True)
    return table


# ---------------------------------------------------------------- compute audit

def read_audit(path: Path) -> pd.DataFrame:
    audit = read_csv(path, AUDIT_COLUMNS)[AUDIT_COLUMNS]
    # parameter counts are integers; a column with gaps (no published figure) would print as float
    for col in ("params", "published_params"):
        audit[col] = pd.Series([None if pd.isna(v) else int(v) for v in audit[col]], index=audit.index, dtype=object)
    return audit


# ---------------------------------------------------------------- deviations

def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


_MISSING = object()


def _lookup(params: dict, dotted: str) -> Any:
    node: Any = params
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return _MISSING
        node = node[part]
    return node


def deviations(params: dict, checks: list[dict]) -> pd.DataFrame:
    """Each checked setting: this run's value vs the paper and the authors' code.

    ``status`` says which one the run follows; ``deviates_from_paper`` flags the settings a
    reader must know about. A key absent from params is reported as such, never skipped.
    """
    rows = []
    for check in checks:
        value = _lookup(params, check["key"])
        paper, code = check.get("paper"), check.get("authors_code")
        if value is _MISSING:
            status, shown, deviates = "setting absent from params.yaml", "(absent)", True
        else:
            shown = json.dumps(value)
            as_paper = paper is not None and _same(value, paper)
            as_code = code is not None and _same(value, code)
            status = ("paper and authors' code" if as_paper and as_code else
                      "paper" if as_paper else "authors' code" if as_code else "neither")
            deviates = paper is not None and not as_paper
        rows.append({
            "setting": check["key"], "what": check["what"], "this run": shown,
            "paper": json.dumps(paper) if paper is not None else "not stated",
            "authors' code": json.dumps(code) if code is not None else "not stated",
            "follows": status, "deviates_from_paper": deviates,
        })
    return pd.DataFrame(rows, columns=["setting", "what", "this run", "paper", "authors' code",
                                       "follows", "deviates_from_paper"])


# ---------------------------------------------------------------- formatting

def fmt(x: Any, digits: int = 2) -> str:
    """A cell as text: numbers rounded, missing values as an en dash."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if isinstance(x, bool):
        return "yes" if x else "no"
    if isinstance(x, float):
        return f"{x:.{digits}f}"
    return str(x)


def formatted(df: pd.DataFrame, digits: int = 2, signed: tuple[str, ...] = ()) -> pd.DataFrame:
    """A copy of ``df`` with every cell as text (signed columns get an explicit sign)."""
    out = df.astype(object).copy()
    for col in out.columns:
        sign = any(s in str(col) for s in signed)
        out[col] = [
            (f"{v:+.{digits}f}" if sign and isinstance(v, (int, float)) and not isinstance(v, bool)
             and not (isinstance(v, float) and math.isnan(v)) else fmt(v, digits))
            for v in df[col]
        ]
    return out


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of the (already formatted) cells."""
    def cell(v: Any) -> str:
        return str(v).replace("|", "\\|").replace("\n", " ")

    header = "| " + " | ".join(cell(c) for c in df.columns) + " |"
    sep = "| " + " | ".join("---" for _ in df.columns) + " |"
    body = ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([header, sep, *body]) + "\n"

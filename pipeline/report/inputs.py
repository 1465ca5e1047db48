"""The report's inputs: which stage outputs it is given, read once for every report item.

:func:`load_inputs` reads each given path and records what is missing (the report names it
under "Absent inputs" instead of stopping); a file that exists but is malformed raises
InputError naming it. Items see the loaded inputs through :class:`InputView`, which hands an
item only the inputs it declares in ``reads``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd

from pipeline.cache.reader import open_cache
from pipeline.errors import InputError
from pipeline.experiments.sheet import load_sheet
from pipeline.manifest import read_manifest
from pipeline.metrics.au import binarise_logits
from pipeline.raw_data import TRUTH_SUMMARY, data_origin, generator_summary
from pipeline.report import tables as T


@dataclass
class ReportInputs:
    """Paths of the stage outputs the report reads (every one optional, absence reported)."""

    manifests: list[Path] = field(default_factory=list)
    splits: list[Path] = field(default_factory=list)
    unsupervised: list[Path] = field(default_factory=list)
    audit: Path | None = None
    caches: list[Path] = field(default_factory=list)
    raw: list[Path] = field(default_factory=list)
    sheet: Path | None = None       # experiments.yaml: the runs the report accounts for
    audit_runs: list[str] = field(default_factory=list)   # sheet run ids the audit comes from
    experiments: list[Path] = field(default_factory=list)  # results/metrics/<experiment>.json
    learned_predictions: list[Path] = field(default_factory=list)  # results/runs/<exp>/<run>/<fold>/predictions.csv
    learned_au: list[Path] = field(default_factory=list)  # results/runs/<exp>/<run>/<fold>/predictions.h5


# columns of a learned run's predictions.csv the report reads (Bland-Altman, paired comparisons)
LEARNED_PREDICTION_COLUMNS = ["fold", "trial_id", "subject", "window_start_s",
                              "hr_pred", "hr_true", "hr_abs_err", "hr_status"]


@dataclass
class AuFrames:
    """The per-frame AU decisions of one learned run over all its folds (from predictions.h5)."""

    names: list[str]      # the AU columns
    keys: pd.DataFrame    # fold, trial_id, frame_index, subject: one row per frame
    pred: np.ndarray      # (frames, AUs) 0/1 decisions at the evaluation's threshold
    true: np.ndarray      # (frames, AUs) 1/0 scored labels; -1 not scored


AU_PREDICTIONS_FORMAT = 2  # the first predictions.h5 format with au_true and au_threshold


def read_au_frames(paths: list[Path]) -> AuFrames | None:
    """The AU frames of one run's folds (its predictions.h5 files); None when none has AU outputs."""
    names: list[str] | None = None
    keys, preds, trues = [], [], []
    for path in paths:
        try:
            h5 = h5py.File(path, "r")
        except OSError:
            raise InputError(path, "not a readable HDF5 file") from None
        with h5:
            if int(h5.attrs.get("format", 0)) < AU_PREDICTIONS_FORMAT:
                raise InputError(path, "no au_true/au_threshold (written by an older evaluate: re-run it)")
            # the trials with AU decisions and scored labels (a trial without AU labels has none)
            groups = [(t, g) for t, g in h5.items() if "au_logits" in g and "au_true" in g]
            if not groups:
                continue
            threshold = h5.attrs["au_threshold"]
            these = [str(n) for n in json.loads(h5.attrs["au_names"])]
            if names is not None and these != names:
                raise InputError(path, f"AU columns {these} differ from the run's other folds {names}")
            names = these
            for trial_id, grp in groups:
                logits = grp["au_logits"][()]
                # the evaluation's own decision rule, at its threshold
                preds.append(binarise_logits(logits, float(threshold)).astype(np.int8))
                trues.append(grp["au_true"][()])
                frame_index = grp["frame_index"][()][: len(logits)]
                keys.append(pd.DataFrame({"fold": str(grp.attrs["fold"]), "trial_id": str(trial_id),
                                          "frame_index": frame_index, "subject": str(grp.attrs["subject"])}))
    if names is None:
        return None
    return AuFrames(names, pd.concat(keys, ignore_index=True), np.concatenate(preds), np.concatenate(trues))


# the names an item may list in ``reads``: the fields of ReportInputs
INPUT_NAMES: tuple[str, ...] = tuple(f.name for f in fields(ReportInputs))


@dataclass
class LoadedInputs:
    """Every input, read. Each field of ReportInputs has a field of the same name here."""

    manifests: dict[str, pd.DataFrame]          # dataset -> manifest
    splits: dict[str, dict]                     # dataset -> splits.json
    unsupervised: list[T.UnsupervisedResult]    # sorted by dataset
    audit: pd.DataFrame | None                  # the compute audit
    caches: dict[str, Path]                     # dataset -> cache folder
    raw: dict[str, dict]                        # dataset -> generator summary (built-in data only)
    sheet: dict | None                          # the experiment sheet
    audit_runs: list[str]                       # sheet run ids the compute audit comes from
    experiments: dict[str, dict]                # experiment -> its aggregated metrics
    learned_predictions: dict[str, pd.DataFrame]  # '<experiment>/<run>' -> per-trial predictions of all its folds
    learned_au: dict[str, AuFrames]             # '<experiment>/<run>' -> per-frame AU decisions of all its folds
    origins: dict[str, dict]                    # dataset -> data origin (from any of the inputs)
    used: list[Path]                            # the files read (hashed into the provenance)
    absent: list[str]                           # what was missing, in words


class UndeclaredInput(LookupError):
    """An item read an input it does not list in ``reads``."""


class InputView:
    """The loaded inputs as one item may see them: only those it declares in ``reads``."""

    def __init__(self, loaded: LoadedInputs, reads: tuple[str, ...], item_id: str) -> None:
        self._loaded = loaded
        self._reads = tuple(reads)
        self._item_id = item_id

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in INPUT_NAMES:
            raise AttributeError(f"no report input '{name}'; inputs: {', '.join(INPUT_NAMES)}")
        if name not in self._reads:
            raise UndeclaredInput(f"report item '{self._item_id}' reads '{name}' but declares only "
                                  f"{list(self._reads)} in 'reads'")
        return getattr(self._loaded, name)


def load_inputs(inputs: ReportInputs, params: dict) -> LoadedInputs:
    """Read every given input; record what is missing in ``absent``."""
    absent: list[str] = []
    manifests: dict[str, pd.DataFrame] = {}
    splits: dict[str, dict] = {}
    results: list[T.UnsupervisedResult] = []
    caches: dict[str, Path] = {}
    origins: dict[str, dict] = {}
    truths: dict[str, dict] = {}
    used: list[Path] = []
    for label, given in (("--manifests", inputs.manifests), ("--splits", inputs.splits),
                         ("--unsupervised", inputs.unsupervised), ("--caches", inputs.caches)):
        if not given:
            absent.append(f"no input was given with {label}")
    for path in map(Path, inputs.manifests):
        if not path.is_file():
            absent.append(f"manifest {path} does not exist")
            continue
        m = read_manifest(path, required=T.MANIFEST_COLUMNS)
        ds = str(m["dataset"].iloc[0]) if len(m) else path.parent.name
        manifests[ds] = m
        used.append(path)
        side = path.with_suffix(".json")  # ingest's summary: the origin when no raw folder is given
        if side.is_file():
            doc = T.read_json(side)
            if isinstance(doc, dict) and isinstance(doc.get("data_origin"), dict):
                origins.setdefault(ds, doc["data_origin"])
    for path in map(Path, inputs.splits):
        if not path.is_file():
            absent.append(f"splits {path} does not exist")
            continue
        s = T.read_json(path)
        if not isinstance(s, dict) or not isinstance(s.get("folds"), list):
            raise InputError(path, "expected a mapping with a 'folds' list")
        splits[str(s.get("dataset") or path.parent.name)] = s
        used.append(path)
    for folder in map(Path, inputs.unsupervised):
        lacking = [f for f in ("metrics.json", "predictions.csv") if not (folder / f).is_file()]
        if lacking:
            absent.append(f"unsupervised results {folder}: {', '.join(lacking)} missing")
            continue
        res = T.read_unsupervised(folder)
        results.append(res)
        if isinstance(res.metrics.get("data_origin"), dict):
            origins.setdefault(res.dataset, res.metrics["data_origin"])
        used.extend([folder / "metrics.json", folder / "predictions.csv"])
    for folder in map(Path, inputs.caches):
        if not folder.exists():
            absent.append(f"cache {folder} does not exist")
            continue
        index = open_cache(folder)
        caches[str(index.info.get("dataset") or folder.name)] = folder
        used.extend([index.root / "index.csv", index.root / "cache_info.json"])
    for folder in map(Path, inputs.raw):
        if not folder.is_dir():
            absent.append(f"raw data {folder} does not exist")
            continue
        ds = folder.name
        origins[ds] = data_origin(ds, folder, params)  # the folder itself outranks the stage records
        if origins[ds]["kind"] == "built-in":
            summary = generator_summary(folder)
            if summary is not None:
                truths[ds] = summary
                used.append(folder / TRUTH_SUMMARY)  # user data is never hashed here (it may be terabytes)
    audit = None
    if inputs.audit is None:
        absent.append("no compute audit was given (--audit)")
    elif not Path(inputs.audit).is_file():
        absent.append(f"compute audit {inputs.audit} does not exist")
    else:
        audit = T.read_audit(Path(inputs.audit))
        used.append(Path(inputs.audit))
    for ds in params.get("datasets", []):
        if inputs.manifests and ds not in manifests:
            absent.append(f"no manifest of dataset {ds}")
        if inputs.splits and ds not in splits:
            absent.append(f"no splits of dataset {ds}")
    experiments: dict[str, dict] = {}
    for path in map(Path, inputs.experiments):
        if not path.is_file():
            absent.append(f"aggregated metrics {path} do not exist")
            continue
        doc = T.read_json(path)
        if not isinstance(doc, dict) or not isinstance(doc.get("runs"), dict):
            raise InputError(path, "expected a mapping with a 'runs' mapping")
        experiments[str(doc.get("experiment") or path.stem)] = doc
        used.append(path)
    learned: dict[str, list[pd.DataFrame]] = {}
    for path in map(Path, inputs.learned_predictions):
        if not path.is_file():
            absent.append(f"predictions {path} do not exist")
            continue
        # results/runs/<experiment>/<run>/<fold>/predictions.csv
        run_id = "/".join(path.parts[-4:-2])
        learned.setdefault(run_id, []).append(T.read_csv(path, LEARNED_PREDICTION_COLUMNS))
        used.append(path)
    au_paths: dict[str, list[Path]] = {}
    for path in map(Path, inputs.learned_au):
        if not path.is_file():
            absent.append(f"predictions {path} do not exist")
            continue
        au_paths.setdefault("/".join(path.parts[-4:-2]), []).append(path)
        used.append(path)
    learned_au = {run: frames for run, paths in au_paths.items() if (frames := read_au_frames(paths)) is not None}
    sheet = None
    if inputs.sheet is None:
        absent.append("no experiment sheet was given (--sheet)")
    else:
        sheet = load_sheet(inputs.sheet)
        used.append(Path(inputs.sheet))
    return LoadedInputs(manifests=manifests, splits=splits, unsupervised=sorted(results, key=lambda r: r.dataset),
                        sheet=sheet, audit_runs=list(inputs.audit_runs) if audit is not None else [],
                        experiments=experiments,
                        learned_predictions={r: pd.concat(f, ignore_index=True) for r, f in learned.items()},
                        learned_au=learned_au,
                        caches=caches, audit=audit, raw=truths, origins=origins, used=used, absent=absent)

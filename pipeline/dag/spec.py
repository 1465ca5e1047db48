"""The DAG's one declaration: every stage, its jobs, inputs, outputs, params and code.

Snakemake builds one rule per ``Stage`` (workflow/rules/stages.smk loops over ``STAGES``) and
``pipeline.dag.dvc_yaml`` renders the same stages, expanded to jobs, as dvc.yaml. A stage is
data: its outputs are path patterns over its wildcards (``dataset`` for data stages, ``run``
= ``<experiment>/<run>`` for rows of the experiment sheet), its inputs and tracked params are
functions of the configuration and a job's wildcards, its code is the import closure of its
stage module (``pipeline.dag.closure``). Adding a stage is one entry here plus its module.
"""

from __future__ import annotations

import dataclasses
import string
from typing import Callable

from pipeline.dag.closure import import_closure
from pipeline.dag.cost import training_priority
from pipeline.experiments.sheet import STAGE_SECTIONS, Run, active_runs, cache_dir, get_run, run_folds, runs_of

SHEET = "experiments.yaml"
PARAMS = "params.yaml"
# CPU threads of each training and scoring job, whatever --cores says. Fixed, because bf16 sums
# in another order per thread count (the numbers of a run depend on it): with it, a 2-core
# laptop, `--cores 1`, `--cores 32` and `dvc repro` (whose stages run their Snakemake jobs)
# train the same weights. One, because these small convs scale poorly with threads: on 2 cores,
# two 1-thread jobs side by side train 9-43% more frames per second in all than one 2-thread job
# (benchmarks/bench_train.py; README, "Scales"), so a machine does more by running one job per
# core than by giving one job every core.
TORCH_JOB_THREADS = 1


@dataclasses.dataclass(frozen=True)
class Config:
    """What the DAG is expanded from: params.yaml and the experiment sheet (both validated)."""

    params: dict
    sheet: dict
    # each run's folds, worked out once: the DAG asks for them per job, and each answer parses
    # the published folds file (before, most of Snakemake's start-up on the default sheet)
    _folds: dict[str, list[str]] = dataclasses.field(default_factory=dict, compare=False, repr=False)
    _runs: dict[str, Run] = dataclasses.field(default_factory=dict, compare=False, repr=False)

    @property
    def datasets(self) -> list[str]:
        return list(self.params["datasets"])

    @property
    def synth_datasets(self) -> list[str]:
        return list(self.params["synth"]["datasets"])

    def runs(self, stage: str) -> list[Run]:
        return active_runs(self.sheet, self.params, stage)

    def run(self, run_id: str) -> Run:
        if not self._runs:  # every row once: Snakemake asks for a run per job and input function
            self._runs.update((r.id, r) for r in runs_of(self.sheet))
        return self._runs[run_id] if run_id in self._runs else get_run(self.sheet, run_id)

    def folds(self, run: Run) -> list[str]:
        """The folds ``run`` trains and evaluates (``run_folds``)."""
        if run.id not in self._folds:
            self._folds[run.id] = run_folds(run, self.params)
        return self._folds[run.id]


@dataclasses.dataclass(frozen=True)
class Param:
    """A tracked params key: dotted ``key`` in ``file``."""

    key: str
    file: str = PARAMS


Inputs = dict[str, "str | list[str]"]


@dataclasses.dataclass(frozen=True)
class Stage:
    """One stage of the DAG (a Snakemake rule; one DVC stage per job).

    outputs: name -> path pattern; ``directories`` are folders, ``metrics`` DVC lists as
        metrics, ``cached`` go to DVC's cache (the large data; the rest are small files in git).
    jobs: wildcard values of every job the configuration asks for.
    inputs: data inputs of one job (code inputs come from ``module``'s import closure).
    params: the params keys one job reads (its stage's defaults and, for sheet rows, its row).
    args: the stage module's options, in Snakemake's shell notation ({input.x}, {output.x},
        {wildcards.x}, {params.x} with ``extra`` giving any non-file params).
    """

    name: str
    module: str
    outputs: dict[str, str]
    jobs: Callable[[Config], list[dict[str, str]]]
    inputs: Callable[[Config, dict[str, str]], Inputs]
    params: Callable[[Config, dict[str, str]], list[Param]]
    args: str
    directories: frozenset[str] = frozenset()
    metrics: frozenset[str] = frozenset()
    cached: frozenset[str] = frozenset()
    extra: Callable[[Config, dict[str, str]], dict[str, "str | list[str]"]] | None = None
    # Snakemake resources of each job (the profiles map 'gpu' to a device: one at a time
    # locally, a GPU request on SLURM)
    resources: dict[str, int] = dataclasses.field(default_factory=dict)
    # Threads of one job (Snakemake lowers them to --cores when it is smaller)
    threads: int = 1
    # the job sets torch's CPU threads to its own (OMP_NUM_THREADS, MKL_NUM_THREADS)
    torch_threads: bool = False
    # Snakemake priority of one job (higher starts first among ready jobs; pipeline/dag/cost.py)
    priority: Callable[[Config, dict[str, str]], int] | None = None
    report: dict[str, dict[str, str]] = dataclasses.field(default_factory=dict)

    @property
    def code(self) -> list[str]:
        """Files whose content shapes this stage's outputs."""
        return list(import_closure(self.module))

    @property
    def log(self) -> str:
        return f"logs/{self.name}/{self.wildcard_path}.log"

    @property
    def benchmark(self) -> str:
        return f"logs/benchmark/{self.name}/{self.wildcard_path}.tsv"

    @property
    def wildcards(self) -> list[str]:
        # in the order they appear in the output paths (run before fold)
        names = [f for _, f, _, _ in string.Formatter().parse(" ".join(self.outputs.values())) if f]
        return list(dict.fromkeys(names))

    @property
    def wildcard_path(self) -> str:
        return "/".join(f"{{{w}}}" for w in self.wildcards) or "job"

    def output_paths(self, job: dict[str, str]) -> dict[str, str]:
        return {k: v.format(**job) for k, v in self.outputs.items()}


# ---------------------------------------------------------------------------------------------
# jobs


def _each_dataset(cfg: Config) -> list[dict[str, str]]:
    return [{"dataset": d} for d in cfg.datasets]


def _each_run(stage: str) -> Callable[[Config], list[dict[str, str]]]:
    return lambda cfg: [{"run": r.id} for r in cfg.runs(stage)]


def _single(cfg: Config) -> list[dict[str, str]]:
    return [{}]


def _each_run_fold(cfg: Config) -> list[dict[str, str]]:
    return [{"run": r.id, "fold": f} for r in cfg.runs("train") for f in cfg.folds(r)]


def _each_trained_experiment(cfg: Config) -> list[dict[str, str]]:
    return [{"experiment": e} for e in dict.fromkeys(r.experiment for r in cfg.runs("train"))]


def _each_cache_variant(cfg: Config) -> list[dict[str, str]]:
    """(dataset, variant) of every cache variant a configured train row reads."""
    pairs = {(d, r.cache) for r in cfg.runs("train") if r.cache for d in r.datasets}
    return [{"dataset": d, "variant": v} for d, v in sorted(pairs)]


def _run_params(section_keys: tuple[str, ...]) -> Callable[[Config, dict[str, str]], list[Param]]:
    """The params of a row's job: ``section_keys``, with the row's own stage section narrowed to
    the keys its overrides do not replace, plus the row itself in the sheet. A row that sets
    ``epochs`` is then not re-run when the default ``train.epochs`` changes (its resolved
    settings did not), while an edit of its row re-runs it."""

    def params(cfg: Config, job: dict[str, str]) -> list[Param]:
        run = cfg.run(job["run"])
        own = STAGE_SECTIONS.get(run.stage)
        out: list[Param] = []
        for key in section_keys:
            if key != own:
                out.append(Param(key))
                continue
            overrides = run.row.get("overrides") or {}
            if not overrides:
                # every key shapes the job: track the section as one value, as before per-key
                # tracking existed, so that results of such rows stay up to date
                out.append(Param(key))
                continue
            # a mapping override is merged key by key (the default still shapes the rest of it)
            out.extend(Param(f"{key}.{k}") for k in cfg.params.get(key, {})
                       if k not in overrides or isinstance(overrides[k], dict))
        return [*out, Param(run.tracked_key, SHEET)]
    return params


# ---------------------------------------------------------------------------------------------
# priorities: the longest training jobs first, and what they wait for before them


def _train_priority(cfg: Config, job: dict[str, str]) -> int:
    return training_priority(cfg.params, cfg.run(job["run"]))


def _upstream_priority(cfg: Config, dataset: str, variant: str | None = None, above: int = 1) -> int:
    """``above`` over the highest training priority that waits for ``dataset`` (its ``variant``
    cache when given), 0 when no training job reads it."""
    waiting = [training_priority(cfg.params, r) for r in cfg.runs("train")
               if dataset in r.datasets and (variant is None or r.cache == variant)]
    return max(waiting) + above if waiting else 0


def _data_priority(cfg: Config, job: dict[str, str]) -> int:
    # the dataset's own jobs come before its cache variants (which are built from its raw data)
    return _upstream_priority(cfg, job["dataset"], above=2)


def _variant_priority(cfg: Config, job: dict[str, str]) -> int:
    return _upstream_priority(cfg, job["dataset"], job["variant"])


# ---------------------------------------------------------------------------------------------
# stages


def _dataset_folder_inputs(cfg: Config, job: dict[str, str]) -> Inputs:
    return {"raw": f"data/raw/{job['dataset']}"}


def _baseline_inputs(cfg: Config, job: dict[str, str]) -> Inputs:
    data = cfg.run(job["run"]).test_data
    return {
        "cache": f"data/cache/{data}",
        "splits": f"data/interim/{data}/splits.json",
        # ingest's summary carries the data origin (built-in or user-supplied) into the metrics
        "manifest_summary": f"data/interim/{data}/manifest.json",
    }


def _train_inputs(cfg: Config, job: dict[str, str]) -> Inputs:
    run = cfg.run(job["run"])
    data = run.row["train_data"]
    inputs: Inputs = {"cache": run.cache_dir(data), "splits": f"data/interim/{data}/splits.json"}
    if run.row.get("parent"):
        # a parent run is a real dependency: its model for the same fold initialises this one
        inputs["parent"] = f"results/runs/{run.row['parent']}/{job['fold']}/model"
    return inputs


def _train_extra(cfg: Config, job: dict[str, str]) -> dict[str, str | list[str]]:
    parent = cfg.run(job["run"]).row.get("parent") if job else None
    return {"parent": f"--parent results/runs/{parent}/{job['fold']}/model" if parent else ""}


def _evaluate_inputs(cfg: Config, job: dict[str, str]) -> Inputs:
    run = cfg.run(job["run"])
    train, test = run.row["train_data"], run.test_data
    return {
        "model": f"results/runs/{job['run']}/{job['fold']}/model",
        "cache": run.cache_dir(test),
        "splits": f"data/interim/{test}/splits.json",
        # the trivial constant-rate baseline is the training fold's mean rate
        "train_cache": run.cache_dir(train),
        "train_splits": f"data/interim/{train}/splits.json",
    }


def _aggregate_inputs(cfg: Config, job: dict[str, str]) -> Inputs:
    # the per-trial predictions beside each metrics.json feed the subject bootstrap of the rates
    folders = [f"results/runs/{r.id}/{f}" for r in cfg.runs("train")
               if r.experiment == job["experiment"] for f in cfg.folds(r)]
    return {"metrics": [f"{d}/metrics.json" for d in folders], "predictions": [f"{d}/predictions.csv" for d in folders]}


def _report_inputs(cfg: Config, job: dict[str, str]) -> Inputs:
    ds = cfg.datasets
    baselines = [r.id for r in cfg.runs("unsupervised")]
    return {
        # the raw folders: data origin and, for built-in data, the rendered truth (skin type)
        "raw": [f"data/raw/{d}" for d in ds],
        "manifests": [f"data/interim/{d}/manifest.csv" for d in ds],
        "manifest_summaries": [f"data/interim/{d}/manifest.json" for d in ds],
        "splits": [f"data/interim/{d}/splits.json" for d in ds],
        "caches": [f"data/cache/{d}" for d in ds],
        "baselines": [f"results/runs/{r}/{f}" for r in baselines for f in ("metrics.json", "predictions.csv")],
        "audit": [f"results/runs/{r.id}/audit.csv" for r in cfg.runs("compute_audit")][:1],
        "experiments": [f"results/metrics/{j['experiment']}.json" for j in _each_trained_experiment(cfg)],
        # per-trial rates of the learned runs with a pulse output (Bland-Altman beside POS)
        "learned_predictions": [f"results/runs/{r.id}/{f}/predictions.csv" for r in cfg.runs("train")
                                if "pulse" in r.row["tasks"] for f in cfg.folds(r)],
        # per-frame AU decisions and scored labels of the learned runs with an AU output (paired tests)
        "learned_au": [f"results/runs/{r.id}/{f}/predictions.h5" for r in cfg.runs("train")
                       if "au" in r.row["tasks"] for f in cfg.folds(r)],
    }


def _report_extra(cfg: Config, job: dict[str, str]) -> dict[str, str | list[str]]:
    return {"baseline_dirs": [f"results/runs/{r.id}" for r in cfg.runs("unsupervised")],
            "audit_runs": [r.id for r in cfg.runs("compute_audit")][:1]}


STAGES: list[Stage] = [
    Stage(
        name="generate",
        priority=_data_priority,
        module="pipeline.stages.generate",
        outputs={"raw": "data/raw/{dataset}"},
        directories=frozenset({"raw"}),
        cached=frozenset({"raw"}),
        # only synth.datasets are generator outputs: any other data/raw/<name> is user-supplied
        # (licensed) data that neither engine may rebuild or delete
        jobs=lambda cfg: [{"dataset": d} for d in cfg.synth_datasets],
        inputs=lambda cfg, job: {},
        params=lambda cfg, job: [Param("seed"), Param("synth.difficulty"), Param("synth.presets"),
                                 Param(f"synth.{job['dataset']}")],
        args="--dataset {wildcards.dataset} --params params.yaml --out {output.raw}",
    ),
    Stage(
        name="ingest",
        priority=_data_priority,
        module="pipeline.stages.ingest",
        outputs={"manifest": "data/interim/{dataset}/manifest.csv",
                 "summary": "data/interim/{dataset}/manifest.json"},
        jobs=_each_dataset,
        inputs=_dataset_folder_inputs,
        params=lambda cfg, job: [Param("ingest")],
        args="--dataset {wildcards.dataset} --params params.yaml --raw {input.raw} --out {output.manifest}",
    ),
    Stage(
        name="splits",
        priority=_data_priority,
        module="pipeline.stages.splits",
        outputs={"splits": "data/interim/{dataset}/splits.json"},
        jobs=_each_dataset,
        inputs=lambda cfg, job: {"manifest": f"data/interim/{job['dataset']}/manifest.csv"},
        params=lambda cfg, job: [Param("seed"), Param("splits")],
        args="--dataset {wildcards.dataset} --params params.yaml --manifest {input.manifest} --out {output.splits}",
    ),
    Stage(
        name="preprocess",
        priority=_data_priority,
        module="pipeline.stages.preprocess",
        outputs={"cache": "data/cache/{dataset}"},
        directories=frozenset({"cache"}),
        cached=frozenset({"cache"}),
        jobs=_each_dataset,
        inputs=lambda cfg, job: {"raw": f"data/raw/{job['dataset']}",
                                 "manifest": f"data/interim/{job['dataset']}/manifest.csv"},
        # only the signals keys behind the POS pseudo-label shape the cache
        params=lambda cfg, job: [Param("preprocess"), Param("signals.pseudo_label"), Param("signals.pos")],
        args="--dataset {wildcards.dataset} --params params.yaml --raw {input.raw}"
             " --manifest {input.manifest} --out {output.cache}",
    ),
    Stage(
        # a cache variant (params.yaml cache_variants, e.g. the face-aligned Big frames of the
        # dagger rows): the same module and code as preprocess, its settings over the section
        name="preprocess_variant",
        priority=_variant_priority,
        module="pipeline.stages.preprocess",
        outputs={"cache": cache_dir("{dataset}", "{variant}")},
        directories=frozenset({"cache"}),
        cached=frozenset({"cache"}),
        jobs=_each_cache_variant,
        inputs=lambda cfg, job: {"raw": f"data/raw/{job['dataset']}",
                                 "manifest": f"data/interim/{job['dataset']}/manifest.csv"},
        params=lambda cfg, job: [Param("preprocess"), Param("signals.pseudo_label"), Param("signals.pos"),
                                 Param(f"cache_variants.{job['variant']}")],
        args="--dataset {wildcards.dataset} --variant {wildcards.variant} --params params.yaml --raw {input.raw}"
             " --manifest {input.manifest} --out {output.cache}",
    ),
    Stage(
        name="unsupervised",
        module="pipeline.stages.unsupervised",
        outputs={"metrics": "results/runs/{run}/metrics.json",
                 "predictions": "results/runs/{run}/predictions.csv"},
        jobs=_each_run("unsupervised"),
        inputs=_baseline_inputs,
        params=_run_params(("signals", "unsupervised")),
        args="--run {wildcards.run} --params params.yaml --sheet experiments.yaml --cache {input.cache}"
             " --splits {input.splits} --manifest-summary {input.manifest_summary} --out results/runs/{wildcards.run}",
    ),
    Stage(
        name="compute_audit",
        module="pipeline.stages.compute_audit",
        outputs={"audit": "results/runs/{run}/audit.csv", "summary": "results/runs/{run}/audit.json"},
        jobs=_each_run("compute_audit"),
        inputs=lambda cfg, job: {},
        params=_run_params(("compute",)),
        args="--run {wildcards.run} --params params.yaml --sheet experiments.yaml --out {output.audit}",
    ),
    Stage(
        name="train",
        priority=_train_priority,
        module="pipeline.stages.train",
        outputs={"model": "results/runs/{run}/{fold}/model"},
        directories=frozenset({"model"}),
        cached=frozenset({"model"}),
        jobs=_each_run_fold,
        inputs=_train_inputs,
        params=_run_params(("seed", "train")),
        args="--run {wildcards.run} --fold {wildcards.fold} --params params.yaml --sheet experiments.yaml"
             " --cache {input.cache} --splits {input.splits} {params.parent} --out {output.model}",
        extra=_train_extra,
        resources={"gpu": 1},
        threads=TORCH_JOB_THREADS,
        torch_threads=True,
    ),
    Stage(
        name="evaluate",
        module="pipeline.stages.evaluate",
        outputs={"metrics": "results/runs/{run}/{fold}/metrics.json",
                 "predictions": "results/runs/{run}/{fold}/predictions.csv",
                 "waves": "results/runs/{run}/{fold}/predictions.h5"},
        cached=frozenset({"waves"}),
        jobs=_each_run_fold,
        inputs=_evaluate_inputs,
        # the rate estimation only: POS, CHROM and the pseudo-label settings shape no score here
        params=_run_params(("signals.zero_pad_factor", "signals.eval_window", "signals.pulse", "signals.resp",
                            "evaluate", "ingest.min_recorded_hr_bpm")),
        args="--run {wildcards.run} --fold {wildcards.fold} --params params.yaml --sheet experiments.yaml"
             " --model {input.model} --cache {input.cache} --splits {input.splits}"
             " --train-cache {input.train_cache} --train-splits {input.train_splits}"
             " --out results/runs/{wildcards.run}/{wildcards.fold}",
        resources={"gpu": 1},
        threads=TORCH_JOB_THREADS,
        torch_threads=True,
    ),
    Stage(
        name="aggregate",
        module="pipeline.stages.aggregate",
        outputs={"table": "results/metrics/{experiment}.csv", "summary": "results/metrics/{experiment}.json"},
        jobs=_each_trained_experiment,
        inputs=_aggregate_inputs,
        params=lambda cfg, job: [Param(f"experiments.{job['experiment']}", SHEET)],
        args="--experiment {wildcards.experiment} --sheet experiments.yaml --metrics {input.metrics}"
             " --out {output.table}",
    ),
    Stage(
        name="report",
        module="pipeline.stages.report",
        outputs={"html": "reports/index.html", "metrics": "reports/metrics.json", "headline": "reports/headline.json",
                 "tables": "reports/tables", "figures": "reports/figures"},
        directories=frozenset({"tables", "figures"}),
        # DVC lists only the headline numbers (a few dozen); the details stay in the tables and
        # in each stage's own JSON, which DVC tracks as plain outputs
        metrics=frozenset({"headline"}),
        jobs=_single,
        inputs=_report_inputs,
        # the report also prints the settings it compares with the paper (deviations) and says
        # which rows of the sheet were left out
        params=lambda cfg, job: [Param("report"), Param("signals"), Param("preprocess"), Param("splits"),
                                 Param("datasets"), Param("synth.datasets"), Param("synth.difficulty"),
                                 Param("experiments", SHEET)],
        extra=_report_extra,
        args="--params params.yaml --sheet experiments.yaml --out reports --manifests {input.manifests}"
             " --splits {input.splits} --caches {input.caches} --unsupervised {params.baseline_dirs}"
             " --audit {input.audit} --audit-runs {params.audit_runs} --raw {input.raw} --sheet experiments.yaml"
             " --experiments {input.experiments} --learned-predictions {input.learned_predictions}"
             " --learned-au {input.learned_au}",
        report={"html": {"category": "Report", "caption": "workflow/report/index.rst"}},
    ),
]


def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise KeyError(name)


def all_outputs(cfg: Config) -> list[str]:
    """Every output of every job (what ``rule all`` asks for and dvc.yaml declares)."""
    return [path for s in STAGES for job in s.jobs(cfg) for path in s.output_paths(job).values()]

"""Expected training cost of a sheet row, for the order in which Snakemake starts jobs.

Snakemake starts the ready job of highest priority first. Left to itself it started the longest
training job of the default (AlexNet dagger, six epochs) after 2 h 24 min of a 3 h run, and it
then ran nearly alone at the end. Giving each training job a priority equal to its expected
cost starts the longest jobs first (the longest-processing-time rule for parallel machines),
and every job upstream of a training job (the data of its dataset, its cache variant) gets a
priority above the jobs that wait for it. Priorities change only the order, never an output:
neither engine re-runs a job for it, and DVC, which runs one job at a time, ignores it.
"""

from __future__ import annotations

from pipeline.experiments.sheet import Run, run_settings

# Training seconds per frame of each registered variant relative to BigSmall (= 1), at the
# default chunk of 3 frames (1 for the frame-budget rows), measured on 2 cores from the
# per-fold training times of the default (README, "Scales": e.g. BigSmall 127 s for one epoch
# over every AU-coded frame of fold 1, the Big branch 112 s on one frame in three, DRML 573 s).
# A scheduling hint only: a wrong value costs time, never a result.
RELATIVE_FRAME_COST: dict[str, float] = {
    "small_branch": 0.09,
    "big_branch": 2.6,
    "bigsmall_no_downsampling": 2.7,
    "bigsmall_no_shift": 0.9,
    "bigsmall_tsm": 0.9,
    "bigsmall": 1.0,
    "bigsmall_concat": 1.45,
    "bigsmall_lateral_big2small": 1.0,
    "bigsmall_lateral_small2big": 1.2,
    "bigsmall_lateral_bidir": 1.2,
    "bigsmall_gray_big": 1.0,
    "bigsmall_aligned_bn": 1.0,
    "big_branch_aligned_bn": 2.6,
    "bigsmall_pp": 2.25,
    "deepphys": 0.15,
    "mtts_can": 0.18,
    "efficientphys": 0.13,
    "drml": 4.5,
    # 1 thread, as the jobs run: AlexNet dagger 2,167 s for 6 epochs, BigSmall 214 s for one
    # (2 threads gave 1.3); it keeps AlexNet dagger above the 10-epoch BigSmall dagger, which it outlasts
    "alexnet": 1.7,
    "jaanet_2018": 6.7,
    "jaanet_2021": 6.7,
}
# a variant registered later without a measured cost counts as a Big-frame model
UNKNOWN_FRAME_COST = 3.0


def training_cost(params: dict, run: Run) -> float:
    """Expected training work of one fold of ``run``, in BigSmall epochs over every frame: the
    variant's cost per frame x epochs x the share of frames it reads (1 / chunk_stride) x the
    number of single-task models it trains."""
    settings = run_settings(params, run)
    per_frame = RELATIVE_FRAME_COST.get(run.row.get("variant"), UNKNOWN_FRAME_COST)
    # one model per task with separate_task_models (pipeline.experiments.runs.task_groups, not
    # imported here: it would bring the cache reader into every Snakemake start)
    models = len(run.row["tasks"]) if run.row.get("separate_task_models") else 1
    return per_frame * float(settings["epochs"]) * models / int(settings["chunk_stride"])


def training_priority(params: dict, run: Run) -> int:
    """Snakemake priority of each training job of ``run``: its expected cost in hundredths of a
    BigSmall epoch (at least 1, above the jobs that no training job waits for)."""
    return max(1, round(100 * training_cost(params, run)))

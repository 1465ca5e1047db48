# The HTML report: every reproduced number beside the published one.


rule report:
    """reports/index.html with tables and figures, from this run's outputs only."""
    input:
        # the raw folders: data origin and, for built-in data, the rendered truth (skin type)
        raw=expand("data/raw/{dataset}", dataset=DATASETS),
        manifests=expand("data/interim/{dataset}/manifest.csv", dataset=DATASETS),
        manifest_summaries=expand("data/interim/{dataset}/manifest.json", dataset=DATASETS),
        splits=expand("data/interim/{dataset}/splits.json", dataset=DATASETS),
        caches=expand("data/cache/{dataset}", dataset=DATASETS),
        unsupervised=expand(
            ["results/unsupervised/{dataset}/metrics.json", "results/unsupervised/{dataset}/predictions.csv"],
            dataset=PULSE_DATASETS,
        ),
        audit="results/compute/audit.csv",
        code=code(
            "pipeline/report",
            "pipeline/reference",
            "pipeline/unsupervised.py",
            "pipeline/cache.py",
            "pipeline/signals",
            *CORE,
            RAW_DATA,
        ),
    output:
        html=report("reports/index.html", category="Report", caption="../report/index.rst"),
        metrics="reports/metrics.json",
        tables=directory("reports/tables"),
        figures=directory("reports/figures"),
    params:
        # The report also prints the settings it compares with the paper (deviations).
        tracked=lambda w: tracked(
            "report",
            "signals",
            "preprocess",
            "splits",
            "datasets",
            "synth.datasets",
            "synth.difficulty",
            "unsupervised.datasets",
        ),
        unsupervised_dirs=expand("results/unsupervised/{dataset}", dataset=PULSE_DATASETS),
    conda:
        "../../environment.yml"
    log:
        "logs/report.log",
    shell:
        "python -m pipeline report --params params.yaml --out reports"
        " --manifests {input.manifests} --splits {input.splits} --caches {input.caches}"
        " --unsupervised {params.unsupervised_dirs} --audit {input.audit} --raw {input.raw} 2>&1 | tee {log}"

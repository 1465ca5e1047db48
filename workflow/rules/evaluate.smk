# Evaluation of the unsupervised pulse baselines (POS, CHROM).


rule unsupervised:
    """POS and CHROM heart rate on the test trials of every fold of {dataset}."""
    input:
        cache="data/cache/{dataset}",
        splits="data/interim/{dataset}/splits.json",
        # ingest's summary carries the data origin (built-in or user-supplied) into the metrics
        manifest_summary="data/interim/{dataset}/manifest.json",
        code=code("pipeline/unsupervised.py", "pipeline/cache.py", "pipeline/signals", *CORE),
    output:
        metrics="results/unsupervised/{dataset}/metrics.json",
        predictions="results/unsupervised/{dataset}/predictions.csv",
    params:
        tracked=lambda w: tracked("signals", "unsupervised"),
    conda:
        "../../environment.yml"
    log:
        "logs/unsupervised/{dataset}.log",
    shell:
        "python -m pipeline unsupervised --dataset {wildcards.dataset} --params params.yaml"
        " --cache {input.cache} --splits {input.splits} --manifest-summary {input.manifest_summary}"
        " --out results/unsupervised/{wildcards.dataset}"
        " 2>&1 | tee {log}"

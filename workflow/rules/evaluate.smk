# Evaluation of the unsupervised pulse baselines (POS, CHROM).


rule unsupervised:
    """POS and CHROM heart rate on the test trials of every fold of {dataset}."""
    input:
        cache="data/cache/{dataset}",
        splits="data/interim/{dataset}/splits.json",
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
        " --cache {input.cache} --splits {input.splits} --out results/unsupervised/{wildcards.dataset}"
        " 2>&1 | tee {log}"

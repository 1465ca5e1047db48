# Model inputs and labels cached to HDF5, one file per trial.


rule preprocess:
    """Crop, resize and normalise {dataset} into the HDF5 chunk cache, with POS pseudo-labels."""
    input:
        "data/raw/{dataset}",
        "data/interim/{dataset}/manifest.csv",
        code(
            "pipeline/preprocess.py",
            "pipeline/cache.py",
            "pipeline/datasets",
            "pipeline/signals",
            *CORE,
        ),
    output:
        directory("data/cache/{dataset}"),
    params:
        tracked=lambda w: tracked("preprocess", "signals"),
    log:
        "logs/preprocess/{dataset}.log",
    benchmark:
        "logs/benchmark/preprocess/{dataset}.tsv"
    shell:
        "python -m pipeline preprocess --dataset {wildcards.dataset} --params params.yaml"
        " --raw {input[0]} --manifest {input[1]} --out {output} 2>&1 | tee {log}"

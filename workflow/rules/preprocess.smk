# Model inputs and labels cached to HDF5, one file per trial.


rule preprocess:
    """Crop, resize and normalise {dataset} into the HDF5 chunk cache, with POS pseudo-labels."""
    input:
        raw="data/raw/{dataset}",
        manifest="data/interim/{dataset}/manifest.csv",
        code=code(
            "pipeline/preprocess.py",
            "pipeline/frames.py",
            "pipeline/cache.py",
            "pipeline/datasets",
            "pipeline/signals",
            *CORE,
        ),
    output:
        directory("data/cache/{dataset}"),
    params:
        # only the signals keys behind the POS pseudo-label shape the cache
        tracked=lambda w: tracked("preprocess", "signals.pseudo_label", "signals.pos"),
    conda:
        "../../environment.yml"
    log:
        "logs/preprocess/{dataset}.log",
    benchmark:
        "logs/benchmark/preprocess/{dataset}.tsv"
    shell:
        "python -m pipeline preprocess --dataset {wildcards.dataset} --params params.yaml"
        " --raw {input.raw} --manifest {input.manifest} --out {output} 2>&1 | tee {log}"

# Raw data: the built-in semi-synthetic generator, ingestion (manifest + exclusions) and splits.


rule generate:
    """Write the built-in semi-synthetic dataset in the real layout of {dataset}."""
    # Only synth.datasets are generator outputs: any other data/raw/<name> is user-supplied
    # (licensed) data that Snakemake must treat as a source, never rebuild or delete.
    wildcard_constraints:
        dataset=one_of(SYNTH_DATASETS),
    input:
        code=code("pipeline/synth", "pipeline/datasets", *CORE, RAW_DATA),
    output:
        directory("data/raw/{dataset}"),
    params:
        tracked=lambda w: tracked("seed", "synth.difficulty", "synth.presets", f"synth.{w.dataset}"),
    conda:
        "../../environment.yml"
    log:
        "logs/generate/{dataset}.log",
    benchmark:
        "logs/benchmark/generate/{dataset}.tsv"
    shell:
        "python -m pipeline generate --dataset {wildcards.dataset} --params params.yaml"
        " --out {output} 2>&1 | tee {log}"


rule ingest:
    """Read every trial of {dataset}, check it and record ok/excluded with a reason."""
    input:
        raw="data/raw/{dataset}",
        code=code("pipeline/ingest.py", "pipeline/datasets", "pipeline/reference/bp4d_plus.yaml", *CORE, RAW_DATA),
    output:
        manifest="data/interim/{dataset}/manifest.csv",
        summary="data/interim/{dataset}/manifest.json",
    params:
        tracked=lambda w: tracked("ingest"),
    conda:
        "../../environment.yml"
    log:
        "logs/ingest/{dataset}.log",
    shell:
        "python -m pipeline ingest --dataset {wildcards.dataset} --params params.yaml"
        " --raw {input.raw} --out {output.manifest} 2>&1 | tee {log}"


rule splits:
    """Subject-disjoint folds of {dataset} (published folds where the paper gives them)."""
    input:
        manifest="data/interim/{dataset}/manifest.csv",
        code=code("pipeline/splits.py", "pipeline/ingest.py", "pipeline/reference/bp4d_plus.yaml", *CORE, RAW_DATA),
    output:
        "data/interim/{dataset}/splits.json",
    params:
        tracked=lambda w: tracked("seed", "splits"),
    conda:
        "../../environment.yml"
    log:
        "logs/splits/{dataset}.log",
    shell:
        "python -m pipeline splits --dataset {wildcards.dataset} --params params.yaml"
        " --manifest {input.manifest} --out {output} 2>&1 | tee {log}"

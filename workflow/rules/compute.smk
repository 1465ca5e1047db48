# Compute audit of the model zoo: parameters and FLOPs against the published figures.


rule compute_audit:
    """Parameters and FLOPs per output frame of every registered model variant."""
    input:
        code=code("pipeline/compute_audit.py", "pipeline/models", "pipeline/reference/compute_published.yaml", *CORE),
    output:
        csv="results/compute/audit.csv",
        summary="results/compute/audit.json",
    params:
        tracked=lambda w: tracked("compute"),
    conda:
        "../../environment.yml"
    log:
        "logs/compute_audit.log",
    shell:
        "python -m pipeline compute-audit --params params.yaml --out {output.csv} 2>&1 | tee {log}"

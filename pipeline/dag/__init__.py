"""The DAG, declared once: its stages, their code dependencies and the dvc.yaml rendering.

Snakemake builds its rules from ``pipeline.dag.spec``; ``python -m pipeline dvc-yaml`` renders
the same declaration as dvc.yaml. Nothing here imports a stage module: stages are named by
module path, and their code dependencies come from a static reading of the sources.
"""

"""Stage modules: the command lines of the DAG's jobs.

Each module is argument parsing plus one library call, runnable as
``python -m pipeline.stages.<name>`` (what the DAG runs) or ``python -m pipeline <name>``.
Libraries never import a stage (tests/test_imports.py keeps it so).
"""

"""The experiment sheet (experiments.yaml): runs as data.

- ``sheet``: load and validate the sheet, the ``Run`` rows, a run's settings (its stage's
  params.yaml defaults with the row's overrides) and which runs the configured datasets allow;
- ``references``: cross-checks of rows against the published tables and the model registry
  (start-up and tests only, so no job depends on them).
"""

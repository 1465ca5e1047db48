"""Evaluation of trained models: checkpoint + fold -> per-trial predictions -> metrics.

``predict`` runs a loaded model (or one model per task) over the cached test trials chunk by
chunk and returns frame-aligned waves and AU logits; ``metrics`` turns them into the paper's
rate errors (supp. E.1-E.3) and frame-level AU F1/accuracy (supp. E.4) beside trivial
baselines; ``run`` evaluates one fold of one run and writes predictions.h5, predictions.csv
and metrics.json; ``aggregate`` summarises the folds of a run (mean and spread).
"""

"""Evaluation metrics: rate errors (``rates``) and AU occurrence (``au``), one module each, so
an edit to one re-runs only the jobs that compute it."""

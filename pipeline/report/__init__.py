"""The HTML report: tables and figures comparing this run's numbers with the published ones."""

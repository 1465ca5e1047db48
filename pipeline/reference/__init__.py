"""Published numbers and published dataset facts, transcribed from the seed documents.

- ``papers``: the BigSmall paper's and supplement's tables (``published.yaml``);
- ``datasets``: published BP4D+ splits and exclusions (``bp4d_plus.yaml``);
- ``compute_published.yaml``: published compute figures (read by the compute audit).

The package itself loads nothing, so a job depends only on the transcription it reads.
"""

"""The preprocessed chunk cache, in three modules so a job depends only on the part it runs:

- ``format``: the on-disk layout (documented there), its version and index columns; what the
  writer (pipeline.preprocess) needs;
- ``reader``: opening a keyed cache folder and one trial's file (evaluation, the report);
- ``dataset``: ``ChunkDataset``, N-frame chunks for training.
"""

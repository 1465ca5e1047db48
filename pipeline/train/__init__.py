"""Training of the model zoo on the chunk cache (paper Sec. 4, supp.; authors' settings in
research/bigsmall-facts.md section 4).

Modules (import the one you run; this package re-exports nothing):

- ``pipeline.train.loss``: the multi-task loss (BCE-with-logits with per-AU ``pos_weight`` on
  the AUs, MSE on pulse and breathing) and the ``pos_weight`` of a training fold;
- ``pipeline.train.data``: which cached chunks a run trains on (AU-coded only, a seeded
  subsample) and the per-epoch shuffled batches;
- ``pipeline.train.gradients``: per-task gradients and their pairwise angles (paper 5.1);
- ``pipeline.train.checkpoint``: atomic checkpoints that load with ``weights_only=True``;
- ``pipeline.train.loop``: ``train_model``, the training loop with resume and fine-tuning.
"""

"""The model zoo: BigSmall, its ablations and the paper's baselines, behind a registry.

Tensor conventions (every registered model):

- ``forward(big, small)``. ``big`` is ``(B*N, 3, 144, 144)`` standardised raw frames, ``small``
  is ``(B*N, 3, 9, 9)`` normalised difference frames: a batch of B chunks of N consecutive frames,
  flattened so that the N frames of a chunk are consecutive along dim 0 (frame t of chunk b is
  row ``b*N + t``). N is the ``n_frames`` option (default 3); the leading dimension must be a
  multiple of N. A variant that does not read one of the inputs (see ``variant_info(name).inputs``)
  accepts ``None`` for it.
- Returns a dict task -> tensor with one prediction per input frame: ``"au"`` ``(B*N, n_au)``
  logits (apply a sigmoid for probabilities), ``"pulse"`` ``(B*N, 1)``, ``"resp"`` ``(B*N, 1)``;
  only the heads the variant was built with. A model may add auxiliary training outputs, named
  in its ``auxiliary_outputs`` (``jaanet_2021``: ``"au_local"`` ``(B*N, n_au)``, the per-AU local
  detections): the loss trains them (pipeline.train.loss), evaluation never reads them.
- With Big temporal down-sampling only frame 0 of each chunk goes through the Big branch and its
  feature map serves all N frames; the other Big frames are ignored.
- Models hold no device state: move them with ``.to(device)`` (the trainer and the scorer use
  ``pipeline.models.device.place``: channels-last weights); any batch size and N work.

Entry points: ``pipeline.models.registry.build_model``, ``list_variants``, ``variant_info``.
"""

from pipeline.models.registry import build_model, count_params, list_variants, variant_info

__all__ = ["build_model", "count_params", "list_variants", "variant_info"]

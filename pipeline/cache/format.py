"""The preprocessed chunk cache: its on-disk layout, format version and index columns.

Folder layout (written by ``pipeline.preprocess``)::

    data/cache/<dataset>/<key>/
        index.csv          trial_id, subject, task, n_frames, n_chunks, fps, file, labels
        cache_info.json    key, dataset, format and code version, settings, provenance
        <trial_id>.h5      one file per trial

``<key>`` hashes every preprocessing setting that shapes the content plus the code version;
the cache folder holds exactly one key folder. ``labels`` in index.csv lists the label
datasets present in the trial's file, space-separated.

HDF5 file of one trial (L stored frames; S = big_size, s = small_size; frame t of every
array refers to the same video frame, ``frame_index[t]``)::

    big            (L, S, S, 3) uint8   square crop resized with INTER_AREA, RGB; attrs
                                        ``mean``, ``std``: the trial's scalar statistics.
                                        Model input = (big - mean) / std (0 where std is 0)
    small          (L, s, s, 3) float32 (or float16) normalised difference frames
                                        (x[t+1]-x[t])/(x[t+1]+x[t]+1e-7) at size S, resized to s,
                                        divided by their whole-trial std (attr ``diff_std``)
    rgb_mean       (L, 3)       float64 per-frame face-mean RGB at native size: over the skin
                                        pixels of the square crop or the whole crop (attr
                                        ``face_trace`` says which; see pipeline/preprocess.py)
    rgb_mean_crop  (L, 3)       float64 per-frame mean RGB of the whole crop (the authors' trace)
    rgb_mean_box   (L, 3)       float64 per-frame mean RGB over the rPPG-Toolbox's face box (Haar face of
                                        frame 0 x1.5; attr face_box says which box, or the whole frame)
    skin_fraction  (L,)         float32 fraction of the crop's pixels taken as skin
    frame_index    (L,)         int64   video frame number of stored frame t
    labels/        group, every dataset (L,) float32 unless noted; present where available:
        pulse, resp            diff(x)/std(diff(x)) of the pulse wave (BP wave for BP4D+, PPG
                               otherwise) and of the respiration wave
        pulse_raw, resp_raw    the waves themselves, aligned to frames
        pos_ppg                diff-normalised envelope-normalised POS pseudo-PPG (training
                               pulse target for BP4D+)
        pos_ppg_raw            envelope-normalised POS pseudo-PPG
        pos_ppg_filtered       POS pseudo-PPG after the band-pass, before envelope normalisation
                               (the three pos_ppg labels are absent from a PPG trial whose
                               pseudo-label failed; group attr ``pos_ppg_missing`` says why)
        hr_bpm, resp_bpm       rates aligned to frames
        au                     (L, K) int8: 1 active, 0 inactive, -1 not coded; attr ``au_names``

File attributes: ``format_version``, ``dataset``, ``subject``, ``task``, ``trial_id``, ``fps``,
``n_frames`` (= L), ``video_n_frames``, ``segment`` ([start, stop) of the processed video
frames), ``pulse_kind`` (``bp`` | ``ppg`` | ''), ``au_range`` ([start, stop) of the AU-coded
frames, [-1, -1] if none), ``cache_key``, ``chunk_length``, ``crop_anchor``, ``diff_tail``
(``trim``: L = T-1; ``pad_zero``: L = T with a zero last difference), ``settings`` and
``provenance`` (JSON strings).

Chunks are views: chunk k of length N is frames ``[k*N, k*N + N)``; a trial has ``L // N``
chunks (the tail is dropped, as the authors). HDF5 chunking of ``big`` and ``small`` is a whole
number of N-frame chunks, so reading one chunk touches one HDF5 chunk.
"""

from __future__ import annotations

FORMAT_VERSION = "2"
INDEX_COLUMNS = ("trial_id", "subject", "task", "n_frames", "n_chunks", "fps", "file", "labels")
# face-trace quality per trial, after INDEX_COLUMNS in index.csv: the region used, the mean
# fraction of the crop it covers, the POS pulse SNR (dB) on the trace and its low-SNR flag
QUALITY_COLUMNS = ("face_trace", "face_fraction", "pulse_snr_db", "low_snr")
# target size of one HDF5 chunk; always a whole number of N-frame chunks
_TARGET_CHUNK_BYTES = 1 << 16


def chunk_rows(chunk_length: int, frame_bytes: int, n_frames: int) -> int:
    """Frames per HDF5 chunk: a multiple of ``chunk_length`` near 64 KiB, at most the length."""
    per = max(1, _TARGET_CHUNK_BYTES // max(1, chunk_length * frame_bytes))
    return max(1, min(chunk_length * per, n_frames))

"""Reader API of the chunk cache: index, trial access, chunk views, DataLoader use."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from pipeline.cache.dataset import ChunkDataset
from pipeline.cache.format import chunk_rows
from pipeline.cache.reader import TrialCache, open_cache, standardise
from pipeline.errors import InputError
from pipeline.preprocess import preprocess_trials
from tests.test_preprocess import make_trial, small_settings


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cache") / "bp4d"
    n1, n2 = 32, 20
    au = np.zeros((n1, 3), np.int8)
    au[::2, 1] = 1
    au[:4, 2] = -1
    trials = [
        make_trial(n=n1, trial_id="F001T1", seed=1, au=au, au_range=(0, n1),
                   signals={"resp": np.sin(np.arange(n1) / 3.0), "resp_bpm": np.full(n1, 14.0)}),
        make_trial(n=n2, trial_id="M002T6", seed=2, au=np.ones((n2, 3), np.int8), au_range=(0, n2),
                   signals={"resp": np.cos(np.arange(n2) / 2.0)}),
    ]
    preprocess_trials("bp4d", trials, out, small_settings(), progress=False, code="c")
    return out


def test_open_cache_index(cache_root: Path) -> None:
    index = open_cache(cache_root)
    assert index.root.parent == cache_root and index.key == index.root.name
    assert index.trial_ids == ["F001T1", "M002T6"]
    assert list(index.table.columns) == [
        "trial_id", "subject", "task", "n_frames", "n_chunks", "fps", "file", "labels",
        "face_trace", "face_fraction", "pulse_snr_db", "low_snr"]
    row = index.row("F001T1")
    assert (row["subject"], row["task"], row["n_frames"], row["n_chunks"]) == ("F001", "T1", 31, 10)
    assert row["labels"] == "au resp resp_bpm resp_raw"
    assert open_cache(index.root).key == index.key  # the key folder itself also opens
    with index.open("M002T6") as tc:
        attrs = tc.attrs
    assert attrs["trial_id"] == "M002T6" and attrs["cache_key"] == index.key
    assert attrs["chunk_length"] == 3 and attrs["n_frames"] == 19 and attrs["fps"] == 25.0
    assert attrs["settings"]["big_size"] == 16 and "git_commit" in attrs["provenance"]


def test_open_cache_errors(tmp_path: Path, cache_root: Path) -> None:
    with pytest.raises(InputError, match="not found"):
        open_cache(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="exactly one"):
        open_cache(tmp_path / "empty")


def test_chunk_k_is_frames_kN_to_kN_plus_N(cache_root: Path) -> None:
    ds = ChunkDataset(cache_root, ["F001T1", "M002T6"], chunk_length=3)
    assert len(ds) == 31 // 3 + 19 // 3 == 16
    assert ds.tasks == ["au", "resp", "resp_raw"]  # labels present in every trial
    index = open_cache(cache_root)
    with TrialCache(index.path("F001T1")) as a, TrialCache(index.path("M002T6")) as b:
        for i in range(len(ds)):
            tid, k = ds.locate(i)
            assert ds.index_of(tid, k) == i
            tc = a if tid == "F001T1" else b
            big, small, labels = ds[i]
            assert big.dtype == np.float32 and big.shape == (3, 3, 16, 16)
            assert small.dtype == np.float32 and small.shape == (3, 3, 4, 4)
            np.testing.assert_array_equal(big, tc.big(3 * k, 3 * k + 3).transpose(0, 3, 1, 2))
            np.testing.assert_array_equal(small, tc.small(3 * k, 3 * k + 3).transpose(0, 3, 1, 2))
            np.testing.assert_array_equal(labels["resp"], tc.labels["resp"][3 * k : 3 * k + 3])
            au = tc.labels["au"][3 * k : 3 * k + 3]
            np.testing.assert_array_equal(labels["au"], (au == 1).astype(np.float32))
            np.testing.assert_array_equal(labels["au_mask"], (au >= 0).astype(np.float32))
    assert ds.locate(10) == ("M002T6", 0)
    assert list(ds.trial_items("M002T6")) == list(range(10, 16))
    assert ds.locate(-1) == ("M002T6", 5)
    with pytest.raises(IndexError):
        ds[16]
    with pytest.raises(IndexError):
        ds.index_of("F001T1", 10)
    # the standardised Big frames equal (uint8 - mean) / std of the stored trial statistics
    with TrialCache(index.path("F001T1")) as tc:
        raw = tc.big(0, 3, standardised=False)
        expect = (raw.astype(np.float64) - tc.big_mean) / tc.big_std
    np.testing.assert_allclose(ds[0][0], expect.transpose(0, 3, 1, 2), atol=1e-5)


def test_small_frames_kept_in_memory_equal_per_chunk_reads(cache_root: Path, monkeypatch) -> None:
    """The Small frames come from one whole-trial read kept in memory, or, beyond the memory budget,
    from one read per chunk: the same arrays either way, in any access order."""
    import pipeline.cache.dataset as dataset_module

    kept = ChunkDataset(cache_root, ["F001T1", "M002T6"], chunk_length=3, inputs=("small",))
    monkeypatch.setattr(dataset_module, "SMALL_IN_MEMORY_BYTES", 0)
    read = ChunkDataset(cache_root, ["F001T1", "M002T6"], chunk_length=3, inputs=("small",))
    assert kept._keep_small and not read._keep_small
    for i in [5, 0, 15, 10, 3, 15]:
        np.testing.assert_array_equal(kept[i][1], read[i][1])
        assert kept[i][0].shape == (3, 0)  # Big not read for a Small-only model
    assert sorted(kept._small) == [0, 1] and read._small == {}


def test_other_chunk_length_and_selection(cache_root: Path) -> None:
    ds = ChunkDataset(cache_root, ["M002T6"], chunk_length=4, tasks=["resp"], au_names=None)
    assert len(ds) == 4
    big, small, labels = ds[3]
    assert big.shape == (4, 3, 16, 16) and list(labels) == ["resp"]
    with TrialCache(open_cache(cache_root).path("M002T6")) as tc:
        np.testing.assert_array_equal(labels["resp"], tc.labels["resp"][12:16])
    picked = ChunkDataset(cache_root, ["F001T1"], tasks=["au"], au_names=["AU03", "AU02"])
    _, _, labels = picked[0]
    np.testing.assert_array_equal(labels["au"], [[0, 1], [0, 0], [0, 1]])
    np.testing.assert_array_equal(labels["au_mask"], [[0, 1], [0, 1], [0, 1]])
    with pytest.raises(InputError, match="no label 'resp_bpm'"):
        ChunkDataset(cache_root, ["F001T1", "M002T6"], tasks=["resp_bpm"])
    with pytest.raises(InputError, match="no AU 'AU09'"):
        ChunkDataset(cache_root, ["F001T1"], tasks=["au"], au_names=["AU09"])[0]


def test_no_file_opened_in_init_and_pickles(cache_root: Path) -> None:
    ds = ChunkDataset(cache_root)
    assert not ds._open  # lazily opened in the reading process
    ds[0]
    assert ds._open
    clone = pickle.loads(pickle.dumps(ds))
    assert not clone._open
    np.testing.assert_array_equal(clone[5][1], ds[5][1])
    ds.close()


def test_torch_dataloader_with_workers(cache_root: Path) -> None:
    torch = pytest.importorskip("torch")
    ds = ChunkDataset(cache_root, tasks=["resp", "au"])
    ds[0]  # a handle opened in the parent must not leak into the workers
    loader = torch.utils.data.DataLoader(ds, batch_size=4, shuffle=False, num_workers=2)
    batches = list(loader)
    big = torch.cat([b[0] for b in batches])
    assert big.shape == (len(ds), 3, 3, 16, 16) and big.dtype == torch.float32
    np.testing.assert_array_equal(big[7].numpy(), ds[7][0])
    resp = torch.cat([b[2]["resp"] for b in batches])
    np.testing.assert_array_equal(resp[11].numpy(), ds[11][2]["resp"])


def test_helpers() -> None:
    assert chunk_rows(3, 16 * 16 * 3, 1000) % 3 == 0
    assert chunk_rows(3, 144 * 144 * 3, 1000) == 3  # one N-frame chunk per HDF5 chunk
    assert chunk_rows(3, 144 * 144 * 3, 2) == 2
    assert not np.any(standardise(np.full((2, 2), 9, np.uint8), 9.0, 0.0))


def test_uncoded_au_rows_reach_the_loader_masked(tmp_path: Path) -> None:
    """BP4D+ AU rows missing inside the coded segment travel reader -> cache -> loader as
    uncoded: au_mask 0 there (out of the loss and the metrics), never a positive or negative."""
    import pandas as pd

    from pipeline.datasets import bp4d
    from tests.test_ingest import write_bp4d

    raw = tmp_path / "raw"
    write_bp4d(raw, "F002", "T1", au_first=5)                          # frames 5..16 coded
    au_csv = raw / "AUCoding" / "AU_OCC" / "F002_T1.csv"
    table = pd.read_csv(au_csv)
    table.loc[:, "12"] = 1
    table.drop(index=[5, 6, 7]).to_csv(au_csv, index=False)            # frames 10..12 missing
    trial = bp4d.load_trial(bp4d.list_trials(raw)[0])
    trial.signals.pop("pulse")  # no POS pseudo-label on noise frames; AUs are what is tested
    out = tmp_path / "cache" / "bp4d"
    preprocess_trials("bp4d", [trial], out, small_settings(crop_to_au_range=True), progress=False, code="c")
    with open_cache(out).open("F002T1") as tc:
        stored = tc.labels["au"]
        assert tc.attrs["segment"] == [4, 16]
    j = bp4d.AU_NAMES.index("AU12")
    # segment frames 4..15 (0-based); 9, 10, 11 uncoded; trim keeps L = 11 frames
    assert stored[:, j].tolist() == [1, 1, 1, 1, 1, -1, -1, -1, 1, 1, 1]
    ds = ChunkDataset(out, chunk_length=3, tasks=["au"], au_names=["AU12"])
    masks = np.concatenate([ds[i][2]["au_mask"][:, 0] for i in range(len(ds))])
    targets = np.concatenate([ds[i][2]["au"][:, 0] for i in range(len(ds))])
    assert masks.tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 1]
    assert targets.tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 1]

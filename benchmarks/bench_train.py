"""Training throughput of the Table 1 variants on the CPU (or CUDA): frames/s with the real HDF5
chunk loader and with in-memory tensors, the loader's share of a step, and the achieved GFLOP/s
against the machine's measured matmul throughput.

    .venv/bin/python benchmarks/bench_train.py [--cache data/cache/bp4d] [--steps 6] [--variants big_branch ...]

Without --cache it builds a small built-in BP4D+ cache (3 subjects) in a temporary folder.
"""

from __future__ import annotations

import argparse
import contextlib
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.cache.dataset import ChunkDataset  # noqa: E402
from pipeline.compute_audit import audit_variant  # noqa: E402
from pipeline.config import load_params  # noqa: E402
from pipeline.ingest import ingest_dataset  # noqa: E402
from pipeline.models.device import place  # noqa: E402
from pipeline.models.registry import build_model, variant_info  # noqa: E402
from pipeline.preprocess import preprocess_from_params  # noqa: E402
from pipeline.synth.generate import generate_dataset  # noqa: E402
from pipeline.train.loss import MultiTaskLoss, task_label  # noqa: E402

VARIANTS = ("small_branch", "big_branch", "bigsmall_no_downsampling", "bigsmall_no_shift", "bigsmall_tsm", "bigsmall")


def small_cache(work: Path) -> Path:
    params = load_params(ROOT / "params.yaml")
    params["synth"]["bp4d"].update(subjects=["F003", "M003", "F001"], au_task_frames=150, au_coded_frames=120)
    raw, interim, cache = work / "raw", work / "manifest.csv", work / "cache"
    generate_dataset(params, "bp4d", raw)
    ingest_dataset("bp4d", raw, interim, params)
    preprocess_from_params("bp4d", raw, interim, cache, params, progress=False)
    return cache


def matmul_gflops(device: torch.device, n: int = 1024, reps: int = 10) -> float:
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e9


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, default=None)
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--batch-chunks", type=int, default=16)
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="bf16")
    ap.add_argument("--memory-format", choices=["channels_last", "contiguous"], default="channels_last",
                    help="conv weights as the trainer places them (channels_last) or NCHW")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS),
                    help="registered variants to time (default: the Table 1 rows)")
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    work = Path(tempfile.mkdtemp(prefix="bench_train_"))
    try:
        cache = args.cache or small_cache(work)
        peak = matmul_gflops(device)
        print(f"device {device}, {torch.get_num_threads()} threads, fp32 matmul {peak:.1f} GFLOP/s, "
              f"precision {args.precision}, {args.memory_format}, batches of {args.batch_chunks} chunks of 3 frames")
        print(f"{'variant':26s} {'loader fr/s':>11s} {'memory fr/s':>11s} {'loader share':>12s} {'GFLOP/s':>8s}")
        for name in args.variants:
            info = variant_info(name)
            tasks = list(info.tasks)
            labels = [task_label(t, "pos_ppg") for t in tasks]
            ds = ChunkDataset(cache, None, 3, tasks=labels, inputs=info.inputs)
            torch.manual_seed(0)
            model = build_model(name, seed=0, tasks=tuple(tasks), **({"n_au": 12} if "au" in tasks else {}))
            model = place(model, device) if args.memory_format == "channels_last" else model.to(device)
            crit = MultiTaskLoss(tasks, "pos_ppg", None)
            opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
            n = len(ds)
            batches = [[(s * args.batch_chunks + k) % n for k in range(args.batch_chunks)] for s in range(args.steps + 1)]

            def load(idx):
                big, small, lab = torch.utils.data.default_collate([ds[i] for i in idx])
                flat = lambda x: x.reshape(-1, *x.shape[2:]).to(device)  # noqa: E731
                return (flat(big) if "big" in info.inputs else None, flat(small) if "small" in info.inputs else None,
                        {k: v.to(device) for k, v in lab.items()})

            def step(batch):
                big, small, lab = batch
                ctx = (torch.autocast(device.type, dtype=torch.bfloat16) if args.precision == "bf16"
                       else contextlib.nullcontext())
                with ctx:
                    total, _ = crit(model(big, small), lab)
                opt.zero_grad()
                total.backward()
                opt.step()

            step(load(batches[0]))  # warm-up
            t_load = t_step = 0.0
            kept = []
            for idx in batches[1:]:
                t0 = time.perf_counter()
                batch = load(idx)
                t1 = time.perf_counter()
                step(batch)
                t2 = time.perf_counter()
                t_load += t1 - t0
                t_step += t2 - t1
                kept.append(batch)
            t0 = time.perf_counter()
            for batch in kept:
                step(batch)
            t_mem = time.perf_counter() - t0
            frames = args.steps * args.batch_chunks * 3
            mflops = audit_variant(name, 3)["mflops_per_frame"]  # forward, per output frame
            gflops = frames / t_mem * mflops * 3 / 1e3  # forward + backward ~ 3x the forward count
            print(f"{name:26s} {frames / (t_load + t_step):11.1f} {frames / t_mem:11.1f} "
                  f"{t_load / (t_load + t_step):12.1%} {gflops:8.1f}")
            ds.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Inference throughput and latency of every registered model variant.

    python benchmarks/bench_models.py [--variants bigsmall drml] [--large 16] [--cuda-large 180]
                                      [--min-time 0.3] [--threads N] [--json out.json]

For each variant and device (CPU, and CUDA when available) it times the forward pass in eval
mode on batch 1 (one chunk of N=3 frames) and on a large batch of chunks, and prints the
median latency per batch and the frames per second (output frames, i.e. predictions).
The default CPU run takes about 2-3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.models import build_model, list_variants, variant_info  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_forward(name: str, n_chunks: int, device: torch.device, n_frames: int = 3,
                 min_time: float = 0.3, max_iters: int = 50) -> dict:
    """Median seconds per forward of ``n_chunks`` chunks, after one warm-up pass."""
    info = variant_info(name)
    model = build_model(name, seed=0, n_frames=n_frames).to(device).eval()
    nt = n_chunks * n_frames
    big = torch.randn(nt, 3, 144, 144, device=device) if "big" in info.inputs else None
    small = torch.randn(nt, 3, 9, 9, device=device) if "small" in info.inputs else None
    times: list[float] = []
    with torch.inference_mode():
        model(big, small)  # warm-up (allocations, kernel selection)
        _sync(device)
        start = time.perf_counter()
        while len(times) < 2 or (sum(times) < min_time and len(times) < max_iters):
            t0 = time.perf_counter()
            model(big, small)
            _sync(device)
            times.append(time.perf_counter() - t0)
            if time.perf_counter() - start > 10 * max(min_time, 0.1):
                break
    sec = statistics.median(times)
    return {"variant": name, "device": device.type, "chunks": n_chunks, "frames": nt,
            "latency_ms": 1e3 * sec, "frames_per_s": nt / sec, "iters": len(times)}


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", nargs="*", default=None, help="default: every registered variant")
    parser.add_argument("--large", type=int, default=16, help="chunks in the large CPU batch")
    parser.add_argument("--cuda-large", type=int, default=180, help="chunks in the large CUDA batch (paper batch)")
    parser.add_argument("--min-time", type=float, default=0.3, help="seconds of timed passes per case")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--no-cuda", action="store_true")
    parser.add_argument("--json", type=Path, default=None, help="also write the rows as JSON")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = True
    variants = args.variants or list_variants()
    devices = [(torch.device("cpu"), args.large)]
    if torch.cuda.is_available() and not args.no_cuda:
        devices.append((torch.device("cuda"), args.cuda_large))
    rows = []
    header = f"{'variant':24s} {'device':6s} {'frames':>6s} {'latency ms':>11s} {'frames/s':>10s}"
    print(f"torch {torch.__version__}, CPU threads {torch.get_num_threads()}, "
          f"CUDA {torch.cuda.get_device_name(0) if len(devices) > 1 else 'not used'}")
    print(header)
    for device, large in devices:
        for name in variants:
            for n_chunks in (1, large):
                row = time_forward(name, n_chunks, device, min_time=args.min_time)
                rows.append(row)
                print(f"{name:24s} {row['device']:6s} {row['frames']:6d} {row['latency_ms']:11.2f} "
                      f"{row['frames_per_s']:10.1f}", flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return rows


if __name__ == "__main__":
    main()

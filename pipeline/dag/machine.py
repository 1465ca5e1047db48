"""What the machine running the DAG offers its jobs, asked without importing torch (which would
add seconds to every Snakemake start)."""

from __future__ import annotations

import glob
import os
from typing import Mapping


def local_gpus(environ: Mapping[str, str] | None = None, device_glob: str = "/dev/nvidia[0-9]*") -> int:
    """CUDA devices a job started here would see: the entries of ``CUDA_VISIBLE_DEVICES`` when it
    is set (empty or ``-1``: none), else the NVIDIA device files."""
    env = os.environ if environ is None else environ
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        entries = [d.strip() for d in visible.split(",")]
        # CUDA stops at the first invalid entry, such as -1
        count = 0
        for d in entries:
            if not d or d.startswith("-"):
                break
            count += 1
        return count
    return len(glob.glob(device_glob))

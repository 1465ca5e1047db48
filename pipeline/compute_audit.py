"""Compute audit: parameters and FLOPs per output frame of every registered model variant,
beside the published figures (paper Table 1, supp. Table 3).

``python -m pipeline compute-audit --params params.yaml --out results/compute/audit.csv``
writes the CSV (one row per variant) and ``audit.json`` next to it (per-operator counts,
tolerance checks, provenance). FLOPs follow the paper's convention (see
``pipeline.models.flops``), counted by fvcore on one chunk of N frames and divided by N.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import yaml

from pipeline.atomic import write_json, write_text
from pipeline.config import load_params
from pipeline.errors import InputError
from pipeline.models.flops import count_flops
from pipeline.models.registry import build_model, count_params, list_variants, variant_info
from pipeline.provenance import provenance

REFERENCE_PATH = Path(__file__).resolve().parent / "reference" / "compute_published.yaml"
COLUMNS = [
    "variant", "params", "published_params", "params_rel_diff", "mflops_per_frame",
    "published_mflops", "mflops_rel_diff", "source", "note",
]

# What the table must say about variants without a published figure (deviations included).
NOTES = {
    "bigsmall_gray_big": "no published compute (supp. Table 4 gives none); Big conv 1 reads one channel, the mean over RGB",
    "bigsmall_aligned_bn": "no published compute; BatchNorm after Big convs 1, 3, 5 counted as 2 FLOPs per element (fvcore)",
    "big_branch_aligned_bn": "no published compute; the Big branch with BatchNorm after convs 1, 3, 5 (counted as 2 FLOPs per element, fvcore)",
    "bigsmall_pp": (
        "no published compute (paper: about one third of JAA-Net per frame at N=3); Big branch is "
        "the simplified JAA-Net trunk (HMR region layers, global convs) pooled to 64x9x9"
    ),
    "deepphys": "no published compute; 9x9 adaptation of the authors' code (no pooling, head 5184->128->1); appearance frame area-averaged from 144x144 (pooling inputs counted)",
    "mtts_can": "no published compute; 9x9 adaptation (TSM, no pooling), pulse + breathing heads; appearance frame area-averaged from 144x144",
    "efficientphys": "no published compute; 9x9 adaptation on the normalised difference frames (the original differences N+1 raw frames in-model)",
    "drml": "no published compute; region layer cells are near-equal splits of the 134x134 map",
    "alexnet": "no published compute; torchvision layout on 144x144 (2304 flattened features)",
    "jaanet_2018": (
        "no published compute; the JAA-Net row [39] of paper Table 2 (ECCV 2018), simplified: "
        "no face-alignment branch or landmark loss (no landmark labels), learned per-AU attention "
        "instead of landmark-initialised refined attention, one logit per AU, 144x144 input "
        "instead of 176x176; its IJCV 2021 extension [40] is jaanet_2021"
    ),
    "jaanet_2021": (
        "no published compute; the JÂA-Net row [40] of paper Table 2 (IJCV 2021): jaanet_2018 plus "
        "one local AU detection head per AU (a 64 -> 1 linear map on that AU's attention-pooled "
        "feature, 780 parameters), trained on the AU labels so that it refines the attention maps; "
        "the same simplifications as jaanet_2018: no face-alignment branch or landmark loss (no "
        "landmark labels; the aligned cache puts the landmarks at the template), learned per-AU "
        "attention without landmark initialisation or attention constraint, one logit per AU with "
        "weighted BCE instead of softmax + dice, 144x144 input instead of 176x176"
    ),
}


def load_reference(path: Path = REFERENCE_PATH) -> dict[str, Any]:
    """The published compute figures; InputError naming the file if unreadable."""
    try:
        ref = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError):
        raise InputError(path, "published compute reference unreadable") from None
    if not isinstance(ref, dict) or not isinstance(ref.get("variants"), dict):
        raise InputError(path, "published compute reference lacks a 'variants' mapping")
    return ref


def _rel(value: float, reference: float | None) -> float | None:
    return None if reference in (None, 0) else (value - reference) / reference


def audit_variant(name: str, n_frames: int, big_size: int = 144, small_size: int = 9,
                  flops: bool = True) -> dict[str, Any]:
    """Params and FLOPs per output frame of one variant, from one chunk of ``n_frames``.

    The parameters are counted on the built model before any forward pass; ``flops=False``
    stops there (``{"params": n}``), without tracing a full-size chunk.
    """
    model = build_model(name, seed=0, n_frames=n_frames)
    params = count_params(model)
    if not flops:
        return {"params": params}
    big = torch.zeros(n_frames, 3, big_size, big_size)
    small = torch.zeros(n_frames, 3, small_size, small_size)
    counted = count_flops(model, (big, small))
    return {
        "params": params,
        "flops_per_chunk": counted.total,
        "mflops_per_frame": counted.total / n_frames / 1e6,
        "by_operator": counted.by_operator,
        "uncounted_ops": counted.uncounted_ops,
    }


def compute_audit(variants: list[str], n_frames: int, flops_tolerance: float,
                  reference: dict[str, Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Audit rows (COLUMNS) and per-variant details with the tolerance checks.

    Published figures are compared only at the published chunk length; ``published_params`` is
    the exact count of the authors' public model class that the printed figure rounds.
    """
    unknown = sorted(set(variants) - set(list_variants()))
    if unknown:
        raise InputError(REFERENCE_PATH, f"unknown variants in compute.variants: {', '.join(unknown)}")
    comparable = n_frames == int(reference.get("chunk_length", 3))
    rows, details = [], {}
    for name in variants:
        info = variant_info(name)
        measured = audit_variant(name, n_frames)
        pub = reference["variants"].get(info.published_key) if info.published_key else None
        pub = pub if (pub and comparable) else None
        pub_params = pub["params_exact"] if pub else None
        pub_mflops = pub["mflops_published"] if pub else None
        p_rel, f_rel = _rel(measured["params"], pub_params), _rel(measured["mflops_per_frame"], pub_mflops)
        if pub:
            note = pub.get("note") or ""
            source = pub["source"]
        else:
            note = NOTES.get(name, "no published compute")
            if info.published_key and not comparable:
                note = f"published figures are for N={reference.get('chunk_length')}; audited at N={n_frames}"
            source = "measured only"
        checks = {
            "params_match": None if pub is None else measured["params"] == pub_params,
            "params_rounding_match": None if pub is None else round(measured["params"] / 1e6, 2) == pub["params_published_m"],
            "flops_within_tolerance": None if pub is None else abs(f_rel) <= flops_tolerance,
            "mflops_authors_code": pub.get("mflops_authors_code") if pub else None,
        }
        rows.append({
            "variant": name, "params": measured["params"], "published_params": pub_params,
            "params_rel_diff": p_rel, "mflops_per_frame": round(measured["mflops_per_frame"], 4),
            "published_mflops": pub_mflops, "mflops_rel_diff": None if f_rel is None else round(f_rel, 6),
            "source": source, "note": " ".join(note.split()),
        })
        details[name] = {**measured, **checks, "family": info.family, "tasks": list(info.tasks),
                         "inputs": list(info.inputs)}
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["published_params"] = table["published_params"].astype("Int64")  # integers with blanks
    return table, details


def write_compute_audit(settings: dict, out: Path, seed: int | None = None) -> None:
    """Audit the variants of ``settings`` (the compute section, with a run's overrides); write
    the table to ``out`` (CSV) and the details to audit.json beside it, then fail (InputError)
    when ``settings['strict']`` and a count disagrees with the published figure."""
    variants = list_variants() if settings["variants"] == "all" else list(settings["variants"])
    reference = load_reference()
    table, details = compute_audit(variants, settings["n_frames"], settings["flops_tolerance"], reference)
    failures = [
        f"{v}: params {d['params']}" if d["params_match"] is False else f"{v}: FLOPs outside tolerance"
        for v, d in details.items()
        if d["params_match"] is False or d["flops_within_tolerance"] is False
    ]
    out = Path(out)
    buf = io.StringIO()
    table.to_csv(buf, index=False)
    write_text(out, buf.getvalue())
    write_json(out.with_name("audit.json"), {
        "convention": reference.get("convention"),
        "n_frames": settings["n_frames"],
        "flops_tolerance": settings["flops_tolerance"],
        "all_checks_pass": not failures,
        "failures": failures,
        "variants": details,
        "provenance": provenance(settings, [REFERENCE_PATH], seed),
    })
    print(table[["variant", "params", "mflops_per_frame", "published_mflops", "mflops_rel_diff"]].to_string(index=False))
    if failures and settings["strict"]:
        raise InputError(REFERENCE_PATH, "compute audit disagrees with the published figures: " + "; ".join(failures))

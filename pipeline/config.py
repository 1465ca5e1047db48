"""Loading and validating params.yaml, the single configuration of both DAG engines.

The schema lives in ``workflow/schemas/params.schema.yaml``; each top-level section may keep
its own schema in ``workflow/schemas/sections/<name>.schema.yaml`` referenced with ``$ref``.
Validation never fills defaults (a default DVC cannot see would break the engines' parity).
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from pipeline.errors import ConfigError

REPO_ROOT = Path(__file__).resolve().parent.parent
SCHEMA_PATH = REPO_ROOT / "workflow" / "schemas" / "params.schema.yaml"
DEFAULT_PARAMS = Path("params.yaml")


# libyaml's parser where PyYAML was built with it (its wheels are): the same documents, about ten
# times faster than the pure-Python one, which matters at each Snakemake start (about 30 files)
SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def read_yaml(path: Path) -> Any:
    """A YAML file's content; ConfigError naming the file (and line) when missing or malformed."""
    try:
        with open(path) as fh:
            return yaml.load(fh, Loader=SAFE_LOADER)
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{path}:{where} not valid YAML") from None


def _inline_refs(node: Any, base: Path) -> Any:
    """Replace file ``$ref`` entries by the referenced schema (relative to ``base``)."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith("#"):
            target = (base / ref).resolve()
            return _inline_refs(read_yaml(target), target.parent)
        return {k: _inline_refs(v, base) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline_refs(v, base) for v in node]
    return node


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    """The full params schema with every section inlined."""
    return _inline_refs(read_yaml(path), path.parent)


def _dotted(path: Any) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def validate_params(params: dict, source: str = "params.yaml") -> dict:
    """Validate ``params`` against the schema and the lists naming datasets against 'datasets';
    raise ConfigError naming the first bad key."""
    if not isinstance(params, dict):
        raise ConfigError(f"{source}: top level must be a mapping")
    validator = jsonschema.Draft202012Validator(load_schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: (len(e.path), list(map(str, e.path))))
    if errors:
        err = errors[0]
        if err.validator == "additionalProperties":
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            key = _dotted(list(err.path) + extra[:1])
            raise ConfigError(f"{source}: unknown key '{key}'")
        if err.validator == "required":
            raise ConfigError(f"{source}: {err.message} (in '{_dotted(err.path)}')")
        raise ConfigError(f"{source}: key '{_dotted(err.path)}': {err.message}")
    check_dataset_lists(params, source)
    check_cache_variants(params, validator, source)
    return params


def variant_section(params: dict, variant: str | None = None) -> dict:
    """The ``preprocess`` section with cache variant ``variant``'s values over it
    (``cache_variants.<variant>``; a nested mapping such as ``face_alignment`` is merged key by key)."""
    section = copy.deepcopy(params["preprocess"])
    if variant is None:
        return section
    variants = params.get("cache_variants") or {}
    if variant not in variants:
        raise ConfigError(f"params.yaml: no cache variant '{variant}' in 'cache_variants' ({', '.join(sorted(variants))})")
    for key, value in (variants[variant] or {}).items():
        if isinstance(value, dict) and isinstance(section.get(key), dict):
            section[key] = {**section[key], **copy.deepcopy(value)}
        else:
            section[key] = copy.deepcopy(value)
    return section


def check_cache_variants(params: dict, validator: jsonschema.Draft202012Validator, source: str = "params.yaml") -> None:
    """Each cache variant, merged over the preprocess section, must be a valid preprocess section."""
    schema = validator.schema["properties"]["preprocess"]
    for name, overrides in (params.get("cache_variants") or {}).items():
        unknown = sorted(set(overrides or {}) - set(params["preprocess"]))
        if unknown:
            raise ConfigError(f"{source}: key 'cache_variants.{name}.{unknown[0]}': not a key of 'preprocess'")
        errors = list(jsonschema.Draft202012Validator(schema).iter_errors(variant_section(params, name)))
        if errors:
            err = errors[0]
            raise ConfigError(f"{source}: key 'cache_variants.{name}.{_dotted(err.path)}': {err.message}")


def _dataset_lists(params: dict) -> list[tuple[str, list[str]]]:
    """Every key besides 'datasets' that names datasets, with the names it holds."""
    waveform = params["report"]["example_waveform"]["dataset"]
    return [
        ("synth.datasets", list(params["synth"]["datasets"])),
        ("preprocess.crop_to_au_range", list(params["preprocess"]["crop_to_au_range"])),
        ("report.example_waveform.dataset", [] if waveform is None else [waveform]),
    ]


def check_dataset_lists(params: dict, source: str = "params.yaml") -> None:
    """Each list naming datasets must stay within 'datasets', so narrowing it narrows everything.

    A generated dataset that is not ingested, an evaluation of a dataset that is not
    preprocessed, or a setting for a dataset that is not run is a forgotten edit: one line
    naming the key, never a DAG with jobs the user removed.
    """
    datasets = list(params["datasets"])
    for key, names in _dataset_lists(params):
        extra = [n for n in names if n not in datasets]
        if extra:
            raise ConfigError(
                f"{source}: key '{key}' names {', '.join(extra)}, not in 'datasets' "
                f"[{', '.join(datasets)}]: remove {'it' if len(extra) == 1 else 'them'} there or add "
                f"{'it' if len(extra) == 1 else 'them'} to 'datasets'"
            )


def load_params(path: str | Path = DEFAULT_PARAMS) -> dict:
    """Read and validate params.yaml."""
    path = Path(path)
    return validate_params(read_yaml(path), str(path))


def get(params: dict, dotted_key: str) -> Any:
    """Value at a dotted key, e.g. ``get(p, "preprocess.big_size")``."""
    node: Any = params
    for part in dotted_key.split("."):
        if not isinstance(node, dict) or part not in node:
            raise ConfigError(f"params.yaml: missing key '{dotted_key}'")
        node = node[part]
    return copy.deepcopy(node)


def params_hash(obj: Any) -> str:
    """Stable short hash of a JSON-serialisable value (params subsets, cache keys)."""
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]

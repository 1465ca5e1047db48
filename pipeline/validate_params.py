"""``python -m pipeline validate-params [--params FILE]``: check params.yaml against its schema."""

from __future__ import annotations

import argparse

from pipeline.config import load_params


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m pipeline validate-params")
    parser.add_argument("--params", default="params.yaml")
    args = parser.parse_args(argv)
    load_params(args.params)
    print(f"{args.params}: ok")

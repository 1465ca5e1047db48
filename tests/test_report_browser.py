"""reports/index.html as a reader sees it: opened in headless Chromium (Debian's package, which
the test set-up installs where it can), every image must load, every table must have rows and the
page must log no console error. The full-page screenshot is written beside the report
(``index.png``) to be looked at."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.report import build
from tests.browser import find_chromium, inspect_page
from tests.test_report import _au_predictions, _params, inputs, write_table1_bigsmall  # noqa: F401  (the fixture)

CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium on PATH: install Debian's 'chromium' package (scripts/setup.sh does so when run as root)")


def _learned_inputs(tmp_path) -> dict:
    """Aggregated Table 1 metrics of one run, its per-trial rates and per-frame AU decisions."""
    aus = ["AU01", "AU02"]
    metrics = {f"au.f1.{au}": {"mean": 30.0 + k, "std": None, "n_folds": 1} for k, au in enumerate(aus)}
    metrics.update({"baselines.hr_train_mean.value": {"mean": 76.0, "per_fold": {"fold1": 76.0}},
                    "au.f1_mean": {"mean": 30.5, "std": 1.0, "n_folds": 1, "ci95": None},
                    "baselines.au_all_positive.f1_mean": {"mean": 40.0, "std": None, "n_folds": 1},
                    "pulse.hr_mae": {"mean": 6.0, "std": None, "n_folds": 1, "ci95": [4.0, 8.0]}})
    path = write_table1_bigsmall(tmp_path, metrics)
    folder = tmp_path / "results" / "runs" / "table1" / "bigsmall" / "fold1"
    folder.mkdir(parents=True)
    pd.DataFrame({"fold": "fold1", "trial_id": ["F001T1", "M002T1"], "window_start_s": 0.0,
                  "subject": ["F001", "M002"], "hr_pred": [73.0, 80.0], "hr_true": [71.0, 81.0],
                  "hr_abs_err": [2.0, 1.0], "hr_status": ["ok", "ok"]}).to_csv(folder / "predictions.csv", index=False)
    _au_predictions(folder / "predictions.h5", "fold1", ["F001", "M002"],
                    lambda t: np.where(t == 1, 1.0, -1.0), au_names=aus)
    return {"experiments": [path], "learned_predictions": [folder / "predictions.csv"],
            "learned_au": [folder / "predictions.h5"]}


def test_report_in_headless_chromium(inputs, tmp_path):  # noqa: F811  (the imported fixture)
    out = tmp_path / "reports"
    build.build_report(_params(), dataclasses.replace(inputs, **_learned_inputs(tmp_path)), out)
    page = inspect_page(out / "index.html", CHROMIUM)
    (out / "index.png").write_bytes(page.screenshot)
    if os.environ.get("REPORT_SCREENSHOT"):  # to look at it: REPORT_SCREENSHOT=<png> pytest -s -k chromium
        Path(os.environ["REPORT_SCREENSHOT"]).write_bytes(page.screenshot)
        print(f"{len(page.images)} images, {len(page.tables)} tables {[t['rows'] for t in page.tables]}, "
              f"errors {page.errors}, page {page.width}x{page.height}")
    assert page.images, "the report shows no figure"
    assert [i["src"] for i in page.images if not i["loaded"]] == []
    assert page.tables and [t for t in page.tables if t["rows"] == 0] == []
    assert page.errors == []
    # nothing wider than the window: wide tables scroll inside their own box
    assert page.width <= page.viewport
    assert page.screenshot[:8] == b"\x89PNG\r\n\x1a\n"

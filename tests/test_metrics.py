"""Rate metrics (supp. E.3) and AU metrics (supp. E.4) against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pipeline.metrics.au import au_accuracy, au_f1, au_metrics, binarise_logits, sigmoid
from pipeline.metrics.rates import mae, mape, pearson, rate_metrics, rmse

PRED = np.array([70.0, 80.0, 90.0])
GT = np.array([72.0, 78.0, 95.0])  # errors gt - pred: 2, -2, 5


def test_rate_metrics_hand_computed() -> None:
    assert mae(PRED, GT) == pytest.approx(3.0, abs=1e-12)
    assert rmse(PRED, GT) == pytest.approx(math.sqrt(11.0), abs=1e-12)
    assert mape(PRED, GT) == pytest.approx(100.0 * (2 / 72 + 2 / 78 + 5 / 95) / 3, abs=1e-12)
    # deviations: pred (-10, 0, 10); gt (-29/3, -11/3, 40/3); sum of products 230,
    # sums of squares 200 and 2562/9.
    assert pearson(PRED, GT) == pytest.approx(690.0 / math.sqrt(512400.0), abs=1e-12)
    out = rate_metrics(PRED, GT)
    assert out["n"] == 3 and out["mae"] == pytest.approx(3.0)
    assert set(out) == {"mae", "rmse", "mape", "pearson", "n"}


def test_rate_metrics_perfect_and_anticorrelated() -> None:
    x = np.array([60.0, 75.0, 90.0, 120.0])
    assert rate_metrics(x, x) == {"mae": 0.0, "rmse": 0.0, "mape": 0.0, "pearson": 1.0, "n": 4}
    assert pearson(-x, x) == pytest.approx(-1.0)


def test_rate_metrics_degenerate() -> None:
    assert math.isnan(pearson(np.array([70.0, 70.0]), np.array([60.0, 80.0])))  # constant prediction
    assert math.isnan(pearson(np.array([70.0]), np.array([60.0])))  # a single trial
    assert mae(np.array([70.0]), np.array([60.0])) == 10.0
    assert math.isnan(mape(np.array([1.0, 2.0]), np.array([0.0, 2.0])))  # zero ground truth
    with pytest.raises(ValueError):
        mae(np.array([]), np.array([]))
    with pytest.raises(ValueError):
        rmse(np.array([1.0, 2.0]), np.array([1.0]))
    with pytest.raises(ValueError):
        rate_metrics(np.array([np.nan, 1.0]), np.array([1.0, 1.0]))


def test_au_f1_and_accuracy_hand_computed() -> None:
    # AU a: TP 2, FP 1, FN 1, TN 1 -> F1 = 100*4/6, acc 60 %.
    # AU b: TP 0, FP 0, FN 2, TN 3 -> F1 0, acc 60 %.
    pred = np.array([[1, 0], [1, 0], [0, 0], [0, 0], [1, 0]])
    gt = np.array([[1, 1], [0, 1], [1, 0], [0, 0], [1, 0]])
    np.testing.assert_allclose(au_f1(pred, gt), [400.0 / 6.0, 0.0])
    np.testing.assert_allclose(au_accuracy(pred, gt), [60.0, 60.0])
    out = au_metrics(pred, gt, names=["AU1", "AU2"])
    assert out["f1"] == pytest.approx({"AU1": 400.0 / 6.0, "AU2": 0.0})
    assert out["f1_mean"] == pytest.approx(200.0 / 6.0)
    assert out["accuracy_mean"] == pytest.approx(60.0)
    assert out["positives"] == {"AU1": 3, "AU2": 2} and out["n_frames"] == 5


def test_au_no_positives_anywhere() -> None:
    pred = np.zeros((4, 1), dtype=int)
    gt = np.zeros((4, 1), dtype=int)
    assert au_f1(pred, gt)[0] == 0.0  # 2TP + FP + FN = 0: zero_division (scikit-learn's default)
    assert au_f1(pred, gt, zero_division=100.0)[0] == 100.0
    assert au_accuracy(pred, gt)[0] == 100.0


def test_au_inputs_checked() -> None:
    with pytest.raises(ValueError):
        au_f1(np.array([[0.3]]), np.array([[1]]))  # not binarised
    with pytest.raises(ValueError):
        au_f1(np.zeros((3, 2)), np.zeros((3, 3)))
    with pytest.raises(ValueError):
        au_metrics(np.zeros((3, 2)), np.zeros((3, 2)), names=["AU1"])
    np.testing.assert_allclose(au_f1(np.array([1, 0, 1]), np.array([1, 1, 1])), [80.0])  # 1-D = one AU


def test_sigmoid_threshold() -> None:
    logits = np.array([-800.0, -1e-9, 0.0, 1e-9, 2.0, 800.0])
    np.testing.assert_array_equal(binarise_logits(logits), [0, 0, 1, 1, 1, 1])  # sigmoid(0) = 0.5 -> 1
    assert sigmoid(np.array([0.0]))[0] == 0.5
    assert np.all(np.isfinite(sigmoid(logits)))
    np.testing.assert_array_equal(binarise_logits(logits, threshold=0.9), [0, 0, 0, 0, 0, 1])

"""API checks over every registered metric: naming, direction, description, module layout."""

from __future__ import annotations

import importlib

import pytest

import metrics  # noqa: F401  (registers the metrics)
from harness.api import METRICS

LOWER_IS_BETTER = {"hamming_loss"}


def test_expected_metrics_are_registered() -> None:
    assert {"map", "mxinfap", "avs_infap", "hamming_loss", "top1_accuracy", "top5_accuracy",
            "frame_accuracy", "video_accuracy", "coview", "segment_accuracy"} <= set(METRICS.names())


@pytest.mark.parametrize("name", METRICS.names())
def test_metric_spec(name: str) -> None:
    spec = METRICS.get(name)
    assert spec.name == name
    assert spec.higher_is_better is (name not in LOWER_IS_BETTER)
    assert spec.description and len(spec.description) > 20
    assert "scores" in spec.requires
    # one plugin per module, file name = registered name
    module = importlib.import_module(f"metrics.{name}")
    assert spec.fn.__module__ == module.__name__

"""The two reference plugins end to end through the real CLI on their miniatures (cached ``mini_alexnet``):
``nearest_class_mean`` on ``ucf101-mini`` (multiclass) and ``coview_gap_linear`` on ``coview2019-mini``
(multi-head): ``harness list methods``, ``harness run`` (recorded heads and metrics) and
``harness tune --trials 3`` (validation-only trials scored by the protocol's ``val_metric``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from harness.cli import main

pytestmark = pytest.mark.slow

CASES = {
    "nearest_class_mean": ("ucf101-mini", "video_accuracy", "video_accuracy"),
    "coview_gap_linear": ("coview2019-mini", "scene_action_score", "segment_accuracy"),
}


@pytest.fixture()
def cli(shared_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # noqa: ANN201
    monkeypatch.setenv("HARNESS_HOME", str(shared_home))  # miniatures and their features built once

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _tracker(out: Path):  # noqa: ANN202
    from harness.tracking import Tracker

    return Tracker(f"sqlite:///{out / 'mlflow.db'}", out)


def test_listed(cli) -> None:  # noqa: ANN001
    code, out, err = cli("list", "methods")
    assert code == 0, err
    for name in CASES:
        assert name in out


@pytest.mark.parametrize("method", sorted(CASES))
def test_run_records_the_protocols_numbers(cli, tmp_path: Path, method: str) -> None:  # noqa: ANN001
    dataset, headline, _ = CASES[method]
    out = tmp_path / "runs"
    code, stdout, err = cli("run", "--method", method, "--dataset", dataset, "--out", str(out), "--device", "cpu")
    assert code == 0, err
    assert "MINIATURE" in stdout
    table = pd.read_parquet(out / "results.parquet")
    overall = table[(table.metric == headline) & (table.concept == "")]
    assert len(overall) == 1 and overall.status.iloc[0] == "FINISHED"
    value = float(overall.value.iloc[0])
    run_id = overall.run_id.iloc[0]
    assert json.loads(overall.notes_json.iloc[0])["backbone"] == "mini_alexnet"  # backbone=auto, as declared
    tracker = _tracker(out)
    assert tracker.get_run(run_id).data.params["backbone"] == "auto"
    scores = np.load(tracker.client.download_artifacts(run_id, "scores.npz", str(tmp_path)))
    from harness import api

    test = api.DATASETS.get(dataset)().load(None).test  # the same miniature, from the shared cache
    assert list(scores["ids"]) == list(test.ids)
    metric = table[table.concept == ""].set_index("metric").value
    if method == "coview_gap_linear":
        # Every head the protocol names is stored, and the recorded numbers are those of the stored heads.
        assert {"scores.scene", "scores.action", "scores.importance"} <= set(scores.files), scores.files
        assert scores["scores.scene"].shape == (len(test), 6) and scores["scores.action"].shape == (len(test), 8)
        assert scores["scores.importance"].shape == (len(test),)
        assert 0.0 <= value <= 1.0
        scene = float(np.mean(scores["scores.scene"].argmax(axis=1) == test.labels[:, 0]))
        assert metric["segment_scene_accuracy"] == pytest.approx(scene, abs=1e-9)
    else:
        assert scores["scores"].shape == (len(test), 8)
        assert value == pytest.approx(float(np.mean(scores["scores"].argmax(axis=1) == test.labels)), abs=1e-9)


@pytest.mark.parametrize("method", sorted(CASES))
def test_tune_three_trials_on_the_val_metric(cli, tmp_path: Path, method: str) -> None:  # noqa: ANN001
    dataset, headline, val_metric = CASES[method]
    out = tmp_path / "tune"
    code, stdout, err = cli("tune", "--method", method, "--dataset", dataset, "--out", str(out), "--device", "cpu",
                            "--sampler", "random", "--trials", "3", "--no-plot")  # fmt: skip
    assert code == 0, err
    assert "trials counted: 3/3" in stdout
    lock = yaml.safe_load((out / "tuned" / f"{method}@{dataset}.yaml").read_text())
    assert lock["split"] == "val" and lock["metric"] == val_metric and lock["trials_counted"] == 3
    assert np.isfinite(lock["best_value"]) and 0.0 <= lock["best_value"] <= 1.0
    table = pd.read_parquet(out / "results.parquet")
    assert set(table.eval_split) == {"val"}  # the test split is never scored
    if headline != val_metric:  # UCF101 scores validation by its headline, clip accuracy
        assert headline not in set(table.metric)

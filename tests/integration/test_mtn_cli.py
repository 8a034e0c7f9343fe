"""``harness run --method mtn --dataset coview2019-mini`` end to end (cached conv4_x maps of the
miniature's source CNN, conv5_x copy trained): both Table 1 selection rules recorded from one run,
the three heads stored. Two epochs keep it short; the full ``mtn.table1`` is measured in the README."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.cli import main

pytestmark = pytest.mark.slow

COLUMNS = ("segment_scene_accuracy", "segment_action_accuracy", "hs_scene@1", "hs_action@1", "is_accuracy",
           "pp_hs_scene@1", "pp_hs_action@1", "pp_is_accuracy")  # fmt: skip


def test_run_records_both_selection_rules(shared_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("HARNESS_HOME", str(shared_home))  # the miniature and its features built once
    out = tmp_path / "runs"
    code = main(["run", "--method", "mtn", "--dataset", "coview2019-mini", "--out", str(out), "--device", "cpu",
                 "--set", "max_epochs=2", "--set", "warmup_epochs=1"])  # fmt: skip
    stdout, err = capsys.readouterr()
    assert code == 0, err
    assert "MINIATURE" in stdout and "batch_size=32" in stdout  # the declared miniature settings, printed
    table = pd.read_parquet(out / "results.parquet")
    overall = table[table.concept == ""].set_index("metric").value
    for key in COLUMNS:
        assert 0.0 <= overall[key] <= 1.0, key
    run_id = table.run_id.iloc[0]
    from harness.tracking import Tracker

    tracker = Tracker(f"sqlite:///{out / 'mlflow.db'}", out)
    scores = np.load(tracker.client.download_artifacts(run_id, "scores.npz", str(tmp_path)))
    scene, action, imp = scores["scores.scene"], scores["scores.action"], scores["scores.importance"]
    assert scene.shape[1] == 6 and action.shape[1] == 8 and ((imp >= 0) & (imp <= 2)).all()
    from harness import api

    test = api.DATASETS.get("coview2019-mini")().load(None).test
    assert overall["segment_scene_accuracy"] == pytest.approx(float(np.mean(scene.argmax(1) == test.labels[:, 0])))
    fit = json.loads(Path(tracker.client.download_artifacts(run_id, "fit.json", str(tmp_path))).read_text())["fit"]
    assert fit["epochs"] == 2 and fit["map_shapes"]["scene"] == [64, 7, 7]  # mini_alexnet conv4_x maps

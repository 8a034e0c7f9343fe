"""What a fit learned is recorded with its run: ``fit.*`` metrics/params/tags, ``fit.json``, config.yaml, parquet.

A real run through the runner of ``default_tl_hinge`` on ``trecvid2013-mini`` that chooses its
learning rate on the validation split over a two-value grid (1 epoch each, random mini_alexnet
weights, and the training split cut to a fifth of its videos so the run takes seconds).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from harness import api, runner
from harness.registry import load_plugins

pytestmark = pytest.mark.slow  # trains a Default-TL network (about 15 s)

GRID = (0.001, 0.01)
QUICK = ("max_epochs=1", f"lr_grid={GRID[0]},{GRID[1]}", "backbone_weights=random")


@pytest.fixture(scope="module")
def recorded(shared_home: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    load_plugins()
    out_dir = tmp_path_factory.mktemp("notes_runs")
    fitted: list[api.Method] = []
    cls = api.METHODS.get("default_tl_hinge")
    real_fit, real_load = cls.fit, runner.load_dataset

    def keep(self: api.Method, *args: Any, **kw: Any) -> api.Method:
        fitted.append(self)
        return real_fit(self, *args, **kw)

    def smaller(*args: Any, **kw: Any) -> api.Dataset:
        import dataclasses

        ds = real_load(*args, **kw)
        videos = np.unique(ds.train.groups)[::5]
        return dataclasses.replace(ds, train=ds.train.subset(np.flatnonzero(np.isin(ds.train.groups, videos))))

    # A home of its own (fitted networks and features of the cut data set must not reach other
    # tests); only the pretrained backbone is shared, as conftest's per-test homes do.
    home = tmp_path_factory.mktemp("notes_home")
    (home / "backbones").symlink_to(shared_home / "backbones", target_is_directory=True)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_HOME", str(home))
        mp.setattr(cls, "fit", keep)
        mp.setattr(runner, "load_dataset", smaller)
        result = runner.execute(runner.RunRequest(method="default_tl_hinge", dataset="trecvid2013-mini", sets=QUICK,
                                                  out_dir=out_dir, device="cpu"))  # fmt: skip
        from harness.tracking import Tracker

        tracker = Tracker(f"sqlite:///{out_dir / 'mlflow.db'}", out_dir)
        run = tracker.get_run(result.run_id)
        dst = tmp_path_factory.mktemp("artifacts")
        files = {name: Path(tracker.client.download_artifacts(result.run_id, name, str(dst)))
                 for name in ("fit.json", "config.yaml")}  # fmt: skip
    (method,) = fitted
    return {"result": result, "run": run, "method": method, "files": files, "out_dir": out_dir}


def test_chosen_learning_rate_is_an_mlflow_metric(recorded: dict[str, Any]) -> None:
    run, method = recorded["run"], recorded["method"]
    metrics = run.data.metrics
    assert method.lr_ in GRID
    assert metrics["fit.lr"] == method.lr_
    assert metrics["fit.best_epoch"] == method.best_epoch_ == 1
    assert metrics["fit.best_val_map"] == pytest.approx(method.best_val_map_)
    # The validation curve of the grid, one metric per candidate; the chosen one is its maximum.
    curve = {lr: metrics[f"fit.val_map_per_lr.{lr:g}"] for lr in GRID}
    assert max(curve, key=lambda lr: curve[lr]) == method.lr_
    assert max(curve.values()) == pytest.approx(metrics["fit.best_val_map"])


def test_non_numeric_notes_are_params_and_tags(recorded: dict[str, Any]) -> None:
    run, method = recorded["run"], recorded["method"]
    params, tags = run.data.params, run.data.tags
    assert params["run.backbone"] == "mini_alexnet"  # backbone=auto -> the miniature's declared default
    assert params["backbone"] == "auto"
    assert params["fit.backbone_name"] == method.backbone_name_ == "mini_alexnet"
    assert params["fit.network_key"] == method.network_key_
    assert json.loads(tags["fit.skipped_concepts"]) == list(method.skipped_concepts_)
    history = json.loads(tags["fit.history"])
    assert [h["lr"] for h in history] == list(GRID)


def test_fit_artifact_config_and_results_table(recorded: dict[str, Any]) -> None:
    method, result = recorded["method"], recorded["result"]
    fit = json.loads(recorded["files"]["fit.json"].read_text())
    assert fit["backbone"] == "mini_alexnet"
    assert fit["fit"]["lr"] == method.lr_
    assert fit["fit"]["val_map_per_lr"] == {f"{k:g}": pytest.approx(v) for k, v in
                                            ((float(k), v) for k, v in method.val_map_per_lr_.items())}  # fmt: skip
    assert len(fit["fit"]["history"]) == len(method.history_) == 2
    cfg = yaml.safe_load(recorded["files"]["config.yaml"].read_text())
    assert cfg["backbone"] == "mini_alexnet" and cfg["fit"]["lr"] == method.lr_
    assert result.fit_notes["lr"] == method.lr_ and result.backbone == "mini_alexnet"

    table = pd.read_parquet(recorded["out_dir"] / "results.parquet")
    rows = table[table.run_id == result.run_id]
    assert len(rows) > 1 and rows.notes_json.nunique() == 1
    notes = json.loads(rows.notes_json.iloc[0])
    assert notes["backbone"] == "mini_alexnet"
    assert notes["fit"]["lr"] == method.lr_ and notes["fit"]["best_epoch"] == method.best_epoch_

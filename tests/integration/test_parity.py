"""Parity: a run through the harness gives the same scores as calling the method directly."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

pytestmark = pytest.mark.slow


def test_harness_run_equals_direct_call(tmp_path: Path, shared_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(shared_home))
    from harness import api
    from harness.features import extract_features
    from harness.registry import load_plugins
    from harness.runner import RunRequest, execute
    from harness.seeding import derive_seed
    from harness.splits import group_holdout
    from harness.tracking import Tracker

    result = execute(RunRequest(method="lr", dataset="trecvid2013-mini", seed=4, out_dir=tmp_path, device="cpu"))
    tracker = Tracker(f"sqlite:///{tmp_path / 'mlflow.db'}", tmp_path)
    local = tracker.client.download_artifacts(result.run_id, "scores.npz", str(tmp_path))
    recorded = np.load(io.BytesIO(Path(local).read_bytes()))["scores"]

    load_plugins()
    ds = api.DATASETS.get("trecvid2013-mini")().load(None)
    cls = api.METHODS.get("lr")
    cfg = cls.Config()
    train, val = group_holdout(ds.train, 0.1, derive_seed(4, "validation"))
    spec = api.FeatureSpec(backbone=ds.info["default_backbone"], layer=cfg.layer)
    full = extract_features(ds, "train", ds.train, spec)
    pos = {i: k for k, i in enumerate(ds.train.ids)}
    feats = full[[pos[i] for i in train.ids]]
    method = cls(config=cfg, seed=derive_seed(4, "method"))
    method.fit(api.MethodData(ids=train.ids, groups=train.groups, concepts=ds.concepts, task=ds.task,
                              labels=train.labels, features=feats))
    direct = method.predict(api.MethodData(ids=ds.test.ids, groups=ds.test.groups, concepts=ds.concepts,
                                           task=ds.task, features=extract_features(ds, "test", ds.test, spec)))
    np.testing.assert_allclose(recorded, direct.astype(np.float32), rtol=1e-6)

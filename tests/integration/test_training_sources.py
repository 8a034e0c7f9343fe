"""A data set without a training split (TRECVID AVS) scored by detectors trained on another data set
through the runner's training sources: the source is loaded by its adapter, its features cached like
the target's, and its name and manifest hash recorded with the run."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness import api
from harness.cli import main
from harness.errors import InvalidParameterError
from harness.registry import load_plugins
from harness.run_eval import evaluate
from harness.runner import RunRequest, execute, load_dataset

pytestmark = pytest.mark.slow
load_plugins()


@pytest.fixture(scope="module")
def home(shared_home: Path) -> Path:
    return shared_home


def test_avs_run_trains_on_the_sin_miniature(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(home))
    out_dir = tmp_path / "runs"
    code = main(["run", "--method", "concept_bank_lr", "--dataset", "trecvid-avs2016-mini", "--out", str(out_dir),
                 "--device", "cpu"])  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "mxinfap" in out

    from harness.results import read_table

    table = read_table(out_dir)
    row = table[(table.metric == "mxinfap") & (table.concept == "") & (table.status == "FINISHED")]
    assert len(row) == 1
    run_id, value = row.run_id.iloc[0], float(row.value.iloc[0])

    from harness.tracking import Tracker

    run = Tracker(f"sqlite:///{out_dir / 'mlflow.db'}", out_dir).get_run(run_id)
    sin = load_dataset(api.DATASETS.get("trecvid2013-mini"), None, api.DATASETS.get("trecvid2013-mini").Config())
    assert run.data.tags["source.concepts.dataset"] == "trecvid2013-mini"
    assert run.data.tags["source.concepts.named"] == "trecvid2013"
    assert run.data.tags["source.concepts.manifest_hash"] == sin.manifest_hash
    assert json.loads(run.data.params["run.training_sources"].replace("'", '"')) == ["concepts"]

    # The detectors carry over: the run beats random shot rankings of the same collection.
    avs = load_dataset(api.DATASETS.get("trecvid-avs2016-mini"), None, api.DATASETS.get("trecvid-avs2016-mini").Config())
    rng = np.random.default_rng(0)
    chance = [evaluate(avs, rng.random((len(avs.test), len(avs.concepts)))).overall["mxinfap"] for _ in range(3)]
    assert value > 2 * max(chance), (value, chance)


def test_a_method_without_sources_is_refused_on_avs(tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(home))
    with pytest.raises(InvalidParameterError, match="no training split.*training sources"):
        execute(RunRequest(method="lr", dataset="trecvid-avs2016-mini", out_dir=tmp_path / "runs", device="cpu"))

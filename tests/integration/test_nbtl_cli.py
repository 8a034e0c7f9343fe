"""NB-TL through the real CLI on ucf101-mini: a run on split 2, and Table 1 with one fine-tuning for its six cells."""

from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main

pytestmark = pytest.mark.slow


def test_nbtl_run_and_table1_fine_tune_once(tmp_path: Path, shared_home: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    monkeypatch.setenv("HARNESS_HOME", str(shared_home))  # the miniature and its frame features, built once
    out = tmp_path / "runs"
    caplog.set_level(logging.INFO, logger="harness.fitted_methods")
    code = main(["run", "--method", "nbtl", "--dataset", "ucf101-mini", "--set", "split=2", "--out", str(out),
                 "--device", "cpu"])  # fmt: skip
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "video_accuracy" in stdout and "train_layers=fc" in stdout
    table = pd.read_parquet(out / "results.parquet")
    acc = table[(table.metric == "video_accuracy") & (table.concept == "") & (table.eval_split == "test")]
    assert len(acc) == 1 and 0.0 <= float(acc.value.iloc[0]) <= 1.0
    assert sum("fitting the source finetune_cnn" in r.getMessage() for r in caplog.records) == 1

    caplog.clear()
    code = main(["table", "nbtl.table1", "--dataset", "ucf101-mini", "--seeds", "1", "--out", str(out), "--device", "cpu"])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "6 executed, 0 failed" in stderr and "last two FC" in stdout
    fits = [r.getMessage() for r in caplog.records if "fitting the source finetune_cnn" in r.getMessage()]
    reuses = [r.getMessage() for r in caplog.records if "using the cached fitted finetune_cnn" in r.getMessage()]
    assert len(fits) == 1 and len(reuses) == 5  # split 1: one fine-tuning shared by the six cells

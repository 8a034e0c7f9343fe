"""``harness table dmtl_lc.table2 --dataset trecvid2013-mini --seeds 1`` end to end through the real CLI.

Every cell is run (networks shortened with ``--set`` so CI stays within minutes), recorded, aggregated
and rendered; a second call with ``--no-run`` reuses all of them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from harness.cli import main

pytestmark = pytest.mark.slow

QUICK = ["--set", "default_tl_hinge.max_epochs=1", "--set", "default_tl_hinge.lr_grid=0.001",
         "--set", "dmtl_lc.max_epochs=1", "--set", "dmtl_lc.lr_grid=0.01", "--set", "two_sided_nn.max_epochs=10",
         "--set", "amtl.max_iter=100", "--set", "cmtl.max_iter=100"]  # the solvers' 1000 iterations: ~15 s per AMTL run


def test_table2_on_the_miniature(tmp_path: Path, shared_home: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(shared_home))
    out = tmp_path / "runs"
    code = main(["table", "dmtl_lc.table2", "--dataset", "trecvid2013-mini", "--seeds", "1", "--out", str(out),
                 "--device", "cpu", *QUICK])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "Proposed DMTL_LC" in stdout and "25.04" in stdout and "MINIATURE" in stdout
    assert "0 failed, 0 missing" in stderr and "time per method" in stderr

    results = pd.read_parquet(out / "results.parquet")
    test_runs = results[(results.eval_split == "test") & (results.metric == "mxinfap") & (results.concept == "")]
    assert len(test_runs) == 15 and (test_runs.status == "FINISHED").all()
    assert set(test_runs.method) == {"default_tl_hinge", "lr", "lsvm", "ksvm", "amtl", "cmtl", "two_sided_nn", "dmtl_lc"}
    val_runs = results[(results.eval_split == "val") & (results.concept == "")]
    assert set(val_runs.method) == {"two_sided_nn"} and len(val_runs.run_id.unique()) == 4  # 2 lrs x 2 columns

    from harness.cache import Cache

    # The Default-TL network (b) is trained once: the LR/SVM/MTL features and DMTL_LC's init_from load it.
    fitted = [e for e in Cache().entries("finetuned") if e.meta["description"].get("process") == "b"]
    assert len(fitted) == 1, [(e.key, e.meta["description"]) for e in fitted]

    summary = json.loads((out / "tables" / "dmtl_lc.table2@trecvid2013-mini.json").read_text())
    cells = {(c["row"], c["column"]): c for c in summary["cells"]}
    direct = cells[("direct", "default_tl")]
    assert direct["n"] == 1 and len(direct["run_ids"]) == 1 and direct["published"] == 19.91 and direct["miniature"]
    assert cells[("direct", "alexnet")]["defined"] is False
    assert all(c["n"] == 1 for c in summary["cells"] if c["defined"])
    assert {c["text"] for c in summary["claims"]} >= {"DMTL_LC is the best method in each column"}

    code = main(["table", "dmtl_lc.table2", "--dataset", "trecvid2013-mini", "--seeds", "1", "--out", str(out),
                 "--no-run", "--format", "tex", *QUICK])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "0 executed" in stderr and "\\begin{tabular}" in stdout
    assert direct["run_ids"][0] in stdout, "every cell names its MLflow run ids"


def test_table_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["table", "dmtl_lc.table3", "--out", str(tmp_path)]) == 1
    assert "Paper 'dmtl_lc' has no table 'table3'" in capsys.readouterr().err
    assert main(["table", "dmtl_lc.table2", "--dataset", "ucf101-mini", "--no-run", "--out", str(tmp_path)]) == 1
    assert "is defined for trecvid2013, trecvid2013-mini" in capsys.readouterr().err
    assert main(["table", "dmtl_lc.table2", "--set", "max_epochs=2", "--no-run", "--out", str(tmp_path)]) == 1
    assert "METHOD.KEY=VALUE" in capsys.readouterr().err

"""``harness table --tuned`` end to end through the real CLI on a one-row table (LR on the miniature):
a 2-trial ``harness tune --method lr`` writes the lock; the table runs the default and the tuned row
on the test split, ``--no-run`` finds both again, and ``--tune-missing --trials 3`` extends the study."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.cli import main
from leaderboards import spec as spec_module

pytestmark = pytest.mark.slow

DATASET = "trecvid2013-mini"
SPEC = """\
paper: mini
metric: mxinfap
pair_metric: xinfap
unit: "%"
datasets: [trecvid2013-mini]
tables:
  lr:
    title: "LR on the source network's fc8"
    columns:
      - {key: fc8, label: "fc8"}
    rows:
      - {key: lr, label: LR, method: lr, published: {fc8: 18.57}}
"""


def test_tuned_lr_row_end_to_end(tmp_path: Path, shared_home: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    monkeypatch.setenv("HARNESS_HOME", str(shared_home))
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "mini.yaml").write_text(SPEC)
    monkeypatch.setattr(spec_module, "SPEC_DIR", specs)  # where get_table looks (leaderboards.spec)
    out = tmp_path / "runs"

    def cli(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        stdout, stderr = capsys.readouterr()
        return code, stdout, stderr

    table = ("table", "mini.lr", "--dataset", DATASET, "--out", str(out), "--device", "cpu")
    code, _, err = cli(*table, "--tuned", "--no-run")
    assert code == 1 and f"no lock file for (lr, {DATASET})" in err
    assert f"harness tune --method lr --dataset {DATASET} --trials 20 --out {out}" in err

    code, _, err = cli("tune", "--method", "lr", "--dataset", DATASET, "--out", str(out), "--device", "cpu",
                       "--sampler", "random", "--trials", "2", "--no-plot")  # fmt: skip
    assert code == 0, err
    lock = yaml.safe_load((out / "tuned" / f"lr@{DATASET}.yaml").read_text())

    code, stdout, err = cli(*table, "--tuned")
    assert code == 0, err
    assert "| LR (tuned) |" in stdout and "2 executed" in err
    assert f"study '{lock['study']}'" in stdout and f"best validation map {lock['best_value']:.4f}" in stdout
    summary = json.loads((out / "tables" / f"mini.lr@{DATASET}.json").read_text())
    cells = {c["row"]: c for c in summary["cells"]}
    tuned, default = cells["lr:tuned"], cells["lr"]
    assert tuned["n"] == 1 and default["n"] == 1 and tuned["n_pairs"] > 0 and 0 <= tuned["pvalue"] <= 1
    assert summary["tuned_from"]["lr"]["study"] == lock["study"]

    # The tuned run has the lock's parameters (the same config 'harness run --tuned' builds), so
    # its config hash equals that of the best validation trial -- and only the test run is used.
    results = pd.read_parquet(out / "results.parquet")
    overall = results[results.concept == ""].drop_duplicates("run_id").set_index("run_id")
    run = overall.loc[tuned["run_ids"][0]]
    assert run.eval_split == "test" and json.loads(run.params_json)["config"]["C"] == lock["params"]["C"]
    assert overall.loc[lock["mlflow_run_id"], "config_hash"] == run.config_hash
    assert overall.loc[lock["mlflow_run_id"], "eval_split"] == "val"

    # --no-run finds both rows again
    code, stdout2, err = cli(*table, "--tuned", "--no-run")
    assert code == 0, err
    assert "2 run(s) reused, 0 executed" in err and tuned["run_ids"][0] in stdout2

    # --tune-missing --trials 3: the lock (2 trials) has another budget, so the study is resumed to 3
    code, stdout, err = cli(*table, "--tuned", "--tune-missing", "--trials", "3", "--sampler", "random")
    assert code == 0, err
    assert "tuning lr on trecvid2013-mini with 3 trial(s) each" in err and "3/3 trials" in err
    lock3 = yaml.safe_load((out / "tuned" / f"lr@{DATASET}.yaml").read_text())
    assert lock3["study"] == lock["study"] and lock3["trials_requested"] == 3 and lock3["trials_counted"] == 3
    assert "3 trials counted (budget 3, requested 3" in stdout

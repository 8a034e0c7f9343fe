"""`harness tune` through the real CLI on the embedded defaults (SQLite study, local MLflow store):
validation-only objective, parent/child MLflow runs, resume, lock file and `harness run --tuned`,
grid sampler, status, bad input."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest
import yaml

from harness.cli import main

pytestmark = pytest.mark.slow

METHOD, DATASET = "lr", "trecvid2013-mini"


@pytest.fixture()
def cli(shared_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):  # noqa: ANN201
    monkeypatch.setenv("HARNESS_HOME", str(shared_home))

    def run(*args: str) -> tuple[int, str, str]:
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _tracker(out: Path):  # noqa: ANN202
    from harness.tracking import Tracker

    return Tracker(f"sqlite:///{out / 'mlflow.db'}", out)


def test_tune_resume_lock_and_run_tuned(cli, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "runs"
    common = ("--method", METHOD, "--dataset", DATASET, "--out", str(out), "--device", "cpu", "--sampler", "random")
    code, stdout, err = cli("tune", *common, "--trials", "2")
    assert code == 0, err
    assert "trials counted: 2/2" in stdout

    lock = yaml.safe_load((out / "tuned" / f"{METHOD}@{DATASET}.yaml").read_text())
    assert lock["split"] == "val" and lock["metric"] == "map" and lock["trials_counted"] == 2
    assert 2.0**-5 <= lock["params"]["C"] <= 2.0**15
    assert (out / "tuned" / f"{lock['study']}.history.png").exists()

    # every trial is a child run of the study's parent run, scored on the validation split only
    tracker = _tracker(out)
    exp = tracker.experiment_id(DATASET)
    parent = lock["mlflow_parent_run_id"]
    children = tracker.client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{parent}'")
    assert len(children) == 2
    assert {r.data.tags["harness.eval_split"] for r in children} == {"val"}
    assert max(r.data.metrics["map"] for r in children) == pytest.approx(lock["best_value"])
    table = pd.read_parquet(out / "results.parquet")
    assert set(table.eval_split) == {"val"} and "mxinfap" not in set(table.metric)  # the test split is never scored

    # resuming the same study to 3 trials runs exactly one more, under the same parent
    code, stdout, err = cli("tune", *common, "--trials", "3")
    assert code == 0, err
    assert "trials counted: 3/3 (this worker ran 1;" in stdout
    assert len(tracker.client.search_runs([exp], filter_string=f"tags.mlflow.parentRunId = '{parent}'")) == 3
    lock = yaml.safe_load((out / "tuned" / f"{METHOD}@{DATASET}.yaml").read_text())
    assert lock["mlflow_parent_run_id"] == parent and lock["trials_counted"] == 3

    code, stdout, err = cli("tune", "--status", "--out", str(out))
    assert code == 0 and f"{lock['study']}: 3 trials (complete 3)" in stdout and f"trial {lock['trial_number']}" in stdout

    # harness run --tuned uses the lock file's parameters on the test split
    code, stdout, err = cli("run", "--tuned", "--method", METHOD, "--dataset", DATASET, "--out", str(out), "--device", "cpu")
    assert code == 0, err
    table = pd.read_parquet(out / "results.parquet")
    test_rows = table[table.eval_split == "test"]
    run = tracker.get_run(test_rows.run_id.iloc[0])
    assert float(run.data.params["C"]) == lock["params"]["C"]
    assert run.data.tags["harness.tuned_from"].startswith(lock["study"])


def test_grid_sampler_stops_when_the_grid_is_exhausted(cli, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "grid"
    code, stdout, err = cli("tune", "--method", METHOD, "--dataset", DATASET, "--out", str(out), "--device", "cpu",
                            "--sampler", "grid", "--space", "C=choice(0.01,1.0)", "--trials", "5", "--no-plot")
    assert code == 0, err
    assert "trials counted: 2/2" in stdout and "grid exhausted" in stdout
    lock = yaml.safe_load((out / "tuned" / f"{METHOD}@{DATASET}.yaml").read_text())
    assert lock["params"]["C"] in (0.01, 1.0) and lock["budget"] == 2 and lock["trials_requested"] == 5


def test_baseline_scores_the_defaults_once_per_study(cli, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "baseline"
    common = ("tune", "--method", METHOD, "--dataset", DATASET, "--out", str(out), "--device", "cpu", "--sampler", "grid",
              "--space", "C=choice(0.01,1.0)", "--no-plot", "--baseline")
    code, stdout, err = cli(*common, "--trials", "1")
    assert code == 0, err
    lock = yaml.safe_load((out / "tuned" / f"{METHOD}@{DATASET}.yaml").read_text())
    baseline = lock["baseline"]
    assert "defaults (no tuning) on the validation split" in stdout
    tracker = _tracker(out)
    run = tracker.get_run(baseline["run_id"])
    assert run.data.tags["harness.role"] == "baseline" and run.data.tags["harness.eval_split"] == "val"
    assert run.data.params["C"] == "1.0"  # lr's default
    assert run.data.tags["mlflow.parentRunId"] == lock["mlflow_parent_run_id"]

    # resuming reuses the stored baseline; the grid's C=1.0 trial reproduces the defaults' score exactly
    code, stdout, err = cli(*common, "--trials", "2")
    assert code == 0, err
    lock = yaml.safe_load((out / "tuned" / f"{METHOD}@{DATASET}.yaml").read_text())
    assert lock["baseline"] == baseline
    table = pd.read_parquet(out / "results.parquet")
    assert table.run_id.nunique() == 3  # baseline + 2 trials, no second baseline
    assert lock["best_value"] >= baseline["value"] and "matches or beats the defaults" in stdout
    children = tracker.client.search_runs([tracker.experiment_id(DATASET)],
                                         filter_string=f"tags.mlflow.parentRunId = '{lock['mlflow_parent_run_id']}'")
    same_c = [r.data.metrics["map"] for r in children if r.data.params["C"] == "1.0" and r.info.run_id != baseline["run_id"]]
    assert same_c == [pytest.approx(baseline["value"])]
    code, stdout, _ = cli("tune", "--status", "--out", str(out))
    assert code == 0 and f"; defaults {baseline['value']:.4f}" in stdout


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--space", "C=loguniform(10,1)"), "inconsistent for 'C': low must be < high"),
        (("--space", "C=choice()"), "choice(...) needs at least one value"),
        (("--set", "C=2"), "--set fixes C"),
        (("--trials", "0"), "--trials must be a positive integer"),
        (("--storage", "postgresql://bob:hunter2@127.0.0.1:1/optuna"), "postgresql://bob:***@127.0.0.1:1/optuna"),
    ],
)
def test_bad_input_fails_fast_without_traceback(cli, tmp_path: Path, args: tuple[str, ...], expected: str) -> None:  # noqa: ANN001
    t0 = time.monotonic()
    code, _, err = cli("tune", "--method", METHOD, "--dataset", DATASET, "--out", str(tmp_path), *args)
    assert code == 1 and expected in err and "Traceback" not in err
    assert "hunter2" not in err
    assert time.monotonic() - t0 < 10
    assert not (tmp_path / "results.parquet").exists()  # no trial ran


def test_run_tuned_without_lock_file(cli, tmp_path: Path) -> None:  # noqa: ANN001
    code, _, err = cli("run", "--tuned", "--method", METHOD, "--dataset", DATASET, "--out", str(tmp_path))
    assert code == 1
    assert f"no lock file for ({METHOD}, {DATASET})" in err and "run 'harness tune" in err.replace("Run", "run")


def test_enqueued_defaults_are_the_first_trial_and_reproduce_the_baseline(cli, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "enqueued"
    code, stdout, err = cli("tune", "--method", METHOD, "--dataset", DATASET, "--out", str(out), "--device", "cpu",
                            "--sampler", "random", "--trials", "2", "--no-plot", "--baseline", "--enqueue-defaults")
    assert code == 0, err
    import optuna

    lock = yaml.safe_load((out / "tuned" / f"{METHOD}@{DATASET}.yaml").read_text())
    study = optuna.load_study(study_name=lock["study"], storage=f"sqlite:///{out / 'optuna.db'}")
    first = min(study.trials, key=lambda t: t.number)
    assert first.params == {"C": 1.0}  # lr's default C, not a sampled one
    assert first.value == pytest.approx(lock["baseline"]["value"])  # the same run as the baseline
    assert len(study.trials) == 2 and lock["best_value"] >= lock["baseline"]["value"]

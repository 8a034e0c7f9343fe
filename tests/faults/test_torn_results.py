"""A torn or damaged results table: new runs keep their rows, damage is reported with the way to repair it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from faultkit import DATASET, LR, SETS, assert_clean

from harness import results

pytestmark = pytest.mark.slow


def _tear(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _finished_runs(out: Path) -> set[str]:
    table = results.read_table(out)
    return set(table[(table.status == "FINISHED")].run_id)


def test_torn_view_and_part_keep_new_rows_and_are_reported(cli, warm: Path, tmp_path: Path) -> None:
    out = tmp_path / "x"
    shutil.copytree(warm, out)
    assert len(_finished_runs(out)) == 1
    _tear(out / "results.parquet")  # the compacted view: every row is also in a part
    run = cli("run", *LR, "--seed", "1", "--out", str(out))
    assert run.code == 0, run.text  # the method's result is recorded although a file is damaged
    assert_clean(run)
    assert len(_finished_runs(out)) == 2  # the old run's rows and the new run's
    assert results.check(out).ok  # the append rebuilt the view

    (first_part,) = sorted(p for p in results.parts_dir(out).glob("*.parquet") if "-run-" in p.name)[:1]
    _tear(first_part)  # a part whose rows the view still holds
    run = cli("run", *LR, "--seed", "2", "--out", str(out))
    assert run.code == 0, run.text
    assert len(_finished_runs(out)) == 3

    check = cli("results", "check", "--out", str(out))
    assert check.code == 1 and str(first_part) in check.out and "harness results repair" in check.out, check.text
    assert_clean(check)
    dry = cli("sweep", "--methods", "lr", "--datasets", DATASET, *SETS, "--seeds", "3", "--out", str(out), "--dry-run")
    assert dry.code == 0 and "3 already recorded" in dry.out, dry.text  # its rows are still readable
    assert str(first_part) in dry.err and "harness results repair" in dry.err, dry.text
    assert_clean(dry)

    repair = cli("results", "repair", "--out", str(out))
    assert repair.code == 0, repair.text
    assert (out / results.DAMAGED_DIR).is_dir()
    assert cli("results", "check", "--out", str(out)).code == 0
    assert len(_finished_runs(out)) == 3  # the torn part's rows were rewritten from the view, not lost
    view = pd.read_parquet(out / "results.parquet")  # the documented way to read it still works
    assert set(view[view.status == "FINISHED"].run_id) == _finished_runs(out)
    dry = cli("sweep", "--methods", "lr", "--datasets", DATASET, *SETS, "--seeds", "3", "--out", str(out), "--dry-run")
    assert dry.code == 0 and "3 already recorded" in dry.out, dry.text


def test_torn_pre_store_table_does_not_cost_a_new_run_its_rows(cli, warm: Path, tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    out = tmp_path / "legacy"
    out.mkdir()
    legacy = results.read_table(warm)
    legacy.drop(columns=[c for c in legacy.columns if c not in results.COLUMNS]).to_parquet(out / "results.parquet")
    _tear(out / "results.parquet")  # a results.parquet written before the store, torn: the case
    dry = cli("sweep", "--methods", "lr", "--datasets", DATASET, *SETS, "--out", str(out), "--dry-run")
    assert dry.code == 1 and str(out / "results.parquet") in dry.err and "harness results repair" in dry.err, dry.text
    assert "unexpected" not in dry.err and "ArrowInvalid: " not in dry.err.split("damaged")[0]
    assert_clean(dry)
    run = cli("run", *LR, "--out", str(out))
    assert run.code == 0, run.text
    assert_clean(run)
    assert len(_finished_runs(out)) == 1
    said = run.err + caplog.text
    assert "results.parquet" in said and "is damaged" in said and results.DAMAGED_DIR in said, said
    assert list((out / results.DAMAGED_DIR).iterdir())  # the torn file is kept aside, not overwritten
    check = cli("results", "check", "--out", str(out), "--no-mlflow")
    assert check.code == 0, check.text


def test_appends_survive_a_damaged_view_unit(tmp_path: Path) -> None:
    rows = [{"run_id": f"r{i}", "status": "FINISHED", "seed": i, "metric": "m", "concept": "", "value": 1.0} for i in range(3)]
    results.append_rows(tmp_path, rows[:1])
    (tmp_path / "results.parquet").write_bytes(b"garbage")
    results.append_rows(tmp_path, rows[1:2])
    results.append_rows(tmp_path, rows[2:])
    assert list(results.read_table(tmp_path).run_id) == ["r0", "r1", "r2"]
    assert results.check(tmp_path).ok  # the view was rebuilt by the appends


def test_a_damaged_part_is_named_with_the_repair_command_unit(tmp_path: Path) -> None:
    rows = [{"run_id": f"r{i}", "status": "FINISHED", "seed": i, "metric": "m", "concept": "", "value": 1.0} for i in range(2)]
    part = results.append_rows(tmp_path, rows[:1])
    results.append_rows(tmp_path, rows[1:])
    (tmp_path / "results.parquet").unlink()  # no view: the damaged part's rows are really gone
    _tear(part)
    with pytest.raises(results.ResultsDamagedError) as info:
        results.require_intact(tmp_path)
    assert str(part) in str(info.value) and "harness results repair" in str(info.value)
    assert list(results.read_table(tmp_path).run_id) == ["r1"]
    report, moved = results.repair(tmp_path)
    assert [d.path for d in report.damaged] == [part] and moved and results.check(tmp_path).ok

"""A store copied from the schema template is the store MLflow itself would have made."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import pytest

from harness import tracking_store
from harness.tracking import Tracker, default_tracking_uri


def _clauses(sql: str) -> list[str]:
    """A CREATE statement as its sorted clauses: MLflow's own migrations write a table's constraints
    in a different order from one store to the next (batch table rebuilds), so text order is not schema."""
    return sorted(part.strip() for part in sql.replace("\n", " ").replace("\t", " ").split(","))


def _schema(db: Path) -> tuple[list[tuple[str, list[str]]], list[tuple[str]], tuple]:
    with sqlite3.connect(db) as con:
        rows = con.execute("SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name").fetchall()
        tables = [(name, _clauses(sql)) for name, sql in rows]
        version = con.execute("SELECT version_num FROM alembic_version").fetchall()
        default = con.execute("SELECT experiment_id, name, artifact_location, lifecycle_stage, creation_time "
                              "FROM experiments WHERE experiment_id = 0").fetchone()
    return tables, version, default


def test_template_store_equals_mlflows_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))  # a template of its own, not the session's
    monkeypatch.chdir(tmp_path)  # experiment 0's location follows the working folder, as in MLflow
    monkeypatch.setenv("HARNESS_MLFLOW_TEMPLATE", "0")
    Tracker(default_tracking_uri(tmp_path / "own"), tmp_path / "own")
    assert not tracking_store.template_path().exists()

    monkeypatch.setenv("HARNESS_MLFLOW_TEMPLATE", "1")
    Tracker(default_tracking_uri(tmp_path / "first"), tmp_path / "first")  # makes the template
    assert tracking_store.template_path().exists()
    before = time.time() * 1000
    tracker = Tracker(default_tracking_uri(tmp_path / "copied"), tmp_path / "copied")

    own, copied = _schema(tmp_path / "own" / "mlflow.db"), _schema(tmp_path / "copied" / "mlflow.db")
    assert copied[0] == own[0] and copied[1] == own[1]  # every table, index and the migration head
    assert copied[2][:4] == own[2][:4] == (0, "Default", own[2][2], "active")
    assert copied[2][4] >= before - 1, "experiment 0 carries its own creation time, not the template's"
    run = tracker.start("e", "r", {"k": "v"})
    assert tracker.client.get_run(run).data.tags["k"] == "v"


def test_a_broken_template_falls_back_to_mlflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(tmp_path / "home"))
    path = tracking_store.template_path()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not a database")
    tracker = Tracker(default_tracking_uri(tmp_path / "out"), tmp_path / "out")
    assert tracker.client.get_run(tracker.start("e", "r", {})).info.status == "RUNNING"

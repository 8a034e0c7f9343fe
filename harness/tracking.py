"""MLflow tracking (the only module that imports mlflow).

Default store: a local SQLite database and artifact folder under the output folder
(``<out>/mlflow.db``, ``<out>/mlartifacts``); ``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` point
it at a server instead. Runs are written through ``MlflowClient`` (no global "active run"), so
several runs can be recorded from one process and nothing leaks between tests.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

_METRIC_NAME = re.compile(r"[^0-9A-Za-z_\-. /]")


def default_tracking_uri(out_dir: Path) -> str:
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path(out_dir).resolve() / 'mlflow.db'}"


def _init_sqlite_store(make_client: Any, db: Path) -> Any:
    """Create (migrate) a local SQLite store under an exclusive file lock.

    Two workers starting at once on a new store would both create its tables, and one of them
    dies inside SQLAlchemy (seen as ``CircularDependencyError``); the lock makes the second wait
    until the first has finished, after which it finds the schema in place.
    """
    import fcntl

    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.with_name(db.name + ".init.lock"), "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client = make_client()
            client.search_experiments(max_results=1)  # the store (schema) exists after this call
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return client


def safe_metric_name(name: str) -> str:
    return _METRIC_NAME.sub("_", name)


class Tracker:
    """Creates and fills MLflow runs; ``start`` then ``finish`` or ``fail``."""

    def __init__(self, tracking_uri: str, out_dir: Path) -> None:
        import logging

        from mlflow.tracking import MlflowClient

        # MLflow logs every schema migration of a new local store at INFO; keep the terminal clean.
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)

        self.tracking_uri = tracking_uri
        self.out_dir = Path(out_dir)
        if tracking_uri.startswith("sqlite:///"):
            self.client = _init_sqlite_store(lambda: MlflowClient(tracking_uri=tracking_uri),
                                             Path(tracking_uri[len("sqlite:///"):]))  # fmt: skip
        else:
            self.client = MlflowClient(tracking_uri=tracking_uri)

    def experiment_id(self, name: str) -> str:
        exp = self.client.get_experiment_by_name(name)
        if exp is not None:
            return exp.experiment_id
        artifact_location = None
        if self.tracking_uri.startswith("sqlite:") or self.tracking_uri.startswith("file:"):
            artifact_location = (self.out_dir.resolve() / "mlartifacts" / name).as_uri()
        try:
            return self.client.create_experiment(name, artifact_location=artifact_location)
        except Exception:  # created concurrently by another worker
            exp = self.client.get_experiment_by_name(name)
            if exp is None:
                raise
            return exp.experiment_id

    def start(self, experiment: str, run_name: str, tags: Mapping[str, str], parent_run_id: str | None = None) -> str:
        all_tags = {k: str(v) for k, v in tags.items()}
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(self.experiment_id(experiment), tags=all_tags, run_name=run_name)
        return run.info.run_id

    def log_params(self, run_id: str, params: Mapping[str, Any]) -> None:
        from mlflow.entities import Param

        items = [Param(k, _param_text(v)) for k, v in params.items()]
        for i in range(0, len(items), 100):
            self.client.log_batch(run_id, params=items[i : i + 100])

    def log_metrics(self, run_id: str, metrics: Mapping[str, float], step: int = 0) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(safe_metric_name(k), float(v), now, step) for k, v in metrics.items()]
        for i in range(0, len(items), 1000):
            self.client.log_batch(run_id, metrics=items[i : i + 1000])

    def set_tags(self, run_id: str, tags: Mapping[str, Any]) -> None:
        from mlflow.entities import RunTag

        items = [RunTag(k, str(v)[:5000]) for k, v in tags.items()]
        if items:
            self.client.log_batch(run_id, tags=items)

    def log_artifacts(self, run_id: str, files: Mapping[str, bytes]) -> None:
        """Write each ``name -> content`` to a temp folder and upload it as a run artifact."""
        with tempfile.TemporaryDirectory() as tmp:
            for name, content in files.items():
                path = Path(tmp) / name
                path.write_bytes(content)
            self.client.log_artifacts(run_id, tmp)

    def finish(self, run_id: str) -> None:
        self.client.set_terminated(run_id, status="FINISHED")

    def fail(self, run_id: str, error: str) -> None:
        self.set_tags(run_id, {"error": error})
        self.client.set_terminated(run_id, status="FAILED")

    def get_run(self, run_id: str) -> Any:
        return self.client.get_run(run_id)

    def list_artifacts(self, run_id: str) -> list[str]:
        return [a.path for a in self.client.list_artifacts(run_id)]


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]

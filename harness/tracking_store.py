"""Creating local SQLite MLflow stores: from a migrated empty template instead of running the migrations.

A new MLflow SQLite store runs every schema migration of MLflow's history (about fifty, one commit
and one fsync each): 1.5-3 s of every first ``harness run`` into a new output folder, of every
sweep worker's first run, and of most integration tests. The result of those migrations is the
same file each time for one MLflow version, apart from the default experiment's artifact location
and timestamps. So the first store made under a ``HARNESS_HOME`` is also kept as a template
(``$HARNESS_HOME/schemas/mlflow-<version>.db``), and later new stores are copies of it with the
default experiment rewritten as MLflow would write it for them. Any failure falls back to MLflow's
own creation. ``HARNESS_MLFLOW_TEMPLATE=0`` turns the template off.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENT_ID = 0


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def template_path() -> Path:
    import mlflow

    from harness.cache import harness_home

    return harness_home() / "schemas" / f"mlflow-{mlflow.__version__}.db"


def enabled() -> bool:
    return os.environ.get("HARNESS_MLFLOW_TEMPLATE", "1").strip().lower() not in ("0", "false", "no", "off")


def _is_new(db: Path) -> bool:
    return not db.exists() or db.stat().st_size == 0


def _ensure_template(make_client_for: Callable[[Path], Any]) -> Path:
    """The template for this MLflow version, made (by MLflow, under a lock) if absent."""
    path = template_path()
    if path.exists():
        return path
    with _locked(path.with_name(path.name + ".lock")):
        if not path.exists():
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.unlink(missing_ok=True)
            make_client_for(tmp).search_experiments(max_results=1)  # MLflow creates and migrates it
            os.replace(tmp, path)
    return path


def _default_experiment_location(make_client_for: Callable[[Path], Any], template: Path) -> str:
    """Experiment 0's artifact location as MLflow's own creation would write it here (it depends on
    the working folder and the environment, not on the database; asked of a store on the template)."""
    client = make_client_for(template)
    client.search_experiments(max_results=1)  # a broken template fails here, before the new store exists
    return str(client._tracking_client.store._get_artifact_location(DEFAULT_EXPERIMENT_ID))


def _copy_template(make_client_for: Callable[[Path], Any], db: Path) -> None:
    template = _ensure_template(make_client_for)
    location = _default_experiment_location(make_client_for, template)
    tmp = db.with_name(f".{db.name}.{os.getpid()}.tmp")
    try:
        shutil.copyfile(template, tmp)
        now = int(time.time() * 1000)
        con = sqlite3.connect(tmp)
        try:
            with con:
                con.execute("UPDATE experiments SET artifact_location = ?, creation_time = ?, last_update_time = ? "
                            "WHERE experiment_id = ?", (location, now, now, DEFAULT_EXPERIMENT_ID))
        finally:
            con.close()
        os.replace(tmp, db)
    finally:
        tmp.unlink(missing_ok=True)


def init_sqlite_store(make_client_for: Callable[[Path], Any], db: Path) -> Any:
    """A client on the SQLite store ``db``, creating the store (from the template when possible).

    Creation runs under an exclusive file lock beside the store: two workers starting at once on a
    new store would both create its tables, and one of them dies inside SQLAlchemy (seen as
    ``CircularDependencyError``); the second waits and then finds the schema in place.
    """
    db.parent.mkdir(parents=True, exist_ok=True)
    with _locked(db.with_name(db.name + ".init.lock")):
        if _is_new(db) and enabled():
            try:
                _copy_template(make_client_for, db)
            except Exception as exc:  # the template is a speed-up only: MLflow's own path still works
                log.warning("MLflow schema template %s not used (%s: %s); creating %s with MLflow's migrations "
                            "(delete the template to have it made again)", template_path(), type(exc).__name__, exc, db)
        client = make_client_for(db)
        client.search_experiments(max_results=1)  # the store (schema) exists after this call
    return client

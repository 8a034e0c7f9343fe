"""MLflow tracking (with :mod:`harness.tracking_store`, the only modules that import mlflow).

Default store: a local SQLite database and artifact folder under the output folder
(``<out>/mlflow.db``, ``<out>/mlartifacts``); ``--tracking-uri`` or ``MLFLOW_TRACKING_URI`` point
it at a server instead. Runs are written through ``MlflowClient`` (no global "active run"), so
several runs can be recorded from one process and nothing leaks between tests.

Faults: a tracking server or database that does not answer fails within about 10 s with its URL
(password redacted) and the reason (:mod:`harness.urls`), and every URL in mlflow's own log lines
is redacted too. Each run is tagged with the host and process that runs it; runs still open when
the process is interrupted are closed as KILLED (:func:`close_open_runs`), and runs left RUNNING
by a process that is gone (kill -9) are closed by the next tracker on the same host
(:func:`close_orphaned_runs`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

log = logging.getLogger(__name__)

_METRIC_NAME = re.compile(r"[^0-9A-Za-z_\-. /]")
# mlflow's REST client retries a dead server for minutes by default; a reachability check runs
# first (10 s), and these bound what a server that dies mid-run costs. Users may override them.
_MLFLOW_HTTP_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
                    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20"}
PROCESS_TAG = "harness.process"  # "<host>:<pid>:<start time>" of the process running the run

_OPEN: dict[str, Any] = {}  # run id -> Tracker of every run this process started and has not closed
_OPEN_LOCK = threading.Lock()
_SWEPT: set[str] = set()  # tracking URIs whose orphaned runs this process has already closed


class TrackingError(HarnessError):
    """The tracking store cannot be used (unreachable server, bad URI)."""


def _start_time(pid: int) -> str:
    """The kernel's start time of process ``pid`` (Linux), '' elsewhere or when it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19]  # field 22: starttime, after the command in parentheses


def process_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{_start_time(os.getpid())}"


def process_alive(tag: str) -> bool:
    """Whether the process named by a :data:`PROCESS_TAG` value still runs (pid reuse detected)."""
    try:
        _host, pid_text, started = tag.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return True  # not ours to judge
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not started or _start_time(pid) in ("", started)


def default_tracking_uri(out_dir: Path) -> str:
    env = os.environ.get("MLFLOW_TRACKING_URI")
    if env:
        return env
    return f"sqlite:///{Path(out_dir).resolve() / 'mlflow.db'}"


def safe_metric_name(name: str) -> str:
    return _METRIC_NAME.sub("_", name)


class Tracker:
    """Creates and fills MLflow runs; ``start`` then ``finish`` or ``fail``."""

    def __init__(self, tracking_uri: str, out_dir: Path) -> None:
        from harness import urls

        check_tracking_uri(tracking_uri)  # before importing mlflow (seconds): a dead server fails at once

        from mlflow.tracking import MlflowClient

        urls.install_log_redaction()  # again: importing mlflow added its own log handler

        # MLflow logs every schema migration of a new local store at INFO; keep the terminal clean.
        for name in ("mlflow", "alembic"):
            logging.getLogger(name).setLevel(logging.WARNING)

        self.tracking_uri = tracking_uri
        self.out_dir = Path(out_dir)
        try:
            if tracking_uri.startswith("sqlite:///"):
                from harness.tracking_store import init_sqlite_store

                self.client = init_sqlite_store(lambda db: MlflowClient(tracking_uri=f"sqlite:///{db}"),
                                                Path(tracking_uri[len("sqlite:///"):]))  # fmt: skip
            else:
                self.client = MlflowClient(tracking_uri=tracking_uri)
        except Exception as exc:
            raise TrackingError(f"cannot open the MLflow tracking store {urls.redact(tracking_uri)}: "
                                f"{urls.scrub(f'{type(exc).__name__}: {exc}', tracking_uri)[:600]}") from None
        self.orphans_closed: list[str] = []  # runs of dead processes this tracker closed on opening
        if tracking_uri not in _SWEPT:
            _SWEPT.add(tracking_uri)
            try:
                self.orphans_closed = close_orphaned_runs(self)
            except Exception as exc:  # best effort: never stops a run
                log.info("could not look for orphaned runs in %s: %s", urls.redact(tracking_uri), urls.redact(str(exc)))

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
        all_tags.update({PROCESS_TAG: process_id(), "harness.host": socket.gethostname(), "harness.pid": str(os.getpid())})
        if parent_run_id:
            all_tags["mlflow.parentRunId"] = parent_run_id
        run = self.client.create_run(self.experiment_id(experiment), tags=all_tags, run_name=run_name)
        with _OPEN_LOCK:
            _OPEN[run.info.run_id] = self
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
        _closed(run_id)

    def fail(self, run_id: str, error: str) -> None:
        self.set_tags(run_id, {"error": error})
        self.client.set_terminated(run_id, status="FAILED")
        _closed(run_id)

    def kill(self, run_id: str, reason: str) -> None:
        """Close a run as KILLED (interrupted, or its process is gone), saying why."""
        self.set_tags(run_id, {"error": reason, "harness.end_reason": reason})
        self.client.set_terminated(run_id, status="KILLED")
        _closed(run_id)

    def get_run(self, run_id: str) -> Any:
        return self.client.get_run(run_id)

    def list_artifacts(self, run_id: str) -> list[str]:
        return [a.path for a in self.client.list_artifacts(run_id)]


def _closed(run_id: str) -> None:
    with _OPEN_LOCK:
        _OPEN.pop(run_id, None)


def check_tracking_uri(uri: str, timeout_s: float = 8.0) -> None:
    """Fail within ``timeout_s`` when a remote tracking store does not answer (URL redacted, reason given)."""
    from harness import urls

    try:
        if uri.startswith(("http://", "https://")):
            for key, value in _MLFLOW_HTTP_ENV.items():
                os.environ.setdefault(key, value)
            urls.check_http(uri, "MLflow tracking server", timeout_s)
        elif uri.startswith(("postgresql", "postgres", "mysql", "mssql")):
            urls.check_sql(uri, "MLflow tracking database", timeout_s)
    except urls.UnreachableError as exc:
        raise TrackingError(f"{exc} (from --tracking-uri or $MLFLOW_TRACKING_URI)") from None


def open_run_ids() -> list[str]:
    with _OPEN_LOCK:
        return list(_OPEN)


def close_open_runs(reason: str) -> int:
    """Mark every run this process started and has not closed as KILLED; returns how many."""
    from harness import urls

    with _OPEN_LOCK:
        items = list(_OPEN.items())
    n = 0
    for run_id, tracker in reversed(items):  # children before their parents
        try:
            tracker.kill(run_id, reason)
            n += 1
        except Exception as exc:  # the store may be the thing that is gone
            log.warning("could not mark MLflow run %s as KILLED: %s", run_id, urls.redact(str(exc)))
            _closed(run_id)
    return n


def close_orphaned_runs(tracker: Tracker) -> list[str]:
    """Close as KILLED the RUNNING runs started on this host by a process that no longer exists."""
    host = socket.gethostname()
    experiments = [e.experiment_id for e in tracker.client.search_experiments()]
    closed: list[str] = []
    if not experiments:
        return closed
    runs = tracker.client.search_runs(experiments, filter_string=f"attributes.status = 'RUNNING' and tags.`harness.host` = '{host}'",
                                      max_results=5000)
    for run in runs:
        tag = run.data.tags.get(PROCESS_TAG, "")
        if tag and not process_alive(tag):
            reason = f"process {tag} is gone (killed or crashed); closed by {process_id()}"
            tracker.set_tags(run.info.run_id, {"error": reason, "harness.end_reason": reason})
            tracker.client.set_terminated(run.info.run_id, status="KILLED")
            closed.append(run.info.run_id)
    if closed:
        log.warning("closed %d MLflow run(s) left RUNNING by processes that are gone: %s", len(closed), ", ".join(closed))
    return closed


def _param_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str)
    return text[:6000]

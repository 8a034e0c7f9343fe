"""Optuna storages for ``harness tune``: URLs (password redacted), opening with a deadline, study status.

Part of the tuning package (:mod:`harness.tuning` re-exports these names); imports optuna lazily.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import warnings
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, InvalidParameterError

log = logging.getLogger(__name__)

STORAGE_TIMEOUT_S = 10.0


class TuningError(HarnessError):
    """Tuning cannot proceed (storage unreachable, every trial failing, ...)."""


# --------------------------------------------------------------------------------------------
# Storage URLs
# --------------------------------------------------------------------------------------------

def redact_url(url: str) -> str:
    """``postgresql://u:secret@h/db`` -> ``postgresql://u:***@h/db`` (also ``?password=...``)."""
    from harness.urls import redact

    return redact(url)


def default_storage_url(out_dir: Path) -> str:
    return f"sqlite:///{(Path(out_dir) / 'optuna.db').resolve()}"


def _engine_kwargs(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 60}}  # wait for other local workers' writes
    if url.startswith(("postgresql", "postgres")):
        return {"connect_args": {"connect_timeout": 5}, "pool_pre_ping": True}
    if url.startswith("mysql"):
        return {"connect_args": {"connect_timeout": 5}, "pool_pre_ping": True}
    return {}


def open_storage(url: str, *, heartbeat_interval: int | None = 60, grace_period: int | None = None,
                 max_retry: int | None = 3, on_stale: Any = None, timeout_s: float = STORAGE_TIMEOUT_S) -> Any:
    """Open an Optuna storage; fail within ``timeout_s`` with the (redacted) URL and the reason.

    ``journal:PATH`` opens a journal file (no heartbeats); anything else is an SQLAlchemy URL
    (``sqlite:///``, ``postgresql://``, ``mysql://``) opened as an RDB storage with heartbeats.
    """
    import optuna

    shown = redact_url(url)
    if url.startswith("journal:"):
        from optuna.storages import JournalStorage, journal

        path = Path(url[len("journal:"):]).expanduser()
        path.parent.mkdir(parents=True, exist_ok=True)
        backend_cls = getattr(journal, "JournalFileBackend", None) or optuna.storages.JournalFileStorage
        return JournalStorage(backend_cls(str(path)))
    if "://" not in url:
        raise InvalidParameterError(
            f"--storage {shown!r} is not a storage URL. Expected e.g. sqlite:///path/optuna.db, "
            f"postgresql://user:password@host:5432/db or journal:/path/optuna.journal."
        )
    if url.startswith("sqlite:///"):
        db = Path(url[len("sqlite:///"):])
        db.parent.mkdir(parents=True, exist_ok=True)
        _check_sqlite_file(db)

    retry_cls = getattr(optuna.storages, "RetryHeartbeatStaleTrialCallback", None) or optuna.storages.RetryFailedTrialCallback
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "experimental" notices
        retry = retry_cls(max_retry=max_retry)

    def stale_callback(study: Any, trial: Any) -> None:
        retry(study, trial)
        if on_stale is not None:
            on_stale(study, trial)

    kwargs: dict[str, Any] = {"engine_kwargs": _engine_kwargs(url)}
    if heartbeat_interval:
        import inspect

        params = inspect.signature(optuna.storages.RDBStorage.__init__).parameters
        cb_name = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in params else "failed_trial_callback"
        kwargs.update(heartbeat_interval=int(heartbeat_interval), grace_period=grace_period, **{cb_name: stale_callback})

    _check_reachable(url, timeout_s)
    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # experimental-feature notices of heartbeats
                return optuna.storages.RDBStorage(url, **kwargs)
        except Exception as exc:
            # Workers starting together on a fresh database race to create the tables; the
            # loser sees "already exists" / a unique violation and simply tries again.
            if attempt == 2 or not re.search(r"already exists|duplicate|unique|locked", str(exc), re.IGNORECASE):
                raise TuningError(f"cannot open the Optuna storage {shown}: {_reason(exc, url)}") from None
            time.sleep(0.5 + attempt)
    raise AssertionError("unreachable")


def _check_sqlite_file(db: Path) -> None:
    """A file that is not an SQLite database (damaged, truncated, something else) fails with its name."""
    if not db.exists():
        return
    if db.is_dir():
        raise TuningError(f"the Optuna storage {db} is a folder, not an SQLite database file")
    with open(db, "rb") as fh:
        head = fh.read(16)
    if db.stat().st_size and head != b"SQLite format 3\x00":
        raise TuningError(
            f"the Optuna storage {db} is not an SQLite database (damaged or overwritten: it starts with "
            f"{head[:8]!r}). Move it away (e.g. 'mv {db} {db}.damaged') to start the studies afresh, or pass "
            f"--storage with another database."
        )


def _check_reachable(url: str, timeout_s: float) -> None:
    """Connect once with a deadline, so a wrong host or a stopped server fails fast and clearly."""
    import sqlalchemy

    shown = redact_url(url)
    box: dict[str, BaseException] = {}

    def connect() -> None:
        try:
            engine = sqlalchemy.create_engine(url, **_engine_kwargs(url))
            try:
                with engine.connect():
                    pass
            finally:
                engine.dispose()
        except BaseException as exc:  # reported in the caller's thread
            box["error"] = exc

    worker = threading.Thread(target=connect, daemon=True, name="optuna-storage-check")
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise TuningError(
            f"cannot open the Optuna storage {shown}: no answer within {timeout_s:.0f} s. "
            f"Check the host name, port and firewall, and that the database server is running."
        )
    if "error" in box:
        raise TuningError(
            f"cannot open the Optuna storage {shown}: {_reason(box['error'], url).rstrip('.')}; check that the "
            f"database server is running and reachable, and the user, password and database name in the URL."
        ) from None


def _reason(exc: BaseException, url: str) -> str:
    """The innermost useful line of a driver error, with any password removed."""
    inner: BaseException = exc
    while getattr(inner, "orig", None) is not None:
        inner = inner.orig  # type: ignore[attr-defined]
    text = " ".join(str(inner).split()) or type(inner).__name__
    text = re.sub(r"\(Background on this error at: [^)]*\)", "", text).strip()
    from harness.urls import scrub

    return f"{type(inner).__name__}: {scrub(text, url)[:500]}"


# --------------------------------------------------------------------------------------------
# Status
# --------------------------------------------------------------------------------------------


def study_status(url: str) -> list[dict[str, Any]]:
    """One row per study in the storage: trial counts by state and the best trial."""
    import optuna

    from harness.tuning_trials import _best

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    if url.startswith("sqlite:///") and not Path(url[len("sqlite:///"):]).exists():
        return []  # nothing to list; looking must not create an empty database
    storage = open_storage(url, heartbeat_interval=None)
    rows = []
    for frozen in storage.get_all_studies():
        study = optuna.load_study(study_name=frozen.study_name, storage=storage)
        trials = study.get_trials(deepcopy=False)
        states: dict[str, int] = {}
        for t in trials:
            states[t.state.name] = states.get(t.state.name, 0) + 1
        best = _best(study)
        rows.append({
            "study": frozen.study_name, "direction": study.direction.name.lower(),
            "metric": study.user_attrs.get("metric", "?"), "trials": len(trials), "states": states,
            "best_value": None if best is None else best.value, "best_trial": None if best is None else best.number,
            "best_params": {} if best is None else dict(best.params),
            "baseline_value": (study.user_attrs.get("baseline") or {}).get("value"),
        })
    return rows

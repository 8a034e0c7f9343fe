"""The local results table: a long parquet table (one row per run x metric x concept).

Leaderboards read it without MLflow. Appends are atomic (write a temp file, rename) and serialised
between processes with an advisory lock, so parallel workers never lose rows.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from harness.cache import atomic_path

COLUMNS = (
    "run_id", "status", "dataset", "is_miniature", "method", "config_hash", "seed", "metric",
    "concept", "value", "higher_is_better", "timestamp", "params_json", "tags_json", "eval_split",
    "notes_json",  # added later: what the run resolved and its fit learned (backbone, fit.lr ...); JSON
)
TABLE_NAME = "results.parquet"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def table_path(out_dir: Path) -> Path:
    return Path(out_dir) / TABLE_NAME


def append_rows(out_dir: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path = table_path(out_dir)
    new = pd.DataFrame(list(rows), columns=list(COLUMNS))
    with _locked(path):
        frames = [read_table(out_dir), new] if path.exists() else [new]
        table = pd.concat([f for f in frames if len(f)], ignore_index=True) if any(len(f) for f in frames) else new
        with atomic_path(path) as tmp:
            table.to_parquet(tmp, index=False)
    return path


def read_table(out_dir: Path) -> pd.DataFrame:
    """The table; columns added after a file was written (``notes_json``) read as missing values."""
    path = table_path(out_dir)
    if not path.exists():
        return pd.DataFrame(columns=list(COLUMNS))
    table = pd.read_parquet(path)
    for column in COLUMNS:
        if column not in table.columns:
            table[column] = None
    return table

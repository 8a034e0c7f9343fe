"""The local results table: a long table (one row per run x metric x concept), stored append-only.

Leaderboards read it without MLflow. Layout under the output folder:

* ``results.parts/*.parquet``: the store itself. Every :func:`append_rows` call (one per run)
  writes one new part atomically (temp file, fsync, rename) and never touches an existing one,
  so a crash or a torn write can damage at most the part being written, and a damaged old part
  can never cost a new run its rows.
* ``results.parquet``: a compacted view of every part (rewritten atomically after each append,
  under an advisory lock; its parquet metadata names the parts it holds and its ``_part`` column
  the part of each row), kept so that
  ``pd.read_parquet('<out>/results.parquet')`` works and reads stay fast. It is derived: when it
  is missing, stale or damaged, :func:`read_table` reads the parts instead.

A folder written before the store existed holds only ``results.parquet``; the first append moves
its rows into a part (``legacy-*.parquet``) so they stay part of the store. :func:`check` lists
damaged files; :func:`repair` moves them to ``results.damaged/`` and rebuilds the view
(``harness results check|repair``).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.cache import atomic_path
from harness.errors import HarnessError

log = logging.getLogger(__name__)

COLUMNS = (
    "run_id", "status", "dataset", "is_miniature", "method", "config_hash", "seed", "metric",
    "concept", "value", "higher_is_better", "timestamp", "params_json", "tags_json", "eval_split",
    "notes_json",  # added later: what the run resolved and its fit learned (backbone, fit.lr ...); JSON
)
TABLE_NAME = "results.parquet"
PARTS_DIR = "results.parts"
DAMAGED_DIR = "results.damaged"
_META_KEY = b"harness.parts"
VIEW_NOTE = "compacted view; every row is also in a part"
HELD_NOTE = "its rows are still in the compacted view; repair rewrites them into a new part"


@dataclass(frozen=True)
class Damage:
    """One file of the store that cannot be read."""

    path: Path
    reason: str


@dataclass
class CheckReport:
    """What :func:`check` found: readable parts, rows, damaged files, whether the view is current."""

    out_dir: Path
    parts: int = 0
    rows: int = 0
    damaged: list[Damage] = field(default_factory=list)
    view_current: bool = True

    @property
    def ok(self) -> bool:
        return not self.damaged

    def describe(self) -> str:
        lines = [f"results table in {self.out_dir}: {self.parts} part(s), {self.rows} row(s)"]
        for d in self.damaged:
            lines.append(f"  DAMAGED {d.path}: {d.reason}")
        if not self.view_current and not self.damaged:
            lines.append(f"  the compacted view {table_path(self.out_dir)} is out of date (rebuilt by the next run or by repair)")
        return "\n".join(lines)


class ResultsDamagedError(HarnessError):
    """Raised by :func:`require_intact` when a file of the store cannot be read."""

    def __init__(self, report: CheckReport) -> None:
        names = "; ".join(f"{d.path} ({d.reason})" for d in report.damaged)
        super().__init__(
            f"the results table in {report.out_dir} has {len(report.damaged)} damaged file(s): {names}. "
            f"Runs recorded only there are not readable. Run 'harness results repair --out {report.out_dir}' "
            f"to move the damaged file(s) aside (into {Path(report.out_dir) / DAMAGED_DIR}) and rebuild the table."
        )
        self.report = report


def table_path(out_dir: Path) -> Path:
    return Path(out_dir) / TABLE_NAME


def parts_dir(out_dir: Path) -> Path:
    return Path(out_dir) / PARTS_DIR


@contextlib.contextmanager
def _locked(out_dir: Path) -> Iterator[None]:
    path = table_path(out_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(path.suffix + ".lock"), "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _part_files(out_dir: Path) -> list[Path]:
    folder = parts_dir(out_dir)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob("*.parquet") if not p.name.startswith("."))


def _frame(rows: Sequence[dict[str, Any]]) -> pd.DataFrame:
    extra = [k for r in rows for k in r if k not in COLUMNS]
    columns = list(COLUMNS) + list(dict.fromkeys(extra))  # keep columns other modules add (fingerprint ...)
    return pd.DataFrame(list(rows), columns=columns)


def _write_parquet(path: Path, frame: pd.DataFrame, parts: Sequence[str] | None = None) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(frame, preserve_index=False)
    if parts is not None:
        meta = dict(table.schema.metadata or {})
        meta[_META_KEY] = json.dumps(list(parts)).encode()
        table = table.replace_schema_metadata(meta)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def _read_parquet(path: Path) -> tuple[pd.DataFrame, list[str] | None]:
    """(rows, names of the parts it holds or None for a part / a pre-store table); raises on damage."""
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    meta = table.schema.metadata or {}
    parts = json.loads(meta[_META_KEY]) if _META_KEY in meta else None
    return table.to_pandas(), parts


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"


def _new_part_name(kind: str = "run") -> str:
    """Names sort in time order (the table keeps rows in the order they were recorded)."""
    return f"{time.time_ns():020d}-{kind}-{os.getpid()}-{uuid.uuid4().hex[:8]}.parquet"


def _migrate_legacy(out_dir: Path) -> None:
    """Move the rows of a pre-store ``results.parquet`` into a part (called under the lock)."""
    path = table_path(out_dir)
    if not path.exists():
        return
    try:
        frame, parts = _read_parquet(path)
    except Exception as exc:
        if not _part_files(out_dir):  # a damaged pre-store table: no part holds its rows
            target = _quarantine(out_dir, path)
            log.warning("the results table %s is damaged (%s) and no other copy of its rows exists; moved it to %s "
                        "(restore it from a backup to recover those runs). New rows go to %s.",
                        path, _reason(exc), target, parts_dir(out_dir))
        return  # a damaged view: rebuilt from the parts by the next compaction
    if parts is not None:
        return
    if len(frame):
        parts_dir(out_dir).mkdir(parents=True, exist_ok=True)
        _write_parquet(parts_dir(out_dir) / _new_part_name("legacy"), frame)
    _write_parquet(path, frame.iloc[0:0], parts=[])  # now a (stale) view; rebuilt below


def _quarantine(out_dir: Path, path: Path) -> Path:
    target = Path(out_dir) / DAMAGED_DIR / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}"
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    return target


def append_rows(out_dir: Path, rows: Sequence[dict[str, Any]]) -> Path:
    """Add ``rows`` (one run's) as a new part; then refresh the compacted view. Returns the part's path.

    The part is written first and on its own, so the rows are kept even when the view (or any
    other file of the store) is damaged or cannot be rewritten.
    """
    out_dir = Path(out_dir)
    folder = parts_dir(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    with _locked(out_dir):
        _migrate_legacy(out_dir)
        part = folder / _new_part_name()
        _write_parquet(part, _frame(rows))
        try:
            _compact(out_dir)
        except Exception as exc:  # the rows are safe in their part; the view is only a cache
            log.warning("could not rewrite the compacted results view %s (%s); the rows are kept in %s",
                        table_path(out_dir), _reason(exc), part)
    return part


def _load(out_dir: Path, verify: bool = False) -> tuple[pd.DataFrame, list[Path], list[Damage], bool]:
    """(all readable rows with their part's name in ``_part``, readable parts, damaged files, view current?).

    ``verify`` also reads the parts that the view already holds (to find damage in them).
    """
    out_dir = Path(out_dir)
    files = _part_files(out_dir)
    damaged: list[Damage] = []
    frames: list[pd.DataFrame] = []
    have: set[str] = set()
    path = table_path(out_dir)
    view_current = not files  # no view: current only when there is nothing to hold
    if path.exists():
        try:
            view, held = _read_parquet(path)
        except Exception as exc:
            note = "" if not files else f" ({VIEW_NOTE})"  # without parts, its rows are the ones lost
            damaged.append(Damage(path, _reason(exc) + note))
            view_current = False
        else:
            if held is None:  # pre-store table, not migrated yet: its rows are not in any part
                frames.append(view)
            else:
                names = {p.name for p in files}
                if set(held) <= names:
                    frames.append(view)
                    have = set(held)
                view_current = set(held) == names
    good: list[Path] = []
    for part in files:
        if part.name in have and not verify:
            good.append(part)
            continue
        try:
            frame, _ = _read_parquet(part)
        except Exception as exc:
            held_note = f" ({HELD_NOTE})" if part.name in have else ""
            damaged.append(Damage(part, _reason(exc) + held_note))
            continue
        good.append(part)
        if part.name not in have:
            frames.append(frame.assign(_part=part.name))
    frames = [f for f in frames if len(f)]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(COLUMNS))
    for column in (*COLUMNS, "_part"):
        if column not in table.columns:
            table[column] = None
    return table, good, damaged, view_current


def _compact(out_dir: Path) -> None:
    table, good, _damaged, current = _load(out_dir)
    if current:
        return
    _write_parquet(table_path(out_dir), table, parts=[p.name for p in good])


def read_table(out_dir: Path) -> pd.DataFrame:
    """Every readable row; columns added after a part was written (``notes_json``) read as missing.

    A damaged file is skipped with a warning naming it and the repair command; use
    :func:`require_intact` where unreadable rows would change a decision (a sweep's resume).
    """
    table, _good, damaged, _ = _load(out_dir)
    table = table.drop(columns="_part")
    for d in damaged:
        log.warning("results table: %s is damaged (%s); skipped. Run 'harness results repair --out %s'.",
                    d.path, d.reason, out_dir)
    return table


def check(out_dir: Path) -> CheckReport:
    """Read every file of the store and report what is damaged (nothing is changed)."""
    table, good, damaged, current = _load(out_dir, verify=True)
    return CheckReport(Path(out_dir), parts=len(good), rows=len(table), damaged=damaged, view_current=current)


def require_intact(out_dir: Path) -> CheckReport:
    """Raise :class:`ResultsDamagedError` when rows are unreadable; else the report (damage that loses
    no row, such as a torn view, is listed in it for the caller to mention)."""
    report = check(out_dir)
    if any(not d.reason.endswith((f"({VIEW_NOTE})", f"({HELD_NOTE})")) for d in report.damaged):
        raise ResultsDamagedError(report)
    return report


def repair(out_dir: Path) -> tuple[CheckReport, list[Path]]:
    """Move damaged files into ``results.damaged/`` and rebuild the view; returns (report before, moved to)."""
    out_dir = Path(out_dir)
    with _locked(out_dir):
        report = check(out_dir)
        table, _, _, _ = _load(out_dir)
        moved = []
        for d in report.damaged:
            kept = table[table["_part"] == d.path.name] if d.path.parent == parts_dir(out_dir) else table.iloc[0:0]
            if len(kept):  # a damaged part whose rows the view still holds: rewrite them first
                _write_parquet(parts_dir(out_dir) / _new_part_name("recovered"), kept.drop(columns="_part"))
            moved.append(_quarantine(out_dir, d.path))
        _migrate_legacy(out_dir)
        table, good, _, _ = _load(out_dir)
        _write_parquet(table_path(out_dir), table, parts=[p.name for p in good])
    return report, moved

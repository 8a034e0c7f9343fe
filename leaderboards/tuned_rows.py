"""Tuned rows (pure): ``harness table --tuned`` adds a "<row> (tuned)" row under every row whose
methods all have a lock record of ``harness tune``; this module builds those rows from the records.

Reading the lock files and tuning the missing methods is the job of ``harness.table_tuned``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any

from leaderboards.plan import PLACEHOLDER, method_settings, tuned_params
from leaderboards.spec import TableSpec

TUNED_SUFFIX = ":tuned"
_ABSENT = object()


def row_methods(spec: TableSpec) -> dict[str, list[str]]:
    """The methods of each row's cells, in column order (rows without any cell are left out)."""
    out: dict[str, list[str]] = {}
    for rkey, _ in spec.rows:
        for ckey, _ in spec.columns:
            cell = spec.cells.get((rkey, ckey))
            if cell is not None and cell.method not in out.setdefault(rkey, []):
                out[rkey].append(cell.method)
    return {k: v for k, v in out.items() if v}


def table_methods(spec: TableSpec) -> list[str]:
    """Every method of the table's (default) rows, in row order."""
    seen: list[str] = []
    for rkey, methods in row_methods(spec).items():
        if rkey not in spec.tuned_rows:
            seen += [m for m in methods if m not in seen]
    return seen



def tune_settings(spec: TableSpec, method: str, miniature: bool, tuned_keys: Collection[str] = ()) -> dict[str, Any]:
    """The fixed settings of ``method``'s study for this table.

    The spec's miniature settings, the user's ``--set METHOD.KEY=...`` and the settings every cell of
    the method shares (placeholders left out: they differ per seed or column), minus ``tuned_keys``,
    the keys the method's search space tunes (``harness tune`` refuses to fix those).
    """
    cells = [c for c in spec.cells.values() if c.method == method and c.tuned is None]
    shared: dict[str, Any] = {}
    if cells:
        shared = {k: v for k, v in cells[0].settings.items()
                  if all(c.settings.get(k, _ABSENT) == v for c in cells[1:])
                  and not (isinstance(v, str) and PLACEHOLDER.search(v))}  # fmt: skip
    settings = method_settings(spec, method, shared, miniature)
    return {k: v for k, v in sorted(settings.items()) if k not in tuned_keys}


def with_tuned(spec: TableSpec, locks: Mapping[str, Mapping[str, Any]]) -> TableSpec:
    """The table with a "<row> (tuned)" row right under every row whose methods all have a lock record.

    A tuned cell is its default cell with the lock's parameters (:func:`cell_sets`), no published
    value, and no ``select`` of a parameter the lock already fixes. Sources (``{source:NAME}``)
    stay the default networks: a tuned row tunes its own method only.
    """
    by_row = row_methods(spec)
    rows: list[tuple[str, str]] = []
    cells = dict(spec.cells)
    tuned_rows: dict[str, str] = {}
    for rkey, label in spec.rows:
        rows.append((rkey, label))
        methods = by_row.get(rkey, [])
        if rkey in spec.tuned_rows or not methods or not all(m in locks for m in methods):
            continue
        tkey = rkey + TUNED_SUFFIX
        rows.append((tkey, f"{label} (tuned)"))
        tuned_rows[tkey] = rkey
        for ckey, _ in spec.columns:
            cell = spec.cells.get((rkey, ckey))
            if cell is None:
                continue
            lock = dict(locks[cell.method])
            select = cell.select
            if select is not None and select.param in tuned_params(spec, cell.method, lock):
                select = None
            cells[(tkey, ckey)] = dataclasses.replace(cell, row=tkey, published=None, select=select, tuned=lock)
    used = {m: dict(locks[m]) for m in table_methods(spec) if m in locks}
    return dataclasses.replace(spec, rows=tuple(rows), cells=cells, tuned_rows={**spec.tuned_rows, **tuned_rows},
                               locks={**spec.locks, **used})  # fmt: skip

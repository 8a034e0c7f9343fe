"""Paper tables: declarative specs, planning and filling cells, aggregation over seeds, rendering.

A paper's tables live in ``leaderboards/specs/<paper>.yaml`` (schema in :func:`load_spec`): columns,
rows, and per cell a method, its settings and the published value. ``<paper>.<table>`` names one
table (e.g. ``dmtl_lc.table2``).

* :func:`plan` turns a table into runs: one :class:`harness.runner.RunRequest` per cell and seed,
  with the cell's settings, the spec's miniature settings when the data set is a miniature, and the
  placeholders ``{seed}`` and ``{source:<name>}`` expanded. Cells with ``select`` first run one
  validation-split run per candidate value (``eval_split="val"``) and take the best by the data
  set's validation metric.
* :func:`fill` reuses every recorded FINISHED run with the same (method, data set, config hash,
  seed, split) from the results table (``harness.results``) and runs the missing ones through
  :func:`harness.runner.execute` (each one tracked in MLflow as usual).
* :func:`aggregate` is a pure function from the results table to one row per cell: mean, std, n
  and 95 % CI over seeds (:mod:`leaderboards.stats`), the run ids, the published value and the
  difference; :func:`check_claims` evaluates the paper's qualitative claims on our means.
* :func:`render` writes Markdown, LaTeX or HTML (pandas ``Styler`` for the last two).

Cells computed on a miniature are labelled as such everywhere.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from harness.errors import HarnessError, InvalidParameterError, UnknownNameError

log = logging.getLogger(__name__)

SPEC_DIR = Path(__file__).resolve().parent / "specs"
FORMATS = ("md", "tex", "html")
MINI_MARK = "†"


# --------------------------------------------------------------------------------------------
# Specs
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Select:
    """Choose ``param`` among ``values`` on the validation split (one val run per value and seed).

    ``miniature_values`` replace ``values`` on a miniature data set (a shorter list for the time budget).
    """

    param: str
    values: tuple[Any, ...]
    miniature_values: tuple[Any, ...] = ()

    def candidates(self, miniature: bool) -> tuple[Any, ...]:
        return self.miniature_values if miniature and self.miniature_values else self.values


@dataclass(frozen=True)
class CellSpec:
    row: str
    column: str
    method: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    published: float | None = None
    select: Select | None = None
    tuned: Mapping[str, Any] | None = None  # the lock record of a "(tuned)" row's cell (see with_tuned)


@dataclass(frozen=True)
class Claim:
    """A qualitative claim of the paper, checked on the paper's numbers and on ours.

    ``kind``: ``rows_greater`` (row ``a`` > row ``b`` in each of ``over`` columns), ``columns_greater``
    (column ``a`` > column ``b`` in each of ``over`` rows) or ``row_best`` (row ``a`` is the best of
    every one of ``over`` columns).
    """

    text: str
    kind: str
    a: str
    b: str | None
    over: tuple[str, ...]


@dataclass(frozen=True)
class TableSpec:
    """One paper table."""

    paper: str
    name: str
    title: str
    metric: str
    unit: str
    scale: float
    datasets: tuple[str, ...]
    columns: tuple[tuple[str, str], ...]
    rows: tuple[tuple[str, str], ...]
    cells: Mapping[tuple[str, str], CellSpec]
    sources: Mapping[str, Mapping[str, Any]]
    miniature: Mapping[str, Mapping[str, Any]]
    claims: tuple[Claim, ...] = ()
    notes: tuple[str, ...] = ()
    spec_file: Path | None = None
    overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    pair_metric: str = ""  # per-concept metric of the paired tests ("" -> derived from ``metric``)
    tuned_rows: Mapping[str, str] = field(default_factory=dict)  # "(tuned)" row key -> its default row key
    locks: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # method -> lock record (--tuned)

    @property
    def full_name(self) -> str:
        return f"{self.paper}.{self.name}"

    def column_label(self, key: str) -> str:
        return dict(self.columns)[key]

    def row_label(self, key: str) -> str:
        return dict(self.rows)[key]

    @property
    def per_concept_metric(self) -> str:
        """The per-concept metric the paired tests use: ``pair_metric`` or ``metric`` without its
        leading "m" (the mean: mxinfap -> xinfap, map -> ap)."""
        if self.pair_metric:
            return self.pair_metric
        return self.metric[1:] if self.metric.startswith("m") and len(self.metric) > 1 else self.metric


def _fail(path: Path, where: str, problem: str) -> InvalidParameterError:
    return InvalidParameterError(f"{path}: {where}: {problem}")


def _mapping(value: Any, path: Path, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(path, where, f"expected a mapping, got {type(value).__name__} {value!r}")
    return value


def _number(value: Any, path: Path, where: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _fail(path, where, f"a published value must be a number or null, got {value!r}")
    return float(value)


def available_papers() -> list[str]:
    return sorted(p.stem for p in SPEC_DIR.glob("*.yaml"))


def load_spec(paper: str, spec_dir: Path | None = None) -> dict[str, TableSpec]:
    """Read ``<spec_dir>/<paper>.yaml`` into its tables.

    Schema (keys not listed are refused)::

        paper: dmtl_lc
        metric: mxinfap          # headline metric recorded by the runs
        pair_metric: xinfap      # optional: its per-concept metric, for the paired Wilcoxon tests
        unit: "%"                # how values are printed; scale multiplies recorded values
        scale: 1
        datasets: [trecvid2013, trecvid2013-mini]   # first = default
        sources: {NAME: {method: M, settings: {...}}}   # for {source:NAME} placeholders
        miniature: {METHOD: {key: value}}           # added to every cell of METHOD on a miniature
        tables:
          NAME:
            title: ...
            columns: [{key: K, label: L, settings: {...}}]   # column settings go to every cell
            rows: [{key: K, label: L, method: M, settings: {...}, published: {COL: value}}]
            cells: {ROW: {COL: {method: M, settings: {...}, published: v,
                              select: {param: P, values: [...] | paper_lr_grid, miniature_values: [...]}} | null}}
            claims: [{text: ..., kind: rows_greater|columns_greater|row_best, a: X, b: Y, over: [..] | all}]
            notes: [...]
    """
    import yaml

    path = (spec_dir or SPEC_DIR) / f"{paper}.yaml"
    if not path.is_file():
        raise UnknownNameError(f"No table spec for paper {paper!r} ({path} does not exist). Known: {', '.join(available_papers()) or 'none'}.")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise InvalidParameterError(f"{path} is not valid YAML: {exc}") from None
    top = _mapping(data, path, "top level")
    allowed = {"paper", "citation", "metric", "pair_metric", "unit", "scale", "datasets", "sources", "miniature", "tables"}
    unknown = set(top) - allowed
    if unknown:
        raise _fail(path, "top level", f"unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    for key in ("metric", "datasets", "tables"):
        if key not in top:
            raise _fail(path, "top level", f"missing key {key!r}")
    sources = {str(k): _mapping(v, path, f"sources.{k}") for k, v in _mapping(top.get("sources"), path, "sources").items()}
    for name, src in sources.items():
        if "method" not in src:
            raise _fail(path, f"sources.{name}", "needs a 'method'")
    miniature = {str(k): _mapping(v, path, f"miniature.{k}") for k, v in _mapping(top.get("miniature"), path, "miniature").items()}
    tables: dict[str, TableSpec] = {}
    for tname, tdata in _mapping(top["tables"], path, "tables").items():
        tables[str(tname)] = _table(path, str(top.get("paper", paper)), str(tname), _mapping(tdata, path, f"tables.{tname}"),
                                    top, sources, miniature)  # fmt: skip
    return tables


def _table(path: Path, paper: str, name: str, t: Mapping[str, Any], top: Mapping[str, Any],
           sources: Mapping[str, Mapping[str, Any]], miniature: Mapping[str, Mapping[str, Any]]) -> TableSpec:
    where = f"tables.{name}"
    allowed = {"title", "columns", "rows", "cells", "claims", "notes"}
    unknown = set(t) - allowed
    if unknown:
        raise _fail(path, where, f"unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    columns, col_settings = [], {}
    for i, c in enumerate(t.get("columns") or []):
        c = _mapping(c, path, f"{where}.columns[{i}]")
        if "key" not in c:
            raise _fail(path, f"{where}.columns[{i}]", "needs a 'key'")
        columns.append((str(c["key"]), str(c.get("label", c["key"]))))
        col_settings[str(c["key"])] = dict(_mapping(c.get("settings"), path, f"{where}.columns[{i}].settings"))
    col_keys = [k for k, _ in columns]
    rows, cells = [], {}
    for i, r in enumerate(t.get("rows") or []):
        r = _mapping(r, path, f"{where}.rows[{i}]")
        if "key" not in r:
            raise _fail(path, f"{where}.rows[{i}]", "needs a 'key'")
        rkey = str(r["key"])
        rows.append((rkey, str(r.get("label", rkey))))
        published = _mapping(r.get("published"), path, f"{where}.rows[{i}].published")
        for col in published:
            if str(col) not in col_keys:
                raise _fail(path, f"{where}.rows[{i}].published", f"unknown column {col!r}; columns: {col_keys}")
        if "method" in r:
            for col in col_keys:
                settings = {**col_settings[col], **_mapping(r.get("settings"), path, f"{where}.rows[{i}].settings")}
                cells[(rkey, col)] = CellSpec(rkey, col, str(r["method"]), settings,
                                              _number(published.get(col), path, f"{where}.rows[{i}].published.{col}"))  # fmt: skip
    for rkey, per_col in _mapping(t.get("cells"), path, f"{where}.cells").items():
        if str(rkey) not in dict(rows):
            raise _fail(path, f"{where}.cells", f"unknown row {rkey!r}; rows: {[k for k, _ in rows]}")
        for col, c in _mapping(per_col, path, f"{where}.cells.{rkey}").items():
            cw = f"{where}.cells.{rkey}.{col}"
            if str(col) not in col_keys:
                raise _fail(path, cw, f"unknown column {col!r}; columns: {col_keys}")
            if c is None:
                cells.pop((str(rkey), str(col)), None)
                continue
            c = _mapping(c, path, cw)
            extra = set(c) - {"method", "settings", "published", "select"}
            if extra or "method" not in c:
                raise _fail(path, cw, f"a cell has keys method, settings, published, select; got {sorted(c)}")
            select = None
            if c.get("select") is not None:
                s = _mapping(c["select"], path, f"{cw}.select")
                lists = {}
                for key in ("values", "miniature_values"):
                    v = s.get(key, s.get("values"))
                    if v == "paper_lr_grid":
                        from harness.search_space import PAPER_LR_GRID

                        v = list(PAPER_LR_GRID.choices)
                    if not isinstance(v, (list, tuple)) or not v:
                        raise _fail(path, f"{cw}.select", f"'{key}' must be a non-empty list or 'paper_lr_grid', got {v!r}")
                    lists[key] = tuple(v)
                if "param" not in s or set(s) - {"param", "values", "miniature_values"}:
                    raise _fail(path, f"{cw}.select", f"needs 'param' and 'values' (optional 'miniature_values'), got {sorted(s)}")
                select = Select(str(s["param"]), lists["values"], lists["miniature_values"])
            settings = {**col_settings[str(col)], **_mapping(c.get("settings"), path, f"{cw}.settings")}
            cells[(str(rkey), str(col))] = CellSpec(str(rkey), str(col), str(c["method"]), settings,
                                                    _number(c.get("published"), path, f"{cw}.published"), select)  # fmt: skip
    claims = []
    for i, c in enumerate(t.get("claims") or []):
        c = _mapping(c, path, f"{where}.claims[{i}]")
        kind = str(c.get("kind", ""))
        if kind not in ("rows_greater", "columns_greater", "row_best"):
            raise _fail(path, f"{where}.claims[{i}]", f"kind must be rows_greater, columns_greater or row_best, got {kind!r}")
        pool = col_keys if kind != "columns_greater" else [k for k, _ in rows]
        over = c.get("over", "all")
        over_t = tuple(pool) if over == "all" else tuple(str(o) for o in over)
        claims.append(Claim(str(c.get("text", "")), kind, str(c["a"]), None if c.get("b") is None else str(c["b"]), over_t))
    for srcname, src in sources.items():
        del srcname, src  # validated at load; expanded at plan time
    return TableSpec(
        paper=paper, name=name, title=str(t.get("title", name)), metric=str(top["metric"]), unit=str(top.get("unit", "")),
        scale=float(top.get("scale", 1.0)), datasets=tuple(map(str, top["datasets"])), columns=tuple(columns),
        rows=tuple(rows), cells=cells, sources=sources, miniature=miniature, claims=tuple(claims),
        notes=tuple(map(str, t.get("notes") or ())), spec_file=path, pair_metric=str(top.get("pair_metric") or ""),
    )  # fmt: skip


def available_tables(spec_dir: Path | None = None) -> list[str]:
    names = []
    for paper in sorted(p.stem for p in (spec_dir or SPEC_DIR).glob("*.yaml")):
        names += [f"{paper}.{t}" for t in load_spec(paper, spec_dir)]
    return names


def get_table(full_name: str, spec_dir: Path | None = None) -> TableSpec:
    """``<paper>.<table>`` -> its :class:`TableSpec` (UnknownNameError with close matches otherwise)."""
    paper, _, table = full_name.partition(".")
    if not table:
        raise UnknownNameError(f"Table names are '<paper>.<table>', e.g. dmtl_lc.table2; got {full_name!r}.")
    tables = load_spec(paper, spec_dir)
    if table not in tables:
        import difflib

        close = difflib.get_close_matches(table, list(tables), n=1)
        hint = f" Did you mean {paper}.{close[0]}?" if close else ""
        raise UnknownNameError(f"Paper {paper!r} has no table {table!r}.{hint} Tables: {', '.join(f'{paper}.{t}' for t in tables)}.")
    return tables[table]


# --------------------------------------------------------------------------------------------
# Planning
# --------------------------------------------------------------------------------------------


def _text(value: Any) -> str:
    """A setting value as ``--set`` text (lists -> comma-separated)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(_text(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


_PLACEHOLDER = re.compile(r"\{(seed|source:[A-Za-z0-9_\-]+)\}")


def method_settings(spec: TableSpec, method: str, settings: Mapping[str, Any], miniature: bool) -> dict[str, Any]:
    """A method's settings in a cell: the spec's miniature settings (if any) < user overrides < the cell's."""
    base = dict(spec.miniature.get(method, {})) if miniature else {}
    return {**base, **spec.overrides.get(method, {}), **settings}


def with_overrides(spec: TableSpec, items: Sequence[str]) -> TableSpec:
    """Apply ``METHOD.KEY=VALUE`` overrides to every cell (and source) of METHOD; the cell's own settings win.

    Overrides change the runs' configs (so their config hashes): they are recorded like any setting.
    """
    methods = {c.method for c in spec.cells.values()} | {str(s["method"]) for s in spec.sources.values()}
    out: dict[str, dict[str, Any]] = {k: dict(v) for k, v in spec.overrides.items()}
    for item in items:
        key, eq, value = item.partition("=")
        method, dot, name = key.strip().partition(".")
        if not eq or not dot or not name:
            raise InvalidParameterError(f"--set for a table expects METHOD.KEY=VALUE (e.g. dmtl_lc.max_epochs=2), got {item!r}.")
        if method not in methods:
            raise InvalidParameterError(f"--set {item!r}: table {spec.full_name} has no cell of method {method!r}; its methods: {', '.join(sorted(methods))}.")
        out.setdefault(method, {})[name] = value.strip()
    return dataclasses.replace(spec, overrides=out)


def source_text(spec: TableSpec, name: str, miniature: bool) -> str:
    """``{source:NAME}`` -> ``method:key=value;...`` with the same settings the source's own cell uses."""
    if name not in spec.sources:
        raise InvalidParameterError(f"{spec.spec_file}: placeholder {{source:{name}}} names no entry of 'sources' ({', '.join(spec.sources)}).")
    src = spec.sources[name]
    settings = method_settings(spec, str(src["method"]), _mapping(src.get("settings"), Path(str(spec.spec_file)), f"sources.{name}"), miniature)
    items = ";".join(f"{k}={_text(v)}" for k, v in sorted(settings.items()))
    return f"{src['method']}:{items}" if items else str(src["method"])


def expand(spec: TableSpec, value: Any, seed: int, miniature: bool) -> Any:
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        token = m.group(1)
        return str(seed) if token == "seed" else source_text(spec, token.split(":", 1)[1], miniature)

    return _PLACEHOLDER.sub(sub, value)


def cell_sets(spec: TableSpec, cell: CellSpec, seed: int, miniature: bool, extra: Mapping[str, Any] | None = None) -> tuple[str, ...]:
    """The ``--set`` items of one run of ``cell`` (later items win).

    A "(tuned)" cell applies its lock file the way ``harness run --tuned`` does: the lock's fixed
    settings (``base_sets``) first, then the table's settings, then the tuned values (they replace
    the cell's own values of those keys, except keys the user fixed with ``--set METHOD.KEY=...``).
    """
    settings = method_settings(spec, cell.method, cell.settings, miniature)
    if cell.tuned is not None:
        settings.update(tuned_params(spec, cell.method, cell.tuned))
    settings.update(extra or {})
    items = tuple(f"{k}={_text(expand(spec, v, seed, miniature))}" for k, v in sorted(settings.items()))
    if cell.tuned is not None:
        return tuple(str(x) for x in cell.tuned.get("base_sets") or ()) + items
    return items


def tuned_params(spec: TableSpec, method: str, lock: Mapping[str, Any]) -> dict[str, Any]:
    """The lock's tuned values that a tuned cell of ``method`` uses (a user's ``--set`` on a key wins)."""
    fixed = spec.overrides.get(method, {})
    return {str(k): v for k, v in dict(lock["params"]).items() if k not in fixed}


@dataclass(frozen=True)
class PlannedRun:
    """One run of a cell: the request and its config hash (what the results table is searched by)."""

    cell: CellSpec
    seed: int
    request: Any  # harness.runner.RunRequest
    config_hash: str
    candidate: Any = None  # the ``select`` value this validation run tries (None for test runs)


def _config_hash(request: Any) -> str:
    from harness.params import config_to_dict
    from harness.runner import config_hash, resolve

    resolved = resolve(request)
    return config_hash(request.method, config_to_dict(resolved.method_config), config_to_dict(resolved.dataset_config))


def make_run(spec: TableSpec, cell: CellSpec, dataset: str, seed: int, miniature: bool, *, out_dir: Path,
             device: str = "auto", data_root: Path | None = None, tracking_uri: str | None = None,
             extra: Mapping[str, Any] | None = None, eval_split: str = "test", candidate: Any = None) -> PlannedRun:
    from harness.runner import RunRequest

    tags = {"harness.table": spec.full_name, "harness.table_cell": f"{cell.row}/{cell.column}"}
    if cell.tuned is not None:  # the same tag as 'harness run --tuned'
        tags["harness.tuned_from"] = f"{cell.tuned['study']} trial {cell.tuned.get('trial_number')} ({cell.tuned.get('storage')})"
    request = RunRequest(method=cell.method, dataset=dataset, seed=seed, sets=cell_sets(spec, cell, seed, miniature, extra),
                         data_root=data_root, out_dir=Path(out_dir), tracking_uri=tracking_uri, device=device,
                         tags=tags, eval_split=eval_split)  # fmt: skip
    return PlannedRun(cell, seed, request, _config_hash(request), candidate)


def is_miniature(dataset: str) -> bool:
    from harness import api
    from harness.registry import load_plugins

    load_plugins()
    return bool(getattr(api.DATASETS.get(dataset), "is_miniature", False))


# --------------------------------------------------------------------------------------------
# Tuned rows (harness table --tuned)
# --------------------------------------------------------------------------------------------

TUNED_SUFFIX = ":tuned"
DEFAULT_TUNE_TRIALS = 20  # harness tune's default


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


def _search_keys(method: str) -> set[str]:
    from harness import api
    from harness.registry import load_plugins

    load_plugins()
    hook = getattr(api.METHODS.get(method), "search_space", None)
    return set(hook()) if hook is not None else set()


def tune_settings(spec: TableSpec, method: str, miniature: bool) -> dict[str, Any]:
    """The fixed settings of ``method``'s study for this table.

    The spec's miniature settings, the user's ``--set METHOD.KEY=...`` and the settings every cell of
    the method shares (placeholders left out: they differ per seed or column), minus the keys the
    method's search space tunes (``harness tune`` refuses to fix those).
    """
    cells = [c for c in spec.cells.values() if c.method == method and c.tuned is None]
    shared: dict[str, Any] = {}
    if cells:
        shared = {k: v for k, v in cells[0].settings.items()
                  if all(c.settings.get(k, _ABSENT) == v for c in cells[1:])
                  and not (isinstance(v, str) and _PLACEHOLDER.search(v))}  # fmt: skip
    settings = method_settings(spec, method, shared, miniature)
    tuned = _search_keys(method)
    return {k: v for k, v in sorted(settings.items()) if k not in tuned}


_ABSENT = object()


def tune_command(spec: TableSpec, method: str, dataset: str, out_dir: Path, trials: int, *,
                 storage: str | None = None, sampler: str = "tpe") -> str:
    """The ``harness tune`` command line that writes the lock file ``harness table --tuned`` needs."""
    import shlex

    from harness.tuning import redact_url

    parts = ["harness", "tune", "--method", method, "--dataset", dataset, "--trials", str(trials), "--out", str(out_dir)]
    if storage:
        parts += ["--storage", redact_url(storage)]
    if sampler != "tpe":
        parts += ["--sampler", sampler]
    for k, v in tune_settings(spec, method, is_miniature(dataset)).items():
        parts += ["--set", f"{k}={_text(v)}"]
    return " ".join(shlex.quote(p) for p in parts)


def read_locks(spec: TableSpec, dataset: str, out_dir: Path,
               only: Sequence[str] | None = None) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """(lock record per method that has one, methods without one) for the table's methods on ``dataset``.

    ``only`` restricts the tuned rows to these methods (each must be a method of the table).
    """
    from harness.tuning_lock import lock_path, read_lock

    methods = table_methods(spec)
    if only is not None:
        unknown = [m for m in only if m not in methods]
        if unknown or not only:
            raise InvalidParameterError(
                f"--tuned-methods: {', '.join(unknown) or '(empty)'} not a method of {spec.full_name}; "
                f"its methods: {', '.join(methods)}"
            )
        methods = [m for m in methods if m in only]
    found: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for method in methods:
        if lock_path(out_dir, method, dataset).is_file():
            found[method] = read_lock(out_dir, method, dataset)
        else:
            missing.append(method)
    return found, missing


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


def prepare_tuned(spec: TableSpec, dataset: str, out_dir: Path, *, tune_missing: bool = False, trials: int | None = None,
                  storage: str | None = None, sampler: str = "tpe", tune_options: Mapping[str, Any] | None = None,
                  echo: Callable[[str], None] | None = None, only: Sequence[str] | None = None) -> TableSpec:
    """Read the lock files of every method of the table and add the "(tuned)" rows (:func:`with_tuned`).

    Without ``tune_missing`` a method without a lock file is an error naming the missing pairs and
    the ``harness tune`` commands that create them. With it, the missing methods are tuned here
    (:func:`harness.tuning.tune_for_table`, one budget for all), and so are methods whose lock has
    another budget than ``trials`` (their studies are resumed and extended where they match). The
    locks used must share one trial budget (:func:`harness.tuning_lock.check_equal_budgets`).
    ``tune_options`` are further :class:`harness.tuning.TuneRequest` fields (device, data_root, ...).
    ``only`` limits the tuned rows (and any tuning) to these methods.
    """
    from harness.tuning_lock import check_equal_budgets

    echo = echo or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if dataset not in spec.datasets:
        raise InvalidParameterError(f"Table {spec.full_name} is defined for {', '.join(spec.datasets)}; got --dataset {dataset!r}.")
    if trials is not None and (isinstance(trials, bool) or not isinstance(trials, int) or trials < 1):
        raise InvalidParameterError(f"--trials must be a positive integer, got {trials!r}")
    found, missing = read_locks(spec, dataset, out_dir, only)
    budgets = {m: int(r.get("trials_requested", -1)) for m, r in found.items()}
    common = sorted(set(budgets.values()))
    if tune_missing:
        if trials is None and len(common) > 1:
            listing = ", ".join(f"{m}: {b}" for m, b in budgets.items())
            raise InvalidParameterError(
                f"--tune-missing: the lock files of {spec.full_name} on {dataset} have different trial budgets ({listing}); "
                f"give --trials N to bring every method to one budget"
            )
        n = trials if trials is not None else (common[0] if common else DEFAULT_TUNE_TRIALS)
        todo = [m for m in table_methods(spec) if (only is None or m in only) and (m in missing or budgets.get(m) != n)]
        if todo:
            from harness.tuning import tune_for_table

            mini = is_miniature(dataset)
            echo(f"[{spec.full_name}] tuning {', '.join(todo)} on {dataset} with {n} trial(s) each (validation split only)")
            per_method = {m: {"sets": tuple(f"{k}={_text(v)}" for k, v in tune_settings(spec, m, mini).items())} for m in todo}
            outcomes = tune_for_table(todo, dataset, n, out_dir=Path(out_dir), storage=storage, sampler=sampler,
                                      per_method=per_method, **dict(tune_options or {}))  # fmt: skip
            for m, o in outcomes.items():
                best = "no finished trial" if o.best_value is None else f"best validation {o.metric} {o.best_value:.4f}"
                echo(f"[{spec.full_name}] tuned {m}: study {o.study}, {o.n_counted}/{o.budget} trials, {best} ({o.wall_s:.1f} s)")
            found, missing = read_locks(spec, dataset, out_dir, only)
    if missing:
        n = trials or (common[0] if len(common) == 1 else DEFAULT_TUNE_TRIALS)
        pairs = ", ".join(f"({m}, {dataset})" for m in missing)
        commands = "\n".join("  " + tune_command(spec, m, dataset, Path(out_dir), n, storage=storage, sampler=sampler) for m in missing)
        raise TableError(
            f"--tuned: no lock file for {pairs} in {Path(out_dir) / 'tuned'}. Create them with\n{commands}\n"
            f"or let the table tune every missing method with one budget: harness table {spec.full_name} "
            f"--dataset {dataset} --out {out_dir} --tuned --tune-missing --trials {n}"
            + (f" --tuned-methods {','.join(only)}" if only else "")
        )
    try:
        check_equal_budgets(found)
    except InvalidParameterError as exc:
        raise InvalidParameterError(
            f"--tuned on {spec.full_name}: {exc}. Or: harness table {spec.full_name} --dataset {dataset} --out {out_dir} "
            f"--tuned --tune-missing --trials N (resumes and extends the studies to N trials each)"
        ) from None
    return with_tuned(spec, found)


def miniature_notes(spec: TableSpec, dataset: str) -> list[str]:
    """On a miniature, the settings the spec adds to its methods there (they differ from the paper's)."""
    if not is_miniature(dataset):
        return []
    used = set(table_methods(spec)) | {c.method for c in spec.cells.values()}
    parts = [f"{m}: " + ", ".join(f"{k}={_text(v)}" for k, v in sorted(settings.items()))
             for m, settings in spec.miniature.items() if m in used and settings]  # fmt: skip
    if not parts:
        return []
    return ["Miniature settings (added to every cell of these methods on a miniature; the paper's defaults "
            "apply on real data): " + "; ".join(parts)]


def tuned_study_notes(spec: TableSpec) -> list[str]:
    """One note per tuned method: the study its lock came from and what it found."""
    from harness.search_space import format_value

    out = []
    for method, r in spec.locks.items():
        params = ", ".join(f"{k}={format_value(v)}" for k, v in dict(r.get("params", {})).items())
        rows = ", ".join(spec.row_label(t) for t, d in spec.tuned_rows.items() if method in row_methods(spec).get(t, []))
        best = r.get("best_value")
        best_text = f"{best:.4f}" if isinstance(best, (int, float)) else "?"
        fixed = ", ".join(map(str, r.get("base_sets") or ())) or "none"
        baseline = r.get("baseline") or {}
        if isinstance(baseline.get("value"), (int, float)):
            best_text += f" vs {baseline['value']:.4f} for the defaults (MLflow run {baseline.get('run_id')})"
        out.append(
            f"{rows or method}: {method} tuned in study '{r.get('study')}' ({r.get('storage')}), "
            f"{r.get('trials_counted')} trials counted (budget {r.get('budget')}, requested {r.get('trials_requested')}, "
            f"sampler {r.get('sampler')}, seed {r.get('seed')}); best validation {r.get('metric')} {best_text} "
            f"(trial {r.get('trial_number')}, MLflow run {r.get('mlflow_run_id')}); {params}; fixed settings: {fixed}"
        )
    return out


# --------------------------------------------------------------------------------------------
# Filling cells (reuse recorded runs, run the missing ones)
# --------------------------------------------------------------------------------------------


def _finished(results: pd.DataFrame) -> pd.DataFrame:
    if results.empty:
        return results
    df = results[(results["status"] == "FINISHED") & (results["concept"].fillna("") == "")]
    split = df["eval_split"].fillna("test") if "eval_split" in df.columns else pd.Series("test", index=df.index)
    return df.assign(eval_split=split)


def recorded_value(results: pd.DataFrame, run: PlannedRun, metric: str | None) -> tuple[str, float] | None:
    """(run id, value of ``metric``) of the latest FINISHED run matching ``run``, or None.

    ``metric=None`` takes the run's only overall metric (validation runs record just the data set's
    validation metric).
    """
    df = _finished(results)
    if df.empty:
        return None
    r = run.request
    sel = df[(df["method"] == r.method) & (df["dataset"] == r.dataset) & (df["config_hash"] == run.config_hash)
             & (df["seed"] == r.seed) & (df["eval_split"] == r.eval_split)]  # fmt: skip
    if metric is not None:
        sel = sel[sel["metric"] == metric]
    if sel.empty:
        return None
    last = sel.sort_values("timestamp").iloc[-1]
    return str(last["run_id"]), float(last["value"])


@dataclass
class FillReport:
    """What :func:`fill` did: runs reused / executed / failed, seconds per method, choices made."""

    reused: int = 0
    executed: int = 0
    failed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    choices: dict[str, dict[int, Any]] = field(default_factory=dict)

    def add_time(self, method: str, seconds: float) -> None:
        self.seconds[method] = self.seconds.get(method, 0.0) + seconds
        self.runs[method] = self.runs.get(method, 0) + 1


def fill(spec: TableSpec, dataset: str, seeds: Sequence[int], *, out_dir: Path, run_missing: bool = True,
         device: str = "auto", data_root: Path | None = None, tracking_uri: str | None = None,
         echo: Callable[[str], None] | None = None) -> tuple[list[PlannedRun], FillReport]:
    """Plan every cell x seed, reuse recorded runs, execute the missing ones (unless ``run_missing`` is off).

    Returns the test-split runs of the table (one per cell and seed) and a :class:`FillReport`.
    """
    from harness import results as results_mod

    echo = echo or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if dataset not in spec.datasets:
        raise InvalidParameterError(f"Table {spec.full_name} is defined for {', '.join(spec.datasets)}; got --dataset {dataset!r}.")
    mini = is_miniature(dataset)
    report = FillReport()
    out_dir = Path(out_dir)
    kw: dict[str, Any] = {"out_dir": out_dir, "device": device, "data_root": data_root, "tracking_uri": tracking_uri}

    def ensure(run: PlannedRun, metric: str | None, label: str) -> str | None:
        found = recorded_value(results_mod.read_table(out_dir), run, metric)
        if found is not None:
            report.reused += 1
            return found[0]
        if not run_missing:
            report.missing.append(label)
            return None
        from harness.runner import execute

        echo(f"[{spec.full_name}] running {label} ...")
        t0 = time.perf_counter()
        try:
            result = execute(run.request)
        except Exception as exc:  # a failing cell must not stop the table; the runner recorded it FAILED
            report.failed.append(f"{label}: {exc}")
            echo(f"[{spec.full_name}] FAILED {label}: {exc}")
            return None
        finally:
            report.add_time(run.request.method, time.perf_counter() - t0)
        report.executed += 1
        name = metric or next(iter(result.overall), "")
        value = float(result.overall.get(name, math.nan))
        echo(f"[{spec.full_name}] done {label}: {name} {value:.4f} in {time.perf_counter() - t0:.1f} s (run {result.run_id})")
        return result.run_id

    planned: list[PlannedRun] = []
    order = sorted(spec.cells.values(), key=lambda c: (_source_first(spec, c), [k for k, _ in spec.rows].index(c.row),
                                                         [k for k, _ in spec.columns].index(c.column)))  # fmt: skip
    for seed in seeds:
        for cell in order:
            label = f"{spec.row_label(cell.row)} / {spec.column_label(cell.column)} (seed {seed})"
            extra: dict[str, Any] = {}
            if cell.select is not None:
                best_value, best_score = None, -math.inf
                for value in cell.select.candidates(mini):
                    cand = make_run(spec, cell, dataset, seed, mini, extra={cell.select.param: value}, eval_split="val",
                                    candidate=value, **kw)  # fmt: skip
                    ensure(cand, None, f"{label} [validation, {cell.select.param}={value}]")
                    found = recorded_value(results_mod.read_table(out_dir), cand, None)
                    if found is not None and found[1] > best_score:
                        best_value, best_score = value, found[1]
                if best_value is None:
                    report.missing.append(f"{label} (no validation run for {cell.select.param})")
                    continue
                report.choices.setdefault(f"{cell.row}/{cell.column}", {})[seed] = best_value
                extra[cell.select.param] = best_value
            run = make_run(spec, cell, dataset, seed, mini, extra=extra, **kw)
            ensure(run, spec.metric, label)
            planned.append(run)
    return planned, report


def _source_first(spec: TableSpec, cell: CellSpec) -> int:
    """Cells whose config is a source of other cells run first (so consumers load the cached network)."""
    for src in spec.sources.values():
        if src.get("method") == cell.method and all(cell.settings.get(k) == v for k, v in _mapping(src.get("settings"), Path("."), "").items()):
            return 0
    return 1


# --------------------------------------------------------------------------------------------
# Aggregation (pure: results table -> one row per cell)
# --------------------------------------------------------------------------------------------


def aggregate(spec: TableSpec, planned: Sequence[PlannedRun], results: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: row, column, labels, mean, std, n, ci_low, ci_high, published, diff, run_ids, miniature,
    and for "(tuned)" rows the paired test against their default row (tuned_of, pvalue, n_pairs, mark).

    Only test-split runs count: validation runs (``select`` candidates, tuning trials) are recorded in
    the same results table, often with the same config hash and seed, so planned validation runs are
    skipped and every lookup asks for ``eval_split == "test"``.
    """
    from leaderboards.stats import cell_stats

    by_cell: dict[tuple[str, str], list[tuple[str, float]]] = {}
    for run in planned:
        if run.request.eval_split != "test":
            continue
        found = recorded_value(results, run, spec.metric)
        if found is not None:
            by_cell.setdefault((run.cell.row, run.cell.column), []).append(found)
    df = _finished(results)
    mini_runs = set(df.loc[df["is_miniature"].astype("boolean").fillna(False), "run_id"]) if not df.empty else set()
    rows = []
    for (rkey, rlabel) in spec.rows:
        for (ckey, clabel) in spec.columns:
            cell = spec.cells.get((rkey, ckey))
            recorded = by_cell.get((rkey, ckey), [])
            s = cell_stats([v * spec.scale for _, v in recorded])
            published = cell.published if cell is not None else None
            rows.append({
                "row": rkey, "row_label": rlabel, "column": ckey, "column_label": clabel,
                "method": cell.method if cell else None, "defined": cell is not None,
                "mean": s.mean, "std": s.std, "n": s.n, "ci_low": s.ci_low, "ci_high": s.ci_high,
                "published": math.nan if published is None else published,
                "diff": s.mean - published if published is not None and s.n else math.nan,
                "run_ids": [rid for rid, _ in recorded], "miniature": any(rid in mini_runs for rid, _ in recorded),
                "tuned_of": spec.tuned_rows.get(rkey), "pvalue": math.nan, "n_pairs": 0, "mark": "",
            })  # fmt: skip
    agg = pd.DataFrame(rows)
    if spec.tuned_rows:
        _paired_tests(spec, agg, results)
    return agg


def _paired_tests(spec: TableSpec, agg: pd.DataFrame, results: pd.DataFrame) -> None:
    """Fill pvalue / n_pairs / mark of each tuned cell: paired Wilcoxon signed-rank test of the tuned
    against the default cell on per-concept values over their common (data set, seed, concept)."""
    from leaderboards.stats import compare_rows

    metric = spec.per_concept_metric
    df = _finished_all(results)
    if df.empty:
        return
    df = df[(df["eval_split"] == "test") & (df["metric"] == metric) & (df["concept"].fillna("") != "")]
    ids = {(r.row, r.column): list(r.run_ids) for r in agg.itertuples()}
    for i, r in agg.iterrows():
        if not isinstance(r["tuned_of"], str) or not r["run_ids"]:
            continue
        default_ids = ids.get((r["tuned_of"], r["column"]), [])
        pair = pd.concat([df[df["run_id"].isin(r["run_ids"])].assign(side="tuned"),
                          df[df["run_id"].isin(default_ids)].assign(side="default")])  # fmt: skip
        try:
            test = compare_rows(pair, {"side": "tuned"}, {"side": "default"}, metric)
        except ValueError as exc:  # no per-concept values recorded for one side, or no common pairs
            log.info("no paired test for %s / %s: %s", r["row_label"], r["column_label"], exc)
            continue
        agg.at[i, "pvalue"] = test.pvalue
        agg.at[i, "n_pairs"] = test.n_pairs
        agg.at[i, "mark"] = test.marker()


def _finished_all(results: pd.DataFrame) -> pd.DataFrame:
    """FINISHED rows of every concept (overall and per-concept), eval_split defaulting to test."""
    if results.empty:
        return results
    df = results[results["status"] == "FINISHED"]
    split = df["eval_split"].fillna("test") if "eval_split" in df.columns else pd.Series("test", index=df.index)
    return df.assign(eval_split=split)


def check_claims(spec: TableSpec, agg: pd.DataFrame) -> list[dict[str, Any]]:
    """Each claim checked on the published values and on our means: per comparison, held or not.

    Claims are about the paper's configurations: "(tuned)" rows never take part.
    """
    mean = {(r.row, r.column): r["mean"] for _, r in agg.iterrows()}
    pub = {(r.row, r.column): r["published"] for _, r in agg.iterrows()}
    out = []
    for claim in spec.claims:
        details: list[dict[str, Any]] = []
        for o in claim.over:
            pairs: list[tuple[tuple[str, str], tuple[str, str]]]
            if claim.kind == "rows_greater":
                pairs = [((claim.a, o), (str(claim.b), o))]
            elif claim.kind == "columns_greater":
                pairs = [((o, claim.a), (o, str(claim.b)))]
            else:
                pairs = [((claim.a, o), (r, o)) for r, _ in spec.rows if r != claim.a and r not in spec.tuned_rows]
            for source, name in ((pub, "paper"), (mean, "ours")):
                vals = [(source.get(x, math.nan), source.get(y, math.nan)) for x, y in pairs]
                vals = [(x, y) for x, y in vals if _finite(x) and _finite(y)]
                held = None if not vals else all(x > y for x, y in vals)
                details.append({"over": o, "who": name, "held": held})
        paper = [d for d in details if d["who"] == "paper" and d["held"] is not None]
        ours = [d for d in details if d["who"] == "ours" and d["held"] is not None]
        out.append({
            "text": claim.text, "kind": claim.kind,
            "paper_held": sum(bool(d["held"]) for d in paper), "paper_total": len(paper),
            "ours_held": sum(bool(d["held"]) for d in ours), "ours_total": len(ours),
            "ours_failed_over": [d["over"] for d in ours if not d["held"]],
        })  # fmt: skip
    return out


def _finite(x: Any) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


# --------------------------------------------------------------------------------------------
# Rendering
# --------------------------------------------------------------------------------------------


def _fmt(x: float, digits: int = 2, signed: bool = False) -> str:
    if not _finite(x):
        return "–"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def _ours(r: Mapping[str, Any], mark: bool) -> str:
    if not r["defined"]:
        return "–"
    if not r["n"]:
        return "missing"
    text = _fmt(r["mean"])
    if r["n"] > 1:
        text += f" ± {_fmt(r['std'])}"
    text += MINI_MARK if mark and r["miniature"] else ""
    return text + (f" {r['mark']}" if r.get("mark") else "")


def display_frame(spec: TableSpec, agg: pd.DataFrame, mark: bool = True) -> pd.DataFrame:
    """Rows = table rows, columns = (column label, ours / paper / Δ) as strings."""
    cols = pd.MultiIndex.from_tuples([(label, sub) for _, label in spec.columns for sub in ("ours", "paper", "Δ")])
    data = []
    for rkey, _ in spec.rows:
        line = []
        for ckey, _ in spec.columns:
            r = agg[(agg["row"] == rkey) & (agg["column"] == ckey)].iloc[0]
            line += [_ours(r, mark), _fmt(r["published"]), _fmt(r["diff"], signed=True)]
        data.append(line)
    return pd.DataFrame(data, index=pd.Index([label for _, label in spec.rows], name="method"), columns=cols)


def _header_lines(spec: TableSpec, dataset: str, agg: pd.DataFrame, seeds: Sequence[int]) -> list[str]:
    mini = bool(agg["miniature"].any())
    lines = [f"{spec.title}", f"Metric: {spec.metric} ({spec.unit}); data set: {dataset}; seeds: {', '.join(map(str, seeds))}; "
             f"ours = mean ± std over seeds; Δ = ours − paper."]  # fmt: skip
    if mini:
        lines.append(f"{MINI_MARK} computed on the MINIATURE data set {dataset}: synthetic data, not comparable with the paper's numbers.")
    if spec.tuned_rows:
        lines.append(f"(tuned) rows: the cells of the row above run with the best parameters of 'harness tune' (chosen on the "
                     f"validation split only; studies in the notes). * / ** / *** after a tuned value: paired Wilcoxon "
                     f"signed-rank test against the row above on per-concept {spec.per_concept_metric} over the same seeds "
                     f"and concepts, p < 0.05 / 0.01 / 0.001.")  # fmt: skip
    return lines


def _tuned_lines(spec: TableSpec, agg: pd.DataFrame) -> list[str]:
    """Per tuned cell: tuned and default mean ± std, n and 95 % CI, and the paired test."""
    def stats(r: Mapping[str, Any]) -> str:
        if not r["n"]:
            return "missing"
        text = f"{_fmt(r['mean'])}" + (f" ± {_fmt(r['std'])}" if r["n"] > 1 else "")
        ci = f", 95% CI [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]" if r["n"] > 1 else ", no CI with n = 1"
        return f"{text} (n = {r['n']}{ci})"

    out = []
    cells = {(r["row"], r["column"]): r for _, r in agg.iterrows()}
    for _, r in agg.iterrows():
        if not isinstance(r["tuned_of"], str) or not r["defined"]:
            continue
        d = cells[(r["tuned_of"], r["column"])]
        test = (f"paired Wilcoxon on {r['n_pairs']} per-concept {spec.per_concept_metric} pairs: p = {r['pvalue']:.3g}"
                f"{' ' + r['mark'] if r['mark'] else ' (not significant)'}") if r["n_pairs"] else "no paired test (no common per-concept values)"  # fmt: skip
        out.append(f"{r['row_label']} / {r['column_label']}: tuned {stats(r)} vs default {stats(d)}; {test}")
    return out


def _run_lines(spec: TableSpec, agg: pd.DataFrame) -> list[str]:
    out = []
    for _, r in agg.iterrows():
        if r["run_ids"]:
            out.append(f"{r['row_label']} / {r['column_label']}: {', '.join(r['run_ids'])}")
    return out


def _claim_lines(claims: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for c in claims:
        ours = f"{c['ours_held']}/{c['ours_total']}" if c["ours_total"] else "not measurable"
        failed = f" (not in: {', '.join(c['ours_failed_over'])})" if c["ours_failed_over"] else ""
        out.append(f"{c['text']}: paper {c['paper_held']}/{c['paper_total']}, ours {ours}{failed}")
    return out


def render(spec: TableSpec, agg: pd.DataFrame, fmt: str, *, dataset: str, seeds: Sequence[int],
           claims: Sequence[Mapping[str, Any]] | None = None, extra_notes: Sequence[str] = ()) -> str:
    """The table as Markdown (``md``), LaTeX (``tex``) or HTML (``html``) text."""
    if fmt not in FORMATS:
        raise InvalidParameterError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    frame = display_frame(spec, agg)
    header = _header_lines(spec, dataset, agg, seeds)
    runs = _run_lines(spec, agg)
    claim_lines = _claim_lines(claims or [])
    notes = [*spec.notes, *miniature_notes(spec, dataset), *tuned_study_notes(spec), *extra_notes]
    tuned = _tuned_lines(spec, agg)
    if fmt == "md":
        return _markdown(frame, header, runs, claim_lines, notes, tuned)
    styler = frame.style
    if fmt == "tex":
        body = styler.to_latex(caption=header[0], hrules=True, multicol_align="c", position="htbp")
        extra = [*header[1:], *(f"Note: {n}" for n in notes), *(f"Tuned: {t}" for t in tuned),
                 *(f"Claim: {c}" for c in claim_lines), "MLflow runs per cell:", *runs]  # fmt: skip
        return body + "".join(f"% {_tex_comment(line)}\n" for line in extra) + _tex_runs(runs)
    tooltips = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for _, r in agg.iterrows():
        if r["run_ids"]:
            tooltips.loc[r["row_label"], (r["column_label"], "ours")] = "MLflow runs: " + ", ".join(r["run_ids"])
    styler = styler.set_caption(header[0]).set_tooltips(tooltips)
    html = styler.to_html()
    import html as html_mod

    def para(lines: Sequence[str], title: str) -> str:
        if not lines:
            return ""
        return f"<h4>{html_mod.escape(title)}</h4><ul>" + "".join(f"<li>{html_mod.escape(x)}</li>" for x in lines) + "</ul>"

    return ("<div class='harness-table'>" + "".join(f"<p>{html_mod.escape(x)}</p>" for x in header[1:]) + html
            + para(notes, "Notes") + para(tuned, TUNED_TITLE) + para(claim_lines, "Claims of the paper")
            + para(runs, "MLflow runs per cell") + "</div>\n")  # fmt: skip


def _tex_comment(line: str) -> str:
    return line.replace("\n", " ")


def _tex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(a, b)
    return text


def _tex_runs(runs: Sequence[str]) -> str:
    if not runs:
        return ""
    items = "".join(f"  \\item {_tex_escape(r)}\n" for r in runs)
    return "\\begin{itemize}\\footnotesize\n" + items + "\\end{itemize}\n"


TUNED_TITLE = "Tuned vs default (mean ± std, n, 95% CI over seeds; paired Wilcoxon)"


def _md(text: str) -> str:
    """Markdown-safe text: significance stars and redacted passwords ('***') stay literal."""
    return text.replace("*", "\\*")


def _markdown(frame: pd.DataFrame, header: Sequence[str], runs: Sequence[str], claims: Sequence[str], notes: Sequence[str],
              tuned: Sequence[str] = ()) -> str:  # fmt: skip
    labels = [f"{a}: {b}" if b == "ours" else b for a, b in frame.columns]
    lines = [f"### {header[0]}", ""]
    for h in header[1:]:
        lines += [_md(h), ""]
    lines.append("| " + " | ".join([frame.index.name or "", *labels]) + " |")
    lines.append("|" + "---|" * (len(labels) + 1))
    for name, row in frame.iterrows():
        lines.append("| " + " | ".join([str(name), *(_md(str(x)) for x in row.tolist())]) + " |")
    for title, items in (("Notes", notes), (TUNED_TITLE, tuned), ("Claims of the paper (held / compared)", claims),
                         ("MLflow runs per cell", runs)):  # fmt: skip
        if items:
            lines += ["", f"**{title}**", "", *[f"- {_md(x)}" for x in items]]
    return "\n".join(lines) + "\n"


def summary_json(spec: TableSpec, agg: pd.DataFrame, claims: Sequence[Mapping[str, Any]], report: FillReport | None,
                 dataset: str, seeds: Sequence[int]) -> str:
    """Machine-readable companion of a rendered table."""
    cells = agg.drop(columns=["row_label", "column_label"]).to_dict(orient="records")
    rep = dataclasses.asdict(report) if report is not None else None
    extra: dict[str, Any] = {}
    if spec.tuned_rows:  # which study each tuned row came from (the lock records), and the test's metric
        extra = {"tuned_rows": dict(spec.tuned_rows), "tuned_from": {m: dict(r) for m, r in spec.locks.items()},
                 "paired_metric": spec.per_concept_metric}  # fmt: skip
    return json.dumps({"table": spec.full_name, "dataset": dataset, "seeds": list(seeds), "cells": cells,
                       "claims": list(claims), "fill": rep, **extra}, indent=1, default=_json_default)  # fmt: skip


def _json_default(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item"):
        return x.item()
    return str(x)


class TableError(HarnessError):
    """A table cannot be produced (no recorded runs and --no-run, every cell failed, ...)."""

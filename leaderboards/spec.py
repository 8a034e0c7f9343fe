"""Table specs: the YAML schema of ``leaderboards/specs/<paper>.yaml`` read into frozen dataclasses.

A paper's tables live in one YAML file (schema in :func:`load_spec`): columns, rows, and per cell a
method, its settings and the published value. ``<paper>.<table>`` names one table (e.g.
``dmtl_lc.table2``). Nothing here runs anything: :mod:`leaderboards.plan` turns a spec into runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, InvalidParameterError, UnknownNameError

SPEC_DIR = Path(__file__).resolve().parent / "specs"


class TableError(HarnessError):
    """A table cannot be produced (no recorded runs and --no-run, every cell failed, ...)."""




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


def as_mapping(value: Any, path: Path, where: str) -> Mapping[str, Any]:
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
    top = as_mapping(data, path, "top level")
    allowed = {"paper", "citation", "metric", "pair_metric", "unit", "scale", "datasets", "sources", "miniature", "tables"}
    unknown = set(top) - allowed
    if unknown:
        raise _fail(path, "top level", f"unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    for key in ("metric", "datasets", "tables"):
        if key not in top:
            raise _fail(path, "top level", f"missing key {key!r}")
    sources = {str(k): as_mapping(v, path, f"sources.{k}") for k, v in as_mapping(top.get("sources"), path, "sources").items()}
    for name, src in sources.items():
        if "method" not in src:
            raise _fail(path, f"sources.{name}", "needs a 'method'")
    miniature = {str(k): as_mapping(v, path, f"miniature.{k}") for k, v in as_mapping(top.get("miniature"), path, "miniature").items()}
    tables: dict[str, TableSpec] = {}
    for tname, tdata in as_mapping(top["tables"], path, "tables").items():
        tables[str(tname)] = _table(path, str(top.get("paper", paper)), str(tname), as_mapping(tdata, path, f"tables.{tname}"),
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
        c = as_mapping(c, path, f"{where}.columns[{i}]")
        if "key" not in c:
            raise _fail(path, f"{where}.columns[{i}]", "needs a 'key'")
        columns.append((str(c["key"]), str(c.get("label", c["key"]))))
        col_settings[str(c["key"])] = dict(as_mapping(c.get("settings"), path, f"{where}.columns[{i}].settings"))
    col_keys = [k for k, _ in columns]
    rows, cells = [], {}
    for i, r in enumerate(t.get("rows") or []):
        r = as_mapping(r, path, f"{where}.rows[{i}]")
        if "key" not in r:
            raise _fail(path, f"{where}.rows[{i}]", "needs a 'key'")
        rkey = str(r["key"])
        rows.append((rkey, str(r.get("label", rkey))))
        published = as_mapping(r.get("published"), path, f"{where}.rows[{i}].published")
        for col in published:
            if str(col) not in col_keys:
                raise _fail(path, f"{where}.rows[{i}].published", f"unknown column {col!r}; columns: {col_keys}")
        if "method" in r:
            for col in col_keys:
                settings = {**col_settings[col], **as_mapping(r.get("settings"), path, f"{where}.rows[{i}].settings")}
                cells[(rkey, col)] = CellSpec(rkey, col, str(r["method"]), settings,
                                              _number(published.get(col), path, f"{where}.rows[{i}].published.{col}"))  # fmt: skip
    for rkey, per_col in as_mapping(t.get("cells"), path, f"{where}.cells").items():
        if str(rkey) not in dict(rows):
            raise _fail(path, f"{where}.cells", f"unknown row {rkey!r}; rows: {[k for k, _ in rows]}")
        for col, c in as_mapping(per_col, path, f"{where}.cells.{rkey}").items():
            cw = f"{where}.cells.{rkey}.{col}"
            if str(col) not in col_keys:
                raise _fail(path, cw, f"unknown column {col!r}; columns: {col_keys}")
            if c is None:
                cells.pop((str(rkey), str(col)), None)
                continue
            c = as_mapping(c, path, cw)
            extra = set(c) - {"method", "settings", "published", "select"}
            if extra or "method" not in c:
                raise _fail(path, cw, f"a cell has keys method, settings, published, select; got {sorted(c)}")
            select = None
            if c.get("select") is not None:
                s = as_mapping(c["select"], path, f"{cw}.select")
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
            settings = {**col_settings[str(col)], **as_mapping(c.get("settings"), path, f"{cw}.settings")}
            cells[(str(rkey), str(col))] = CellSpec(str(rkey), str(col), str(c["method"]), settings,
                                                    _number(c.get("published"), path, f"{cw}.published"), select)  # fmt: skip
    claims = []
    for i, c in enumerate(t.get("claims") or []):
        c = as_mapping(c, path, f"{where}.claims[{i}]")
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


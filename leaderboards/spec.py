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
class Over:
    """Aggregate a cell over the values of a data-set option (UCF101 ``split``, natural scenes ``fold``).

    One run per value and seed; the cell is the mean ± std over the values of each value's mean over
    seeds (n = number of values with a result).
    """

    key: str
    values: tuple[Any, ...]

    def describe(self) -> str:
        return f"{self.key} {', '.join(map(str, self.values))}"


@dataclass(frozen=True)
class CellSpec:
    """One cell: the method and its settings, the data set(s) of its column and the published value.

    ``datasets``: the column's data set choices (empty: the table's ``--dataset``; see
    :func:`leaderboards.plan.cell_dataset`); ``dataset_options`` go to the data set's config
    (``--set dataset.KEY=VALUE``); ``metric``: the recorded metric of this cell ("" = the table's).
    """

    row: str
    column: str
    method: str
    settings: Mapping[str, Any] = field(default_factory=dict)
    published: float | None = None
    select: Select | None = None
    tuned: Mapping[str, Any] | None = None  # the lock record of a "(tuned)" row's cell (see with_tuned)
    datasets: tuple[str, ...] = ()
    dataset_options: Mapping[str, Any] = field(default_factory=dict)
    over: Over | None = None
    metric: str = ""
    concept: str = ""  # read the metric's per-concept value of this concept (e.g. one AVS query's xinfap)
    scale: float = 1.0  # times the table's scale (e.g. 0.01: a % column in a table of fractions)


@dataclass(frozen=True)
class Claim:
    """A qualitative claim of the paper, checked on the paper's numbers and on ours.

    ``kind``: ``rows_greater`` (row ``a`` better than row ``b`` in each of ``over`` columns),
    ``columns_greater`` (column ``a`` better than column ``b`` in each of ``over`` rows) or ``row_best``
    (row ``a`` is the best of every one of ``over`` columns). "Better" follows the metric's direction:
    greater, or smaller for a lower-is-better metric (Hamming loss). ``factor``: ``a`` must beat
    ``factor`` times ``b`` (e.g. 3: "more than three times higher").
    """

    text: str
    kind: str
    a: str
    b: str | None
    over: tuple[str, ...]
    factor: float = 1.0


@dataclass(frozen=True)
class RowTest:
    """Compare rows ``a`` and ``b`` in each of ``over`` columns: a paired Wilcoxon signed-rank test
    on their headline values matched by (seed, part), e.g. the 10 folds x seeds of natural scenes."""

    a: str
    b: str
    over: tuple[str, ...]


@dataclass(frozen=True)
class NotePlot:
    """Bars of a dict-valued fit note (``fit.<note>``, e.g. MMDL-EG's modality weights) of ``row``'s
    runs, averaged over seeds and parts, one panel per column."""

    row: str
    note: str
    title: str = ""


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
    directions: Mapping[str, bool] = field(default_factory=dict)  # metric -> higher_is_better (with_directions)
    digits: int = 2  # decimals printed
    chart: str = ""  # "bars": harness table also draws the cells as grouped bars (PNG + SVG)
    published_only: Mapping[tuple[str, str], float] = field(default_factory=dict)  # rows without a method (e.g. DRC)
    row_tests: tuple[RowTest, ...] = ()  # paired tests between two rows per column (leaderboards.row_tests)
    note_plot: NotePlot | None = None  # a bar plot of a row's recorded fit note per column

    @property
    def full_name(self) -> str:
        return f"{self.paper}.{self.name}"

    def cell_metric(self, cell: CellSpec | None) -> str:
        return cell.metric if cell is not None and cell.metric else self.metric

    def metrics(self) -> list[str]:
        """Every metric the cells record, the table's first."""
        out = [self.metric]
        for cell in self.cells.values():
            if cell.metric and cell.metric not in out:
                out.append(cell.metric)
        return out

    def higher_is_better(self, metric: str) -> bool:
        """The metric's direction as known to the spec (:func:`with_directions`; default higher)."""
        return bool(self.directions.get(metric, True))

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
        metric: mxinfap          # headline metric recorded by the runs (its registered direction counts)
        pair_metric: xinfap      # optional: its per-concept metric, for the paired Wilcoxon tests
        unit: "%"                # how values are printed; scale multiplies recorded values
        scale: 1
        digits: 2                # optional: decimals printed
        datasets: [trecvid2013, trecvid2013-mini]   # first = default (optional if every column names its own)
        sources: {NAME: {method: M, settings: {...}}}   # for {source:NAME} placeholders
        miniature: {METHOD: {key: value}}           # added to every cell of METHOD on a miniature
        tables:
          NAME:
            title: ...
            metric, unit, scale, digits, datasets: ...   # optional: this table's own values
            over: {OPTION: [v1, v2, ...]}   # optional: every cell aggregated over a data-set option
            columns: [{key: K, label: L, settings: {...},          # column settings go to every cell
                       dataset: D | [D, D-mini], dataset_options: {OPTION: value},
                       metric: M, over: {OPTION: [...]} | null,
                       concept: C, scale: s,    # concept: per-concept value of the metric; scale x table's
                       better: higher|lower}]   # the direction of a metric the registry does not know
                                                # (metric fit.NAME.KEY: a number the run's fit noted)
            rows: [{key: K, label: L, method: M, settings: {...}, published: {COL: value}, over: ...}]
            cells: {ROW: {COL: {method: M, settings: {...}, published: v, dataset_options: {...}, over: ...,
                              select: {param: P, values: [...] | paper_lr_grid, miniature_values: [...]}} | null}}
            claims: [{text: ..., kind: rows_greater|columns_greater|row_best, a: X, b: Y, over: [..] | all,
                      factor: f}]        # factor: a beats f times b (default 1)
            chart: bars          # optional: also draw the cells as grouped bars (PNG + SVG)
            tests: [{a: ROW, b: ROW, over: [COL, ..] | all}]   # optional: paired Wilcoxon per column over (seed, part)
            note_plot: {row: ROW, note: NAME, title: ...}      # optional: bars of a dict fit note (fit.NAME) per column
            notes: [...]

    A column's ``dataset`` fixes the data set of its cells (a list: the entry that is a miniature
    exactly when ``--dataset`` is); ``dataset_options`` go to that data set's config (e.g. the
    UCF101 ``split``). ``over`` (cell > row > column > table) makes a cell the mean ± std over the
    option's values (e.g. ``{split: [1, 2, 3]}``, ``{fold: [1, ..., 10]}``), seeds averaged inside.
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
    allowed = {"paper", "citation", "metric", "pair_metric", "unit", "scale", "digits", "datasets", "sources", "miniature", "tables"}
    unknown = set(top) - allowed
    if unknown:
        raise _fail(path, "top level", f"unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    for key in ("metric", "tables"):
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


def _names(value: Any, path: Path, where: str) -> tuple[str, ...]:
    """A data set name or a non-empty list of names."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) and n for n in names):
        raise _fail(path, where, f"expected a data set name or a non-empty list of names, got {value!r}")
    return tuple(names)


_INHERIT = object()


def _over(value: Any, path: Path, where: str) -> Over | None | object:
    """``{OPTION: [values]}`` -> Over; null -> None (no aggregation); absent -> _INHERIT."""
    if value is _INHERIT or value is None:
        return value
    m = as_mapping(value, path, where)
    if len(m) != 1:
        raise _fail(path, where, f"'over' names one data-set option with its values, e.g. {{split: [1, 2, 3]}}; got {dict(m)!r}")
    ((key, values),) = m.items()
    if not isinstance(values, (list, tuple)) or not values or len(set(map(str, values))) != len(values):
        raise _fail(path, f"{where}.{key}", f"expected a non-empty list of distinct values, got {values!r}")
    return Over(str(key), tuple(values))


def _pick(*levels: Any) -> Over | None:
    """The most specific 'over' given (cell, row, column, table order)."""
    for level in levels:
        if level is not _INHERIT:
            return level  # type: ignore[no-any-return]
    return None


def _select(value: Any, path: Path, cw: str) -> Select | None:
    if value is None:
        return None
    s = as_mapping(value, path, f"{cw}.select")
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
    return Select(str(s["param"]), lists["values"], lists["miniature_values"])


def _table(path: Path, paper: str, name: str, t: Mapping[str, Any], top: Mapping[str, Any],
           sources: Mapping[str, Mapping[str, Any]], miniature: Mapping[str, Mapping[str, Any]]) -> TableSpec:
    where = f"tables.{name}"
    allowed = {"title", "columns", "rows", "cells", "claims", "notes", "metric", "unit", "scale", "digits", "datasets", "over",
               "chart", "tests", "note_plot"}  # fmt: skip
    unknown = set(t) - allowed
    if unknown:
        raise _fail(path, where, f"unknown keys {sorted(unknown)}; allowed: {sorted(allowed)}")
    table_over = _over(t.get("over", _INHERIT), path, f"{where}.over")
    columns, col = [], {}
    col_keys_allowed = {"key", "label", "settings", "dataset", "dataset_options", "metric", "over", "concept", "scale",
                        "better"}  # fmt: skip
    directions: dict[str, bool] = {}
    for i, c in enumerate(t.get("columns") or []):
        cw = f"{where}.columns[{i}]"
        c = as_mapping(c, path, cw)
        if "key" not in c:
            raise _fail(path, cw, "needs a 'key'")
        if set(c) - col_keys_allowed:
            raise _fail(path, cw, f"unknown keys {sorted(set(c) - col_keys_allowed)}; allowed: {sorted(col_keys_allowed)}")
        key = str(c["key"])
        columns.append((key, str(c.get("label", key))))
        if "better" in c:  # a metric the registry does not know (a fit note): its direction
            if c["better"] not in ("higher", "lower") or not c.get("metric"):
                raise _fail(path, f"{cw}.better", f"'better' is 'higher' or 'lower' and needs the column's 'metric'; got {c['better']!r}")
            directions[str(c["metric"])] = c["better"] == "higher"
        col[key] = {
            "settings": dict(as_mapping(c.get("settings"), path, f"{cw}.settings")),
            "datasets": _names(c["dataset"], path, f"{cw}.dataset") if c.get("dataset") is not None else (),
            "dataset_options": dict(as_mapping(c.get("dataset_options"), path, f"{cw}.dataset_options")),
            "metric": str(c.get("metric") or ""), "over": _over(c.get("over", _INHERIT), path, f"{cw}.over"),
            "concept": str(c.get("concept") or ""), "scale": _number(c.get("scale", 1.0), path, f"{cw}.scale"),
        }  # fmt: skip
    col_keys = [k for k, _ in columns]

    def make_cell(rkey: str, ckey: str, method: str, settings: Mapping[str, Any], published: float | None,
                  select: Select | None, options: Mapping[str, Any], row_over: Any, cell_over: Any) -> CellSpec:  # fmt: skip
        c = col[ckey]
        return CellSpec(rkey, ckey, method, {**c["settings"], **settings}, published, select, None, c["datasets"],
                        {**c["dataset_options"], **options}, _pick(cell_over, row_over, c["over"], table_over), c["metric"],
                        c["concept"], c["scale"])  # fmt: skip

    rows, cells, row_over = [], {}, {}
    published_only: dict[tuple[str, str], float] = {}
    for i, r in enumerate(t.get("rows") or []):
        r = as_mapping(r, path, f"{where}.rows[{i}]")
        if "key" not in r:
            raise _fail(path, f"{where}.rows[{i}]", "needs a 'key'")
        rkey = str(r["key"])
        rows.append((rkey, str(r.get("label", rkey))))
        row_over[rkey] = _over(r.get("over", _INHERIT), path, f"{where}.rows[{i}].over")
        published = as_mapping(r.get("published"), path, f"{where}.rows[{i}].published")
        for ckey in published:
            if str(ckey) not in col_keys:
                raise _fail(path, f"{where}.rows[{i}].published", f"unknown column {ckey!r}; columns: {col_keys}")
        if "method" not in r:  # a row of published values only (a method the harness does not run)
            for ckey, value in published.items():
                number = _number(value, path, f"{where}.rows[{i}].published.{ckey}")
                if number is not None:
                    published_only[(rkey, str(ckey))] = number
        if "method" in r:
            for ckey in col_keys:
                cells[(rkey, ckey)] = make_cell(rkey, ckey, str(r["method"]), as_mapping(r.get("settings"), path, f"{where}.rows[{i}].settings"),
                                                _number(published.get(ckey), path, f"{where}.rows[{i}].published.{ckey}"),
                                                None, {}, row_over[rkey], _INHERIT)  # fmt: skip
    for rkey, per_col in as_mapping(t.get("cells"), path, f"{where}.cells").items():
        if str(rkey) not in dict(rows):
            raise _fail(path, f"{where}.cells", f"unknown row {rkey!r}; rows: {[k for k, _ in rows]}")
        for ckey, c in as_mapping(per_col, path, f"{where}.cells.{rkey}").items():
            cw = f"{where}.cells.{rkey}.{ckey}"
            if str(ckey) not in col_keys:
                raise _fail(path, cw, f"unknown column {ckey!r}; columns: {col_keys}")
            if c is None:
                cells.pop((str(rkey), str(ckey)), None)
                continue
            c = as_mapping(c, path, cw)
            extra = set(c) - {"method", "settings", "published", "select", "dataset_options", "over"}
            if extra or "method" not in c:
                raise _fail(path, cw, f"a cell has keys method, settings, published, select, dataset_options, over; got {sorted(c)}")
            cells[(str(rkey), str(ckey))] = make_cell(
                str(rkey), str(ckey), str(c["method"]), as_mapping(c.get("settings"), path, f"{cw}.settings"),
                _number(c.get("published"), path, f"{cw}.published"), _select(c.get("select"), path, cw),
                as_mapping(c.get("dataset_options"), path, f"{cw}.dataset_options"), row_over[str(rkey)],
                _over(c.get("over", _INHERIT), path, f"{cw}.over"))  # fmt: skip
    claims = []
    for i, c in enumerate(t.get("claims") or []):
        c = as_mapping(c, path, f"{where}.claims[{i}]")
        kind = str(c.get("kind", ""))
        if kind not in ("rows_greater", "columns_greater", "row_best"):
            raise _fail(path, f"{where}.claims[{i}]", f"kind must be rows_greater, columns_greater or row_best, got {kind!r}")
        pool = col_keys if kind != "columns_greater" else [k for k, _ in rows]
        over = c.get("over", "all")
        over_t = tuple(pool) if over == "all" else tuple(str(o) for o in over)
        factor = _number(c.get("factor", 1.0), path, f"{where}.claims[{i}].factor")
        claims.append(Claim(str(c.get("text", "")), kind, str(c["a"]), None if c.get("b") is None else str(c["b"]), over_t,
                            1.0 if factor is None else factor))  # fmt: skip
    if t.get("datasets", top.get("datasets")) is not None:
        datasets = _names(t.get("datasets", top.get("datasets")), path, f"{where}.datasets")
    else:
        datasets = tuple(dict.fromkeys(d for ckey in col_keys for d in col[ckey]["datasets"]))
        if not datasets or any(not col[ckey]["datasets"] for ckey in col_keys):
            raise _fail(path, where, "missing 'datasets' (top level or table): only a table whose every column names its 'dataset' may leave it out")
    digits = t.get("digits", top.get("digits", 2))
    if isinstance(digits, bool) or not isinstance(digits, int) or not 0 <= digits <= 8:
        raise _fail(path, f"{where}.digits", f"expected an integer in 0..8, got {digits!r}")
    return TableSpec(
        paper=paper, name=name, title=str(t.get("title", name)), metric=str(t.get("metric", top["metric"])),
        unit=str(t.get("unit", top.get("unit", ""))), scale=float(t.get("scale", top.get("scale", 1.0))), datasets=datasets,
        columns=tuple(columns), rows=tuple(rows), cells=cells, sources=sources, miniature=miniature, claims=tuple(claims),
        notes=tuple(map(str, t.get("notes") or ())), spec_file=path, pair_metric=str(top.get("pair_metric") or ""),
        digits=digits, chart=_chart(t.get("chart"), path, where),
        published_only=published_only, row_tests=_row_tests(t.get("tests"), path, where, [k for k, _ in rows], col_keys),
        note_plot=_note_plot(t.get("note_plot"), path, where, [k for k, _ in rows]), directions=directions,
    )  # fmt: skip


def _row_tests(value: Any, path: Path, where: str, row_keys: list[str], col_keys: list[str]) -> tuple[RowTest, ...]:
    """``tests: [{a: ROW, b: ROW, over: [COL, ...] | all}]``."""
    out = []
    for i, item in enumerate(value or []):
        t = as_mapping(item, path, f"{where}.tests[{i}]")
        if set(t) - {"a", "b", "over"} or not {"a", "b"} <= set(t):
            raise _fail(path, f"{where}.tests[{i}]", f"a test has keys a, b (rows) and optional over (columns); got {sorted(t)}")
        for side in ("a", "b"):
            if str(t[side]) not in row_keys:
                raise _fail(path, f"{where}.tests[{i}].{side}", f"unknown row {t[side]!r}; rows: {row_keys}")
        over = t.get("over", "all")
        cols = tuple(col_keys) if over == "all" else tuple(str(o) for o in over)
        if set(cols) - set(col_keys):
            raise _fail(path, f"{where}.tests[{i}].over", f"unknown columns {sorted(set(cols) - set(col_keys))}; columns: {col_keys}")
        out.append(RowTest(str(t["a"]), str(t["b"]), cols))
    return tuple(out)


def _note_plot(value: Any, path: Path, where: str, row_keys: list[str]) -> NotePlot | None:
    """``note_plot: {row: ROW, note: NAME, title: ...}``."""
    if value is None:
        return None
    p = as_mapping(value, path, f"{where}.note_plot")
    if set(p) - {"row", "note", "title"} or not {"row", "note"} <= set(p):
        raise _fail(path, f"{where}.note_plot", f"needs 'row' and 'note' (optional 'title'); got {sorted(p)}")
    if str(p["row"]) not in row_keys:
        raise _fail(path, f"{where}.note_plot.row", f"unknown row {p['row']!r}; rows: {row_keys}")
    return NotePlot(str(p["row"]), str(p["note"]), str(p.get("title", "")))


def _chart(value: Any, path: Path, where: str) -> str:
    if value in (None, ""):
        return ""
    if value != "bars":
        raise _fail(path, f"{where}.chart", f"expected 'bars' (grouped bars of the cells), got {value!r}")
    return "bars"


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



def with_directions(spec: TableSpec, directions: Mapping[str, bool]) -> TableSpec:
    """The spec knowing whether each of its metrics is higher-is-better (the metric registry's
    ``MetricSpec.higher_is_better``; ``harness.table_runs.metric_directions`` looks them up)."""
    import dataclasses

    return dataclasses.replace(spec, directions={**spec.directions, **{str(k): bool(v) for k, v in directions.items()}})

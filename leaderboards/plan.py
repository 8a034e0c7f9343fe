"""Planning (pure): a table spec -> the runs of its cells, as ``--set`` items and tags.

* :func:`cell_sets` gives the ``--set`` items of one run of a cell: the spec's miniature settings
  when the data set is a miniature, the user's ``--set METHOD.KEY=VALUE`` overrides, the cell's
  settings, and the placeholders ``{seed}`` and ``{source:<name>}`` expanded.
* :func:`plan_run` makes a :class:`PlannedRun`; the code that runs cells (``harness.table_runs``)
  adds its config hash and turns it into a :class:`harness.runner.RunRequest`.

Nothing here imports the runner: a plan is data (DESIGN.md: leaderboards read the results table only).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InvalidParameterError
from leaderboards.spec import CellSpec, TableSpec, as_mapping


def setting_text(value: Any) -> str:
    """A setting value as ``--set`` text (lists -> comma-separated)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(setting_text(v) for v in value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


PLACEHOLDER = re.compile(r"\{(seed|source:[A-Za-z0-9_\-]+)\}")


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
    settings = method_settings(spec, str(src["method"]), as_mapping(src.get("settings"), Path(str(spec.spec_file)), f"sources.{name}"), miniature)
    items = ";".join(f"{k}={setting_text(v)}" for k, v in sorted(settings.items()))
    return f"{src['method']}:{items}" if items else str(src["method"])


def expand(spec: TableSpec, value: Any, seed: int, miniature: bool) -> Any:
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        token = m.group(1)
        return str(seed) if token == "seed" else source_text(spec, token.split(":", 1)[1], miniature)

    return PLACEHOLDER.sub(sub, value)


def cell_sets(spec: TableSpec, cell: CellSpec, seed: int, miniature: bool, extra: Mapping[str, Any] | None = None,
              part: Any = None) -> tuple[str, ...]:  # fmt: skip
    """The ``--set`` items of one run of ``cell`` (later items win): the method's settings, then the
    data set's options as ``dataset.KEY=VALUE`` (with ``part``, the value of the cell's ``over`` option).

    A "(tuned)" cell applies its lock file the way ``harness run --tuned`` does: the lock's fixed
    settings (``base_sets``) first, then the table's settings, then the tuned values (they replace
    the cell's own values of those keys, except keys the user fixed with ``--set METHOD.KEY=...``).
    """
    settings = method_settings(spec, cell.method, cell.settings, miniature)
    if cell.tuned is not None:
        settings.update(tuned_params(spec, cell.method, cell.tuned))
    settings.update(extra or {})
    items = tuple(f"{k}={setting_text(expand(spec, v, seed, miniature))}" for k, v in sorted(settings.items()))
    options = dict(cell.dataset_options)
    if cell.over is not None and part is not None:
        options[cell.over.key] = part
    items += tuple(f"dataset.{k}={setting_text(v)}" for k, v in sorted(options.items()))
    if cell.tuned is not None:
        return tuple(str(x) for x in cell.tuned.get("base_sets") or ()) + items
    return items


def tuned_params(spec: TableSpec, method: str, lock: Mapping[str, Any]) -> dict[str, Any]:
    """The lock's tuned values that a tuned cell of ``method`` uses (a user's ``--set`` on a key wins)."""
    fixed = spec.overrides.get(method, {})
    return {str(k): v for k, v in dict(lock["params"]).items() if k not in fixed}


@dataclass(frozen=True)
class PlannedRun:
    """One run of a cell: what defines it and its config hash (what the results table is searched by).

    ``config_hash`` is filled by ``harness.table_runs.make_run`` (it resolves the configs through the
    runner); a plan made here alone has ``""``.
    """

    cell: CellSpec
    seed: int
    dataset: str
    sets: tuple[str, ...]
    tags: Mapping[str, str] = field(default_factory=dict)
    eval_split: str = "test"
    candidate: Any = None  # the ``select`` value this validation run tries (None for test runs)
    config_hash: str = ""
    part: Any = None  # the value of the cell's ``over`` option this run has (None without ``over``)
    paper_defaults: bool = False  # on a miniature: no miniature settings (the runner's and the spec's)

    @property
    def method(self) -> str:
        return self.cell.method


def plan_run(spec: TableSpec, cell: CellSpec, dataset: str, seed: int, miniature: bool, *,
             extra: Mapping[str, Any] | None = None, eval_split: str = "test", candidate: Any = None,
             part: Any = None) -> PlannedRun:  # fmt: skip
    """The run of ``cell`` on ``dataset`` (the cell's own, :func:`cell_dataset`) with ``seed``
    (``extra`` settings win; ``eval_split="val"`` for the validation runs of a ``select``; ``part``:
    the value of the cell's ``over`` option)."""
    if (part is None) != (cell.over is None):
        raise InvalidParameterError(f"cell {cell.row}/{cell.column}: a run needs a part exactly when the cell has 'over' ({cell.over})")
    tags = {"harness.table": spec.full_name, "harness.table_cell": f"{cell.row}/{cell.column}"}
    if cell.tuned is not None:  # the same tag as 'harness run --tuned'
        tags["harness.tuned_from"] = f"{cell.tuned['study']} trial {cell.tuned.get('trial_number')} ({cell.tuned.get('storage')})"
    return PlannedRun(cell, seed, dataset, cell_sets(spec, cell, seed, miniature, extra, part), tags, eval_split, candidate,
                      part=part)  # fmt: skip


def cell_parts(cell: CellSpec) -> tuple[Any, ...]:
    """The ``over`` values of a cell, or ``(None,)`` (one part) without ``over``."""
    return cell.over.values if cell.over is not None else (None,)


def is_miniature_name(dataset: str) -> bool:
    """DESIGN.md: a miniature's name ends in ``-mini`` (the harness passes the registered flag instead)."""
    return dataset.endswith("-mini")


def cell_dataset(cell: CellSpec, dataset: str, is_miniature: Callable[[str], bool] = is_miniature_name) -> str:
    """The data set of ``cell`` when the table runs with ``--dataset``: the table's own for a column
    without ``dataset``; else the column's entry that is ``dataset`` itself, or else the first that is
    a miniature exactly when ``dataset`` is (never a miniature in place of real data, or back)."""
    if not cell.datasets:
        return dataset
    if dataset in cell.datasets:
        return dataset
    want = is_miniature(dataset)
    for name in cell.datasets:
        if is_miniature(name) == want:
            return name
    kind = "miniature" if want else "real"
    raise InvalidParameterError(f"column {cell.column!r} names {', '.join(cell.datasets)}: none is a {kind} data set "
                                f"like --dataset {dataset}; run the table with one of its data sets instead")  # fmt: skip


def cell_order(spec: TableSpec) -> list[CellSpec]:
    """The cells in the order they run: sources of other cells first (so consumers load the cached
    network), then row by row, column by column."""
    rows = [k for k, _ in spec.rows]
    cols = [k for k, _ in spec.columns]
    return sorted(spec.cells.values(), key=lambda c: (_source_first(spec, c), rows.index(c.row), cols.index(c.column)))


def _source_first(spec: TableSpec, cell: CellSpec) -> int:
    for src in spec.sources.values():
        if src.get("method") == cell.method and all(cell.settings.get(k) == v for k, v in as_mapping(src.get("settings"), Path("."), "").items()):
            return 0
    return 1

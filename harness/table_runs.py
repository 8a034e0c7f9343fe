"""Running the cells of a paper table (``harness table``): plan -> reuse recorded runs -> run the rest.

``leaderboards/`` stays pure (spec -> plan, results -> tables); this module is the part that needs
the runner:

* :func:`make_run` completes a planned run (:func:`leaderboards.plan.plan_run`) with its config
  hash, resolved through :func:`harness.runner.resolve` exactly as ``harness run`` would.
* :func:`fill` reuses every recorded FINISHED run with the same (method, data set, config hash,
  seed, split) from the results table (``harness.results``) and runs the missing ones through
  :func:`harness.runner.execute` (each one tracked in MLflow as usual). Cells with ``select`` first
  run one validation-split run per candidate value (``eval_split="val"``) and take the best by the
  data set's validation metric.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import InvalidParameterError, UnknownNameError
from leaderboards.aggregate import best_candidate, recorded_rows, recorded_value, row_direction
from leaderboards.plan import PlannedRun, cell_dataset, cell_order, cell_parts, plan_run
from leaderboards.spec import CellSpec, TableSpec


@dataclass(frozen=True)
class RunOptions:
    """Where and how the runs of a table execute (the ``harness run`` flags that are not config)."""

    out_dir: Path = Path("runs")
    device: str = "auto"
    data_root: Path | None = None
    tracking_uri: str | None = None


def is_miniature(dataset: str) -> bool:
    """The registered ``is_miniature`` flag of a data set (UnknownNameError with close matches otherwise)."""
    from harness import api
    from harness.registry import load_plugins

    load_plugins()
    return bool(getattr(api.DATASETS.get(dataset), "is_miniature", False))


def with_declared_miniature(spec: TableSpec) -> TableSpec:
    """``spec`` with each of its methods' declared miniature settings (:mod:`harness.miniature`) as its
    ``miniature:`` block, below whatever the spec's own block adds; idempotent.

    The runner applies the declarations to every run anyway; the table needs them too because a
    ``{source:NAME}`` network is named by its settings, and its notes list them."""
    from harness import api, miniature
    from harness.registry import load_plugins

    load_plugins()
    methods = {c.method for c in spec.cells.values()} | {str(s["method"]) for s in spec.sources.values()}
    merged: dict[str, dict[str, Any]] = {}
    for method in sorted(m for m in methods if m):
        try:
            declared = {k: v for k, (v, _) in miniature.declared(api.METHODS.get(method)).items()}
        except UnknownNameError:  # resolving the cell's run reports it, with close matches
            declared = {}
        values = {**declared, **dict(spec.miniature.get(method, {}))}
        if values:
            merged[method] = values
    merged.update({m: dict(v) for m, v in spec.miniature.items() if m not in merged})
    return dataclasses.replace(spec, miniature=merged)


def metric_directions(spec: TableSpec) -> dict[str, bool]:
    """``higher_is_better`` of each registered metric the table's cells record (for
    :func:`leaderboards.spec.with_directions`); names that are an entry's extra output are left to
    the direction recorded with the runs."""
    from harness import api
    from harness.registry import load_plugins

    load_plugins()
    out = {}
    for metric in spec.metrics():
        try:
            out[metric] = bool(api.METRICS.get(metric).higher_is_better)
        except UnknownNameError:
            continue
    return out


def validation_row(results: Any, run: PlannedRun) -> Any:
    """The validation score of a recorded validation run: its row of a registered metric (the data
    set's ``val_metric``), not an extra output of that metric's entry (``hamming_loss_all_negative``)."""
    from harness import api

    rows = recorded_rows(results, run)
    if rows.empty:
        return None
    registered = [i for i, m in enumerate(rows["metric"]) if m in api.METRICS]
    return rows.iloc[registered[0] if registered else 0]


def to_request(run: PlannedRun, options: RunOptions = RunOptions()) -> Any:
    """The :class:`harness.runner.RunRequest` of a planned run."""
    from harness.runner import RunRequest

    return RunRequest(method=run.method, dataset=run.dataset, seed=run.seed, sets=run.sets, data_root=options.data_root,
                      out_dir=Path(options.out_dir), tracking_uri=options.tracking_uri, device=options.device,
                      tags=dict(run.tags), eval_split=run.eval_split, paper_defaults=run.paper_defaults)  # fmt: skip


def config_hash_of(run: PlannedRun) -> str:
    """The config hash the runner records for ``run`` (validates every setting, runs nothing)."""
    from harness.params import config_to_dict
    from harness.runner import config_hash, resolve

    request = to_request(run)
    resolved = resolve(request)
    return config_hash(request.method, config_to_dict(resolved.method_config), config_to_dict(resolved.dataset_config))


def make_run(spec: TableSpec, cell: CellSpec, dataset: str, seed: int, miniature: bool, *,
             extra: Mapping[str, Any] | None = None, eval_split: str = "test", candidate: Any = None,
             part: Any = None, paper_defaults: bool = False) -> PlannedRun:  # fmt: skip
    """The planned run of ``cell`` on ``dataset`` (the cell's own data set) with its config hash (what
    the results table is searched by); ``part``: the value of the cell's ``over`` option;
    ``paper_defaults``: no miniature settings (neither the spec's nor the methods')."""
    spec = with_declared_miniature(spec)
    run = plan_run(spec, cell, dataset, seed, miniature and not paper_defaults, extra=extra, eval_split=eval_split,
                   candidate=candidate, part=part)  # fmt: skip
    run = dataclasses.replace(run, paper_defaults=paper_defaults)
    return dataclasses.replace(run, config_hash=config_hash_of(run))


@dataclass
class FillReport:
    """What :func:`fill` did: runs reused / executed / failed, seconds per method, choices made."""

    reused: int = 0
    executed: int = 0
    failed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)
    choices: dict[str, dict[Any, Any]] = field(default_factory=dict)  # cell -> seed (or "seed, part") -> value

    def add_time(self, method: str, seconds: float) -> None:
        self.seconds[method] = self.seconds.get(method, 0.0) + seconds
        self.runs[method] = self.runs.get(method, 0) + 1


def check_dataset(spec: TableSpec, dataset: str) -> None:
    if dataset not in spec.datasets:
        raise InvalidParameterError(f"Table {spec.full_name} is defined for {', '.join(spec.datasets)}; got --dataset {dataset!r}.")


def fill(spec: TableSpec, dataset: str, seeds: Sequence[int], *, out_dir: Path, run_missing: bool = True,
         device: str = "auto", data_root: Path | None = None, tracking_uri: str | None = None,
         echo: Callable[[str], None] | None = None, paper_defaults: bool = False) -> tuple[list[PlannedRun], FillReport]:
    """Plan every cell x seed, reuse recorded runs, execute the missing ones (unless ``run_missing`` is off).

    Returns the test-split runs of the table (one per cell and seed) and a :class:`FillReport`.
    """
    from harness import results as results_mod

    echo = echo or (lambda msg: print(msg, file=sys.stderr, flush=True))
    check_dataset(spec, dataset)
    report = FillReport()  # make_run gives every planned run the methods' miniature settings
    options = RunOptions(Path(out_dir), device, data_root, tracking_uri)
    # --data-root is the root of --dataset; a column's other data set reads $HARNESS_DATA/<name>
    other_options = dataclasses.replace(options, data_root=None)
    minis: dict[str, bool] = {}

    def mini_of(name: str) -> bool:
        if name not in minis:
            minis[name] = is_miniature(name)
        return minis[name]

    def ensure(run: PlannedRun, metric: str | None, label: str) -> str | None:
        found = recorded_value(results_mod.read_table(options.out_dir), run, metric)
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
            result = execute(to_request(run, options if run.dataset == dataset else other_options))
        except Exception as exc:  # a failing cell must not stop the table; the runner recorded it FAILED
            report.failed.append(f"{label}: {exc}")
            echo(f"[{spec.full_name}] FAILED {label}: {exc}")
            return None
        finally:
            report.add_time(run.method, time.perf_counter() - t0)
        report.executed += 1
        # a per-concept cell's metric is not an overall number of the run: echo the headline
        name = metric if metric is not None and metric in result.overall else next(iter(result.overall), "")
        value = float(result.overall.get(name, math.nan))
        echo(f"[{spec.full_name}] done {label}: {name} {value:.4f} in {time.perf_counter() - t0:.1f} s (run {result.run_id})")
        return result.run_id

    planned: list[PlannedRun] = []
    order = cell_order(spec)
    cell_ds = {(c.row, c.column): cell_dataset(c, dataset, mini_of) for c in order}
    for seed in seeds:
        for cell in order:
            ds = cell_ds[(cell.row, cell.column)]
            mini = mini_of(ds) and not paper_defaults  # the settings of a miniature apply (else the paper's)
            for part in cell_parts(cell):
                where = f"seed {seed}" if part is None else f"seed {seed}, {cell.over.key} {part}"  # type: ignore[union-attr]
                label = f"{spec.row_label(cell.row)} / {spec.column_label(cell.column)} ({where})"
                extra: dict[str, Any] = {}
                if cell.select is not None:
                    scores = []
                    for value in cell.select.candidates(mini):
                        cand = make_run(spec, cell, ds, seed, mini, extra={cell.select.param: value}, eval_split="val",
                                        candidate=value, part=part, paper_defaults=paper_defaults)  # fmt: skip
                        ensure(cand, None, f"{label} [validation, {cell.select.param}={value}]")
                        row = validation_row(results_mod.read_table(options.out_dir), cand)
                        if row is not None:  # the validation metric's direction as recorded (Hamming loss: lower)
                            scores.append((value, float(row["value"]), row_direction(row)))
                    best_value = best_candidate(scores)
                    if best_value is None:
                        report.missing.append(f"{label} (no validation run for {cell.select.param})")
                        continue
                    report.choices.setdefault(f"{cell.row}/{cell.column}", {})[seed if part is None else where] = best_value
                    extra[cell.select.param] = best_value
                run = make_run(spec, cell, ds, seed, mini, extra=extra, part=part, paper_defaults=paper_defaults)
                ensure(run, spec.cell_metric(cell), label)
                planned.append(run)
    return planned, report

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

from harness.errors import InvalidParameterError
from leaderboards.aggregate import recorded_value
from leaderboards.plan import PlannedRun, cell_order, plan_run
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


def to_request(run: PlannedRun, options: RunOptions = RunOptions()) -> Any:
    """The :class:`harness.runner.RunRequest` of a planned run."""
    from harness.runner import RunRequest

    return RunRequest(method=run.method, dataset=run.dataset, seed=run.seed, sets=run.sets, data_root=options.data_root,
                      out_dir=Path(options.out_dir), tracking_uri=options.tracking_uri, device=options.device,
                      tags=dict(run.tags), eval_split=run.eval_split)  # fmt: skip


def config_hash_of(run: PlannedRun) -> str:
    """The config hash the runner records for ``run`` (validates every setting, runs nothing)."""
    from harness.params import config_to_dict
    from harness.runner import config_hash, resolve

    request = to_request(run)
    resolved = resolve(request)
    return config_hash(request.method, config_to_dict(resolved.method_config), config_to_dict(resolved.dataset_config))


def make_run(spec: TableSpec, cell: CellSpec, dataset: str, seed: int, miniature: bool, *,
             extra: Mapping[str, Any] | None = None, eval_split: str = "test", candidate: Any = None) -> PlannedRun:
    """The planned run of ``cell`` with its config hash (what the results table is searched by)."""
    run = plan_run(spec, cell, dataset, seed, miniature, extra=extra, eval_split=eval_split, candidate=candidate)
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
    choices: dict[str, dict[int, Any]] = field(default_factory=dict)

    def add_time(self, method: str, seconds: float) -> None:
        self.seconds[method] = self.seconds.get(method, 0.0) + seconds
        self.runs[method] = self.runs.get(method, 0) + 1


def check_dataset(spec: TableSpec, dataset: str) -> None:
    if dataset not in spec.datasets:
        raise InvalidParameterError(f"Table {spec.full_name} is defined for {', '.join(spec.datasets)}; got --dataset {dataset!r}.")


def fill(spec: TableSpec, dataset: str, seeds: Sequence[int], *, out_dir: Path, run_missing: bool = True,
         device: str = "auto", data_root: Path | None = None, tracking_uri: str | None = None,
         echo: Callable[[str], None] | None = None) -> tuple[list[PlannedRun], FillReport]:
    """Plan every cell x seed, reuse recorded runs, execute the missing ones (unless ``run_missing`` is off).

    Returns the test-split runs of the table (one per cell and seed) and a :class:`FillReport`.
    """
    from harness import results as results_mod

    echo = echo or (lambda msg: print(msg, file=sys.stderr, flush=True))
    check_dataset(spec, dataset)
    mini = is_miniature(dataset)
    report = FillReport()
    options = RunOptions(Path(out_dir), device, data_root, tracking_uri)

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
            result = execute(to_request(run, options))
        except Exception as exc:  # a failing cell must not stop the table; the runner recorded it FAILED
            report.failed.append(f"{label}: {exc}")
            echo(f"[{spec.full_name}] FAILED {label}: {exc}")
            return None
        finally:
            report.add_time(run.method, time.perf_counter() - t0)
        report.executed += 1
        name = metric or next(iter(result.overall), "")
        value = float(result.overall.get(name, math.nan))
        echo(f"[{spec.full_name}] done {label}: {name} {value:.4f} in {time.perf_counter() - t0:.1f} s (run {result.run_id})")
        return result.run_id

    planned: list[PlannedRun] = []
    for seed in seeds:
        for cell in cell_order(spec):
            label = f"{spec.row_label(cell.row)} / {spec.column_label(cell.column)} (seed {seed})"
            extra: dict[str, Any] = {}
            if cell.select is not None:
                best_value, best_score = None, -math.inf
                for value in cell.select.candidates(mini):
                    cand = make_run(spec, cell, dataset, seed, mini, extra={cell.select.param: value}, eval_split="val",
                                    candidate=value)  # fmt: skip
                    ensure(cand, None, f"{label} [validation, {cell.select.param}={value}]")
                    found = recorded_value(results_mod.read_table(options.out_dir), cand, None)
                    if found is not None and found[1] > best_score:
                        best_value, best_score = value, found[1]
                if best_value is None:
                    report.missing.append(f"{label} (no validation run for {cell.select.param})")
                    continue
                report.choices.setdefault(f"{cell.row}/{cell.column}", {})[seed] = best_value
                extra[cell.select.param] = best_value
            run = make_run(spec, cell, dataset, seed, mini, extra=extra)
            ensure(run, spec.metric, label)
            planned.append(run)
    return planned, report

"""Tuned rows of ``harness table --tuned``: read the lock files of ``harness tune``, tune the missing
methods (``--tune-missing``), and add the "(tuned)" rows (:func:`leaderboards.tuned_rows.with_tuned`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.errors import InvalidParameterError
from harness.table_runs import check_dataset, is_miniature
from leaderboards.plan import setting_text
from leaderboards.spec import TableError, TableSpec
from leaderboards.tuned_rows import table_methods, tune_settings, with_tuned

DEFAULT_TUNE_TRIALS = 20  # harness tune's default


def search_keys(method: str) -> set[str]:
    """The keys the method's search space tunes (``harness tune`` refuses to fix them)."""
    from harness import api
    from harness.registry import load_plugins

    load_plugins()
    hook = getattr(api.METHODS.get(method), "search_space", None)
    return set(hook()) if hook is not None else set()


def study_settings(spec: TableSpec, method: str, miniature: bool) -> dict[str, Any]:
    """The fixed settings of ``method``'s study for this table (:func:`leaderboards.tuned_rows.tune_settings`)."""
    # The methods' declared miniature settings are not repeated here: 'harness tune' applies them itself.
    return tune_settings(spec, method, miniature, search_keys(method))


def tune_command(spec: TableSpec, method: str, dataset: str, out_dir: Path, trials: int, *,
                 storage: str | None = None, sampler: str = "tpe", paper_defaults: bool = False) -> str:
    """The ``harness tune`` command line that writes the lock file ``harness table --tuned`` needs."""
    import shlex

    from harness.tuning import redact_url

    parts = ["harness", "tune", "--method", method, "--dataset", dataset, "--trials", str(trials), "--out", str(out_dir)]
    if storage:
        parts += ["--storage", redact_url(storage)]
    if sampler != "tpe":
        parts += ["--sampler", sampler]
    if paper_defaults:
        parts.append("--paper-defaults")
    for k, v in study_settings(spec, method, is_miniature(dataset) and not paper_defaults).items():
        parts += ["--set", f"{k}={setting_text(v)}"]
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


def prepare_tuned(spec: TableSpec, dataset: str, out_dir: Path, *, tune_missing: bool = False, trials: int | None = None,
                  storage: str | None = None, sampler: str = "tpe", tune_options: Mapping[str, Any] | None = None,
                  echo: Callable[[str], None] | None = None, only: Sequence[str] | None = None,
                  paper_defaults: bool = False) -> TableSpec:
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
    check_dataset(spec, dataset)
    own = sorted({spec.column_label(c.column) for c in spec.cells.values() if c.datasets and c.datasets != (dataset,)})
    if own:  # a lock file is per (method, data set): one study cannot stand for several data sets
        raise InvalidParameterError(f"--tuned works on tables of one data set; the columns {', '.join(own)} of "
                                    f"{spec.full_name} name their own data sets: tune with 'harness tune' per data set instead")
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

            mini = is_miniature(dataset) and not paper_defaults
            echo(f"[{spec.full_name}] tuning {', '.join(todo)} on {dataset} with {n} trial(s) each (validation split only)")
            per_method = {m: {"sets": tuple(f"{k}={setting_text(v)}" for k, v in study_settings(spec, m, mini).items())} for m in todo}
            outcomes = tune_for_table(todo, dataset, n, out_dir=Path(out_dir), storage=storage, sampler=sampler,
                                      per_method=per_method, **{**dict(tune_options or {}), **({"paper_defaults": True} if paper_defaults else {})})  # fmt: skip
            for m, o in outcomes.items():
                best = "no finished trial" if o.best_value is None else f"best validation {o.metric} {o.best_value:.4f}"
                echo(f"[{spec.full_name}] tuned {m}: study {o.study}, {o.n_counted}/{o.budget} trials, {best} ({o.wall_s:.1f} s)")
            found, missing = read_locks(spec, dataset, out_dir, only)
    if missing:
        n = trials or (common[0] if len(common) == 1 else DEFAULT_TUNE_TRIALS)
        pairs = ", ".join(f"({m}, {dataset})" for m in missing)
        commands = "\n".join("  " + tune_command(spec, m, dataset, Path(out_dir), n, storage=storage, sampler=sampler,
                                                  paper_defaults=paper_defaults) for m in missing)
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

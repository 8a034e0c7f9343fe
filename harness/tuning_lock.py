"""Lock files of tuned parameters: ``<out>/tuned/<method>@<dataset>.yaml``.

``harness tune`` writes one per (method, dataset) with the best trial's parameters and where they
came from (study, storage with the password redacted, best validation value, trial number, config
hash, budget). ``harness run --tuned``, ``harness sweep --tuned`` and the table code read it.
This module does not import Optuna.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import InvalidParameterError, MissingDataError
from harness.search_space import format_value

log = logging.getLogger(__name__)

LOCK_DIR = "tuned"


def lock_path(out_dir: Path, method: str, dataset: str) -> Path:
    from harness.names import check_name

    return Path(out_dir) / LOCK_DIR / f"{check_name(method, 'method')}@{check_name(dataset, 'data set')}.yaml"


def write_lock(out_dir: Path, record: Mapping[str, Any]) -> Path:
    """Write the lock file of ``record['method']`` x ``record['dataset']`` atomically; returns its path."""
    import yaml

    from harness.cache import atomic_write_text

    path = lock_path(out_dir, record["method"], record["dataset"])
    header = ("# Written by 'harness tune'; read by 'harness run --tuned'. Best parameters found on the\n"
              "# validation split (never the test split). Re-run 'harness tune' to update it.\n")
    atomic_write_text(path, header + yaml.safe_dump(dict(record), sort_keys=False))
    return path


def read_lock(out_dir: Path, method: str, dataset: str) -> dict[str, Any]:
    """The lock file of (method, dataset) under ``out_dir``; a clear error when it is absent or damaged."""
    import yaml

    path = lock_path(out_dir, method, dataset)
    if not path.is_file():
        raise MissingDataError(
            f"no lock file for ({method}, {dataset}): {path} does not exist. Run "
            f"'harness tune --method {method} --dataset {dataset} --out {out_dir}' first, or drop --tuned."
        )
    try:
        record = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise InvalidParameterError(f"lock file {path} is not valid YAML ({exc}); re-run 'harness tune'") from None
    missing = [k for k in ("method", "dataset", "params", "study", "config_hash") if not isinstance(record, dict) or k not in record]
    if missing:
        raise InvalidParameterError(f"lock file {path} lacks {', '.join(missing)}; re-run 'harness tune'")
    if (record["method"], record["dataset"]) != (method, dataset):
        raise InvalidParameterError(
            f"lock file {path} is for ({record['method']}, {record['dataset']}), not ({method}, {dataset})"
        )
    _check_params(path, record)
    counted, budget = record.get("trials_counted"), record.get("budget")
    if isinstance(counted, int) and isinstance(budget, int) and counted < budget:
        log.warning("lock file %s comes from an unfinished study: %d of %d trials (%s). Re-run 'harness tune "
                    "--method %s --dataset %s --trials %d --out %s' to finish it.", path, counted, budget,
                    record.get("study"), method, dataset, record.get("trials_requested", budget), out_dir)
    return record


def _check_params(path: Path, record: Mapping[str, Any]) -> None:
    """The tuned values must be valid settings of the method; an error names the lock file as their source."""
    from harness import api
    from harness.params import resolve_config
    from harness.registry import load_plugins

    params = record.get("params")
    if not isinstance(params, Mapping):
        raise InvalidParameterError(f"lock file {path}: 'params' must be a mapping of setting: value; re-run 'harness tune'")
    load_plugins()
    method_cls = api.METHODS.get(str(record["method"]))
    import dataclasses

    known = {f.name for f in dataclasses.fields(method_cls.Config)}  # unknown keys: reported by the run itself
    try:
        resolve_config(method_cls.Config, {}, [f"{k}={format_value(v)}" for k, v in params.items() if k in known])
    except InvalidParameterError as exc:
        raise InvalidParameterError(
            f"lock file {path} holds a setting the method refuses: {exc} (the value comes from the lock file, "
            f"not the command line; re-run 'harness tune' or fix or delete {path})"
        ) from None


def tuned_sets(record: Mapping[str, Any]) -> tuple[str, ...]:
    """``--set`` items that reproduce a lock file's configuration (fixed settings, then tuned values)."""
    return tuple(record.get("base_sets", ())) + tuple(f"{k}={format_value(v)}" for k, v in record["params"].items())


def check_equal_budgets(records: Mapping[str, Mapping[str, Any]]) -> int:
    """The common trial budget of several lock files (one table); raise if they were tuned unequally."""
    budgets = {name: int(r.get("trials_requested", -1)) for name, r in records.items()}
    if len(set(budgets.values())) > 1:
        listing = ", ".join(f"{k}: {v}" for k, v in sorted(budgets.items()))
        raise InvalidParameterError(
            f"the methods of this table were tuned with different trial budgets ({listing}); "
            f"re-tune them with one --trials value (harness.tuning.tune_for_table does this)"
        )
    short = {k: r.get("trials_counted") for k, r in records.items()
             if int(r.get("trials_counted", 0)) < int(r.get("budget", 0))}
    if short:
        log.warning("studies stopped before their budget: %s", short)
    return next(iter(budgets.values())) if budgets else 0

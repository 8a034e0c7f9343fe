"""``harness run``: one method on one data set, tracked in MLflow and the local results table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "run"
HELP = "run one method on one data set (tracked in MLflow + results.parquet)"
DESCRIPTION = (
    "Run METHOD on DATASET: load data, extract (cached) features, fit on the training split "
    "(validation = held-out groups), predict the test split, score it with the data set's official "
    "protocol and record everything. Example: harness run --method lr --dataset trecvid2013-mini"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", required=True, help="registered method name (see 'harness list methods')")
    p.add_argument("--dataset", required=True, help="registered data set name (see 'harness list datasets')")
    p.add_argument("--seed", type=int, default=0, help="base seed of the run (default 0)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override a method (or data set) setting; repeatable; 'method.k=v'/'dataset.k=v' to disambiguate")
    p.add_argument("--config", type=Path, help="YAML file of settings (keys as for --set; a 'dataset:' mapping for data set options)")
    p.add_argument("--data-root", type=Path, help="root folder of the real data set (default $HARNESS_DATA/<name>)")
    p.add_argument("--source-root", dest="source_roots", action="append", default=[], metavar="NAME=DIR",
                   help="root folder of a training source the method names (source or data-set name); repeatable")
    p.add_argument("--out", type=Path, default=Path("runs"), help="output folder: results.parquet, mlflow.db, artifacts (default ./runs)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or a local store in --out)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default: cuda when present)")
    p.add_argument("--val-fraction", type=float, default=0.1,
                   help="fraction of training groups held out for validation when the data set has no validation split (default 0.1)")
    p.add_argument("--per-concept", action="store_true", help="print the per-concept table too")
    p.add_argument("--paper-defaults", action="store_true",
                   help="on a miniature, keep the paper's defaults unchanged (no miniature settings, see harness/miniature.py)")
    p.add_argument("--tuned", action="store_true",
                   help="use the best parameters of 'harness tune' (the lock file <out>/tuned/<method>@<dataset>.yaml); --set still wins")


def run(args: argparse.Namespace) -> int:
    from harness.report import format_run
    from harness.run_data import parse_source_roots
    from harness.runner import RunRequest, execute

    sets, tags, paper_defaults = tuple(args.sets), {}, args.paper_defaults
    if args.tuned:
        from harness.tuning_lock import read_lock, tuned_sets

        lock = read_lock(args.out, args.method, args.dataset)
        sets = tuned_sets(lock) + sets  # later items win, so explicit --set overrides the lock
        tags = {"harness.tuned_from": f"{lock['study']} trial {lock.get('trial_number')} ({lock['storage']})"}
        paper_defaults = paper_defaults or bool(lock.get("paper_defaults", False))  # as the study was tuned
    request = RunRequest(
        method=args.method, dataset=args.dataset, seed=args.seed, sets=sets, tags=tags,
        config_file=args.config, data_root=args.data_root, out_dir=args.out,
        tracking_uri=args.tracking_uri, device=args.device, val_fraction=args.val_fraction,
        source_roots=parse_source_roots(args.source_roots),
        paper_defaults=paper_defaults,
    )
    result = execute(request)
    sys.stdout.write(format_run(result, per_concept=args.per_concept))
    return 0

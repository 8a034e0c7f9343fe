"""``harness tune``: Optuna search of a method's hyper-parameters on the validation split."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.tuning import TuneOutcome

NAME = "tune"
HELP = "tune a method's hyper-parameters on the validation split (Optuna; resumable, multi-worker)"
DESCRIPTION = (
    "Search the hyper-parameters of METHOD on DATASET with Optuna. Every trial is a run scored on the "
    "validation split (held-out training groups; the test split is never used) and tracked as an "
    "MLflow child run of the study's parent run. The study is resumable: re-running the same command "
    "continues it; several 'harness tune' processes with the same --storage share it (use a "
    "PostgreSQL URL across machines). The best parameters go to <out>/tuned/<method>@<dataset>.yaml, "
    "which 'harness run --tuned' uses. Example: harness tune --method lr --dataset trecvid2013-mini --trials 20"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", help="registered method name (see 'harness list methods')")
    p.add_argument("--dataset", help="registered data set name (see 'harness list datasets')")
    p.add_argument("--trials", type=int, default=20, help="total trials of the study, shared by all workers (default 20)")
    p.add_argument("--timeout", type=float, help="stop starting new trials after this many seconds")
    p.add_argument("--storage", help="Optuna storage URL (default: sqlite:///<out>/optuna.db); "
                   "e.g. postgresql://user:password@host:5432/optuna, or journal:/path/file.journal")
    p.add_argument("--study", help="study name (default: <method>@<dataset>-<config hash>)")
    p.add_argument("--sampler", choices=("tpe", "grid", "random"), default="tpe", help="search strategy (default tpe)")
    p.add_argument("--seed", type=int, default=0,
                   help="base seed: of every trial's run (fixes the validation split) and of the sampler (default 0)")
    p.add_argument("--worker-index", type=int, default=0,
                   help="give each parallel worker its own index so their samplers draw different candidates (default 0)")
    p.add_argument("--out", type=Path, default=Path("runs"), help="output folder (default ./runs)")
    p.add_argument("--status", action="store_true", help="list the studies in the storage and their best trials, then exit")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="fix a setting for every trial (repeatable); a tuned key cannot be fixed")
    p.add_argument("--space", action="append", default=[], metavar="KEY=SPEC",
                   help="override/add one dimension of the search space (repeatable): loguniform(LOW,HIGH), "
                   "uniform(LOW,HIGH), int(LOW,HIGH[,STEP]), logint(LOW,HIGH), choice(A,B,...), paper-lr-grid")
    p.add_argument("--config", type=Path, help="YAML file of fixed settings")
    p.add_argument("--data-root", type=Path, help="root folder of the real data set (default $HARNESS_DATA/<name>)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or a local store in --out)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default auto)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="fraction of training groups held out for validation (default 0.1)")
    p.add_argument("--pruner", choices=("median", "none"), default="median",
                   help="stop unpromising trials of epoch-based methods early (default median)")
    p.add_argument("--heartbeat-interval", type=int, default=60,
                   help="seconds between a running trial's heartbeats in the storage (default 60)")
    p.add_argument("--grace-period", type=int,
                   help="seconds without heartbeat after which a trial counts as lost and is retried (default 2 x interval)")
    p.add_argument("--max-retry", type=int, default=3, help="times a lost trial is re-queued (default 3)")
    p.add_argument("--no-plot", action="store_true", help="do not write the tuning-history plot")
    p.add_argument("--paper-defaults", action="store_true",
                   help="on a miniature, keep the paper's defaults unchanged (no miniature settings, see harness/miniature.py)")
    p.add_argument("--baseline", action="store_true",
                   help="also score the method's defaults on the validation split, once per study, and report the "
                        "best trial against them (recorded in the study and the lock file)")
    p.add_argument("--enqueue-defaults", action="store_true",
                   help="make the study's first trial the method's defaults of the tuned keys that lie in the space "
                        "(keys without a default, e.g. an lr chosen over a grid, are sampled)")


def run(args: argparse.Namespace) -> int:
    from harness import tuning

    url = args.storage or tuning.default_storage_url(args.out)
    if args.status:
        sys.stdout.write(format_status(tuning.study_status(url), tuning.redact_url(url), args.out))
        return 0
    from harness.errors import InvalidParameterError

    missing = [flag for flag, value in (("--method", args.method), ("--dataset", args.dataset)) if not value]
    if missing:
        raise InvalidParameterError(f"harness tune needs {' and '.join(missing)} (or --status to list studies)")
    request = tuning.TuneRequest(
        method=args.method, dataset=args.dataset, trials=args.trials, timeout=args.timeout, storage=args.storage,
        study=args.study, sampler=args.sampler, seed=args.seed, out_dir=args.out, sets=tuple(args.sets),
        space=tuple(args.space), config_file=args.config, data_root=args.data_root, tracking_uri=args.tracking_uri,
        device=args.device, val_fraction=args.val_fraction, pruner=args.pruner,
        heartbeat_interval=args.heartbeat_interval, grace_period=args.grace_period, max_retry=args.max_retry,
        worker_index=args.worker_index, baseline=args.baseline,
        enqueue_defaults=args.enqueue_defaults, paper_defaults=args.paper_defaults,
    )
    outcome = tuning.tune(request)
    if not args.no_plot and outcome.history:
        _plot_history(outcome, args.out)
    sys.stdout.write(format_outcome(outcome))
    return 0 if outcome.best_trial is not None else 1


def _plot_history(o: TuneOutcome, out_dir: Path) -> None:
    import logging

    from harness.names import check_name, under
    from leaderboards.plots import plot_tuning_history

    try:
        plot_tuning_history(
            [h["number"] for h in o.history], [h["value"] for h in o.history], [h["state"] for h in o.history],
            metric=f"{o.metric} (validation)", direction=o.direction, title=o.study,
            out_base=under(Path(out_dir) / "tuned", f"{check_name(o.study, 'study')}.history"),
        )
    except Exception as exc:  # a plot must never cost the user the study's result
        logging.getLogger(__name__).warning("could not write the tuning-history plot: %s", exc)


def format_outcome(x: TuneOutcome) -> str:
    from harness.search_space import format_value

    lines = [f"study {x.study} ({x.storage})"]
    lines.append(f"  trials counted: {x.n_counted}/{x.budget} (this worker ran {x.trials_run_here}; "
                 f"stopped by {x.stopped_by}; {x.wall_s:.1f} s)")
    if x.best_trial is None:
        lines.append("  no trial finished yet")
    else:
        params = ", ".join(f"{k}={format_value(v)}" for k, v in x.best_params.items())
        lines.append(f"  best {x.metric} on the validation split: {x.best_value:.4f} (trial {x.best_trial}; {params})")
    if x.baseline is not None:
        line = f"  defaults (no tuning) on the validation split: {x.baseline['value']:.4f} (run {x.baseline['run_id']})"
        if x.best_value is not None:
            better = x.best_value >= x.baseline["value"] if x.direction == "maximize" else x.best_value <= x.baseline["value"]
            line += f"; tuned best {'matches or beats' if better else 'is WORSE than'} the defaults"
        lines.append(line)
    if x.lock_path is not None:
        lines.append(f"  lock file: {x.lock_path}  (use: harness run --tuned --method ... --dataset ...)")
    lines.append(f"  MLflow parent run: {x.parent_run_id}")
    return "\n".join(lines) + "\n"


def format_status(rows: list[dict], storage: str, out_dir: Path) -> str:
    from harness.search_space import format_value

    if not rows:
        return f"no studies in {storage}\n"
    lines = [f"studies in {storage}:"]
    for r in rows:
        states = ", ".join(f"{k.lower()} {v}" for k, v in sorted(r["states"].items()))
        best = ("-" if r["best_trial"] is None else
                f"{r['best_value']:.4f} (trial {r['best_trial']}: "
                + ", ".join(f"{k}={format_value(v)}" for k, v in r["best_params"].items()) + ")")
        defaults = "" if r.get("baseline_value") is None else f"; defaults {r['baseline_value']:.4f}"
        lines.append(f"  {r['study']}: {r['trials']} trials ({states}); {r['direction']} {r['metric']}; best {best}{defaults}")
    locks = sorted((Path(out_dir) / "tuned").glob("*.yaml"))
    if locks:
        lines.append(f"lock files in {Path(out_dir) / 'tuned'}: " + ", ".join(p.name for p in locks))
    return "\n".join(lines) + "\n"

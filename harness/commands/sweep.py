"""``harness sweep``: a grid of runs (methods x datasets x seeds), locally or on a Dask cluster; resumable."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "sweep"
HELP = "run methods x datasets x seeds in parallel (process pool or Dask); reruns skip recorded cells"
DESCRIPTION = (
    "Run every (method, data set, seed) combination as an ordinary 'harness run' (test split, tracked in "
    "MLflow and results.parquet as each finishes). Cells already recorded as FINISHED with the same "
    "method, data set, config hash and seed are skipped, so an interrupted sweep resumes. By default the "
    "cells run in a local process pool; --scheduler tcp://HOST:8786 sends them to a Dask distributed "
    "cluster. Example: harness sweep --methods lr --datasets trecvid2013-mini --seeds 3 --workers 2"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--methods", required=True, help="comma-separated method names")
    p.add_argument("--datasets", required=True, help="comma-separated data set names")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds per cell: 0..N-1 (default 1)")
    p.add_argument("--workers", type=int, help="local worker processes (default: number of CPU cores)")
    p.add_argument("--scheduler", metavar="tcp://HOST:PORT", help="Dask scheduler address; runs the cells on that cluster")
    p.add_argument("--out", type=Path, default=Path("runs"), help="output folder (default ./runs)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="setting applied to every method (repeatable; each method must have the key)")
    p.add_argument("--tuned", action="store_true", help="use each (method, data set)'s lock file from 'harness tune'")
    p.add_argument("--data-root", type=Path, help="root of the real data set (one data set only; else $HARNESS_DATA)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or a local store in --out)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default auto)")
    p.add_argument("--val-fraction", type=float, default=0.1, help="validation fraction of training groups (default 0.1)")
    p.add_argument("--paper-defaults", action="store_true",
                   help="on a miniature, keep the paper's defaults unchanged (no miniature settings, see harness/miniature.py)")
    p.add_argument("--dry-run", action="store_true", help="list the cells to run and those already recorded, then exit")


def run(args: argparse.Namespace) -> int:
    import os

    from harness import results, sweep
    from harness.errors import InvalidParameterError
    from harness.progress import bar

    if args.workers is not None and args.workers < 1:
        raise InvalidParameterError(f"--workers must be a positive number of processes, got {args.workers} "
                                    f"(leave it out to use one per CPU core: {os.cpu_count() or 1})")
    cells = sweep.plan(args.methods, args.datasets, args.seeds, sets=args.sets, out_dir=args.out,
                       tracking_uri=args.tracking_uri, device=args.device, data_root=args.data_root,
                       val_fraction=args.val_fraction, tuned=args.tuned, paper_defaults=args.paper_defaults)
    table_check = results.require_intact(args.out)  # unreadable rows would make finished cells run again
    for damage in table_check.damaged:
        print(f"sweep: warning: {damage.path} is damaged ({damage.reason}); run 'harness results repair --out "
              f"{args.out}'", file=sys.stderr)
    todo, done = sweep.split_done(cells, args.out)
    where = f"Dask cluster {args.scheduler}" if args.scheduler else f"{args.workers or os.cpu_count() or 1} local worker(s)"
    print(f"sweep: {len(cells)} cells, {len(done)} already recorded in {args.out}, {len(todo)} to run on {where}")
    if args.dry_run:
        for c in todo:
            print(f"  to run: {c.label} (config {c.config_hash})")
        for c in done:
            print(f"  recorded: {c.label} (config {c.config_hash})")
        return 0
    failed = []
    finished = [0]
    pbar = bar(len(todo), "sweep", unit="run")

    def report(outcome: sweep.CellOutcome) -> None:
        pbar.update(1)
        finished[0] += 1
        n = finished[0]
        if outcome.status == "SKIPPED":
            print(f"[{n}/{len(todo)}] {outcome.method} on {outcome.dataset} seed {outcome.seed}: SKIPPED ({outcome.error})",
                  flush=True)
        elif outcome.status == "FINISHED":
            value = "" if outcome.value is None else f" {outcome.headline}={outcome.value:.4f}"
            print(f"[{n}/{len(todo)}] {outcome.method} on {outcome.dataset} seed {outcome.seed}: FINISHED{value} "
                  f"(run {outcome.run_id}, {outcome.seconds:.1f} s, on {outcome.host})", flush=True)
        else:
            failed.append(outcome)
            print(f"[{n}/{len(todo)}] {outcome.method} on {outcome.dataset} seed {outcome.seed}: FAILED: "
                  f"{outcome.error.splitlines()[0] if outcome.error else ''}", flush=True)

    try:
        sweep.execute_cells(todo, workers=args.workers or os.cpu_count() or 1, scheduler=args.scheduler,
                            out_dir=args.out, on_result=report)
    finally:
        pbar.close()
    sys.stdout.write(_summary(args.out, cells))
    if failed:
        print(f"sweep: {len(failed)} run(s) failed; rerun the same command to retry them (finished runs are kept)",
              file=sys.stderr)
        return 1
    return 0


def _summary(out_dir: Path, cells: list) -> str:
    """Mean, std, n and 95 % CI of each (method, data set)'s headline metric over the sweep's seeds."""
    from harness import results
    from leaderboards.stats import summarize

    table = results.read_table(out_dir)
    if table.empty:
        return ""
    keys = {(c.method, c.dataset, c.config_hash, c.seed) for c in cells}
    finished = table[(table["status"] == "FINISHED") & (table["concept"] == "")]
    if "eval_split" in finished.columns:
        finished = finished[finished["eval_split"].fillna("test") == "test"]
    mask = [(m, d, h, int(s)) in keys for m, d, h, s in
            finished[["method", "dataset", "config_hash", "seed"]].itertuples(index=False)]
    finished = finished[mask].drop_duplicates(["method", "dataset", "config_hash", "seed", "metric"], keep="last")
    if finished.empty:
        return ""
    stats = summarize(finished, by=["dataset", "method", "metric"])
    lines = ["", "summary over seeds (mean ± std, n, 95% CI):"]
    from harness.environment import mixed_fingerprint_warnings

    lines += [f"  warning: {w}" for w in mixed_fingerprint_warnings(finished)]
    for row in stats.itertuples(index=False):
        n = int(row.n)  # type: ignore[arg-type]  # itertuples() fields are untyped in pandas-stubs
        ci = "" if n < 2 else f", CI [{row.ci_low:.4f}, {row.ci_high:.4f}]"
        std = "" if n < 2 else f" ± {row.std:.4f}"
        lines.append(f"  {row.dataset:<20} {row.method:<16} {row.metric:<10} {row.mean:.4f}{std} (n={n}{ci})")
    return "\n".join(lines) + "\n"

"""``harness results {check,repair}``: verify the local results table and the runs left open in MLflow."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "results"
HELP = "check or repair the results table of an output folder (damaged parts, runs left RUNNING)"
DESCRIPTION = (
    "check: read every file of <out>/results.parts and the compacted view <out>/results.parquet and "
    "report damaged ones (exit 1 when any is damaged); close as KILLED the MLflow runs left RUNNING by "
    "processes of this host that are gone. repair: move damaged files into <out>/results.damaged/ (rows "
    "still held by the view are first rewritten into a new part) and rebuild the view. "
    "Example: harness results check --out runs"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="{check,repair}")
    for name, text in (("check", "report damaged files and close orphaned MLflow runs (changes no results)"),
                       ("repair", "move damaged files aside and rebuild the table")):
        q = sub.add_parser(name, help=text, description=text)
        q.add_argument("--out", type=Path, default=Path("runs"), help="output folder (default ./runs)")
        q.add_argument("--tracking-uri", help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or the local store in --out)")
        q.add_argument("--no-mlflow", action="store_true", help="do not look at the MLflow store")


def run(args: argparse.Namespace) -> int:
    from harness import results
    from harness.errors import MissingDataError

    out = Path(args.out)
    if not out.is_dir():
        raise MissingDataError(f"--out {out} does not exist; name the output folder of your runs")
    if args.action == "repair":
        report, moved = results.repair(out)
        print(report.describe())
        for path in moved:
            print(f"  moved to {path}")
        after = results.check(out)
        print(f"repaired: {after.parts} part(s), {after.rows} row(s); the view {results.table_path(out)} is rebuilt"
              if moved or not report.view_current else "nothing to repair")
        return 0 if after.ok else 1
    report = results.check(out)
    print(report.describe())
    if not args.no_mlflow:
        _close_orphans(out, args.tracking_uri)
    if not report.ok:
        print(f"run 'harness results repair --out {out}' to move the damaged file(s) aside and rebuild the table")
        return 1
    return 0


def _close_orphans(out: Path, tracking_uri: str | None) -> None:
    from harness.tracking import Tracker, close_orphaned_runs, default_tracking_uri

    uri = tracking_uri or default_tracking_uri(out)
    if uri.startswith("sqlite:///") and not Path(uri[len("sqlite:///"):]).exists():
        return
    tracker = Tracker(uri, out)  # closes orphans on opening; the call below reports them
    closed = tracker.orphans_closed + close_orphaned_runs(tracker)
    print(f"MLflow: {len(closed)} run(s) left RUNNING by a process that is gone closed as KILLED" if closed
          else "MLflow: no run left RUNNING by a process that is gone")

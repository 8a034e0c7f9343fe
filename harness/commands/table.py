"""``harness table``: regenerate a paper table (run the missing cells, aggregate over seeds, render)."""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

NAME = "table"
HELP = "regenerate a paper table (e.g. dmtl_lc.table2): run missing cells, aggregate seeds, render md/tex/html"
DESCRIPTION = (
    "Fill the cells of a paper table from its spec (leaderboards/specs/<paper>.yaml): recorded runs with "
    "the same config are reused, missing ones are run and tracked like 'harness run'. Prints the table "
    "(ours = mean ± std over seeds, the published value, the difference) and writes it with a JSON summary "
    "into --out/tables/. With --tuned, every row also appears as '<row> (tuned)', run with the best "
    "parameters of 'harness tune' (lock files in --out/tuned/). "
    "Example: harness table dmtl_lc.table2 --dataset trecvid2013-mini --seeds 1"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("table", help="<paper>.<table>, e.g. dmtl_lc.table1 or dmtl_lc.table2 ('list' shows all)")
    p.add_argument("--dataset", help="data set of the cells (default: the first the spec names, the real one); "
                   "a column that names its own data sets uses the one that is a miniature exactly when this one is")
    p.add_argument("--spec-dir", type=Path, help="folder of <paper>.yaml table specs (default: leaderboards/specs)")
    p.add_argument("--seeds", type=int, default=1, help="number of seeds, 0..N-1 (default 1)")
    p.add_argument("--seed-list", help="explicit comma-separated seeds (overrides --seeds)")
    p.add_argument("--no-run", action="store_true", help="render recorded runs only; missing cells stay empty")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="METHOD.KEY=VALUE",
                   help="override a setting of METHOD in every cell (e.g. dmtl_lc.max_epochs=2); the cell's own settings win; repeatable")
    p.add_argument("--format", dest="fmt", choices=("md", "tex", "html"), default="md", help="output format (default md)")
    p.add_argument("--out", type=Path, default=Path("runs"),
                   help="output folder: results.parquet + MLflow store of the runs; tables go to OUT/tables/ (default ./runs)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument("--data-root", type=Path, help="root folder of the real data set --dataset (default $HARNESS_DATA/<name>; "
                   "a column's other data set always reads $HARNESS_DATA/<name>)")
    p.add_argument("--tracking-uri", help="MLflow tracking URI (default: a local store in --out)")
    p.add_argument("--paper-defaults", action="store_true",
                   help="on a miniature, keep the paper's defaults unchanged: no miniature settings (harness/miniature.py, "
                   "the spec's miniature: block) and the full candidate lists of 'select' cells")
    g = p.add_argument_group("tuned rows (lock files of 'harness tune' in OUT/tuned/)")
    g.add_argument("--tuned", action="store_true",
                   help="add a '<row> (tuned)' row under every row, run with the best parameters of 'harness tune' "
                   "(validation split only), with a paired Wilcoxon test against the default row; "
                   "fails naming the missing lock files and the commands that create them")
    g.add_argument("--tuned-methods", metavar="A,B",
                   help="with --tuned: tuned rows for these methods only (comma-separated; default: every method)")
    g.add_argument("--tune-missing", action="store_true",
                   help="with --tuned: tune the methods without a lock file here, all with one trial budget")
    g.add_argument("--trials", type=int,
                   help="trial budget per method for --tune-missing (default: the budget of the existing lock files, else 20); "
                   "methods tuned with another budget are re-tuned to it (their studies resume)")
    g.add_argument("--storage", help="Optuna storage URL for --tune-missing (default: sqlite:///<out>/optuna.db)")
    g.add_argument("--sampler", choices=("tpe", "grid", "random"), default="tpe", help="search strategy for --tune-missing (default tpe)")


def _seeds(args: argparse.Namespace) -> list[int]:
    from harness.errors import InvalidParameterError

    if args.seed_list:
        try:
            seeds = [int(s) for s in args.seed_list.split(",") if s.strip()]
        except ValueError:
            raise InvalidParameterError(f"--seed-list expects comma-separated integers, got {args.seed_list!r}") from None
    else:
        if args.seeds < 1:
            raise InvalidParameterError(f"--seeds must be >= 1, got {args.seeds}")
        seeds = list(range(args.seeds))
    if not seeds or any(s < 0 for s in seeds):
        raise InvalidParameterError(f"seeds must be non-negative integers, got {seeds}")
    return seeds


def _check_tuning_flags(args: argparse.Namespace) -> None:
    from harness.errors import InvalidParameterError

    if args.tune_missing and not args.tuned:
        raise InvalidParameterError("--tune-missing only makes sense with --tuned (it creates the lock files --tuned reads)")
    if args.tuned_methods and not args.tuned:
        raise InvalidParameterError("--tuned-methods only makes sense with --tuned")
    if args.tune_missing and args.no_run:
        raise InvalidParameterError("--tune-missing runs tuning trials, --no-run forbids runs: drop one of them")
    unused = [flag for flag, given in (("--trials", args.trials is not None), ("--storage", args.storage is not None),
                                       ("--sampler", args.sampler != "tpe")) if given]  # fmt: skip
    if unused and not args.tune_missing:
        raise InvalidParameterError(f"{', '.join(unused)} only apply to --tune-missing (tuning runs started by the table); "
                                    f"add --tuned --tune-missing, or run 'harness tune' yourself")


def run(args: argparse.Namespace) -> int:
    import time

    from harness import results, table_runs, table_tuned
    from harness.cache import atomic_write_text
    from leaderboards import tables

    if args.table == "list":
        for name in tables.available_tables(args.spec_dir):
            print(name)
        return 0
    spec = tables.with_overrides(tables.get_table(args.table, args.spec_dir), args.sets)
    spec = tables.with_directions(spec, table_runs.metric_directions(spec))
    spec = table_runs.with_declared_miniature(spec)  # the methods' miniature settings (harness/miniature.py)
    from harness.names import check_name

    check_name(spec.full_name, "table name")  # it names the output files (a spec from --spec-dir may be anything)
    dataset = args.dataset or spec.datasets[0]
    seeds = _seeds(args)
    t0 = time.perf_counter()
    _check_tuning_flags(args)
    if args.tuned:
        spec = table_tuned.prepare_tuned(spec, dataset, args.out, tune_missing=args.tune_missing, trials=args.trials,
                                    storage=args.storage, sampler=args.sampler,
                                    only=[m.strip() for m in args.tuned_methods.split(",")] if args.tuned_methods else None,
                                    tune_options={"device": args.device, "data_root": args.data_root,
                                                  "tracking_uri": args.tracking_uri},
                                    paper_defaults=args.paper_defaults)  # fmt: skip
    planned, report = table_runs.fill(spec, dataset, seeds, out_dir=args.out, run_missing=not args.no_run,
                                  device=args.device, data_root=args.data_root, tracking_uri=args.tracking_uri,
                                  paper_defaults=args.paper_defaults)  # fmt: skip
    wall = time.perf_counter() - t0
    recorded = results.read_table(args.out)
    agg = tables.aggregate(spec, planned, recorded)
    claims = tables.check_claims(spec, agg)
    from harness.environment import mixed_fingerprint_warnings

    used = {rid for rids in agg["run_ids"] for rid in rids}
    notes = mixed_fingerprint_warnings(recorded[recorded["run_id"].isin(used)]) if len(recorded) else []
    for warning in notes:
        print(f"warning: {warning}", file=sys.stderr)
    if args.paper_defaults and table_runs.is_miniature(dataset):
        notes.append("--paper-defaults: the paper's settings unchanged on this miniature (no miniature settings)")
    if report.missing:
        notes.append(f"{len(report.missing)} run(s) missing (--no-run): " + "; ".join(report.missing[:8]))
    if report.failed:
        notes.append(f"{len(report.failed)} run(s) failed: " + "; ".join(f[:200] for f in report.failed[:8]))
    from leaderboards.row_tests import row_test_lines, row_tests

    paired = row_tests(spec, planned, recorded)  # spec 'tests': row vs row per column (notes and JSON)
    notes += row_test_lines(spec, paired)
    for cell, by_seed in report.choices.items():
        notes.append(f"{cell}: selected on validation "
                     + ", ".join(f"{s if isinstance(s, str) else f'seed {s}'}: {v}" for s, v in by_seed.items()))
    text = tables.render(spec, agg, args.fmt, dataset=dataset, seeds=seeds, claims=claims, extra_notes=notes,
                         miniature=table_runs.is_miniature(dataset) and not args.paper_defaults)
    out = Path(args.out) / "tables"
    base = out / f"{spec.full_name}@{dataset}"
    atomic_write_text(base.with_name(base.name + f".{args.fmt}"), text)
    atomic_write_text(base.with_name(base.name + ".json"), tables.summary_json(spec, agg, claims, report, dataset, seeds, paired))
    sys.stdout.write(text)
    if spec.chart == "bars":  # the cells as the paper's bar chart (e.g. microNN's per-query AP)
        from leaderboards.plots import plot_grouped_bars

        cols = [k for k, _ in spec.columns]
        means = {(r.row, r.column): float(r["mean"]) for _, r in agg.iterrows()}
        png, svg = plot_grouped_bars([spec.column_label(c) for c in cols],
                                     [(label, [means.get((r, c), math.nan) for c in cols]) for r, label in spec.rows],
                                     metric=f"{spec.metric} ({spec.unit})" if spec.unit else spec.metric,
                                     out_base=base, title=f"{spec.title} ({dataset})")  # fmt: skip
        print(f"chart: {png} and {svg}", file=sys.stderr)
    if spec.note_plot is not None:  # e.g. MMDL-EG's learnt modality weights per data set
        from leaderboards.row_tests import note_means, plot_note

        note = note_means(spec, planned, recorded)
        if note:
            png, svg = plot_note(spec, note, base.with_name(base.name + f".{spec.note_plot.note}"))
            print(f"plot of fit.{spec.note_plot.note}: {png} and {svg}", file=sys.stderr)
    timing = ", ".join(f"{m} {s:.1f}s/{report.runs[m]} run(s)" for m, s in sorted(report.seconds.items()))
    print(f"\n{spec.full_name} on {dataset}: {report.reused} run(s) reused, {report.executed} executed, "
          f"{len(report.failed)} failed, {len(report.missing)} missing; {wall:.1f} s"
          + (f" (time per method: {timing})" if timing else ""), file=sys.stderr)  # fmt: skip
    print(f"written: {base}.{args.fmt} and {base}.json", file=sys.stderr)
    if not any(agg["n"] > 0):
        return 1
    return 1 if report.failed else 0

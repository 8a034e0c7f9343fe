"""``harness eval trec``: a drop-in for NIST's ``sample_eval.pl`` (xinfAP, infNDCG, iP ...).

Prints the script's lines (per topic with ``-q``, then ``all``) so scripts that parse its output
keep working, or JSON / CSV for machines. Unlike the script, every input line is validated: a
malformed line, a docid repeated within a topic, an empty file or a run without any judged topic
is an error naming file:line.
"""

from __future__ import annotations

import argparse
import sys

NAME = "eval"
HELP = "score a TREC/TRECVID run against qrels like NIST's sample_eval.pl"
DESCRIPTION = (
    "Score result files with the official measures. 'harness eval trec' reproduces NIST's "
    "sample_eval.pl (infAP = xinfAP, infNDCG, iP<k>, inum_rel_ret, inum_rel, num_ret, "
    "iprec@rec) and validates its input line by line."
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _digits(text: str) -> int:
    value = _positive_int(text)
    if value > 12:
        raise argparse.ArgumentTypeError(f"expected 1..12 digits, got {value}")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="eval_kind", metavar="<kind>", required=True)
    t = sub.add_parser(
        "trec",
        help="sample_eval.pl-compatible scoring of a TREC run against (sampled) qrels",
        description=(
            "Score a TREC run ('topic Q0 docid rank score tag') against NIST qrels ('topic iter "
            "docid stratum judgment', or the 4-column 'topic iter docid rel'), exactly as "
            "sample_eval.pl. Results are ordered by score (docid descending on ties); the rank "
            "column is ignored. Topics present in both files are averaged (see --strict). "
            "Files may be gzip-compressed."
        ),
        epilog="Example: harness eval trec --qrels avs.qrels.tv21 --run my.run -q",
    )
    t.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
    t.add_argument("--qrels", required=True, metavar="FILE", help="NIST/TREC qrels (plain or gzip)")
    t.add_argument("--run", required=True, metavar="FILE", help="TREC run file (plain or gzip)")
    t.add_argument(
        "--scorer",
        choices=("tv16avs", "trec2011"),
        default="tv16avs",
        help="which copy of sample_eval.pl to follow: tv16avs = TRECVID (2012 R/M adjustment, "
        "M=1000, iP at 5..500 and M; default); trec2011 = TREC 2011 (no adjustment, iP at 10, 50, M)",
    )
    t.add_argument(
        "--max-results",
        type=_positive_int,
        default=None,
        metavar="N",
        help="maxResultSize M: results scored per topic (default 1000; TRECVID SIN used 2000)",
    )
    t.add_argument(
        "--no-trecvid-adjust",
        dest="trecvid_adjust",
        action="store_false",
        default=None,
        help="do not rescale infAP by R/M when the inferred relevant count R exceeds M",
    )
    t.add_argument(
        "--strict",
        action="store_true",
        help="score qrels topics that are missing from the run as 0 (the script skips them)",
    )
    t.add_argument("-q", dest="per_topic", action="store_true", help="also print every topic (like sample_eval.pl -q)")
    t.add_argument("--digits", type=_digits, default=4, help="decimals in text output (default 4, as the script)")
    t.add_argument("--format", choices=("text", "json", "csv"), default="text", help="output format (default text)")


def run(args: argparse.Namespace) -> int:
    from harness.errors import DataError
    from metrics.trec import (
        evaluate_run,
        format_csv,
        format_json,
        format_text,
        read_qrels,
        read_run,
        topic_sort_key,
    )

    qrels = read_qrels(args.qrels)
    run_ = read_run(args.run)
    try:
        measures = evaluate_run(
            qrels,
            run_,
            profile=args.scorer,
            max_results=args.max_results,
            trecvid_adjust=args.trecvid_adjust,
            strict=args.strict,
        )
    except ValueError as exc:
        run_topics = sorted(run_, key=topic_sort_key)
        qrels_topics = sorted(qrels, key=topic_sort_key)
        raise DataError(
            f"{exc}: the run {args.run} has topics {_preview(run_topics)}, the qrels {args.qrels} "
            f"have topics {_preview(qrels_topics)}. Check that both files are for the same task "
            f"and year, and that topic ids are written the same way."
        ) from exc
    if measures.run_only_topics:
        print(
            f"harness eval: note: {len(measures.run_only_topics)} run topic(s) have no judgments "
            f"and were skipped: {_preview(list(measures.run_only_topics))}",
            file=sys.stderr,
        )
    if measures.qrels_only_topics and not args.strict:
        print(
            f"harness eval: note: {len(measures.qrels_only_topics)} judged topic(s) are missing "
            f"from the run and were not averaged (use --strict to count them as 0): "
            f"{_preview(list(measures.qrels_only_topics))}",
            file=sys.stderr,
        )
    if args.format == "json":
        out = format_json(measures, per_topic=args.per_topic)
    elif args.format == "csv":
        out = format_csv(measures, per_topic=args.per_topic)
    else:
        out = format_text(measures, per_topic=args.per_topic, digits=args.digits)
    sys.stdout.write(out)
    return 0


def _preview(items: list[str], n: int = 8) -> str:
    shown = ", ".join(items[:n])
    return f"{shown}, ... ({len(items)} in all)" if len(items) > n else shown

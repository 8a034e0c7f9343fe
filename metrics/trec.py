"""TREC/TRECVID scoring API: qrels/run I/O, ``sample_eval.pl``-exact evaluation and reports.

Example::

    from metrics.trec import read_qrels, read_run, evaluate_run, format_text
    m = evaluate_run(read_qrels("avs.qrels.tv21"), read_run("my.run"), profile="tv16avs")
    print(format_text(m, per_topic=True))
"""

from __future__ import annotations

from metrics._sample_eval import (
    EPS_DEN,
    EPS_NUM,
    PROFILES,
    RECALL_LEVELS,
    RunMeasures,
    ScorerProfile,
    TopicMeasures,
    evaluate_run,
    evaluate_topic,
    topic_sort_key,
    xinfap,
)
from metrics._trec_io import (
    Qrels,
    Run,
    TopicQrels,
    TopicRun,
    docid_rank,
    rank_order,
    read_qrels,
    read_run,
    write_run,
)
from metrics._trec_report import format_csv, format_json, format_text, measure_rows

__all__ = [
    "EPS_DEN",
    "EPS_NUM",
    "PROFILES",
    "RECALL_LEVELS",
    "Qrels",
    "Run",
    "RunMeasures",
    "ScorerProfile",
    "TopicMeasures",
    "TopicQrels",
    "TopicRun",
    "docid_rank",
    "evaluate_run",
    "evaluate_topic",
    "format_csv",
    "format_json",
    "format_text",
    "measure_rows",
    "rank_order",
    "read_qrels",
    "read_run",
    "topic_sort_key",
    "write_run",
    "xinfap",
]

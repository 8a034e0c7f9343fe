"""Render :class:`~metrics._sample_eval.RunMeasures` as ``sample_eval.pl`` text, JSON or CSV.

The text form reproduces the script's ``printf`` formats byte for byte at 4 digits (tabs
included), so scripts that parse its output keep working.
"""

from __future__ import annotations

import csv
import io
import json

from metrics._sample_eval import RECALL_LEVELS, RunMeasures, TopicMeasures


def _rows(m: RunMeasures, t: TopicMeasures, is_all: bool) -> list[tuple[str, str, float | int]]:
    """(measure, topic, value) in the script's print order."""
    rows: list[tuple[str, str, float | int]] = [("infAP", t.topic, t.infap), ("infNDCG", t.topic, t.infndcg)]
    if is_all:
        rows += [(f"iprec@rec{x:4.2f}", t.topic, v) for x, v in zip(RECALL_LEVELS, t.iprec_at_recall, strict=True)]
    rows += [(f"iP{k}", t.topic, v) for k, v in zip(m.cutoffs, t.ip, strict=True)]
    rows += [("inum_rel_ret", t.topic, t.inum_rel_ret), ("inum_rel", t.topic, t.inum_rel), ("num_ret", t.topic, t.num_ret)]
    return rows


def measure_rows(m: RunMeasures, per_topic: bool = True) -> list[tuple[str, str, float | int]]:
    """All (measure, topic, value) rows: per topic when asked, then ``all``."""
    rows: list[tuple[str, str, float | int]] = []
    if per_topic:
        for t in m.topics:
            rows += _rows(m, t, False)
    return rows + _rows(m, m.overall, True)


def format_text(m: RunMeasures, *, per_topic: bool = False, digits: int = 4) -> str:
    """``sample_eval.pl [-q]`` output: ``name<TAB>[TAB]topic<TAB>[TAB]value`` per line."""
    lines = []
    for name, topic, value in measure_rows(m, per_topic):
        if name in ("inum_rel_ret", "inum_rel"):
            lines.append(f"{name}\t{topic}\t{value:{10 + digits}.{digits}f}")
        elif name == "num_ret":
            lines.append(f"num_ret\t\t{topic}\t{int(value):9d}")
        elif name.startswith("iprec@rec"):
            lines.append(f"{name}\t{topic}\t\t{value:{2 + digits}.{digits}f}")
        else:
            lines.append(f"{name}\t\t{topic}\t\t{value:{2 + digits}.{digits}f}")
    return "\n".join(lines) + "\n"


def format_json(m: RunMeasures, *, per_topic: bool = True) -> str:
    """JSON: settings, ``all``, per-topic measures (full precision) and the topic bookkeeping."""
    doc = {
        "settings": {k: list(v) if isinstance(v, tuple) else v for k, v in m.settings.items()},
        "all": m.overall.as_dict(m.cutoffs),
        "topics": {t.topic: {**t.as_dict(m.cutoffs), "in_run": t.in_run} for t in m.topics} if per_topic else {},
        "run_topics_without_qrels": list(m.run_only_topics),
        "qrels_topics_without_run": list(m.qrels_only_topics),
    }
    return json.dumps(doc, indent=2) + "\n"


def format_csv(m: RunMeasures, *, per_topic: bool = True) -> str:
    """Long CSV ``measure,topic,value`` (full precision), in the text output's order."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("measure", "topic", "value"))
    for name, topic, value in measure_rows(m, per_topic):
        writer.writerow((name, topic, value if isinstance(value, int) else repr(float(value))))
    return buf.getvalue()

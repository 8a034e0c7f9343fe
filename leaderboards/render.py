"""Rendering (pure): aggregated cells -> Markdown, LaTeX or HTML text, and a JSON summary.

Rendering is separate from aggregation (:mod:`leaderboards.aggregate`): :func:`display_frame` makes
the strings, :func:`render` lays them out (pandas ``Styler`` for LaTeX and HTML). Cells computed on
a miniature are marked ``†`` and labelled as such in the header.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from harness.errors import InvalidParameterError
from leaderboards.aggregate import _finite
from leaderboards.plan import is_miniature_name, setting_text
from leaderboards.spec import TableSpec
from leaderboards.tuned_rows import row_methods, table_methods

FORMATS = ("md", "tex", "html")
MINI_MARK = "†"


def miniature_notes(spec: TableSpec, miniature: bool) -> list[str]:
    """On a miniature, the settings the spec adds to its methods there (they differ from the paper's)."""
    if not miniature:
        return []
    used = set(table_methods(spec)) | {c.method for c in spec.cells.values()}
    parts = [f"{m}: " + ", ".join(f"{k}={setting_text(v)}" for k, v in sorted(settings.items()))
             for m, settings in spec.miniature.items() if m in used and settings]  # fmt: skip
    if not parts:
        return []
    return ["Miniature settings (added to every cell of these methods on a miniature; the paper's defaults "
            "apply on real data): " + "; ".join(parts)]


def tuned_study_notes(spec: TableSpec) -> list[str]:
    """One note per tuned method: the study its lock came from and what it found."""
    from harness.search_space import format_value

    out = []
    for method, r in spec.locks.items():
        params = ", ".join(f"{k}={format_value(v)}" for k, v in dict(r.get("params", {})).items())
        rows = ", ".join(spec.row_label(t) for t, d in spec.tuned_rows.items() if method in row_methods(spec).get(t, []))
        best = r.get("best_value")
        best_text = f"{best:.4f}" if isinstance(best, (int, float)) else "?"
        fixed = ", ".join(map(str, r.get("base_sets") or ())) or "none"
        baseline = r.get("baseline") or {}
        if isinstance(baseline.get("value"), (int, float)):
            best_text += f" vs {baseline['value']:.4f} for the defaults (MLflow run {baseline.get('run_id')})"
        out.append(
            f"{rows or method}: {method} tuned in study '{r.get('study')}' ({r.get('storage')}), "
            f"{r.get('trials_counted')} trials counted (budget {r.get('budget')}, requested {r.get('trials_requested')}, "
            f"sampler {r.get('sampler')}, seed {r.get('seed')}); best validation {r.get('metric')} {best_text} "
            f"(trial {r.get('trial_number')}, MLflow run {r.get('mlflow_run_id')}); {params}; fixed settings: {fixed}"
        )
    return out




def _fmt(x: float, digits: int = 2, signed: bool = False) -> str:
    if not _finite(x):
        return "–"
    return f"{x:+.{digits}f}" if signed else f"{x:.{digits}f}"


def _ours(r: Mapping[str, Any], mark: bool, digits: int = 2) -> str:
    if not r["defined"]:
        return "–"
    if not r["n"]:
        return "missing"
    text = _fmt(r["mean"], digits)
    if r["n"] > 1:
        text += f" ± {_fmt(r['std'], digits)}"
    if r.get("parts_total") and r["parts"] < r["parts_total"]:
        text += f" ({r['parts']}/{r['parts_total']})"
    text += MINI_MARK if mark and r["miniature"] else ""
    return text + (f" {r['mark']}" if r.get("mark") else "")


def display_frame(spec: TableSpec, agg: pd.DataFrame, mark: bool = True) -> pd.DataFrame:
    """Rows = table rows, columns = (column label, ours / paper / Δ) as strings."""
    cols = pd.MultiIndex.from_tuples([(label, sub) for _, label in spec.columns for sub in ("ours", "paper", "Δ")])
    data = []
    d = spec.digits
    for rkey, _ in spec.rows:
        line = []
        for ckey, _ in spec.columns:
            r = agg[(agg["row"] == rkey) & (agg["column"] == ckey)].iloc[0]
            line += [_ours(r, mark, d), _fmt(r["published"], d), _fmt(r["diff"], d, signed=True)]
        data.append(line)
    return pd.DataFrame(data, index=pd.Index([label for _, label in spec.rows], name="method"), columns=cols)


def _defined(agg: pd.DataFrame) -> pd.DataFrame:
    return agg[agg["defined"]] if "defined" in agg.columns else agg


def _metric_text(spec: TableSpec, agg: pd.DataFrame, metric: str) -> str:
    """``name (unit; lower is better)``: the direction as recorded with the runs, else the spec's."""
    cells = _defined(agg)
    cells = cells[cells["metric"] == metric] if "metric" in cells.columns else cells.iloc[0:0]
    higher = bool(cells["higher_is_better"].iloc[0]) if len(cells) else spec.higher_is_better(metric)
    parts = [p for p in (spec.unit, "" if higher else "lower is better") if p]
    return metric + (f" ({'; '.join(parts)})" if parts else "")


def _column_values(spec: TableSpec, agg: pd.DataFrame, key: str) -> dict[str, str]:
    """Column label -> the ``key`` value (data set, metric) of its first defined cell."""
    out: dict[str, str] = {}
    cells = _defined(agg)
    for ckey, label in spec.columns:
        col = cells[cells["column"] == ckey] if key in cells.columns else cells.iloc[0:0]
        if len(col) and col[key].iloc[0]:
            out[label] = str(col[key].iloc[0])
    return out


def _header_lines(spec: TableSpec, dataset: str, agg: pd.DataFrame, seeds: Sequence[int]) -> list[str]:
    mini = bool(agg["miniature"].any())
    metrics = _column_values(spec, agg, "metric")
    if set(metrics.values()) <= {spec.metric}:
        metric_text = f"Metric: {_metric_text(spec, agg, spec.metric)}"
    else:
        metric_text = "Metrics: " + ", ".join(f"{label}: {_metric_text(spec, agg, m)}" for label, m in metrics.items())
    per_column = _column_values(spec, agg, "dataset")
    names = list(dict.fromkeys(per_column.values())) or [dataset]
    if names == [dataset]:
        data_text = f"data set: {dataset}"
    else:
        data_text = "data sets: " + ", ".join(f"{label}: {name}" for label, name in per_column.items())
    lines = [f"{spec.title}", f"{metric_text}; {data_text}; seeds: {', '.join(map(str, seeds))}; "
             f"ours = mean ± std over seeds; Δ = ours − paper."]  # fmt: skip
    for over, cells in _over_groups(spec, agg).items():
        key = over.split(" ", 1)[0]
        lines.append(f"Cells over {over} ({cells}): ours = mean ± std over the values of the data-set option '{key}', "
                     f"each the mean over its seeds; (k/n) after a value: only k of the n have a result.")  # fmt: skip
    if mini:
        which = f"data set {names[0]}" if len(names) == 1 else f"data sets {', '.join(names)}"
        lines.append(f"{MINI_MARK} computed on the MINIATURE {which}: synthetic data, not comparable with the paper's numbers.")
    if spec.tuned_rows:
        lines.append(f"(tuned) rows: the cells of the row above run with the best parameters of 'harness tune' (chosen on the "
                     f"validation split only; studies in the notes). * / ** / *** after a tuned value: paired Wilcoxon "
                     f"signed-rank test against the row above on per-concept {spec.per_concept_metric} over the same seeds "
                     f"and concepts, p < 0.05 / 0.01 / 0.001.")  # fmt: skip
    return lines


def _over_groups(spec: TableSpec, agg: pd.DataFrame) -> dict[str, str]:
    """``over`` description -> which cells have it ("every cell" or their labels)."""
    if "over" not in agg.columns:
        return {}
    cells = _defined(agg)
    out: dict[str, str] = {}
    for over in dict.fromkeys(o for o in cells["over"] if o):
        have = cells[cells["over"] == over]
        out[over] = "every cell" if len(have) == len(cells) else "; ".join(
            f"{r['row_label']} / {r['column_label']}" for _, r in have.iterrows())
    return out


def _tuned_lines(spec: TableSpec, agg: pd.DataFrame) -> list[str]:
    """Per tuned cell: tuned and default mean ± std, n and 95 % CI, and the paired test."""
    def stats(r: Mapping[str, Any]) -> str:
        if not r["n"]:
            return "missing"
        d = spec.digits
        text = f"{_fmt(r['mean'], d)}" + (f" ± {_fmt(r['std'], d)}" if r["n"] > 1 else "")
        ci = f", 95% CI [{_fmt(r['ci_low'], d)}, {_fmt(r['ci_high'], d)}]" if r["n"] > 1 else ", no CI with n = 1"
        return f"{text} (n = {r['n']}{ci})"

    out = []
    cells = {(r["row"], r["column"]): r for _, r in agg.iterrows()}
    for _, r in agg.iterrows():
        if not isinstance(r["tuned_of"], str) or not r["defined"]:
            continue
        d = cells[(r["tuned_of"], r["column"])]
        test = (f"paired Wilcoxon on {r['n_pairs']} per-concept {spec.per_concept_metric} pairs: p = {r['pvalue']:.3g}"
                f"{' ' + r['mark'] if r['mark'] else ' (not significant)'}") if r["n_pairs"] else "no paired test (no common per-concept values)"  # fmt: skip
        out.append(f"{r['row_label']} / {r['column_label']}: tuned {stats(r)} vs default {stats(d)}; {test}")
    return out


def _run_lines(spec: TableSpec, agg: pd.DataFrame) -> list[str]:
    out = []
    for _, r in agg.iterrows():
        if r["run_ids"]:
            out.append(f"{r['row_label']} / {r['column_label']}: {', '.join(r['run_ids'])}")
    return out


def _claim_lines(claims: Sequence[Mapping[str, Any]]) -> list[str]:
    out = []
    for c in claims:
        ours = f"{c['ours_held']}/{c['ours_total']}" if c["ours_total"] else "not measurable"
        failed = f" (not in: {', '.join(c['ours_failed_over'])})" if c["ours_failed_over"] else ""
        ratios = c.get("ours_ratio") or {}
        times = f"; ours {', '.join(f'{k} {v:.3g}x' for k, v in ratios.items())}" if c.get("factor", 1) != 1 and ratios else ""
        out.append(f"{c['text']}: paper {c['paper_held']}/{c['paper_total']}, ours {ours}{failed}{times}")
    return out


def render(spec: TableSpec, agg: pd.DataFrame, fmt: str, *, dataset: str, seeds: Sequence[int],
           claims: Sequence[Mapping[str, Any]] | None = None, extra_notes: Sequence[str] = (),
           miniature: bool | None = None) -> str:
    """The table as Markdown (``md``), LaTeX (``tex``) or HTML (``html``) text.

    ``miniature``: whether ``dataset`` is a miniature (default: its name ends in ``-mini``).
    """
    if fmt not in FORMATS:
        raise InvalidParameterError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    frame = display_frame(spec, agg)
    header = _header_lines(spec, dataset, agg, seeds)
    runs = _run_lines(spec, agg)
    claim_lines = _claim_lines(claims or [])
    notes = [*spec.notes, *miniature_notes(spec, is_miniature_name(dataset) if miniature is None else miniature), *tuned_study_notes(spec), *extra_notes]
    tuned = _tuned_lines(spec, agg)
    if fmt == "md":
        return _markdown(frame, header, runs, claim_lines, notes, tuned)
    styler = frame.style
    if fmt == "tex":
        body = styler.to_latex(caption=header[0], hrules=True, multicol_align="c", position="htbp")
        extra = [*header[1:], *(f"Note: {n}" for n in notes), *(f"Tuned: {t}" for t in tuned),
                 *(f"Claim: {c}" for c in claim_lines), "MLflow runs per cell:", *runs]  # fmt: skip
        return body + "".join(f"% {_tex_comment(line)}\n" for line in extra) + _tex_runs(runs)
    tooltips = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for _, r in agg.iterrows():
        if r["run_ids"]:
            tooltips.loc[r["row_label"], (r["column_label"], "ours")] = "MLflow runs: " + ", ".join(r["run_ids"])
    styler = styler.set_caption(header[0]).set_tooltips(tooltips)
    html = styler.to_html()
    import html as html_mod

    def para(lines: Sequence[str], title: str) -> str:
        if not lines:
            return ""
        return f"<h4>{html_mod.escape(title)}</h4><ul>" + "".join(f"<li>{html_mod.escape(x)}</li>" for x in lines) + "</ul>"

    return ("<div class='harness-table'>" + "".join(f"<p>{html_mod.escape(x)}</p>" for x in header[1:]) + html
            + para(notes, "Notes") + para(tuned, TUNED_TITLE) + para(claim_lines, "Claims of the paper")
            + para(runs, "MLflow runs per cell") + "</div>\n")  # fmt: skip


def _tex_comment(line: str) -> str:
    return line.replace("\n", " ")


def _tex_escape(text: str) -> str:
    for a, b in (("\\", r"\textbackslash{}"), ("&", r"\&"), ("%", r"\%"), ("_", r"\_"), ("#", r"\#")):
        text = text.replace(a, b)
    return text


def _tex_runs(runs: Sequence[str]) -> str:
    if not runs:
        return ""
    items = "".join(f"  \\item {_tex_escape(r)}\n" for r in runs)
    return "\\begin{itemize}\\footnotesize\n" + items + "\\end{itemize}\n"


TUNED_TITLE = "Tuned vs default (mean ± std, n, 95% CI over seeds; paired Wilcoxon)"


def _md(text: str) -> str:
    """Markdown-safe text: significance stars and redacted passwords ('***') stay literal."""
    return text.replace("*", "\\*")


def _markdown(frame: pd.DataFrame, header: Sequence[str], runs: Sequence[str], claims: Sequence[str], notes: Sequence[str],
              tuned: Sequence[str] = ()) -> str:  # fmt: skip
    labels = [f"{a}: {b}" if b == "ours" else b for a, b in frame.columns]
    lines = [f"### {header[0]}", ""]
    for h in header[1:]:
        lines += [_md(h), ""]
    lines.append("| " + " | ".join([frame.index.name or "", *labels]) + " |")
    lines.append("|" + "---|" * (len(labels) + 1))
    for name, row in frame.iterrows():
        lines.append("| " + " | ".join([str(name), *(_md(str(x)) for x in row.tolist())]) + " |")
    for title, items in (("Notes", notes), (TUNED_TITLE, tuned), ("Claims of the paper (held / compared)", claims),
                         ("MLflow runs per cell", runs)):  # fmt: skip
        if items:
            lines += ["", f"**{title}**", "", *[f"- {_md(x)}" for x in items]]
    return "\n".join(lines) + "\n"


def summary_json(spec: TableSpec, agg: pd.DataFrame, claims: Sequence[Mapping[str, Any]], report: Any,
                 dataset: str, seeds: Sequence[int], row_tests: Sequence[Mapping[str, Any]] = ()) -> str:
    """Machine-readable companion of a rendered table (``report``: the ``FillReport`` dataclass of
    ``harness.table_runs.fill``, or None; ``row_tests``: :func:`leaderboards.row_tests.row_tests`)."""
    cells = agg.drop(columns=["row_label", "column_label"]).to_dict(orient="records")
    rep = dataclasses.asdict(report) if report is not None else None
    extra: dict[str, Any] = {}
    if spec.tuned_rows:  # which study each tuned row came from (the lock records), and the test's metric
        extra = {"tuned_rows": dict(spec.tuned_rows), "tuned_from": {m: dict(r) for m, r in spec.locks.items()},
                 "paired_metric": spec.per_concept_metric}  # fmt: skip
    if spec.row_tests:  # paired tests between rows, NaN (no pairs) as null
        extra["row_tests"] = [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in t.items()}
                              for t in row_tests]  # fmt: skip
    return json.dumps({"table": spec.full_name, "dataset": dataset, "seeds": list(seeds), "cells": cells,
                       "claims": list(claims), "fill": rep, **extra}, indent=1, default=_json_default)  # fmt: skip


def _json_default(x: Any) -> Any:
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if hasattr(x, "item"):
        return x.item()
    return str(x)

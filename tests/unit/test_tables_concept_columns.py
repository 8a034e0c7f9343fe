"""Table columns that read one concept's value of a run (microNN's per-query infAP), a per-column
scale, claims with a factor ("more than three times higher"), and the shipped micronn spec."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import InvalidParameterError
from harness.results import COLUMNS
from leaderboards import tables
from leaderboards.plots import plot_grouped_bars

SPEC = """\
paper: toy
metric: xinfap
unit: infAP
digits: 3
datasets: [avs-mini]
tables:
  queries:
    title: per query
    chart: bars
    columns:
      - {key: q1, label: "501", concept: "501"}
      - {key: q2, label: "502", concept: "502"}
      - {key: mean, label: mean, metric: mxinfap, scale: 0.01}
    rows:
      - {key: a, label: A, method: micronn}
      - {key: b, label: B, method: svm_concepts}
    claims:
      - {text: "A > 3 x B", kind: rows_greater, a: a, b: b, factor: 3, over: [q1, q2]}
      - {text: "A > B", kind: rows_greater, a: a, b: b, over: all}
"""


@pytest.fixture
def spec(tmp_path: Path) -> tables.TableSpec:
    (tmp_path / "toy.yaml").write_text(SPEC)
    return tables.load_spec("toy", tmp_path)["queries"]


def _rows(run_id: str, method: str, values: dict[str, float], mean: float) -> list[dict[str, object]]:
    base = {"run_id": run_id, "status": "FINISHED", "dataset": "avs-mini", "is_miniature": True, "method": method,
            "config_hash": method, "seed": 0, "higher_is_better": True, "timestamp": 1.0, "params_json": "{}",
            "tags_json": "{}", "eval_split": "test"}  # fmt: skip
    out = [{**base, "metric": "mxinfap", "concept": "", "value": mean}]
    out += [{**base, "metric": "xinfap", "concept": q, "value": v} for q, v in values.items()]
    return out


def test_concept_columns_read_the_runs_per_concept_values(spec: tables.TableSpec) -> None:
    planned = [dataclasses.replace(tables.plan_run(spec, c, "avs-mini", 0, True), config_hash=c.method)
               for c in tables.cell_order(spec)]  # fmt: skip
    results = pd.DataFrame(_rows("r1", "micronn", {"501": 0.4, "502": 0.2}, 30.0)
                           + _rows("r2", "svm_concepts", {"501": 0.1, "502": 0.1}, 10.0), columns=list(COLUMNS))  # fmt: skip
    agg = tables.aggregate(spec, planned, results).set_index(["row", "column"])
    assert agg.loc[("a", "q1"), "mean"] == pytest.approx(0.4)
    assert agg.loc[("b", "q2"), "mean"] == pytest.approx(0.1)
    assert agg.loc[("a", "mean"), "mean"] == pytest.approx(0.30)  # 30 % x 0.01
    assert agg.loc[("a", "q1"), "run_ids"] == ["r1"]
    claims = {c["text"]: c for c in tables.check_claims(spec, agg.reset_index())}
    assert (claims["A > 3 x B"]["ours_held"], claims["A > 3 x B"]["ours_total"]) == (1, 2)  # 0.4 > 0.3; 0.2 < 0.3
    assert claims["A > 3 x B"]["ours_failed_over"] == ["q2"]
    assert (claims["A > B"]["ours_held"], claims["A > B"]["ours_total"]) == (3, 3)
    # a concept the run did not record gives an empty cell, not the overall value
    gone = results[results["concept"] != "502"]
    agg = tables.aggregate(spec, planned, gone).set_index(["row", "column"])
    assert agg.loc[("a", "q2"), "n"] == 0 and math.isnan(agg.loc[("a", "q2"), "mean"])


def test_bad_chart_and_factor_are_refused(tmp_path: Path) -> None:
    (tmp_path / "toy.yaml").write_text(SPEC.replace("chart: bars", "chart: pie"))
    with pytest.raises(InvalidParameterError, match="chart"):
        tables.load_spec("toy", tmp_path)
    (tmp_path / "toy.yaml").write_text(SPEC.replace("factor: 3", "factor: three"))
    with pytest.raises(InvalidParameterError, match="factor"):
        tables.load_spec("toy", tmp_path)


def test_grouped_bars_are_written(tmp_path: Path) -> None:
    png, svg = plot_grouped_bars(["501", "502"], [("A", [0.4, math.nan]), ("B", [0.1, 0.1])], metric="infAP",
                                 out_base=tmp_path / "chart")  # fmt: skip
    assert png.stat().st_size > 0 and svg.read_text().startswith("<?xml")
    with pytest.raises(ValueError, match="2 groups"):
        plot_grouped_bars(["501", "502"], [("A", [0.4])], metric="infAP", out_base=tmp_path / "bad")


def test_shipped_micronn_spec() -> None:
    spec = tables.get_table("micronn.queries")
    queries = [c for c in spec.cells.values() if c.row == "imbalanced" and c.concept]
    assert sorted(c.concept for c in queries) == [str(q) for q in range(501, 531)]
    assert spec.cells[("lstm", "mean")].settings == {"sampling": "imbalanced", "temporal": "lstm"}
    assert spec.chart == "bars" and [c.factor for c in spec.claims] == [1.0, 1.0, 3.0, 1.0]

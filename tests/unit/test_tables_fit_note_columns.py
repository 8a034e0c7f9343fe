"""Table columns that read a number a run's fit noted (``metric: fit.NAME.KEY``, e.g. microNN's
training seconds), their declared direction (``better: lower``), claims with a factor on them and
the ratio they print, and the shipped ``micronn.timing`` spec."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from harness.errors import InvalidParameterError
from harness.results import COLUMNS
from leaderboards import tables
from leaderboards.aggregate import note_number
from leaderboards.render import _claim_lines

SPEC = """\
paper: toy
metric: mxinfap
datasets: [avs-mini]
tables:
  timing:
    metric: fit.timing.per_concept_s
    columns:
      - {key: sec, label: "s", metric: fit.timing.per_concept_s, better: lower}
      - {key: ap, label: "AP", metric: fit.timing.heldout_map, better: higher}
      - {key: mean, label: mean, metric: mxinfap, scale: 0.01}
    rows:
      - {key: fast, label: Fast, method: micronn}
      - {key: slow, label: Slow, method: svm_concepts}
    claims:
      - {text: "Fast is 20x faster", kind: rows_greater, a: fast, b: slow, factor: 20, over: [sec]}
      - {text: "Fast is faster", kind: rows_greater, a: fast, b: slow, over: [sec]}
      - {text: "Fast has the better AP", kind: rows_greater, a: fast, b: slow, over: [ap]}
"""


@pytest.fixture
def spec(tmp_path: Path) -> tables.TableSpec:
    (tmp_path / "toy.yaml").write_text(SPEC)
    return tables.load_spec("toy", tmp_path)["timing"]


def _rows(run_id: str, method: str, timing: dict[str, object]) -> list[dict[str, object]]:
    return [{"run_id": run_id, "status": "FINISHED", "dataset": "avs-mini", "is_miniature": True, "method": method,
             "config_hash": method, "seed": 0, "higher_is_better": True, "timestamp": 1.0, "params_json": "{}",
             "tags_json": "{}", "eval_split": "test", "metric": "mxinfap", "concept": "", "value": 12.0,
             "notes_json": json.dumps({"backbone": "x", "fit": {"timing": timing}})}]  # fmt: skip


def _agg(spec: tables.TableSpec, results: pd.DataFrame) -> pd.DataFrame:
    planned = [dataclasses.replace(tables.plan_run(spec, c, "avs-mini", 0, True), config_hash=c.method)
               for c in tables.cell_order(spec)]  # fmt: skip
    return tables.aggregate(spec, planned, results)


def test_note_columns_read_the_fit_notes_and_their_direction(spec: tables.TableSpec) -> None:
    assert spec.higher_is_better("fit.timing.per_concept_s") is False and spec.higher_is_better("fit.timing.heldout_map")
    results = pd.DataFrame(_rows("r1", "micronn", {"per_concept_s": 0.5, "heldout_map": 0.31})
                           + _rows("r2", "svm_concepts", {"per_concept_s": 4.0, "heldout_map": 0.30}), columns=list(COLUMNS))  # fmt: skip
    agg = _agg(spec, results)
    cell = agg.set_index(["row", "column"])
    assert cell.loc[("fast", "sec"), "mean"] == pytest.approx(0.5) and cell.loc[("slow", "sec"), "mean"] == 4.0
    assert cell.loc[("fast", "ap"), "mean"] == pytest.approx(0.31) and cell.loc[("fast", "mean"), "mean"] == 0.12
    assert not cell.loc[("fast", "sec"), "higher_is_better"] and cell.loc[("fast", "ap"), "run_ids"] == ["r1"]
    claims = {c["text"]: c for c in tables.check_claims(spec, agg)}
    assert claims["Fast is faster"]["ours_held"] == 1  # 0.5 s < 4 s: lower is better
    twenty = claims["Fast is 20x faster"]
    assert twenty["ours_held"] == 0 and twenty["ours_ratio"] == {"sec": pytest.approx(8.0)}
    assert "ours sec 8x" in "\n".join(_claim_lines([twenty]))
    assert claims["Fast has the better AP"]["ours_held"] == 1


def test_a_run_without_the_note_leaves_the_cell_empty(spec: tables.TableSpec) -> None:
    results = pd.DataFrame(_rows("r1", "micronn", {"per_concept_s": None}), columns=list(COLUMNS))
    cell = _agg(spec, results).set_index(["row", "column"])
    assert cell.loc[("fast", "sec"), "n"] == 0 and math.isnan(cell.loc[("fast", "sec"), "mean"])
    assert cell.loc[("fast", "mean"), "n"] == 1  # the run itself is there


def test_note_number_walks_the_path_and_refuses_non_numbers() -> None:
    notes = json.dumps({"fit": {"timing": {"train_s": 2.5, "schedule": "batched", "ok": True}}})
    assert note_number(notes, "fit.timing.train_s") == 2.5
    for path in ("fit.timing.schedule", "fit.timing.ok", "fit.timing.missing", "fit.other", "fit.timing.train_s.x"):
        assert note_number(notes, path) is None
    assert note_number("not json", "fit.x") is None and note_number(None, "fit.x") is None


def test_bad_direction_is_refused(tmp_path: Path) -> None:
    (tmp_path / "toy.yaml").write_text(SPEC.replace("better: lower", "better: smaller"))
    with pytest.raises(InvalidParameterError, match="better"):
        tables.load_spec("toy", tmp_path)
    (tmp_path / "toy.yaml").write_text(SPEC.replace("{key: sec, label: \"s\", metric: fit.timing.per_concept_s,",
                                                    "{key: sec, label: \"s\","))
    with pytest.raises(InvalidParameterError, match="metric"):
        tables.load_spec("toy", tmp_path)


def test_shipped_timing_table_compares_the_three_banks_on_equal_inputs() -> None:
    t = tables.get_table("micronn.timing")
    cells = {(c.row, c.column): c for c in t.cells.values()}
    rows = {r for r, _ in t.rows}
    assert rows == {"batched", "one_at_a_time", "svm"}
    held = {cells[(r, "per_concept")].settings["heldout_fraction"] for r in rows}
    assert held == {0.2}  # the same held-out videos for every row
    assert cells[("batched", "per_concept")].settings["bank_cache"] is False
    assert cells[("one_at_a_time", "per_concept")].settings["schedule"] == "one_at_a_time"
    assert not t.higher_is_better("fit.timing.per_concept_s")

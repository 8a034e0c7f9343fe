"""The MMDL-EG table spec and the table keys it introduced: ``tests`` (paired Wilcoxon between two
rows per column over (seed, part)) and ``note_plot`` (a row's dict fit note per column); pure, no runs."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import pytest
from scipy import stats

from harness.errors import InvalidParameterError
from harness.results import COLUMNS
from leaderboards import tables
from leaderboards.row_tests import note_means, plot_note, row_test_lines, row_tests


@pytest.fixture(scope="module")
def spec() -> tables.TableSpec:
    return tables.get_table("mmdl_eg.table1")


def _plan(spec: tables.TableSpec, dataset: str, seeds: tuple[int, ...]) -> list[tables.PlannedRun]:
    runs = []
    for seed in seeds:
        for cell in tables.cell_order(spec):
            ds = tables.cell_dataset(cell, dataset)
            for part in tables.cell_parts(cell):
                run = tables.plan_run(spec, cell, ds, seed, tables.is_miniature_name(ds), part=part)
                runs.append(dataclasses.replace(run, config_hash="|".join((run.method, *run.sets))))
    return runs


def _results(planned: list[tables.PlannedRun], value: dict[str, float]) -> pd.DataFrame:
    rows = []
    for i, run in enumerate(planned):
        fold = int(run.part) if run.part is not None else 0
        v = value[run.cell.row] + 0.001 * fold + 0.0001 * run.seed * (1 if run.cell.row == "ours" else -1)
        notes = {"fit": {"weights": {"a/linear": 0.2 + 0.1 * run.seed, "a/rbf": 0.8 - 0.1 * run.seed}}} \
            if run.method == "mmdl_eg" else {}  # fmt: skip
        rows.append({"run_id": f"r{i}", "status": "FINISHED", "dataset": run.dataset, "is_miniature": True,
                     "method": run.method, "config_hash": run.config_hash, "seed": run.seed, "metric": "hamming_loss",
                     "concept": "", "value": v, "higher_is_better": False, "timestamp": float(i), "params_json": "{}",
                     "tags_json": "{}", "eval_split": "test", "notes_json": json.dumps(notes)})  # fmt: skip
    return pd.DataFrame(rows, columns=list(COLUMNS))


def test_spec_rows_columns_and_published_values(spec: tables.TableSpec) -> None:
    assert [k for k, _ in spec.columns] == ["scenes", "nuswide", "iapr"]
    assert [k for k, _ in spec.rows] == ["ll", "drc", "ours", "trivial"]
    assert ("drc", "nuswide") not in spec.cells and spec.published_only[("drc", "iapr")] == 0.0493  # published only
    assert spec.cells[("ours", "iapr")].published == 0.0291 and spec.cells[("ll", "scenes")].published == 0.227
    assert spec.cells[("ll", "scenes")].over == tables.Over("fold", tuple(range(1, 11)))
    assert tables.cell_dataset(spec.cells[("ours", "nuswide")], "iaprtc12-mini") == "nuswide-mini"
    assert spec.row_tests[0].a == "ours" and spec.row_tests[0].over == ("scenes", "nuswide", "iapr")
    assert spec.note_plot is not None and spec.note_plot.note == "weights"


def test_row_tests_pair_runs_by_seed_and_part(spec: tables.TableSpec, tmp_path: Path) -> None:
    planned = _plan(spec, "natural-scenes-mini", (0, 1))
    results = _results(planned, {"ll": 0.09, "ours": 0.08, "trivial": 0.2})
    by_column = {t["column"]: t for t in row_tests(spec, planned, results)}
    scenes = by_column["scenes"]
    assert scenes["n_pairs"] == 20 and scenes["a_better"] == 20  # 10 folds x 2 seeds, lower is better
    ours = [0.08 + 0.001 * f + 0.0001 * s for s in (0, 1) for f in range(1, 11)]
    ll = [0.09 + 0.001 * f - 0.0001 * s for s in (0, 1) for f in range(1, 11)]
    assert scenes["pvalue"] == pytest.approx(stats.wilcoxon(ours, ll).pvalue)
    assert scenes["mean_diff"] == pytest.approx(-0.0099, abs=1e-9) and scenes["mark"] == "***"
    assert by_column["nuswide"]["n_pairs"] == 2
    text = tables.render(spec, tables.aggregate(spec, planned, results), "md", dataset="natural-scenes-mini", seeds=[0, 1])
    assert "| DRC (published only) | – | 0.1760 | – | – | 0.0321 | – | – | 0.0493 | – |" in text
    lines = row_test_lines(spec, list(by_column.values()))
    assert lines[0].startswith("MMDL-EG (proposed) vs LL (ML-kNN), natural scenes: paired Wilcoxon signed-rank over 20")
    assert "not significant" in lines[1]  # 2 pairs cannot reach p < 0.05
    missing = row_tests(spec, planned, results[results["method"] != "mlknn"])
    assert all(t["n_pairs"] == 0 for t in missing) and "no paired test" in row_test_lines(spec, missing)[0]
    means = note_means(spec, planned, results)
    assert means["iapr"] == pytest.approx({"a/linear": 0.25, "a/rbf": 0.75})
    png, svg = plot_note(spec, means, tmp_path / "weights")
    assert png.stat().st_size > 0 and svg.stat().st_size > 0


def test_bad_tests_and_note_plot_are_refused(tmp_path: Path) -> None:
    text = (tables.SPEC_DIR / "mmdl_eg.yaml").read_text()
    (tmp_path / "bad.yaml").write_text(text.replace("{a: ours, b: ll, over: all}", "{a: ours, b: nope}"))
    with pytest.raises(InvalidParameterError, match=r"tables.table1.tests\[0\].b: unknown row 'nope'"):
        tables.load_spec("bad", tmp_path)
    (tmp_path / "bad2.yaml").write_text(text.replace("note_plot: {row: ours,", "note_plot: {row: ours, colour: red,"))
    with pytest.raises(InvalidParameterError, match="note_plot: needs 'row' and 'note'"):
        tables.load_spec("bad2", tmp_path)

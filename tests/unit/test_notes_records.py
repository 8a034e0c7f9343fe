"""``Method.fitted_notes`` -> JSON values and MLflow records; the results table's additive ``notes_json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness import api, results
from harness.fit_notes import ARTIFACT, compact, jsonable, to_tracking
from harness.registry import load_plugins
from harness.runner import fitted_notes


def test_jsonable_plain_values() -> None:
    value = {"a": np.float32(0.5), "b": np.int64(3), "c": (1, np.bool_(True)), "d": np.arange(3),
             "e": float("-inf"), "f": {2: float("nan")}, "g": Path("x")}  # fmt: skip
    out = jsonable(value)
    assert out == {"a": 0.5, "b": 3, "c": [1, True], "d": [0, 1, 2], "e": None, "f": {"2": None}, "g": "x"}
    assert type(out["b"]) is int and type(out["c"][1]) is bool
    json.dumps(out, allow_nan=False)  # strict JSON


def test_routing_numbers_strings_dicts_and_long_values() -> None:
    notes = jsonable({
        "lr": 0.01, "best_epoch": 3, "best_val_map": None, "solver_used": "apg", "converged": False,
        "val_map_per_lr": {"0.001": 0.2, "0.01": 0.3, "0.1": float("-inf")},
        "fit_info": {"solver": "apg-cpu", "n_iter": 12},
        "skipped_concepts": ["a", "b"], "history": [{"epoch": i, "val_map": 0.1} for i in range(500)],
    })  # fmt: skip
    rec = to_tracking(notes)
    assert rec.metrics == {"fit.lr": 0.01, "fit.best_epoch": 3.0, "fit.val_map_per_lr.0.001": 0.2,
                           "fit.val_map_per_lr.0.01": 0.3, "fit.fit_info.n_iter": 12.0}  # fmt: skip
    assert rec.params == {"fit.solver_used": "apg", "fit.converged": "false", "fit.fit_info.solver": "apg-cpu"}
    assert json.loads(rec.tags["fit.skipped_concepts"]) == ["a", "b"]
    assert ARTIFACT in rec.tags["fit.history"] and len(rec.tags["fit.history"]) < 100  # too long for a tag
    short = compact(notes)
    assert "history" not in short and short["lr"] == 0.01 and short["skipped_concepts"] == ["a", "b"]


def test_every_method_declares_notes_it_sets() -> None:
    """Declared notes are fitted attributes (ending in ``_``); neural methods record lr and epoch."""
    load_plugins()
    for name, cls in api.METHODS.items():
        assert all(a.endswith("_") and not a.startswith("_") for a in cls.fitted_notes), name
    for name in ("dmtl", "dmtl_lc", "default_tl_hinge", "default_tl_softmax", "two_sided_nn"):
        notes = api.METHODS.get(name).fitted_notes
        assert {"lr_", "best_epoch_", "best_val_map_", "val_map_per_lr_"} <= set(notes), name
    assert "solver_used_" in api.METHODS.get("amtl").fitted_notes


def test_fitted_notes_of_a_fitted_method() -> None:
    load_plugins()
    from harness.params import resolve_config

    g = np.random.default_rng(0)
    X = g.normal(size=(120, 6)).astype(np.float32)
    labels = (X[:, :3] > 0.3).astype(np.int8)
    labels[:, 2] = 0  # no positives: skipped
    concepts = ("a", "b", "c")

    def md(rows: slice, with_labels: bool) -> api.MethodData:
        return api.MethodData(ids=np.arange(120)[rows].astype(str), groups=np.arange(120)[rows].astype(str),
                              concepts=concepts, task="multilabel", labels=labels[rows] if with_labels else None,
                              features=X[rows])  # fmt: skip

    cls = api.METHODS.get("two_sided_nn")
    m = cls(config=resolve_config(cls.Config, None, ["max_epochs=4", "k=4", "lr=0.01"]), seed=0)
    assert fitted_notes(m) == {}  # nothing before fit
    m.fit(md(slice(0, 90), True), md(slice(90, 120), True))
    notes = fitted_notes(m)
    assert notes["lr"] == 0.01 and notes["best_epoch"] == m.best_epoch_
    assert notes["val_map_per_lr"] == {"0.01": m.best_val_map_}
    assert notes["skipped_concepts"] == ["c"] and len(notes["history"]) == len(m.history_)
    assert to_tracking(notes).metrics["fit.lr"] == m.lr_


def test_results_table_reads_files_written_before_notes_json(tmp_path: Path) -> None:
    old_columns = [c for c in results.COLUMNS if c != "notes_json"]
    row = {"run_id": "old", "status": "FINISHED", "dataset": "d", "is_miniature": True, "method": "m",
           "config_hash": "h", "seed": 0, "metric": "map", "concept": "", "value": 0.5, "higher_is_better": True,
           "timestamp": 1.0, "params_json": "{}", "tags_json": "{}", "eval_split": "test"}  # fmt: skip
    pd.DataFrame([row], columns=old_columns).to_parquet(results.table_path(tmp_path), index=False)
    table = results.read_table(tmp_path)
    assert list(table.columns) == list(results.COLUMNS) and table.notes_json.isna().all()
    results.append_rows(tmp_path, [{**row, "run_id": "new", "notes_json": json.dumps({"fit": {"lr": 0.1}})}])
    table = results.read_table(tmp_path)
    assert list(table.run_id) == ["old", "new"]
    assert table.notes_json.isna().tolist() == [True, False]
    assert json.loads(table.notes_json.iloc[1])["fit"]["lr"] == pytest.approx(0.1)

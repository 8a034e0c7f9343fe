"""``harness table --tuned``: tuned rows planned from lock files, aggregated (test split only), tested
against their default rows (paired Wilcoxon) and rendered with the study they came from. No training."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sp_stats

from harness import table_runs, table_tuned
from harness.cli import main
from harness.errors import InvalidParameterError
from harness.results import COLUMNS
from harness.tuning_lock import write_lock
from leaderboards import tables

DATASET = "trecvid2013-mini"
SPEC = """\
paper: toy
metric: mxinfap
unit: "%"
datasets: [trecvid2013-mini]
sources:
  net: {method: default_tl_hinge, settings: {fine_tuning: b}}
miniature:
  default_tl_hinge: {max_epochs: 2}
tables:
  t:
    title: "Toy table"
    columns:
      - {key: src, label: "Source"}
      - {key: ft, label: "Fine-tuned"}
    rows:
      - {key: lr, label: LR, method: lr, published: {src: 18.57, ft: 22.34}}
      - {key: nn, label: 2S-NN}
      - {key: direct, label: Direct}
    cells:
      lr:
        ft: {method: lr, settings: {backbone: "{source:net}", backbone_weights: "seed{seed}"}, published: 22.34}
      nn:
        src: {method: two_sided_nn, settings: {max_epochs: 5}, published: 20.19, select: {param: lr, values: [0.001, 0.01]}}
      direct:
        ft: {method: default_tl_hinge, settings: {fine_tuning: b}, published: 19.91}
    claims:
      - {text: "LR is the best", kind: row_best, a: lr, over: [ft]}
"""


@pytest.fixture
def spec(tmp_path: Path) -> tables.TableSpec:
    (tmp_path / "toy.yaml").write_text(SPEC)
    return tables.get_table("toy.t", spec_dir=tmp_path)


def _lock(method: str, params: dict, *, trials: int = 2, base_sets: tuple[str, ...] = ()) -> dict:
    return {
        "method": method, "dataset": DATASET, "params": params, "base_sets": list(base_sets), "best_value": 0.4321,
        "metric": "map", "split": "val", "direction": "maximize", "trial_number": 1, "mlflow_run_id": f"best-{method}",
        "study": f"{method}@{DATASET}-0123456789ab", "storage": "postgresql://bob:***@db:5432/optuna",
        "config_hash": "0123456789ab", "sampler": "random", "seed": 0, "val_fraction": 0.1,
        "budget": trials, "trials_requested": trials, "trials_counted": trials,
    }  # fmt: skip


def _write_locks(out: Path, *locks: dict) -> None:
    for lock in locks:
        write_lock(out, lock)


# --------------------------------------------------------------------------------------------
# Planning tuned rows from lock files
# --------------------------------------------------------------------------------------------


def test_tuned_rows_sit_under_their_default_rows_and_apply_the_lock(spec: tables.TableSpec, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    _write_locks(out, _lock("lr", {"C": 0.25}, base_sets=("max_iter=500",)), _lock("two_sided_nn", {"lr": 0.003}),
                 _lock("default_tl_hinge", {"lr": 0.001}))  # fmt: skip
    tuned = table_tuned.prepare_tuned(spec, DATASET, out)
    assert [k for k, _ in tuned.rows] == ["lr", "lr:tuned", "nn", "nn:tuned", "direct", "direct:tuned"]
    assert tuned.row_label("lr:tuned") == "LR (tuned)"
    assert tuned.tuned_rows == {"lr:tuned": "lr", "nn:tuned": "nn", "direct:tuned": "direct"}
    assert tuned.cells[("lr:tuned", "ft")].published is None and ("nn:tuned", "ft") not in tuned.cells

    # Same order as 'harness run --tuned': the lock's fixed settings first (later --set items win),
    # then the table's settings, then the tuned values.
    sets = tables.cell_sets(tuned, tuned.cells[("lr:tuned", "ft")], 1, True)
    assert sets[0] == "max_iter=500" and "C=0.25" in sets and "backbone_weights=seed1" in sets
    assert tables.cell_sets(tuned, tuned.cells[("direct:tuned", "ft")], 0, True) == ("fine_tuning=b", "lr=0.001", "max_epochs=2")

    # A cell that selects a parameter the lock already tuned does not select it again.
    assert tuned.cells[("nn", "src")].select is not None and tuned.cells[("nn:tuned", "src")].select is None
    default = table_runs.make_run(tuned, tuned.cells[("lr", "src")], DATASET, 0, True)
    run = table_runs.make_run(tuned, tuned.cells[("lr:tuned", "src")], DATASET, 0, True)
    assert run.config_hash != default.config_hash
    assert run.tags["harness.tuned_from"] == f"lr@{DATASET}-0123456789ab trial 1 (postgresql://bob:***@db:5432/optuna)"


def test_a_users_set_on_a_tuned_key_wins(spec: tables.TableSpec, tmp_path: Path) -> None:
    lock = _lock("lr", {"C": 0.25})
    over = tables.with_tuned(tables.with_overrides(spec, ["lr.C=4"]), {"lr": lock})
    assert "C=4" in tables.cell_sets(over, over.cells[("lr:tuned", "src")], 0, True)
    plain = tables.with_tuned(spec, {"lr": lock})
    assert [k for k, _ in plain.rows] == ["lr", "lr:tuned", "nn", "direct"]  # rows without a lock stay single


def test_missing_lock_files_name_the_pairs_and_the_tune_commands(spec: tables.TableSpec, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    _write_locks(out, _lock("lr", {"C": 0.25}, trials=7))
    with pytest.raises(tables.TableError) as err:
        table_tuned.prepare_tuned(spec, DATASET, out)
    msg = str(err.value)
    assert f"no lock file for (two_sided_nn, {DATASET}), (default_tl_hinge, {DATASET})" in msg
    # the commands use the budget of the existing lock (equal budgets) and the table's fixed settings
    assert f"harness tune --method two_sided_nn --dataset {DATASET} --trials 7 --out {out} --set max_epochs=5" in msg
    assert (f"harness tune --method default_tl_hinge --dataset {DATASET} --trials 7 --out {out} "
            f"--set fine_tuning=b --set max_epochs=2") in msg  # fmt: skip
    assert f"harness table toy.t --dataset {DATASET} --out {out} --tuned --tune-missing --trials 7" in msg
    assert "(lr," not in msg


def test_tuned_methods_limits_the_tuned_rows_and_the_missing_locks(spec: tables.TableSpec, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    _write_locks(out, _lock("lr", {"C": 0.25}))  # the other methods have no lock: not needed with only=[lr]
    tuned = table_tuned.prepare_tuned(spec, DATASET, out, only=["lr"])
    assert [k for k, _ in tuned.rows] == ["lr", "lr:tuned", "nn", "direct"]
    with pytest.raises(tables.TableError, match=r"no lock file for \(two_sided_nn"):
        table_tuned.prepare_tuned(spec, DATASET, out, only=["lr", "two_sided_nn"])
    with pytest.raises(InvalidParameterError, match="ksvm not a method of toy.t; its methods: lr, two_sided_nn"):
        table_tuned.prepare_tuned(spec, DATASET, out, only=["ksvm"])


def test_unequal_budgets_are_refused(spec: tables.TableSpec, tmp_path: Path) -> None:
    out = tmp_path / "runs"
    _write_locks(out, _lock("lr", {"C": 0.25}, trials=2), _lock("two_sided_nn", {"lr": 0.003}, trials=3),
                 _lock("default_tl_hinge", {"lr": 0.001}, trials=2))  # fmt: skip
    with pytest.raises(InvalidParameterError, match=r"different trial budgets .*--tune-missing --trials N"):
        table_tuned.prepare_tuned(spec, DATASET, out)
    with pytest.raises(InvalidParameterError, match="give --trials N"):
        table_tuned.prepare_tuned(spec, DATASET, out, tune_missing=True)


def test_cli_without_lock_files_fails_with_the_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "runs"
    assert main(["table", "dmtl_lc.table2", "--dataset", DATASET, "--tuned", "--no-run", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert f"no lock file for (default_tl_hinge, {DATASET}), (lr, {DATASET})" in err
    assert f"harness tune --method lr --dataset {DATASET} --trials 20 --out {out}\n" in err
    assert "--set batch_size=32 --set fine_tuning=b --set lr_grid=3.16227766017e-05,0.0001" in err and "Traceback" not in err
    assert not (out / "results.parquet").exists()
    assert main(["table", "dmtl_lc.table2", "--trials", "3", "--no-run", "--out", str(out)]) == 1
    assert "--trials only apply to --tune-missing" in capsys.readouterr().err
    assert main(["table", "dmtl_lc.table2", "--tuned", "--tune-missing", "--no-run", "--out", str(out)]) == 1
    assert "drop one of them" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------
# Aggregation, paired tests and rendering from a fixed results table
# --------------------------------------------------------------------------------------------

CONCEPTS = ("c1", "c2", "c3", "c4", "c5", "c6")


def _rows(run: tables.PlannedRun, run_id: str, overall: float, per_concept: list[float], *,
          split: str = "test", timestamp: float | None = None) -> list[dict]:  # fmt: skip
    base = {"run_id": run_id, "status": "FINISHED", "dataset": run.dataset, "is_miniature": True,
            "method": run.method, "config_hash": run.config_hash, "seed": run.seed,
            "higher_is_better": True, "timestamp": float(run.seed) if timestamp is None else timestamp,
            "params_json": "{}", "tags_json": "{}", "eval_split": split}  # fmt: skip
    rows = [{**base, "metric": "mxinfap", "concept": "", "value": overall}]
    return rows + [{**base, "metric": "xinfap", "concept": c, "value": v} for c, v in zip(CONCEPTS, per_concept, strict=True)]


DEFAULT_AP = {0: [0.10, 0.20, 0.30, 0.40, 0.50, 0.60], 1: [0.12, 0.18, 0.33, 0.41, 0.47, 0.66]}
TUNED_AP = {0: [0.15, 0.26, 0.31, 0.48, 0.52, 0.69], 1: [0.16, 0.25, 0.35, 0.44, 0.55, 0.70]}


def _tuned_table(spec: tables.TableSpec, tmp_path: Path) -> tuple[tables.TableSpec, list[tables.PlannedRun], pd.DataFrame]:
    tuned = tables.with_tuned(spec, {"lr": _lock("lr", {"C": 0.25})})
    planned = [table_runs.make_run(tuned, cell, DATASET, seed, True)
               for seed in (0, 1) for cell in tuned.cells.values() if cell.select is None]  # fmt: skip
    values = {("lr", "src", 0): ("d0", 11.0, DEFAULT_AP[0]), ("lr", "src", 1): ("d1", 13.0, DEFAULT_AP[1]),
              ("lr:tuned", "src", 0): ("t0", 13.0, TUNED_AP[0]), ("lr:tuned", "src", 1): ("t1", 15.0, TUNED_AP[1]),
              ("lr", "ft", 0): ("f0", 20.0, DEFAULT_AP[0]), ("lr:tuned", "ft", 0): ("g0", 21.0, DEFAULT_AP[0]),
              ("direct", "ft", 0): ("x0", 19.0, DEFAULT_AP[1])}  # fmt: skip
    rows = []
    for run in planned:
        key = (run.cell.row, run.cell.column, run.seed)
        if key in values:
            rows += _rows(run, *values[key])
    return tuned, planned, pd.DataFrame(rows, columns=list(COLUMNS))


GOLDEN_MD = """\
### Toy table

Metric: mxinfap (%); data set: trecvid2013-mini; seeds: 0, 1; ours = mean ± std over seeds; Δ = ours − paper.

† computed on the MINIATURE data set trecvid2013-mini: synthetic data, not comparable with the paper's numbers.

(tuned) rows: the cells of the row above run with the best parameters of 'harness tune' (chosen on the validation split only; studies in the notes). \\* / \\*\\* / \\*\\*\\* after a tuned value: paired Wilcoxon signed-rank test against the row above on per-concept xinfap over the same seeds and concepts, p < 0.05 / 0.01 / 0.001.

| method | Source: ours | paper | Δ | Fine-tuned: ours | paper | Δ |
|---|---|---|---|---|---|---|
| LR | 12.00 ± 1.41† | 18.57 | -6.57 | 20.00† | 22.34 | -2.34 |
| LR (tuned) | 14.00 ± 1.41† \\*\\*\\* | – | – | 21.00† | – | – |
| 2S-NN | missing | 20.19 | – | – | – | – |
| Direct | – | – | – | 19.00† | 19.91 | -0.91 |

**Notes**

- Miniature settings (added to every cell of these methods on a miniature; the paper's defaults apply on real data): default_tl_hinge: max_epochs=2
- LR (tuned): lr tuned in study 'lr@trecvid2013-mini-0123456789ab' (postgresql://bob:\\*\\*\\*@db:5432/optuna), 2 trials counted (budget 2, requested 2, sampler random, seed 0); best validation map 0.4321 (trial 1, MLflow run best-lr); C=0.25; fixed settings: none

**Tuned vs default (mean ± std, n, 95% CI over seeds; paired Wilcoxon)**

- LR (tuned) / Source: tuned 14.00 ± 1.41 (n = 2, 95% CI [1.29, 26.71]) vs default 12.00 ± 1.41 (n = 2, 95% CI [-0.71, 24.71]); paired Wilcoxon on 12 per-concept xinfap pairs: p = 0.000488 \\*\\*\\*
- LR (tuned) / Fine-tuned: tuned 21.00 (n = 1, no CI with n = 1) vs default 20.00 (n = 1, no CI with n = 1); paired Wilcoxon on 6 per-concept xinfap pairs: p = 1 (not significant)

**Claims of the paper (held / compared)**

- LR is the best: paper 1/1, ours 1/1

**MLflow runs per cell**

- LR / Source: d0, d1
- LR / Fine-tuned: f0
- LR (tuned) / Source: t0, t1
- LR (tuned) / Fine-tuned: g0
- Direct / Fine-tuned: x0
"""


def test_golden_markdown_with_a_tuned_row(spec: tables.TableSpec, tmp_path: Path) -> None:
    tuned, planned, results = _tuned_table(spec, tmp_path)
    agg = tables.aggregate(tuned, planned, results)
    cell = agg[(agg["row"] == "lr:tuned") & (agg["column"] == "src")].iloc[0]
    half = sp_stats.t.ppf(0.975, 1) * math.sqrt(2) / math.sqrt(2)
    assert cell["mean"] == 14.0 and cell["n"] == 2 and cell["run_ids"] == ["t0", "t1"]
    assert (cell["ci_low"], cell["ci_high"]) == pytest.approx((14.0 - half, 14.0 + half))
    assert cell["tuned_of"] == "lr" and math.isnan(cell["published"])
    # the paired test is scipy's Wilcoxon on the per-concept values of the same seeds and concepts
    expected = sp_stats.wilcoxon(np.r_[TUNED_AP[0], TUNED_AP[1]], np.r_[DEFAULT_AP[0], DEFAULT_AP[1]])
    assert cell["pvalue"] == pytest.approx(expected.pvalue) and cell["n_pairs"] == 12 and cell["mark"] == "***"
    same = agg[(agg["row"] == "lr:tuned") & (agg["column"] == "ft")].iloc[0]
    assert same["pvalue"] == 1.0 and same["mark"] == ""  # identical per-concept values: indistinguishable
    # claims concern the paper's rows only: LR (tuned) beating LR does not break "LR is the best"
    claims = tables.check_claims(tuned, agg)
    assert claims[0]["ours_held"] == 1
    text = tables.render(tuned, agg, "md", dataset=DATASET, seeds=[0, 1], claims=claims)
    assert text == GOLDEN_MD


def test_tex_html_and_json_carry_the_tuned_row_and_its_study(spec: tables.TableSpec, tmp_path: Path) -> None:
    import json

    tuned, planned, results = _tuned_table(spec, tmp_path)
    agg = tables.aggregate(tuned, planned, results)
    tex = tables.render(tuned, agg, "tex", dataset=DATASET, seeds=[0, 1])
    assert "LR (tuned)" in tex and "14.00 ± 1.41† ***" in tex and f"study 'lr@{DATASET}-0123456789ab'" in tex
    assert "% Tuned: LR (tuned) / Source: tuned 14.00" in tex
    html = tables.render(tuned, agg, "html", dataset=DATASET, seeds=[0, 1])
    assert "LR (tuned)" in html and "MLflow runs: t0, t1" in html and "best validation map 0.4321" in html
    summary = json.loads(tables.summary_json(tuned, agg, [], None, DATASET, [0, 1]))
    assert summary["tuned_from"]["lr"]["study"] == f"lr@{DATASET}-0123456789ab"
    assert summary["tuned_rows"] == {"lr:tuned": "lr"} and summary["paired_metric"] == "xinfap"
    cells = {(c["row"], c["column"]): c for c in summary["cells"]}
    assert cells[("lr:tuned", "src")]["n_pairs"] == 12 and cells[("lr:tuned", "src")]["mark"] == "***"


def test_validation_runs_never_reach_a_cell(spec: tables.TableSpec, tmp_path: Path) -> None:
    """Tuning trials and ``select`` candidates are recorded with eval_split "val", often with the same
    config hash and seed as a test run (the best trial *is* the tuned configuration): none may leak."""
    tuned, planned, results = _tuned_table(spec, tmp_path)
    clean = tables.aggregate(tuned, planned, results)
    leaks = []
    for run in planned:
        # later than every test run, so a lookup that ignored the split would pick them
        leaks += _rows(run, f"val-{run.cell.row}-{run.cell.column}-{run.seed}", 99.0, [0.99] * len(CONCEPTS),
                       split="val", timestamp=100.0 + run.seed)  # fmt: skip
    leaked = pd.concat([results, pd.DataFrame(leaks, columns=list(COLUMNS))], ignore_index=True)
    val_planned = [table_runs.make_run(tuned, run.cell, DATASET, run.seed, True, eval_split="val")
                   for run in planned]  # fmt: skip
    assert all(v.config_hash == p.config_hash for v, p in zip(val_planned, planned, strict=True))
    agg = tables.aggregate(tuned, [*planned, *val_planned], leaked)
    cols = ["row", "column", "mean", "std", "n", "ci_low", "ci_high", "run_ids", "pvalue", "n_pairs", "mark"]
    pd.testing.assert_frame_equal(agg[cols], clean[cols])
    assert not any(rid.startswith("val-") for ids in agg["run_ids"] for rid in ids)
    assert agg["mean"].max() < 99.0


def test_tune_missing_tunes_missing_and_unequal_methods_with_one_budget(spec: tables.TableSpec, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    from harness import tuning

    out = tmp_path / "runs"
    _write_locks(out, _lock("lr", {"C": 0.25}, trials=5), _lock("two_sided_nn", {"lr": 0.003}, trials=3))
    calls = []

    def fake_tune_for_table(methods, dataset, trials, per_method=None, **common):  # noqa: ANN001, ANN003, ANN202
        calls.append((list(methods), dataset, trials, per_method, common))
        for m in methods:  # what tune() leaves behind: a lock file per method
            write_lock(common["out_dir"], _lock(m, {"lr": 0.001} if m != "lr" else {"C": 1.0}, trials=trials))
        return {}

    monkeypatch.setattr(tuning, "tune_for_table", fake_tune_for_table)
    tuned = table_tuned.prepare_tuned(spec, DATASET, out, tune_missing=True, trials=3, sampler="random",
                                 tune_options={"device": "cpu"}, echo=lambda _msg: None)  # fmt: skip
    (methods, dataset, trials, per_method, common), = calls
    # two_sided_nn already has 3 trials; lr (5 trials) is brought to 3, default_tl_hinge has no lock
    assert methods == ["lr", "default_tl_hinge"] and dataset == DATASET and trials == 3
    assert per_method == {"lr": {"sets": ()}, "default_tl_hinge": {"sets": ("fine_tuning=b", "max_epochs=2")}}
    assert common == {"out_dir": out, "storage": None, "sampler": "random", "device": "cpu"}
    assert set(tuned.tuned_rows) == {"lr:tuned", "nn:tuned", "direct:tuned"}
    assert {r["trials_requested"] for r in tuned.locks.values()} == {3}


def test_tune_for_table_keeps_budgets_equal() -> None:
    from harness.tuning import tune_for_table

    with pytest.raises(InvalidParameterError, match="one budget for the whole table"):
        tune_for_table(["lr"], DATASET, 2, per_method={"lr": {"trials": 5}})


def test_the_notes_compare_the_best_trial_with_the_defaults_when_the_study_scored_them(spec: tables.TableSpec) -> None:
    lock = {**_lock("lr", {"C": 0.25}), "baseline": {"value": 0.4001, "run_id": "base-lr"}}
    (note,) = tables.tuned_study_notes(tables.with_tuned(spec, {"lr": lock}))
    assert "best validation map 0.4321 vs 0.4001 for the defaults (MLflow run base-lr) (trial 1" in note
    (plain,) = tables.tuned_study_notes(tables.with_tuned(spec, {"lr": _lock("lr", {"C": 0.25})}))
    assert "for the defaults" not in plain


def test_tuned_cells_over_splits_pair_by_split() -> None:
    """An ``over`` cell's tuned and default runs pair per (split, seed, concept), never across splits."""
    import json
    from types import SimpleNamespace

    from leaderboards.aggregate import _paired_tests

    rng = np.random.default_rng(3)
    rows, diffs = [], []
    for split in (1, 2):
        default = rng.uniform(0.1, 0.6, len(CONCEPTS))
        tuned = default + rng.normal(0.02 * split, 0.03, len(CONCEPTS))
        diffs += list(tuned - default)
        for side, values in (("t", tuned), ("d", default)):
            base = {"run_id": f"{side}{split}", "status": "FINISHED", "dataset": "ucf101-mini", "seed": 0,
                    "eval_split": "test", "metric": "xinfap", "params_json": json.dumps({"dataset": {"split": split}})}
            rows += [{**base, "concept": c, "value": float(v)} for c, v in zip(CONCEPTS, values, strict=True)]
    agg = pd.DataFrame([
        {"row": "lr", "column": "mean", "run_ids": ["d1", "d2"], "tuned_of": None, "row_label": "LR", "column_label": "M"},
        {"row": "lr:tuned", "column": "mean", "run_ids": ["t1", "t2"], "tuned_of": "lr", "row_label": "LR (tuned)",
         "column_label": "M"},
    ]).assign(pvalue=math.nan, n_pairs=0, mark="")
    _paired_tests(SimpleNamespace(per_concept_metric="xinfap"), agg, pd.DataFrame(rows))
    assert agg.loc[1, "n_pairs"] == 2 * len(CONCEPTS)  # both splits' concepts, not the last split's alone
    assert agg.loc[1, "pvalue"] == pytest.approx(sp_stats.wilcoxon(diffs).pvalue)

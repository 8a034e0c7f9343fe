"""``leaderboards/specs/mtn.yaml``: every ablation row is a setting of ``mtn``, and the cells the paper
reports twice (METHODS.md 2.10 "cross-table identities") plan the very same run (same method, data
set, config hash and seed), so ``harness table`` fills them once and they are identical."""

from __future__ import annotations

import pytest

from harness.table_runs import make_run
from leaderboards.spec import load_spec

IDENTITIES = [  # (table, row, column) pairs that must be one run
    (("table4", "b", "scene"), ("table1", "gap", "seg_scene")),
    (("table4", "b", "action"), ("table1", "gap", "seg_action")),
    (("table5", "instance", "scene"), ("table1", "mtn", "seg_scene")),
    (("table7", "mtx", "scene"), ("table1", "mtn", "seg_scene")),
    (("table5", "instance", "action"), ("table7", "mtx", "action")),
    (("table6", "concat", "scene"), ("table1", "gap_concat", "seg_scene")),
    (("table6", "ccm", "action"), ("table1", "gap_ccm", "seg_action")),
    (("table8", "joint", "is"), ("table1", "gap", "is_is")),
]


@pytest.fixture(scope="module")
def tables():  # noqa: ANN201
    return load_spec("mtn")


def _run(tables, where, dataset: str = "coview2019-mini", seed: int = 0):  # noqa: ANN001, ANN202
    table, row, column = where
    spec = tables[table]
    return make_run(spec, spec.cells[(row, column)], dataset, seed, miniature=dataset.endswith("-mini"))


@pytest.mark.parametrize(("a", "b"), IDENTITIES, ids=lambda w: ".".join(w))
def test_cross_table_cells_are_the_same_run(tables, a, b) -> None:  # noqa: ANN001
    ra, rb = _run(tables, a), _run(tables, b)
    assert (ra.method, ra.dataset, ra.config_hash, ra.seed) == (rb.method, rb.dataset, rb.config_hash, rb.seed)
    assert tables[a[0]].cell_metric(tables[a[0]].cells[a[1:]]) == tables[b[0]].cell_metric(tables[b[0]].cells[b[1:]])


def test_ablation_rows_differ_and_table1_columns_share_one_run(tables) -> None:  # noqa: ANN001
    t1 = tables["table1"]
    per_row = {row: {_run(tables, ("table1", row, col)).config_hash for col, _ in t1.columns} for row, _ in t1.rows}
    assert all(len(h) == 1 for h in per_row.values()), per_row  # 8 columns, one training
    hashes = [next(iter(h)) for row, h in per_row.items() if row != "majority"]
    assert len(set(hashes)) == 5  # the five aggregators are five runs
    others = {_run(tables, ("table5", r, "scene")).config_hash for r in ("none", "bias", "batch")}
    others |= {_run(tables, ("table7", "tx", "scene")).config_hash, _run(tables, ("table6", "ccm_bp", "scene")).config_hash,
               _run(tables, ("table4", "a", "scene")).config_hash, _run(tables, ("table8", "only_is", "is")).config_hash}
    assert len(others) == 7 and not others & set(hashes)

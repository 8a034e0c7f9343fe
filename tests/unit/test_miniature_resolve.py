"""Every entry point resolves through harness.runner.resolve, which applies the miniature settings."""

from __future__ import annotations

from harness.params import config_to_dict
from harness.runner import RunRequest, config_hash, resolve


def _hash(request: RunRequest) -> str:
    r = resolve(request)
    return config_hash(request.method, config_to_dict(r.method_config), config_to_dict(r.dataset_config))


def test_resolve_applies_them_on_a_miniature_and_set_and_paper_defaults_win() -> None:
    r = resolve(RunRequest("dmtl_lc", "trecvid2013-mini"))
    assert r.method_config.batch_size == 32 and r.method_config.lr_grid == (0.00316227766017, 0.01)
    assert set(r.miniature_settings) == {"batch_size", "lr_grid"}
    r = resolve(RunRequest("dmtl_lc", "trecvid2013-mini", sets=("batch_size=64",)))
    assert r.method_config.batch_size == 64 and set(r.miniature_settings) == {"lr_grid"}
    r = resolve(RunRequest("dmtl_lc", "trecvid2013-mini", paper_defaults=True))
    assert r.method_config.batch_size == 256 and len(r.method_config.lr_grid) == 7 and r.miniature_settings == {}
    r = resolve(RunRequest("dmtl_lc", "trecvid2013"))  # real data: never
    assert r.method_config.batch_size == 256 and r.miniature_settings == {}
    assert resolve(RunRequest("lr", "trecvid2013-mini")).miniature_settings == {}


def test_harness_run_and_the_table_cell_resolve_to_the_same_config() -> None:
    """So 'harness run --method dmtl_lc' and the DMTL_LC cell of Table 2 are the same run (reused by the table)."""
    from harness import table_runs
    from leaderboards import tables

    spec = tables.get_table("dmtl_lc.table2")
    for (row, column), method in ((("dmtl_lc", "alexnet"), "dmtl_lc"), (("direct", "default_tl"), "default_tl_hinge"),
                                  (("lr", "alexnet"), "lr")):
        cell = spec.cells[(row, column)]
        planned = table_runs.make_run(spec, cell, "trecvid2013-mini", 0, True)
        assert planned.config_hash == _hash(RunRequest(method, "trecvid2013-mini", sets=tuple(
            s for s in planned.sets if not s.startswith(("batch_size=", "lr_grid="))))), (row, column)
    cell = spec.cells[("dmtl_lc", "alexnet")]
    assert table_runs.make_run(spec, cell, "trecvid2013-mini", 0, True).config_hash == _hash(RunRequest("dmtl_lc", "trecvid2013-mini"))


def test_paper_defaults_reach_sweep_tune_and_table() -> None:
    """``--paper-defaults`` on sweep, tune and table: the paper's config, another hash, recorded on the request."""
    from harness import sweep, table_runs
    from harness.tuning import TuneRequest, plan_study
    from leaderboards import tables

    mini, paper = _hash(RunRequest("dmtl_lc", "trecvid2013-mini")), _hash(RunRequest("dmtl_lc", "trecvid2013-mini", paper_defaults=True))
    assert mini != paper
    (cell,) = sweep.plan("dmtl_lc", "trecvid2013-mini", 1)
    (paper_cell,) = sweep.plan("dmtl_lc", "trecvid2013-mini", 1, paper_defaults=True)
    assert (cell.config_hash, paper_cell.config_hash) == (mini, paper) and paper_cell.request.paper_defaults
    spec = tables.get_table("dmtl_lc.table2")
    c = spec.cells[("dmtl_lc", "alexnet")]
    planned = table_runs.make_run(spec, c, "trecvid2013-mini", 0, True, paper_defaults=True)
    assert planned.config_hash == paper and not any(s.startswith("batch_size=") for s in planned.sets)
    assert table_runs.to_request(planned).paper_defaults
    studies = {plan_study(TuneRequest("dmtl_lc", "trecvid2013-mini", paper_defaults=p)).name for p in (False, True)}
    assert len(studies) == 2

"""harness.miniature: declared settings with reasons, layered under --config and --set."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from harness import miniature
from harness.params import param


class _Real:
    is_miniature = False


class _Mini:
    is_miniature = True


class _Method:
    @dataclass(frozen=True)
    class Config:
        batch_size: int = param(256)
        lr: float = param(0.1)

    miniature_settings = {"batch_size": (32, "too few updates per epoch at 256")}


def test_values_apply_on_miniatures_only_and_paper_defaults_turn_them_off() -> None:
    assert miniature.values_for(_Method, _Mini) == {"batch_size": 32}
    assert miniature.values_for(_Method, _Real) == {}
    assert miniature.values_for(_Method, _Mini, paper_defaults=True) == {}


def test_config_file_and_set_override_and_are_not_recorded_as_applied() -> None:
    merged, applied = miniature.layered({"batch_size": 32, "lr": 0.01}, {"lr": 0.5}, [])
    assert merged == {"batch_size": 32, "lr": 0.5} and applied == {"batch_size": 32}
    merged, applied = miniature.layered({"batch_size": 32}, {}, ["method.batch_size=64"])
    assert applied == {}  # --set wins; the run records no miniature setting for the key
    assert json.loads(miniature.as_param({"lr_grid": (0.1, 0.2)})) == {"lr_grid": [0.1, 0.2]}


def test_malformed_declarations_fail_naming_the_key() -> None:
    class NoReason(_Method):
        miniature_settings = {"batch_size": (32, "")}

    class UnknownKey(_Method):
        miniature_settings = {"batch": (32, "why")}

    with pytest.raises(TypeError, match="reason"):
        miniature.declared(NoReason)
    with pytest.raises(TypeError, match="'batch'.*valid: batch_size, lr"):
        miniature.declared(UnknownKey)


def test_every_registered_method_declares_valid_settings_and_the_fine_tuned_nets_use_batch_32() -> None:
    from harness import api
    from harness.registry import load_plugins

    load_plugins()
    for name in api.METHODS.names():
        miniature.declared(api.METHODS.get(name))  # raises on a malformed declaration
    for name in ("default_tl_hinge", "default_tl_softmax", "dmtl", "dmtl_lc"):
        values = miniature.for_names(name, "trecvid2013-mini")
        assert values["batch_size"] == 32 and len(values["lr_grid"]) == 2, (name, values)
        assert miniature.for_names(name, "trecvid2013") == {}
    lines = miniature.describe(api.METHODS.get("dmtl_lc"), miniature.for_names("dmtl_lc", "trecvid2013-mini"))
    assert lines[1].startswith("  batch_size=32: ") and "lr_grid=0.00316228,0.01" in lines[2]


def test_tables_take_the_methods_declarations() -> None:
    """Declared once (on the methods): a table's cells and ``{source:...}`` networks get them on a
    miniature, not on real data nor with --paper-defaults; a spec's own ``miniature:`` block adds to them."""
    import dataclasses

    from harness import table_runs
    from leaderboards import tables

    spec = tables.get_table("dmtl_lc.table2")
    assert not spec.miniature, "dmtl_lc.yaml repeats the methods' miniature settings again"
    merged = table_runs.with_declared_miniature(spec)
    assert {"default_tl_hinge", "dmtl_lc"} <= set(merged.miniature)
    for method, settings in merged.miniature.items():
        assert settings == miniature.for_names(method, "trecvid2013-mini"), method
    assert table_runs.with_declared_miniature(merged) == merged  # idempotent
    cell = spec.cells[("lr", "default_tl")]  # lr on the features of the {source:default_tl_b} network
    on_mini = table_runs.make_run(spec, cell, "trecvid2013-mini", 0, True)
    backbone = next(s for s in on_mini.sets if s.startswith("backbone="))
    assert "batch_size=32" in backbone and "lr_grid=3.16227766017e-05,0.0001" in backbone  # the source network too
    paper = table_runs.make_run(spec, cell, "trecvid2013-mini", 0, True, paper_defaults=True)
    assert "batch_size" not in next(s for s in paper.sets if s.startswith("backbone="))
    extra = dataclasses.replace(spec, miniature={"dmtl_lc": {"max_epochs": 3}})
    assert table_runs.with_declared_miniature(extra).miniature["dmtl_lc"] == {**merged.miniature["dmtl_lc"], "max_epochs": 3}

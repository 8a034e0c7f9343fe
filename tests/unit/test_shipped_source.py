"""The shipped source network: package data with its sha256 and recipe, used instead of pretraining."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from harness import synthetic_source as ss
from harness.cache import Cache, sha256_file
from harness.errors import HarnessError

TINY = dataclasses.replace(ss.PRETRAIN, n_train=96, n_val=64, epochs=1, batch=32)


def test_the_shipped_network_matches_its_manifest_and_passes_the_source_bars() -> None:
    manifest = ss.shipped_manifest()
    assert manifest is not None, f"{ss.SHIPPED_MANIFEST} is missing"
    path = ss.shipped_weights()
    assert path == ss.SHIPPED_WEIGHTS and sha256_file(path) == manifest["sha256"]
    assert manifest["recipe"] == ss._recipe_record(0, ss.PRETRAIN)["recipe"]
    assert manifest["source_version"] == ss.SOURCE_VERSION
    assert path.stat().st_size == manifest["bytes"] < 2_000_000  # small enough for git
    stats = manifest["stats"]
    # Untrained nets (3 seeds): textures 0.12-0.14, objects 0.034-0.042; both bars fail for those.
    assert stats["source_val_map_textures"] > 0.9, stats
    assert stats["source_val_map_objects"] > 0.045, stats


def test_runs_use_the_shipped_network_without_pretraining() -> None:
    from harness.backbones import resolve_weights

    info = resolve_weights("mini_alexnet", "default")
    assert info.source == "synthetic-source" and info.path == ss.SHIPPED_WEIGHTS
    assert info.sha256 == ss.shipped_manifest()["sha256"]
    assert Cache().entries("backbones") == []  # nothing was pretrained


def _ship_to(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ss, "SHIPPED_DIR", tmp_path)
    monkeypatch.setattr(ss, "SHIPPED_WEIGHTS", tmp_path / "w.pt")
    monkeypatch.setattr(ss, "SHIPPED_MANIFEST", tmp_path / "w.json")
    ss._VERIFIED.clear()


def test_rebuild_twice_is_identical_and_a_damaged_or_foreign_file_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretraining is bit-reproducible on one machine; rebuild-source reports sha, mAP and weight differences."""
    _ship_to(tmp_path / "pkg", monkeypatch)
    cache = Cache(tmp_path / "home")
    first = ss.rebuild_source(0, cache, write=True, recipe=TINY)
    assert not first["shipped_matches_recipe"] and first["written"]
    assert ss.shipped_weights(0, TINY) == tmp_path / "pkg" / "w.pt"
    again = ss.rebuild_source(0, cache, recipe=TINY)
    assert again["identical"] and again["max_abs_diff"] == 0.0, again["per_tensor"]
    assert set(again["stats_diff"].values()) == {0.0}
    text = ss.format_rebuild_report(again)
    assert "identical to the shipped network" in text and "max |weight difference| 0" in text
    assert ss.shipped_weights(1, TINY) is None  # another seed: pretrained on first use instead
    assert ss.shipped_weights(0, dataclasses.replace(TINY, epochs=2)) is None  # another recipe
    damaged = tmp_path / "pkg" / "w.pt"
    damaged.write_bytes(damaged.read_bytes()[:-8] + b"\0" * 8)
    ss._VERIFIED.clear()
    with pytest.raises(HarnessError, match="does not match its manifest.*damaged"):
        ss.shipped_weights(0, TINY)
    manifest = json.loads((tmp_path / "pkg" / "w.json").read_text())
    assert manifest["made_with"]["command"] == "harness cache rebuild-source --write"

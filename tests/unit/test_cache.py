from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from harness.cache import Cache, atomic_save_npz, cache_key


def test_key_is_canonical() -> None:
    assert cache_key(a=1, b="x") == cache_key(b="x", a=1)
    assert cache_key(a=1) != cache_key(a=2)


def test_get_arrays_computes_once(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    calls = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"x": np.arange(5.0)}

    a = cache.get_arrays("features", "k1", compute)
    b = cache.get_arrays("features", "k1", compute)
    assert len(calls) == 1 and np.array_equal(a["x"], b["x"])
    assert [e.key for e in cache.entries()] == ["k1"]


def test_builder_killed_midway_leaves_nothing_trusted(tmp_path: Path) -> None:
    cache = Cache(tmp_path)

    def crashing(folder: Path) -> None:
        (folder / "data.npz").write_bytes(b"partial")
        raise RuntimeError("killed")

    with pytest.raises(RuntimeError):
        cache.build("features", "k", crashing)
    assert cache.lookup("features", "k") is None
    assert cache.entries() == []


def test_entry_without_meta_is_not_trusted(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    folder = cache.entry_dir("features", "k")
    folder.mkdir(parents=True)
    atomic_save_npz(folder / "data.npz", {"x": np.ones(3)})  # as if killed before meta.json
    assert cache.lookup("features", "k") is None
    assert not folder.exists()


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_corrupt_entry_is_rebuilt(tmp_path: Path, damage: str) -> None:
    cache = Cache(tmp_path)
    cache.get_arrays("features", "k", lambda: {"x": np.arange(1000.0)})
    data = cache.entry_dir("features", "k") / "data.npz"
    raw = data.read_bytes()
    if damage == "truncate":
        data.write_bytes(raw[: len(raw) // 2])
    elif damage == "flip":
        data.write_bytes(raw[:-20] + bytes(b ^ 0xFF for b in raw[-20:]))
    else:
        data.unlink()
    calls = []

    def compute() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"x": np.arange(1000.0)}

    out = cache.get_arrays("features", "k", compute)
    assert calls == [1] and np.array_equal(out["x"], np.arange(1000.0))


def test_meta_records_checksums_and_clear(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    cache.get_arrays("features", "k", lambda: {"x": np.zeros(2)}, {"backbone": "mini"})
    meta = json.loads((cache.entry_dir("features", "k") / "meta.json").read_text())
    assert meta["description"]["backbone"] == "mini" and len(meta["files"]["data.npz"]["sha256"]) == 64
    assert cache.clear() == 1 and cache.entries() == []


def test_pickled_arrays_refused(tmp_path: Path) -> None:
    cache = Cache(tmp_path)
    folder = tmp_path / "features" / "k"
    folder.mkdir(parents=True)
    np.savez(folder / "data.npz", x=np.array([{"a": 1}], dtype=object))
    cache.commit("features", "k", folder, {})
    out = cache.get_arrays("features", "k", lambda: {"x": np.ones(1)})  # unreadable -> rebuilt
    assert out["x"].dtype != object

"""``imagenet-concepts``: ImageNet class folders restricted to a concept -> synset mapping (microNN's
step-1 source), read from a hand-made root and from its miniature."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness import api
from harness.errors import DataError
from harness.registry import load_plugins

load_plugins()


def _root(tmp_path: Path, mapping: str) -> Path:
    for folder in ("train", "val"):
        for wnid, n in (("n00000001", 2), ("n00000002", 1), ("n00000003", 2)):
            (tmp_path / folder / wnid).mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(tmp_path / folder / wnid / f"{wnid}_{i}.JPEG")
    (tmp_path / "concept_synsets.txt").write_text(mapping)
    return tmp_path


def test_labels_follow_the_mapping(tmp_path: Path) -> None:
    root = _root(tmp_path, "Bookshelf n00000001\nFurniture n00000001 n00000002\n")
    ds = api.DATASETS.get("imagenet-concepts")().load(root)
    assert ds.concepts == ("Bookshelf", "Furniture") and len(ds.train) == 5 and len(ds.test) == 5
    by_synset = {str(s): tuple(r) for s, r in zip(ds.train.extra["synset"], ds.train.labels.tolist(), strict=True)}
    assert by_synset == {"n00000001": (1, 1), "n00000002": (0, 1), "n00000003": (0, 0)}  # unmapped: negatives
    assert ds.info["unmapped_synsets"] == ["n00000003"]
    assert api.DATASETS.get("imagenet-concepts")().verify(root) == []


def test_bad_mapping_and_missing_synsets(tmp_path: Path) -> None:
    root = _root(tmp_path, "Bookshelf bookcase\n")
    with pytest.raises(DataError, match="wnids like"):
        api.DATASETS.get("imagenet-concepts")().load(root)
    (root / "concept_synsets.txt").write_text("Bookshelf n00000009\n")
    problems = api.DATASETS.get("imagenet-concepts")().verify(root)
    assert any("n00000009" in p for p in problems)


def test_miniature_maps_trecvid_objects(shared_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(shared_home))
    ds = api.DATASETS.get("imagenet-concepts-mini")().load(None)
    assert len(ds.concepts) == 24 and all(c.startswith("obj_") for c in ds.concepts)
    assert len(ds.train) == 32 * 30 and len(ds.test) == 32 * 10
    labels = np.asarray(ds.train.labels)
    assert labels.sum(axis=0).tolist() == [30] * 20 + [60] * 4  # the last 4: two synsets each
    assert int((labels.sum(axis=1) == 0).sum()) == 4 * 30  # distractor synsets

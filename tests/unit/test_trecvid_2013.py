"""trecvid2013 adapter and its miniature: round trip, determinism, bad input, verify."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from datasets import trecvid2013 as sin
from harness.api import DATASETS
from harness.errors import DataError, MissingDataError

SMALL = {"train_videos": 12, "train_shots": 240, "test_videos": 8, "test_shots": 200, "eval_concepts": 10}


@pytest.fixture(scope="module")
def small_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reduced-size miniature written once per module (tests copy it before damaging it)."""
    root = tmp_path_factory.mktemp("sin_small") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sin, "MINI_SIZES", SMALL)
        sin.write_sin_mini(root, seed=0)
    return root


@pytest.fixture()
def root(small_root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(small_root, copy)
    return copy


def load(root: Path):
    return sin.TrecvidSin2013().load(root)


def test_registered_names() -> None:
    assert DATASETS.get("trecvid2013") is sin.TrecvidSin2013
    assert DATASETS.get("trecvid2013-mini") is sin.TrecvidSin2013Mini
    assert sin.TrecvidSin2013Mini.is_miniature and not sin.TrecvidSin2013.is_miniature


def test_default_miniature_round_trip(shared_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(shared_home))
    ds = sin.TrecvidSin2013Mini().load(None)
    assert ds.name == "trecvid2013-mini" and ds.is_miniature and ds.task == "multilabel"
    assert len(ds.concepts) == 60 and len(ds.protocol.eval_concepts) == 38
    assert len(ds.train) == 2500 and len(ds.test) == 1500
    labels = ds.train.labels
    assert labels.dtype == np.int8 and labels.shape == (2500, 60)
    assert set(np.unique(labels)) == {-1, 0, 1}
    # About 15:1 negatives for the object concepts (the scene concepts are broader by design).
    pos, neg = (labels[:, 12:] == 1).sum(), (labels[:, 12:] == 0).sum()
    assert 10 < neg / pos < 25
    assert ds.test.labels is not None and ds.test.labels.shape == (1500, 60)
    assert ds.protocol.metric == "mxinfap" and ds.protocol.max_results == 2000
    assert ds.protocol.extra_metrics == ("map",) and ds.protocol.options["trecvid_adjust"] is True
    assert ds.info["default_backbone"] == "mini_alexnet" and ds.info["qrels_topic_offset"] == 1000
    # The normalised qrels name concepts; the original writes 1000 + id.
    topics = {line.split()[0] for line in ds.protocol.qrels_path.read_text().splitlines()}
    assert topics == set(ds.protocol.eval_concepts)
    original = {line.split()[0] for line in (ds.root / "qrels.txt").read_text().splitlines()}
    assert all(int(t) > 1000 for t in original)
    # Groups are video ids, and every path is a keyframe of its shot.
    assert all(Path(p).name == f"{i}.jpg" for p, i in zip(ds.train.paths, ds.train.ids, strict=True))
    assert all(i.startswith(f"shot{g}_") for i, g in zip(ds.test.ids, ds.test.groups, strict=True))
    assert not set(ds.train.groups) & set(ds.test.groups)
    # The real adapter reads the same folder to the same data set.
    real = sin.TrecvidSin2013().load(ds.root)
    assert real.manifest_hash == ds.manifest_hash and not real.is_miniature
    np.testing.assert_array_equal(real.train.labels, labels)
    assert sin.TrecvidSin2013Mini().verify(ds.root) == []


def test_concepts_correlated_through_scenes(small_root: Path) -> None:
    ds = load(small_root)
    truth = ds.test.labels.astype(float)
    corr = np.corrcoef(truth.T)
    names = list(ds.concepts)
    # nighttime implies outdoor or urban scenes only, never indoor.
    night, indoor = names.index("scene_nighttime"), names.index("scene_indoor")
    assert corr[night, indoor] < 0
    off = corr[~np.eye(len(names), dtype=bool)]
    assert np.nanmax(np.abs(off)) > 0.3  # clear co-occurrence structure


def test_same_seed_same_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sin, "MINI_SIZES", {**SMALL, "train_shots": 60, "test_shots": 60, "eval_concepts": 5})
    hashes = []
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        sin.write_sin_mini(tmp_path / name, seed)
        hashes.append(load(tmp_path / name).manifest_hash)
    assert hashes[0] == hashes[1] != hashes[2]


def test_missing_root_shows_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HARNESS_DATA", raising=False)
    for root in (tmp_path / "nope", None):
        with pytest.raises(MissingDataError) as info:
            load(root)
        msg = str(info.value)
        assert "harness data describe trecvid2013" in msg
        assert "annotations/<conceptId>.ann" in msg and "qrels.txt" in msg


def test_describe_prints_layout_and_origin() -> None:
    text = sin.TrecvidSin2013().describe()
    assert "keyframes/<videoId>/shot<videoId>_<shotNo>.jpg" in text and "nist" in text.lower()
    mini = sin.TrecvidSin2013Mini().describe()
    assert "How it is made" in mini and "seed" in mini


def test_annotation_line_with_wrong_field_count(root: Path) -> None:
    ann = root / "annotations" / "7.ann"
    lines = ann.read_text().splitlines()
    lines[2] = lines[2] + " extra"
    ann.write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=r"7\.ann:3: expected 2 fields"):
        load(root)


def test_annotation_accepts_numeric_labels_and_pns(root: Path) -> None:
    before = load(root).train.labels
    ann = root / "annotations" / "1.ann"
    ann.write_text(ann.read_text().replace(" P\n", " 1\n").replace(" N\n", " 0\n").replace(" S\n", " -1\n"))
    np.testing.assert_array_equal(load(root).train.labels, before)


def test_qrels_concept_not_in_concept_list(root: Path) -> None:
    qrels = root / "qrels.txt"
    qrels.write_text(qrels.read_text() + "1999 0 shot35001_1 1 1\n")
    with pytest.raises(DataError, match=r"qrels\.txt:\d+: .*topic 1999 is not") as info:
        load(root)
    assert "concepts.txt" in str(info.value)


def test_qrels_with_plain_concept_ids(root: Path) -> None:
    before = load(root).protocol.eval_concepts
    qrels = root / "qrels.txt"
    rows = [line.split() for line in qrels.read_text().splitlines()]
    qrels.write_text("".join(f"{int(r[0]) - 1000} {' '.join(r[1:])}\n" for r in rows))
    ds = load(root)
    assert ds.protocol.eval_concepts == before and ds.info["qrels_topic_offset"] == 0


def test_qrels_with_wrong_field_count(root: Path) -> None:
    qrels = root / "qrels.txt"
    qrels.write_text("1003 0 shot35001_1 1\n" + qrels.read_text())
    with pytest.raises(DataError, match=r"qrels\.txt:1: expected 5 fields"):
        load(root)


def test_without_full_ground_truth_no_map(root: Path) -> None:
    (root / "test_labels.tsv").unlink()
    ds = load(root)
    assert ds.test.labels is None and ds.protocol.extra_metrics == ()


def test_missing_keyframe_is_reported(root: Path) -> None:
    victim = sorted((root / "keyframes").glob("*/*.jpg"))[3]
    victim.unlink()
    with pytest.raises(MissingDataError, match=victim.stem):
        load(root)


def test_verify_passes_then_reports_damage(root: Path) -> None:
    adapter = sin.TrecvidSin2013()
    assert adapter.verify(root) == []
    frames = sorted((root / "keyframes").glob("*/*.jpg"))
    frames[0].unlink()
    data = frames[1].read_bytes()
    frames[1].write_bytes(data[: len(data) // 2])
    (root / "notes.txt").write_text("stray")
    (root / "annotations" / "9999.ann").write_text("")
    problems = adapter.verify(root)
    joined = "\n".join(problems)
    assert f"missing: keyframes/{frames[0].parent.name}/{frames[0].name}" in joined
    assert f"corrupt: keyframes/{frames[1].parent.name}/{frames[1].name}" in joined
    assert "extra: notes.txt" in joined and "extra: annotations/9999.ann" in joined


def test_manifest_changes_with_content(root: Path) -> None:
    before = load(root).manifest_hash
    ann = root / "annotations" / "2.ann"
    text = ann.read_text()
    ann.write_text(text.replace(" N\n", " P\n", 1))  # same size, different content
    assert load(root).manifest_hash != before

"""trecvid-avs2016 adapter and its miniature: round trip, topics file format, bad input, verify."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from datasets import trecvid_avs2016 as avs
from harness.api import DATASETS
from harness.errors import DataError, MissingDataError
from tests.conftest import shared_data

SMALL = {"videos": 8, "shots": 200}


@pytest.fixture(scope="module")
def small_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("avs_small") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(avs, "MINI_SIZES", SMALL)
        avs.write_avs_mini(root, seed=0)
    return root


@pytest.fixture()
def root(small_root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(small_root, copy)
    return copy


def test_miniature_round_trip(small_root: Path) -> None:
    assert DATASETS.get("trecvid-avs2016-mini") is avs.TrecvidAvs2016Mini
    ds = avs.TrecvidAvs2016().load(small_root)
    assert ds.concepts == tuple(str(t) for t in range(501, 531))
    assert len(ds.train) == 0 and ds.train.labels.shape == (0, 30)
    assert len(ds.test) == 200 and ds.test.labels.shape == (200, 30)
    assert ds.protocol.metric == "mxinfap" and ds.protocol.max_results == 1000
    assert ds.protocol.qrels_path == small_root / "qrels.txt"
    assert set(ds.info["query_concepts"]) == set(ds.concepts)
    assert all(len(v) == 2 for v in ds.info["query_concepts"].values())
    # Each topic's ground truth is the conjunction of its two concepts (judged items agree).
    judged = [line.split() for line in (small_root / "qrels.txt").read_text().splitlines()]
    row = {s: i for i, s in enumerate(ds.test.ids)}
    col = {c: j for j, c in enumerate(ds.concepts)}
    for topic, _, shot, _stratum, judgment in judged:
        if judgment != "-1":
            assert ds.test.labels[row[shot], col[topic]] == int(judgment)
    assert {int(r[3]) for r in judged} == {1, 2}  # 200 shots fill the first two strata of the pool
    assert {r[4] for r in judged} == {"-1", "0", "1"}  # stratum 2 is sampled: unjudged items are -1
    assert avs.TrecvidAvs2016().verify(small_root) == []


def test_topic_file_reads_nist_tv16_format() -> None:
    from datasets import _trecvid_common as tc

    topics = tc.read_id_names(shared_data("trecvid", "topics", "tv16.avs.txt"), "topic file", "trecvid-avs2016")
    assert [t.id for t in topics] == list(range(501, 531))
    assert topics[1].name.startswith("a man indoors looking at camera")


def test_miniature_world_matches_sin_miniature(small_root: Path) -> None:
    """Topic concepts are trecvid2013-mini concept names (detectors trained there apply here)."""
    from datasets import _trecvid_mini as tm

    ds = avs.TrecvidAvs2016().load(small_root)
    for names in ds.info["query_concepts"].values():
        assert set(names) <= set(tm.CONCEPT_NAMES)


def test_same_seed_same_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(avs, "MINI_SIZES", {"videos": 4, "shots": 40})
    hashes = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        avs.write_avs_mini(tmp_path / name, seed)
        hashes.append(avs.TrecvidAvs2016().load(tmp_path / name).manifest_hash)
    assert hashes[0] == hashes[1] != hashes[2]


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="harness data describe trecvid-avs2016"):
        avs.TrecvidAvs2016().load(tmp_path / "absent")


def test_qrels_topic_not_in_topics(root: Path) -> None:
    (root / "qrels.txt").write_text((root / "qrels.txt").read_text() + "777 0 shot36001_1 1 1\n")
    with pytest.raises(DataError, match=r"qrels\.txt:\d+: .*topic 777 is not"):
        avs.TrecvidAvs2016().load(root)


def test_verify_reports_damage(root: Path) -> None:
    (root / "shots.txt").write_text((root / "shots.txt").read_text() + "shot99999_1\n")
    frame = sorted((root / "keyframes").glob("*/*.jpg"))[0]
    frame.write_bytes(b"")
    problems = "\n".join(avs.TrecvidAvs2016().verify(root))
    assert "missing: keyframes/99999/shot99999_1.jpg" in problems
    assert f"corrupt: keyframes/{frame.parent.name}/{frame.name} (empty file)" in problems


def test_without_ground_truth(root: Path) -> None:
    (root / "test_labels.tsv").unlink()
    (root / "query_concepts.txt").unlink()
    ds = avs.TrecvidAvs2016().load(root)
    assert ds.test.labels is None and ds.protocol.extra_metrics == () and ds.info["query_concepts"] == {}
    assert np.all(ds.test.groups.astype(int) >= avs.MINI_VIDEO0)


def test_miniature_shots_carry_frames_one_every_30(small_root: Path) -> None:
    """Each shot is 2-6 frames taken one every 30 video frames; the middle one is the reference."""
    import re

    from PIL import Image

    ds = avs.TrecvidAvs2016().load(small_root)
    frames = ds.test.frame_paths
    assert frames is not None and len(frames) == len(ds.test)
    lengths = np.array([len(f) for f in frames])
    assert lengths.min() == 2 and lengths.max() == 6 and ds.info["n_keyframes"] == lengths.sum()
    last_end: dict[str, int] = {}
    for shot, video, files, ref in zip(ds.test.ids, ds.test.groups, frames, ds.test.paths, strict=True):
        numbers = [int(re.fullmatch(rf"{shot}_(\d+)\.jpg", Path(f).name).group(1)) for f in files]
        assert np.all(np.diff(numbers) == avs.MINI_FRAME_STEP), (shot, numbers)
        assert numbers[0] >= last_end.get(video, 0)  # shots follow each other in their video
        last_end[video] = numbers[-1] + 1
        assert ref == files[len(files) // 2]

    def pixels(path: str) -> np.ndarray:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), np.float32)

    # Frames of one shot show the same scene (they differ, less than frames of other shots do).
    within = [np.abs(pixels(f[0]) - pixels(f[1])).mean() for f in frames[:40]]
    across = [np.abs(pixels(a[0]) - pixels(b[0])).mean() for a, b in zip(frames[:40], frames[1:41], strict=True)]
    assert min(within) > 0 and np.median(within) < 0.5 * np.median(across)

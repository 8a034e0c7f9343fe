"""TRECVID adapters with several keyframes per shot: ``keyframes/<video>/shot<video>_<shot>_<frameNo>.jpg``.

The fixture is a small trecvid2013 miniature (the real layout) in which two test shots get three
numbered frames each: one keeps its reference keyframe, the other has only the frames.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from datasets import _trecvid_common as tc
from datasets import trecvid2013 as sin
from datasets._common import manifest_hash
from harness import features as F
from harness.api import FeatureSpec, Sequences

SMALL = {"train_videos": 4, "train_shots": 30, "test_videos": 3, "test_shots": 20, "eval_concepts": 3}
FRAME_NUMBERS = (5, 30, 120)  # sorted as text they would be 120, 30, 5


@pytest.fixture(scope="module")
def small_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sin_frames") / "data"
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sin, "MINI_SIZES", SMALL)
        sin.write_sin_mini(root, seed=0)
    return root


@pytest.fixture()
def root(small_root: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(small_root, copy)
    return copy


def _add_frames(root: Path, shot: str, donors: list[Path], keep_reference: bool) -> list[str]:
    """Give ``shot`` three numbered frames (copies of other shots' keyframes); returns their paths."""
    folder = root / "keyframes" / tc.video_of(shot)
    out = []
    for n, donor in zip(FRAME_NUMBERS, donors, strict=True):
        target = folder / f"{shot}_{n}.jpg"
        shutil.copy(donor, target)
        out.append(str(target))
    if not keep_reference:
        (folder / f"{shot}.jpg").unlink()
    return out


def test_one_keyframe_per_shot_is_unchanged(small_root: Path) -> None:
    """Every shot's frame list is its one keyframe; the manifest is the one of the keyframe files."""
    ds = sin.TrecvidSin2013().load(small_root)
    for split in (ds.train, ds.test):
        assert split.frame_paths == tuple((p,) for p in split.paths)
    text = ["concepts.txt", "test_shots.txt", "qrels.txt", "test_labels.tsv",
            *[f"annotations/{i}.ann" for i in ds.info["concept_ids"]]]  # fmt: skip
    files = [str(Path(p).relative_to(small_root)) for p in (*ds.train.paths, *ds.test.paths)]
    assert ds.manifest_hash == manifest_hash(small_root, [*text, *files], content=text)
    assert ds.info["n_keyframes"] == len(ds.train) + len(ds.test)


def test_shot_with_three_keyframes(root: Path) -> None:
    before = sin.TrecvidSin2013().load(root)
    single = F.extract_features(before, "test", before.test, FeatureSpec("mini_alexnet", "fc7", weights="random"))
    shots = list(before.test.ids)
    donors = [Path(before.test.paths[k]) for k in (5, 6, 7)]
    with_ref = _add_frames(root, shots[0], donors, keep_reference=True)
    only = _add_frames(root, shots[1], donors[::-1], keep_reference=False)
    ds = sin.TrecvidSin2013().load(root)
    test = ds.test
    assert list(test.ids) == shots and ds.manifest_hash != before.manifest_hash
    # Frames in frame-number order (5, 30, 120), not in name order; the reference stays in paths.
    assert test.frame_paths[0] == tuple(with_ref) and test.paths[0] == before.test.paths[0]
    assert test.frame_paths[1] == tuple(only) and test.paths[1] == only[1]  # no reference: the middle frame
    assert test.frame_paths[2:] == tuple((p,) for p in test.paths[2:])
    assert ds.info["n_keyframes"] == len(ds.train) + len(ds.test) + 4
    assert sin.TrecvidSin2013().verify(root) == []
    # The frames are what the features read: 3 rows for those shots, pooled = mean of the 3.
    spec = FeatureSpec("mini_alexnet", "fc7", weights="random", pooling="none")
    seq = F.extract_features(ds, "test", test, spec)
    assert isinstance(seq, Sequences) and seq.lengths.tolist() == [3, 3] + [1] * (len(test) - 2)
    np.testing.assert_allclose(seq[0], seq[1][::-1], rtol=1e-4, atol=1e-5)  # the same images, reversed
    pooled = F.extract_features(ds, "test", test, FeatureSpec("mini_alexnet", "fc7", weights="random"))
    np.testing.assert_allclose(pooled, seq.pool("mean"), rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(pooled[2:], single[2:], rtol=1e-4, atol=1e-5)
    assert not np.allclose(pooled[0], single[0])


def test_bad_or_duplicate_frame_files_are_reported(root: Path) -> None:
    ds = sin.TrecvidSin2013().load(root)
    shot = str(ds.test.ids[0])
    folder = root / "keyframes" / tc.video_of(shot)
    shutil.copy(ds.test.paths[1], folder / f"{shot}_30.jpg")
    shutil.copy(ds.test.paths[2], folder / f"{shot}_030.jpg")  # frame 30 again
    shutil.copy(ds.test.paths[2], folder / f"{shot}_x.jpg")  # not a frame number
    (folder / f"{shot}_60.jpg").write_bytes(b"")
    problems = "\n".join(sin.TrecvidSin2013().verify(root))
    video = tc.video_of(shot)
    assert f"extra: keyframes/{video}/{shot}_30.jpg (not '<videoId>/shot<videoId>_<shotNo>[_<frameNo>].jpg'" in problems
    assert f"extra: keyframes/{video}/{shot}_x.jpg" in problems
    assert f"corrupt: keyframes/{video}/{shot}_60.jpg (empty file)" in problems
    index = tc.shot_keyframes(root)
    assert index.frames[shot] == (f"keyframes/{video}/{shot}_030.jpg", f"keyframes/{video}/{shot}_60.jpg")


def test_first_frame_of_a_shot_is_its_keyframe() -> None:
    """The frames generator starts from the one-keyframe drawing (the SIN miniature's bytes)."""
    from datasets import _trecvid_mini as tm

    world = tm.World.make(np.random.default_rng(0))
    for scene in range(len(tm.SCENES)):
        image, labels = tm.draw_shot(world, scene, np.random.default_rng([scene, 1]))
        frames, same = tm.draw_shot_frames(world, scene, np.random.default_rng([scene, 1]), 4)
        assert frames.shape == (4, tm.SIZE, tm.SIZE, 3) and frames.dtype == np.uint8
        np.testing.assert_array_equal(frames[0], image)
        np.testing.assert_array_equal(same, labels)
        assert all(not np.array_equal(frames[t], frames[0]) for t in (1, 2, 3))

"""coview2019 / coview2019-mini: segment table, stratified video split, miniature, verify, bad input."""

from __future__ import annotations

import logging
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from datasets import coview2019 as cv
from harness import video
from harness.errors import DataError, MissingDataError


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("coview_mini")
    cv.Coview2019Mini().make_mini(root, seed=0)
    return root


@pytest.fixture()
def mini_copy(mini_root: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(mini_root, tmp_path / "copy"))


def test_real_adapter_reads_its_miniature(mini_root: Path) -> None:
    ds = cv.Coview2019Mini().load(mini_root)
    assert ds.task == "coview" and ds.is_miniature
    assert ds.info["n_train_videos"] == 60 and ds.info["n_val_videos"] == 12  # 1/6 held out
    assert ds.train.labels.shape == (len(ds.train), 3) and ds.test.labels.shape == (len(ds.test), 3)
    assert set(ds.train.groups).isdisjoint(ds.test.groups)  # video-level split
    assert ds.train.ids[0] == f"{ds.train.groups[0]}/0"
    assert ds.train.labels[:, 0].max() < len(cv.MINI_SCENES) and ds.train.labels[:, 0].min() >= 0  # 0-based
    assert ds.train.labels[:, 2].min() >= 0 and ds.train.labels[:, 2].max() <= 2
    assert ds.protocol.metric == "coview" and ds.protocol.options["n_scene_classes"] == len(cv.MINI_SCENES)
    for v in set(ds.train.groups):  # importance is relative within a video: spans [0, 2]
        imp = ds.train.labels[ds.train.groups == v, 2]
        assert imp.min() == 0.0 and imp.max() == 2.0
    starts = ds.train.extra["start_s"]
    np.testing.assert_allclose(starts, 5.0 * ds.train.extra["segment_index"])


def test_segments_decode_to_their_5_second_windows(mini_root: Path) -> None:
    ds = cv.Coview2019Mini().load(mini_root)
    first = ds.train.paths[0]
    assert first.endswith("#t=0,5")
    frames = video.read_item_frames(first)
    assert frames.shape == (25, 64, 64, 3)  # 5 s at 5 fps
    vid = ds.train.groups[0]
    rows = np.flatnonzero(ds.train.groups == vid)
    last = rows[-1]
    n_last = round((ds.train.extra["end_s"][last] - ds.train.extra["start_s"][last]) * cv.MINI_FPS)
    assert video.read_item_frames(ds.train.paths[last]).shape[0] == n_last
    whole = video.read_frames(video.split_fragment(first)[0])
    assert whole.shape[0] == 25 * (len(rows) - 1) + n_last


def test_segment_content_carries_scene_action_and_importance(mini_root: Path) -> None:
    """Scene = background colour, importance grows with the actor's size, action = motion."""
    ds = cv.Coview2019Mini().load(mini_root)
    colour, area, motion = [], [], []
    for vid in dict.fromkeys(ds.train.groups):
        rows = np.flatnonzero(ds.train.groups == vid)
        file = video.split_fragment(ds.train.paths[rows[0]])[0]
        bounds = list(zip(ds.train.extra["start_s"][rows], ds.train.extra["end_s"][rows], strict=True))
        for seg in video.read_segments(file, bounds):
            f = seg.astype(np.float32)
            background = np.median(f[::4], axis=0)
            moving = np.abs(f - background).sum(-1) > 60
            colour.append(np.median(f, axis=(0, 1, 2)))
            area.append(moving.sum((1, 2)).mean())
            ys, xs = np.nonzero(moving.any(0))
            motion.append(np.ptp(xs) - np.ptp(ys) if len(xs) else 0.0)
    scene = ds.train.labels[:, 0].astype(int)
    # Nearest class-mean colour identifies the scene.
    means = np.stack([np.mean([c for c, s in zip(colour, scene, strict=True) if s == k], axis=0) for k in np.unique(scene)])
    pred = np.argmin(((np.array(colour)[:, None] - means[None]) ** 2).sum(-1), axis=1)
    assert (np.unique(scene)[pred] == scene).mean() > 0.8
    assert np.corrcoef(area, ds.train.labels[:, 2])[0, 1] > 0.3
    assert len(set(ds.train.labels[:, 1].astype(int))) == len(cv.MINI_ACTIONS)


def test_scene_and_action_are_correlated(mini_root: Path) -> None:
    ds = cv.Coview2019Mini().load(mini_root)
    pairs = Counter(zip(ds.train.labels[:, 0].astype(int), ds.train.labels[:, 1].astype(int), strict=True))
    likely = sum(n for (s, a), n in pairs.items() if a in cv.MINI_SCENE_ACTIONS[s])
    assert likely / len(ds.train) > 0.6  # 3 of 8 actions would give 0.375 without the correlation


def test_validation_split_is_stratified_and_deterministic(mini_root: Path) -> None:
    adapter = cv.Coview2019Mini()
    a, b = adapter.load(mini_root), adapter.load(mini_root)
    np.testing.assert_array_equal(a.test.ids, b.test.ids)
    other = adapter.load(mini_root, adapter.Config(split_seed=1))
    assert set(other.test.groups) != set(a.test.groups)
    assert len(set(other.test.groups)) == 12


def test_stratified_video_split_allocates_by_largest_remainder() -> None:
    def seg(video: str, scene: int) -> cv.Segment:
        return cv.Segment(video, 0, 0.0, 5.0, scene, 1, 1.0, 1)

    videos = {f"a{i}": [seg(f"a{i}", 1)] for i in range(12)}
    videos |= {f"b{i}": [seg(f"b{i}", 2)] for i in range(6)}
    chosen = cv.stratified_video_split(videos, 1 / 6, seed=0)
    assert len(chosen) == 3
    assert sum(v.startswith("a") for v in chosen) == 2 and sum(v.startswith("b") for v in chosen) == 1
    assert chosen == cv.stratified_video_split(videos, 1 / 6, seed=0)


def test_verify_passes_on_the_miniature(mini_root: Path) -> None:
    assert cv.Coview2019Mini().verify(mini_root) == []


def test_verify_names_removed_truncated_and_extra_videos(mini_copy: Path) -> None:
    removed = mini_copy / "videos" / "mini0003.mp4"
    truncated = mini_copy / "videos" / "mini0010.mp4"
    extra = mini_copy / "videos" / "stray.mp4"
    shutil.copy(removed, extra)
    removed.unlink()
    truncated.write_bytes(truncated.read_bytes()[:2000])
    problems = cv.Coview2019Mini().verify(mini_copy)
    assert problems[0].startswith(f"missing: {mini_copy / 'videos' / 'mini0003'}.* (video of ")
    assert any(p.startswith(f"corrupt: {truncated}: cannot open video") for p in problems)
    assert problems[-1] == f"extra: {extra} (in neither {cv.TABLE} nor {cv.TEST_FILE})"
    assert len(problems) == 3


def test_damaged_video_is_skipped_and_counted_or_an_error_with_strict(
    mini_copy: Path, caplog: pytest.LogCaptureFixture
) -> None:
    damaged = mini_copy / "videos" / "mini0005.mp4"
    damaged.write_bytes(damaged.read_bytes()[:3000])
    adapter = cv.Coview2019Mini()
    with caplog.at_level(logging.WARNING):
        ds = adapter.load(mini_copy)
    assert ds.info["skipped_videos"] == 1 and "mini0005" not in set(ds.train.groups) | set(ds.test.groups)
    assert "skipped 1 unreadable video" in caplog.text
    with pytest.raises(DataError, match=r"mini0005\.mp4 \(strict=true\): cannot open video"):
        adapter.load(mini_copy, adapter.Config(strict=True))
    damaged.unlink()
    with pytest.raises(MissingDataError, match=r"mini0005\.\*: missing \(strict=true\)"):
        adapter.load(mini_copy, adapter.Config(strict=True))


def test_a_video_shorter_than_its_segments_is_reported(mini_copy: Path) -> None:
    ds = cv.Coview2019Mini().load(mini_copy)
    vid = ds.train.groups[0]
    file = mini_copy / "videos" / f"{vid}.mp4"
    video.write_video(file, video.read_frames(file)[:30], cv.MINI_FPS)  # 6 s left
    problems = cv.Coview2019Mini().verify(mini_copy)
    assert any(f"{file}: the video lasts 6.00 s but its segments reach" in p for p in problems)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("v1,0,0,5,1,1", r":3: expected 7 comma-separated fields .*found 6"),
        ("v1,0,0,5,1,1,2.5", r":3: expected importance in \[0, 2\]"),
        ("v1,0,0,5,9,1,1.0", r":3: expected scene_id in 1\.\.2"),
        ("v1,0,1,5,1,1,1.0", r":3: expected start_s = 5 x segment_index"),
        ("v1,0,0,6,1,1,1.0", r":3: expected end_s in \(start_s, start_s \+ 5\]"),
        ("v1,x,0,5,1,1,1.0", r":3: expected integers for segment_index"),
    ],
)
def test_bad_table_lines_name_file_and_line(tmp_path: Path, line: str, expected: str) -> None:
    table = tmp_path / "train_segments.csv"
    table.write_text(",".join(cv.COLUMNS) + "\nv0,0,0,5,1,1,0.5\n" + line + "\n")
    with pytest.raises(DataError, match=r"train_segments\.csv" + expected):
        cv.read_segment_table(table, n_scene=2, n_action=3)


def test_table_segment_order_rules(tmp_path: Path) -> None:
    table = tmp_path / "train_segments.csv"
    table.write_text("v1,0,0,5,1,1,0.5\nv1,0,0,5,1,1,0.5\n")
    with pytest.raises(DataError, match="video 'v1': segment 0 listed twice"):
        cv.read_segment_table(table, 2, 2)
    table.write_text("v1,0,0,3,1,1,0.5\nv1,1,5,10,1,1,0.5\n")
    with pytest.raises(DataError, match=r"train_segments\.csv:1: video 'v1' segment 0 lasts 3 s; only the last"):
        cv.read_segment_table(table, 2, 2)
    table.write_text("video_id,segment,start_s,end_s,scene_id,action_id,importance\n")
    with pytest.raises(DataError, match=r":1: expected the header video_id,segment_index"):
        cv.read_segment_table(table, 2, 2)


def test_missing_root_and_files(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="does not exist"):
        cv.Coview2019().load(tmp_path / "nowhere")
    with pytest.raises(MissingDataError, match="CoVieW scene class list not found"):
        cv.Coview2019().load(tmp_path)

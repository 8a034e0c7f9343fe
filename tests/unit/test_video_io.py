"""harness.video: decoding the real UCF101 clip, windows, encoding round trip and damaged files."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from harness import video
from harness.errors import DataError, MissingDataError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
CLIP = SHARED / "videos" / "ucf101_applyeyemakeup_clip.avi"


@pytest.fixture(scope="module")
def clip() -> Path:
    if not CLIP.is_file():
        pytest.skip(f"reference clip {CLIP} is absent (it lives in ../shared/data beside the repository)")
    return CLIP


@pytest.fixture(scope="module")
def all_frames(clip: Path) -> np.ndarray:
    return video.read_frames(clip)


def test_real_clip_header(clip: Path) -> None:
    info = video.read_video_info(clip)
    assert (info.frames, info.width, info.height) == (164, 320, 240)
    assert info.fps == pytest.approx(25.0)
    assert info.duration_s == pytest.approx(6.56)
    assert info.codec == "mpeg4"  # XviD is MPEG-4 Part 2


def test_real_clip_decodes_to_164_frames(all_frames: np.ndarray) -> None:
    assert all_frames.shape == (164, 240, 320, 3)
    assert all_frames.dtype == np.uint8
    assert all_frames.std() > 10  # real picture content, not a blank frame
    assert not np.array_equal(all_frames[0], all_frames[-1])  # frames differ over time


def test_sampling_and_resizing(clip: Path, all_frames: np.ndarray) -> None:
    every30 = video.read_frames(clip, every=30)
    assert every30.shape[0] == 6  # frames 0, 30, ..., 150
    np.testing.assert_array_equal(every30, all_frames[::30])
    assert video.read_frames(clip, max_frames=5).shape[0] == 5
    assert video.read_frames(clip, max_frames=3, size=120).shape == (3, 120, 160, 3)  # shorter side, aspect kept
    assert video.read_frames(clip, max_frames=2, size=(64, 48)).shape == (2, 64, 48, 3)


def test_time_windows_select_frames_by_index_over_fps(clip: Path, all_frames: np.ndarray) -> None:
    window = video.read_frames(clip, start_s=2.0, end_s=3.0)
    np.testing.assert_array_equal(window, all_frames[50:75])  # frames k with 2 <= k/25 < 3
    first, second = video.read_segments(clip, [(0.0, 5.0), (5.0, 10.0)])
    assert (first.shape[0], second.shape[0]) == (125, 39)
    np.testing.assert_array_equal(second, all_frames[125:])
    (sampled,) = video.read_segments(clip, [(1.0, 2.0)], every=5)
    np.testing.assert_array_equal(sampled, all_frames[25:50:5])


def test_empty_window_is_an_error(clip: Path) -> None:
    with pytest.raises(video.VideoDecodeError, match="no frame"):
        video.read_frames(clip, start_s=10.0, end_s=11.0)


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    yy, xx = np.mgrid[0:32, 0:48]
    frames = np.stack([np.stack([(xx * 5 + t * 8) % 256, yy * 7, np.full_like(xx, 128)], -1) for t in range(12)])
    frames = frames.astype(np.uint8)
    for name in ("clip.avi", "clip.mp4"):
        path = tmp_path / name
        video.write_video(path, frames, fps=6)
        info = video.read_video_info(path)
        assert (info.frames, info.width, info.height, info.fps) == (12, 48, 32, 6.0)
        back = video.read_frames(path)
        assert back.shape == frames.shape
        assert np.abs(back.astype(int) - frames).mean() < 12  # lossy codec, same picture


def test_write_rejects_bad_arrays(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        video.write_video(tmp_path / "x.avi", np.zeros((2, 8, 8, 3), np.float32), fps=5)
    with pytest.raises(ValueError, match="even"):
        video.write_video(tmp_path / "x.avi", np.zeros((2, 7, 8, 3), np.uint8), fps=5)


def test_truncated_clip_is_detected(clip: Path, tmp_path: Path) -> None:
    damaged = tmp_path / "trunc.avi"
    damaged.write_bytes(clip.read_bytes()[: clip.stat().st_size // 2])
    problem = video.check_video(damaged, open_container=False)
    assert problem is not None and "truncated" in problem
    with pytest.raises(video.VideoDecodeError, match=r"decoded \d+ of the 164 frames") as info:
        video.read_frames(damaged)
    assert str(damaged) in str(info.value)
    assert isinstance(info.value, DataError)
    # Reading only the first frames of a damaged file is still possible.
    assert video.read_frames(damaged, max_frames=4).shape[0] == 4


def test_undecodable_empty_and_missing_files(clip: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.avi"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes())
    assert video.check_video(junk) == "not an AVI file (no RIFF/AVI signature)"
    with pytest.raises(video.VideoDecodeError, match="cannot open video"):
        video.read_frames(junk)
    empty = tmp_path / "empty.avi"
    empty.touch()
    assert video.check_video(empty) == "empty file (0 bytes)"
    with pytest.raises(video.VideoDecodeError, match="empty"):
        video.read_video_info(empty)
    with pytest.raises(MissingDataError):
        video.read_frames(tmp_path / "nope.avi")
    assert video.check_video(tmp_path / "nope.avi") == "missing"
    intact = tmp_path / "ok.avi"
    shutil.copy(clip, intact)
    assert video.check_video(intact) is None


def test_video_extension_test() -> None:
    assert video.is_video_path("a/b/v_X_g01_c01.AVI")
    assert video.is_video_path("clip.mp4")
    assert not video.is_video_path("frame.jpg")

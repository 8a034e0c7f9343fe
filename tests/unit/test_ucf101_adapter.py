"""ucf101 / ucf101-mini: the real adapter reading its miniature, verify, bad input, grouped validation."""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from datasets import ucf101
from harness import video
from harness.errors import InvalidParameterError, MissingDataError
from harness.params import resolve_config


@pytest.fixture(scope="module")
def mini_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("ucf101_mini")
    ucf101.UCF101Mini().make_mini(root, seed=0)
    return root


@pytest.fixture()
def mini_copy(mini_root: Path, tmp_path: Path) -> Path:
    """A private copy to damage."""
    return Path(shutil.copytree(mini_root, tmp_path / "copy"))


def test_miniature_is_in_the_real_layout(mini_root: Path) -> None:
    assert (mini_root / "ucfTrainTestlist" / "classInd.txt").read_bytes().startswith(b"1 Biking\r\n")
    quirky = sorted((mini_root / "UCF-101" / "HandstandPushups").iterdir())
    assert quirky and all(p.name.startswith("v_HandStandPushups_g") for p in quirky)
    info = video.read_video_info(quirky[0])
    assert (info.frames, info.width, info.height, info.codec) == (ucf101.MINI_FRAMES, 64, 64, "mpeg4")


@pytest.mark.parametrize("split", [1, 2, 3])
def test_real_adapter_reads_its_miniature(mini_root: Path, split: int) -> None:
    adapter = ucf101.UCF101Mini()
    ds = adapter.load(mini_root, adapter.Config(split=split))
    n_train, n_test = adapter.expectations().split_counts[split]
    assert (len(ds.train), len(ds.test)) == (n_train, n_test)
    assert ds.task == "multiclass" and ds.is_miniature
    assert ds.concepts == tuple(c[0] for c in ucf101.MINI_CLASSES)
    assert ds.train.labels.dtype == np.int64 and set(ds.train.labels) == set(range(len(ds.concepts)))
    assert not set(ds.train.groups) & set(ds.test.groups)
    assert set(ds.test.extra["group_number"]) == set(range(7 * (split - 1) + 1, 7 * split + 1))
    for path, label in zip(ds.test.paths, ds.test.labels, strict=True):
        assert Path(path).parent.name == ds.concepts[label]
    assert ds.info["skipped_videos"] == 0


def test_miniature_is_generated_once_into_the_cache_and_is_deterministic(mini_root: Path) -> None:
    adapter = ucf101.UCF101Mini()
    first = adapter.load(None)  # generated into $HARNESS_HOME (a fresh one per test)
    again = adapter.load(None)  # read back from the cache
    assert first.root == again.root and first.manifest_hash == again.manifest_hash
    assert first.root.is_relative_to(Path(os.environ["HARNESS_HOME"]))
    rel = "UCF-101/Swing/v_Swing_g03_c01.avi"
    assert (first.root / rel).read_bytes() == (mini_root / rel).read_bytes()  # same seed, same bytes
    assert adapter.load(mini_root).manifest_hash == first.manifest_hash


def test_the_seed_changes_the_videos_not_the_lists() -> None:
    same = ucf101.mini_clip_frames(0, 1, 5, 1)
    np.testing.assert_array_equal(same, ucf101.mini_clip_frames(0, 1, 5, 1))
    assert not np.array_equal(same, ucf101.mini_clip_frames(1, 1, 5, 1))
    assert same.shape == (ucf101.MINI_FRAMES, 64, 64, 3)
    assert ucf101.mini_lists()["testlist02.txt"].splitlines()[0] == "Biking/v_Biking_g08_c01.avi"


def test_motion_defines_the_classes(mini_root: Path) -> None:
    """A motion descriptor (object centroid track) separates the classes; colour alone does not."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    ds = ucf101.UCF101Mini().load(mini_root)

    def descriptors(paths: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        motion, colour = [], []
        yy, xx = np.mgrid[0:64, 0:64]
        for p in paths:
            f = video.read_frames(p).astype(np.float32)
            moving = np.abs(f - f.mean(axis=0)).sum(-1) > 40
            area = moving.sum((1, 2)) + 1e-3
            cx, cy = (moving * xx).sum((1, 2)) / area, (moving * yy).sum((1, 2)) / area
            motion.append(np.concatenate([cx - cx.mean(), cy - cy.mean(), area / area.mean(), np.diff(cx), np.diff(cy)]))
            colour.append(np.concatenate([np.histogram(f[0][..., k], 8, (0, 255))[0] for k in range(3)]))
        return np.array(motion), np.array(colour)

    m_tr, c_tr = descriptors(ds.train.paths)
    m_te, c_te = descriptors(ds.test.paths)

    def accuracy(x_tr: np.ndarray, x_te: np.ndarray) -> float:
        scaler = StandardScaler().fit(x_tr)
        clf = LogisticRegression(max_iter=3000).fit(scaler.transform(x_tr), ds.train.labels)
        return float((clf.predict(scaler.transform(x_te)) == ds.test.labels).mean())

    chance = 1 / len(ds.concepts)
    assert accuracy(m_tr, m_te) > 0.5
    assert accuracy(c_tr, c_te) < chance + 0.15


def test_verify_passes_on_the_miniature(mini_root: Path) -> None:
    assert ucf101.UCF101Mini().verify(mini_root) == []


def test_verify_names_a_removed_a_truncated_and_an_extra_file(mini_copy: Path) -> None:
    removed = mini_copy / "UCF-101" / "Biking" / "v_Biking_g02_c01.avi"
    truncated = mini_copy / "UCF-101" / "Swing" / "v_Swing_g20_c02.avi"
    extra = mini_copy / "UCF-101" / "Swing" / "v_Swing_g26_c01.avi"
    removed.unlink()
    shutil.copy(truncated, extra)
    truncated.write_bytes(truncated.read_bytes()[:-500])
    problems = ucf101.UCF101Mini().verify(mini_copy)
    assert problems == [
        f"missing: {removed} (listed in testlist01.txt)",
        f"extra: {extra} (in no split list)",
        f"corrupt: {truncated}: truncated: the RIFF header declares "
        f"{truncated.stat().st_size + 500} bytes, the file has {truncated.stat().st_size}",
    ]


def test_verify_of_the_real_data_set_rejects_the_miniature(mini_root: Path) -> None:
    problems = ucf101.UCF101().verify(mini_root)
    assert any(p.startswith("checksum: ") and "classInd.txt" in p for p in problems)
    assert "count: classInd.txt lists 8 classes, expected 101" in problems


def test_damaged_clip_is_skipped_and_counted(mini_copy: Path, caplog: pytest.LogCaptureFixture) -> None:
    damaged = mini_copy / "UCF-101" / "Diving" / "v_Diving_g01_c01.avi"  # a test clip of split 1
    damaged.write_bytes(damaged.read_bytes()[:300])
    adapter = ucf101.UCF101Mini()
    n_test = adapter.expectations().split_counts[1][1]
    with caplog.at_level(logging.WARNING):
        ds = adapter.load(mini_copy)
    assert len(ds.test) == n_test - 1 and "v_Diving_g01_c01" not in set(ds.test.ids)
    assert ds.info["skipped_videos"] == 1 and str(damaged) in ds.info["skipped"][0]
    assert "skipped 1 unreadable clip" in caplog.text and "strict=true" in caplog.text


def test_damaged_clip_is_an_error_with_strict(mini_copy: Path) -> None:
    damaged = mini_copy / "UCF-101" / "Diving" / "v_Diving_g01_c01.avi"
    damaged.write_bytes(damaged.read_bytes()[:-100])
    adapter = ucf101.UCF101Mini()
    cfg = resolve_config(adapter.Config, cli_values=["strict=true"])
    with pytest.raises(video.VideoDecodeError, match="v_Diving_g01_c01.avi is unreadable"):
        adapter.load(mini_copy, cfg)


def test_decode_check_finds_a_file_the_header_check_cannot(mini_copy: Path) -> None:
    clip = mini_copy / "UCF-101" / "Biking" / "v_Biking_g01_c01.avi"
    data = bytearray(clip.read_bytes())
    data[300:-300] = b"\x00" * (len(data) - 600)  # same size, content wiped
    clip.write_bytes(bytes(data))
    adapter = ucf101.UCF101Mini()
    assert adapter.load(mini_copy).info["skipped_videos"] == 0
    decoded = adapter.load(mini_copy, adapter.Config(check_videos="decode"))
    assert decoded.info["skipped_videos"] == 1


def test_missing_root_explains_the_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(MissingDataError, match=r"(?s)does not exist.*ROOT/UCF-101/<ClassName>"):
        ucf101.UCF101().load(tmp_path / "nowhere")
    monkeypatch.delenv("HARNESS_DATA", raising=False)
    with pytest.raises(MissingDataError, match="(?s)No data root for data set 'ucf101'.*ucf101-mini"):
        ucf101.UCF101().load(None)
    with pytest.raises(MissingDataError, match="split lists not found"):
        ucf101.UCF101().load(tmp_path)


def test_bad_split_option_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="'split' parameter of dataset ucf101 must be one of 1, 2, 3"):
        resolve_config(ucf101.UCF101.Config, cli_values=["split=4"])


def test_grouped_validation_split_never_leaks_a_group(mini_root: Path) -> None:
    adapter = ucf101.UCF101Mini()
    ds = adapter.load(mini_root, adapter.Config(val_fraction=0.2))
    assert ds.val is not None
    assert not set(ds.train.groups) & set(ds.val.groups)
    assert set(ds.val.labels) == set(range(len(ds.concepts)))  # every class is validated
    assert len(ds.train) + len(ds.val) == adapter.expectations().split_counts[1][0]
    again = adapter.load(mini_root, adapter.Config(val_fraction=0.2))
    np.testing.assert_array_equal(ds.val.ids, again.val.ids)

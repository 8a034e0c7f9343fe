"""The official UCF101 split lists (real files in ../shared/data/ucf101) through the adapter's readers."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from datasets import ucf101
from harness.cache import sha256_file
from harness.errors import DataError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
LISTS = SHARED / "ucf101"


@pytest.fixture(scope="module")
def lists() -> Path:
    if not (LISTS / "classInd.txt").is_file():
        pytest.skip(f"official UCF101 lists {LISTS} are absent (they live in ../shared/data beside the repository)")
    return LISTS


@pytest.fixture(scope="module")
def splits(lists: Path) -> dict[int, tuple[list[str], list[ucf101.Clip], list[ucf101.Clip]]]:
    return {s: ucf101.read_splits(lists, s) for s in (1, 2, 3)}


def test_class_index_has_101_classes_in_order(lists: Path) -> None:
    classes = ucf101.read_class_index(lists / "classInd.txt")
    assert len(classes) == 101
    assert classes[0] == "ApplyEyeMakeup" and classes[-1] == "YoYo"
    assert classes[36] == "HandstandPushups"
    assert all("\r" not in c for c in classes)  # CRLF stripped


@pytest.mark.parametrize(("split", "n_train", "n_test"), [(1, 9537, 3783), (2, 9586, 3734), (3, 9624, 3696)])
def test_split_sizes(splits: dict, split: int, n_train: int, n_test: int) -> None:
    _, train, test = splits[split]
    assert (len(train), len(test)) == (n_train, n_test)
    assert ucf101.OFFICIAL_SPLIT_COUNTS[split] == (n_train, n_test)


@pytest.mark.parametrize("split", [1, 2, 3])
def test_groups_are_disjoint_and_test_groups_follow_the_rule(splits: dict, split: int) -> None:
    _, train, test = splits[split]
    train_groups = {c.group_id for c in train}
    test_groups = {c.group_id for c in test}
    assert not train_groups & test_groups
    lo, hi = 7 * (split - 1) + 1, 7 * split
    assert {c.group for c in test} == set(range(lo, hi + 1))
    assert not {c.group for c in train} & set(range(lo, hi + 1))
    assert len(train_groups | test_groups) == 101 * 25


def test_every_split_covers_the_same_13320_clips(splits: dict) -> None:
    sets = [{c.relpath for c in train} | {c.relpath for c in test} for _, train, test in splits.values()]
    assert len(sets[0]) == 13320
    assert sets[0] == sets[1] == sets[2]


def test_handstand_pushups_quirk(splits: dict) -> None:
    classes, train, test = splits[1]
    quirky = [c for c in (*train, *test) if c.folder == "HandstandPushups"]
    assert quirky, "the HandstandPushups class has clips"
    assert all(Path(c.relpath).name.startswith("v_HandStandPushups_") for c in quirky)
    assert {c.label for c in quirky} == {classes.index("HandstandPushups")}
    assert quirky[0].group_id.startswith("HandstandPushups_g")  # group named by the folder, not the file


def test_train_labels_agree_with_folders(splits: dict) -> None:
    classes, train, _ = splits[2]
    assert all(classes[c.label] == c.folder for c in train)


def test_hard_coded_checksums_are_those_of_the_official_files(lists: Path) -> None:
    for name, digest in ucf101.OFFICIAL_LIST_SHA256.items():
        assert sha256_file(lists / name) == digest, name


def test_verify_on_lists_only_reports_missing_videos_not_checksums(lists: Path, tmp_path: Path) -> None:
    shutil.copytree(lists, tmp_path / "ucfTrainTestlist")
    problems = ucf101.UCF101().verify(tmp_path)
    assert not [p for p in problems if p.startswith(("checksum", "count", "split", "corrupt"))]
    assert problems[0].startswith("missing: ") and "v_ApplyEyeMakeup_g01_c01.avi" in problems[0]
    assert problems[-1] == "missing: ... and 13300 more (13320 in all)"


def test_verify_reports_an_edited_list(lists: Path, tmp_path: Path) -> None:
    target = tmp_path / "ucfTrainTestlist"
    shutil.copytree(lists, target)
    text = (target / "testlist01.txt").read_bytes()
    (target / "testlist01.txt").write_bytes(text.replace(b"\r\n", b"\n"))  # an editor dropped the CRs
    problems = ucf101.UCF101().verify(tmp_path)
    checksum = [p for p in problems if p.startswith("checksum")]
    assert len(checksum) == 1 and "testlist01.txt" in checksum[0]


def test_wrong_field_count_names_file_and_line(lists: Path, tmp_path: Path) -> None:
    classes = ucf101.read_class_index(lists / "classInd.txt")
    bad = tmp_path / "trainlist01.txt"
    bad.write_bytes(b"ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\r\nApplyEyeMakeup/v_ApplyEyeMakeup_g08_c02.avi\r\n")
    with pytest.raises(DataError, match=r"trainlist01\.txt:2: expected 'Class/v_\.\.avi label' \(2 fields\)"):
        ucf101.read_split_list(bad, classes, with_labels=True)


def test_label_disagreeing_with_folder_is_rejected(lists: Path, tmp_path: Path) -> None:
    classes = ucf101.read_class_index(lists / "classInd.txt")
    bad = tmp_path / "trainlist01.txt"
    bad.write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 7\n")
    with pytest.raises(DataError, match=r":1: expected label 1 \(the classInd index of folder 'ApplyEyeMakeup'\)"):
        ucf101.read_split_list(bad, classes, with_labels=True)


def test_unknown_folder_and_bad_names_are_rejected(lists: Path, tmp_path: Path) -> None:
    classes = ucf101.read_class_index(lists / "classInd.txt")
    bad = tmp_path / "testlist01.txt"
    for line, expected in [
        ("Juggling/v_Juggling_g01_c01.avi", "a class folder listed in classInd.txt"),
        ("YoYo/v_YoYo_01_c01.avi", "a file name 'v_ClassName_gGG_cCC.avi'"),
        ("YoYo/v_Archery_g01_c01.avi", "to match its folder 'YoYo'"),
    ]:
        bad.write_text(line + "\n")
        with pytest.raises(DataError, match=expected):
            ucf101.read_split_list(bad, classes, with_labels=False)


def test_class_index_must_count_up(tmp_path: Path) -> None:
    bad = tmp_path / "classInd.txt"
    bad.write_text("1 A\n3 B\n")
    with pytest.raises(DataError, match=r"classInd\.txt:2: expected class index 2"):
        ucf101.read_class_index(bad)

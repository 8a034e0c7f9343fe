"""``harness data {list,describe,verify,make-mini}`` through the real CLI entry point."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness.cli import main

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
OURS = ("ucf101", "scene", "natural-scenes", "nuswide", "iaprtc12", "coview2019")


def test_list_shows_every_data_set_and_its_miniature(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in OURS:
        assert f"\n{name} " in "\n" + out
        assert f"{name}-mini" in out
    assert "[miniature]" in out


@pytest.mark.parametrize("name", OURS)
def test_describe_gives_layout_source_and_licence(capsys: pytest.CaptureFixture[str], name: str) -> None:
    assert main(["data", "describe", name]) == 0
    out = capsys.readouterr().out
    assert "Layout" in out and "ROOT/" in out
    assert "Licence" in out
    assert "Obtain" in out


def test_describe_lists_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "describe", "ucf101"]) == 0
    assert "split = 1 (one of 1, 2, 3)" in capsys.readouterr().out


def test_unknown_name_suggests_close_matches(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "describe", "ucf-101"]) == 1
    err = capsys.readouterr().err
    assert "Unknown dataset 'ucf-101'" in err and "Did you mean 'ucf101'" in err
    assert "Traceback" not in err


def test_make_mini_then_verify_then_damage(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "scene"
    assert main(["data", "make-mini", "scene", str(target), "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "wrote scene-mini (seed 3)" in out and (target / "scene-train.arff").is_file()
    assert main(["data", "verify", "scene-mini", "--data-root", str(target)]) == 0
    assert "scene-mini: OK" in capsys.readouterr().out
    (target / "scene-test.arff").unlink()
    assert main(["data", "verify", "scene-mini", "--data-root", str(target)]) == 1
    out = capsys.readouterr().out
    assert f"missing: {target / 'scene-test.arff'}" in out
    assert "harness data describe scene-mini" in out


def test_make_mini_refuses_a_non_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    assert main(["data", "make-mini", "iaprtc12-mini", str(tmp_path)]) == 1
    assert "is not empty" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_verify_a_miniature_without_root_uses_the_cache(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "verify", "iaprtc12-mini"]) == 0
    assert "iaprtc12-mini: OK" in capsys.readouterr().out


def test_verify_real_data_set_without_root_is_an_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("HARNESS_DATA", raising=False)
    assert main(["data", "verify", "nuswide"]) == 1
    err = capsys.readouterr().err
    assert "No data root to verify for 'nuswide'" in err and "--data-root" in err


def test_verify_real_scene_files(capsys: pytest.CaptureFixture[str]) -> None:
    root = SHARED / "multilabel" / "scene"
    if not root.is_dir():
        pytest.skip(f"MULAN scene files {root} are absent (they live in ../shared/data beside the repository)")
    assert main(["data", "verify", "scene", "--data-root", str(root)]) == 0


def test_verify_ucf101_lists_without_videos_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lists = SHARED / "ucf101"
    if not (lists / "classInd.txt").is_file():
        pytest.skip(f"official UCF101 lists {lists} are absent (they live in ../shared/data beside the repository)")
    shutil.copytree(lists, tmp_path / "ucfTrainTestlist")
    assert main(["data", "verify", "ucf101", "--data-root", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert f"ucf101: problems found in {tmp_path}:" in out
    assert "missing: ... and 13300 more (13320 in all)" in out
    assert "checksum" not in out


def test_verify_damaged_ucf101_miniature(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "ucf"
    assert main(["data", "make-mini", "ucf101", str(target)]) == 0
    clip = target / "UCF-101" / "JumpingJack" / "v_JumpingJack_g11_c02.avi"
    clip.write_bytes(clip.read_bytes()[:1000])
    capsys.readouterr()
    assert main(["data", "verify", "ucf101-mini", "--data-root", str(target)]) == 1
    out = capsys.readouterr().out
    assert f"corrupt: {clip}: truncated: the RIFF header declares" in out

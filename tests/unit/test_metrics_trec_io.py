"""TREC qrels/run readers (validated line by line) and the run writer."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from harness.errors import DataError, MissingDataError
from metrics.trec import read_qrels, read_run, write_run


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_five_column_qrels(tmp_path: Path) -> None:
    q = read_qrels(_write(tmp_path / "q", "501 0 shot1_1 2 1\n501 0 shot1_2 1 -1\n\n502 0 shot9_9 1 0\n501 0 shot1_3 2 0\n"))
    assert list(q) == ["501", "502"]
    t = q["501"]
    assert t.strata == ("1", "2")  # sorted labels, the order the script visits strata
    assert t.index == {"shot1_1": 0, "shot1_2": 1, "shot1_3": 2}
    assert t.stratum.tolist() == [1, 0, 1]
    assert t.judgment.tolist() == [1, -1, 0]
    assert t.lines.tolist() == [1, 2, 5]


def test_four_column_qrels_are_one_fully_judged_stratum(tmp_path: Path) -> None:
    q = read_qrels(_write(tmp_path / "q", "1 0 d1 1\n1 0 d2 0\n1 0 d3 2\n"))
    assert q["1"].strata == ("1",)
    assert q["1"].judgment.tolist() == [1, 0, 2]


def test_gzip_and_non_numeric_topics(tmp_path: Path) -> None:
    text = "Airplane 0 shotA 1 1\nAirplane 0 shotB 1 0\nbus_stop 0 shotA 1 1\n"
    (tmp_path / "q.txt").write_bytes(gzip.compress(text.encode()))  # gzip detected by content
    q = read_qrels(tmp_path / "q.txt")
    assert list(q) == ["Airplane", "bus_stop"]
    (tmp_path / "r.gz").write_bytes(gzip.compress(b"Airplane Q0 shotA 1 0.5 tag\nAirplane Q0 shotB 2 0.25 tag\n"))
    r = read_run(tmp_path / "r.gz")
    assert r["Airplane"].docids.tolist() == ["shotA", "shotB"]
    assert r["Airplane"].scores.tolist() == [0.5, 0.25]


def test_non_ascii_ids_are_read(tmp_path: Path) -> None:
    q = read_qrels(_write(tmp_path / "q", "t 0 café 1 1\nt 0 naïve 1 0\n"))
    assert set(q["t"].index) == {"café", "naïve"}


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("1 0 a 1 1\n1 0 b 1\n", r":2: expected 5 fields"),
        ("1 0 a 1 1\n1 0 b 1 1 9\n", r":2: expected 5 fields"),
        ("1 0 a\n", r":1: expected 5 fields"),
        ("1 0 a 1 1\n1 0 b 1 yes\n", r":2: judgment .* integer.*'yes'"),
        ("1 0 a 1 -3\n", r":1: judgment must be >= -1"),
        ("1 0 a 1 1\n\n1 0 b 2 0\n1 0 a 2 1\n", r":4: docid 'a' is judged twice .* line 1 and line 4"),
        ("   \n\n", r"empty"),
    ],
)
def test_malformed_qrels_name_file_and_line(tmp_path: Path, text: str, pattern: str) -> None:
    path = _write(tmp_path / "bad.qrels", text)
    with pytest.raises(DataError, match=pattern) as info:
        read_qrels(path)
    assert "bad.qrels" in str(info.value)


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("1 Q0 a 1 0.5 t\n1 Q0 b 2 0.4\n", r":2: expected 6 fields"),
        ("1 Q0 a 1 high t\n", r":1: score .* number, got 'high'"),
        ("1 Q0 a 1 nan t\n", r":1: score must be a number"),
        ("1 Q0 a 1 0.5 t\n2 Q0 a 1 0.5 t\n1 Q0 a 2 0.4 t\n", r":3: docid 'a' appears twice in topic '1'.*line 1 and line 3"),
        ("", r"empty"),
    ],
)
def test_malformed_runs_name_file_and_line(tmp_path: Path, text: str, pattern: str) -> None:
    path = _write(tmp_path / "bad.run", text)
    with pytest.raises(DataError, match=pattern):
        read_run(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MissingDataError, match="not found"):
        read_qrels(tmp_path / "nope")


def test_write_run_top_m_round_trip(tmp_path: Path) -> None:
    ids = np.array(["s1", "s2", "s3", "s10"])
    scores = np.array([[0.1, 0.3], [0.5, 0.3], [0.5, 0.1], [0.2, 0.3]])
    n = write_run(tmp_path / "out.run", ids, scores, ["A", "B"], max_results=3, tag="mine")
    assert n == 6
    lines = (tmp_path / "out.run").read_text().splitlines()
    assert lines[:3] == ["A Q0 s3 1 0.5 mine", "A Q0 s2 2 0.5 mine", "A Q0 s10 3 0.2 mine"]
    assert [ln.split()[2] for ln in lines[3:]] == ["s2", "s10", "s1"]  # ties: docid descending
    back = read_run(tmp_path / "out.run")
    assert back["A"].scores.tolist() == [0.5, 0.5, 0.2]
    write_run(tmp_path / "out.run.gz", ids, scores, ["A", "B"], max_results=3)
    assert read_run(tmp_path / "out.run.gz")["B"].docids.tolist() == ["s2", "s10", "s1"]


def test_write_run_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="shape"):
        write_run(tmp_path / "r", ["a"], np.zeros((2, 1)), ["A"])
    with pytest.raises(ValueError, match="whitespace"):
        write_run(tmp_path / "r", ["a b"], np.zeros((1, 1)), ["A"])
    with pytest.raises(ValueError, match="NaN"):
        write_run(tmp_path / "r", ["a"], np.full((1, 1), np.nan), ["A"])

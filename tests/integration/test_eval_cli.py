"""``harness eval trec`` end to end: official output reproduced, machine formats, bad input."""

from __future__ import annotations

import csv
import gzip
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli import main

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
AVS = SHARED / "trecvid" / "avs2021"
TWO = AVS / "two_topics"


def _need_data() -> None:
    if not AVS.exists():
        pytest.skip(f"reference data {AVS} is absent (it lives in ../shared/data beside the repository)")


def _harness(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed console script when present, else the module (same code path)."""
    exe = Path(sys.executable).with_name("harness")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "harness.cli"]
    return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120)


def test_full_avs2021_output_is_byte_identical_to_sample_eval() -> None:
    _need_data()
    proc = _harness("eval", "trec", "--qrels", str(AVS / "avs.qrels.main.tv21"),
                    "--run", str(AVS / "run.tv21.RUCMM"), "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (AVS / "expected.sample_eval.tv16avs.q.txt").read_text()


@pytest.mark.parametrize(("scorer", "expected"), [("tv16avs", "tv16avs"), ("trec2011", "trec2011w")])
def test_two_topics_both_scorers(capsys, scorer: str, expected: str) -> None:
    _need_data()
    rc = main(["eval", "trec", "--qrels", str(TWO / "qrels.tv21.t1675_1677"),
               "--run", str(TWO / "run.RUCMM.t1675_1677"), "-q", "--scorer", scorer])
    assert rc == 0
    assert capsys.readouterr().out == (TWO / f"expected.sample_eval.{expected}.q.txt").read_text()


def test_summary_only_and_options(capsys) -> None:
    _need_data()
    args = ["eval", "trec", "--qrels", str(AVS / "avs.qrels.main.tv21"), "--run", str(AVS / "run.tv21.RUCMM")]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "\t1661\t" not in out and out.startswith("infAP\t\tall\t\t0.3430\n")
    assert main([*args, "--no-trecvid-adjust"]) == 0
    assert capsys.readouterr().out.startswith("infAP\t\tall\t\t0.2453\n")
    assert main([*args, "--max-results", "500", "--digits", "6"]) == 0
    out = capsys.readouterr().out
    assert "iP500\t\tall\t\t" in out and "num_ret\t\tall\t    10000\n" in out
    assert out.splitlines()[0].split("\t")[-1].count(".") == 1 and len(out.splitlines()[0].split(".")[-1]) == 6


def test_json_and_csv(capsys, tmp_path: Path) -> None:
    _need_data()
    base = ["eval", "trec", "--qrels", str(TWO / "qrels.tv21.t1675_1677"), "--run", str(TWO / "run.RUCMM.t1675_1677"), "-q"]
    assert main([*base, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert round(doc["all"]["infAP"], 4) == 0.6720
    assert round(doc["topics"]["1675"]["infNDCG"], 4) == 0.7507
    assert doc["settings"]["max_results"] == 1000 and doc["settings"]["trecvid_adjust"] is True
    assert main([*base, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    got = {(r["measure"], r["topic"]): float(r["value"]) for r in rows}
    assert round(got[("infAP", "1677")], 4) == 0.8326
    assert got[("num_ret", "all")] == 2000


def test_gzip_inputs(capsys, tmp_path: Path) -> None:
    _need_data()
    for name in ("qrels.tv21.t1675_1677", "run.RUCMM.t1675_1677"):
        (tmp_path / f"{name}.gz").write_bytes(gzip.compress((TWO / name).read_bytes()))
    assert main(["eval", "trec", "--qrels", str(tmp_path / "qrels.tv21.t1675_1677.gz"),
                 "--run", str(tmp_path / "run.RUCMM.t1675_1677.gz")]) == 0
    assert capsys.readouterr().out.startswith("infAP\t\tall\t\t0.6720\n")


def _small_files(tmp_path: Path) -> tuple[Path, Path]:
    q = tmp_path / "small.qrels"
    q.write_text("1 0 a 1 1\n1 0 b 1 0\n2 0 c 1 1\n")
    r = tmp_path / "small.run"
    r.write_text("1 Q0 a 1 0.9 t\n1 Q0 b 2 0.8 t\n")
    return q, r


def test_topics_missing_from_either_side_are_reported(capsys, tmp_path: Path) -> None:
    q, r = _small_files(tmp_path)
    r.write_text(r.read_text() + "9 Q0 a 1 0.9 t\n")
    assert main(["eval", "trec", "--qrels", str(q), "--run", str(r)]) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith("infAP\t\tall\t\t1.0000\n")
    assert "skipped: 9" in captured.err and "--strict" in captured.err
    assert main(["eval", "trec", "--qrels", str(q), "--run", str(r), "--strict"]) == 0
    assert capsys.readouterr().out.startswith("infAP\t\tall\t\t0.5000\n")


@pytest.mark.parametrize(
    ("qrels_text", "run_text", "message"),
    [
        ("1 0 a 1 1\n1 0 b 1\n", "1 Q0 a 1 0.9 t\n", "small.qrels:2: expected 5 fields"),
        ("1 0 a 1 1\n", "1 Q0 a 1 0.9 t\n1 Q0 b 2 0.8\n", "small.run:2: expected 6 fields"),
        ("1 0 a 1 1\n", "1 Q0 a 1 0.9 t\n1 Q0 a 2 0.8 t\n", "docid 'a' appears twice in topic '1' of the run: line 1 and line 2"),
        ("1 0 a 1 1\n1 0 a 1 0\n", "1 Q0 a 1 0.9 t\n", "docid 'a' is judged twice for topic '1': line 1 and line 2"),
        ("", "1 Q0 a 1 0.9 t\n", "qrels file is empty"),
        ("1 0 a 1 1\n", "", "run file is empty"),
        ("1 0 a 1 1\n", "7 Q0 a 1 0.9 t\n", "no topic of the run has judgments in the qrels"),
    ],
)
def test_bad_input_gives_one_paragraph_and_non_zero_exit(tmp_path: Path, qrels_text: str, run_text: str, message: str) -> None:
    q, r = _small_files(tmp_path)
    q.write_text(qrels_text)
    r.write_text(run_text)
    proc = _harness("eval", "trec", "--qrels", str(q), "--run", str(r))
    assert proc.returncode != 0
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
    assert proc.stderr.startswith("harness eval: error:")


def test_missing_file_and_bad_option(tmp_path: Path, capsys) -> None:
    q, _ = _small_files(tmp_path)
    assert main(["eval", "trec", "--qrels", str(q), "--run", str(tmp_path / "absent.run")]) == 1
    assert "run file not found" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["eval", "trec", "--qrels", str(q), "--run", str(q), "--max-results", "0"])
    assert info.value.code == 2
    assert "positive integer" in capsys.readouterr().err

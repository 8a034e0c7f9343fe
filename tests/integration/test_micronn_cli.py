"""microNN end to end on the miniatures: ``harness run --method micronn --dataset trecvid-avs2016-mini``
(detectors trained on trecvid2013-mini, the AVS miniature's queries answered through them) and
``harness table micronn.queries`` (the three runs and the SVM bank, per-query infAP, bar chart).
Short training settings keep it fast; the math is the same."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from harness import api
from harness.cli import main
from harness.registry import load_plugins
from harness.run_eval import evaluate
from harness.runner import load_dataset

pytestmark = pytest.mark.slow
load_plugins()

FAST = {"epochs": 4, "lstm_epochs": 1, "hidden": 32, "examples": 600}


@pytest.fixture(scope="module")
def home(shared_home: Path) -> Path:
    return shared_home


@pytest.fixture(scope="module")
def run_out(home: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """One D_M_1 run (detectors trained on trecvid2013-mini); the table test reuses it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HARNESS_HOME", str(home))
        mp.setenv("HARNESS_PROGRESS", "0")
        out = tmp_path_factory.mktemp("micronn") / "runs"
        sets = [a for k, v in FAST.items() for a in ("--set", f"{k}={v}")]
        code = main(["run", "--method", "micronn", "--dataset", "trecvid-avs2016-mini", "--out", str(out),
                     "--device", "cpu", *sets])  # fmt: skip
        assert code == 0
    from harness.results import read_table

    table = read_table(out)
    row = table[(table.metric == "mxinfap") & (table.concept == "") & (table.status == "FINISHED")]
    return out, float(row.value.iloc[0])


def test_run_on_the_miniature_beats_random_rankings(run_out: tuple[Path, float], home: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(home))
    _, value = run_out
    avs = load_dataset(api.DATASETS.get("trecvid-avs2016-mini"), None, api.DATASETS.get("trecvid-avs2016-mini").Config())
    rng = np.random.default_rng(0)
    chance = [evaluate(avs, rng.random((len(avs.test), len(avs.concepts)))).overall["mxinfap"] for _ in range(3)]
    assert value > 2 * max(chance), (value, chance)  # the detectors carry over to the AVS shots


def test_table_on_the_miniature_reuses_the_run(run_out: tuple[Path, float], home: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(home))
    out, value = run_out
    capsys.readouterr()
    sets = [a for k, v in FAST.items() for a in ("--set", f"micronn.{k}={v}")]
    code = main(["table", "micronn.queries", "--dataset", "trecvid-avs2016-mini", "--seeds", "1", "--out", str(out),
                 "--device", "cpu", *sets, "--set", f"svm_concepts.examples={FAST['examples']}"])  # fmt: skip
    text, err = capsys.readouterr()
    assert code == 0, err
    assert "3 executed" in err  # the D_M_1 cell is the run above, reused
    base = out / "tables" / "micronn.queries@trecvid-avs2016-mini"
    assert Path(f"{base}.png").stat().st_size > 0 and Path(f"{base}.svg").stat().st_size > 0
    summary = json.loads(Path(f"{base}.json").read_text())
    cells = {(c["row"], c["column"]): c for c in summary["cells"]}
    assert len(cells) == 4 * 31 and all(c["n"] == 1 for c in cells.values())
    assert cells[("imbalanced", "mean")]["mean"] == pytest.approx(value / 100)
    per_query = [cells[("imbalanced", f"q{q}")]["mean"] for q in range(501, 531)]
    assert np.mean(per_query) == pytest.approx(value / 100, abs=1e-9)  # every query judged: the mean is MXinfAP
    assert {c["text"][:40] for c in summary["claims"]} and all(c["ours_total"] > 0 for c in summary["claims"])


def test_timing_table_times_three_banks_on_the_same_held_out_videos(run_out: tuple[Path, float], home: Path,
                                                                     monkeypatch: pytest.MonkeyPatch,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("HARNESS_HOME", str(home))
    out, _ = run_out
    capsys.readouterr()
    sets = [a for k, v in FAST.items() if k != "lstm_epochs" for a in ("--set", f"micronn.{k}={v}")]
    code = main(["table", "micronn.timing", "--dataset", "trecvid-avs2016-mini", "--seeds", "1", "--out", str(out),
                 "--device", "cpu", *sets, "--set", f"svm_concepts.examples={FAST['examples']}"])  # fmt: skip
    text, err = capsys.readouterr()
    assert code == 0, err
    assert "3 executed" in err  # every row trains its own bank (none is the queries table's run)
    summary = json.loads((out / "tables" / "micronn.timing@trecvid-avs2016-mini.json").read_text())
    cells = {(c["row"], c["column"]): c for c in summary["cells"]}
    for row in ("batched", "one_at_a_time", "svm"):
        assert cells[(row, "per_concept")]["mean"] > 0 and 0 <= cells[(row, "heldout_map")]["mean"] <= 1
        assert cells[(row, "per_concept")]["mean"] == pytest.approx(cells[(row, "bank")]["mean"] / cells[(row, "detectors")]["mean"])
    assert len({cells[(r, "detectors")]["mean"] for r in ("batched", "one_at_a_time", "svm")}) == 1  # the same bank
    claims = {c["text"][:30]: c for c in summary["claims"]}
    assert all(c["ours_total"] == 1 for c in claims.values())
    line = next(li for li in text.splitlines() if "at least 20x faster" in li)
    assert re.search(r"ours per_concept [0-9.e+-]+x$", line), line  # the measured ratio is printed

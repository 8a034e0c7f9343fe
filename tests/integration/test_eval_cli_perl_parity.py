"""Differential test against NIST's ``sample_eval.pl`` on random inputs (needs a local copy).

The script is not part of this repository. Set ``SAMPLE_EVAL_PL`` to a local copy of the
TRECVID (TV16 AVS) version to run this test; it is skipped otherwise. Random qrels (1-4 strata,
sampling rates 5-100 %, graded judgments, unjudged -1) and runs (score ties, more than M results,
topics missing on either side) are scored by both, printing 10 decimals, and every line compared.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from metrics.trec import evaluate_run, measure_rows, read_qrels, read_run

SCRIPT = os.environ.get("SAMPLE_EVAL_PL")


def _random_files(rng: np.random.Generator, folder: Path) -> tuple[Path, Path]:
    qlines, rlines = [], []
    for t in range(int(rng.integers(1, 5))):
        topic = str(100 + 2 * int(rng.integers(0, 50)) + t)
        docs = list(dict.fromkeys(f"shot{rng.integers(1, 40)}_{i}" for i in range(int(rng.choice([30, 300, 2500])))))
        strata = rng.integers(1, int(rng.integers(2, 5)) + 1, len(docs))
        rate = {s: rng.choice([1.0, 0.5, 0.2, 0.05]) for s in range(1, 6)}
        graded = rng.random() < 0.3
        for d, s in zip(docs, strata, strict=True):
            if rng.random() < 0.7:
                j = int(rng.choice([0, 1, 2], p=[.6, .25, .15]) if graded else rng.choice([0, 1])) if rng.random() < rate[s] else -1
                qlines.append(f"{topic} 0 {d} {s} {j}")
        ret = rng.choice(len(docs), min(int(rng.choice([5, 200, 1000, 1300])), len(docs)), replace=False)
        scores = np.round(rng.random(len(ret)), int(rng.choice([1, 2, 6])))  # coarse scores -> ties
        rlines += [f"{topic} Q0 {docs[i]} {k} {sc} tag" for k, (i, sc) in enumerate(zip(ret, scores, strict=True), 1)]
    if rng.random() < 0.5:  # a judged topic missing from the run
        first = rlines[0].split()[0]
        rlines = [ln for ln in rlines if ln.split()[0] != first] or rlines
    rlines.append("999 Q0 shotX_1 1 0.5 tag")  # a run topic without judgments
    (folder / "q").write_text("\n".join(qlines) + "\n")
    (folder / "r").write_text("\n".join(rlines) + "\n")
    return folder / "q", folder / "r"


@pytest.mark.skipif(not SCRIPT, reason="set SAMPLE_EVAL_PL to a local copy of NIST's sample_eval.pl to run")
@pytest.mark.skipif(shutil.which("perl") is None, reason="perl is not installed")
@pytest.mark.parametrize("seed", range(10))
def test_random_inputs_match_sample_eval(tmp_path: Path, seed: int) -> None:
    wide = tmp_path / "sample_eval_wide.pl"
    wide.write_text(Path(SCRIPT).read_text().replace("%6.4f", "%.10f").replace("%14.4f", "%.10f"))
    q, r = _random_files(np.random.default_rng(seed), tmp_path)
    out = subprocess.run(["perl", str(wide), "-q", str(q), str(r)], capture_output=True, text=True, check=True).stdout
    perl = [ln.split() for ln in out.splitlines() if ln.strip()]
    ours = measure_rows(evaluate_run(read_qrels(q), read_run(r), profile="tv16avs"), per_topic=True)
    assert [(p[0], p[1]) for p in perl] == [(name, topic) for name, topic, _ in ours]
    for p, (_, _, value) in zip(perl, ours, strict=True):
        assert float(p[2]) == pytest.approx(value, rel=1e-9, abs=1e-9), p

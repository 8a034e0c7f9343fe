"""Every line of NIST's ``sample_eval.pl -q`` output on the real AVS 2021 judgments and run.

Files in ``../shared/data/trecvid/avs2021`` (see its README): the official TRECVID (TV16 AVS)
copy's output and the TREC 2011 copy's output, on the full files and on a two-topic cut.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from metrics.trec import evaluate_run, format_text, read_qrels, read_run

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
AVS = SHARED / "trecvid" / "avs2021"

CASES = {
    "full": ("avs.qrels.main.tv21", "run.tv21.RUCMM"),
    "two_topics": ("two_topics/qrels.tv21.t1675_1677", "two_topics/run.RUCMM.t1675_1677"),
}


@pytest.fixture(scope="module")
def inputs() -> dict[str, tuple[dict, dict]]:
    if not AVS.exists():
        pytest.skip(f"reference data {AVS} is absent (it lives in ../shared/data beside the repository)")
    return {name: (read_qrels(AVS / q), read_run(AVS / r)) for name, (q, r) in CASES.items()}


def _expected(case: str, scorer: str) -> list[str]:
    folder = AVS / "two_topics" if case == "two_topics" else AVS
    return (folder / f"expected.sample_eval.{scorer}.q.txt").read_text().splitlines()


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize(("profile", "scorer"), [("tv16avs", "tv16avs"), ("trec2011", "trec2011w")])
def test_every_line_matches_the_official_scorer(inputs, case: str, profile: str, scorer: str) -> None:
    qrels, run = inputs[case]
    got = format_text(evaluate_run(qrels, run, profile=profile), per_topic=True).splitlines()
    want = _expected(case, scorer)
    assert len(got) == len(want)
    mismatches = [(i + 1, g, w) for i, (g, w) in enumerate(zip(got, want, strict=True)) if g != w]
    assert not mismatches, f"{len(mismatches)} lines differ, first: {mismatches[:3]}"


def test_values_within_print_tolerance(inputs) -> None:
    # a second, format-independent check of the headline numbers (5e-5 = half the last digit)
    qrels, run = inputs["full"]
    m = evaluate_run(qrels, run, profile="tv16avs")
    want = {ln.split()[0]: float(ln.split()[-1]) for ln in _expected("full", "tv16avs") if "\tall\t" in ln}
    assert m.overall.infap == pytest.approx(want["infAP"], abs=5e-5)
    assert m.overall.infndcg == pytest.approx(want["infNDCG"], abs=5e-5)
    assert m.overall.inum_rel == pytest.approx(want["inum_rel"], abs=5e-5)


def test_trec2011_infap_is_tv16_scorer_with_adjustment_off(inputs) -> None:
    # the oracle: 'infAP all' of the TREC 2011 copy = TV16 copy with --no-trecvid-adjust
    qrels, run = inputs["full"]
    m = evaluate_run(qrels, run, profile="tv16avs", trecvid_adjust=False)
    assert m.settings["max_results"] == 1000
    assert f"{m.overall.infap:6.4f}" == "0.2453"
    adjusted = evaluate_run(qrels, run, profile="tv16avs")
    assert f"{adjusted.overall.infap:6.4f}" == "0.3430"
    # topics whose inferred relevant count stays below M are unaffected by the adjustment
    for a, b in zip(m.topics, adjusted.topics, strict=True):
        if a.inum_rel <= 1000:
            assert a.infap == b.infap
        else:
            assert b.infap == pytest.approx(a.infap * a.inum_rel / 1000)


def test_strict_mode_scores_missing_topics_as_zero(inputs) -> None:
    qrels, run = inputs["full"]
    partial = {t: r for t, r in run.items() if t != "1661"}
    lenient = evaluate_run(qrels, partial)
    strict = evaluate_run(qrels, partial, strict=True)
    assert lenient.qrels_only_topics == ("1661",)
    assert len(lenient.topics) == 19 and len(strict.topics) == 20
    assert strict.overall.infap == pytest.approx(lenient.overall.infap * 19 / 20)
    assert strict.topics[0].topic == "1661" and strict.topics[0].infap == 0.0

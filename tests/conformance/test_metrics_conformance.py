"""API checks generated from the metric registry: every registered metric gets them.

Each metric has an oracle case below: its METHODS.md worked example through the registered entry,
and a perfect prediction against a random one, which must order by ``higher_is_better``. A metric
registered without a case fails ``test_every_metric_has_an_oracle_case``: add one here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from harness import api
from harness.registry import load_plugins

load_plugins()


@dataclasses.dataclass(frozen=True)
class Case:
    """``worked`` must give ``expected`` as the headline (the first key of ``overall``: ``key``, by
    default the metric's name; what a validation ``Scorer`` returns)."""

    worked: api.EvalInput
    expected: float
    perfect: api.EvalInput
    random: api.EvalInput
    key: str = ""
    tol: float = 1e-6


def _inp(scores: object, protocol: api.Protocol, *, ids: object = None, labels: object = None,
         groups: object = None, concepts: tuple[str, ...] | None = None, **extra: np.ndarray) -> api.EvalInput:
    n = len(next(iter(scores.values()))) if isinstance(scores, dict) else len(scores)
    width = np.asarray(scores).shape[1] if not isinstance(scores, dict) and np.ndim(scores) == 2 else 0
    return api.EvalInput(scores=scores, ids=np.asarray(ids if ids is not None else [f"i{k}" for k in range(n)]),
                         concepts=concepts if concepts is not None else tuple(f"c{t}" for t in range(width)),
                         protocol=protocol, labels=None if labels is None else np.asarray(labels),
                         groups=None if groups is None else np.asarray(groups), extra=extra)  # fmt: skip


RNG_N, RNG_T, RNG_C = 120, 6, 20


def _multilabel_pair(metric: str, rng: np.random.Generator) -> tuple[api.EvalInput, api.EvalInput]:
    y = (rng.random((RNG_N, RNG_T)) < 0.2).astype(np.int8)
    y[0] = 1  # every concept has a positive
    p = api.Protocol(metric=metric)
    return _inp(y.astype(float), p, labels=y), _inp(rng.random(y.shape), p, labels=y)


def _multiclass_pair(metric: str, rng: np.random.Generator) -> tuple[api.EvalInput, api.EvalInput]:
    y = rng.integers(0, RNG_C, RNG_N)
    p = api.Protocol(metric=metric)
    return _inp(np.eye(RNG_C)[y], p, labels=y), _inp(rng.random((RNG_N, RNG_C)), p, labels=y)


# METHODS.md 1.1: ranking a, b, c, d, x, e; relevant a, c, e -> AP 0.722222 (xinfAP 0.722221, 1.2 A).
AP_IDS = ["a", "b", "c", "d", "x", "e"]
AP_REL = [1, 0, 1, 0, 0, 1]
AP_SCORES = np.array([6.0, 5, 4, 3, 2, 1])[:, None]


def _map(tmp_path: Path, rng: np.random.Generator) -> Case:
    worked = _inp(AP_SCORES, api.Protocol(metric="map"), ids=AP_IDS, labels=np.array(AP_REL)[:, None])
    return Case(worked, 0.722222, *_multilabel_pair("map", rng))


def _judged(metric: str, scale: float) -> Callable[[Path, np.random.Generator], Case]:
    def case(tmp_path: Path, rng: np.random.Generator) -> Case:
        qrels = tmp_path / "q.qrels"
        # worked example: topic c0 over a..e judged in one stratum (x unjudged)
        lines = [f"c0 0 {d} 1 {r}" for d, r in zip("abcde", [1, 0, 1, 0, 1], strict=True)]
        ids = np.array([f"shot{k // 30}_{k % 30}" for k in range(RNG_N)])
        rel = rng.random((RNG_N, RNG_T)) < 0.2
        rel[0] = True
        lines += [f"t{t} 0 {ids[k]} 1 {int(rel[k, t])}" for t in range(RNG_T) for k in range(RNG_N)]
        qrels.write_text("\n".join(lines) + "\n")
        p = api.Protocol(metric=metric, qrels_path=qrels, eval_concepts=("c0",))
        worked = _inp(AP_SCORES, p, ids=AP_IDS, concepts=("c0",))
        topics = tuple(f"t{t}" for t in range(RNG_T))
        q = api.Protocol(metric=metric, qrels_path=qrels, eval_concepts=topics)
        perfect = _inp(rel.astype(float), q, ids=ids, concepts=topics)
        random = _inp(rng.random(rel.shape), q, ids=ids, concepts=topics)
        return Case(worked, 0.722221 * scale, perfect, random, tol=1e-6 * scale)

    return case


def _hamming(tmp_path: Path, rng: np.random.Generator) -> Case:
    # METHODS.md 1.5: L = 4, N = 3, two mismatches -> 2/12
    y = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [1, 1, 0, 1]])
    y_hat = np.array([[1, 0, 0, 0], [0, 1, 1, 0], [1, 1, 0, 1]])
    worked = _inp(y_hat.astype(float), api.Protocol(metric="hamming_loss"), labels=y)
    return Case(worked, 0.166667, *_multilabel_pair("hamming_loss", rng))


# METHODS.md 1.8: one clip, 3 frames, label 1; frame argmaxes [0, 1, 1]; mean softmax -> class 1.
FRAMES = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.4, 0.3]])


def _frames(metric: str, expected: float) -> Callable[[Path, np.random.Generator], Case]:
    def case(tmp_path: Path, rng: np.random.Generator) -> Case:
        worked = _inp(FRAMES, api.Protocol(metric=metric), labels=[1, 1, 1], clip_id=np.array(["v", "v", "v"]))
        return Case(worked, expected, *_multiclass_pair(metric, rng))

    return case


# METHODS.md 1.6: one video of 8 segments.
IS_TRUE = np.array([1.2, 0.4, 2.0, 1.6, 0.0, 0.8, 1.8, 1.0])
U = np.array([0.9, 0.8, 0.7, 0.1, 0.6, 0.5, 0.4, 0.2])
SCENE = np.array([3, 3, 5, 5, 1, 2, 5, 0])
TOP1 = np.array([3, 4, 5, 5, 1, 0, 5, 0])
TOP5_OF_MISSES = {1: [4, 3, 7, 8, 9], 5: [0, 6, 7, 8, 9]}


def _scene_scores() -> np.ndarray:
    s = np.zeros((8, 10))
    for n in range(8):
        for r, c in enumerate(TOP5_OF_MISSES.get(n, [int(TOP1[n])])):
            s[n, c] = 10.0 - r
    return s


def _top5(tmp_path: Path, rng: np.random.Generator) -> Case:
    # the 1.6 scene scores over all 8 segments: 6 top-1 hits + segment 1 in its top 5 -> 7/8
    worked = _inp(_scene_scores(), api.Protocol(metric="top5_accuracy"), labels=SCENE)
    return Case(worked, 7 / 8, *_multiclass_pair("top5_accuracy", rng))


def _coview(metric: str, expected: float) -> Callable[[Path, np.random.Generator], Case]:
    def case(tmp_path: Path, rng: np.random.Generator) -> Case:
        sc = _scene_scores()
        p = api.Protocol(metric=metric)
        worked = _inp({"scene": sc, "action": sc, "importance": U}, p, labels=np.column_stack([SCENE, SCENE, IS_TRUE]),
                      groups=["v"] * 8, concepts=("scene", "action", "importance"))  # fmt: skip
        n_videos, per_video, s, a = 12, 10, 7, 9
        groups = np.repeat([f"v{k}" for k in range(n_videos)], per_video)
        n = len(groups)
        labels = np.column_stack([rng.integers(0, s, n), rng.integers(0, a, n), rng.uniform(0, 2, n)])
        perfect = {"scene": np.eye(s)[labels[:, 0].astype(int)], "action": np.eye(a)[labels[:, 1].astype(int)],
                   "importance": labels[:, 2]}  # fmt: skip
        random = {"scene": rng.random((n, s)), "action": rng.random((n, a)), "importance": rng.random(n)}
        concepts = ("scene", "action", "importance")
        return Case(worked, expected, _inp(perfect, p, labels=labels, groups=groups, concepts=concepts),
                    _inp(random, p, labels=labels, groups=groups, concepts=concepts),
                    key="scene_action_score" if metric == "coview" else metric)

    return case


#: metric -> builder of its oracle case (``tmp_path``, a seeded generator).
CASES: dict[str, Callable[[Path, np.random.Generator], Case]] = {
    "map": _map,
    "mxinfap": _judged("mxinfap", 100.0),
    "avs_infap": _judged("avs_infap", 1.0),
    "hamming_loss": _hamming,
    "top1_accuracy": _frames("top1_accuracy", 2 / 3),  # frame rows: 2 of 3 argmaxes are class 1
    "frame_accuracy": _frames("frame_accuracy", 2 / 3),
    "video_accuracy": _frames("video_accuracy", 1.0),  # mean softmax of the clip -> class 1
    "top5_accuracy": _top5,
    "coview": _coview("coview", 0.833333),  # scene & action score = mean HS@5 (action = scene here)
    "segment_accuracy": _coview("segment_accuracy", 6 / 8),  # top-1 over all 8 segments (1.7)
}

NAMES = sorted(api.METRICS.names())


def test_every_metric_has_an_oracle_case() -> None:
    missing = sorted(set(NAMES) - set(CASES))
    assert not missing, f"registered metrics without an oracle case in {__file__}: {missing}"


@pytest.mark.parametrize("name", NAMES)
def test_registered_spec(name: str) -> None:
    spec = api.METRICS.get(name)
    assert spec.name == name
    assert isinstance(spec.higher_is_better, bool)
    assert spec.description.strip(), "a description for 'harness list metrics'"
    fields = {f.name for f in dataclasses.fields(api.EvalInput)}
    assert "scores" in spec.requires and set(spec.requires) <= fields, spec.requires


@pytest.mark.parametrize("name", NAMES)
def test_worked_example(name: str, tmp_path: Path) -> None:
    case = CASES[name](tmp_path, np.random.default_rng(0))
    res = api.METRICS.get(name).fn(case.worked)
    assert next(iter(res.overall)) == (case.key or name), "the headline comes first"
    assert res.overall[case.key or name] == pytest.approx(case.expected, abs=case.tol)


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("name", NAMES)
def test_perfect_beats_random_in_the_metric_direction(name: str, seed: int, tmp_path: Path) -> None:
    spec = api.METRICS.get(name)
    case = CASES[name](tmp_path, np.random.default_rng(seed))
    key = case.key or name
    perfect = spec.fn(case.perfect).overall[key]
    random = spec.fn(case.random).overall[key]
    assert np.isfinite(perfect) and np.isfinite(random)
    assert (perfect > random) if spec.higher_is_better else (perfect < random), (perfect, random)
    # the direction also decides the Scorer's comparison the runner hands to methods
    scorer = api.Scorer(metric=name, higher_is_better=spec.higher_is_better, fn=lambda s, **_: s)
    assert scorer.better(perfect, random) and not scorer.better(random, perfect)


@pytest.mark.parametrize("name", NAMES)
def test_inputs_are_not_mutated(name: str, tmp_path: Path) -> None:
    case = CASES[name](tmp_path, np.random.default_rng(0))
    inp = case.random
    before = {k: np.array(v, copy=True) for k, v in inp.scores.items()} if isinstance(inp.scores, dict) else np.array(
        inp.scores, copy=True)
    labels = None if inp.labels is None else inp.labels.copy()
    api.METRICS.get(name).fn(inp)
    if isinstance(before, dict):
        assert all(np.array_equal(before[k], inp.scores[k]) for k in before)
    else:
        assert np.array_equal(before, inp.scores)
    assert labels is None or np.array_equal(labels, inp.labels)

"""The runner's stages on hand-made data sets: prediction checks (multi-head), the validation Scorer,
named feature blocks (``layer=each``), ragged sequences and the training-source rules."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest

from harness import api
from harness.errors import InvalidParameterError, MethodError
from harness.registry import load_plugins
from harness.run_data import (
    LoadedData,
    concat_splits,
    load_sources,
    parse_source_roots,
    split_train_val,
)
from harness.run_eval import check_prediction, evaluate, make_scorer
from harness.run_inputs import build_inputs, method_data, resolve_feature_specs

load_plugins()


def _split(n: int, t: int = 3, seed: int = 0, features: dict | None = None) -> api.Split:
    rng = np.random.default_rng(seed)
    labels = (rng.random((n, t)) < 0.3).astype(np.int8)
    labels[0] = 1  # every concept has a positive
    return api.Split(ids=np.array([f"i{seed}_{k}" for k in range(n)]), groups=np.array([f"g{k % 5}" for k in range(n)]),
                     labels=labels, features=features)  # fmt: skip


def _dataset(n: int = 20, heads: dict | None = None, features: bool = False, **kw) -> api.Dataset:
    feats = (lambda s: {"CH": np.random.default_rng(s).random((n, 4)), "EDH": np.random.default_rng(s + 1).random((n, 2))}) \
        if features else (lambda s: None)  # fmt: skip
    train, test = _split(n, seed=1, features=feats(1)), _split(n, seed=2, features=feats(2))
    return api.Dataset(name="toy", task="multilabel", concepts=("a", "b", "c"), train=train, test=test,
                       protocol=api.Protocol(metric="map", eval_concepts=("a", "b"), heads=heads or {}),
                       manifest_hash="m", root=Path("."), info={"k": 1}, **kw)  # fmt: skip


def test_prediction_matrix_shape_and_finiteness() -> None:
    ds = _dataset()
    ok = check_prediction(np.zeros((20, 3)), ds, ds.test)
    assert ok.shape == (20, 3)
    with pytest.raises(MethodError, match=r"shape \(20, 2\), expected \(20, 3\)"):
        check_prediction(np.zeros((20, 2)), ds, ds.test)
    bad = np.zeros((20, 3))
    bad[3, 1] = np.nan
    with pytest.raises(MethodError, match="1 non-finite"):
        check_prediction(bad, ds, ds.test)


def test_prediction_heads_are_checked_against_the_protocol() -> None:
    ds = _dataset(heads={"scene": (4,), "importance": ()})
    good = {"scene": np.zeros((20, 4)), "importance": np.zeros(20)}
    out = check_prediction(good, ds, ds.test)
    assert set(out) == {"scene", "importance"}
    with pytest.raises(MethodError, match="expects"):
        check_prediction({"scene": np.zeros((20, 4))}, ds, ds.test)
    with pytest.raises(MethodError, match=r"head 'scene' of shape \(20, 5\)"):
        check_prediction({**good, "scene": np.zeros((20, 5))}, ds, ds.test)
    with pytest.raises(MethodError, match="non-finite values in head 'importance'"):
        check_prediction({**good, "importance": np.full(20, np.inf)}, ds, ds.test)
    with pytest.raises(MethodError, match="mapping of heads"):
        check_prediction(np.zeros((20, 3)), ds, ds.test)


def test_scorer_equals_the_protocol_metric_and_honours_rows_labels_and_concepts() -> None:
    ds = _dataset()
    scores = np.random.default_rng(5).random((20, 3))
    scorer = make_scorer(ds, ds.test)
    assert scorer is not None and scorer.metric == "map" and scorer.higher_is_better
    assert scorer(scores) == pytest.approx(evaluate(ds, scores, ds.test, "val").overall["map"])
    rows = np.arange(10)
    assert scorer(scores, rows=rows) == pytest.approx(evaluate(ds, scores[rows], ds.test.subset(rows), "val").overall["map"])
    # all_concepts scores c too (the protocol evaluates a and b only)
    full = api.Dataset(**{**ds.__dict__, "protocol": api.Protocol(metric="map")})
    assert scorer(scores, all_concepts=True) == pytest.approx(evaluate(full, scores, ds.test, "val").overall["map"])
    assert scorer(scores, all_concepts=True) != pytest.approx(scorer(scores))
    # labels= replaces the labels: -1 rows leave the ranking
    labels = np.array(ds.test.labels)
    labels[10:] = -1
    assert scorer(scores, labels=labels) == pytest.approx(scorer(scores, rows=np.arange(10)))
    assert scorer.better(0.5, 0.4) and not scorer.better(float("nan"), 0.1) and scorer.better(0.1, float("nan"))


def test_scorer_direction_follows_a_lower_is_better_metric() -> None:
    scorer = api.Scorer(metric="hamming_loss", higher_is_better=False, fn=lambda s, **kw: 0.0)
    assert scorer.better(0.1, 0.2) and not scorer.better(0.3, 0.2) and scorer.worst == np.inf


def test_evaluate_reports_each_keys_direction() -> None:
    ds = _dataset()
    res = evaluate(ds, np.random.default_rng(0).random((20, 3)), ds.test, "test")
    assert res.directions["map"] is True and res.directions.get("ap", True) is True


def test_sequences_round_trip_pool_pad_and_subset() -> None:
    seq = api.Sequences.from_list([np.ones((2, 3)), np.zeros((0, 3)), np.arange(9.0).reshape(3, 3)])
    assert len(seq) == 3 and seq.lengths.tolist() == [2, 0, 3]
    np.testing.assert_allclose(seq[2], np.arange(9.0).reshape(3, 3))
    pooled = seq.pool("mean")
    np.testing.assert_allclose(pooled[2], [3, 4, 5])
    assert np.isnan(pooled[1]).all()
    padded, mask = seq.pad()
    assert padded.shape == (3, 3, 3) and mask.sum() == 5 and not mask[1].any()
    sub = seq.subset(np.array([2, 0]))
    assert sub.lengths.tolist() == [3, 2]
    with pytest.raises(ValueError, match="offsets end at"):
        api.Sequences(np.zeros((4, 3)), np.array([0, 2, 3]))


@dataclass(frozen=True)
class _BlocksConfig:
    backbone: str = "provided"
    layer: str = "each"


class _BlocksMethod(api.Method):
    Config = _BlocksConfig


def test_layer_each_gives_one_named_block_per_shipped_block() -> None:
    ds = _dataset(features=True)
    specs = resolve_feature_specs(_BlocksMethod, _BlocksConfig(), ds)
    assert list(specs) == ["CH", "EDH"]
    train, val = split_train_val(ds, 0.2, seed=0)
    inputs = build_inputs(_BlocksMethod, _BlocksConfig(), LoadedData(ds, train, val, ds.test), device="cpu",
                          eval_split="test")  # fmt: skip
    assert set(inputs.train.blocks) == {"CH", "EDH"} and inputs.train.features is None
    assert inputs.train.blocks["CH"].shape == (len(train), 4) and inputs.target.blocks["EDH"].shape == (20, 2)
    pos = {i: k for k, i in enumerate(ds.train.ids)}
    np.testing.assert_array_equal(inputs.val.blocks["CH"], ds.train.features["CH"][[pos[i] for i in val.ids]].astype(np.float32))
    assert inputs.train.val_score is not None and inputs.target.val_score is None and inputs.target.labels is None
    assert isinstance(inputs.train.info, MappingProxyType) and inputs.train.protocol is ds.protocol


def test_method_data_single_block_is_features_with_names() -> None:
    ds = _dataset()
    md = method_data(ds, ds.train, {"features": np.zeros((20, 2), np.float32)}, with_labels=True,
                     specs={"features": api.FeatureSpec("provided", "CH")})  # fmt: skip
    assert md.features is not None and md.feature_names == ("CH[0]", "CH[1]")
    with pytest.raises(TypeError):
        md.info["new"] = 1  # type: ignore[index]


def test_source_roots_parse_and_reject_bad_items() -> None:
    assert parse_source_roots(["sin=/data/sin"]) == {"sin": Path("/data/sin")}
    with pytest.raises(InvalidParameterError, match="NAME=DIR"):
        parse_source_roots(["nodir"])


@dataclass(frozen=True)
class _SourceConfig:
    source: str = "trecvid2013"


class _SourceMethod(api.Method):
    Config = _SourceConfig

    @classmethod
    def training_sources(cls, config: _SourceConfig) -> dict[str, api.SourceSpec]:
        return {"concepts": api.SourceSpec(config.source)}


def test_a_real_target_refuses_a_miniature_source() -> None:
    real = _dataset()
    with pytest.raises(InvalidParameterError, match="is the miniature 'trecvid2013-mini'.*real data"):
        load_sources(_SourceMethod, _SourceConfig("trecvid2013-mini"), real, {})


def test_unknown_source_roots_are_named() -> None:
    with pytest.raises(InvalidParameterError, match="not a training source"):
        load_sources(_SourceMethod, _SourceConfig(), _dataset(), {"ucf101": Path("/x")})


def test_concat_splits_keeps_every_field_in_order() -> None:
    a, b = _split(4, seed=1), _split(3, seed=2)
    both = concat_splits([a, b])
    assert len(both) == 7 and both.ids.tolist() == [*a.ids, *b.ids]
    np.testing.assert_array_equal(both.labels, np.concatenate([a.labels, b.labels]))

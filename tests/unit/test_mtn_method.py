"""The ``mtn`` method on tiny per-frame maps: every aggregator / unit / ablation setting trains and
reduces its loss, fine-tuning level B's conv5_x copy, frame sampling, the optimiser, both Table 1
selection rules in the ``coview`` metric, and the ``@map`` backbone taps it reads."""

from __future__ import annotations

from types import MappingProxyType

import numpy as np
import pytest
import torch

from harness import api
from harness.errors import DataError, InvalidParameterError
from harness.params import resolve_config
from harness.registry import load_plugins
from methods._mtn_data import FrameStore, NesterovSGD, Stream, frame_positions, gather, warmup_lr

load_plugins()
N_SCENE, N_ACTION, C, H, W = 3, 4, 6, 2, 2
PROTOCOL = api.Protocol(metric="coview", val_metric="segment_accuracy", heads={"scene": (N_SCENE,), "action": (N_ACTION,), "importance": ()},
                        options={"n_scene_classes": N_SCENE, "n_action_classes": N_ACTION, "label_base": 0})  # fmt: skip


def _data(n: int = 96, seed: int = 0) -> tuple[api.MethodData, api.MethodData]:
    """Segments of 2-5 frames of (C, H, W) maps; scene and action each lift one channel."""
    g = np.random.default_rng(seed)
    scene, action = g.integers(0, N_SCENE, n), g.integers(0, N_ACTION, n)
    frames = []
    for i in range(n):
        x = 0.5 * g.normal(size=(int(g.integers(2, 6)), C, H, W)).astype(np.float32)
        x[:, scene[i]] += 1.0
        x[:, 3 + action[i] % 3, 0] += 1.0 + (action[i] == 3)
        frames.append(x.reshape(len(x), -1))
    seq = api.Sequences.from_list(frames)
    labels = np.column_stack([scene, action, g.uniform(0, 2, n)])

    def md(idx: np.ndarray) -> api.MethodData:
        return api.MethodData(ids=np.array([f"s{i}" for i in idx]), groups=np.array([f"v{i // 6}" for i in idx]),
                              concepts=("scene", "action", "importance"), task="coview", labels=labels[idx],
                              blocks={"scene": seq.subset(idx), "action": seq.subset(idx)}, protocol=PROTOCOL,
                              info=MappingProxyType({"n_scene_classes": N_SCENE, "n_action_classes": N_ACTION}))  # fmt: skip

    return md(np.arange(0, int(n * 0.75))), md(np.arange(int(n * 0.75), n))


def _method(**sets: object) -> api.Method:
    cls = api.METHODS.get("mtn")
    base = {"fine_tuning": "a", "batch_size": 16, "base_lr": 1.6, "frames": 3, "test_frames": 3, "max_epochs": 6,
            "warmup_epochs": 1, "dim": 16, "dropout": 0.0, "map_channels": C}  # fmt: skip
    return cls(config=resolve_config(cls.Config, None, {**base, **sets}), seed=0)


SETTINGS = [
    {"aggregator": "gap"}, {"aggregator": "aqpr"}, {"aggregator": "gap_concat"}, {"aggregator": "gap_ccm"},
    {"aggregator": "mtx"}, {"aggregator": "mtx", "unit": "tx"}, {"aggregator": "mtx", "units": 1},
    {"aggregator": "mtx", "aqpr_norm": "batch"}, {"aggregator": "mtx", "aqpr_norm": "bias"},
    {"aggregator": "mtx", "aqpr_norm": "none"}, {"aggregator": "aqpr", "aqpr_norm": "none"},
    {"aggregator": "gap_ccm", "ccm_backprop": True}, {"aggregator": "mtx", "ccm_backprop": True},
    {"aggregator": "gap", "importance_training": "only_is"},
]  # fmt: skip


@pytest.mark.parametrize("sets", SETTINGS, ids=lambda s: "-".join(f"{k}={v}" for k, v in s.items()))
def test_every_setting_trains_and_reduces_its_loss(sets: dict[str, object]) -> None:
    train, val = _data()
    m = _method(**sets).fit(train, val)
    losses = [h["train_loss"] for h in m.history_]
    assert losses[-1] < losses[0], losses
    pred = m.predict(val)
    assert pred["scene"].shape == (len(val), N_SCENE) and pred["action"].shape == (len(val), N_ACTION)
    np.testing.assert_allclose(pred["scene"].sum(1), 1.0, atol=1e-5)
    assert ((pred["importance"] >= 0) & (pred["importance"] <= 2)).all()
    if sets.get("importance_training") != "only_is":
        assert m.best_val_score_ is not None and m.val_metric_ == "segment_accuracy"


def test_prediction_is_deterministic_and_per_segment() -> None:
    train, val = _data()
    a = _method(aggregator="mtx").fit(train, val).predict(val)
    m = _method(aggregator="mtx").fit(train, val)
    b = m.predict(val)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    perm = np.random.default_rng(3).permutation(len(val))
    shuffled = api.MethodData(ids=val.ids[perm], groups=val.groups[perm], concepts=val.concepts, task="coview",
                              blocks={k: v.subset(perm) for k, v in val.blocks.items()}, protocol=PROTOCOL)  # fmt: skip
    c = m.predict(shuffled)
    for k in a:
        np.testing.assert_allclose(c[k], b[k][perm], rtol=1e-5, atol=1e-6)
    maps = m.attention_maps(val, np.arange(4))
    assert maps["scene"].shape == (4, 3, 2, 2)  # 4 positions per frame, drawn as 2 x 2


def test_fit_records_attention_maps_and_draws_them(tmp_path) -> None:  # noqa: ANN001
    from methods._mtn_plots import attention_figure

    train, val = _data()
    m = _method(aggregator="mtx", max_epochs=2).fit(train, val)
    att = m.attention_
    assert att["segments"] == [str(i) for i in val.ids[:4]] and np.asarray(att["action"]).shape == (4, 3, 2, 2)
    assert attention_figure(att, tmp_path / "att.png").stat().st_size > 1000
    assert not hasattr(_method(aggregator="gap", max_epochs=1).fit(train, val), "attention_")


def test_only_is_needs_gap_and_b_needs_maps() -> None:
    with pytest.raises(InvalidParameterError):
        _method(aggregator="mtx", importance_training="only_is")
    train, _ = _data(24)
    pooled = api.MethodData(ids=train.ids, groups=train.groups, concepts=train.concepts, task="coview", labels=train.labels,
                            blocks={k: v.pool() for k, v in train.blocks.items()}, protocol=PROTOCOL)  # fmt: skip
    with pytest.raises(DataError, match="fine_tuning=b"):
        _method(fine_tuning="b", map_channels=0).fit(pooled)
    _method(fine_tuning="a", max_epochs=1, map_channels=0).fit(pooled)  # plain (n, d) blocks: one 1x1 map per segment


def test_feature_specs_cache_the_frozen_layer_maps() -> None:
    cls = api.METHODS.get("mtn")
    specs = cls.feature_specs(cls.Config())
    assert {k: (s.layer, s.pooling, s.max_frames) for k, s in specs.items()} == {
        "scene": ("conv4_x@map", "none", 64), "action": ("conv4_x@map", "none", 64)}
    a = cls.feature_specs(resolve_config(cls.Config, None, {"fine_tuning": "a"}))
    assert a["scene"].layer == "conv5_x@map"
    declared = dict(cls.miniature_settings)
    assert declared["batch_size"][0] == 32


def test_level_b_trains_a_copy_of_conv5() -> None:
    torch.manual_seed(0)
    conv5 = torch.nn.Sequential(torch.nn.Conv2d(C, 5, 3, padding=1), torch.nn.ReLU())
    frozen = [p.detach().clone() for p in conv5.parameters()]
    stream = Stream((C, H, W), conv5)
    assert stream.channels() == 5
    x, m = torch.randn(2, 3, C * H * W), torch.ones(2, 3)
    tokens, mask = stream(x, m)
    assert tokens.shape == (2, 3 * H * W, 5) and mask.shape == (2, 3 * H * W)
    ref = conv5(x.reshape(6, C, H, W)).reshape(2, 3, 5, H * W).permute(0, 1, 3, 2).reshape(2, -1, 5)
    torch.testing.assert_close(tokens, ref)  # at the start the copy is the backbone's conv5_x
    tokens.sum().backward()
    assert all(p.grad is not None for p in stream.block.parameters())
    for p, q in zip(conv5.parameters(), frozen, strict=True):  # the backbone itself is untouched
        assert p.grad is None and torch.equal(p.detach(), q)


def test_frame_sampling() -> None:
    g = np.random.default_rng(0)
    drawn = frame_positions(25, 8, g)
    assert len(set(drawn.tolist())) == 8 and (np.diff(drawn) > 0).all()
    assert frame_positions(10, 4, None).tolist() == [1, 3, 6, 8]  # evenly, as harness.features.frame_selection
    assert frame_positions(3, 8, g).tolist() == [0, 1, 2]
    assert frame_positions(5, 0, None).tolist() == [0, 1, 2, 3, 4]  # test_frames=0: every frame
    store = FrameStore.of(api.Sequences.from_list([np.ones((2, 3)), 2 * np.ones((4, 3))]), "x")
    x, mask = gather(store, np.array([1, 0]), [np.array([0, 3]), np.array([1])])
    assert x.shape == (2, 2, 3) and mask.tolist() == [[1, 1], [1, 0]] and x[1, 1].sum() == 0


def test_nesterov_matches_torch_sgd() -> None:
    from torch.optim import SGD

    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(5))
    b = torch.nn.Parameter(a.detach().clone())
    mine, ref = NesterovSGD([a], 0.9, 1e-4), SGD([b], lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4)
    for _ in range(4):
        for p, opt in ((a, mine), (b, ref)):
            opt.zero_grad()
            (p**2).sum().backward()
        mine.step(0.1)
        ref.step()
    torch.testing.assert_close(a.detach(), b.detach())
    assert [warmup_lr(1.0, s, 4) for s in (0, 1, 3, 9)] == [0.25, 0.5, 1.0, 1.0]


def test_coview_metric_scores_both_selection_rules() -> None:
    """One prediction, two selections: by the importance head, and by Eq. 4 (pp_ keys)."""
    from harness.api import METRICS
    from metrics.functional import coview_scores, post_processed_selection

    g = np.random.default_rng(0)
    n = 16
    vid = np.array(["a"] * 9 + ["b"] * 7)
    sc, ac = g.dirichlet(np.ones(3), n), g.dirichlet(np.ones(4), n)
    imp = g.uniform(0, 2, n)
    labels = np.column_stack([g.integers(0, 3, n), g.integers(0, 4, n), g.uniform(0, 2, n)])
    data = api.EvalInput(scores={"scene": sc, "action": ac, "importance": imp}, ids=np.arange(n).astype(str),
                         concepts=("scene", "action", "importance"), protocol=PROTOCOL, labels=labels, groups=vid)  # fmt: skip
    res = METRICS.get("coview").fn(data)
    plain = coview_scores(vid, imp, sc, ac, labels[:, 0], labels[:, 1], labels[:, 2])
    pp = coview_scores(vid, post_processed_selection(sc, ac, imp), sc, ac, labels[:, 0], labels[:, 1], labels[:, 2])
    assert res.overall["hs_scene@1"] == pytest.approx(plain.hs_scene_1)
    assert res.overall["is_accuracy"] == pytest.approx(plain.is_accuracy)
    assert res.overall["pp_hs_scene@1"] == pytest.approx(pp.hs_scene_1)
    assert res.overall["pp_hs_action@1"] == pytest.approx(pp.hs_action_1)
    assert res.overall["pp_is_accuracy"] == pytest.approx(pp.is_accuracy)
    assert res.overall["pp_is_accuracy"] != res.overall["is_accuracy"]  # the two selections differ here


def test_backbone_map_taps() -> None:
    from harness import backbones

    bb = backbones.build_trunk("mini_alexnet", "random")
    x = torch.randn(2, 3, bb.input_size, bb.input_size)
    with torch.no_grad():
        maps = bb.extractor("conv4_x@map")(x)
        ref = bb.trunk.upto("conv4")(x)
        pooled = bb.extractor("conv4")(x)
    assert backbones.map_shape(bb, "conv4_x") == tuple(ref.shape[1:]) == (64, 7, 7)
    torch.testing.assert_close(maps, ref.flatten(1))
    torch.testing.assert_close(pooled, ref.mean(dim=(2, 3)))
    assert backbones.stage_layer("resnet18", "conv4_x") == "layer3" and backbones.stage_layer("resnet18", "conv5_x") == "layer4"
    assert backbones.stage_layer("mini_alexnet", "conv5_x") == "conv5"
    backbones.check_layer("resnet18", "conv5_x@map")
    with pytest.raises(Exception, match="no layer"):
        backbones.check_layer("mini_alexnet", "conv9@map")


def test_test_frames_is_a_predict_time_setting_of_one_model() -> None:
    """Runs that differ only in test_frames train identical weights (Table 2 rows 3-4: one model)."""
    train, val = _data()
    a = _method(aggregator="mtx", max_epochs=3, test_frames=3).fit(train, val)
    b = _method(aggregator="mtx", max_epochs=3, test_frames=0).fit(train, val)
    for (k, x), (_, y) in zip(a.model_.state_dict().items(), b.model_.state_dict().items(), strict=True):
        torch.testing.assert_close(x, y, msg=k)
    assert a.best_epoch_ == b.best_epoch_
    pa, pb = a.predict(val), b.predict(val)  # every frame (up to 5) vs 3 of them
    assert not np.allclose(pa["scene"], pb["scene"])


def test_amp_is_a_no_op_on_cpu() -> None:
    train, val = _data()
    a = _method(aggregator="gap", max_epochs=2, amp=True).fit(train, val).predict(val)
    b = _method(aggregator="gap", max_epochs=2, amp=False).fit(train, val).predict(val)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])

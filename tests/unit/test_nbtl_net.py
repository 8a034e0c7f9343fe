"""The fine-tuned frame head: per-layer learning rates, dropped units, clip aggregation; and the
``finetune_cnn`` -> ``nbtl`` path on synthetic frame features (one cached fine-tuning, many drop settings)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.api import MethodData, Sequences
from harness.backbones import build_trunk
from methods import _nbtl_net as nets
from methods.finetune_cnn import FinetuneCNN
from methods.nbtl import NBTL, finetune_reference

SMALL = {"backbone": "mini_alexnet", "backbone_weights": "random", "train_layers": "fc", "batch_size": 32,
         "max_epochs": 2}


@pytest.fixture(scope="module")
def head() -> nets.FrameHead:
    return nets.build_head(build_trunk("mini_alexnet", "random"), 4, torch.Generator().manual_seed(0), 0.01)


def test_last_two_fc_layers_learn_ten_times_faster(head: nets.FrameHead) -> None:
    opt = torch.optim.SGD(nets.param_groups(head, 0.001, 10.0), momentum=0.9, weight_decay=5e-4)
    lrs = {g["name"]: g["lr"] for g in opt.param_groups}
    assert lrs == {"earlier": pytest.approx(0.001), "last_two_fc": pytest.approx(0.01)}
    fast = {id(p) for p in opt.param_groups[1]["params"]}
    assert fast == {id(p) for p in [*head.fc7.parameters(), *head.fc8.parameters()]}
    assert not fast & {id(p) for p in head.fc6.parameters()}


def test_dropped_units_are_zero_and_only_their_outgoing_weights_change(head: nets.FrameHead) -> None:
    import copy

    net = copy.deepcopy(head).eval()
    w7_before, w8_before = net.effective_weights()
    net.drop(np.array([3, 7]), np.array([5]))
    h6, h7, _ = net.activations(torch.rand(6, net.in_features) * 4)
    assert (h7[:, [3, 7]] == 0).all() and (h6[:, 5] == 0).all()
    w7, w8 = net.effective_weights()
    changed8 = np.flatnonzero((w8 != w8_before).any(axis=0))
    changed7 = np.flatnonzero((w7 != w7_before).any(axis=0))
    assert changed8.tolist() == [3, 7] and changed7.tolist() == [5]
    assert (w8[:, [3, 7]] == 0).all() and (w7[:, 5] == 0).all()


def test_clip_means_average_frame_softmax() -> None:
    probs = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.3, 0.4, 0.3], [1.0, 0.0, 0.0]])
    out = nets.clip_means(probs, np.array([0, 3, 3, 4]))  # METHODS.md 1.8 example, an empty clip, one frame
    assert out[0] == pytest.approx([0.366667, 0.4, 0.233333], abs=1e-6) and out[0].argmax() == 1
    assert out[1] == pytest.approx([1 / 3] * 3) and out[2] == pytest.approx([1.0, 0.0, 0.0])


def _frames(n_clips: int, seed: int, spread: float = 2.0) -> MethodData:
    rng = np.random.default_rng(seed)
    labels = np.arange(n_clips) % 4
    centres = rng.random((4, 432)) * spread
    seqs = Sequences.from_list([centres[c] + rng.random((6, 432)).astype(np.float32) for c in labels])
    ids = np.array([f"v_{i:03d}" for i in range(n_clips)])
    return MethodData(ids=ids, groups=ids, concepts=("a", "b", "c", "d"), task="multiclass", labels=labels,
                      features=seqs, default_backbone="mini_alexnet")  # fmt: skip


def test_one_fine_tuning_is_shared_by_every_drop_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from harness.params import resolve_config

    fits: list[int] = []
    original = FinetuneCNN.fit

    def counting_fit(self: FinetuneCNN, train: MethodData, val: MethodData | None = None) -> FinetuneCNN:
        fits.append(self.seed)
        return original(self, train, val)

    monkeypatch.setattr(FinetuneCNN, "fit", counting_fit)
    train, test = _frames(40, 0), _frames(12, 1)
    dropped = []
    for layers, ratio in [("last", 0.1), ("last_two", 0.2), ("second_to_last", 0.1)]:
        cfg = resolve_config(NBTL.Config, SMALL, [f"drop_layers={layers}", f"drop_ratio={ratio}"])
        model = NBTL(config=cfg, seed=3).fit(train)
        scores = model.predict(test)
        assert scores.shape == (12, 4) and np.allclose(scores.sum(1), 1.0)
        dropped.append((len(model.dropped_fc7_), len(model.dropped_fc6_)))
    assert fits == [3]  # one fine-tuning; the other two settings read the cached network
    assert dropped[0][1] == 0 and dropped[2][0] == 0 and dropped[1][0] >= dropped[0][0]
    assert finetune_reference(cfg).startswith("finetune_cnn:backbone=mini_alexnet")


def test_penalty_set_is_every_misclassified_held_out_frame_and_refit_keeps_masks() -> None:
    from harness.params import resolve_config

    train = _frames(40, 0, spread=0.05)  # classes that overlap: some held-out frames are misclassified
    base = FinetuneCNN(config=resolve_config(FinetuneCNN.Config, SMALL), seed=1).fit(train)
    hold = base.holdout(train)
    seqs = train.features
    probs = nets.frame_outputs(base.head_, seqs.values[hold], torch.device("cpu"))[2]
    frame_labels = np.repeat(train.labels, np.diff(seqs.offsets))[hold]
    wrong = probs.argmax(1) != frame_labels
    model = NBTL(config=resolve_config(NBTL.Config, {**SMALL, "refit_epochs": 1, "drop_ratio": 0.5}), seed=1).fit(train)
    assert model.penalty_frames_ == int(wrong.sum()) > 0
    clips_of_held = np.repeat(np.arange(40), np.diff(seqs.offsets))[hold]
    assert model.penalty_clips_ == len(set(clips_of_held[wrong].tolist()))
    assert len(model.refit_losses_) == 1 and model.dropped_fc7_
    w7, w8 = model.head_.effective_weights()
    assert (w8[:, model.dropped_fc7_] == 0).all() and (w7[:, model.dropped_fc6_] == 0).all()
    assert not torch.equal(model.head_.fc8.weight, base.head_.fc8.weight)  # the refit trained fc8


def test_end_to_end_fine_tuning_is_refused_not_faked() -> None:
    from harness.errors import InvalidParameterError

    assert NBTL.feature_spec(NBTL.Config()) is None  # the paper's mode reads raw clips ...
    with pytest.raises(InvalidParameterError, match="frame store"):  # ... and is refused until the frame store exists
        NBTL(config=NBTL.Config()).fit(_frames(8, 0))
    with pytest.raises(InvalidParameterError, match="frame store"):
        FinetuneCNN(config=FinetuneCNN.Config()).fit(_frames(8, 0))

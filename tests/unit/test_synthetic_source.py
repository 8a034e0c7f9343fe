"""The multi-label synthetic source domain and the batch-norm folding used when pretraining mini_alexnet."""

from __future__ import annotations

import numpy as np
import torch

from harness import synthetic_source as ss
from harness._nets import build_mini_alexnet, fold_batchnorm, insert_batchnorm


def test_source_images_are_deterministic_and_labelled_as_drawn() -> None:
    x1, y1 = ss.source_dataset(64, seed=3)
    x2, y2 = ss.source_dataset(64, seed=3)
    np.testing.assert_array_equal(x1, x2)
    np.testing.assert_array_equal(y1, y2)
    assert x1.shape == (64, 64, 64, 3) and x1.dtype == np.uint8
    assert y1.shape == (64, len(ss.SOURCE_CLASSES)) and set(np.unique(y1)) <= {0.0, 1.0}
    n_obj = len(ss.OBJECT_LABELS)
    textures = y1[:, n_obj:].sum(1)
    objects = y1[:, :n_obj].sum(1)
    assert ((textures >= 1) & (textures <= 2)).all()  # one background texture, or two at a horizon
    assert ((objects >= 0) & (objects <= 3)).all()
    assert set(objects.astype(int)) == {0, 1, 2, 3}
    assert not np.array_equal(x1, ss.source_dataset(64, seed=4)[0])


def test_colour_families_leave_gaps_for_the_clutter_hues() -> None:
    bands = sorted(list(ss.COLOUR_FAMILIES.values()) + list(ss.CLUTTER_HUES))
    for (_, hi), (lo, _) in zip(bands, bands[1:], strict=False):
        assert lo - hi >= 10, bands  # unlabelled clutter can never take a labelled object's hue


def test_folding_batchnorm_keeps_the_function_and_the_plain_shape() -> None:
    torch.manual_seed(0)
    net = insert_batchnorm(build_mini_alexnet(len(ss.SOURCE_CLASSES)))
    net.train()
    for _ in range(3):  # give the running statistics non-trivial values
        net(torch.randn(16, 3, 64, 64) * 2 + 0.5)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
    net.eval()
    x = torch.randn(8, 3, 64, 64)
    with torch.no_grad():
        before = net(x)
        fold_batchnorm(net)
        after = net(x)
    assert torch.allclose(before, after, atol=1e-4, rtol=1e-4)
    plain = build_mini_alexnet(len(ss.SOURCE_CLASSES))
    assert net.state_dict().keys() == plain.state_dict().keys()
    plain.load_state_dict(net.state_dict())  # the cached weights load into the deployed architecture


def test_fold_batchnorm_ignores_plain_nets() -> None:
    net = build_mini_alexnet(4)
    state = {k: v.clone() for k, v in net.state_dict().items()}
    fold_batchnorm(net)
    for k, v in net.state_dict().items():
        assert torch.equal(v, state[k])


def test_the_recipe_passed_in_shapes_the_images() -> None:
    import dataclasses

    one_object = dataclasses.replace(ss.PRETRAIN, object_count_probs=(0.0, 1.0), second_texture_prob=0.0)
    _, y = ss.source_dataset(32, seed=0, recipe=one_object)
    n_obj = len(ss.OBJECT_LABELS)
    assert (y[:, :n_obj].sum(1) == 1).all() and (y[:, n_obj:].sum(1) == 1).all()

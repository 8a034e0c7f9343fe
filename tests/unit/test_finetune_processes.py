"""The six fine-tuning processes of DMTL_LC's Table 1 (METHODS.md 2.1), keyframe stores and batching."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from harness.errors import DataError, InvalidParameterError  # noqa: E402
from methods import _finetune as ft  # noqa: E402


@pytest.fixture(scope="module")
def backbone():  # noqa: ANN201
    from harness.backbones import build_trunk

    # Random weights: the shapes are what is tested; no pretraining needed.
    return build_trunk("mini_alexnet", "random")


@pytest.mark.parametrize(
    ("key", "kind", "h", "dim"),
    [("a", "baseline", 7, 256), ("b", "extension", 7, 1096), ("c", "extension", 7, 2048),
     ("d", "extension", 7, 4096), ("e", "reinit", 6, 1096), ("f", "reinit", 6, 2048)],
)
def test_process_shapes(backbone, key: str, kind: str, h: int, dim: int) -> None:  # noqa: ANN001
    proc = ft.process_of(key)
    assert (proc.kind, proc.h) == (kind, h)
    assert proc.h + proc.r <= 8  # H + R <= V_so
    trunk = ft.build_finetune_trunk(backbone, proc, torch.Generator().manual_seed(0))
    assert trunk.out_dim == dim
    trunk.eval()
    out = trunk(torch.zeros(3, 3, 64, 64))
    assert out.shape == (3, dim)
    assert (out >= 0).all(), "the trunk output is a ReLU output"
    copied = list(dict(trunk.copied.named_children()))
    assert copied[-1] == ("fc7" if h == 7 else "fc6")
    assert "fc8" not in copied


def test_copied_layers_are_copies_with_source_weights(backbone) -> None:  # noqa: ANN001
    trunk = ft.build_finetune_trunk(backbone, ft.process_of("b"), torch.Generator().manual_seed(0))
    src = backbone.trunk.blocks["conv1"][0].weight
    dst = trunk.copied.conv1[0].weight
    torch.testing.assert_close(dst, src)
    with torch.no_grad():
        dst.add_(1.0)
    assert not torch.equal(dst, src), "fine-tuning must not modify the cached source network"


def test_new_layers_gaussian_std_001_zero_bias(backbone) -> None:  # noqa: ANN001
    trunk = ft.build_finetune_trunk(backbone, ft.process_of("d"), torch.Generator().manual_seed(0))
    linear = trunk.new[0]
    assert linear.weight.shape == (4096, 256)
    assert abs(float(linear.weight.detach().std()) - 0.01) < 5e-4
    assert float(linear.bias.detach().abs().max()) == 0.0
    reinit = ft.build_finetune_trunk(backbone, ft.process_of("e"), torch.Generator().manual_seed(0))
    assert isinstance(reinit.new[0], torch.nn.Dropout), "a re-initialised fc7 keeps fc7's dropout"
    assert reinit.new[1].weight.shape == (1096, 256)


def test_width_override_amb9() -> None:
    assert ft.process_of("b", 1024).width == 1024
    assert ft.process_of("e", 1024).width == 1024
    assert ft.process_of("a", 1024).width is None  # the baseline has no new layer


def test_unknown_process_and_non_alexnet_backbone(backbone) -> None:  # noqa: ANN001
    with pytest.raises(InvalidParameterError, match="Unknown fine-tuning process 'g'"):
        ft.process_of("g")
    fake = SimpleNamespace(family="resnet", name="resnet18")
    with pytest.raises(InvalidParameterError, match="AlexNet-shaped"):
        ft.build_finetune_trunk(fake, ft.process_of("a"), torch.Generator())


def test_shuffled_batches_cover_rows_once() -> None:
    rows = np.arange(100, 160)
    batches = ft.shuffled_batches(rows, 16, np.random.default_rng(1))
    assert [len(b) for b in batches] == [16, 16, 16, 12]
    assert sorted(np.concatenate(batches).tolist()) == rows.tolist()
    again = ft.shuffled_batches(rows, 16, np.random.default_rng(1))
    assert all((a == b).all() for a, b in zip(batches, again, strict=True))


def _write_images(folder, n: int, size: tuple[int, int]) -> list[str]:  # noqa: ANN001
    from PIL import Image

    paths = []
    g = np.random.default_rng(0)
    for i in range(n):
        p = folder / f"img{i}.png"
        Image.fromarray(g.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


def test_image_store_crops_and_normalises(tmp_path) -> None:  # noqa: ANN001
    paths = _write_images(tmp_path, 4, (40, 30))
    store = ft.ImageStore.with_preprocessing(paths, (32, 24, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)))
    assert store.images is not None and store.images.shape == (4, 3, 32, 32)
    (idx, images), = list(store.iterate([np.array([2, 0])]))
    assert idx.tolist() == [2, 0]
    test_x = store.to_input(images, train=False, generator=None, device=torch.device("cpu"))
    assert test_x.shape == (2, 3, 24, 24)
    expected = (store.images[2, :, 4:28, 4:28].float() / 255 - 0.5) / 0.25  # centre crop
    torch.testing.assert_close(test_x[0], expected)
    gen = torch.Generator().manual_seed(0)
    crops = {tuple(store.to_input(images, train=True, generator=gen, device=torch.device("cpu"))[0, 0, 0, :3].tolist())
             for _ in range(8)}
    assert len(crops) > 1, "training batches take random crops"


def test_image_store_streams_when_over_the_memory_limit(tmp_path) -> None:  # noqa: ANN001
    paths = _write_images(tmp_path, 5, (20, 20))
    store = ft.ImageStore.with_preprocessing(paths, (16, 16, (0, 0, 0), (1, 1, 1)), memory_limit_mb=0, num_workers=0)
    assert store.images is None
    got = [images for _, images in store.iterate([np.array([0, 1]), np.array([4])])]
    assert [g.shape[0] for g in got] == [2, 1]
    np.testing.assert_array_equal(got[1][0].numpy(), ft.decode_square(paths[4], 16))


def test_missing_paths_give_a_clear_error() -> None:
    with pytest.raises(DataError, match="no keyframe paths"):
        ft.ImageStore.with_preprocessing(None, (16, 16, (0, 0, 0), (1, 1, 1)))


def test_auto_backbone_by_keyframe_size(tmp_path) -> None:  # noqa: ANN001
    small = _write_images(tmp_path, 1, (64, 64))
    assert ft.resolve_backbone_name("auto", small) == "mini_alexnet"
    big_dir = tmp_path / "big"
    big_dir.mkdir()
    big = _write_images(big_dir, 1, (320, 240))
    assert ft.resolve_backbone_name("auto", big) == "alexnet"
    assert ft.resolve_backbone_name("vgg16", big) == "vgg16"

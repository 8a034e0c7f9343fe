"""Benchmark of MMDL-EG and ML-kNN (not a test): issue 13's two bars, measured in one process.

Usage::

    .venv/bin/python benchmarks/bench_mmdl_eg.py [--train 161789 --test 107859] [--dim 500]
        [--labels 81] [--dtype float64] [--modality-hidden 64] [--modality-items 512] [--epochs 1]

1. ``mlknn`` fit + predict on simulated features (uniform [0, 1], NUS-WIDE's 500-d BoW width and
   81 labels; defaults = NUS-WIDE's official split sizes). Neighbour search dominates: it is
   O(n_train^2 d) for fit and O(n_test n_train d) for predict, so a smaller ``--train`` /
   ``--test`` gives a number to scale (the script prints the scaling it implies, labelled as such).
0. Each hand-crafted image feature (``backbone=handcrafted``): images per second on one core.
2. The 36 modality networks of METHODS.md 2.9 (12 blocks of the paper's widths: 128, 225, 37, 36,
   59, 960 and six 5000-d BoVW blocks, x 3 similarities) trained with the same batches and epochs
   grouped (one set of stacked tensors, ``torch.bmm``) and one network after another; the ratio
   of wall times and the largest difference of their weights.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

PAPER_BLOCKS = {"hsv": 128, "lab": 225, "edh": 37, "wavelet": 36, "lbp": 59, "gist": 960,
                **{f"bovw{i}": 5000 for i in range(6)}}  # fmt: skip


def bench_mlknn(n_train: int, n_test: int, dim: int, labels: int, dtype: str) -> None:
    from methods._knn import nearest_neighbours
    from methods.mlknn import fit_mlknn, neighbour_counts

    g = np.random.default_rng(0)
    X = g.random((n_train, dim), dtype=np.float32)
    T = g.random((n_test, dim), dtype=np.float32)
    y = (g.random((n_train, labels)) < 0.03).astype(np.int8)
    t0 = time.perf_counter()
    model = fit_mlknn(X, y, 10, 1.0, dtype=dtype)
    fit = time.perf_counter() - t0
    t0 = time.perf_counter()
    yes, no = model.posterior_parts(neighbour_counts(model.positives, nearest_neighbours(X, T, 10, dtype=dtype)))
    pred = time.perf_counter() - t0
    print(f"mlknn {n_train} train x {n_test} test x {dim} d, {labels} labels, {dtype}: fit {fit:.1f} s, "
          f"predict {pred:.1f} s (positives predicted: {float((yes > no).mean()):.4f})")  # fmt: skip
    if (n_train, n_test) != (161789, 107859):
        scale_fit = (161789 / n_train) ** 2
        scale_pred = (161789 * 107859) / (n_train * n_test)
        print(f"  scaled to NUS-WIDE's 161,789 x 107,859 by the O(n^2 d) search cost (an extrapolation, not a "
              f"measurement): fit ~{fit * scale_fit:.0f} s, predict ~{pred * scale_pred:.0f} s")  # fmt: skip


def bench_modalities(hidden: int, items: int, epochs: int) -> None:
    import torch

    from methods._mmdl_nets import Modality, ModalityNets, NetShape, Stage1Settings, train_stage1

    torch.set_num_threads(1)  # one core for both sides: the ratio does not depend on how busy the others are
    g = np.random.default_rng(1)
    blocks = {name: torch.as_tensor(g.random((items, d), dtype=np.float32)) for name, d in PAPER_BLOCKS.items()}
    y = np.zeros((items, 81), dtype=np.int8)
    y[np.arange(items), g.integers(81, size=items)] = 1
    mods = [Modality(b, m, {"linear": 1.0, "cosine": 0.18, "rbf": 0.18}[m]) for b in PAPER_BLOCKS
            for m in ("linear", "cosine", "rbf")]  # fmt: skip
    dims = {name: t.shape[1] for name, t in blocks.items()}
    shape = NetShape(hidden, 81, 0.6)
    settings = Stage1Settings(epochs, 128, 0.01, 0.9)
    device = torch.device("cpu")
    # Warm-up (first SGD step imports torch's compiler stack, seconds that belong to neither side).
    train_stage1(ModalityNets(mods[:1], dims, shape, 0, device), blocks, y[:16], Stage1Settings(1, 16, 0.01, 0.9), 0)
    t0 = time.perf_counter()
    grouped = ModalityNets(mods, dims, shape, 0, device)
    train_stage1(grouped, blocks, y, settings, 0)
    t_grouped = time.perf_counter() - t0
    t0 = time.perf_counter()
    alone = []
    for mod in mods:
        net = ModalityNets([mod], dims, shape, 0, device)
        train_stage1(net, blocks, y, settings, 0)
        alone.append(net)
    t_alone = time.perf_counter() - t0
    diff = max(float(np.abs(pg - pa).max()) for j, net in enumerate(alone)
               for pg, pa in zip(grouped.modality_state(j), net.modality_state(0), strict=True))  # fmt: skip
    print(f"36 modality networks (hidden {hidden}, {items} items, {epochs} epoch(s), batch 128, float32, "
          f"{torch.get_num_threads()} torch threads): grouped {t_grouped:.1f} s, one at a time {t_alone:.1f} s, "
          f"ratio {t_alone / t_grouped:.2f}x; largest weight difference {diff:.2e}")  # fmt: skip


def bench_image_features(n_images: int, size: int) -> None:
    """Images per second on one core (in process, no pool) for each hand-crafted feature."""
    from methods._image_features import LAYERS

    g = np.random.default_rng(2)
    # Smooth random images (noise blurred by upsampling) so edges and textures are not pure noise.
    images = [np.kron(g.integers(0, 256, (size // 8, size // 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)
              for _ in range(n_images)]  # fmt: skip
    for layer, (dim, fn) in LAYERS.items():
        t0 = time.perf_counter()
        for im in images:
            fn(im)
        dt = time.perf_counter() - t0
        print(f"handcrafted.{layer} ({dim}-d) on {size}x{size} RGB: {n_images / dt:.1f} images/s on one core")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--train", type=int, default=161789)
    p.add_argument("--test", type=int, default=107859)
    p.add_argument("--dim", type=int, default=500)
    p.add_argument("--labels", type=int, default=81)
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    p.add_argument("--modality-hidden", type=int, default=64)
    p.add_argument("--modality-items", type=int, default=512)
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--images", type=int, default=100, help="synthetic images for the feature timing")
    p.add_argument("--image-size", type=int, default=256)
    p.add_argument("--skip-features", action="store_true")
    p.add_argument("--skip-mlknn", action="store_true")
    p.add_argument("--skip-modalities", action="store_true")
    args = p.parse_args()
    if not args.skip_features:
        bench_image_features(args.images, args.image_size)
    if not args.skip_mlknn:
        bench_mlknn(args.train, args.test, args.dim, args.labels, args.dtype)
    if not args.skip_modalities:
        bench_modalities(args.modality_hidden, args.modality_items, args.epochs)


if __name__ == "__main__":
    main()

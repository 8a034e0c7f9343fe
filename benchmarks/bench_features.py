"""Benchmark (not a test): feature extraction throughput and miniature generation time.

Usage::

    .venv/bin/python benchmarks/bench_features.py [--device cpu|cuda] [--items 256] [--threads N]

Measures, in a temporary ``HARNESS_HOME`` (nothing is reused from your cache):

1. generation of ``trecvid2013-mini`` (4,000 keyframes + annotation + qrels) and
   ``trecvid-avs2016-mini`` (1,500 keyframes), wall and process CPU time;
2. extraction throughput (items/s, decode + preprocess + forward, no caching) on the first
   ``--items`` training keyframes of the miniature for ``mini_alexnet`` (fc7) and torchvision
   ``resnet18`` (avgpool) and ``alexnet`` (fc7). The torchvision models run with an explicit
   **random initialisation** (``weights="random"``): the throughput does not depend on the weight
   values, and this machine may have no pretrained weights. ``mini_alexnet`` also runs with random
   weights, so the benchmark does not include its one-off pretraining (timed separately with
   ``--pretrain``).

CPU time is reported beside wall time because a shared machine distorts wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timed(fn):  # type: ignore[no-untyped-def]
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--items", type=int, default=256, help="keyframes per extraction benchmark")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    parser.add_argument("--pretrain", action="store_true", help="also time the mini_alexnet pretraining")
    args = parser.parse_args()
    os.environ["HARNESS_HOME"] = tempfile.mkdtemp(prefix="bench_features_")
    os.environ.setdefault("HARNESS_PROGRESS", "0")

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from datasets import trecvid2013, trecvid_avs2016
    from harness.api import FeatureSpec
    from harness.features import compute_features

    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, device {args.device}")  # fmt: skip
    ds, wall, cpu = timed(lambda: trecvid2013.TrecvidSin2013Mini().load(None))
    print(f"generate+load trecvid2013-mini ({len(ds.train)}+{len(ds.test)} keyframes): {wall:.2f} s wall, {cpu:.2f} s CPU")
    _, wall, cpu = timed(lambda: trecvid_avs2016.TrecvidAvs2016Mini().load(None))
    print(f"generate+load trecvid-avs2016-mini (1500 keyframes): {wall:.2f} s wall, {cpu:.2f} s CPU")
    if args.pretrain:
        from harness.synthetic_source import pretrained_weights

        _, wall, cpu = timed(pretrained_weights)
        print(f"pretrain mini_alexnet on the source domain: {wall:.1f} s wall, {cpu:.1f} s CPU")

    paths = ds.train.paths[: args.items]
    for backbone, layer in (("mini_alexnet", "fc7"), ("resnet18", "avgpool"), ("alexnet", "fc7")):
        spec = FeatureSpec(backbone, layer, weights="random")
        compute_features(paths[:8], spec, device=args.device)  # warm-up: model build, allocator
        _, wall, cpu = timed(lambda spec=spec: compute_features(paths, spec, device=args.device, batch_size=64))
        print(f"extract {backbone}.{layer} (random init, timing only): {len(paths) / wall:.1f} items/s "
              f"({len(paths)} items, {wall:.2f} s wall, {cpu:.2f} s CPU)")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Benchmark (not a test): NB-TL frame throughput on this machine, and the projection for a real split.

Usage::

    .venv/bin/python benchmarks/bench_nbtl.py [--backbone mini_alexnet|alexnet] [--threads 1] [--device cpu]

Measures, on the real UCF101 clip in ``../shared/data/videos`` (decoded with PyAV, resized to the
backbone's input size) and random weights (``random``: timing only):

1. decoding + resizing, frames/s;
2. the frozen layers up to ``pool5`` (what ``finetune_cnn train_layers=fc`` caches once per frame), frames/s;
3. fine-tuning the fc6-fc8 head on cached ``pool5`` features (SGD step, batch ``--batch``), frames/s;
4. inference of the head (frame softmax), frames/s;

then projects each stage for UCF101 split 1 (1,785,348 training and 696,976 test frames).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CLIP = REPO.parent / "shared" / "data" / "videos" / "ucf101_applyeyemakeup_clip.avi"
TRAIN_FRAMES, TEST_FRAMES = 1_785_348, 696_976


def _rate(n: int, fn) -> float:  # noqa: ANN001
    t0 = time.perf_counter()
    fn()
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbone", default="mini_alexnet")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--steps", type=int, default=20)
    args = parser.parse_args()

    import numpy as np
    import torch

    from harness import video
    from harness.backbones import build_trunk
    from methods import _nbtl_net as nets

    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    bb = build_trunk(args.backbone, "random")
    size = int(bb.input_size)
    frames = video.read_frames(CLIP)
    decode = _rate(len(frames), lambda: video.read_frames(CLIP, size=(size, size)))
    x = torch.rand(min(64, len(frames)), 3, size, size, device=device)
    trunk = bb.trunk.to(device).eval()
    with torch.no_grad():
        trunk(x[:2], until="pool5")
        conv = _rate(len(x), lambda: trunk(x, until="pool5"))
        dim = int(trunk(x[:1], until="pool5").shape[1])
    head = nets.build_head(bb, 101, torch.Generator().manual_seed(0), 0.01)
    n = args.batch * args.steps
    X, y = np.random.rand(n, dim).astype(np.float32), np.random.randint(0, 101, n)
    groups = nets.param_groups(head, 0.001, 10.0)
    train = _rate(n, lambda: nets.train_head(head, X, y, groups, momentum=0.9, weight_decay=5e-4, epochs=1,
                                             batch_size=args.batch, seed=0, device=device))  # fmt: skip
    infer = _rate(n, lambda: nets.frame_outputs(head, X, device, 1024))
    print(f"{args.backbone} at {size} px, pool5 = {dim} floats/frame, {args.threads} thread(s), {args.device}, batch {args.batch}")
    for what, rate, frames_needed in [
        ("decode + resize (PyAV)", decode, TRAIN_FRAMES + TEST_FRAMES),
        ("frozen conv -> pool5 (once per frame)", conv, TRAIN_FRAMES + TEST_FRAMES),
        ("fine-tune fc6-fc8 (per epoch, 90 % of train)", train, int(0.9 * TRAIN_FRAMES)),
        ("head inference (val 10 % + test)", infer, int(0.1 * TRAIN_FRAMES) + TEST_FRAMES),
    ]:
        print(f"  {what:48s} {rate:10.0f} frames/s   split 1: {frames_needed / rate / 3600:7.2f} h")


if __name__ == "__main__":
    main()

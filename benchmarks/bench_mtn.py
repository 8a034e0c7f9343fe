"""Benchmark of MTN training (not a test): segments per second of one ablation row trained on cached
conv4_x maps (what ``mtn`` does) vs end to end (the frozen conv1..conv4_x run on the pixels of every
sampled frame at every step, as without the cache), with the same conv5_x copy, head and batches.

Usage::

    .venv/bin/python benchmarks/bench_mtn.py [--backbone mini_alexnet] [--aggregator mtx]
        [--fine-tuning b] [--frames 8] [--batch 32] [--steps 10] [--device cpu] [--threads 1]

Inputs are random tensors of the backbone's input size (64 px for ``mini_alexnet``, 224 for
``resnet18``): video decoding and preprocessing are left out, so the end-to-end figure is an upper
bound of real end-to-end training (decoding 32 frames per segment costs more on top).
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    import torch

    from harness import backbones
    from methods._mtn_data import NesterovSGD, Stream
    from methods._mtn_units import MTNHead

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--backbone", default="mini_alexnet")
    ap.add_argument("--weights", default="random", help="weights do not change the speed; 'random' needs no download")
    ap.add_argument("--aggregator", default="mtx")
    ap.add_argument("--fine-tuning", default="b", choices=("a", "b"))
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    bb = backbones.build_trunk(args.backbone, args.weights, device=str(device))
    frozen_layer = "conv4_x" if args.fine_tuning == "b" else "conv5_x"
    shape = backbones.map_shape(bb, frozen_layer)
    frozen = bb.trunk.upto(backbones.stage_layer(args.backbone, frozen_layer)).eval()
    block = bb.trunk.blocks[backbones.stage_layer(args.backbone, "conv5_x")] if args.fine_tuning == "b" else None
    streams = [Stream(shape, block).to(device) for _ in range(2)]
    head = MTNHead((streams[0].channels(), streams[1].channels()), (78, 99), aggregator=args.aggregator).to(device)
    params = [p for m in (*streams, head) for p in m.parameters()]
    opt = NesterovSGD(params, 0.9, 1e-4)
    b, t, s = args.batch, args.frames, bb.input_size
    pixels = torch.randn(b * t, 3, s, s, device=device)
    with torch.no_grad():
        cached = frozen(pixels).reshape(b, t, -1)
    mask = torch.ones(b, t, device=device)
    y_sc, y_ac = torch.randint(0, 78, (b,), device=device), torch.randint(0, 99, (b,), device=device)
    g = torch.rand(b, device=device)

    def step(end_to_end: bool) -> None:
        if end_to_end:
            with torch.no_grad():
                x = frozen(pixels).reshape(b, t, -1)
        else:
            x = cached
        tok = [s_(x, mask) for s_ in streams]
        out = head(*tok[0], *tok[1])
        loss = (torch.nn.functional.cross_entropy(out["scene"], y_sc) + torch.nn.functional.cross_entropy(out["action"], y_ac)
                + torch.nn.functional.binary_cross_entropy_with_logits(out["importance"], g))  # fmt: skip
        opt.zero_grad()
        loss.backward()
        opt.step(0.01)

    rates = {}
    for name, e2e in (("cached conv maps", False), ("end to end", True)):
        step(e2e)  # warm-up
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step(e2e)
        if device.type == "cuda":
            torch.cuda.synchronize()
        rates[name] = args.steps * b / (time.perf_counter() - t0)
    print(f"{args.backbone} {frozen_layer} maps {shape}, aggregator {args.aggregator}, fine-tuning {args.fine_tuning}, "
          f"{t} frames x batch {b}, {torch.get_num_threads()} threads on {device}:")  # fmt: skip
    for name, r in rates.items():
        print(f"  {name:17s} {r:9.1f} segments/s")
    print(f"  ratio cached / end to end: {rates['cached conv maps'] / rates['end to end']:.1f}x")


if __name__ == "__main__":
    main()

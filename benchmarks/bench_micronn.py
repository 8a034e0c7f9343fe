"""Benchmark (not a test): microNN's batched concept bank vs one network at a time vs linear SVMs.

Usage::

    .venv/bin/python benchmarks/bench_micronn.py [--concepts 105] [--examples 30000] [--dim 4096]
        [--hidden 1024] [--epochs 20] [--batch 256] [--subset 10] [--device cpu|cuda] [--threads N]
        [--json out.json]

A simulated bank (the slides': 105 concepts, 30,000 training examples each, 4,096-d fc7): a pool of
``1.25 x examples`` fc7-like non-negative vectors from a 64-d latent space, each concept positive on
the 5 % of the pool with the highest score along its own latent direction (plus noise), each
concept's training set drawn by ``methods._micronn_nets.sample_sets`` (D_M_1 imbalanced); a held-out
pool of 4,000 vectors scores every detector by AP.

Three ways to train the same detectors on the same sets:

1. ``batched``: every concept at once (``train_bank``: grouped weights, one bmm per layer and step);
2. ``one at a time``: one ``nn.Sequential`` + ``torch.optim.SGD`` per concept, same batches;
3. ``svm``: one LIBLINEAR ``LinearSVC`` per concept on the same sets (``svm_concepts``'s trainer).

(2) and (3) run on the first ``--subset`` concepts and are reported per concept (seconds per
concept x 105 = the bank); (1) runs the whole bank. Wall and process CPU time are both printed
because a shared machine distorts wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def simulate(concepts: int, pool: int, dim: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(train X, train labels, held-out X, held-out labels): fc7-like vectors and 5 %-positive concepts."""
    rng = np.random.default_rng(seed)
    latent = 64
    A = rng.normal(size=(latent, dim)).astype(np.float32) / np.sqrt(latent)
    U = rng.normal(size=(latent, concepts)).astype(np.float32)

    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        Z = rng.normal(size=(n, latent)).astype(np.float32)
        X = np.maximum(Z @ A + 0.5 * rng.normal(size=(n, dim)).astype(np.float32), 0)
        s = Z @ U + 0.7 * rng.normal(size=(n, concepts)).astype(np.float32)
        return X, s

    X, s = draw(pool)
    Xh, sh = draw(4000)
    cut = np.quantile(s, 0.95, axis=0)
    return X.astype(np.float32), (s > cut).astype(np.int8), Xh.astype(np.float32), (sh > cut).astype(np.int8)


def mean_ap(scores: np.ndarray, labels: np.ndarray) -> float:
    from sklearn.metrics import average_precision_score

    return float(np.mean([average_precision_score(labels[:, c], scores[:, c]) for c in range(labels.shape[1])]))


def timed(fn):  # type: ignore[no-untyped-def]
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--concepts", type=int, default=105)
    p.add_argument("--examples", type=int, default=30000, help="training examples per concept (D_M_1 total)")
    p.add_argument("--dim", type=int, default=4096)
    p.add_argument("--hidden", type=int, default=1024)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--subset", type=int, default=10, help="concepts trained one at a time and by SVMs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path)
    args = p.parse_args()

    import torch

    from methods import _micronn_nets as nets
    from methods.svm_concepts import fit_linear_svms

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    C, k = args.concepts, min(args.subset, args.concepts)
    t0 = time.perf_counter()
    X, labels, Xh, yh = simulate(C, int(args.examples * 1.25), args.dim, args.seed)
    sets = nets.sample_sets(labels, "imbalanced", args.examples, args.seed)
    print(f"simulated {C} concepts x {args.examples} examples x {args.dim}-d (pool {len(X)}, held out {len(Xh)}, "
          f"{float(labels.mean()):.1%} positive) in {time.perf_counter() - t0:.1f} s", flush=True)  # fmt: skip
    s = nets.NetSettings(hidden=args.hidden, epochs=args.epochs, batch_size=args.batch)
    Xt, Xht = torch.as_tensor(X, device=device), torch.as_tensor(Xh, device=device)
    init = {key: v.to(device) for key, v in nets.init_bank(C, args.dim, args.hidden, args.seed).items()}

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    def batched() -> dict:  # type: ignore[type-arg]
        out = nets.train_bank(Xt, sets, init, s, args.seed)
        sync()
        return out

    bank, w_b, c_b = timed(batched)
    ap_b = mean_ap(nets.presence(Xht, bank), yh)
    ap_b_k = mean_ap(nets.presence(Xht, {key: v[:k] for key, v in bank.items()}), yh[:, :k])
    print(f"batched: {C} concepts in {w_b:.1f} s wall ({c_b:.1f} s CPU), {w_b / C:.3f} s/concept, held-out mAP {ap_b:.4f} "
          f"(first {k}: {ap_b_k:.4f})", flush=True)  # fmt: skip

    sub = nets.TrainingSets(sets.rows[:k], sets.targets[:k], sets.sizes[:k])

    def one_at_a_time() -> dict:  # type: ignore[type-arg]
        out = nets.train_one_at_a_time(Xt, sub, {key: v[:k] for key, v in init.items()}, s, args.seed)
        sync()
        return out

    single, w_s, c_s = timed(one_at_a_time)
    ap_s = mean_ap(nets.presence(Xht, single), yh[:, :k])
    print(f"one at a time: {k} concepts in {w_s:.1f} s wall ({c_s:.1f} s CPU), {w_s / k:.3f} s/concept, "
          f"held-out mAP {ap_s:.4f}", flush=True)  # fmt: skip

    (coef, bias), w_v, c_v = timed(lambda: fit_linear_svms(X, sub, 1.0, 1000, args.seed))
    ap_v = mean_ap(Xh @ coef + bias, yh[:, :k])
    print(f"svm: {k} concepts in {w_v:.1f} s wall ({c_v:.1f} s CPU), {w_v / k:.3f} s/concept, held-out mAP {ap_v:.4f}",
          flush=True)  # fmt: skip
    per = {"batched": w_b / C, "one_at_a_time": w_s / k, "svm": w_v / k}
    print(f"ratios (s/concept): one at a time / batched = {per['one_at_a_time'] / per['batched']:.2f}x, "
          f"svm / batched = {per['svm'] / per['batched']:.2f}x; whole bank of {C}: batched {w_b:.1f} s, "
          f"one at a time ~{per['one_at_a_time'] * C:.0f} s, svm ~{per['svm'] * C:.0f} s (extrapolated from {k})")  # fmt: skip
    report = {
        "settings": vars(args) | {"json": str(args.json) if args.json else None},
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "torch_threads": torch.get_num_threads(),
                    "device": str(device), "load_1min": os.getloadavg()[0]},
        "seconds_per_concept": per, "wall_seconds": {"batched": w_b, "one_at_a_time": w_s, "svm": w_v},
        "cpu_seconds": {"batched": c_b, "one_at_a_time": c_s, "svm": c_v},
        "held_out_map": {"batched_all": ap_b, "batched_subset": ap_b_k, "one_at_a_time_subset": ap_s, "svm_subset": ap_v},
    }  # fmt: skip
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Fit time of the fast torch AMTL / CMTL solvers versus the cvxpy reference on the same problem.

Not a test: run ``python benchmarks/bench_mtl.py`` (add ``--help`` for the problem size). For each
method and loss it solves one seeded problem with the accelerated proximal-gradient solver twice: at MALSAR's stopping rule (relative objective change 1e-4, the
plugins' default) and at a tight tolerance (1e-9), then with cvxpy (Clarabel); it prints wall and CPU
times (the CPU time of this process is the fairer figure on a shared machine), the speed-up ratios
and the objective gaps relative to cvxpy's optimum. The default size is one cvxpy still solves in well
under a minute per problem.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from methods._mtl.problem import MTLProblem  # noqa: E402

# (rho1, rho2) per method and loss: both regularisers active on this kind of problem.
RHOS = {
    ("amtl", "least"): (100.0, 80.0),
    ("amtl", "logistic"): (0.1, 0.08),
    ("cmtl", "least"): (10.0, 10.0),
    ("cmtl", "logistic"): (0.1, 0.1),
}


def make_problem(seed: int, tasks: int, features: int, rows_per_task: int, rank: int = 3) -> MTLProblem:
    """Shared pool of ``2 * rows_per_task`` rows; each task samples ``rows_per_task`` of them."""
    gen = np.random.default_rng(seed)
    n = 2 * rows_per_task
    X = gen.standard_normal((n, features))
    W = gen.standard_normal((features, rank)) @ gen.standard_normal((rank, tasks)) / np.sqrt(rank)
    W[:, : max(1, tasks // 10)] = gen.standard_normal((features, max(1, tasks // 10)))  # outlier tasks
    logits = X @ W / np.sqrt(features) - 1.0  # about one positive in five
    Y = np.where(logits + 0.3 * gen.standard_normal((n, tasks)) > 0, 1.0, -1.0)
    mask = np.zeros((n, tasks), dtype=bool)
    for t in range(tasks):
        mask[gen.choice(n, rows_per_task, replace=False), t] = True
    return MTLProblem(X, Y, mask)


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Result, wall seconds, CPU seconds of this process (the machine may be shared)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def run(method: str, loss: str, problem: MTLProblem, k: int, device: str, with_cvxpy: bool) -> dict[str, Any]:
    from methods._mtl import apg, cvx

    rho1, rho2 = RHOS[(method, loss)]
    if method == "amtl":
        reference = lambda: cvx.solve_rmtl_cvxpy(problem, rho1, rho2, loss)  # noqa: E731
        fast = lambda tol, it: apg.solve_rmtl_apg(problem, rho1, rho2, loss, device=device, tol=tol, max_iter=it)  # noqa: E731
    else:
        reference = lambda: cvx.solve_cmtl_cvxpy(problem, rho1, rho2, k, loss)  # noqa: E731
        fast = lambda tol, it: apg.solve_cmtl_apg(problem, rho1, rho2, k, loss, device=device, tol=tol, max_iter=it)  # noqa: E731
    row: dict[str, Any] = {"method": method, "loss": loss, "rho1": rho1, "rho2": rho2}
    sol, row["apg_wall_s"], row["apg_cpu_s"] = _timed(lambda: fast(1e-4, 1000))
    row["apg_iter"], row["apg_objective"] = sol.n_iter, sol.objective
    if not with_cvxpy:
        return row
    tight, row["apg_tight_wall_s"], row["apg_tight_cpu_s"] = _timed(lambda: fast(1e-9, 20000))
    row["apg_tight_iter"], row["apg_tight_objective"] = tight.n_iter, tight.objective
    if with_cvxpy:
        ref, row["cvxpy_wall_s"], row["cvxpy_cpu_s"] = _timed(reference)
        row["cvxpy_solver"], row["cvxpy_objective"] = ref.solver, ref.objective
        for key in ("", "_tight"):
            row[f"ratio{key}_wall"] = row["cvxpy_wall_s"] / row[f"apg{key}_wall_s"]
            row[f"ratio{key}_cpu"] = row["cvxpy_cpu_s"] / row[f"apg{key}_cpu_s"]
            row[f"gap{key}"] = (row[f"apg{key}_objective"] - ref.objective) / abs(ref.objective)
    return row


def _line(row: dict[str, Any]) -> str:
    if "cvxpy_wall_s" not in row:
        return (
            f"| {row['method']} | {row['loss']} | apg {row['apg_wall_s']:.2f} s wall / {row['apg_cpu_s']:.2f} s cpu "
            f"({row['apg_iter']} it) |"
        )
    apg = (
        f"apg {row['apg_wall_s']:.3f} s wall / {row['apg_cpu_s']:.3f} s cpu ({row['apg_iter']} it) | "
        f"apg tol 1e-9 {row['apg_tight_wall_s']:.3f} / {row['apg_tight_cpu_s']:.3f} s ({row['apg_tight_iter']} it)"
    )
    return (
        f"| {row['method']} | {row['loss']} | cvxpy {row['cvxpy_wall_s']:.2f} s wall / {row['cvxpy_cpu_s']:.2f} s cpu | "
        f"{apg} | ratio wall x{row['ratio_wall']:.0f}, cpu x{row['ratio_cpu']:.0f} (tight: x{row['ratio_tight_wall']:.0f}, "
        f"x{row['ratio_tight_cpu']:.0f}) | gap {row['gap']:.1e} (tight {row['gap_tight']:.1e}) |"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--rows-per-task", type=int, default=300)
    parser.add_argument("--clusters", type=int, default=5, help="k_c of CMTL")
    parser.add_argument("--methods", nargs="+", default=["amtl", "cmtl"], choices=["amtl", "cmtl"])
    parser.add_argument("--losses", nargs="+", default=["least", "logistic"], choices=["least", "logistic"])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--apg-only", action="store_true", help="only the default-tolerance apg (sizes cvxpy cannot handle)")
    parser.add_argument("--json", type=Path, help="also write the rows as JSON here")
    args = parser.parse_args(argv)

    import cvxpy  # noqa: F401 - imported before timing, so no fit pays the import
    import torch

    problem = make_problem(args.seed, args.tasks, args.features, args.rows_per_task)
    print(
        f"problem: T={args.tasks} tasks, d={args.features} features, {args.rows_per_task} rows per task "
        f"({problem.X.shape[0]} shared rows); device {args.device}; torch threads {torch.get_num_threads()}; "
        f"cpus {os.cpu_count()}; load {os.getloadavg()[0]:.1f}; {platform.processor() or platform.machine()}"
    )
    rows = []
    for method in args.methods:
        for loss in args.losses:
            row = run(method, loss, problem, args.clusters, args.device, not args.apg_only)
            rows.append(row)
            print(_line(row), flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

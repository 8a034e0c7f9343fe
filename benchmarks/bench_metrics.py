"""Benchmark of the metrics (not a test): MXinfAP on a SIN-sized problem and ``harness eval trec``.

Usage::

    .venv/bin/python benchmarks/bench_metrics.py [--repeat 7] [--perl-scorer PATH/TO/sample_eval.pl]

Measures, on one core (BLAS threads pinned to 1):

1. the registered ``mxinfap`` metric for 60 concepts x 2000 ranked shots (a 2000-shot collection,
   and a 100,000-shot collection cut to the top 2000 per concept), qrels read once beforehand;
2. ``harness eval trec -q`` end to end (a fresh process, as a user runs it) on the real AVS 2021
   qrels and run in ``../shared/data/trecvid/avs2021``, plus the in-process read and score time;
3. with ``--perl-scorer``, NIST's ``sample_eval.pl -q`` on the same files, for comparison (the
   script is not part of this repository; pass your own copy).

Prints the minimum and median wall time of ``--repeat`` runs.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
AVS = REPO.parent / "shared" / "data" / "trecvid" / "avs2021"


def timed(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def report(label: str, times: tuple[float, float]) -> None:
    print(f"{label:<58} min {times[0] * 1000:8.1f} ms   median {times[1] * 1000:8.1f} ms")


def sin_problem(n_items: int, n_concepts: int, folder: Path, seed: int = 0):
    """SIN-like data: shot ids, scores, and sampled qrels (3 strata, -1/0/1) per concept."""
    from harness.api import EvalInput, Protocol

    rng = np.random.default_rng(seed)
    ids = np.array([f"shot{i // 100 + 1}_{i % 100 + 1}" for i in range(n_items)])
    lines = []
    pool = min(n_items, 3000)
    for t in range(n_concepts):
        for i in rng.choice(n_items, pool, replace=False):
            stratum = rng.integers(1, 4)
            judged = rng.random() < (1.0, 0.5, 0.2)[stratum - 1]
            lines.append(f"c{t} 0 {ids[i]} {stratum} {int(rng.random() < 0.15) if judged else -1}")
    qrels = folder / f"sin_{n_items}.qrels"
    qrels.write_text("\n".join(lines) + "\n")
    return EvalInput(
        scores=rng.random((n_items, n_concepts)), ids=ids, concepts=tuple(f"c{t}" for t in range(n_concepts)),
        protocol=Protocol(metric="mxinfap", qrels_path=qrels, max_results=2000),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--perl-scorer", type=Path, help="a local copy of NIST's sample_eval.pl (TV16 AVS)")
    args = parser.parse_args()

    import metrics  # noqa: F401  (registers the metrics)
    from harness.api import METRICS

    mxinfap = METRICS.get("mxinfap").fn
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, cpus {os.cpu_count()}, BLAS threads 1")
    with tempfile.TemporaryDirectory() as tmp:
        for n_items in (2000, 100_000):
            data = sin_problem(n_items, 60, Path(tmp))
            mxinfap(data)  # warm: reads and caches the qrels
            report(f"mxinfap, 60 concepts x top 2000 of {n_items} shots", timed(lambda d=data: mxinfap(d), args.repeat))

    if not AVS.exists():
        print(f"skipping the AVS 2021 timings: {AVS} is absent")
        return 0
    qrels, run = AVS / "avs.qrels.main.tv21", AVS / "run.tv21.RUCMM"
    from metrics.trec import evaluate_run, read_qrels, read_run

    report("read_qrels (124,431 lines)", timed(lambda: read_qrels(qrels), args.repeat))
    report("read_run (20,000 lines)", timed(lambda: read_run(run), args.repeat))
    q, r = read_qrels(qrels), read_run(run)
    report("evaluate_run (20 topics, all measures)", timed(lambda: evaluate_run(q, r), args.repeat))

    exe = Path(sys.executable).with_name("harness")
    cli = [str(exe)] if exe.exists() else [sys.executable, "-m", "harness.cli"]
    cmd = [*cli, "eval", "trec", "--qrels", str(qrels), "--run", str(run), "-q"]
    report("harness eval trec -q (new process, end to end)",
           timed(lambda: subprocess.run(cmd, check=True, capture_output=True), args.repeat))
    report("python -c 'import numpy' (interpreter + numpy start-up)",
           timed(lambda: subprocess.run([sys.executable, "-c", "import numpy"], check=True), args.repeat))
    if args.perl_scorer:
        perl = ["perl", str(args.perl_scorer), "-q", str(qrels), str(run)]
        report("perl sample_eval.pl -q (same files)",
               timed(lambda: subprocess.run(perl, check=True, capture_output=True), args.repeat))
    return 0


if __name__ == "__main__":
    sys.exit(main())

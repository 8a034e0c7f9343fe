"""Grids of runs (method x dataset x seed) on a local process pool or a Dask distributed cluster.

Every cell is an ordinary ``harness run`` (:func:`harness.runner.execute`), so each one is
recorded in MLflow and ``results.parquet`` the moment it finishes. A rerun of the same sweep skips
the cells whose (method, dataset, config hash, seed) already has a FINISHED test-split row in the
results table: an interrupted sweep resumes where it stopped.

Faults: pool workers die with the sweep's main process (``PR_SET_PDEATHSIG`` on Linux, plus a
thread that watches the parent elsewhere), so a killed sweep leaves nothing running; and a cell is
claimed (an exclusive lock on ``<out>/claims/<cell>.lock``, released by the kernel when its
holder dies) before it runs and checked against the results table once claimed, so two sweeps of
one folder never run one cell twice: the second waits for the first and then skips the cell.

Executors:
* local (default): a ``spawn`` process pool of ``workers`` processes (1 = in this process); each
  process limits its BLAS/torch threads to ``cores // workers`` so workers do not oversubscribe.
* Dask: ``scheduler="tcp://host:8786"``; cells are submitted to the cluster's workers, which must
  have this project installed and see the same data (``$HARNESS_DATA``). Each worker writes its
  run into its own ``out_dir`` and returns the rows, which this process adds to its table if they
  are not there yet (so a sweep also works without a shared file system). For MLflow across
  machines use ``tracking_uri`` pointing at a tracking server.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, InvalidParameterError
from harness.runner import RunRequest

THREAD_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
CONNECT_TIMEOUT_S = 10


class SweepError(HarnessError):
    """The sweep cannot start (bad plan, unreachable scheduler)."""


@dataclass(frozen=True)
class Cell:
    """One (method, dataset, seed) run of a sweep."""

    method: str
    dataset: str
    seed: int
    config_hash: str
    request: RunRequest

    @property
    def label(self) -> str:
        return f"{self.method} on {self.dataset} seed {self.seed}"


@dataclass(frozen=True)
class CellOutcome:
    """What a finished cell reports back (plain data; crosses process and machine boundaries)."""

    method: str
    dataset: str
    seed: int
    status: str  # FINISHED, FAILED or SKIPPED (recorded meanwhile by another sweep)
    run_id: str = ""
    headline: str = ""
    value: float | None = None
    error: str = ""
    seconds: float = 0.0
    host: str = ""
    rows: tuple[dict[str, Any], ...] = field(default=(), repr=False)


def _parse_names(text: str | Sequence[str], what: str) -> list[str]:
    items = [t.strip() for t in text.split(",")] if isinstance(text, str) else [str(t).strip() for t in text]
    items = [t for t in items if t]
    if not items:
        raise InvalidParameterError(f"--{what} needs at least one name (comma-separated)")
    dupes = sorted({t for t in items if items.count(t) > 1})
    if dupes:
        raise InvalidParameterError(f"--{what} lists {', '.join(dupes)} more than once")
    return items


def plan(methods: str | Sequence[str], datasets: str | Sequence[str], seeds: int | Sequence[int], *,
         sets: Sequence[str] = (), out_dir: Path = Path("runs"), tracking_uri: str | None = None,
         device: str = "auto", data_root: Path | None = None, val_fraction: float = 0.1,
         tuned: bool = False, paper_defaults: bool = False) -> list[Cell]:
    """All cells of the grid, validated (names, settings) before any work; ``seeds=N`` means 0..N-1."""
    from harness.params import config_to_dict
    from harness.runner import config_hash, resolve

    method_list = _parse_names(methods, "methods")
    dataset_list = _parse_names(datasets, "datasets")
    if isinstance(seeds, int):
        if seeds < 1:
            raise InvalidParameterError(f"--seeds must be a positive number of seeds, got {seeds}")
        seed_list = list(range(seeds))
    else:
        seed_list = [int(s) for s in seeds]
    if data_root is not None and len(dataset_list) > 1:
        raise InvalidParameterError("--data-root applies to one data set; with several, set $HARNESS_DATA "
                                    "(each data set is read from $HARNESS_DATA/<name>)")
    cells = []
    for method in method_list:
        for dataset in dataset_list:
            cell_sets = tuple(sets)
            tags: dict[str, str] = {}
            cell_paper = paper_defaults
            if tuned:
                from harness.tuning_lock import read_lock, tuned_sets

                lock = read_lock(out_dir, method, dataset)
                cell_sets = tuned_sets(lock) + cell_sets
                tags["harness.tuned_from"] = f"{lock['study']} trial {lock.get('trial_number')}"
                cell_paper = paper_defaults or bool(lock.get("paper_defaults", False))  # as the study was tuned
            base = RunRequest(method=method, dataset=dataset, sets=cell_sets, out_dir=Path(out_dir),
                              tracking_uri=tracking_uri, device=device, data_root=data_root,
                              val_fraction=val_fraction, tags={"harness.sweep": "1", **tags},
                              paper_defaults=cell_paper)
            resolved = resolve(base)  # unknown names or bad settings fail here, before any run
            chash = config_hash(method, config_to_dict(resolved.method_config), config_to_dict(resolved.dataset_config))
            cells += [Cell(method, dataset, s, chash, replace(base, seed=s)) for s in seed_list]
    return cells


def recorded_keys(out_dir: Path) -> set[tuple[str, str, str, int]]:
    """(method, dataset, config hash, seed) of every FINISHED test-split run in the results table."""
    from harness import results

    table = results.read_table(out_dir)
    if table.empty:
        return set()
    done = table[table["status"] == "FINISHED"]
    if "eval_split" in done.columns:
        done = done[done["eval_split"].fillna("test") == "test"]
    return {(str(m), str(d), str(h), int(s)) for m, d, h, s in
            done[["method", "dataset", "config_hash", "seed"]].drop_duplicates().itertuples(index=False)}


def split_done(cells: Sequence[Cell], out_dir: Path) -> tuple[list[Cell], list[Cell]]:
    """(cells still to run, cells already recorded)."""
    keys = recorded_keys(out_dir)
    todo = [c for c in cells if (c.method, c.dataset, c.config_hash, c.seed) not in keys]
    done = [c for c in cells if (c.method, c.dataset, c.config_hash, c.seed) in keys]
    return todo, done


# --------------------------------------------------------------------------------------------
# Running one cell (in whatever process or machine the executor chose)
# --------------------------------------------------------------------------------------------


def claim_path(out_dir: Path, method: str, dataset: str, config_hash: str, seed: int) -> Path:
    return Path(out_dir) / "claims" / f"{method}@{dataset}-{config_hash}-s{seed}.lock"


@contextlib.contextmanager
def claimed(path: Path) -> Any:
    """Hold the exclusive claim of one cell (waiting while another process holds it)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            import logging

            logging.getLogger(__name__).warning("cell %s is being run by %s; waiting for it", path.stem, holder)
            fcntl.flock(fh, fcntl.LOCK_EX)
        import socket

        fh.seek(0)
        fh.truncate()
        fh.write(f"{socket.gethostname()}:{os.getpid()}\n")
        fh.flush()
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run_cell(request: RunRequest, config_hash: str | None = None) -> CellOutcome:
    """Execute one run; never raises for a failed run (the failure is recorded and reported).

    With ``config_hash`` the cell is claimed first and skipped when the results table already
    holds it (another sweep finished it meanwhile).
    """
    import socket

    from harness import results
    from harness.runner import execute

    t0 = time.perf_counter()
    host = f"{socket.gethostname()}:{os.getpid()}"
    claim = (claimed(claim_path(request.out_dir, request.method, request.dataset, config_hash, request.seed))
             if config_hash else contextlib.nullcontext())
    try:
        with claim:
            if config_hash and (request.method, request.dataset, config_hash, request.seed) in recorded_keys(request.out_dir):
                return CellOutcome(request.method, request.dataset, request.seed, "SKIPPED",
                                   error="recorded meanwhile by another sweep", seconds=time.perf_counter() - t0, host=host)
            try:
                result = execute(request)
            except HarnessError as exc:
                return CellOutcome(request.method, request.dataset, request.seed, "FAILED", error=str(exc),
                                   seconds=time.perf_counter() - t0, host=host)
    except BaseException:  # interrupted (SIGINT, SIGTERM, parent gone): close the MLflow run as KILLED
        from harness.tracking import close_open_runs

        close_open_runs(f"interrupted: the sweep worker {host} was stopped")
        raise
    table = results.read_table(request.out_dir)
    rows = tuple({str(k): v for k, v in r.items()} for r in table[table["run_id"] == result.run_id].to_dict("records"))
    return CellOutcome(request.method, request.dataset, request.seed, "FINISHED", run_id=result.run_id,
                       headline=result.headline, value=result.overall.get(result.headline),
                       seconds=time.perf_counter() - t0, host=host, rows=rows)


def _die_with_parent(parent_pid: int) -> None:
    """Make this worker end when the sweep's main process ends, however it ends (kill -9 too)."""
    try:  # Linux: the kernel sends SIGTERM the moment the parent dies
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent_pid:  # the parent died before the line above took effect
        os._exit(1)

    def watch() -> None:  # fallback where prctl is missing (macOS), and the hard stop after SIGTERM
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)  # time to close the MLflow run; then go regardless
        os._exit(1)

    threading.Thread(target=watch, daemon=True, name="sweep-parent-watch").start()


def _limit_threads(threads: int, parent_pid: int | None = None) -> None:
    """Pool initializer: cap BLAS / OpenMP / torch threads before anything heavy is imported; die with the parent."""
    for var in THREAD_VARS:
        os.environ.setdefault(var, str(threads))
    os.environ.setdefault("HARNESS_PROGRESS", "0")  # many bars from many processes would garble
    from harness.interrupts import install_sigterm_handler

    install_sigterm_handler()
    if parent_pid is not None:
        _die_with_parent(parent_pid)


# --------------------------------------------------------------------------------------------
# Executors
# --------------------------------------------------------------------------------------------


def _local(cells: Sequence[Cell], workers: int) -> Iterator[CellOutcome]:
    if workers == 1:
        for cell in cells:
            yield run_cell(cell.request, cell.config_hash)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    threads = max(1, (os.cpu_count() or 1) // workers)
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                               initializer=_limit_threads, initargs=(threads, os.getpid()))
    futures = {pool.submit(run_cell, c.request, c.config_hash): c for c in cells}
    try:
        for fut in as_completed(futures):
            yield fut.result()
    except BaseException:
        # Interrupted (Ctrl-C, SIGTERM): stop the workers now rather than wait for their cells;
        # each closes its MLflow run as KILLED on the way out.
        for f in futures:
            f.cancel()
        for proc in list(getattr(pool, "_processes", {}).values()):
            with contextlib.suppress(Exception):
                proc.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def _check_scheduler(address: str) -> None:
    """Refused or silent addresses fail here within seconds (Dask itself keeps retrying until its timeout)."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(address if "://" in address else f"tcp://{address}")
    if parts.scheme not in ("tcp", "tls") or not parts.hostname or not parts.port:
        raise SweepError(f"--scheduler {address!r} is not a Dask scheduler address; expected tcp://HOST:PORT")
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=CONNECT_TIMEOUT_S / 2):
            pass
    except OSError as exc:
        raise SweepError(
            f"cannot reach the Dask scheduler at {address} ({exc.strerror or exc}). Start one with "
            f"'dask scheduler --port {parts.port}' and workers with 'dask worker {address} --nthreads 1'."
        ) from None


def _dask(cells: Sequence[Cell], scheduler: str) -> Iterator[CellOutcome]:
    try:
        from distributed import Client, as_completed
    except ImportError as exc:
        raise SweepError(f"--scheduler needs the 'distributed' package (pip install 'dask[distributed]'): {exc}") from None
    try:
        client = Client(scheduler, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise SweepError(
            f"cannot reach the Dask scheduler at {scheduler} within {CONNECT_TIMEOUT_S} s ({exc}). Start one with "
            f"'dask scheduler --port 8786' and workers with 'dask worker {scheduler} --nthreads 1'."
        ) from None
    try:
        batch = uuid.uuid4().hex[:8]
        futures = [client.submit(run_cell, c.request, c.config_hash, pure=False,
                                 key=f"harness-{c.method}-{c.dataset}-s{c.seed}-{c.config_hash}-{batch}")
                   for c in cells]
        for fut in as_completed(futures, loop=client.loop):
            yield fut.result()
    finally:
        client.close()


def execute_cells(cells: Sequence[Cell], *, workers: int = 1, scheduler: str | None = None,
                  out_dir: Path = Path("runs"),
                  on_result: Callable[[CellOutcome], None] | None = None) -> list[CellOutcome]:
    """Run ``cells`` and return their outcomes in completion order.

    Rows that a (remote) worker recorded in its own table are merged into ``out_dir``'s table
    when they are not there yet.
    """
    if workers < 1:
        raise InvalidParameterError(f"--workers must be >= 1, got {workers}")
    if not cells:
        return []
    if scheduler:
        _check_scheduler(scheduler)  # before the slow MLflow set-up, so a wrong address fails at once
    prepare_tracking(cells)
    stream = _dask(cells, scheduler) if scheduler else _local(cells, min(workers, len(cells)))
    outcomes = []
    for outcome in stream:
        if outcome.rows:
            _merge_rows(out_dir, outcome)
        outcomes.append(outcome)
        if on_result is not None:
            on_result(outcome)
    return outcomes


def prepare_tracking(cells: Sequence[Cell]) -> None:
    """Create the MLflow store and experiments once, here, before parallel workers race to do it."""
    from harness.tracking import Tracker, default_tracking_uri

    seen = set()
    for cell in cells:
        req = cell.request
        uri = req.tracking_uri or default_tracking_uri(Path(req.out_dir))
        if (uri, req.dataset) in seen:
            continue
        seen.add((uri, req.dataset))
        Path(req.out_dir).mkdir(parents=True, exist_ok=True)
        Tracker(uri, Path(req.out_dir)).experiment_id(req.dataset)


def _merge_rows(out_dir: Path, outcome: CellOutcome) -> None:
    from harness import results

    table = results.read_table(out_dir)
    if not table.empty and (table["run_id"] == outcome.run_id).any():
        return  # shared file system: the worker already wrote them here
    results.append_rows(out_dir, list(outcome.rows))

"""Shared fixtures: every test gets its own HARNESS_HOME (no leaks into ~/.cache) and quiet progress bars."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


# Caches a test may share with the others of its session: pretrained backbone weights (built once)
# and the MLflow schema template (made once per MLflow version, then copied for each new store).
SHARED_CACHES = ("backbones", "schemas")


def shared_data(*parts: str) -> Path:
    """Path under ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"reference data {path} is absent (it lives in ../shared/data beside the repository)")
    return path


@pytest.fixture(scope="session")
def shared_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HARNESS_HOME shared by the tests of one session (miniatures and features built once)."""
    home = tmp_path_factory.mktemp("shared_harness_home")
    for shared in SHARED_CACHES:
        (home / shared).mkdir()
    return home


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, shared_home: Path) -> None:
    """Each test gets its own HARNESS_HOME; only the caches of SHARED_CACHES are shared with the
    session home, through symlinks."""
    home = tmp_path_factory.mktemp("harness_home")
    for shared in SHARED_CACHES:
        (home / shared).symlink_to(shared_home / shared, target_is_directory=True)
    monkeypatch.setenv("HARNESS_HOME", str(home))
    monkeypatch.setenv("HARNESS_PROGRESS", "0")
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: one worker per CPU this process may use (not xdist's physical-core count, which
    is 1 on many 2-vCPU machines), at most 4 (each worker's torch already uses every core)."""
    import os

    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(4, cpus))

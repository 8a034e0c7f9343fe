"""Shared fixtures: every test gets its own HARNESS_HOME (no leaks into ~/.cache) and quiet progress bars."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


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
    (home / "backbones").mkdir()
    return home


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch, shared_home: Path) -> None:
    """Each test gets its own HARNESS_HOME; only pretrained backbone weights (built once, about a
    minute of CPU) are shared with the session home, through a symlink."""
    home = tmp_path_factory.mktemp("harness_home")
    (home / "backbones").symlink_to(shared_home / "backbones", target_is_directory=True)
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

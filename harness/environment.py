"""Facts recorded with every run: git commit, package versions, device."""

from __future__ import annotations

import functools
import importlib.metadata
import platform
import subprocess
from pathlib import Path

_PACKAGES = ("numpy", "torch", "torchvision", "scikit-learn", "scipy", "cvxpy", "mlflow", "optuna", "pandas")


@functools.cache
def git_commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=5)
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


@functools.cache
def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = "absent"
    try:
        out["harness"] = importlib.metadata.version("video-concept-harness")
    except importlib.metadata.PackageNotFoundError:
        out["harness"] = "source"
    return out


def resolve_device(requested: str) -> str:
    """``auto`` -> ``cuda`` when a GPU is visible, else ``cpu``; ``cuda`` without a GPU is an error."""
    from harness.errors import InvalidParameterError

    if requested not in ("auto", "cpu", "cuda") and not requested.startswith("cuda:"):
        raise InvalidParameterError(f"--device must be cpu, cuda, cuda:N or auto; got {requested!r}")
    if requested == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda" if requested == "auto" else requested
    if requested == "auto":
        return "cpu"
    raise InvalidParameterError(f"--device {requested} was requested but no CUDA device is visible; use --device cpu or auto")


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        import torch

        return torch.cuda.get_device_name(torch.device(device))
    return f"cpu ({platform.processor() or platform.machine()})"

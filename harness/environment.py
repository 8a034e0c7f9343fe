"""Facts recorded with every run: git commit, package versions, device."""

from __future__ import annotations

import functools
import importlib.metadata
import os
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


# --------------------------------------------------------------------------------------------
# Hardware fingerprint: what can change a float result between two machines
# --------------------------------------------------------------------------------------------

# ISA extensions that select different BLAS / oneDNN kernels (and so change the last bits).
_ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vl", "avx512_vnni",
              "avx512_bf16", "avx_vnni", "amx_tile", "amx_bf16", "neon", "asimd", "sve")


def _cpu_model_and_flags() -> tuple[str, tuple[str, ...]]:
    model, flags = "", set[str]()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip().lower()
            if key in ("model name", "hardware", "cpu model") and not model:
                model = value.strip()
            elif key in ("flags", "features") and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return model or platform.processor() or platform.machine(), tuple(f for f in _ISA_FLAGS if f in flags)


def _numpy_blas() -> str:
    try:
        import numpy as np

        deps = np.show_config(mode="dicts")["Build Dependencies"]  # type: ignore[func-returns-value]
        blas = deps.get("blas", {})
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:  # older numpy: no dict mode
        return "unknown"


def hardware_fingerprint(device: str = "cpu") -> dict[str, str]:
    """Everything about the machine and the numeric libraries that can move a float result.

    CPU model and ISA flags (they pick the BLAS / oneDNN kernels), torch's CPU capability, intra-
    and inter-op thread counts, BLAS backends of torch and numpy, CUDA / cuDNN versions and the GPU,
    and the determinism flags in force. Values are strings (MLflow tags ``hw.<key>``).
    """
    import torch

    model, flags = _cpu_model_and_flags()
    fp = {
        "cpu": model,
        "cpu_count": str(os.cpu_count()),
        "isa": ",".join(flags),
        "torch": torch.__version__,
        "torch_cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
        "torch_threads": str(torch.get_num_threads()),
        "torch_interop_threads": str(torch.get_num_interop_threads()),
        "torch_blas": "mkl" if torch.backends.mkl.is_available() else "other",
        "torch_mkldnn": str(torch.backends.mkldnn.is_available()),
        "numpy_blas": _numpy_blas(),
        "deterministic_algorithms": str(torch.are_deterministic_algorithms_enabled()),
        "deterministic_warn_only": str(torch.is_deterministic_algorithms_warn_only_enabled()),
        "cuda": str(torch.version.cuda),
        "device": device,
    }
    if device.startswith("cuda") and torch.cuda.is_available():
        fp.update({
            "gpu": torch.cuda.get_device_name(torch.device(device)),
            "cudnn": str(torch.backends.cudnn.version()),
            "cudnn_deterministic": str(torch.backends.cudnn.deterministic),
            "cudnn_benchmark": str(torch.backends.cudnn.benchmark),
            "tf32_matmul": str(torch.backends.cuda.matmul.allow_tf32),
            "tf32_cudnn": str(torch.backends.cudnn.allow_tf32),
        })
    return fp


def fingerprint_hash(fp: dict[str, str]) -> str:
    """Short SHA-256 (12 hex) of the canonical JSON of a fingerprint: equal hash = same machine class."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(fp, sort_keys=True).encode()).hexdigest()[:12]


def fingerprint_column(fp: dict[str, str]) -> str:
    """The results-table ``fingerprint`` value: ``<hash> <canonical JSON>``."""
    import json

    return f"{fingerprint_hash(fp)} {json.dumps(fp, sort_keys=True, separators=(',', ':'))}"


def mixed_fingerprint_warnings(rows: object, by: tuple[str, ...] = ("method", "dataset", "config_hash")) -> list[str]:
    """One warning per cell (rows grouped by ``by``) whose runs come from different fingerprints.

    ``rows``: a results DataFrame (or records) with a ``fingerprint`` column (``<hash> <json>``);
    rows without one (recorded before fingerprints existed) count as ``unknown``.
    """
    import pandas as pd

    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))  # type: ignore[call-overload]
    keys = [k for k in by if k in df.columns]
    if df.empty or not keys or "run_id" not in df.columns:
        return []
    fp = df["fingerprint"] if "fingerprint" in df.columns else pd.Series("", index=df.index)
    df = df.assign(_fp=fp.fillna("").astype(str).str.split(" ", n=1).str[0].replace("", "unknown"))
    out = []
    for cell, group in df.groupby(keys, dropna=False, sort=True):
        runs = group.drop_duplicates("run_id")
        hashes = runs["_fp"].value_counts()
        if len(hashes) > 1:
            label = "/".join(map(str, cell if isinstance(cell, tuple) else (cell,)))
            parts = ", ".join(f"{h} ({n} run{'s' if n > 1 else ''})" for h, n in hashes.items())
            out.append(f"cell {label} mixes hardware fingerprints: {parts}; its spread includes "
                       f"machine-to-machine float differences (see the hw.* tags of its runs)")
    return out

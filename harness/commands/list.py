"""``harness list {methods,datasets,metrics}``."""

from __future__ import annotations

import argparse
from typing import Any

NAME = "list"
HELP = "list registered methods, data sets or metrics (and unavailable plugins with the reason)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=("methods", "datasets", "metrics"), help="which registry to list")


def run(args: argparse.Namespace) -> int:
    from harness import api
    from harness.registry import load_plugins

    load_plugins()
    registry: Any = {"methods": api.METHODS, "datasets": api.DATASETS, "metrics": api.METRICS}[args.what]
    rows = []
    for name, obj in registry.items():
        if args.what == "methods":
            text = f"{obj.description}" + (f"  [{obj.paper}]" if obj.paper else "")
        elif args.what == "datasets":
            text = (getattr(obj, "summary", "") or "") + ("  [miniature]" if obj.is_miniature else "")
        else:
            text = f"{obj.description}  ({'higher' if obj.higher_is_better else 'lower'} is better)"
        rows.append((name, text))
    width = max((len(n) for n, _ in rows), default=10)
    for name, text in rows:
        print(f"{name:<{width}}  {text}")
    for name, reason in registry.unavailable().items():
        print(f"{name:<{width}}  UNAVAILABLE: {reason}")
    return 0

"""``harness data {list,describe,verify,make-mini}``: the data sets, their layouts and miniatures."""

from __future__ import annotations

import argparse
from pathlib import Path

NAME = "data"
HELP = "describe, verify or generate data sets (layouts, checksums, miniatures)"
DESCRIPTION = (
    "Work with the data sets: 'list' them, 'describe' one (expected layout, where to obtain it, licence), "
    "'verify' a copy (missing / extra / damaged files, counts, checksums; non-zero exit on problems), "
    "'make-mini' to write a miniature in the real layout. Example: harness data verify ucf101 --data-root ~/UCF101"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="{list,describe,verify,make-mini}")
    sub.add_parser("list", help="list the data sets (miniatures marked)")
    describe = sub.add_parser("describe", help="expected layout, how to obtain it, licence")
    describe.add_argument("name", help="data set name (see 'harness data list')")
    verify = sub.add_parser("verify", help="check a copy: missing / extra / damaged files, counts, checksums")
    verify.add_argument("name", help="data set name")
    verify.add_argument("--data-root", type=Path, help="root folder of the copy (default $HARNESS_DATA/<name>; "
                                                        "a miniature's cached copy for '<name>-mini')")  # fmt: skip
    make = sub.add_parser("make-mini", help="write a miniature in the real layout into DIR")
    make.add_argument("name", help="data set name (NAME or NAME-mini)")
    make.add_argument("directory", type=Path, help="output folder (created; must be empty if it exists)")
    make.add_argument("--seed", type=int, default=0, help="generator seed (default 0, the seed of the cached miniature)")


def _adapter(name: str):  # -> DatasetAdapter
    from harness import api
    from harness.registry import load_plugins

    load_plugins()
    return api.DATASETS.get(name)()


def run(args: argparse.Namespace) -> int:
    return {"list": _list, "describe": _describe, "verify": _verify, "make-mini": _make_mini}[args.action](args)


def _list(args: argparse.Namespace) -> int:
    from harness import api
    from harness.registry import load_plugins

    load_plugins()
    rows = [(name, (cls.summary or "") + ("  [miniature]" if cls.is_miniature else "")) for name, cls in api.DATASETS.items()]
    width = max((len(n) for n, _ in rows), default=10)
    for name, text in rows:
        print(f"{name:<{width}}  {text}")
    for name, reason in api.DATASETS.unavailable().items():
        print(f"{name:<{width}}  UNAVAILABLE: {reason}")
    return 0


def _describe(args: argparse.Namespace) -> int:
    adapter = _adapter(args.name)
    print(f"{args.name}: {type(adapter).summary}")
    print(adapter.describe())
    if dataclass_fields := _options(adapter):
        print("Options (--set key=value):")
        for line in dataclass_fields:
            print(f"  {line}")
    return 0


def _options(adapter: object) -> list[str]:
    import dataclasses

    from harness.api import NoOptions
    from harness.params import field_help

    cfg: type = type(adapter).Config  # type: ignore[attr-defined]
    if cfg is NoOptions or not dataclasses.is_dataclass(cfg):
        return []
    out = []
    for f in dataclasses.fields(cfg):
        check = f.metadata.get("check")
        allowed = f" ({check.describe()})" if check is not None else ""
        out.append(f"{f.name} = {f.default!r}{allowed}: {field_help(cfg, f.name)}")
    return out


def _verify(args: argparse.Namespace) -> int:
    import time

    from harness.errors import MissingDataError

    adapter = _adapter(args.name)
    root = args.data_root
    if root is None:
        # A miniature's copy lives in the cache (generated on first use); a real set's in $HARNESS_DATA.
        root = adapter.load(None).root if adapter.is_miniature else adapter.default_root()
        if root is None:
            raise MissingDataError(
                f"No data root to verify for {args.name!r}: pass --data-root DIR or set $HARNESS_DATA. "
                f"Run 'harness data describe {args.name}' for the expected layout."
            )
    t0 = time.perf_counter()
    problems = adapter.verify(Path(root))
    seconds = time.perf_counter() - t0
    if problems:
        print(f"{args.name}: problems found in {root}:")
        for p in problems:
            print(f"  {p}")
        print(f"Run 'harness data describe {args.name}' for the expected layout.")
        return 1
    print(f"{args.name}: OK ({root}, checked in {seconds:.1f} s)")
    return 0


def _make_mini(args: argparse.Namespace) -> int:
    import time

    from harness import api
    from harness.errors import InvalidParameterError
    from harness.registry import load_plugins

    load_plugins()
    name = args.name if args.name.endswith("-mini") else f"{args.name}-mini"
    if name not in api.DATASETS:
        raise InvalidParameterError(
            f"Data set {args.name!r} has no miniature. Miniatures: "
            f"{', '.join(n for n, c in api.DATASETS.items() if c.is_miniature)}."
        )
    adapter = api.DATASETS.get(name)()
    if not hasattr(adapter, "make_mini"):
        raise InvalidParameterError(f"Data set {name!r} cannot write its miniature to a folder.")
    if args.seed < 0:
        raise InvalidParameterError(f"--seed must be a non-negative integer, got {args.seed}")
    target = Path(args.directory)
    if target.exists() and any(target.iterdir()):
        raise InvalidParameterError(f"{target} is not empty; choose a new or empty folder for the miniature.")
    target.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    stats = adapter.make_mini(target, seed=args.seed) or {}
    seconds = time.perf_counter() - t0
    summary = ", ".join(f"{k}={v}" for k, v in stats.items())
    print(f"wrote {name} (seed {args.seed}) to {target} in {seconds:.1f} s" + (f": {summary}" if summary else ""))
    print(f"read it with: harness run --dataset {name} --data-root {target} ...")
    return 0

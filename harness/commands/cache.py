"""``harness cache {ls,clear}``: inspect or empty the feature / data / weights cache."""

from __future__ import annotations

import argparse

NAME = "cache"
# What lives under $HARNESS_HOME: extracted features, generated miniatures, pretrained weights of the
# miniature CNN, converted qrels, parsed annotation files.
KINDS = ("features", "datasets", "backbones", "qrels", "parsed")
ALIASES = {"weights": "backbones", "backbone": "backbones", "feature": "features", "dataset": "datasets"}
HELP = "list or clear cached features, miniatures and weights ($HARNESS_HOME)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True, metavar="{ls,clear,rebuild-source}")
    ls = sub.add_parser("ls", help="list cache entries with their size")
    ls.add_argument("--kind", help=f"only this kind ({', '.join(KINDS)}; 'weights' = backbones)")
    clear = sub.add_parser("clear", help="delete cache entries")
    clear.add_argument("--kind", help=f"only this kind ({', '.join(KINDS)}; 'weights' = backbones)")
    clear.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation (needed without a terminal)")
    rebuild = sub.add_parser("rebuild-source", help="pretrain the miniatures' source network again and compare it "
                             "with the shipped one (sha256, source mAP, max weight difference)")
    rebuild.add_argument("--seed", type=int, default=0, help="pretraining seed (the shipped network: 0)")
    rebuild.add_argument("--write", action="store_true",
                         help="replace the shipped network in harness/data/ (after changing the recipe)")


def run(args: argparse.Namespace) -> int:
    import sys

    from harness.cache import Cache

    cache = Cache()
    if args.action in ("ls", "clear") and args.kind is not None:
        args.kind = _kind(args.kind, cache.root)
    if args.action == "rebuild-source":
        from harness.synthetic_source import format_rebuild_report, rebuild_source

        print(format_rebuild_report(rebuild_source(args.seed, cache, write=args.write)))
        return 0
    if args.action == "ls":
        entries = cache.entries(args.kind)
        if not entries:
            print(f"cache {cache.root} is empty" + (f" for kind {args.kind!r}" if args.kind else ""))
            return 0
        total = 0
        for e in entries:
            total += e.size
            desc = e.meta.get("description", {})
            summary = ", ".join(f"{k}={v}" for k, v in list(desc.items())[:4])
            print(f"{e.kind:<9} {e.key}  {e.size / 1e6:9.2f} MB  {summary}")
        print(f"{len(entries)} entries, {total / 1e6:.2f} MB in {cache.root}")
        return 0
    if not args.yes and not sys.stdin.isatty():
        from harness.errors import InvalidParameterError

        raise InvalidParameterError(
            f"'harness cache clear' would delete {'all' if not args.kind else args.kind} entries under {cache.root} "
            f"and there is no terminal to ask; add -y to confirm"
        )
    if not args.yes:
        answer = input(f"delete {'all' if not args.kind else args.kind} entries under {cache.root}? [y/N] ")
        if answer.strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    n = cache.clear(args.kind)
    print(f"deleted {n} entries from {cache.root}")
    return 0


def _kind(kind: str, root: object) -> str:
    """The cache kind named by ``kind`` (aliases resolved); an unknown one is an error listing the valid ones."""
    from pathlib import Path

    from harness.errors import InvalidParameterError

    name = ALIASES.get(kind.strip().lower(), kind.strip().lower())
    present = sorted(p.name for p in Path(str(root)).iterdir() if p.is_dir()) if Path(str(root)).is_dir() else []
    valid = list(dict.fromkeys([*KINDS, *present]))
    if name not in valid:
        raise InvalidParameterError(f"--kind {kind!r} is not a cache kind; valid kinds: {', '.join(valid)} "
                                    f"('weights' means backbones)")
    return name

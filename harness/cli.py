"""Command-line entry point (the composition root): ``harness <command> ...``.

The parser is built inside ``main`` (never at import time) and nothing heavy is imported until a
command runs, so ``harness --help`` does not import torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

# Sub-command modules, in the order shown by --help.
COMMANDS = (
    "harness.commands.run",
    "harness.commands.list",
    "harness.commands.data",
    "harness.commands.cache",
    "harness.commands.eval",
    "harness.commands.tune",
    "harness.commands.sweep",
    "harness.commands.table",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="harness",
        description="Benchmark harness for video concept detection, action recognition and "
        "multi-label annotation. Reproduces five papers' methods and tables under one protocol.",
        epilog="Run 'harness <command> --help' for the options of a command.",
    )
    parser.add_argument("--debug", action="store_true", help="show full tracebacks on errors")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details (INFO level)")
    sub = parser.add_subparsers(dest="command", metavar="<command>")
    for module_name in COMMANDS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:  # command not installed in this checkout
                continue
            raise
        p = sub.add_parser(module.NAME, help=module.HELP, description=getattr(module, "DESCRIPTION", module.HELP))
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show full tracebacks")
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    from harness.errors import HarnessError

    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("harness: interrupted", file=sys.stderr)
        return 130
    except HarnessError as exc:
        if args.debug:
            raise
        print(f"harness {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # unexpected: still one paragraph unless --debug
        if args.debug:
            raise
        print(
            f"harness {args.command}: unexpected error: {type(exc).__name__}: {exc}\n"
            f"Re-run with --debug for the traceback.",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Command-line entry point (the composition root): ``harness <command> ...``.

The parser is built inside ``main`` (never at import time) and nothing heavy is imported until a
command runs, so ``harness --help`` does not import torch.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import signal
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
    "harness.commands.results",
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
    from harness.interrupts import Terminated, install_sigterm_handler, received
    from harness.urls import install_log_redaction, redact

    install_log_redaction()
    install_sigterm_handler()  # SIGTERM unwinds like Ctrl-C: temporary files removed, open runs closed
    try:
        _check_paths(args)
        return int(args._run(args) or 0)
    except KeyboardInterrupt as exc:
        return _interrupted(args, isinstance(exc, Terminated))
    except HarnessError as exc:
        if received() is not None and not args.debug:
            return _interrupted(args, received() == signal.SIGTERM)
        if args.debug:
            raise
        print(f"harness {args.command}: error: {redact(str(exc))}", file=sys.stderr)
        return 1
    except Exception as exc:  # unexpected: still one paragraph unless --debug
        if received() is not None and not args.debug:  # an interrupt that a library turned into another error
            return _interrupted(args, received() == signal.SIGTERM)
        if args.debug:
            raise
        print(
            f"harness {args.command}: unexpected error: {type(exc).__name__}: {redact(str(exc))}\n"
            f"Re-run with --debug for the traceback.",
            file=sys.stderr,
        )
        return 1


def _interrupted(args: argparse.Namespace, terminated: bool) -> int:
    """Close this process's open MLflow runs as KILLED and say so; exit 130 (SIGINT) or 143 (SIGTERM)."""
    closed = _close_open_runs("interrupted by SIGTERM" if terminated else "interrupted by SIGINT (Ctrl-C)")
    what = "terminated (SIGTERM)" if terminated else "interrupted"
    note = f"; {closed} MLflow run(s) closed as KILLED" if closed else ""
    print(f"harness {args.command}: {what}{note}. Finished results are kept; rerun the same command to resume.",
          file=sys.stderr)
    return 143 if terminated else 130


EXIT_GRACE_S = 15.0


def _exit_within(seconds: float, code: int) -> None:
    """After an interrupt the process must end: if joining a library's worker threads or its exit
    handlers (seen once under heavy load after Ctrl-C of ``harness tune``) takes longer than
    ``seconds``, a daemon timer ends it with ``code``. Results and runs are already safe by then."""
    import os
    import threading

    def force() -> None:
        sys.stderr.flush()
        os._exit(code)

    timer = threading.Timer(seconds, force)
    timer.daemon = True
    timer.start()


def _close_open_runs(reason: str) -> int:
    """Close the MLflow runs this process left open (only if tracking was used at all)."""
    if "harness.tracking" not in sys.modules:
        return 0
    from harness.tracking import close_open_runs

    try:
        return close_open_runs(reason)
    except BaseException:  # a second Ctrl-C while closing: give up quietly
        return 0


def _check_paths(args: argparse.Namespace) -> None:
    """Folders the command will write to must be folders (checked before any work)."""
    import os
    from pathlib import Path

    from harness.errors import InvalidParameterError

    out = getattr(args, "out", None)
    if out is not None and Path(out).exists() and not Path(out).is_dir():
        raise InvalidParameterError(f"--out {out} is an existing file, not a folder; choose a folder (it is created "
                                    f"when missing)")
    home = os.environ.get("HARNESS_HOME")
    if home and Path(home).expanduser().exists() and not Path(home).expanduser().is_dir():
        raise InvalidParameterError(f"HARNESS_HOME={home} is a file, not a folder; point $HARNESS_HOME at a folder "
                                    f"(the cache of features, miniatures and weights), or unset it")


def entry() -> None:
    """The ``harness`` console script and ``python -m harness.cli``: :func:`main`, then exit; after an
    interrupt the process ends within :data:`EXIT_GRACE_S` even if a library's exit handlers hang.
    (In-process callers such as the tests call :func:`main`, which never arms the timer.)"""
    code = main()
    if code in (130, 143):
        _exit_within(EXIT_GRACE_S, code)
    sys.exit(code)


if __name__ == "__main__":
    entry()

"""Nox sessions: ``nox`` runs the tests; ``nox -s lint``, ``nox -s demo`` for the rest.

Each session installs the project from ``pyproject.toml`` into its own virtual environment
(``nox -R`` reuses it). Extra arguments after ``--`` go to the tool (``nox -s tests -- -k xinfap``).
"""

from __future__ import annotations

import nox

nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

PYTHON = "3.11"


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """The whole test suite (unit, conformance, integration, the slow tier too); what CI runs.

    ``nox -s tests -- -m "not slow"`` is the README's quick test command.
    """
    session.install("-e", ".[test]")
    session.run("pytest", "-q", "-n", "auto", *session.posargs)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff on everything, mypy on harness/, import-linter for the import rules of DESIGN.md."""
    session.install("-e", ".[dev]")
    session.run("ruff", "check", ".")
    session.run("mypy", "harness")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """The README's main job on the embedded miniature."""
    session.install("-e", ".")
    session.run("harness", "run", "--method", "dmtl_lc", "--dataset", "trecvid2013-mini", *session.posargs)


@nox.session(python=PYTHON, default=False)
def repro(session: nox.Session) -> None:
    """Reproducibility: the main job twice in fresh homes (identical), a fixed grid vs the golden file.

    The same check without nox: ``python -m harness.repro`` (``--write-golden`` after an intended change).
    """
    session.install("-e", ".")
    session.run("python", "-m", "harness.repro", *session.posargs)

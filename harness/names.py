"""Names that become file names (study, run, table, data-set names): validated, and kept under their root.

A name is one path component of letters, digits and ``. _ - @ + =`` (at most 200 characters, not
starting with a dot or a dash), so ``--study ../../x`` or ``--study a/b`` can never write outside
the folder it belongs in. :func:`under` is the second line of defence for any joined path.
"""

from __future__ import annotations

import re
from pathlib import Path

from harness.errors import InvalidParameterError

MAX_LEN = 200
_NAME = re.compile(r"^[A-Za-z0-9_@+=][A-Za-z0-9._@+=\-]*$")


def check_name(value: str, what: str) -> str:
    """``value`` if it is safe as one file name, else :class:`InvalidParameterError` saying why."""
    text = str(value)
    problem = None
    if not text:
        problem = "is empty"
    elif len(text) > MAX_LEN:
        problem = f"is {len(text)} characters long (at most {MAX_LEN})"
    elif "/" in text or "\\" in text or ".." in text:
        problem = "contains a path separator or '..'"
    elif not _NAME.match(text):
        bad = sorted({c for c in text if not re.match(r"[A-Za-z0-9._@+=\-]", c)})
        problem = ("contains " + ", ".join(repr(c) for c in bad)) if bad else "starts with '.' or '-'"
    if problem:
        raise InvalidParameterError(
            f"{what} {text!r} {problem}; it is used as a file name, so use letters, digits and . _ - @ + = "
            f"only (e.g. 'lr-study-1')"
        )
    return text


def under(root: Path, *parts: str) -> Path:
    """``root / parts`` resolved, refusing any result outside ``root`` (symlinks included)."""
    base = Path(root).resolve()
    path = base.joinpath(*parts).resolve()
    if path != base and base not in path.parents:
        raise InvalidParameterError(f"{Path(*parts)} would be written outside {root}; refusing")
    return path

"""Progress bars (tqdm on stderr), silenced with HARNESS_PROGRESS=0 or when stderr is not a TTY in CI."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


def enabled() -> bool:
    flag = os.environ.get("HARNESS_PROGRESS")
    if flag is not None:
        return flag not in ("0", "false", "no")
    return sys.stderr.isatty()


def progress(iterable: Iterable[T], desc: str = "", total: int | None = None, **kw: Any) -> Iterator[T]:
    from tqdm.auto import tqdm

    yield from tqdm(iterable, desc=desc, total=total, disable=not enabled(), leave=False, dynamic_ncols=True, **kw)


def bar(total: int, desc: str = "", unit: str = "it") -> Any:
    """A manual bar: ``with bar(n, "epochs") as b: b.update(1); b.set_postfix(loss=...)``."""
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled(), leave=False, dynamic_ncols=True)

"""Helpers shared by the dataset adapters: roots, text files with line numbers, manifests,
verification reports and miniature folders in the cache.

Private to the ``datasets`` package (adapters import it; nothing outside does).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from harness.api import DatasetAdapter
from harness.cache import Cache, cache_key, sha256_file
from harness.errors import DataError, MissingDataError

log = logging.getLogger(__name__)

# How many entries of one kind (missing, extra, corrupt ...) a verify report lists one by one.
REPORT_LIMIT = 20


def resolve_root(adapter: DatasetAdapter, root: Path | str | None) -> Path:
    """The data root to read: ``root``, else ``$HARNESS_DATA/<name>``; it must exist.

    Raises:
        MissingDataError: no root given and ``$HARNESS_DATA`` unset, or the folder is missing. The
            message shows the expected layout (the adapter's ``describe``).
    """
    name = getattr(adapter, "name", type(adapter).__name__)
    if root is None:
        root = adapter.default_root()
    if root is None:
        raise MissingDataError(
            f"No data root for data set {name!r}: pass --data-root DIR or set $HARNESS_DATA "
            f"(then $HARNESS_DATA/{name} is used). Expected layout:\n{adapter.describe()}\n"
            f"Run 'harness data describe {name}' for this text, or use '{name}-mini' for the miniature."
        )
    path = Path(root).expanduser()
    if not path.is_dir():
        raise MissingDataError(
            f"Data root {path} for data set {name!r} does not exist or is not a folder. "
            f"Expected layout:\n{adapter.describe()}\nRun 'harness data describe {name}' for this text."
        )
    return path


def numbered_lines(path: Path, *, skip_blank: bool = True) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of a text file, without line ends (LF or CRLF) or a UTF-8 BOM."""
    try:
        with open(path, encoding="utf-8-sig", newline=None) as fh:
            for number, line in enumerate(fh, start=1):
                text = line.rstrip("\r\n").rstrip("\r")
                if skip_blank and not text.strip():
                    continue
                yield number, text
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not a UTF-8 text file ({exc}); is this the right file?") from None


def bad_line(path: Path, number: int, line: str, expected: str, fix: str = "") -> DataError:
    """A DataError naming file:line, the offending line and what was expected."""
    shown = line if len(line) <= 120 else line[:117] + "..."
    return DataError(f"{path}:{number}: expected {expected}, got {shown!r}.{' ' + fix if fix else ''}")


def require_file(path: Path, what: str, adapter_name: str) -> Path:
    if not path.is_file():
        raise MissingDataError(
            f"{what} not found: {path}. Run 'harness data describe {adapter_name}' for the expected layout."
        )
    return path


def manifest_hash(root: Path, relpaths: Iterable[str], *, content: Iterable[str] = ()) -> str:
    """A stable hash of a data set's files: relative path + size of every file, plus the full
    SHA-256 of the (small) ``content`` files whose bytes define the splits and labels."""
    h = hashlib.sha256()
    for rel in sorted(set(relpaths)):
        p = root / rel
        size = p.stat().st_size if p.exists() else -1
        h.update(f"{rel}\t{size}\n".encode())
    for rel in sorted(set(content)):
        p = root / rel
        h.update(f"{rel}\t{sha256_file(p) if p.exists() else 'missing'}\n".encode())
    return h.hexdigest()[:24]


class Report:
    """Collects verification problems by kind and renders them, capped per kind."""

    def __init__(self) -> None:
        self._items: dict[str, list[str]] = {}

    def add(self, kind: str, message: str) -> None:
        self._items.setdefault(kind, []).append(message)

    def extend(self, kind: str, messages: Iterable[str]) -> None:
        for m in messages:
            self.add(kind, m)

    def problems(self) -> list[str]:
        out: list[str] = []
        for kind, messages in self._items.items():
            for m in messages[:REPORT_LIMIT]:
                out.append(f"{kind}: {m}")
            if len(messages) > REPORT_LIMIT:
                out.append(f"{kind}: ... and {len(messages) - REPORT_LIMIT} more ({len(messages)} in all)")
        return out

    def __bool__(self) -> bool:
        return bool(self._items)


def list_files(root: Path, under: str = "", suffixes: Sequence[str] | None = None) -> list[str]:
    """Relative POSIX paths of the files below ``root/under`` (optionally by suffix), sorted.

    Hidden files and the cache's seal (``meta.json`` at the top of a miniature generated into
    the cache) are left out: they are not part of the data set.
    """
    base = root / under if under else root
    if not base.is_dir():
        return []
    out = []
    for dirpath, _, filenames in os.walk(base):
        for fn in filenames:
            if fn.startswith(".") or (fn == CACHE_SEAL and Path(dirpath) == root and _is_cache_seal(root / fn)):
                continue
            if suffixes is not None and not fn.lower().endswith(tuple(suffixes)):
                continue
            out.append((Path(dirpath) / fn).relative_to(root).as_posix())
    return sorted(out)


CACHE_SEAL = "meta.json"


def _is_cache_seal(path: Path) -> bool:
    import json

    try:
        return json.loads(path.read_text()).get("kind") == "datasets"
    except (OSError, ValueError, AttributeError):
        return False


def mini_folder(
    name: str,
    version: int,
    seed: int,
    builder: Callable[[Path, int], Mapping[str, Any] | None],
) -> Path:
    """The miniature's folder in the cache, generated by ``builder(folder, seed)`` on first use.

    The cache writes into a temporary folder and seals it with checksums, so an interrupted
    generation is never used and a damaged miniature is regenerated.
    """
    key = cache_key(dataset=name, generator_version=version, seed=seed)

    def build(folder: Path) -> Mapping[str, Any]:
        import time

        log.info("generating miniature %s (seed %d) ...", name, seed)
        t0 = time.perf_counter()
        extra = dict(builder(folder, seed) or {})
        extra["generation_seconds"] = round(time.perf_counter() - t0, 3)
        log.info("generated %s in %.1f s", name, extra["generation_seconds"])
        return {"dataset": name, "seed": seed, "generator_version": version, **extra}

    return Cache().build("datasets", key, build, {"dataset": name})


class Miniature:
    """Mixin of a ``-mini`` adapter whose miniature is generated into the cache on first use.

    List it first: ``class UCF101Mini(Miniature, UCF101)``. With no root, the adapter reads the
    miniature's cache folder, written by its own ``make_mini(folder, seed)`` from ``mini_seed``;
    ``mini_version`` is part of the cache key (bump it when the generator's output changes). A
    root that is given (e.g. a copy written by ``harness data make-mini``) is read like a real
    copy of the data set.
    """

    is_miniature: ClassVar[bool] = True
    mini_version: ClassVar[int] = 1
    mini_seed: ClassVar[int] = 0

    def _root(self, root: Path | str | None) -> Path:
        if root is not None:
            return super()._root(root)  # type: ignore[misc]
        return mini_folder(self.name, self.mini_version, self.mini_seed, self.make_mini)  # type: ignore[attr-defined]


def cached_parse(path: Path, parse: Callable[[Path], Mapping[str, Any]], what: str) -> dict[str, Any]:
    """Arrays parsed from a large text/binary file, cached by (path, size, mtime).

    Parsing NUS-WIDE's text features takes tens of seconds; the parsed arrays are kept as
    ``.npz`` in the cache (kind ``parsed``) so later loads take a moment. A changed file (size or
    modification time) is parsed again.
    """
    st = path.stat()
    key = cache_key(path=str(path.resolve()), size=st.st_size, mtime_ns=st.st_mtime_ns, what=what)
    return Cache().get_arrays("parsed", key, lambda: parse(path), {"file": str(path), "what": what})

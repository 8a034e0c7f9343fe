"""Content-addressed on-disk cache under ``$HARNESS_HOME`` (default ``~/.cache/harness``).

Every entry is a folder ``<kind>/<key>/`` holding data files and a ``meta.json`` written *last*
that records each file's size and SHA-256. An entry without ``meta.json``, or whose files do not
match it, is not trusted: it is deleted and rebuilt. Files are written to a temporary name and
renamed into place (atomic on POSIX), so a crash never leaves a half-written file under its real
name. Only safe formats are used: ``.npz``/``.npy`` (loaded with ``allow_pickle=False``), JSON and
``torch.save`` state dicts loaded with ``weights_only=True``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import CacheError

log = logging.getLogger(__name__)
META = "meta.json"


def harness_home() -> Path:
    return Path(os.environ.get("HARNESS_HOME") or Path.home() / ".cache" / "harness").expanduser()


def cache_key(**parts: Any) -> str:
    """SHA-256 (hex, 24 chars) of the canonical JSON of ``parts``."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success fsync and rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]


def load_npz(path: Path) -> dict[str, np.ndarray]:
    """Load every array of an ``.npz`` eagerly, refusing pickled objects."""
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception as exc:  # zipfile.BadZipFile, ValueError, EOFError, OSError ...
        raise CacheError(f"cannot read {path}: {exc}") from exc


@dataclass(frozen=True)
class Entry:
    kind: str
    key: str
    path: Path
    meta: dict[str, Any]

    @property
    def size(self) -> int:
        return sum(int(f["size"]) for f in self.meta.get("files", {}).values())


class Cache:
    """A content-addressed store of folders, one per key."""

    def __init__(self, root: Path | None = None) -> None:
        self.root = Path(root) if root is not None else harness_home()

    def entry_dir(self, kind: str, key: str) -> Path:
        return self.root / kind / key

    def lookup(self, kind: str, key: str, *, verify: bool = True) -> Path | None:
        """The entry's folder if it exists and is intact; a damaged entry is removed (rebuilt later)."""
        folder = self.entry_dir(kind, key)
        meta_path = folder / META
        if not meta_path.exists():
            if folder.exists():
                log.warning("cache entry %s/%s is incomplete (no %s); rebuilding it", kind, key, META)
                shutil.rmtree(folder, ignore_errors=True)
            return None
        problem = self._check(folder, verify=verify)
        if problem:
            log.warning("cache entry %s/%s is corrupt (%s); rebuilding it", kind, key, problem)
            shutil.rmtree(folder, ignore_errors=True)
            return None
        return folder

    def _check(self, folder: Path, *, verify: bool) -> str | None:
        try:
            meta = json.loads((folder / META).read_text())
        except (OSError, ValueError) as exc:
            return f"unreadable {META}: {exc}"
        for name, info in meta.get("files", {}).items():
            f = folder / name
            if not f.is_file():
                return f"missing file {name}"
            if f.stat().st_size != int(info["size"]):
                return f"{name} has {f.stat().st_size} bytes, expected {info['size']}"
            if verify and sha256_file(f) != info["sha256"]:
                return f"{name} checksum mismatch"
        return None

    def commit(self, kind: str, key: str, folder: Path, description: Mapping[str, Any]) -> Path:
        """Seal ``folder`` (already inside the entry dir) by writing ``meta.json`` last."""
        files = {}
        for f in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != META):
            rel = f.relative_to(folder).as_posix()
            files[rel] = {"size": f.stat().st_size, "sha256": sha256_file(f)}
        meta = {"kind": kind, "key": key, "created": time.time(), "description": dict(description), "files": files}
        atomic_write_text(folder / META, json.dumps(meta, indent=1, default=str))
        return folder

    def build(
        self,
        kind: str,
        key: str,
        builder: Callable[[Path], Mapping[str, Any] | None],
        description: Mapping[str, Any] | None = None,
    ) -> Path:
        """Return the entry folder, running ``builder(tmp_folder)`` first if absent or damaged.

        The builder writes into a fresh temporary folder which is renamed into place only when it
        returns, so a crash mid-build leaves nothing that is trusted.
        """
        found = self.lookup(kind, key)
        if found is not None:
            return found
        final = self.entry_dir(kind, key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key}.", dir=final.parent))
        try:
            extra = builder(tmp) or {}
            self.commit(kind, key, tmp, {**(description or {}), **extra})
            if final.exists():  # another process won the race; keep theirs if intact
                if self.lookup(kind, key) is not None:
                    return final
                shutil.rmtree(final, ignore_errors=True)
            os.replace(tmp, final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return final

    def get_arrays(
        self,
        kind: str,
        key: str,
        compute: Callable[[], Mapping[str, np.ndarray]],
        description: Mapping[str, Any] | None = None,
    ) -> dict[str, np.ndarray]:
        """Arrays stored under (kind, key), computed once by ``compute``."""

        def builder(folder: Path) -> None:
            atomic_save_npz(folder / "data.npz", compute())

        folder = self.build(kind, key, builder, description)
        try:
            return load_npz(folder / "data.npz")
        except CacheError:
            shutil.rmtree(folder, ignore_errors=True)
            folder = self.build(kind, key, builder, description)
            return load_npz(folder / "data.npz")

    def entries(self, kind: str | None = None) -> list[Entry]:
        out: list[Entry] = []
        if not self.root.exists():
            return out
        kinds = [kind] if kind else sorted(p.name for p in self.root.iterdir() if p.is_dir())
        for k in kinds:
            base = self.root / k
            if not base.is_dir():
                continue
            for folder in sorted(base.iterdir()):
                meta_path = folder / META
                if folder.name.startswith(".") or not meta_path.exists():
                    continue
                try:
                    meta = json.loads(meta_path.read_text())
                except ValueError:
                    meta = {}
                out.append(Entry(k, folder.name, folder, meta))
        return out

    def clear(self, kind: str | None = None) -> int:
        """Delete entries (of one kind or all); returns the number removed."""
        if not self.root.exists():
            return 0
        n = 0
        kinds = [kind] if kind else [p.name for p in self.root.iterdir() if p.is_dir()]
        for k in kinds:
            base = self.root / k
            if base.is_dir():
                n += sum(1 for p in base.iterdir() if not p.name.startswith("."))
                if base.is_symlink():  # a kind shared from another home: detach, never empty it
                    base.unlink()
                else:
                    shutil.rmtree(base, ignore_errors=True)
        return n

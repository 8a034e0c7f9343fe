"""Typed registries filled by decorators; unknown names are answered with close matches.

Packages fill their registry through explicit imports in their ``__init__``; outside packages add
plugins through the entry-point groups ``harness.methods``, ``harness.datasets`` and
``harness.metrics``. A plugin whose optional dependency is missing is recorded as unavailable with
the reason instead of crashing the import.
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from harness.errors import PluginUnavailableError, UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> object map that refuses duplicates and explains misses."""

    def __init__(self, kind: str, entry_point_group: str | None = None) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self._items: dict[str, T] = {}
        self._unavailable: dict[str, str] = {}
        self._entry_points_loaded = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@METHODS.register("dmtl_lc")``."""
        if not isinstance(name, str) or not name or name.strip() != name:
            raise ValueError(f"{self.kind} name must be a non-empty string without spaces, got {name!r}")

        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(
                    f"{self.kind} {name!r} is already registered (by {_describe(self._items[name])}); "
                    f"choose another name."
                )
            self._items[name] = obj
            self._unavailable.pop(name, None)
            return obj

        return decorator

    def add_unavailable(self, name: str, reason: str) -> None:
        """Record a plugin that exists but cannot be used here (e.g. an optional dependency is missing)."""
        if name not in self._items:
            self._unavailable[name] = reason

    @contextmanager
    def optional(self, name: str) -> Iterator[None]:
        """Import a plugin module whose dependency may be missing: ``with REG.optional("x"): import ...``."""
        try:
            yield
        except ImportError as exc:
            self.add_unavailable(name, f"missing dependency: {exc}")

    def get(self, name: str) -> T:
        self._load_entry_points()
        if name in self._items:
            return self._items[name]
        if name in self._unavailable:
            raise PluginUnavailableError(
                f"{self.kind} {name!r} is unavailable here: {self._unavailable[name]}"
            )
        raise UnknownNameError(self.unknown_message(name))

    def unknown_message(self, name: str) -> str:
        names = self.names()
        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        listing = ", ".join(names) if names else "(none registered)"
        return (
            f"Unknown {self.kind} {name!r}.{hint} Available: {listing}. "
            f"Run 'harness list {self.kind}s' for descriptions."
        )

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._items)

    def unavailable(self) -> dict[str, str]:
        self._load_entry_points()
        return dict(sorted(self._unavailable.items()))

    def items(self) -> list[tuple[str, T]]:
        return [(n, self._items[n]) for n in self.names()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self.names()

    def __len__(self) -> int:
        return len(self.names())

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded or self.entry_point_group is None:
            return
        self._entry_points_loaded = True
        from importlib.metadata import entry_points

        for ep in entry_points(group=self.entry_point_group):
            if ep.name in self._items:
                continue
            try:
                ep.load()  # the module registers itself on import
            except Exception as exc:  # a broken third-party plugin must not break the harness
                self._unavailable.setdefault(ep.name, f"failed to load {ep.value}: {exc}")


def _describe(obj: object) -> str:
    module = getattr(obj, "__module__", "?")
    qual = getattr(obj, "__qualname__", type(obj).__name__)
    return f"{module}.{qual}"


def load_plugins() -> None:
    """Import the built-in plugin packages so their registries are filled.

    The packages have generic names (``datasets`` above all, also the name of Hugging Face's
    library), so check that each import resolved to this project's folder, not a namesake.
    """
    from pathlib import Path

    from harness.errors import HarnessError

    project = Path(__file__).resolve().parents[1]
    for package in ("methods", "datasets", "metrics"):
        module = importlib.import_module(package)
        location = Path(getattr(module, "__file__", "") or "").resolve()
        if project not in location.parents:
            raise HarnessError(
                f"the package {package!r} was imported from {location}, not from this project ({project}). "
                f"Another distribution named {package!r} shadows ours (Hugging Face 'datasets'?). "
                f"Install the harness into its own virtual environment (see README)."
            )

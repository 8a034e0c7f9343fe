"""Exception hierarchy. Each error subclasses the builtin it refines, so callers may catch either."""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose (shown without a traceback)."""


class InvalidParameterError(HarnessError, ValueError):
    """A configuration value is unknown, of the wrong type or out of range."""


class UnknownNameError(HarnessError, LookupError):
    """A method, dataset, metric, table or backbone name is not registered."""

    def __str__(self) -> str:  # LookupError would quote the message like a KeyError
        return str(self.args[0]) if self.args else ""


class DataError(HarnessError, ValueError):
    """An input file is malformed (the message names file:line, the line, and what was expected)."""


class MissingDataError(HarnessError, FileNotFoundError):
    """A data root or a file inside it does not exist."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class CacheError(HarnessError, OSError):
    """A cache entry is unreadable; callers rebuild it."""


class MethodError(HarnessError, RuntimeError):
    """A method failed while fitting or predicting; the message carries method, dataset and seed."""


class PluginUnavailableError(HarnessError, ImportError):
    """A plugin is registered but its optional dependency is missing."""

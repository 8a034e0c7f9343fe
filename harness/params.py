"""Typed hyper-parameter configs: dataclass defaults < YAML file < ``--set key=value``.

A method declares ``@dataclass(frozen=True) class Config`` whose fields carry their constraint in
``field(metadata={"check": ...})``. Constraints are data (checked once, before any work), so one
test can feed each parameter a bad value and check the message.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import InvalidParameterError


@dataclass(frozen=True)
class Interval:
    """Numeric range; ``None`` is unbounded. ``closed`` says which ends are included."""

    lo: float | None = None
    hi: float | None = None
    closed: str = "both"  # "both", "left", "right", "neither"

    def ok(self, value: Any) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            return False  # nan, and inf: an unbounded end is open (a value must be a finite number)
        lo_ok = self.lo is None or (value >= self.lo if self.closed in ("both", "left") else value > self.lo)
        hi_ok = self.hi is None or (value <= self.hi if self.closed in ("both", "right") else value < self.hi)
        return lo_ok and hi_ok

    def describe(self) -> str:
        left = "[" if self.closed in ("both", "left") and self.lo is not None else "("
        right = "]" if self.closed in ("both", "right") and self.hi is not None else ")"
        lo = "-inf" if self.lo is None else f"{self.lo:g}"
        hi = "inf" if self.hi is None else f"{self.hi:g}"
        return f"in {left}{lo}, {hi}{right}"


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def ok(self, value: Any) -> bool:
        return value in self.values

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


def param(default: Any, check: Interval | Options | None = None, help: str = "", *, assumption: bool = False) -> Any:
    """Declare a config field: ``lr: float = param(1e-3, Interval(0, None, "neither"), "learning rate")``.

    ``assumption=True`` marks a value the paper does not give (recorded with the run).
    """
    meta = {"check": check, "help": help, "assumption": assumption}
    if isinstance(default, (list, dict, set)):
        raise TypeError("use a tuple for sequence defaults (configs are frozen)")
    return dataclasses.field(default=default, metadata=meta)


def field_help(cfg_cls: type, name: str) -> str:
    f = {f.name: f for f in dataclasses.fields(cfg_cls)}[name]
    return str(f.metadata.get("help", ""))


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp)).replace("typing.", "")


def _parse_scalar(tp: Any, raw: str) -> Any:
    if tp is bool:
        low = raw.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise ValueError("expected true or false")
    if tp is int:
        f = float(raw)
        if not f.is_integer():
            raise ValueError("expected an integer")
        return int(f)
    if tp is float:
        return float(raw)
    if tp is str:
        return raw
    if tp is Path:
        return Path(raw)
    raise ValueError(f"cannot parse values of type {_type_name(tp)} from text")


def coerce(tp: Any, value: Any) -> Any:
    """Convert ``value`` (text from the CLI or a YAML scalar) to the declared type ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        is_none = value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null"))
        if is_none and type(None) in args:
            return None
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(arg, value)
            except (ValueError, TypeError) as exc:
                errors.append(str(exc))
        raise ValueError("; ".join(errors) or "no matching type")
    if origin is tuple:
        items: Sequence[Any]
        if isinstance(value, str):
            items = [v for v in value.strip("()[] ").split(",") if v.strip()]
        elif isinstance(value, (list, tuple)):
            items = value
        else:
            raise ValueError("expected a comma-separated list")
        elem = args[0] if args else str
        return tuple(coerce(elem, v) for v in items)
    if isinstance(value, str):
        return _parse_scalar(tp, value)
    if tp is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if tp is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if tp is Path and isinstance(value, str):
        return Path(value)
    if isinstance(value, tp) and not (tp is int and isinstance(value, bool)):
        return value
    raise ValueError(f"expected {_type_name(tp)}")


def _owner(cfg_cls: type) -> str:
    return getattr(cfg_cls, "__owner__", cfg_cls.__qualname__)


def resolve_config(
    cfg_cls: type,
    file_values: Mapping[str, Any] | None = None,
    cli_values: Sequence[str] | Mapping[str, Any] | None = None,
) -> Any:
    """Build a validated, frozen config from the three layers; fail before any work on bad input."""
    fields = {f.name: f for f in dataclasses.fields(cfg_cls)}
    hints = typing.get_type_hints(cfg_cls)
    merged: dict[str, tuple[Any, str]] = {}
    for key, value in (file_values or {}).items():
        merged[str(key)] = (value, "config file")
    if isinstance(cli_values, Mapping):
        pairs = list(cli_values.items())
    else:
        pairs = []
        for item in cli_values or ():
            if "=" not in item:
                raise InvalidParameterError(
                    f"--set expects key=value, got {item!r}. Valid keys for {_owner(cfg_cls)}: {', '.join(fields)}."
                )
            k, v = item.split("=", 1)
            pairs.append((k.strip(), v.strip()))
    for key, value in pairs:
        merged[key] = (value, "--set")
    values: dict[str, Any] = {}
    for key, (raw, source) in merged.items():
        if key not in fields:
            import difflib

            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InvalidParameterError(
                f"Unknown parameter {key!r} for {_owner(cfg_cls)} (from {source}).{hint} "
                f"Valid keys: {', '.join(fields)}."
            )
        tp = hints[key]
        try:
            values[key] = coerce(tp, raw)
        except (ValueError, TypeError) as exc:
            raise InvalidParameterError(
                f"The {key!r} parameter of {_owner(cfg_cls)} must be {_type_name(tp)}"
                f"{_check_suffix(fields[key])}. Got {raw!r} (from {source}): {exc}."
            ) from None
    cfg = cfg_cls(**values)
    validate_config(cfg)
    return cfg


def _check_suffix(f: dataclasses.Field[Any]) -> str:
    check = f.metadata.get("check")
    return f" {check.describe()}" if check is not None else ""


def validate_config(cfg: Any) -> None:
    """Check every field against its declared constraint; raise naming key, range and value."""
    for f in dataclasses.fields(cfg):
        check = f.metadata.get("check")
        value = getattr(cfg, f.name)
        if check is None or value is None:
            continue
        vals = value if isinstance(value, tuple) and not isinstance(check, Options) else (value,)
        for v in vals:
            if not check.ok(v):
                raise InvalidParameterError(
                    f"The {f.name!r} parameter of {_owner(type(cfg))} must be {check.describe()}. "
                    f"Got {value!r} instead."
                )
    post = getattr(cfg, "check", None)
    if callable(post):
        post()  # cross-field rules, raising InvalidParameterError


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-type dict of a config (for YAML, MLflow params and hashing)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        if isinstance(v, Path):
            v = str(v)
        elif isinstance(v, tuple):
            v = list(v)
        out[f.name] = v
    return out


def assumptions(cfg_cls: type) -> list[str]:
    """Names of fields whose default is an assumption, not a value printed in the paper."""
    return [f.name for f in dataclasses.fields(cfg_cls) if f.metadata.get("assumption")]

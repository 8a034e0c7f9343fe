"""Search spaces for tuning, and the hook through which methods report intermediate scores.

This module is what methods import for tuning; it never imports Optuna (``harness.tuning`` is the
only Optuna importer and translates these types into Optuna distributions and a grid).

Contract for methods (optional hooks on a :class:`harness.api.Method` subclass):

* ``search_space(cls) -> Mapping[str, Dimension]`` (a ``classmethod``): maps names of fields of
  the method's ``Config`` to a dimension. Fields not named keep their configured value. Example::

      @classmethod
      def search_space(cls) -> dict[str, Dimension]:
          return {"C": LogUniform(2**-5, 2**15), "lr": PAPER_LR_GRID}

  A plain tuple or list of values is shorthand for ``Categorical(values)`` (a grid, e.g. the
  paper's ``{"C": (2**-5, 2**-3, ..., 2**15)}``).
  The space is validated before any trial (:func:`validate_space`): it must be non-empty, name
  existing fields, have consistent bounds, suit the field's type, and stay inside the field's
  declared constraint (``Interval`` / ``Options`` of :func:`harness.params.param`).
* Epoch-based methods may call :func:`report` once per epoch with the validation score reached so
  far (same metric direction as the data set's ``val_metric``; higher is better for mAP). Outside
  tuning it does nothing; during tuning it lets the pruner stop an unpromising trial by raising
  :class:`TrialPruned`, which the method must let propagate.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError, InvalidParameterError


@dataclass(frozen=True)
class LogUniform:
    """A float drawn log-uniformly from ``[low, high]`` (``low > 0``).

    ``grid_points`` log-spaced values (ends included) stand for it under the grid sampler.
    """

    low: float
    high: float
    grid_points: int = 7

    def grid(self) -> list[float]:
        if self.grid_points == 1:
            return [self.low]
        a, b = math.log(self.low), math.log(self.high)
        values = [math.exp(a + (b - a) * i / (self.grid_points - 1)) for i in range(self.grid_points)]
        values[0], values[-1] = self.low, self.high  # exact ends (exp/log round-off)
        return values


@dataclass(frozen=True)
class Uniform:
    """A float drawn uniformly from ``[low, high]``; ``grid_points`` evenly spaced values for the grid."""

    low: float
    high: float
    grid_points: int = 5

    def grid(self) -> list[float]:
        if self.grid_points == 1:
            return [self.low]
        step = (self.high - self.low) / (self.grid_points - 1)
        values = [self.low + step * i for i in range(self.grid_points)]
        values[-1] = self.high
        return values


@dataclass(frozen=True)
class IntRange:
    """An integer in ``[low, high]`` on multiples of ``step`` from ``low`` (``log``: log-uniform, step 1)."""

    low: int
    high: int
    step: int = 1
    log: bool = False

    def grid(self) -> list[int]:
        return list(range(self.low, self.high + 1, self.step))


@dataclass(frozen=True)
class Categorical:
    """One of ``choices`` (None, bool, int, float or str; no duplicates)."""

    choices: tuple[Any, ...]

    def grid(self) -> list[Any]:
        return list(self.choices)


Dimension = LogUniform | Uniform | IntRange | Categorical
SearchSpace = Mapping[str, Dimension]


def log_grid(low: float, high: float, factor: float) -> Categorical:
    """``low, low*factor, ...`` up to ``high`` (inclusive, tolerant to round-off) as a categorical grid."""
    if not (low > 0 and high >= low and factor > 1):
        raise InvalidParameterError(f"log_grid needs 0 < low <= high and factor > 1; got low={low}, high={high}, factor={factor}")
    n = int(math.floor(math.log(high / low) / math.log(factor) + 1e-9))
    # Round to 12 significant digits so that 10**-4.5 prints and hashes the same everywhere.
    return Categorical(tuple(float(f"{low * factor**i:.12g}") for i in range(n + 1)))


#: The papers' learning-rate grid (DMTL_LC, METHODS.md 2.1): 1e-5 .. 1e-2 in steps of 10^0.5 (7 values).
PAPER_LR_GRID = log_grid(1e-5, 1e-2, 10**0.5)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------

_SCALARS = (type(None), bool, int, float, str)


def _describe(dim: Dimension) -> str:
    return f"{type(dim).__name__}({', '.join(f'{f.name}={getattr(dim, f.name)!r}' for f in dataclasses.fields(dim))})"


def _dimension_problem(dim: Any) -> str | None:
    """Why ``dim`` is inconsistent on its own, or None."""
    if isinstance(dim, (LogUniform, Uniform)):
        for name in ("low", "high"):
            v = getattr(dim, name)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                return f"{name} must be a finite number, got {v!r}"
        if not dim.low < dim.high:
            return f"low must be < high, got low={dim.low!r}, high={dim.high!r}"
        if isinstance(dim, LogUniform) and dim.low <= 0:
            return f"a log-uniform range needs low > 0, got low={dim.low!r}"
        if not isinstance(dim.grid_points, int) or dim.grid_points < 1:
            return f"grid_points must be a positive integer, got {dim.grid_points!r}"
        return None
    if isinstance(dim, IntRange):
        for name in ("low", "high", "step"):
            v = getattr(dim, name)
            if not isinstance(v, int) or isinstance(v, bool):
                return f"{name} must be an integer, got {v!r}"
        if dim.low > dim.high:
            return f"low must be <= high, got low={dim.low}, high={dim.high}"
        if dim.step < 1:
            return f"step must be >= 1, got {dim.step}"
        if dim.log and (dim.low < 1 or dim.step != 1):
            return f"a log-scaled integer range needs low >= 1 and step 1, got low={dim.low}, step={dim.step}"
        return None
    if isinstance(dim, Categorical):
        if not isinstance(dim.choices, tuple) or not dim.choices:
            return f"choices must be a non-empty tuple, got {dim.choices!r}"
        bad = [c for c in dim.choices if not isinstance(c, _SCALARS)]
        if bad:
            return f"choices must be None, bool, int, float or str; got {bad[0]!r} ({type(bad[0]).__name__})"
        if len({json.dumps(c) for c in dim.choices}) != len(dim.choices):
            return f"choices contain duplicates: {dim.choices!r}"
        return None
    return f"expected LogUniform, Uniform, IntRange or Categorical, got {type(dim).__name__} ({dim!r})"


def _base_type(tp: Any) -> Any:
    """``float | None`` -> float; other annotations unchanged."""
    args = [a for a in typing.get_args(tp) if a is not type(None)]
    if typing.get_origin(tp) in (typing.Union, types.UnionType) and len(args) == 1:
        return args[0]
    return tp


def _type_problem(dim: Dimension, tp: Any) -> str | None:
    tp = _base_type(tp)
    if isinstance(dim, (LogUniform, Uniform)):
        return None if tp is float else f"a continuous range suits a float field; this field is {getattr(tp, '__name__', tp)}"
    if isinstance(dim, IntRange):
        return None if tp in (int, float) else f"an integer range suits an int field; this field is {getattr(tp, '__name__', tp)}"
    for choice in dim.choices:
        if choice is None:
            continue
        ok = (
            (tp is float and isinstance(choice, (int, float)) and not isinstance(choice, bool))
            or (tp is int and isinstance(choice, int) and not isinstance(choice, bool))
            or (tp is bool and isinstance(choice, bool))
            or (tp is str and isinstance(choice, str))
        )
        if not ok:
            return f"choice {choice!r} does not suit a field of type {getattr(tp, '__name__', tp)}"
    return None


def _constraint_problem(dim: Dimension, check: Any) -> str | None:
    """Every value the dimension can produce must pass the field's declared check."""
    if check is None:
        return None
    if isinstance(dim, (LogUniform, Uniform, IntRange)):
        # Intervals are convex, so checking both ends covers the range; Options need every grid value.
        candidates = [dim.low, dim.high] if not hasattr(check, "values") else dim.grid()
    else:
        candidates = [c for c in dim.choices if c is not None]
    for value in candidates:
        if not check.ok(value):
            return f"value {value!r} is outside the field's allowed range ({check.describe()})"
    return None


def validate_space(space: Any, config_cls: type, owner: str = "") -> dict[str, Dimension]:
    """Check a search space against a method's ``Config``; return it as a plain dict.

    Raises:
        InvalidParameterError: the space is empty, names an unknown field, or a dimension is
            inconsistent (bounds, types, or values outside the field's declared constraint).
    """
    who = owner or getattr(config_cls, "__owner__", config_cls.__qualname__)
    if not isinstance(space, Mapping):
        raise InvalidParameterError(
            f"The search space of {who} must be a mapping of config field -> dimension, got {type(space).__name__}."
        )
    if not space:
        raise InvalidParameterError(
            f"The search space of {who} is empty: there is nothing to tune. Declare at least one "
            f"dimension, e.g. {{'C': LogUniform(1e-3, 1e3)}} (see harness/search_space.py)."
        )
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    out: dict[str, Dimension] = {}
    for key, dim in space.items():
        if isinstance(dim, (tuple, list)):
            dim = Categorical(tuple(dim))  # shorthand: a plain grid of values
        if key not in fields:
            import difflib

            close = difflib.get_close_matches(str(key), list(fields), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise InvalidParameterError(
                f"The search space of {who} names {key!r}, which is not a config field.{hint} "
                f"Valid keys: {', '.join(fields)}."
            )
        problem = (_dimension_problem(dim) or _type_problem(dim, hints[key])
                   or _constraint_problem(dim, fields[key].metadata.get("check")))
        if problem:
            shown = _describe(dim) if isinstance(dim, (LogUniform, Uniform, IntRange, Categorical)) else repr(dim)
            raise InvalidParameterError(
                f"The search space of {who} is inconsistent for {key!r}: {problem}. Got {shown}."
            )
        out[str(key)] = dim
    return out


def space_of(method_cls: type) -> dict[str, Dimension]:
    """The validated search space a method declares (its ``search_space()`` classmethod)."""
    name = getattr(method_cls, "name", method_cls.__name__)
    hook = getattr(method_cls, "search_space", None)
    if hook is None:
        raise InvalidParameterError(
            f"Method {name!r} declares no search space, so it cannot be tuned. Add a classmethod "
            f"'search_space()' returning {{config_field: LogUniform(...) | Uniform(...) | IntRange(...) | "
            f"Categorical(...)}} (see harness/search_space.py), or pass --space KEY=SPEC."
        )
    return validate_space(hook(), getattr(method_cls, "Config"), f"method {name!r}")  # noqa: B009


# --------------------------------------------------------------------------------------------
# Text forms: --space KEY=SPEC on the command line, values for --set, fingerprints for hashing
# --------------------------------------------------------------------------------------------

_SPEC = re.compile(r"^\s*(loguniform|uniform|int|logint|choice|paper-lr-grid)\s*(?:\((.*)\))?\s*$", re.IGNORECASE)
SPEC_HELP = "loguniform(LOW,HIGH) | uniform(LOW,HIGH) | int(LOW,HIGH[,STEP]) | logint(LOW,HIGH) | choice(A,B,...) | paper-lr-grid"


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidParameterError(f"--space {where}: {text.strip()!r} is not a number") from None


def _scalar(text: str) -> Any:
    text = text.strip()
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for conv in (int, float):
        try:
            return conv(text)
        except ValueError:
            pass
    return text.strip("'\"")


def parse_dimension(text: str) -> Dimension:
    """Parse one ``--space`` value (see :data:`SPEC_HELP`); the result is validated later with the config."""
    m = _SPEC.match(text)
    if not m:
        raise InvalidParameterError(f"--space value {text!r} is not understood. Expected {SPEC_HELP}.")
    kind, inner = m.group(1).lower(), m.group(2)
    if kind == "paper-lr-grid":
        return PAPER_LR_GRID
    args = [a for a in (inner or "").split(",") if a.strip()]
    if kind == "choice":
        if not args:
            raise InvalidParameterError(f"--space {text!r}: choice(...) needs at least one value")
        return Categorical(tuple(_scalar(a) for a in args))
    if kind in ("loguniform", "uniform"):
        if len(args) != 2:
            raise InvalidParameterError(f"--space {text!r}: {kind}(LOW,HIGH) takes two numbers, got {len(args)}")
        low, high = (_number(a, text) for a in args)
        return LogUniform(low, high) if kind == "loguniform" else Uniform(low, high)
    if len(args) not in (2, 3) or (kind == "logint" and len(args) != 2):
        raise InvalidParameterError(f"--space {text!r}: {kind}(LOW,HIGH{'' if kind == 'logint' else '[,STEP]'}) expected")
    nums = [_number(a, text) for a in args]
    if any(not float(n).is_integer() for n in nums):
        raise InvalidParameterError(f"--space {text!r}: integer bounds expected")
    ints = [int(n) for n in nums]
    return IntRange(ints[0], ints[1], ints[2] if len(ints) == 3 else 1, log=kind == "logint")


def parse_space(items: list[str] | tuple[str, ...]) -> dict[str, Dimension]:
    """``["C=loguniform(1e-3,1e3)", ...]`` -> ``{"C": LogUniform(0.001, 1000.0)}``."""
    out: dict[str, Dimension] = {}
    for item in items:
        if "=" not in item:
            raise InvalidParameterError(f"--space expects KEY=SPEC, got {item!r}. SPEC is one of: {SPEC_HELP}.")
        key, spec = item.split("=", 1)
        out[key.strip()] = parse_dimension(spec)
    return out


def format_value(value: Any) -> str:
    """A sampled value as ``--set`` text that parses back to exactly the same value."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def contains(dim: Dimension, value: Any) -> bool:
    """Whether ``value`` is a point of ``dim`` (a default outside its method's space is not)."""
    if isinstance(dim, Categorical):
        return any(value == c and type(value) is type(c) for c in dim.choices)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(dim, IntRange):
        return isinstance(value, int) and dim.low <= value <= dim.high and (dim.log or (value - dim.low) % dim.step == 0)
    return dim.low <= value <= dim.high


def snap(dim: Dimension, value: Any, rel_tol: float = 1e-3) -> Any:
    """``value`` as a point of ``dim``, or None: a float within ``rel_tol`` of a categorical choice
    becomes that choice (a grid written as 0.00316 meets the paper grid's 10^-2.5)."""
    if contains(dim, value):
        return value
    if isinstance(dim, Categorical) and isinstance(value, float):
        for c in dim.choices:
            if isinstance(c, float) and math.isclose(c, value, rel_tol=rel_tol):
                return c
    return None


def fingerprint(space: Mapping[str, Dimension]) -> str:
    """Canonical text of a space (order-independent), for study hashes and lock files."""
    return json.dumps({k: {"type": type(d).__name__, **dataclasses.asdict(d)} for k, d in sorted(space.items())},
                      sort_keys=True, default=str)


def grid_of(space: Mapping[str, Dimension]) -> dict[str, list[Any]]:
    """The values the grid sampler enumerates, per dimension."""
    return {k: d.grid() for k, d in space.items()}


def grid_size(space: Mapping[str, Dimension]) -> int:
    return math.prod(len(v) for v in grid_of(space).values())


# --------------------------------------------------------------------------------------------
# Intermediate values (pruning hook)
# --------------------------------------------------------------------------------------------


class TrialPruned(HarnessError):
    """Raised by :func:`report` when the tuner stops an unpromising trial (not an error)."""


_REPORTER: contextvars.ContextVar[Callable[[int, float], bool] | None] = contextvars.ContextVar(
    "harness_trial_reporter", default=None
)


def report(step: int, value: float) -> None:
    """Report the validation score after epoch ``step``; raise :class:`TrialPruned` if the tuner says stop.

    A no-op outside ``harness tune``. Call it from ``fit`` of epoch-based methods, e.g.
    ``for epoch in range(n): ...; report(epoch, val_map)``.
    """
    reporter = _REPORTER.get()
    if reporter is None:
        return
    if reporter(int(step), float(value)):
        raise TrialPruned(f"trial pruned by the tuner at step {step} (intermediate value {value:.6g})")


@contextlib.contextmanager
def reporting(callback: Callable[[int, float], bool]) -> Iterator[None]:
    """Route :func:`report` calls to ``callback(step, value) -> should_prune`` inside the block."""
    token = _REPORTER.set(callback)
    try:
        yield
    finally:
        _REPORTER.reset(token)

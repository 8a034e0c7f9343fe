"""Settings a method needs on a miniature data set, declared once with their reasons.

The papers' defaults assume the real data sets (TRECVID SIN: hundreds of thousands of keyframes).
On a miniature (``<name>-mini``, 2,500 training keyframes for ``trecvid2013-mini``) some of them
leave a network untrained, so a method declares what it changes there, next to its code::

    @register_method("default_tl_hinge")
    class DefaultTLHinge(DefaultTLBase):
        miniature_settings = {
            "batch_size": (32, miniature.BATCH_32),
            "lr_grid": ((3.16227766017e-05, 0.0001), "the two best of the paper's grid on validation ..."),
        }

:func:`harness.runner.resolve` applies them to every run on a miniature, so ``harness run``,
``tune``, ``sweep`` and ``table`` train a method the same way. Layers, lowest first: the paper's
defaults (the Config dataclass) < miniature settings < ``--config`` file < ``--set``. The settings
that were applied (not overridden) are printed and recorded with the run as
``run.miniature_settings``; ``--paper-defaults`` skips them (the paper's values unchanged). On
real data they never apply.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping
from typing import Any

# Reasons shared by several methods (measured; README "Regenerating the paper's tables").
BATCH_32 = (
    "2,500 training keyframes give about 10 SGD updates per epoch at the paper's batch of 256 and the "
    "network barely leaves its initialisation (Default-TL direct output 8.15 +- 0.72 % MXinfAP at 256 "
    "vs 17.51 +- 0.26 % at 32, 3 seeds); 32 gives about 80 updates per epoch"
)
LR_PAIR = (
    "the two best values of the paper's 7-value grid on validation (batch 32, 8 epochs, seed 0), so a "
    "run trains 2 networks instead of 7 and stays within minutes on 2 CPU cores"
)


def declared(method_cls: type) -> dict[str, tuple[Any, str]]:
    """The method's ``miniature_settings`` as ``{key: (value, reason)}``, checked against its Config.

    Raises:
        TypeError: a malformed declaration (not ``key: (value, reason)``, or a key the Config lacks).
    """
    raw = getattr(method_cls, "miniature_settings", None) or {}
    if not isinstance(raw, Mapping):
        raise TypeError(f"{method_cls.__name__}.miniature_settings must be a mapping, got {type(raw).__name__}")
    config = getattr(method_cls, "Config", None)
    fields = {f.name for f in dataclasses.fields(config)} if isinstance(config, type) and dataclasses.is_dataclass(config) else set()
    out: dict[str, tuple[Any, str]] = {}
    for key, item in raw.items():
        if not (isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], str) and item[1].strip()):
            raise TypeError(
                f"{method_cls.__name__}.miniature_settings[{key!r}] must be (value, reason) with a non-empty "
                f"reason, got {item!r}"
            )
        if key not in fields:
            raise TypeError(
                f"{method_cls.__name__}.miniature_settings names {key!r}, which its Config does not have "
                f"(valid: {', '.join(sorted(fields))})"
            )
        out[str(key)] = item
    return out


def applies(adapter_cls: type) -> bool:
    """Whether the data set is a miniature (its adapter's ``is_miniature``)."""
    return bool(getattr(adapter_cls, "is_miniature", False))


def values_for(method_cls: type, adapter_cls: type, *, paper_defaults: bool = False) -> dict[str, Any]:
    """``{key: value}`` to layer above the method's defaults: empty on real data or with ``paper_defaults``."""
    if paper_defaults or not applies(adapter_cls):
        return {}
    return {k: v for k, (v, _) in declared(method_cls).items()}


def for_names(method: str, dataset: str, *, paper_defaults: bool = False) -> dict[str, Any]:
    """:func:`values_for` by registered names (for code that holds names only, e.g. table specs)."""
    from harness import api
    from harness.registry import load_plugins

    load_plugins()
    return values_for(api.METHODS.get(method), api.DATASETS.get(dataset), paper_defaults=paper_defaults)


def layered(values: Mapping[str, Any], file_values: Mapping[str, Any], set_keys: Iterable[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Merge miniature ``values`` under the ``--config`` values; return (merged file layer, applied).

    ``applied`` holds the miniature settings that no ``--config`` key and no ``--set`` key overrode:
    what the run records as ``run.miniature_settings``.
    """
    overridden = set(file_values) | {k.split("=", 1)[0].strip().removeprefix("method.") for k in set_keys}
    merged = {**dict(values), **dict(file_values)}
    applied = {k: v for k, v in values.items() if k not in overridden}
    return merged, applied


def as_param(applied: Mapping[str, Any]) -> str:
    """The canonical JSON recorded as ``run.miniature_settings`` (``{}`` when none applied)."""
    return json.dumps({k: list(v) if isinstance(v, tuple) else v for k, v in sorted(applied.items())},
                      sort_keys=True, default=str)


def describe(method_cls: type, applied: Mapping[str, Any]) -> list[str]:
    """Lines for the terminal: each applied setting with its reason, and how to turn them off."""
    if not applied:
        return []
    reasons = declared(method_cls)
    lines = ["miniature settings (the paper's defaults leave this method untrained on a miniature; "
             "--paper-defaults turns them off, --set overrides one):"]
    for key, value in applied.items():
        shown = ",".join(f"{v:g}" for v in value) if isinstance(value, (tuple, list)) else value
        lines.append(f"  {key}={shown}: {reasons[key][1] if key in reasons else ''}")
    return lines

"""Fitted methods as sources of other runs: one mechanism for "train once, reuse everywhere".

A method whose fitted state can be cached is a *source method*. It is referred to by a string
``<method>[:<key>=<value>;<key>=<value>...]`` (its registered name and config settings, e.g.
``default_tl_hinge:fine_tuning=b``), and it serves

* feature-based methods as a backbone (``--set backbone=<reference>``; the table spec's
  ``{source:NAME}``): :func:`source_features` gives the outputs of its ``layer`` on any split, the
  source network fitted on the training part of run seed ``backbone_weights=seed<N>`` (default 0);
* other methods as a starting point (e.g. DMTL_LC's ``init_from``): :func:`fitted` returns the
  fitted method for the caller's own data and seed.

Each fit is stored in the cache (kind ``cls.fitted_cache_kind``) under ``cls.fitted_key(...)``, so a
table fits a source network once per seed however many cells read it.

Hooks of a source method (all required for :func:`is_source_method`):
    ``output_layers`` (class attribute): layers ``outputs`` can return;
    ``fitted_key(train, val) -> str``: cache key of the fit (method, config, seed, data);
    ``save_fitted(folder) -> dict``: write the state into ``folder``, return the entry's description;
    ``load_fitted(folder)``: restore the state written by ``save_fitted``;
    ``outputs(data, layer) -> (n, d)``: the fitted method's outputs at ``layer``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from harness.api import METHODS, Dataset, FeatureSpec, Method, MethodData, Split
from harness.errors import HarnessError, InvalidParameterError
from harness.params import resolve_config
from harness.seeding import derive_seed

log = logging.getLogger(__name__)

HOOKS = ("fitted_key", "save_fitted", "load_fitted", "outputs")
_SEED = re.compile(r"^seed=?(\d+)$")


def is_source_method(cls: Any) -> bool:
    """Whether a method class implements every hook of a source method."""
    return isinstance(cls, type) and issubclass(cls, Method) and all(callable(getattr(cls, h, None)) for h in HOOKS) \
        and bool(getattr(cls, "output_layers", ()))  # fmt: skip


def source_method_names() -> list[str]:
    return sorted(name for name in METHODS.names() if is_source_method(METHODS.get(name)))


def parse_reference(text: str) -> tuple[type[Method], Any]:
    """``<method>[:key=value;key=value]`` -> (method class, resolved config); bad settings fail here."""
    name, _, rest = str(text).partition(":")
    name = name.strip()
    cls = METHODS.get(name)
    if not is_source_method(cls):
        raise InvalidParameterError(
            f"{text!r} is not a fitted-method reference: {name!r} cannot be cached and reused as a source "
            f"(source methods: {', '.join(source_method_names()) or 'none'})."
        )
    items = [item.strip() for item in rest.split(";") if item.strip()]
    return cls, resolve_config(cls.Config, None, items)


def source_run_seed(weights: str) -> int:
    """``backbone_weights`` of a fitted-method backbone: ``default`` (= seed 0) or ``seed<N>``."""
    if weights in ("default", ""):
        return 0
    m = _SEED.match(str(weights).strip())
    if not m:
        raise InvalidParameterError(
            f"For a fitted-method backbone, backbone_weights names the run seed of the source: 'default' (seed 0) or "
            f"'seed<N>' (e.g. seed3). Got {weights!r}."
        )
    return int(m.group(1))


def store(method: Any, train: MethodData, val: MethodData | None) -> str:
    """Write a fitted source method into the cache (kept if an identical entry exists); returns its key."""
    from harness.cache import Cache

    key = method.fitted_key(train, val)
    kind = getattr(type(method), "fitted_cache_kind", "fitted")
    try:
        Cache().build(kind, key, method.save_fitted, {"kind": f"fitted {getattr(method, 'name', type(method).__name__)}"})
    except OSError as exc:  # a full disk must not fail the run that did the fitting
        log.warning("could not cache the fitted %s: %s", getattr(method, "name", type(method).__name__), exc)
    method.network_key_ = key
    return str(key)


def fitted(text: str, seed: int, train: MethodData, val: MethodData | None, device: str) -> Any:
    """The source method ``text`` fitted with ``seed`` on (train, val): from the cache, else fitted and stored."""
    from harness.cache import Cache

    cls, cfg = parse_reference(text)
    method: Any = cls(config=cfg, seed=seed, device=device)
    key = method.fitted_key(train, val)
    folder = Cache().lookup(getattr(cls, "fitted_cache_kind", "fitted"), key)
    if folder is not None:
        log.info("using the cached fitted %s %s", text, key)
        method.load_fitted(Path(folder))
        method.network_key_ = key
        return method
    log.info("fitting the source %s (seed %d); it is cached for later runs", text, seed)
    method.fit(train, val)
    if getattr(method, "network_key_", None) != key:
        store(method, train, val)
    return method


def source_features(dataset: Dataset, split_name: str, split: Split, spec: FeatureSpec, *, device: str = "cpu",
                    cache: Any = None) -> np.ndarray:
    """Features of ``split``: the outputs at ``spec.layer`` of the source method ``spec.backbone``, fitted on
    the training part of run seed ``spec.weights`` (the held-out validation groups of that run)."""
    from harness.cache import Cache, cache_key
    from harness.run_data import split_train_val
    from harness.run_eval import make_scorer
    from harness.run_inputs import method_data
    from harness.runner import DEFAULT_VAL_FRACTION

    cls, cfg = parse_reference(spec.backbone)
    layers = tuple(cls.output_layers)  # type: ignore[attr-defined]
    if spec.layer not in layers:
        raise InvalidParameterError(
            f"Backbone {spec.backbone!r} (a fitted {getattr(cls, 'name', cls.__name__)}) has layers "
            f"{', '.join(layers)}; got layer {spec.layer!r}."
        )
    run_seed = source_run_seed(spec.weights)
    tr, va = split_train_val(dataset, DEFAULT_VAL_FRACTION, run_seed)
    train_md = method_data(dataset, tr, with_labels=True, val_score=make_scorer(dataset, tr))
    val_md = None if va is None else method_data(dataset, va, with_labels=True, val_score=make_scorer(dataset, va))
    method_seed = derive_seed(run_seed, "method")  # the seed the runner gives a method
    probe: Any = cls(config=cfg, seed=method_seed, device=device)
    net_key = probe.fitted_key(train_md, val_md)
    items = hashlib.sha256("\n".join(map(str, split.ids)).encode("utf-8")).hexdigest()
    canonical = getattr(cls, "canonical_layer", lambda layer: layer)(spec.layer)
    key = cache_key(manifest=dataset.manifest_hash, split=split_name, items=items, network=net_key, layer=canonical,
                    version=getattr(cls, "fitted_version", 1))  # fmt: skip
    cache = cache or Cache()

    def compute() -> dict[str, np.ndarray]:
        source = fitted(spec.backbone, method_seed, train_md, val_md, device)
        return {"features": np.asarray(source.outputs(method_data(dataset, split, with_labels=False), spec.layer),
                                       dtype=np.float32)}  # fmt: skip

    description = {"dataset": dataset.name, "split": split_name, "n": len(split), "backbone": spec.backbone,
                   "source_seed": run_seed, "network": net_key, "layer": spec.layer}  # fmt: skip
    feats = cache.get_arrays("features", key, compute, description)["features"]
    if feats.shape[0] != len(split):
        raise HarnessError(f"cached features {key} do not match split {split_name!r} ({len(split)} items)")
    return feats.astype(np.float32, copy=False)

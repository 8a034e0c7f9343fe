"""Data stage of a run: the target data set, its train / validation / evaluation splits, and the
training sources a method names (other registered data sets, loaded through their own adapters)."""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import api
from harness.errors import InvalidParameterError
from harness.params import config_to_dict, resolve_config
from harness.seeding import derive_seed

log = logging.getLogger(__name__)

SOURCE_SPLITS = ("train", "test", "all")

_LOADED: dict[tuple[Any, ...], api.Dataset] = {}
_LOADED_MAX = 6


def load_dataset(adapter_cls: type[api.DatasetAdapter], root: Path | None, config: Any) -> api.Dataset:
    """Load a data set, reusing one already loaded in this process (tuning trials, sweeps, tables).

    Datasets are frozen, so sharing them is safe. The key holds the adapter, options, cache and
    data homes and the root's modification time, so a changed root is read again.
    """
    root_key = None if root is None else str(Path(root).resolve())
    mtime = Path(root).stat().st_mtime_ns if root is not None and Path(root).exists() else None
    key = (adapter_cls, root_key, mtime, repr(config), os.environ.get("HARNESS_HOME"), os.environ.get("HARNESS_DATA"))
    if key not in _LOADED:
        if len(_LOADED) >= _LOADED_MAX:
            _LOADED.pop(next(iter(_LOADED)))
        _LOADED[key] = adapter_cls().load(root, config)
    return _LOADED[key]


@dataclass(frozen=True)
class LoadedSource:
    """One training source: its data set and the split the method trains on."""

    name: str
    spec: api.SourceSpec
    dataset: api.Dataset
    split: api.Split
    options: Mapping[str, Any]
    named: str = ""  # the data set the method named (its miniature is used for a miniature target)

    def record(self) -> dict[str, Any]:
        """What the run records of this source (MLflow tags ``source.<name>.*``)."""
        return {"dataset": self.spec.dataset, "named": self.named or self.spec.dataset, "split": self.spec.split, "manifest_hash": self.dataset.manifest_hash,
                "is_miniature": self.dataset.is_miniature, "root": str(self.dataset.root), "n_items": len(self.split),
                "options": dict(self.options), "features": dict(self.spec.features)}  # fmt: skip


@dataclass(frozen=True)
class LoadedData:
    """The data of a run: ``train`` may be empty (a data set without a training split, e.g. AVS)
    and ``val`` None (then the method gets no validation data)."""

    dataset: api.Dataset
    train: api.Split
    val: api.Split | None
    target: api.Split
    sources: Mapping[str, LoadedSource] = field(default_factory=dict)

    @property
    def has_train(self) -> bool:
        return len(self.dataset.train) > 0


def split_train_val(ds: api.Dataset, val_fraction: float, seed: int) -> tuple[api.Split, api.Split | None]:
    """The adapter's validation split, or about ``val_fraction`` of the training groups held out
    (AMB-16); no hold-out for a data set without a training split."""
    if ds.val is not None:
        return ds.train, ds.val
    if len(ds.train) == 0:
        return ds.train, None
    from harness.splits import group_holdout

    return group_holdout(ds.train, val_fraction, derive_seed(seed, "validation"))


def parse_source_roots(items: Any) -> dict[str, Path]:
    """``NAME=DIR`` items (``--source-root``) -> {name: path}; NAME is a source name or a data-set name."""
    roots: dict[str, Path] = {}
    for item in items or ():
        if isinstance(item, tuple):
            name, value = item
        else:
            if "=" not in str(item):
                raise InvalidParameterError(f"--source-root expects NAME=DIR (a training source or data set name), got {item!r}")
            name, value = str(item).split("=", 1)
        name = name.strip()
        if not name or not str(value).strip():
            raise InvalidParameterError(f"--source-root expects NAME=DIR, got {item!r}")
        roots[name] = Path(str(value).strip()).expanduser()
    return roots


def load_sources(method_cls: type[api.Method], method_config: Any, target: api.Dataset,
                 roots: Mapping[str, Path]) -> dict[str, LoadedSource]:
    """Load every training source the method names, through the registered adapters.

    A source is read from ``roots[source name]`` or ``roots[data-set name]``, else the adapter's own
    default root. A miniature never stands in for real data: training a method on a miniature source
    while the target is real is an error. The other way round, a miniature target trains on the
    miniature of each real source it names (``trecvid2013`` -> ``trecvid2013-mini``) unless a root is
    given for it; the run records the data set used and the one named.
    """
    specs = dict(method_cls.training_sources(method_config))
    unknown = set(roots) - set(specs) - {s.dataset for s in specs.values()}
    if unknown:
        named = ", ".join(f"{k} ({s.dataset})" for k, s in specs.items()) or "none"
        raise InvalidParameterError(f"--source-root names {', '.join(sorted(unknown))}, which is not a training source "
                                    f"of this method; its sources: {named}")  # fmt: skip
    out: dict[str, LoadedSource] = {}
    for name, spec in specs.items():
        if spec.split not in SOURCE_SPLITS:
            raise InvalidParameterError(f"training source {name!r}: split must be one of {SOURCE_SPLITS}, got {spec.split!r}")
        root = roots.get(name, roots.get(spec.dataset))
        named = spec.dataset
        if target.is_miniature and root is None and not named.endswith("-mini") and f"{named}-mini" in api.DATASETS:
            spec = dataclasses.replace(spec, dataset=f"{named}-mini")
            log.info("training source %s: the target %s is a miniature, so %s stands in for %s", name, target.name,
                     spec.dataset, named)  # fmt: skip
        adapter_cls = api.DATASETS.get(spec.dataset)
        config = resolve_config(adapter_cls.Config, dict(spec.options), [])
        ds = load_dataset(adapter_cls, root, config)
        if ds.is_miniature and not target.is_miniature:
            raise InvalidParameterError(
                f"training source {name!r} is the miniature {spec.dataset!r} but the target {target.name!r} is real data; "
                f"name the real data set (e.g. {spec.dataset.removesuffix('-mini')!r}) with --source-root {name}=DIR."
            )
        split = _source_split(ds, spec.split)
        log.info("training source %s: %s (%s, %d items, manifest %s)", name, spec.dataset, spec.split, len(split),
                 ds.manifest_hash[:12])  # fmt: skip
        out[name] = LoadedSource(name, spec, ds, split, config_to_dict(config), named)
    return out


def _source_split(ds: api.Dataset, which: str) -> api.Split:
    if which == "train":
        parts = [ds.train] + ([ds.val] if ds.val is not None else [])
    elif which == "test":
        parts = [ds.test]
    else:
        parts = [ds.train] + ([ds.val] if ds.val is not None else []) + [ds.test]
    parts = [p for p in parts if len(p)]
    if not parts:
        raise InvalidParameterError(f"training source {ds.name!r} has no items in its {which} split")
    return parts[0] if len(parts) == 1 else concat_splits(parts)


def concat_splits(parts: list[api.Split]) -> api.Split:
    """Items of several splits one after the other (labels, paths, blocks and extras must agree)."""
    import numpy as np

    def cat(values: list[Any]) -> Any:
        return None if any(v is None for v in values) else np.concatenate([np.asarray(v) for v in values])

    def tup(values: list[Any]) -> Any:
        return None if any(v is None for v in values) else tuple(x for v in values for x in v)

    features = None
    if all(p.features for p in parts):
        keys = set.intersection(*(set(p.features or {}) for p in parts))
        features = {k: np.concatenate([np.asarray((p.features or {})[k]) for p in parts]) for k in sorted(keys)}
    extra_keys = set.intersection(*(set(p.extra) for p in parts))
    return api.Split(
        ids=np.concatenate([np.asarray(p.ids) for p in parts]),
        groups=np.concatenate([np.asarray(p.groups) for p in parts]),
        labels=cat([p.labels for p in parts]), paths=tup([p.paths for p in parts]), features=features,
        extra={k: np.concatenate([np.asarray(p.extra[k]) for p in parts]) for k in sorted(extra_keys)},
        frame_paths=tup([p.frame_paths for p in parts]),
    )

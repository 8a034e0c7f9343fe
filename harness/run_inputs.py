"""Input stage of a run: the method's feature blocks, extracted (and cached) per original split, and
the :class:`~harness.api.MethodData` a method sees, for the target data set and each training source.

Features are extracted per original split of a data set (train / val / test), then the rows of a
held-out split are taken from them, so cache keys stay valid across seeds.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from harness import api
from harness.errors import InvalidParameterError

log = logging.getLogger(__name__)

Blocks = Mapping[str, api.FeatureBlock]


def resolve_feature_spec(spec: api.FeatureSpec | None, ds: api.Dataset) -> api.FeatureSpec | None:
    """``backbone=auto`` -> the backbone the data set's adapter declares (``Dataset.default_backbone``)."""
    if spec is None or spec.backbone != "auto":
        return spec
    declared = ds.default_backbone
    if declared is None:
        shipped = sorted((ds.train.features or ds.test.features or {}).keys())
        hint = (f"it ships feature blocks ({', '.join(shipped)}): use --set backbone=provided --set layer=all "
                f"(or layer=<block>, or layer=each for one block per shipped block)") if shipped \
            else "name one, e.g. --set backbone=resnet18"  # fmt: skip
        raise InvalidParameterError(
            f"backbone 'auto' means the data set's declared default backbone, but {ds.name!r} declares none; {hint}."
        )
    log.info("backbone 'auto' -> %s (declared by data set %s)", declared, ds.name)
    return dataclasses.replace(spec, backbone=declared)


def resolve_feature_specs(method_cls: type[api.Method], config: Any, ds: api.Dataset) -> dict[str, api.FeatureSpec]:
    """The method's named feature specs for ``ds``: ``auto`` resolved, ``provided``/``each`` expanded
    into one block per feature block the data set ships (named as shipped)."""
    out: dict[str, api.FeatureSpec] = {}
    for name, spec in method_cls.feature_specs(config).items():
        resolved = resolve_feature_spec(spec, ds)
        assert resolved is not None
        if resolved.backbone == "provided" and resolved.layer == "each":
            shipped = list((ds.train.features or ds.test.features or {}).keys())
            if not shipped:
                raise InvalidParameterError(f"layer 'each' uses the feature blocks {ds.name!r} ships, and it ships none")
            out.update({block: dataclasses.replace(resolved, layer=block) for block in shipped})
        else:
            out[name] = resolved
    return out


def source_feature_specs(specs: Mapping[str, api.FeatureSpec], source: api.SourceSpec,
                         name: str) -> dict[str, api.FeatureSpec]:
    """``specs`` with the source's own feature fields (``SourceSpec.features``) put in."""
    if not source.features:
        return dict(specs)
    fields = {f.name for f in dataclasses.fields(api.FeatureSpec)}
    unknown = sorted(set(source.features) - fields)
    if unknown:
        raise InvalidParameterError(f"training source {name!r} ({source.dataset}): unknown feature fields {unknown}; "
                                    f"known: {sorted(fields)}")  # fmt: skip
    return {k: dataclasses.replace(s, **dict(source.features)) for k, s in specs.items()}


def _take(block: api.FeatureBlock, index: np.ndarray) -> api.FeatureBlock:
    return block.subset(index) if isinstance(block, api.Sequences) else block[index]


def _empty_block(spec: api.FeatureSpec) -> api.FeatureBlock:
    if spec.pooling == "none":
        return api.Sequences(np.zeros((0, 0), np.float32), np.zeros(1, np.int64))
    return np.zeros((0, 0), np.float32)


def extract_split(ds: api.Dataset, split_name: str, split: api.Split, specs: Mapping[str, api.FeatureSpec],
                  device: str) -> dict[str, api.FeatureBlock]:
    """Every named block of ``split`` (an empty split gives empty blocks without extraction)."""
    from harness.features import extract_features

    blocks: dict[str, api.FeatureBlock] = {}
    for name, spec in specs.items():
        blocks[name] = _empty_block(spec) if len(split) == 0 else extract_features(ds, split_name, split, spec, device=device)
    return blocks


def rows_of(full: api.Split, part: api.Split) -> np.ndarray:
    """Positions of ``part``'s items in ``full`` (a held-out part of a split)."""
    pos = {str(i): k for k, i in enumerate(full.ids)}
    return np.array([pos[str(i)] for i in part.ids], dtype=np.int64)


def feature_names(specs: Mapping[str, api.FeatureSpec], blocks: Blocks) -> tuple[str, ...] | None:
    """Column names of the single block: ``<block>[j]`` for shipped blocks, ``<layer>[j]`` otherwise."""
    if len(blocks) != 1:
        return None
    (name, block), = blocks.items()
    if isinstance(block, api.Sequences) or np.ndim(block) != 2:
        return None
    spec = specs[name]
    if spec.backbone == "provided" and spec.layer == "all":
        return None  # the concatenation keeps no boundaries: use layer=each for named blocks
    label = spec.layer if spec.backbone != "provided" else spec.layer
    return tuple(f"{label}[{j}]" for j in range(np.shape(block)[1]))


def method_data(ds: api.Dataset, split: api.Split, blocks: Blocks | np.ndarray | None = None, *,
                with_labels: bool, specs: Mapping[str, api.FeatureSpec] | None = None,
                val_score: api.Scorer | None = None, sources: Mapping[str, api.MethodData] | None = None) -> api.MethodData:
    """What a method sees of ``split``: every field a method may read, so no plugin rebuilds it.

    ``blocks`` is the mapping of named feature blocks (or one array, the single ``features`` block).
    """
    if blocks is None:
        blocks = {}
    elif not isinstance(blocks, Mapping):
        blocks = {"features": blocks}
    single = next(iter(blocks.values())) if len(blocks) == 1 else None
    return api.MethodData(
        ids=split.ids, groups=split.groups, concepts=ds.concepts, task=ds.task,
        labels=split.labels if with_labels else None,
        features=single if isinstance(single, np.ndarray) else None,
        paths=split.paths, extra=split.extra, default_backbone=ds.default_backbone,
        blocks=MappingProxyType(dict(blocks)), feature_names=feature_names(specs, blocks) if specs else None,
        protocol=ds.protocol, info=MappingProxyType(dict(ds.info)), dataset=ds.name, is_miniature=ds.is_miniature,
        val_score=val_score if with_labels else None, sources=MappingProxyType(dict(sources or {})),
        frame_paths=split.frame_paths,
    )  # fmt: skip


@dataclass(frozen=True)
class MethodInputs:
    """The inputs of fit and predict, and the specs they were built from (recorded with the run)."""

    train: api.MethodData
    val: api.MethodData | None
    target: api.MethodData
    specs: Mapping[str, api.FeatureSpec]
    source_specs: Mapping[str, Mapping[str, api.FeatureSpec]] = field(default_factory=dict)


def build_inputs(method_cls: type[api.Method], method_config: Any, data: Any, *, device: str,
                 eval_split: str) -> MethodInputs:
    """Extract every declared block for the target's splits and each training source; build MethodData.

    ``data`` is the :class:`harness.run_data.LoadedData` of the run.
    """
    from harness.run_eval import make_scorer

    ds = data.dataset
    specs = resolve_feature_specs(method_cls, method_config, ds)
    train_full = extract_split(ds, "train", ds.train, specs, device)
    train_blocks = {k: _take(v, rows_of(ds.train, data.train)) for k, v in train_full.items()} if ds.val is None \
        else train_full  # fmt: skip
    val_blocks: dict[str, api.FeatureBlock] = {}
    if data.val is not None:
        val_blocks = extract_split(ds, "val", ds.val, specs, device) if ds.val is not None \
            else {k: _take(v, rows_of(ds.train, data.val)) for k, v in train_full.items()}  # fmt: skip
    if eval_split == "val":
        target_blocks = val_blocks
    else:
        target_blocks = extract_split(ds, "test", ds.test, specs, device)

    sources: dict[str, api.MethodData] = {}
    source_specs: dict[str, dict[str, api.FeatureSpec]] = {}
    for name, src in data.sources.items():
        sspecs = source_feature_specs(resolve_feature_specs(method_cls, method_config, src.dataset), src.spec, name)
        split_name = src.spec.split if src.spec.split != "all" else "all"
        blocks = extract_split(src.dataset, split_name, src.split, sspecs, device)
        sources[name] = method_data(src.dataset, src.split, blocks, with_labels=True, specs=sspecs,
                                    val_score=make_scorer(src.dataset, src.split))  # fmt: skip
        source_specs[name] = sspecs

    train = method_data(ds, data.train, train_blocks, with_labels=True, specs=specs,
                        val_score=make_scorer(ds, data.train), sources=sources)  # fmt: skip
    val = None if data.val is None else method_data(ds, data.val, val_blocks, with_labels=True, specs=specs,
                                                    val_score=make_scorer(ds, data.val))  # fmt: skip
    target = method_data(ds, data.target, target_blocks, with_labels=False, specs=specs)
    return MethodInputs(train=train, val=val, target=target, specs=specs, source_specs=source_specs)

"""The plugin API: the frozen data passed between stages, the thin base classes and the registries.

Plugins (``methods/``, ``datasets/``, ``metrics/``) import only from ``harness`` (this module,
``params``, ``errors``, ``seeding``, ``progress``, ``cache``, ``features``) and never each other.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, ClassVar, Self, Union

import numpy as np

from harness.registry import Registry

TASKS = ("multilabel", "multiclass", "coview")


# --------------------------------------------------------------------------------------------
# Data passed between stages (frozen; fields are the next stage's inputs)
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Sequences:
    """Ragged per-item sequences (e.g. the per-frame features of each shot): item ``i`` is
    ``values[offsets[i]:offsets[i + 1]]``.

    Attributes:
        values: (N, ...) rows of all items, item after item (N = total number of frames).
        offsets: (n + 1,) int64, non-decreasing, ``offsets[0] == 0`` and ``offsets[-1] == N``.
    """

    values: np.ndarray
    offsets: np.ndarray

    def __post_init__(self) -> None:
        offsets = np.asarray(self.offsets)
        if offsets.ndim != 1 or len(offsets) < 1 or offsets[0] != 0 or np.any(np.diff(offsets) < 0):
            raise ValueError("offsets must be a non-decreasing 1-d array starting at 0")
        if int(offsets[-1]) != len(self.values):
            raise ValueError(f"offsets end at {int(offsets[-1])} but there are {len(self.values)} rows of values")

    @classmethod
    def from_list(cls, items: list[np.ndarray] | tuple[np.ndarray, ...], width: tuple[int, ...] = ()) -> Sequences:
        """Pack a list of (L_i, ...) arrays; ``width`` is the row shape when the list is empty."""
        lengths = np.array([len(a) for a in items], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        values = np.concatenate(items) if items else np.zeros((0, *width), np.float32)
        return cls(values, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.values[int(self.offsets[i]) : int(self.offsets[i + 1])]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def subset(self, index: np.ndarray) -> Sequences:
        """Items ``index`` (in that order)."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        return Sequences.from_list([self[int(i)] for i in index], self.values.shape[1:])

    def pool(self, how: str = "mean") -> np.ndarray:
        """(n, ...) one row per item: ``mean`` or ``max`` over its frames (an empty item gives NaN)."""
        if how not in ("mean", "max"):
            raise ValueError(f"pool expects 'mean' or 'max', got {how!r}")
        out = np.full((len(self), *self.values.shape[1:]), np.nan, dtype=np.float32)
        for i in range(len(self)):
            rows = self[i]
            if len(rows):
                out[i] = rows.mean(axis=0) if how == "mean" else rows.max(axis=0)
        return out

    def pad(self, max_len: int | None = None, value: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
        """(n, L, ...) padded values and (n, L) bool mask of real frames (L = longest item, or ``max_len``,
        keeping each item's first ``max_len`` frames)."""
        lengths = self.lengths
        length = int(lengths.max(initial=0)) if max_len is None else int(max_len)
        out = np.full((len(self), length, *self.values.shape[1:]), value, dtype=self.values.dtype)
        mask = np.zeros((len(self), length), dtype=bool)
        for i in range(len(self)):
            rows = self[i][:length]
            out[i, : len(rows)] = rows
            mask[i, : len(rows)] = True
        return out, mask


FeatureBlock = Union[np.ndarray, Sequences]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True)
class Split:
    """One split of a data set.

    Attributes:
        ids: (n,) item ids (shot ids, clip paths, image ids, ``video/segment``).
        groups: (n,) group ids (video ids, UCF101 groups) so validation splits never leak.
        labels: multilabel: (n, T) int8 in {1, 0, -1 = not annotated}; multiclass: (n,) int;
            coview: (n, 3) float (scene, action, importance). ``None`` where withheld.
        paths: raw inputs (keyframe images / clip files) when the data set has them.
        features: precomputed feature blocks (name -> (n, d) array) when the data set ships them.
        extra: per-item arrays a protocol needs (e.g. segment index, frame index).
    """

    ids: np.ndarray
    groups: np.ndarray
    labels: np.ndarray | None
    paths: tuple[str, ...] | None = None
    features: Mapping[str, np.ndarray] | None = None
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)
    frame_paths: tuple[tuple[str, ...], ...] | None = None

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.frame_paths is not None and len(self.frame_paths) != n:
            raise ValueError(f"frame_paths has {len(self.frame_paths)} entries for {n} items")
        if len(self.groups) != n:
            raise ValueError(f"groups has {len(self.groups)} entries for {n} items")
        if self.labels is not None and len(self.labels) != n:
            raise ValueError(f"labels has {len(self.labels)} rows for {n} items")
        if self.paths is not None and len(self.paths) != n:
            raise ValueError(f"paths has {len(self.paths)} entries for {n} items")
        for name, block in (self.features or {}).items():
            if len(block) != n:
                raise ValueError(f"feature block {name!r} has {len(block)} rows for {n} items")

    def __len__(self) -> int:
        return len(self.ids)

    def subset(self, index: np.ndarray) -> Split:
        """Rows ``index`` of every per-item field."""
        index = np.asarray(index)
        return Split(
            ids=self.ids[index],
            groups=self.groups[index],
            labels=None if self.labels is None else self.labels[index],
            paths=None if self.paths is None else tuple(self.paths[i] for i in index),
            features=None if self.features is None else {k: v[index] for k, v in self.features.items()},
            extra={k: v[index] for k, v in self.extra.items()},
            frame_paths=None if self.frame_paths is None else tuple(self.frame_paths[i] for i in index),
        )


@dataclass(frozen=True)
class Protocol:
    """How a data set is scored.

    Attributes:
        metric: registered metric name of the headline number (e.g. ``mxinfap``).
        eval_concepts: the concepts that are scored (SIN 2013: the 38 in the qrels); None = all.
        qrels_path: NIST-format judgments when the data set is scored by sampled judgments.
        max_results: items per concept kept in a run (TRECVID SIN 2000, AVS 1000).
        extra_metrics: further registered metrics reported beside the headline.
        options: protocol settings recorded with the run (e.g. ``trecvid_adjust``).
        val_metric: metric used on the validation split (model selection, tuning); it must work
            from labels alone (no qrels exist for held-out training data; AMB-16). Every adapter
            sets one that accepts its labels (the data-set conformance test checks it).
        heads: named outputs a method's ``predict`` returns, each with its per-item shape
            (``{"scene": (78,), "action": (99,), "importance": ()}``); empty = one (n, T) matrix
            over the data set's concepts.
    """

    metric: str
    eval_concepts: tuple[str, ...] | None = None
    qrels_path: Path | None = None
    max_results: int | None = None
    extra_metrics: tuple[str, ...] = ()
    options: Mapping[str, Any] = field(default_factory=dict)
    val_metric: str = "map"
    heads: Mapping[str, tuple[int, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class Dataset:
    """What a dataset adapter's ``load`` returns."""

    name: str
    task: str
    concepts: tuple[str, ...]
    train: Split
    test: Split
    protocol: Protocol
    manifest_hash: str
    root: Path
    val: Split | None = None
    is_miniature: bool = False
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")

    @property
    def default_backbone(self) -> str | None:
        """The backbone the adapter declares for this data set (``info["default_backbone"]``), if any.

        What ``backbone=auto`` resolves to, for feature-based and pixel-based methods alike
        (e.g. ``mini_alexnet`` for the miniatures, ``alexnet`` for real TRECVID SIN).
        """
        value = self.info.get("default_backbone")
        return str(value) if value else None


@dataclass(frozen=True)
class FeatureSpec:
    """Which cached features a method consumes.

    ``backbone="provided"`` uses the feature blocks the data set ships (``layer`` = block name,
    ``all`` for their concatenation, or ``each`` for one block per shipped block, named as shipped).

    Frames: ``pooling`` ``mean`` / ``max`` pools the frames of a clip / shot / segment into one row;
    ``none`` keeps every frame and gives a :class:`Sequences` per split. ``frame_stride`` keeps every
    k-th frame, ``max_frames`` then samples that many evenly (both before pooling, both in the cache key).
    """

    backbone: str
    layer: str
    weights: str = "default"
    pooling: str = "mean"  # how frames of a clip/shot are pooled: mean, max, none (per-frame sequences)
    preprocessing: str = "default"
    frame_stride: int = 1
    max_frames: int | None = None


@dataclass(frozen=True)
class SourceSpec:
    """Another registered data set a method trains on (a training source).

    The runner loads it through its adapter (root: ``--source-root NAME=DIR``, else the adapter's
    default), extracts the method's features for it like for the target, and records its name and
    manifest hash with the run. ``split``: ``train`` (the default), ``test`` or ``all`` (both).
    ``features``: :class:`FeatureSpec` fields that replace the method's own for this source only
    (e.g. ``{"frame_stride": 30}``: sample a source's clips as sparsely as the target's shots).
    """

    dataset: str
    split: str = "train"
    options: Mapping[str, Any] = field(default_factory=dict)
    features: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Scorer:
    """The protocol's validation metric as a function of scores (what methods select models with).

    ``scorer(scores)`` scores the items of the data it came with (scores: one row per item of that
    data); ``rows=`` scores only those items (``scores`` still covers all of them),
    ``labels=`` replaces the labels (e.g. -1 outside a per-concept sample, AMB-48). ``better(a, b)``
    follows the metric's direction.
    """

    metric: str
    higher_is_better: bool
    fn: Callable[..., float]

    def __call__(self, scores: Any, *, rows: np.ndarray | None = None, labels: np.ndarray | None = None,
                 all_concepts: bool = False) -> float:
        """``all_concepts=True`` scores every concept, not only the protocol's ``eval_concepts``
        (held-out training data is annotated for all of them, e.g. SIN's 60, not the judged 38)."""
        return float(self.fn(scores, rows=rows, labels=labels, all_concepts=all_concepts))

    def better(self, a: float, b: float) -> bool:
        """Whether score ``a`` beats ``b`` (NaN never beats anything; anything beats NaN)."""
        if not np.isfinite(a):
            return False
        if not np.isfinite(b):
            return True
        return a > b if self.higher_is_better else a < b

    @property
    def worst(self) -> float:
        return -np.inf if self.higher_is_better else np.inf


@dataclass(frozen=True)
class MethodData:
    """What a method sees at ``fit`` (labels set) and ``predict`` (labels None).

    Attributes:
        features: the single feature block (a method with one ``FeatureSpec``), else None.
        blocks: every feature block by name (``feature_specs`` keys, or the shipped block names for
            ``layer=each``): (n, d) arrays, or :class:`Sequences` for per-frame specs.
        feature_names: column names of ``features`` when known (shipped blocks), else None.
        protocol / info: how the data set is scored and a read-only view of its adapter's info
            (e.g. the AVS query -> concept mapping, CoVieW class counts).
        val_score: the protocol's validation metric on these items (None at predict time).
        sources: training sources by name (``Method.training_sources``), each with labels and
            features (at ``fit`` only).
    """

    ids: np.ndarray
    groups: np.ndarray
    concepts: tuple[str, ...]
    task: str
    labels: np.ndarray | None = None
    features: np.ndarray | None = None
    paths: tuple[str, ...] | None = None
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)
    default_backbone: str | None = None  # the data set's declared backbone: what ``backbone=auto`` means
    blocks: Mapping[str, FeatureBlock] = field(default_factory=dict)
    feature_names: tuple[str, ...] | None = None
    protocol: Protocol | None = None
    info: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    dataset: str = ""
    is_miniature: bool = False
    val_score: Scorer | None = None
    sources: Mapping[str, MethodData] = field(default_factory=dict)
    frame_paths: tuple[tuple[str, ...], ...] | None = None

    def __len__(self) -> int:
        return len(self.ids)


Prediction = Union[np.ndarray, Mapping[str, np.ndarray]]  # noqa: UP007 (a runtime alias)


@dataclass(frozen=True)
class EvalInput:
    """Everything a protocol-level metric may need; ``requires`` of a metric names the fields used."""

    scores: Any  # (n, T) array, or a mapping of named heads (Protocol.heads) from the method
    ids: np.ndarray
    concepts: tuple[str, ...]
    protocol: Protocol
    labels: np.ndarray | None = None
    groups: np.ndarray | None = None
    extra: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class EvalResult:
    """Overall numbers (headline first) and per-concept values aligned with ``concepts``."""

    overall: Mapping[str, float]
    concepts: tuple[str, ...] = ()
    per_concept: Mapping[str, np.ndarray] = field(default_factory=dict)
    notes: Mapping[str, Any] = field(default_factory=dict)
    directions: Mapping[str, bool] = field(default_factory=dict)  # key -> higher is better (set by the runner)


# --------------------------------------------------------------------------------------------
# Base classes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoOptions:
    """Config of a plugin without options."""


class Method:
    """Base class of a method plugin.

    Contract:
        * ``Config``: a frozen dataclass of hyper-parameters; defaults are the paper's values.
        * ``__init__(config=, seed=, device=)`` only stores its arguments (no I/O, no randomness).
        * ``fit(train, val) -> self`` learns state in attributes ending in ``_``.
        * ``predict(data) -> scores``: (n, T) float array, higher = more likely; or, for a protocol
          with ``heads``, a mapping head name -> (n, *shape) array.
    Optional hooks: ``feature_spec(config)`` (what input to build; ``None`` = raw paths),
    ``feature_specs(config)`` (several named blocks), ``training_sources(config)`` (other data
    sets to train on), ``tasks`` (which data-set tasks it handles), ``search_space`` (tuning).

    ``fitted_notes`` names the fitted attributes (ending in ``_``) that the runner records with the
    run under ``fit.<name without _>``: numbers become MLflow metrics (``fit.lr``, ``fit.best_epoch``),
    strings / booleans / None become params, a dict of such values is recorded entry by entry
    (``fit.val_map_per_lr.0.001``), and longer structures (lists, training histories) become tags
    when short; every note is written in full to the run's ``fit.json`` artifact. An attribute that
    a fit did not set is left out. A method that chooses its own backbone (pixel methods with
    ``backbone=auto``) exposes the name it used as ``backbone_name_``; the runner records it as the
    ``run.backbone`` param.
    """

    Config: ClassVar[type] = NoOptions
    tasks: ClassVar[tuple[str, ...]] = ("multilabel",)
    description: ClassVar[str] = ""
    paper: ClassVar[str] = ""
    fitted_notes: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *, config: Any = None, seed: int = 0, device: str = "cpu") -> None:
        self.config = config if config is not None else self.Config()
        self.seed = seed
        self.device = device

    @classmethod
    def feature_spec(cls, config: Any) -> FeatureSpec | None:
        """Features to extract for this method; ``None`` means it reads raw ``paths``."""
        backbone = getattr(config, "backbone", None)
        layer = getattr(config, "layer", None)
        if backbone is None or layer is None:
            return None
        return FeatureSpec(
            backbone=backbone,
            layer=layer,
            weights=getattr(config, "backbone_weights", "default"),
            pooling=getattr(config, "pooling", "mean"),
            frame_stride=getattr(config, "frame_stride", 1),
            max_frames=getattr(config, "max_frames", None),
        )

    @classmethod
    def feature_specs(cls, config: Any) -> Mapping[str, FeatureSpec]:
        """Named feature blocks to extract (each cached on its own key); default: ``feature_spec``'s
        one block, named ``features`` (what ``MethodData.features`` holds)."""
        spec = cls.feature_spec(config)
        return {} if spec is None else {"features": spec}

    @classmethod
    def training_sources(cls, config: Any) -> Mapping[str, SourceSpec]:
        """Other registered data sets this method trains on, by a name of the method's choosing."""
        return {}

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        raise NotImplementedError

    def predict(self, data: MethodData) -> Prediction:
        raise NotImplementedError


class DatasetAdapter:
    """Base class of a dataset plugin.

    Contract:
        * ``describe()``: expected layout, where and how to obtain it, licence note.
        * ``load(root, config) -> Dataset``: read the real on-disk format (frozen result).
    Optional hooks: ``verify(root) -> list[str]`` (problems found; empty = OK),
    ``make_mini(directory, seed)`` (write the miniature in the real layout), ``Config`` (options
    such as the UCF101 split), ``default_root()``.
    """

    Config: ClassVar[type] = NoOptions
    task: ClassVar[str] = "multilabel"
    is_miniature: ClassVar[bool] = False
    summary: ClassVar[str] = ""

    def describe(self) -> str:
        raise NotImplementedError

    def load(self, root: Path | None, config: Any = None) -> Dataset:
        raise NotImplementedError

    def verify(self, root: Path) -> list[str]:
        return []

    def default_root(self) -> Path | None:
        """``$HARNESS_DATA/<name>`` if set, else None (the user must pass ``--data-root``)."""
        import os

        base = os.environ.get("HARNESS_DATA")
        name = getattr(self, "name", None)
        return Path(base) / name if base and name else None


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric: ``fn(EvalInput) -> EvalResult``."""

    name: str
    fn: Callable[[EvalInput], EvalResult]
    higher_is_better: bool
    requires: tuple[str, ...] = ("scores",)
    description: str = ""


METHODS: Registry[type[Method]] = Registry("method", "harness.methods")
DATASETS: Registry[type[DatasetAdapter]] = Registry("dataset", "harness.datasets")
METRICS: Registry[MetricSpec] = Registry("metric", "harness.metrics")


def register_method(name: str) -> Callable[[type[Method]], type[Method]]:
    def deco(cls: type[Method]) -> type[Method]:
        cls.name = name  # type: ignore[attr-defined]
        if dataclasses.is_dataclass(cls.Config):
            cls.Config.__owner__ = name  # type: ignore[attr-defined]
        return METHODS.register(name)(cls)

    return deco


def register_dataset(name: str) -> Callable[[type[DatasetAdapter]], type[DatasetAdapter]]:
    def deco(cls: type[DatasetAdapter]) -> type[DatasetAdapter]:
        cls.name = name  # type: ignore[attr-defined]
        if dataclasses.is_dataclass(cls.Config) and cls.Config is not NoOptions:
            cls.Config.__owner__ = f"dataset {name}"  # type: ignore[attr-defined]
        return DATASETS.register(name)(cls)

    return deco


def register_metric(
    name: str, *, higher_is_better: bool, requires: tuple[str, ...] = ("scores",), description: str = ""
) -> Callable[[Callable[[EvalInput], EvalResult]], Callable[[EvalInput], EvalResult]]:
    def deco(fn: Callable[[EvalInput], EvalResult]) -> Callable[[EvalInput], EvalResult]:
        METRICS.register(name)(
            MetricSpec(name, fn, higher_is_better, requires, description or (fn.__doc__ or "").strip().split("\n")[0])
        )
        return fn

    return deco

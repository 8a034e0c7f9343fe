"""API checks generated from the data-set registry: every registered adapter gets them.

Each family registers the real adapter and its miniature (``<name>-mini``), which is written in the
real on-disk layout, so the real adapter is checked by reading its miniature's folder. Miniatures
are generated once per test session into the shared HARNESS_HOME (``shared_home``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from harness import api
from harness.errors import HarnessError
from harness.registry import load_plugins

load_plugins()

NAMES = sorted(api.DATASETS.names())
MINIS = [n for n in NAMES if api.DATASETS.get(n).is_miniature]
REAL = [n for n in NAMES if not api.DATASETS.get(n).is_miniature]
# Families whose miniature takes about 20 s or more to generate on a busy 2-core machine (video
# encoding, the SIN world); the test that generates it is marked slow.
HEAVY = ("coview2019", "trecvid2013", "ucf101")


def _params(names: list[str]) -> list[Any]:
    return [pytest.param(n, marks=pytest.mark.slow) if n.removesuffix("-mini") in HEAVY else n for n in names]


def _mini_of(name: str) -> str:
    return name if name.endswith("-mini") else f"{name}-mini"


@pytest.fixture(scope="session")
def load(shared_home: Path) -> Callable[[str], api.Dataset]:
    """``load(name)``: a miniature by its adapter, a real adapter from its miniature's folder; each
    loaded once per session (the miniature generated once, into the shared HARNESS_HOME)."""
    loaded: dict[str, api.Dataset] = {}

    def get(name: str) -> api.Dataset:
        if name not in loaded:
            adapter = api.DATASETS.get(name)()
            root = None if adapter.is_miniature else get(_mini_of(name)).root
            with pytest.MonkeyPatch.context() as mp:
                mp.setenv("HARNESS_HOME", str(shared_home))
                loaded[name] = adapter.load(root, adapter.Config())
        return loaded[name]

    return get


def test_every_family_has_a_miniature_and_real_adapter() -> None:
    assert MINIS and REAL
    assert sorted(_mini_of(n) for n in REAL) == MINIS


@pytest.mark.parametrize("name", NAMES)
def test_describe_and_class_attributes(name: str) -> None:
    cls = api.DATASETS.get(name)
    adapter = cls()
    text = adapter.describe()
    assert isinstance(text, str) and len(text.strip()) > 40, "describe() tells the expected layout"
    assert cls.summary.strip(), "a one-line summary for 'harness list datasets'"
    assert cls.task in api.TASKS
    assert cls.is_miniature == name.endswith("-mini")


@pytest.mark.parametrize("name", NAMES)
def test_missing_root_is_a_clear_error_and_verify_reports_an_empty_folder(name: str, tmp_path: Path) -> None:
    adapter = api.DATASETS.get(name)()
    with pytest.raises(HarnessError, match="not found|does not exist"):
        adapter.load(tmp_path / "absent", adapter.Config())
    problems = adapter.verify(tmp_path)
    assert isinstance(problems, list) and problems and all(isinstance(p, str) for p in problems)


@pytest.mark.parametrize("name", _params(MINIS))
def test_miniature_loads_and_verifies(name: str, load: Callable[[str], api.Dataset]) -> None:
    ds = load(name)
    adapter = api.DATASETS.get(name)()
    assert ds.name == name and ds.is_miniature and ds.task == adapter.task
    assert isinstance(ds.manifest_hash, str) and len(ds.manifest_hash) >= 16
    assert adapter.verify(ds.root) == [], "the miniature passes its own adapter's verification"
    assert len(ds.test) > 0 and len(ds.concepts) > 0
    for split in (ds.train, ds.test, ds.val):
        if split is not None:
            assert len(set(split.ids.tolist())) == len(split), "item ids are unique within a split"
    assert not set(ds.train.ids.tolist()) & set(ds.test.ids.tolist()), "train and test share no item"
    assert not set(ds.train.groups.tolist()) & set(ds.test.groups.tolist()), "train and test share no group"
    assert isinstance(ds.info, Mapping)


@pytest.mark.parametrize("name", _params(REAL))
def test_real_adapter_reads_its_miniature(name: str, load: Callable[[str], api.Dataset]) -> None:
    ds, mini = load(name), load(_mini_of(name))
    assert ds.name == name and not ds.is_miniature
    assert ds.manifest_hash == mini.manifest_hash, "same files, same manifest"
    assert ds.concepts == mini.concepts and ds.task == mini.task
    assert len(ds.train) == len(mini.train) and len(ds.test) == len(mini.test)
    assert ds.protocol.val_metric == mini.protocol.val_metric
    assert dict(ds.protocol.heads) == dict(mini.protocol.heads)


def _labelled_split(ds: api.Dataset) -> api.Split:
    """The training split, or the test split of a data set without training data (AVS)."""
    for split in (ds.train, ds.val, ds.test):
        if split is not None and split.labels is not None and len(split):
            return split
    pytest.skip(f"{ds.name} has no labelled split")


def _perfect(ds: api.Dataset, split: api.Split) -> api.Prediction:
    y = np.asarray(split.labels)
    heads = ds.protocol.heads
    if heads:
        out: dict[str, np.ndarray] = {}
        base = int(ds.protocol.options.get("label_base", 0))
        for j, (head, shape) in enumerate(heads.items()):
            column = y[:, ds.concepts.index(head)] if head in ds.concepts else y[:, j]
            out[head] = np.eye(shape[0])[column.astype(int) - base] if shape else column.astype(np.float64)
        return out
    if ds.task == "multiclass":
        return np.eye(len(ds.concepts))[y.astype(int)]
    return (y > 0).astype(np.float64)


def _random(ds: api.Dataset, n: int, seed: int = 0) -> api.Prediction:
    rng = np.random.default_rng(seed)
    if ds.protocol.heads:
        return {head: rng.random((n, *shape)) for head, shape in ds.protocol.heads.items()}
    return rng.random((n, len(ds.concepts)))


def _val_score(ds: api.Dataset, split: api.Split, scores: api.Prediction) -> float:
    """The validation metric as the runner applies it: labels, groups and extra of the split."""
    spec = api.METRICS.get(ds.protocol.val_metric)
    inp = api.EvalInput(scores=scores, ids=split.ids, concepts=ds.concepts, protocol=ds.protocol,
                        labels=split.labels, groups=split.groups, extra=split.extra)  # fmt: skip
    missing = [r for r in spec.requires if getattr(inp, r, None) is None]
    assert not missing, f"val_metric {spec.name!r} needs {missing}, which {ds.name} does not provide"
    res = spec.fn(inp)
    return float(res.overall.get(spec.name, next(iter(res.overall.values()))))


@pytest.mark.parametrize("name", _params(NAMES))
def test_val_metric_works_from_labels(name: str, load: Callable[[str], api.Dataset]) -> None:
    """The validation metric is registered, scores the labels alone (no qrels), and ranks a
    perfect prediction above a random one in its own direction."""
    ds = load(name)
    spec = api.METRICS.get(ds.protocol.val_metric)
    assert "qrels" not in " ".join(spec.requires)
    split = _labelled_split(ds)
    constant = {h: np.zeros((len(split), *s)) for h, s in ds.protocol.heads.items()} or np.zeros(
        (len(split), len(ds.concepts)))
    values = {kind: _val_score(ds, split, scores) for kind, scores in
              (("constant", constant), ("random", _random(ds, len(split))), ("perfect", _perfect(ds, split)))}
    assert all(np.isfinite(v) for v in values.values()), values
    better = values["perfect"] > values["random"] if spec.higher_is_better else values["perfect"] < values["random"]
    assert better, f"{spec.name} (higher_is_better={spec.higher_is_better}): {values}"
    # a validation subset (a hold-out of some groups) is scored too, with its classes a subset
    groups = np.unique(split.groups)
    rows = np.flatnonzero(np.isin(split.groups, groups[: max(1, len(groups) // 5)]))
    part = split.subset(rows)
    assert np.isfinite(_val_score(ds, part, _random(ds, len(part), seed=1)))


@pytest.mark.parametrize("name", _params(NAMES))
def test_heads_consistent_with_concepts_and_labels(name: str, load: Callable[[str], api.Dataset]) -> None:
    ds = load(name)
    heads = dict(ds.protocol.heads)
    split = _labelled_split(ds)
    y = np.asarray(split.labels)
    if not heads:
        assert ds.task in ("multilabel", "multiclass"), "a coview-like task names its heads"
        if ds.task == "multilabel":
            assert y.shape == (len(split), len(ds.concepts)) and np.isin(y, (-1, 0, 1)).all()
        else:
            assert y.shape == (len(split),) and y.min() >= 0 and y.max() < len(ds.concepts)
        return
    assert tuple(heads) == ds.concepts, "one head per concept, in the order of the label columns"
    base = int(ds.protocol.options.get("label_base", 0))
    for j, (head, shape) in enumerate(heads.items()):
        assert isinstance(shape, tuple) and all(isinstance(s, int) and s > 0 for s in shape), (head, shape)
        if shape:  # a class head: its label column holds class ids within the head's width
            assert len(shape) == 1 and y[:, j].min() >= base and y[:, j].max() < shape[0] + base, head
            assert ds.info.get(f"n_{head}_classes", shape[0]) == shape[0], "info and heads agree"
        else:  # a per-item score
            assert np.isfinite(y[:, j]).all()


@pytest.mark.slow
def test_ucf101_info_for_methods(load: Callable[[str], api.Dataset]) -> None:
    ucf = load("ucf101-mini")
    assert tuple(ucf.info["class_names"]) == ucf.concepts and ucf.info["n_classes"] == len(ucf.concepts)


@pytest.mark.slow
def test_coview_info_for_methods(load: Callable[[str], api.Dataset]) -> None:
    cv = load("coview2019-mini")
    assert cv.protocol.heads["scene"] == (cv.info["n_scene_classes"],) == (len(cv.info["scene_classes"]),)
    assert cv.protocol.heads["action"] == (cv.info["n_action_classes"],) == (len(cv.info["action_classes"]),)
    assert cv.protocol.heads["importance"] == ()

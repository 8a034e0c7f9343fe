"""Label and feature synthesis for the multi-label miniatures, and label statistics.

The miniatures of ``scene``, ``natural-scenes``, ``nuswide`` and ``iaprtc12`` need what the
MMDL-EG experiments exploit in the real sets: labels that co-occur (a known structure), heavy
imbalance, and several feature blocks ("modalities") that carry the label signal with different
strength, so that weighting modalities matters. Private to the ``datasets`` package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def with_partners(
    n: int,
    freqs: Sequence[float],
    partners: Mapping[int, Sequence[tuple[int, float]]],
    p_second: float,
    p_third: float,
    gen: np.random.Generator,
) -> np.ndarray:
    """(n, L) int8 labels: one primary label per item, sometimes a partner or two.

    The primary label is drawn from ``freqs``; with probability ``p_second`` a partner of it is
    added (drawn from ``partners[primary]``, weights normalised), and with ``p_third`` one more
    label of any kind. Every item has at least one label (as in the scene sets).
    """
    freqs_arr = np.asarray(freqs, dtype=np.float64)
    freqs_arr = freqs_arr / freqs_arr.sum()
    n_labels = len(freqs_arr)
    y = np.zeros((n, n_labels), dtype=np.int8)
    primary = gen.choice(n_labels, size=n, p=freqs_arr)
    y[np.arange(n), primary] = 1
    for i in range(n):
        if gen.random() < p_second and partners.get(int(primary[i])):
            cand = partners[int(primary[i])]
            w = np.asarray([c[1] for c in cand], dtype=np.float64)
            y[i, cand[int(gen.choice(len(cand), p=w / w.sum()))][0]] = 1
            if gen.random() < p_third:
                y[i, int(gen.choice(n_labels, p=freqs_arr))] = 1
    return y


def from_topics(
    n: int,
    n_labels: int,
    gen: np.random.Generator,
    *,
    n_topics: int,
    labels_per_topic: int,
    mean_topics: float,
    p_in_topic: tuple[float, float] = (0.35, 0.9),
    noise_rate: float = 0.002,
    zipf: float = 0.8,
) -> tuple[np.ndarray, np.ndarray]:
    """(n, L) int8 labels from a topic model, and the (T, L) topic->label probabilities.

    Each topic owns a few labels (popular labels belong to several topics, Zipf-weighted); an item
    draws ``1 + Poisson(mean_topics - 1)`` topics and each label of a drawn topic with its topic's
    probability, plus rare noise labels. Labels of one topic co-occur; the label frequencies are
    skewed; some items end up with no label (as in NUS-WIDE).
    """
    popularity = 1.0 / np.arange(1, n_labels + 1) ** zipf
    popularity = popularity[gen.permutation(n_labels)]
    popularity /= popularity.sum()
    topic_label = np.zeros((n_topics, n_labels))
    for t in range(n_topics):
        chosen = gen.choice(n_labels, size=labels_per_topic, replace=False, p=popularity)
        topic_label[t, chosen] = gen.uniform(*p_in_topic, size=labels_per_topic)
    # Every label belongs to at least one topic, so none is never positive.
    orphans = np.flatnonzero(topic_label.max(axis=0) == 0)
    for label in orphans:
        topic_label[int(gen.integers(n_topics)), label] = gen.uniform(*p_in_topic)
    topic_weight = gen.dirichlet(np.full(n_topics, 2.0))
    y = np.zeros((n, n_labels), dtype=np.int8)
    for i in range(n):
        k = 1 + int(gen.poisson(max(mean_topics - 1.0, 0.0)))
        topics = gen.choice(n_topics, size=min(k, n_topics), replace=False, p=topic_weight)
        p = 1.0 - np.prod(1.0 - topic_label[topics], axis=0)
        y[i] = gen.random(n_labels) < p
    y |= (gen.random((n, n_labels)) < noise_rate).astype(np.int8)
    return y, topic_label


def dense_block(
    labels: np.ndarray, dim: int, gen: np.random.Generator, *, signal: float, noise: float = 0.12
) -> np.ndarray:
    """(n, dim) float64 in [0, 1]: a per-label prototype mix plus noise (``signal`` = prototype scale)."""
    n, n_labels = labels.shape
    prototypes = gen.uniform(-1.0, 1.0, size=(n_labels, dim))
    base = gen.uniform(0.3, 0.7, size=dim)
    weight = labels / np.maximum(labels.sum(axis=1, keepdims=True), 1)
    x = base + signal * 0.25 * weight @ prototypes + gen.normal(0.0, noise, size=(n, dim))
    return np.clip(x, 0.0, 1.0)


def count_block(
    labels: np.ndarray, dim: int, gen: np.random.Generator, *, signal: float, total: int
) -> np.ndarray:
    """(n, dim) int64 histograms of ``~total`` counts (bag-of-words style) carrying the labels.

    Each label prefers a random subset of bins; ``signal`` in [0, 1] is the share of counts drawn
    from the item's labels' preferred bins rather than the background distribution.
    """
    n, n_labels = labels.shape
    background = gen.dirichlet(np.full(dim, 0.5))
    label_dist = np.zeros((n_labels, dim))
    for label in range(n_labels):
        bins = gen.choice(dim, size=max(2, dim // 20), replace=False)
        label_dist[label, bins] = gen.dirichlet(np.ones(len(bins)))
    counts = np.empty((n, dim), dtype=np.int64)
    for i in range(n):
        active = np.flatnonzero(labels[i])
        mix = label_dist[active].mean(axis=0) if len(active) else background
        p = (1 - signal) * background + signal * mix
        counts[i] = gen.multinomial(int(gen.integers(total // 2, total + total // 2 + 1)), p / p.sum())
    return counts


def statistics(labels: np.ndarray) -> dict[str, float]:
    """Label cardinality, density, negatives per positive and the all-negative Hamming loss."""
    y = np.asarray(labels)
    pos = float((y == 1).sum())
    neg = float((y == 0).sum())
    cardinality = float((y == 1).sum(axis=1).mean()) if len(y) else 0.0
    return {
        "cardinality": round(cardinality, 4),
        "density": round(cardinality / max(y.shape[1], 1), 5),
        "negatives_per_positive": round(neg / pos, 2) if pos else float("inf"),
        "all_negative_hamming_loss": round(cardinality / max(y.shape[1], 1), 5),
        "items_without_label": int(((y == 1).sum(axis=1) == 0).sum()),
    }


def info(train: np.ndarray, test: np.ndarray) -> dict[str, float]:
    """``Dataset.info`` entries: statistics of both splits (the trivial HL baseline of METHODS.md 1.5)."""
    out: dict[str, float] = {}
    for split, y in (("train", train), ("test", test)):
        for key, value in statistics(y).items():
            out[f"{split}_{key}"] = value
    return out

"""Single-label recognition accuracy (METHODS.md 1.7, 1.8): top-k, frame- and video-level,
per-class precision and recall."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def _scores_labels(scores: ArrayLike, labels: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels)
    if s.ndim != 2 or y.ndim != 1 or len(s) != len(y):
        raise ValueError(
            f"need scores (items, classes) and labels (items,), got shapes {s.shape} and {y.shape}"
        )
    if len(y) == 0:
        raise ValueError("accuracy of zero items is undefined")
    if not np.issubdtype(y.dtype, np.integer):
        if not np.all(np.mod(y, 1) == 0):
            raise ValueError("labels must be integer class indices")
        y = y.astype(np.int64)
    if y.min() < 0 or y.max() >= s.shape[1]:
        raise ValueError(
            f"labels must be class indices in [0, {s.shape[1] - 1}], got values in [{y.min()}, {y.max()}]"
        )
    if np.isnan(s).any():
        raise ValueError("scores contain NaN")
    return s, y


def top_k_hits(scores: ArrayLike, labels: ArrayLike, k: int = 1) -> np.ndarray:
    """(n,) bool: is the true class among the k highest scores of the item?

    Ties with the k-th score count as hits only if the true class ranks within the first k by
    a stable sort (lower class index first), so the result is deterministic.
    """
    s, y = _scores_labels(scores, labels)
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    k = min(k, s.shape[1])
    # rank of the true class = number of classes scored strictly higher, plus the equal-scored
    # classes with a lower index (stable order)
    true = s[np.arange(len(y)), y][:, None]
    cols = np.arange(s.shape[1])[None, :]
    rank = (s > true).sum(axis=1) + ((s == true) & (cols < y[:, None])).sum(axis=1)
    return rank < k


def top_k_accuracy(scores: ArrayLike, labels: ArrayLike, k: int = 1) -> float:
    """Fraction of items whose true class is among their k best-scored classes."""
    return float(top_k_hits(scores, labels, k).mean())


def frame_accuracy(frame_scores: ArrayLike, frame_labels: ArrayLike) -> float:
    """Frame-level accuracy: fraction of frames whose argmax class equals the clip label."""
    return top_k_accuracy(frame_scores, frame_labels, 1)


def pool_by_group(scores: ArrayLike, groups: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean score vector per group (video), groups in order of first appearance.

    Returns:
        (group ids (g,), mean scores (g, classes), index of each group's first row (g,)).
    """
    s = np.asarray(scores, dtype=np.float64)
    g = np.asarray(groups)
    if len(g) != len(s):
        raise ValueError(f"groups has {len(g)} entries for {len(s)} score rows")
    _, first, inverse = np.unique(g, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    sums = np.zeros((len(first), s.shape[1]))
    np.add.at(sums, inverse, s)
    means = sums / np.bincount(inverse)[:, None]
    order = np.argsort(first)  # first-appearance order
    return g[first[order]], means[order], first[order]


def video_predictions(frame_scores: ArrayLike, clips: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Video-level decision: average the per-frame softmax vectors of each clip, take the argmax.

    Args:
        frame_scores: (frames, classes) per-frame softmax vectors.
        clips: (frames,) clip id of each frame.

    Returns:
        (clip ids, predicted class per clip), clips in order of first appearance.
    """
    ids, means, _ = pool_by_group(frame_scores, clips)
    return ids, np.argmax(means, axis=1)


def video_accuracy(frame_scores: ArrayLike, frame_labels: ArrayLike, clips: ArrayLike) -> float:
    """Video-level accuracy (METHODS.md 1.8 headline): mean frame softmax per clip, argmax.

    Args:
        frame_scores: (frames, classes) per-frame softmax vectors.
        frame_labels: (frames,) the label of each frame's clip.
        clips: (frames,) clip id of each frame (not the UCF101 group: a group has several clips).

    Raises:
        ValueError: if a clip's frames carry different labels.
    """
    s, y = _scores_labels(frame_scores, frame_labels)
    ids, means, _ = pool_by_group(s, clips)
    video_labels = video_label_per_group(y, clips, ids)
    return float(np.mean(np.argmax(means, axis=1) == video_labels))


def video_label_per_group(labels: np.ndarray, groups: ArrayLike, ids: np.ndarray) -> np.ndarray:
    """The single label of each group's frames (ValueError if a group mixes labels)."""
    g = np.asarray(groups)
    lo: dict[object, object] = {}
    for gid, lab in zip(g.tolist(), np.asarray(labels).tolist(), strict=True):
        if lo.setdefault(gid, lab) != lab:
            raise ValueError(f"the frames of video {gid!r} carry different labels ({lo[gid]} and {lab})")
    return np.array([lo[i] for i in ids.tolist()])


def per_class_precision_recall(
    predicted: ArrayLike, labels: ArrayLike, n_classes: int
) -> tuple[np.ndarray, np.ndarray]:
    """One-vs-rest precision and recall of argmax decisions, per class.

    A class never predicted has precision 0 (no true positive); a class absent from the labels
    has recall 0. Both follow ``sklearn.metrics.precision_recall_fscore_support(zero_division=0)``.

    Returns:
        (precision (C,), recall (C,)).
    """
    p = np.asarray(predicted).astype(np.int64)
    y = np.asarray(labels).astype(np.int64)
    if p.shape != y.shape or p.ndim != 1:
        raise ValueError(f"predicted and labels must be 1-D of equal length, got {p.shape} and {y.shape}")
    tp = np.bincount(y[p == y], minlength=n_classes).astype(np.float64)
    n_pred = np.bincount(p, minlength=n_classes).astype(np.float64)
    n_true = np.bincount(y, minlength=n_classes).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(n_pred > 0, tp / n_pred, 0.0)
        recall = np.where(n_true > 0, tp / n_true, 0.0)
    return precision, recall

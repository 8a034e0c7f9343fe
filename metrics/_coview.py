"""CoVieW 2019 metrics (METHODS.md 1.6) and segment-level accuracy (1.7).

Per video: select the 6 segments with the largest selection score (stable: lower index first on
ties), then score scene/action top-k hits on the selected segments (the "hamming score" @k,
AMB-6) and the importance-score (IS) accuracy of the selection.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

SELECTED = 6  # segments selected per video by the challenge


def select_segments(selection_scores: ArrayLike, n_select: int = SELECTED) -> np.ndarray:
    """Indices (ascending) of the ``n_select`` segments with the largest score.

    Ties are broken by lower segment index (stable sort) [AMB-5]. With ``N <= n_select``
    segments all are selected.
    """
    u = np.asarray(selection_scores, dtype=np.float64)
    if u.ndim != 1:
        raise ValueError(f"selection scores must be 1-D (segments,), got shape {u.shape}")
    if np.isnan(u).any():
        raise ValueError("selection scores contain NaN")
    order = np.argsort(-u, kind="stable")
    return np.sort(order[:n_select])


def hamming_score_at_k(class_scores: ArrayLike, labels: ArrayLike, selected: ArrayLike, k: int = 1) -> float:
    """Fraction of the selected segments whose true class is in their top-k classes.

    Args:
        class_scores: (N, C) class scores per segment.
        labels: (N,) true class index per segment.
        selected: indices of the selected segments.
        k: 1 for the paper's validation tables, 5 for the challenge "scene & action score".
    """
    from metrics._classification import top_k_hits

    sel = np.asarray(selected, dtype=np.int64)
    if len(sel) == 0:
        raise ValueError("no segment selected")
    s = np.asarray(class_scores, dtype=np.float64)[sel]
    return float(top_k_hits(s, np.asarray(labels)[sel], k).mean())


def importance_accuracy(importance: ArrayLike, selected: ArrayLike) -> float:
    """Sum of the true importance of the selected segments over the best possible sum.

    The best sum takes the ``|S|`` largest true importance scores; the ratio is 1 when that
    sum is 0.
    """
    g = np.asarray(importance, dtype=np.float64)
    sel = np.asarray(selected, dtype=np.int64)
    best = float(np.sort(g)[::-1][: len(sel)].sum())
    return 1.0 if best == 0 else float(g[sel].sum() / best)


def post_processed_selection(scene_scores: ArrayLike, action_scores: ArrayLike, importance: ArrayLike) -> np.ndarray:
    """MTN's Eq. 4 (METHODS.md 2.10): ``u_n = max P_sc_n * max P_ac_n * s_n`` per segment, with the
    class probabilities ``P`` and the predicted importance ``s`` (sigma(P_imp), or any positive
    multiple of it: the ranking is the same); a negative importance counts as 0.

    Oracle: scene [0.786986, 0.106507, 0.106507] (softmax of [2, 0, 0]), action [0.5, 0.5], s = 0.5
    -> 0.196747.
    """
    sc = np.asarray(scene_scores, dtype=np.float64)
    ac = np.asarray(action_scores, dtype=np.float64)
    s = np.clip(np.asarray(importance, dtype=np.float64).reshape(-1), 0.0, None)
    if sc.ndim != 2 or ac.ndim != 2 or not len(sc) == len(ac) == len(s):
        raise ValueError(f"post-processing needs (n, S), (n, A) and (n,) inputs, got {sc.shape}, {ac.shape}, {s.shape}")
    return sc.max(axis=1) * ac.max(axis=1) * s


@dataclass(frozen=True)
class CoviewScores:
    """Dataset-level CoVieW numbers (means over videos; segment accuracies over all segments)."""

    hs_scene_1: float
    hs_action_1: float
    hs_scene_5: float
    hs_action_5: float
    is_accuracy: float
    segment_scene_accuracy: float
    segment_action_accuracy: float
    n_videos: int

    @property
    def scene_action_score(self) -> float:
        """Challenge "scene & action score": mean of the two top-5 hamming scores [AMB-7]."""
        return (self.hs_scene_5 + self.hs_action_5) / 2


def coview_scores(
    video_ids: ArrayLike,
    selection: ArrayLike,
    scene_scores: ArrayLike,
    action_scores: ArrayLike,
    scene_labels: ArrayLike,
    action_labels: ArrayLike,
    importance: ArrayLike,
    segment_index: ArrayLike | None = None,
    n_select: int = SELECTED,
) -> CoviewScores:
    """All CoVieW metrics over a set of segments from several videos.

    Args:
        video_ids: (n,) video of each segment.
        selection: (n,) selection score u (usually the predicted importance).
        scene_scores, action_scores: (n, 78) and (n, 99) class scores (any C).
        scene_labels, action_labels: (n,) true class indices (0-based column indices).
        importance: (n,) true importance score g in [0, 2].
        segment_index: (n,) segment position within its video (tie-break order); default: the
            order of the rows within each video.
        n_select: segments selected per video (6).
    """
    from metrics._classification import top_k_accuracy

    vid = np.asarray(video_ids)
    n = len(vid)
    u = np.asarray(selection, dtype=np.float64)
    sc = np.asarray(scene_scores, dtype=np.float64)
    ac = np.asarray(action_scores, dtype=np.float64)
    ys = np.asarray(scene_labels)
    ya = np.asarray(action_labels)
    g = np.asarray(importance, dtype=np.float64)
    for name, a in (("selection", u), ("scene_scores", sc), ("action_scores", ac), ("scene_labels", ys),
                    ("action_labels", ya), ("importance", g)):
        if len(a) != n:
            raise ValueError(f"{name} has {len(a)} rows for {n} segments")
    if n == 0:
        raise ValueError("no segments to score")
    pos = np.arange(n) if segment_index is None else np.asarray(segment_index)
    per_video = []
    _, first, inverse = np.unique(vid, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    grouped = np.lexsort((pos, inverse))  # by video, then segment order within the video
    bounds = np.concatenate(([0], np.cumsum(np.bincount(inverse))))
    for v in np.argsort(first):
        rows = grouped[bounds[v] : bounds[v + 1]]
        sel = select_segments(u[rows], n_select)
        per_video.append((
            hamming_score_at_k(sc[rows], ys[rows], sel, 1),
            hamming_score_at_k(ac[rows], ya[rows], sel, 1),
            hamming_score_at_k(sc[rows], ys[rows], sel, 5),
            hamming_score_at_k(ac[rows], ya[rows], sel, 5),
            importance_accuracy(g[rows], sel),
        ))
    m = np.mean(np.asarray(per_video), axis=0)
    return CoviewScores(
        hs_scene_1=float(m[0]),
        hs_action_1=float(m[1]),
        hs_scene_5=float(m[2]),
        hs_action_5=float(m[3]),
        is_accuracy=float(m[4]),
        segment_scene_accuracy=top_k_accuracy(sc, ys, 1),
        segment_action_accuracy=top_k_accuracy(ac, ya, 1),
        n_videos=len(per_video),
    )

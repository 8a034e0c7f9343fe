"""Exact K-nearest-neighbour search (Euclidean), chunked over query rows, ties broken by index.

Private to ``methods``. Used by ML-kNN (METHODS.md 2.9), which needs each training point's K
nearest *other* training points: ``exclude_self=True`` when the query set is the reference set.
Rows are processed ``chunk_rows`` at a time, so memory is ``chunk_rows x n_ref`` distances
(NUS-WIDE's 160k training images: 1024 rows = 1.3 GB in float64, 0.65 GB in float32), never n x n.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


def nearest_neighbours(
    reference: np.ndarray,
    query: np.ndarray | None,
    k: int,
    *,
    chunk_rows: int = 1024,
    dtype: str = "float64",
    device: str = "cpu",
) -> np.ndarray:
    """(n_query, k) int64 indices into ``reference`` of each query's k nearest rows.

    Order: increasing squared Euclidean distance, equal distances by increasing reference index
    (so the result does not depend on the algorithm's internals). ``query=None`` searches the
    reference rows themselves and never returns a row as its own neighbour.

    Raises:
        ValueError: ``k`` not in [1, number of candidates], or mismatched feature widths.
    """
    import torch

    ref = torch.as_tensor(np.ascontiguousarray(reference), dtype=getattr(torch, dtype), device=device)
    exclude_self = query is None
    qry = ref if query is None else torch.as_tensor(np.ascontiguousarray(query), dtype=ref.dtype, device=device)
    if ref.ndim != 2 or qry.ndim != 2 or ref.shape[1] != qry.shape[1]:
        raise ValueError(f"nearest_neighbours: reference {tuple(ref.shape)} and query {tuple(qry.shape)} "
                         "must be 2-d with the same number of columns")  # fmt: skip
    candidates = len(ref) - (1 if exclude_self else 0)
    if not 1 <= k <= candidates:
        raise ValueError(f"nearest_neighbours: k={k} needs 1 <= k <= {candidates} candidate rows "
                         f"({len(ref)} reference rows{', each excluding itself' if exclude_self else ''})")  # fmt: skip
    ref_sq = (ref * ref).sum(dim=1)
    out = np.empty((len(qry), k), dtype=np.int64)
    with torch.no_grad():
        for start in range(0, len(qry), chunk_rows):
            q = qry[start : start + chunk_rows]
            # |q - r|^2 = |q|^2 - 2 q.r + |r|^2: one matrix product per chunk (the whole cost).
            dist = ((q * q).sum(dim=1, keepdim=True) - 2.0 * (q @ ref.T) + ref_sq).clamp_min_(0.0)
            if exclude_self:
                rows = torch.arange(len(q), device=dist.device)
                dist[rows, rows + start] = float("inf")
            out[start : start + len(q)] = _k_smallest(dist, k).cpu().numpy()
    return out


def _k_smallest(dist: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of each row's k smallest values, sorted by (value, index)."""
    import torch

    values, index = torch.topk(dist, k, dim=1, largest=False, sorted=True)
    kth = values[:, -1:]
    # topk picks arbitrarily among values equal to the k-th; redo those rows exactly.
    tied = (dist <= kth).sum(dim=1) > k
    if bool(tied.any()):
        rows = dist[tied]
        kth_t = kth[tied]
        less = rows < kth_t
        equal = rows == kth_t
        need = k - less.sum(dim=1, keepdim=True)
        chosen = less | (equal & (equal.cumsum(dim=1) <= need))
        index[tied] = chosen.nonzero()[:, 1].view(-1, k)  # nonzero is row-major: ascending index per row
    # Sort the chosen k by index, then stably by distance: (distance, index) order.
    index, _ = torch.sort(index, dim=1)
    order = torch.sort(torch.gather(dist, 1, index), dim=1, stable=True).indices
    return torch.gather(index, 1, order)

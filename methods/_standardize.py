"""Input checks and feature standardisation with training statistics (METHODS.md 2.3)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.api import MethodData
from harness.errors import DataError


@dataclass(frozen=True)
class Standardizer:
    """Per-feature affine map ``(x - mean) / scale`` learned on the training features.

    A constant feature gets scale 1 (it becomes 0 everywhere instead of NaN).
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray) -> Standardizer:
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0:
            raise ValueError(f"features must be a non-empty (n, d) array, got shape {x.shape}")
        mean = x.mean(axis=0)
        std = x.std(axis=0)
        std[~np.isfinite(std) | (std < 1e-12)] = 1.0
        return cls(mean=mean, scale=std)

    def transform(self, features: np.ndarray, dtype: type = np.float64) -> np.ndarray:
        """Standardised copy of ``features`` (the input is never modified)."""
        x = np.asarray(features, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"features must have {self.mean.shape[0]} columns as at fit time, got shape {x.shape}"
            )
        return ((x - self.mean) / self.scale).astype(dtype, copy=False)


def checked_features(data: MethodData, method: str, n_features: int | None = None) -> np.ndarray:
    """The (n, d) feature matrix of ``data``, or a DataError saying what is wrong and how to fix it."""
    x = data.features
    if x is None:
        raise DataError(
            f"{method}: needs feature vectors but the input has none. It consumes cached features "
            f"(config 'backbone' and 'layer'); run it through the harness runner, which extracts them."
        )
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[0] != len(data):
        raise DataError(f"{method}: features must be ({len(data)}, d), got shape {x.shape}.")
    if n_features is not None and x.shape[1] != n_features:
        raise DataError(
            f"{method}: features have {x.shape[1]} columns but the model was fitted on {n_features}; "
            f"use the same backbone/layer for fit and predict."
        )
    if not np.isfinite(x).all():
        bad = int((~np.isfinite(x)).any(axis=1).sum())
        raise DataError(f"{method}: {bad} feature rows contain NaN or inf; check the feature extraction.")
    return x


def checked_labels(data: MethodData, method: str) -> np.ndarray:
    """The (n, T) label matrix in {1, 0, -1}, or a DataError."""
    y = data.labels
    if y is None:
        raise DataError(f"{method}: fit needs labels, but the training data has none.")
    y = np.asarray(y)
    if y.ndim != 2 or y.shape != (len(data), len(data.concepts)):
        raise DataError(
            f"{method}: labels must be (n, T) = ({len(data)}, {len(data.concepts)}), got shape {y.shape}."
        )
    if not np.isin(y, (-1, 0, 1)).all():
        raise DataError(f"{method}: labels must be 1 (positive), 0 (negative) or -1 (not annotated).")
    return y


def checked_class_labels(data: MethodData, method: str) -> np.ndarray:
    """The (n,) class indices of a multiclass split (0 .. C-1, C = ``len(data.concepts)``), or a DataError."""
    y = data.labels
    if y is None:
        raise DataError(f"{method}: fit needs labels, but the training data has none.")
    y = np.asarray(y)
    n_classes = len(data.concepts)
    if y.shape != (len(data),) or not np.issubdtype(y.dtype, np.integer):
        raise DataError(f"{method}: multiclass labels must be ({len(data)},) class indices, got {y.dtype} {y.shape}.")
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise DataError(f"{method}: class indices must be in [0, {n_classes - 1}], got [{y.min()}, {y.max()}].")
    return y

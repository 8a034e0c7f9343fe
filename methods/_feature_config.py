"""Config fields of every method that consumes cached backbone features (one copy, not six).

A method's ``Config`` subclasses :class:`FeatureFields`; ``Method.feature_spec`` reads these
fields to build the :class:`~harness.api.FeatureSpec` (``backbone=auto`` = the data set's declared
backbone). A method that wants another default (e.g. ``layer``) redeclares that one field.
"""

from __future__ import annotations

from dataclasses import dataclass

from harness.params import Options, param

POOLINGS = ("mean", "max")


@dataclass(frozen=True)
class FeatureFields:
    """Which cached features a feature-based method reads (the cache key's backbone part)."""

    backbone: str = param("auto", help="feature extractor ('auto' = the data set's reference backbone)")
    layer: str = param("fc8", help="backbone layer whose output is the feature vector")
    backbone_weights: str = param("default", help="'default' pretrained weights or a checkpoint path")
    pooling: str = param("mean", Options(POOLINGS), "how frames of a shot/clip are pooled")

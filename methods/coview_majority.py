"""``coview_majority``: the majority-class baseline of CoVieW (the floor every MTN row must beat).

Predicts, for every segment, the training class frequencies of the scene and of the action (so the
top-1 class is the most frequent one, ties to the lower class index) and the mean training
importance as its importance (a constant: the top-6 selection then takes each video's first six
segments, AMB-5). It reads no features. Not from the paper: the sanity row of ``mtn.table1``.
"""

from __future__ import annotations

from typing import Self

import numpy as np

from harness.api import Method, MethodData, register_method


@register_method("coview_majority")
class CoviewMajority(Method):
    """Training class frequencies as scene / action scores, the mean importance as importance."""

    description = "CoVieW baseline: majority scene and action class, constant importance (first 6 segments)"
    paper = "sanity baseline (CoVieW; not in the paper)"
    tasks = ("coview",)
    fitted_notes = ("scene_class_", "action_class_", "importance_")

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        from methods.coview_gap_linear import coview_labels, head_sizes

        self.sizes_ = head_sizes(train)
        scene, action, importance = coview_labels(train, self.sizes_, "coview_majority")
        self.scene_freq_ = np.bincount(scene, minlength=self.sizes_["scene"]) / max(len(scene), 1)
        self.action_freq_ = np.bincount(action, minlength=self.sizes_["action"]) / max(len(action), 1)
        self.scene_class_ = int(np.argmax(self.scene_freq_))
        self.action_class_ = int(np.argmax(self.action_freq_))
        self.importance_ = float(np.mean(importance)) if len(importance) else 1.0
        return self

    def predict(self, data: MethodData) -> dict[str, np.ndarray]:
        n = len(data)
        return {"scene": np.tile(self.scene_freq_, (n, 1)), "action": np.tile(self.action_freq_, (n, 1)),
                "importance": np.full(n, self.importance_)}  # fmt: skip

"""``svm_concepts``: the concept bank of the approach microNN replaced (METHODS.md 2.7, "minutes per
concept with SVMs"): one linear SVM per concept (scikit-learn LIBLINEAR), trained on the same
features and the same training sets as ``micronn`` (its sampler and seeds), answered by the same
retrieval (per-concept min-max of the decision values, mean over the query's concepts).

Image-only concepts train on the ``images`` source; the others on the video shots (the SVM baseline
has no transfer step). Concepts without both classes get no SVM.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from harness.api import Method, MethodData, SourceSpec, register_method
from harness.errors import DataError
from harness.params import Interval, Options, param
from harness.seeding import derive_seed
from methods import _micronn_nets as nets
from methods._concept_bank import (
    MINI_BACKBONE,
    MINI_NO_ACTIONS,
    NORMALISATIONS,
    bank_sources,
    bank_tables,
    hold_out_video,
    query_mapping,
    retrieval_scores,
    stack_sources,
    timing_note,
    unanswered_queries,
)
from methods._feature_config import FeatureFields


def fit_linear_svms(X: np.ndarray, sets: nets.TrainingSets, C: float, max_iter: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(d, K) weights and (K,) biases of one LinearSVC per concept on its own set (zeros where empty)."""
    from sklearn.svm import LinearSVC

    K = sets.n_concepts
    coef, bias = np.zeros((X.shape[1], K)), np.zeros(K)
    for c in range(K):
        rows, y = sets.concept(c)
        if len(rows) == 0:
            continue
        svm = LinearSVC(C=C, max_iter=max_iter, dual="auto", random_state=derive_seed(seed, "liblinear", c))
        svm.fit(X[rows], y)
        coef[:, c], bias[c] = svm.coef_[0], svm.intercept_[0]
    return coef, bias


@register_method("svm_concepts")
class SVMConcepts(Method):
    """One linear SVM per concept on microNN's features and training sets; same AVS retrieval."""

    description = "AVS retrieval with one linear SVM per concept (microNN's baseline), min-max fused per query"
    paper = "kobe_nict_siegen, TRECVID AVS 2016: the SVM concept bank microNN replaces"
    tasks = ("multilabel",)
    fitted_notes = ("detectors_", "unanswered_queries_", "seconds_", "timing_")
    miniature_settings = {
        "backbone": ("auto", MINI_BACKBONE),
        "action_source": ("", MINI_NO_ACTIONS),
        "examples": (2000, "as for micronn: about the 2,500 annotated shots of trecvid2013-mini"),
    }

    @dataclass(frozen=True)
    class Config(FeatureFields):
        layer: str = param("fc7", help="backbone layer of the shot vectors (VGG16 fc7)")
        pooling: str = param("max", Options(("mean", "max")), "frames of a shot pooled element-wise (AMB-21)",
                             assumption=True)  # fmt: skip
        video_source: str = param("trecvid2013", help="data set of annotated video shots (TRECVID SIN)")
        backbone: str = param("vgg16", help="feature extractor (micronn's: VGG16); 'auto' = the data set's reference")
        image_source: str = param("imagenet-concepts", help="data set of concept images ('' = none); image-only "
                                                            "concepts train here")
        action_source: str = param("ucf101", help="data set of action clips, one concept per class ('' = none)")
        action_frame_stride: int = param(30, Interval(1, None), "keep every k-th frame of an action clip (as "
                                         "micronn's)", assumption=True)  # fmt: skip
        concepts: str = param("queried", Options(("queried", "all")), "train the queried concepts or all")
        sampling: str = param("imbalanced", Options(nets.SAMPLINGS), "training sets as micronn's (AMB-23)")
        examples: int = param(30000, Interval(2, None), "training examples per concept (seed: 30,000)")
        C: float = param(1.0, Interval(0, None, "neither"), "SVM regularisation (LIBLINEAR C)", assumption=True)
        max_iter: int = param(1000, Interval(1, None), "LIBLINEAR iteration cap")
        normalisation: str = param("minmax", Options(NORMALISATIONS), "per-concept output map before fusion (AMB-24)")
        heldout_fraction: float = param(0.0, Interval(0, 1, "left"), "share of the video source's videos held out "
                                        "of training to score the SVMs (as micronn's; micronn.timing)")  # fmt: skip

    @classmethod
    def training_sources(cls, config: Config) -> dict[str, SourceSpec]:
        return bank_sources(config.video_source, config.image_source, config.action_source, config.action_frame_stride)

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        cfg = self.config
        self.query_concepts_ = query_mapping(train)
        _, video, image, bank = bank_tables(train, self.query_concepts_, cfg.concepts, "svm_concepts")
        video, held = hold_out_video(video, train.sources["video"].groups, cfg.heldout_fraction,
                                     derive_seed(self.seed, "heldout"))  # micronn's split: same seed, same videos
        started = time.perf_counter()
        blocks, labels = stack_sources(video, bank)
        X = np.concatenate([np.asarray(b, np.float32) for b in blocks])
        # micronn's step-2 sets: the same sampler, seed and settings give the same examples
        sets = nets.sample_sets(labels, cfg.sampling, cfg.examples, derive_seed(self.seed, "sample", "video"))
        coef, bias = fit_linear_svms(X, sets, cfg.C, cfg.max_iter, self.seed)
        trained = sets.sizes > 0
        if image is not None and not trained.all():
            only = [k for k in np.flatnonzero(~trained) if bank[k] in image[2]]
            _, i_labels = stack_sources([image], [bank[k] for k in only])
            i_sets = nets.sample_sets(i_labels, cfg.sampling, cfg.examples, derive_seed(self.seed, "sample", "images"))
            c_img, b_img = fit_linear_svms(np.asarray(image[0], np.float32), i_sets, cfg.C, cfg.max_iter, self.seed)
            coef[:, only], bias[only] = c_img, b_img
            trained[only] = i_sets.sizes > 0
        if not trained.any():
            raise DataError("svm_concepts: no query concept has both positive and negative training examples")
        train_s = time.perf_counter() - started
        self.seconds_ = {"bank": round(train_s, 3)}
        self.concepts_ = [c for c, ok in zip(bank, trained, strict=True) if ok]
        self.coef_, self.intercept_ = coef[:, trained], bias[trained]
        self.concept_index_ = {c: i for i, c in enumerate(self.concepts_)}
        self.detectors_ = len(self.concepts_)
        self.timing_ = timing_note("svm", train_s, self.concepts_, held,
                                   lambda X: np.asarray(X, dtype=np.float64) @ self.coef_ + self.intercept_)
        self.unanswered_queries_ = unanswered_queries(train.concepts, self.query_concepts_, self.concept_index_,
                                                      "svm_concepts")  # fmt: skip
        return self

    def decision(self, data: MethodData) -> Any:
        return np.asarray(data.features, dtype=np.float64) @ self.coef_ + self.intercept_

    def predict(self, data: MethodData) -> np.ndarray:
        return retrieval_scores(self.decision(data), self.concept_index_, self.query_concepts_, data.concepts,
                                self.config.normalisation)  # fmt: skip

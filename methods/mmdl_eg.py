"""``mmdl_eg``: multimodal deep learning with exponentiated-gradient modality weighting (seed 003).

METHODS.md 2.9 with its adopted readings (AMB-29..33, AMB-20):

1. modalities = every feature block x {linear, cosine, RBF} similarity; blocks are scaled to [0, 1]
   with training min / max (test values clipped to that range);
2. stage 1: one network per modality (:mod:`methods._mmdl_nets`), all trained together in
   grouped tensor products, on the normalised-label cross-entropy; items without a label are left out;
3. stage 2: one online pass of exponentiated-gradient weighting over uniformly drawn triplets
   (:mod:`methods._mmdl_eg`), ``online=joint`` also taking one SGD step per network and triplet
   (Algorithm 1), ``online=frozen`` keeping the networks of stage 1;
4. score ``S(x, l) = sum_j alpha_j p_j(l | x)``; label set ``S >= tau`` with one global tau chosen
   on validation Hamming loss (``label_rule=top_k``: the round(training cardinality) best labels).

``eta`` is chosen on the validation split among ``etas`` (by the Hamming loss of the resulting label
sets, or the protocol's validation metric of the scores where the data set ranks, e.g. TRECVID).
The runner holds out 10 % of the training items as that validation split; called without one the
method holds out 10 % itself. The run records the modalities (``fit.modalities``), their learnt
weights (``fit.weights.<block>/<measure>``), eta, tau and the validation losses.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from harness.api import FeatureSpec, Method, MethodData, register_method
from harness.errors import InvalidParameterError
from harness.params import Interval, Options, param
from harness.seeding import derive_seed
from methods._image_features import register as register_image_features

log = logging.getLogger(__name__)
register_image_features()  # backbone 'handcrafted': the seed's global image features from image files

ONLINE = ("joint", "frozen")
LABEL_RULES = ("threshold", "top_k")
OUTPUTS = ("auto", "labels", "scores")
MEASURE_NAMES = ("linear", "cosine", "rbf")


@register_method("mmdl_eg")
class MMDLEG(Method):
    """Per-(feature, similarity) networks fused by online exponentiated-gradient weights."""

    description = "MMDL-EG: one network per (feature block, similarity) modality, EG-weighted fusion, global threshold"
    paper = "MMDL-EG (seed 003) Table 1"
    tasks = ("multilabel",)
    fitted_notes = ("modalities_", "weights_", "eta_", "threshold_", "top_k_", "val_hamming_per_eta_",
                    "val_score_per_eta_", "stage1_loss_", "online_", "online_steps_", "output_",
                    "stage1_seconds_", "stage2_seconds_")  # fmt: skip

    miniature_settings = {
        "hidden": (128, "4096 units per layer make 18 networks of ~34 M weights each on NUS-WIDE's 6 blocks, "
                        "beyond a CPU run; 128 trains 18 networks in ~15 s on nuswide-mini (2 busy cores)"),
        "lr": (0.05, "at hidden 128 the assumed lr 0.01 barely moves the stage-1 loss in 30 epochs (iaprtc12-mini "
                     "5.09 -> 4.81, nuswide-mini 5.39 -> 4.97; 0.05: 4.59 and 4.80; seed 0, measured once)"),
    }

    @dataclass(frozen=True)
    class Config:
        backbone: str = param("provided", help="feature extractor ('provided' = the blocks the data set ships)")
        layer: str = param("each", help="'each' = one modality group per shipped block; or one block / layer; "
                                        "several layers joined by '+' (handcrafted: hsv128+edh37)")
        backbone_weights: str = param("default", help="'default' pretrained weights or a checkpoint path")
        measures: tuple[str, ...] = param(MEASURE_NAMES, help="similarity measures, each paired with every block")
        hidden: int = param(4096, Interval(1, None), "units of the similarity layer and of each dense layer")
        dropout: float = param(0.6, Interval(0, 1, "left"), "dropout on the two dense layers in stage 1")
        mu_linear: float = param(1.0, Interval(0, None, "neither"), "scale mu of the linear similarity")
        mu_cosine: float = param(0.18, Interval(0, None, "neither"), "scale mu of the cosine similarity")
        mu_rbf: float = param(0.18, Interval(0, None, "neither"), "scale mu of the RBF similarity")
        sigma: float = param(2.0, Interval(0, None, "neither"), "RBF width sigma")
        epochs: int = param(30, Interval(0, None), "stage-1 epochs", assumption=True)
        batch_size: int = param(128, Interval(1, None), "stage-1 batch size", assumption=True)
        lr: float = param(0.01, Interval(0, None, "neither"), "stage-1 SGD learning rate", assumption=True)
        momentum: float = param(0.9, Interval(0, 1, "left"), "stage-1 SGD momentum", assumption=True)
        online: str = param("joint", Options(ONLINE), "stage 2: joint = EG plus one SGD step per network "
                                                      "and triplet (Algorithm 1); frozen = EG only")  # fmt: skip
        online_lr: float = param(1e-4, Interval(0, None), "SGD learning rate of the joint updates", assumption=True)
        online_steps: int = param(0, Interval(0, None), "stage-2 triplets (0 = one per training item)", assumption=True)
        margin: float = param(1.0, Interval(0, None, "neither"), "hinge margin gamma (AMB-32)", assumption=True)
        etas: tuple[float, ...] = param((0.01, 0.1, 0.5, 1.0), Interval(0, None, "neither"), help="EG learning rates tried on validation",
                                        assumption=True)  # fmt: skip
        label_rule: str = param("threshold", Options(LABEL_RULES),
                                "threshold = one global tau on validation HL; top_k = round(cardinality) labels")  # fmt: skip
        output: str = param("auto", Options(OUTPUTS), "labels or fused scores; auto = labels where the "
                                                       "data set is scored by Hamming loss")  # fmt: skip
        normalize: str = param("minmax", Options(("minmax", "none")), "per-dimension [0, 1] scaling (training min/max)")
        rbf_init: str = param("samples", Options(("samples", "gaussian")),
                              "RBF centres start at random training inputs, or Gaussian like the others",
                              assumption=True)  # fmt: skip
        dtype: str = param("float32", Options(("float32", "float64")), "precision of the networks")
        batched: bool = param(True, help="train all modality networks in one set of grouped tensors "
                                         "(False: one after another; same numbers, for benchmarks)")  # fmt: skip

        def check(self) -> None:
            bad = [m for m in self.measures if m not in MEASURE_NAMES]
            if bad or not self.measures:
                raise InvalidParameterError(f"The 'measures' parameter of mmdl_eg must name measures among "
                                 f"{', '.join(MEASURE_NAMES)}. Got {self.measures!r} instead.")  # fmt: skip
            if not self.etas:
                raise InvalidParameterError("The 'etas' parameter of mmdl_eg must name at least one learning rate.")

    @classmethod
    def feature_specs(cls, config: Any) -> dict[str, FeatureSpec]:
        """One block per ``+``-separated layer (e.g. ``backbone=handcrafted layer=hsv128+edh37``)."""
        layers = [name for name in str(config.layer).split("+") if name]
        if len(layers) <= 1:
            spec = cls.feature_spec(config)
            return {} if spec is None else {"features": spec}
        return {name: FeatureSpec(config.backbone, name, weights=config.backbone_weights) for name in layers}

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        from methods._device import threads_for, torch_device

        cfg = self.config
        cfg.check()
        if val is None or val.labels is None or len(val) == 0:
            train, val = _hold_out(train, derive_seed(self.seed, "mmdl-validation"))
        blocks = _blocks(train)
        self.scaling_ = {name: _minmax(x) if cfg.normalize == "minmax" else (np.zeros(x.shape[1]), np.ones(x.shape[1]))
                         for name, x in blocks.items()}  # fmt: skip
        self.modalities_ = [f"{b}/{m}" for b in blocks for m in cfg.measures]
        self.output_ = _output_kind(cfg.output, train)
        device = torch_device(self.device)
        y = np.asarray(train.labels)
        tensors = self._tensors(train, device)
        with threads_for(self._work(tensors), device):
            t0 = time.perf_counter()
            self.nets_ = self._stage1(tensors, y, device)
            self.stage1_seconds_ = round(time.perf_counter() - t0, 3)
            t0 = time.perf_counter()
            weights = self._stage2(tensors, y)
            self.stage2_seconds_ = round(time.perf_counter() - t0, 3)
            self._select(weights.alpha, val, train)
        return self

    def _work(self, tensors: dict[str, Any]) -> int:
        """Multiply-adds of one modality's largest product: below methods._device.SMALL_WORK one CPU
        thread is faster (measured on nuswide-mini, 18 modalities, hidden 128, 2 busy cores:
        0.20 s per stage-1 step on 1 thread, 2.04 s on 2)."""
        cfg = self.config
        widest = max([t.shape[1] for t in tensors.values()] + [cfg.hidden])
        return cfg.batch_size * widest * cfg.hidden

    # -- stages ------------------------------------------------------------------------------

    def _stage1(self, tensors: dict[str, Any], y: np.ndarray, device: Any) -> list[Any]:
        """Stage-1 networks: one ModalityNets over every modality, or one per modality (``batched=False``)."""
        from methods._mmdl_nets import ModalityNets, NetShape, Stage1Settings, train_stage1

        cfg = self.config
        mods = self._modalities()
        shape = NetShape(cfg.hidden, y.shape[1], cfg.dropout)
        dims = {name: t.shape[1] for name, t in tensors.items()}
        centres = {name: t.cpu().numpy() for name, t in tensors.items()} if cfg.rbf_init == "samples" else None
        settings = Stage1Settings(cfg.epochs, cfg.batch_size, cfg.lr, cfg.momentum)
        groups = [mods] if cfg.batched else [[m] for m in mods]
        nets, losses = [], []
        for group in groups:
            net = ModalityNets(group, dims, shape, self.seed, device, rbf_centres=centres, dtype=cfg.dtype)
            losses.append(train_stage1(net, tensors, y, settings, self.seed))
            nets.append(net)
        # Mean loss per epoch over modalities (each group's history is already a per-modality mean).
        self.stage1_loss_ = [round(float(np.mean([h[e] for h, g in zip(losses, groups, strict=True)
                                                  for _ in g])), 6) for e in range(cfg.epochs)]  # fmt: skip
        return nets

    def _stage2(self, tensors: dict[str, Any], y: np.ndarray) -> Any:
        from methods._mmdl_eg import (
            EGWeights,
            JointSettings,
            draw_triplets,
            frozen_pass,
            joint_pass,
        )

        cfg = self.config
        steps = cfg.online_steps or len(y)
        triplets = draw_triplets(y, steps, self.seed)
        weights = EGWeights(len(self.modalities_), cfg.etas, cfg.margin)
        self.online_, self.online_steps_ = cfg.online, int(steps)
        if cfg.online == "frozen":
            frozen_pass(self._posteriors(tensors, len(y)), triplets, weights)
        else:
            joint_pass(self.nets_, tensors, triplets, weights, JointSettings(cfg.online_lr, cfg.margin))
        return weights

    def _select(self, alphas: np.ndarray, val: MethodData, train: MethodData) -> None:
        """eta (and tau) on the validation split; keeps the chosen weights."""
        from methods._mmdl_eg import threshold_sweep, top_k_labels
        from methods._validation import safe_score, scorer_from_data, val_scorer

        cfg = self.config
        fused_val = np.einsum("nml,em->enl", self._posteriors(self._tensors(val, None), len(val)), alphas)
        y_train = np.asarray(train.labels)
        self.top_k_ = int(round(float((y_train == 1).sum(axis=1).mean()))) if cfg.label_rule == "top_k" else None
        scorer = val_scorer(val)
        if self.output_ == "labels" and (scorer is None or scorer.metric != "hamming_loss"):
            scorer = scorer_from_data(val, "hamming_loss")
        assert scorer is not None
        outputs: list[np.ndarray] = []
        thresholds: list[float | None] = []
        for fused in fused_val:
            if self.output_ == "scores":
                outputs.append(fused)
                thresholds.append(None)
            elif cfg.label_rule == "top_k":
                outputs.append(top_k_labels(fused, self.top_k_ or 0))
                thresholds.append(None)
            else:
                tau, _ = threshold_sweep(fused, np.asarray(val.labels))
                outputs.append((fused >= tau).astype(np.float64))
                thresholds.append(tau)
        values = [safe_score(scorer, out) for out in outputs]
        best = 0
        for e in range(1, len(values)):
            if scorer.better(values[e], values[best]):
                best = e
        key = [f"{eta:g}" for eta in cfg.etas]
        self.val_score_per_eta_ = {k: round(v, 6) for k, v in zip(key, values, strict=True)}
        self.val_hamming_per_eta_ = self.val_score_per_eta_ if scorer.metric == "hamming_loss" else None
        self.eta_ = float(cfg.etas[best])
        self.threshold_ = thresholds[best]
        self.alpha_ = alphas[best]
        self.weights_ = {name: round(float(a), 6) for name, a in zip(self.modalities_, self.alpha_, strict=True)}

    # -- prediction --------------------------------------------------------------------------

    def predict(self, data: MethodData) -> np.ndarray:
        from methods._device import threads_for
        from methods._mmdl_eg import top_k_labels

        tensors = self._tensors(data, None)
        with threads_for(self._work(tensors), self.nets_[0].device):
            fused = np.einsum("nml,m->nl", self._posteriors(tensors, len(data)), self.alpha_)
        if self.output_ == "scores":
            return fused
        if self.top_k_ is not None:
            return top_k_labels(fused, self.top_k_)
        return (fused >= self.threshold_).astype(np.float64)

    # -- helpers -----------------------------------------------------------------------------

    def _modalities(self) -> list[Any]:
        from methods._mmdl_nets import Modality

        cfg = self.config
        mu = {"linear": cfg.mu_linear, "cosine": cfg.mu_cosine, "rbf": cfg.mu_rbf}
        return [Modality(name.split("/")[0], name.split("/")[1], mu[name.split("/")[1]], cfg.sigma)
                for name in self.modalities_]  # fmt: skip

    def _tensors(self, data: MethodData, device: Any) -> dict[str, Any]:
        """Each block scaled with the training min / max, clipped to [0, 1], as tensors of ``dtype``."""
        import torch

        if device is None:
            device = self.nets_[0].device
        out = {}
        for name, x in _blocks(data).items():
            if name not in self.scaling_:
                raise ValueError(f"mmdl_eg: block {name!r} was not seen at fit (fitted on {', '.join(self.scaling_)})")
            lo, span = self.scaling_[name]
            z = (x - lo) / span
            if self.config.normalize == "minmax":
                z = np.clip(z, 0.0, 1.0)
            out[name] = torch.as_tensor(z, dtype=getattr(torch, self.config.dtype), device=device)
        return out

    def _posteriors(self, tensors: dict[str, Any], n: int) -> np.ndarray:
        """(n, M, L) every modality's posteriors, in ``modalities_`` order."""
        return np.concatenate([net.posteriors(tensors, n) for net in self.nets_], axis=1)


def _blocks(data: MethodData) -> dict[str, np.ndarray]:
    blocks = {name: np.asarray(b, dtype=np.float64).reshape(len(data), -1) for name, b in data.blocks.items()}
    if not blocks and data.features is not None:
        blocks = {"features": np.asarray(data.features, dtype=np.float64).reshape(len(data), -1)}
    if not blocks:
        raise ValueError("mmdl_eg needs feature blocks (backbone 'provided', layer 'each'); the runner provided none")
    return blocks


def _minmax(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = x.min(axis=0) if len(x) else np.zeros(x.shape[1])
    span = (x.max(axis=0) - lo) if len(x) else np.ones(x.shape[1])
    return lo, np.where(span > 0, span, 1.0)


def _output_kind(requested: str, data: MethodData) -> str:
    if requested != "auto":
        return requested
    metric = data.protocol.metric if data.protocol is not None else ""
    return "labels" if metric == "hamming_loss" else "scores"


def _hold_out(train: MethodData, seed: int, fraction: float = 0.1) -> tuple[MethodData, MethodData]:
    """Split ``train`` into 90 % / 10 % (METHODS.md 2.9: tau on 10 % of training) when no validation is given."""
    import dataclasses

    n = len(train)
    perm = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(fraction * n)))
    parts = []
    for idx in (np.sort(perm[n_val:]), np.sort(perm[:n_val])):
        parts.append(dataclasses.replace(
            train, ids=train.ids[idx], groups=train.groups[idx], labels=np.asarray(train.labels)[idx],
            features=None if train.features is None else train.features[idx],
            blocks={k: np.asarray(v)[idx] for k, v in train.blocks.items()}, val_score=None,
            extra={k: v[idx] for k, v in train.extra.items()}))  # fmt: skip
    return parts[0], parts[1]

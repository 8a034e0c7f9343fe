"""``micronn``: micro neural network concept detectors with gradual transfer, and ad-hoc video search
(kobe_nict_siegen at TRECVID AVS 2016; METHODS.md 2.7).

A bank of per-concept one-hidden-layer networks (ReLU + dropout, two-way softmax) on max-pooled fc7
shot vectors, all trained at once (methods/_micronn_nets.py):

1. step 1 on images (``image_source``: each concept's synsets positive, other synsets negative);
2. step 2 on annotated video shots (``video_source``: TRECVID SIN; ``action_source``: UCF101 clips,
   one-vs-rest), initialised from step 1; concepts without images start from random weights, and
   image-only concepts keep their step-1 network;
3. ``temporal=lstm`` (D_M_3): for ``lstm_concepts`` the hidden layer becomes an LSTM over the shot's
   frames, initialised from step 2 (AMB-22) and trained on the same shots (methods/_micronn_lstm.py).

``sampling``: ``imbalanced`` (D_M_1: all positives + negatives up to ``examples``) or ``balanced``
(D_M_2: ``examples / 2`` of each, resampled where fewer exist; AMB-23). Query scores: the mean over
the query's concepts of per-concept min-max normalised presence probabilities (methods/_concept_bank.py).
The step-1/2 bank is cached per (sources' data, settings, seed): the D_M_3 run and reruns reuse it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import asdict, dataclass
from typing import Any, Self

import numpy as np

from harness.api import FeatureSpec, Method, MethodData, Sequences, SourceSpec, register_method
from harness.errors import DataError, InvalidParameterError
from harness.params import Interval, Options, param
from harness.seeding import derive_seed
from methods import _micronn_lstm as lstm
from methods import _micronn_nets as nets
from methods._concept_bank import (
    MINI_BACKBONE,
    MINI_NO_ACTIONS,
    NORMALISATIONS,
    bank_sources,
    bank_tables,
    concat_sequences,
    hold_out_video,
    query_mapping,
    retrieval_scores,
    source_table,
    stack_sources,
    timing_note,
    unanswered_queries,
)
from methods._device import threads_for, torch_device
from methods._feature_config import FeatureFields

log = logging.getLogger(__name__)


BANK_VERSION = 1  # bump when the cached bank's meaning changes
SCHEDULES = ("batched", "one_at_a_time")
RUNTIME_FIELDS = ("bank_cache",)  # change nothing a cached bank holds


def fingerprint(*arrays: Any) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if isinstance(a, Sequences):
            a = np.concatenate([a.values.reshape(len(a.values), -1).ravel(), a.offsets.astype(np.float32)])
        a = np.ascontiguousarray(np.asarray(a))
        h.update(str((a.shape, a.dtype)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:24]


@register_method("micronn")
class MicroNN(Method):
    """Per-concept micro networks with gradual transfer (images -> video shots), optional LSTMs, AVS retrieval."""

    description = "microNN: batched per-concept 1-hidden-layer nets, gradual transfer, LSTM refinement, AVS retrieval"
    paper = "kobe_nict_siegen, TRECVID AVS 2016 (microNN, seed 001)"
    tasks = ("multilabel",)
    fitted_notes = ("detectors_", "image_concepts_", "lstm_concepts_", "unanswered_queries_", "seconds_", "cached_",
                    "timing_")
    miniature_settings = {
        "backbone": ("auto", MINI_BACKBONE),
        "action_source": ("", MINI_NO_ACTIONS),
        "examples": (2000, "about the 2,500 annotated shots of trecvid2013-mini; 30,000 would repeat every "
                           "shot 12 times per epoch (balanced: the ~100 positives 150 times)"),
        "hidden": (256, "the miniature's fc7 is 256-d (VGG16's 4,096); 1,024 hidden units would be 4x its input"),
        "batch_size": (64, "2,000 examples give 8 updates per epoch at 256; 64 gives 32 (640 in 20 epochs)"),
        "lstm_epochs": (5, "the LSTMs start from the trained step-2 detectors; 20 epochs of 14 LSTMs take about "
                           "2 minutes of the table's 10-minute budget on 2 CPU cores, 5 about 30 s"),
    }

    @dataclass(frozen=True)
    class Config(FeatureFields):
        layer: str = param("fc7", help="backbone layer of the shot vectors (VGG16 fc7, 4,096-d)")
        pooling: str = param("max", Options(("mean", "max")), "frames of a shot pooled element-wise (AMB-21)",
                             assumption=True)  # fmt: skip
        video_source: str = param("trecvid2013", help="data set of annotated video shots (step 2; TRECVID SIN)")
        backbone: str = param("vgg16", help="feature extractor (the seed's VGG16, ILSVRC-2014); 'auto' = the data "
                                             "set's reference backbone")
        image_source: str = param("imagenet-concepts", help="data set of concept images for step 1 ('' = no step 1)")
        action_source: str = param("ucf101", help="data set of action clips, one concept per class ('' = none)")
        action_frame_stride: int = param(30, Interval(1, None), "keep every k-th frame of an action clip: the AVS "
                                         "shots' keyframes are one every 30 frames (METHODS.md 2.7), and a UCF101 clip "
                                         "has ~160", assumption=True)  # fmt: skip
        concepts: str = param("queried", Options(("queried", "all")),
                              "train only the concepts some query uses (the others never change a score), or all")
        sampling: str = param("imbalanced", Options(nets.SAMPLINGS), "D_M_1 imbalanced or D_M_2 balanced (AMB-23)")
        examples: int = param(30000, Interval(2, None), "training examples per concept (seed: 30,000)")
        temporal: str = param("none", Options(("none", "lstm")), "lstm = D_M_3: LSTM detectors for lstm_concepts")
        lstm_concepts: tuple[str, ...] = param((), help="concepts given an LSTM (seed: 14, not named); empty = the "
                                                        "lstm_count concepts most used by the queries", assumption=True)
        lstm_count: int = param(14, Interval(1, None), "how many concepts get an LSTM when lstm_concepts is empty")
        lstm_max_frames: int | None = param(None, Interval(1, None), "frames per shot / clip the LSTMs read, sampled "
                                            "evenly (None = all; bounds memory for UCF101 clips, ~160 frames each)")
        hidden: int = param(1024, Interval(1, None), "hidden units (also the LSTM's; AMB-46)", assumption=True)
        dropout: float = param(0.5, Interval(0, 1, "right"), "dropout rate before the output layer", assumption=True)
        lr: float = param(0.01, Interval(0, None, "neither"), "SGD learning rate", assumption=True)
        momentum: float = param(0.9, Interval(0, 1, "right"), "SGD momentum", assumption=True)
        epochs: int = param(20, Interval(0, None), "epochs of steps 1 and 2", assumption=True)
        lstm_epochs: int = param(20, Interval(0, None), "epochs of the LSTM step (D_M_3)", assumption=True)
        batch_size: int = param(256, Interval(1, None), "mini-batch per concept", assumption=True)
        normalisation: str = param("minmax", Options(NORMALISATIONS), "per-concept output map before fusion (AMB-24)")
        schedule: str = param("batched", Options(SCHEDULES), "train the bank in one batched pass, or one concept "
                                                             "after the other (the same networks; the timing baseline)")
        heldout_fraction: float = param(0.0, Interval(0, 1, "left"), "share of the video source's videos held out "
                                        "of training to score the detectors (mean AP; micronn.timing)")  # fmt: skip
        bank_cache: bool = param(True, help="reuse a cached bank of the same settings (off: train again, e.g. to "
                                            "time it)")

    @classmethod
    def feature_specs(cls, config: Config) -> dict[str, FeatureSpec]:
        base = FeatureSpec(backbone=config.backbone, layer=config.layer, weights=config.backbone_weights,
                           pooling=config.pooling)  # fmt: skip
        specs = {"features": base}
        if config.temporal == "lstm":
            specs["frames"] = FeatureSpec(backbone=config.backbone, layer=config.layer, weights=config.backbone_weights,
                                          pooling="none", max_frames=config.lstm_max_frames)  # fmt: skip
        return specs

    @classmethod
    def training_sources(cls, config: Config) -> dict[str, SourceSpec]:
        return bank_sources(config.video_source, config.image_source, config.action_source, config.action_frame_stride)

    def settings(self, lstm_step: bool = False) -> nets.NetSettings:
        c = self.config
        return nets.NetSettings(hidden=c.hidden, dropout=c.dropout, lr=c.lr, momentum=c.momentum,
                                epochs=c.lstm_epochs if lstm_step else c.epochs,
                                batch_size=c.batch_size)  # fmt: skip

    # -- fit -------------------------------------------------------------------------------------

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        import torch

        cfg = self.config
        self.query_concepts_ = query_mapping(train)
        wanted, video, image, bank = bank_tables(train, self.query_concepts_, cfg.concepts, "microNN")
        if cfg.heldout_fraction > 0 and cfg.temporal == "lstm":
            raise InvalidParameterError("micronn: heldout_fraction scores the step-2 detectors; use temporal=none")
        video, held = hold_out_video(video, train.sources["video"].groups, cfg.heldout_fraction,
                                     derive_seed(self.seed, "heldout"))  # fmt: skip
        self.device_ = torch_device(self.device)
        self.bank_ = bank
        started = time.perf_counter()
        dim = int(np.shape(video[0][0])[1])
        with self._threads(len(bank), dim):
            state, self.cached_ = self._bank(video, image, bank)
        self.seconds_ = {"bank": round(time.perf_counter() - started, 3)}
        train_s = float(state["train_seconds"]) if "train_seconds" in state else None  # when it was trained
        trained = state["trained"].astype(bool)
        self.concepts_ = [c for c, ok in zip(bank, trained, strict=True) if ok]
        self.params_ = {k: torch.as_tensor(state[k][trained], device=self.device_) for k in ("W1", "b1", "W2", "b2")}
        if not self.concepts_:
            raise DataError("microNN: no query concept has both positive and negative training examples")
        self.concept_index_ = {c: i for i, c in enumerate(self.concepts_)}
        self.detectors_ = len(self.concepts_)
        self.timing_ = timing_note(cfg.schedule, train_s, self.concepts_, held, self._presence_of)
        self.image_concepts_ = [c for c in self.concepts_ if image is not None and c in image[2]]
        self.lstm_concepts_: list[str] = []
        if cfg.temporal == "lstm":
            started = time.perf_counter()
            with self._threads(4 * cfg.lstm_count, dim):
                self._fit_lstm(train, wanted)
            self.seconds_["lstm"] = round(time.perf_counter() - started, 3)
        self.unanswered_queries_ = unanswered_queries(train.concepts, self.query_concepts_, self.concept_index_, "micronn")
        return self

    def _threads(self, concepts: int, dim: int) -> Any:
        """One CPU thread for small steps: each bmm step wakes the intra-op threads, which costs more
        than it saves below about 1e9 multiply-adds per step (measured 10x slower with 2 threads than
        with 1 on the shared 2-core box; ``threads_for`` switches at 1/20 of that)."""
        c = self.config
        return threads_for(concepts * c.batch_size * c.hidden * dim // 20, self.device_)

    def _bank_key(self, video: list[Any], image: Any, bank: list[str]) -> str:
        from harness.cache import cache_key

        cfg = asdict(self.config)
        for k in ("temporal", "lstm_concepts", "lstm_count", "lstm_epochs", "lstm_max_frames", "normalisation",
                  *RUNTIME_FIELDS):
            cfg.pop(k)  # the LSTM step, the fusion and the cache switch do not change the bank
        data = [fingerprint(b, lab) for b, lab, _ in video] + ([fingerprint(image[0], image[1])] if image else [])
        return cache_key(version=BANK_VERSION, config=cfg, seed=self.seed, concepts=bank, data=data,
                         names=[list(n) for _, _, n in video] + ([list(image[2])] if image else []))  # fmt: skip

    def _bank(self, video: list[Any], image: Any, bank: list[str]) -> tuple[dict[str, np.ndarray], bool]:
        """Steps 1-2 for every bank concept (from the cache when fitted before): W1..b2, ``trained``."""
        from harness.cache import Cache

        built = []

        def compute() -> dict[str, np.ndarray]:
            built.append(True)
            return self._train_bank(video, image, bank)

        key = self._bank_key(video, image, bank)
        if not self.config.bank_cache:
            return compute(), False
        state = Cache().get_arrays("micronn", key, compute, {"kind": "micronn detector bank", "concepts": len(bank),
                                                             "seed": self.seed})  # fmt: skip
        return state, not built

    def _train_bank(self, video: list[Any], image: Any, bank: list[str]) -> dict[str, np.ndarray]:
        import torch

        cfg, s = self.config, self.settings()
        started = time.perf_counter()
        train = nets.train_bank if cfg.schedule == "batched" else nets.train_one_at_a_time
        blocks, v_labels = stack_sources(video, bank)
        Xv = torch.as_tensor(np.concatenate([np.asarray(b, np.float32) for b in blocks]), device=self.device_)
        d = Xv.shape[1]
        params = {k: v.to(self.device_) for k, v in nets.init_bank(len(bank), d, s.hidden, derive_seed(self.seed, "init")).items()}
        from_images = np.zeros(len(bank), dtype=bool)
        if image is not None:  # step 1: images
            in_img = [k for k, c in enumerate(bank) if c in image[2]]
            _, i_labels = stack_sources([image], [bank[k] for k in in_img])
            sets1 = nets.sample_sets(i_labels, cfg.sampling, cfg.examples, derive_seed(self.seed, "sample", "images"))
            Xi = torch.as_tensor(np.asarray(image[0], np.float32), device=self.device_)
            if Xi.shape[1] != d:
                raise DataError(f"microNN: image features are {Xi.shape[1]}-d, video features {d}-d")
            sub = {k: v[in_img] for k, v in params.items()}
            step1 = train(Xi, sets1, sub, s, derive_seed(self.seed, "step1"))
            ok = torch.as_tensor(sets1.sizes > 0, device=self.device_)
            for k in params:  # step 2 starts from step 1 where step 1 trained
                params[k][in_img] = torch.where(ok.reshape(-1, *[1] * (params[k].dim() - 1)), step1[k], params[k][in_img])
            from_images[np.asarray(in_img, dtype=np.int64)[sets1.sizes > 0]] = True
        sets2 = nets.sample_sets(v_labels, cfg.sampling, cfg.examples, derive_seed(self.seed, "sample", "video"))
        step2 = train(Xv, sets2, params, s, derive_seed(self.seed, "step2"))
        in_video = sets2.sizes > 0
        keep = torch.as_tensor(in_video, device=self.device_)
        final = {k: torch.where(keep.reshape(-1, *[1] * (v.dim() - 1)), step2[k], params[k]) for k, v in step2.items()}
        out = {k: v.cpu().numpy() for k, v in final.items()}
        out["trained"] = (in_video | from_images).astype(np.int8)
        out["from_images"] = from_images.astype(np.int8)
        out["train_seconds"] = np.asarray(time.perf_counter() - started)
        return out

    def lstm_choice(self, wanted: list[str]) -> list[str]:
        """The concepts given an LSTM: ``lstm_concepts``, else the ``lstm_count`` most queried ones."""
        cfg = self.config
        if cfg.lstm_concepts:
            unknown = [c for c in cfg.lstm_concepts if c not in self.concept_index_]
            if unknown:
                log.warning("micronn: lstm_concepts without a trained detector are skipped: %s", ", ".join(unknown))
            return [c for c in cfg.lstm_concepts if c in self.concept_index_]
        counts: dict[str, int] = {}
        for c in wanted:
            if c in self.concept_index_:
                counts[c] = counts.get(c, 0) + 1
        return sorted(counts, key=lambda c: (-counts[c], c))[: cfg.lstm_count]

    def _fit_lstm(self, train: MethodData, wanted: list[str]) -> None:

        cfg = self.config
        video = [source_table(train.sources[k], "frames") for k in ("video", "actions") if k in train.sources]
        seqs, labels = stack_sources(video, self.bank_)
        # The same training shots as step 2 (its sampler, its seed), for the chosen concepts.
        every = nets.sample_sets(labels, cfg.sampling, cfg.examples, derive_seed(self.seed, "sample", "video"))
        position = {c: k for k, c in enumerate(self.bank_)}
        chosen = [c for c in self.lstm_choice(wanted) if every.sizes[position[c]] > 0]
        if not chosen:
            log.warning("micronn: no LSTM concept has video training shots; D_M_3 equals D_M_1")
            return
        pick = np.asarray([position[c] for c in chosen], dtype=np.int64)
        sets = nets.TrainingSets(every.rows[pick], every.targets[pick], every.sizes[pick])
        frames = lstm.FrameBank.from_sequences(concat_sequences(seqs), self.device_)
        idx = [self.concept_index_[c] for c in chosen]
        init = lstm.init_lstm_from({k: v[idx] for k, v in self.params_.items()}, derive_seed(self.seed, "lstm", "init"))
        self.lstm_params_ = lstm.train_lstm_bank(
            frames, sets, init,
            self.settings(lstm_step=True), derive_seed(self.seed, "lstm"),
        )
        self.lstm_concepts_ = chosen

    # -- predict ---------------------------------------------------------------------------------

    def _presence_of(self, X: Any) -> np.ndarray:
        """(n, K) step-2 presence probabilities of ``concepts_`` on a feature matrix."""
        import torch

        return nets.presence(torch.as_tensor(np.asarray(X, np.float32), device=self.device_), self.params_)

    def presence(self, data: MethodData) -> np.ndarray:
        """(n, K) presence probabilities of the bank's concepts (``concepts_``) on ``data``."""
        X = data.blocks.get("features")
        if X is None:
            raise InvalidParameterError("microNN: the data have no 'features' block")
        out = self._presence_of(X)
        if self.lstm_concepts_:
            lp = lstm.lstm_presence(lstm.FrameBank.from_sequences(data.blocks["frames"], self.device_), self.lstm_params_)
            out[:, [self.concept_index_[c] for c in self.lstm_concepts_]] = lp
        return out

    def predict(self, data: MethodData) -> np.ndarray:
        return retrieval_scores(self.presence(data), self.concept_index_, self.query_concepts_, data.concepts,
                                self.config.normalisation)  # fmt: skip

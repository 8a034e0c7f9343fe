"""``mtn``: the Multitask Transformer Network for CoVieW 2019 (seed 004, METHODS.md 2.10).

Two streams of per-frame CNN maps of each 5-s segment (scene: a Places365 2D CNN, action: an
ImageNet 2D CNN; on a miniature both are its cached source CNN): the frozen layers' outputs are
extracted once through the harness feature cache (``conv4_x@map``, the spatial maps of up to
``cache_frames`` evenly spaced frames per segment), so a run trains only the head:

* ``fine_tuning=b`` (the paper's level B): a trainable copy of conv5_x on the cached conv4_x maps;
  ``a``: everything frozen, the cached conv5_x maps are the tokens (Table 4).
* ``aggregator`` (Table 1 rows): ``gap``, ``aqpr`` (Only AQPr), ``gap_concat``, ``gap_ccm``, ``mtx``
  (AQPr query -> ``units`` MTx units per task, CCM fusion after each unit); ``unit`` mtx / tx
  (Table 7), ``aqpr_norm`` (Table 5), ``ccm_backprop`` (Table 6), ``importance_training`` (Table 8:
  ``joint`` = IS + scene + action, ``only_is`` = the regressor alone on GAP features).
* Heads: scene / action softmax (cross-entropy), importance regressor on the detached unit
  queries (BCE of its sigmoid against g / 2). Loss = sum, unit weights.
* Optimisation: Nesterov SGD (m 0.9, wd 1e-4), lr = base_lr x batch / 256, linear warm-up over
  ``warmup_epochs``, lr / 10 when the validation loss has not improved for ``plateau_patience``
  epochs, stop after ``max_decays`` decays or ``max_epochs``; the epoch with the best validation
  score (the protocol's ``val_metric``, segment accuracy) is kept.

``predict`` returns ``scene`` / ``action`` softmax probabilities and ``importance`` = 2 sigmoid(P_imp)
(the predicted IS on the label scale). The ``coview`` metric scores both Table 1 selection rules from
these heads: by IS regression (``hs_*``, ``is_accuracy``) and after the post-processing of Eq. 4
(``pp_*``: u = max P_sc x max P_ac x importance, rank-equal to the seed's sigma(P_imp) product).
Test-time frames: ``test_frames`` evenly spaced (0 = every frame of the segment, Table 2 "All"): a
predict-time setting (validation uses ``frames``). Test-time crops: ``test_crops`` ``centre`` (the cached
maps) or ``ten`` (4 corners + centre and their mirrors, :mod:`harness.crops`; extra ``*_tencrop`` blocks
of ten rows per frame; the heads' softmax / sigmoid outputs are averaged over the views, AMB-35). The
trained model is cached without the predict-time settings (:mod:`methods._mtn_fit_cache`), so runs that
differ only in the test protocol train once.
"""

from __future__ import annotations

import copy
import logging
import time
from dataclasses import dataclass
from typing import Any, Self

import numpy as np

from harness.api import FeatureSpec, Method, MethodData, register_method
from harness.crops import TEN_CROP_VIEWS
from harness.errors import DataError, InvalidParameterError
from harness.params import Interval, Options, param
from harness.seeding import derive_seed

log = logging.getLogger(__name__)

AGGREGATORS = ("gap", "aqpr", "gap_concat", "gap_ccm", "mtx")
FROZEN_LAYER = {"b": "conv4_x", "a": "conv5_x"}  # what is cached per fine-tuning level
STREAMS = ("scene", "action")
ATTENTION_SEGMENTS = 4  # validation segments whose AQPr maps a fit records (fit.json "attention")


@register_method("mtn")
class MTN(Method):
    """Multitask Transformer Network: AQPr + MTx units + CCM on cached per-frame maps, three heads."""

    description = "MTN (CoVieW 2019): AQPr query, MTx units with CCM fusion, scene/action/importance heads"
    paper = "MTN (seed 004) Tables 1, 4-8"
    tasks = ("coview",)
    fitted_notes = ("fit_cache_hit_", "best_epoch_", "best_val_score_", "val_metric_", "epochs_", "lr_decays_", "lr_", "map_shapes_",
                    "n_parameters_", "fit_seconds_", "segments_per_second_", "attention_")  # fmt: skip

    miniature_settings = {
        "batch_size": (32, "about 450 training segments give 2 updates per epoch at the paper's batch of 256; 32 gives 15"),
        "base_lr": (0.8, "lr = base_lr x 32 / 256 = 0.1: the paper's 0.001 (at 256) leaves the heads near their "
                         "initialisation in 30 epochs of the miniature (measured, seed 0)"),
        "frames": (8, "the miniature's segments have 25 frames (5 fps); 8 of them (about the paper's 32 of 125) "
                      "keeps an ablation row near a minute on 2 CPU cores"),
        "test_frames": (8, "as frames"),
        "max_epochs": (30, "the miniature's validation score stops improving well before 30 epochs"),
        "warmup_epochs": (2, "5 warm-up epochs are a sixth of the miniature's 30"),
        "cpu_threads": (1, "the miniature's batches are small: on the 2-core box shared with other jobs (load 6) one "
                           "thread trains 190 segments/s (mtx) and 297 (gap), two threads 82 and 45 (measured)"),
    }

    @dataclass(frozen=True)
    class Config:
        scene_backbone: str = param("auto", help="scene stream CNN ('auto' = the data set's; the paper: a Places365 "
                                                 "ResNet-18 via scene_weights=<checkpoint>)")  # fmt: skip
        scene_weights: str = param("default", help="'default' pretrained weights or a checkpoint path (Places365)")
        action_backbone: str = param("auto", help="action stream CNN ('auto' = the data set's; ImageNet ResNet-18)")
        action_weights: str = param("default", help="'default' pretrained weights or a checkpoint path")
        fine_tuning: str = param("b", Options(("a", "b")), "b: conv5_x trained on cached conv4_x maps; a: all frozen "
                                                           "(Table 4, AMB-39)")  # fmt: skip
        aggregator: str = param("mtx", Options(AGGREGATORS), "Table 1 row: gap, aqpr, gap_concat, gap_ccm, mtx")
        unit: str = param("mtx", Options(("mtx", "tx")), "transformer unit (Table 7)")
        units: int = param(2, Interval(1, None), "MTx units per task [AMB-37]", assumption=True)
        dim: int = param(128, Interval(1, None), "query / key / value width D")
        ffn: int = param(0, Interval(0, None), "FFN width (0 = D) [AMB-36]", assumption=True)
        dropout: float = param(0.1, Interval(0, 1, "left"), "dropout in the units and the importance MLP")
        aqpr_norm: str = param("instance", Options(("instance", "batch", "bias", "none")), "AQPr normalisation (Table 5)")
        ccm_backprop: bool = param(False, help="let CCM back-propagate into the other task (Table 6)")
        importance_training: str = param("joint", Options(("joint", "only_is")),
                                         "Table 8: joint = IS + scene + action losses; only_is = the IS loss alone")  # fmt: skip
        cache_frames: int = param(64, Interval(0, None), "frames of a segment whose maps are cached, evenly spaced "
                                                         "(0 = every frame; a real 5-s segment has 125)", assumption=True)  # fmt: skip
        frames: int = param(32, Interval(1, None), "frames sampled at random per training segment (of the cached)")
        test_frames: int = param(32, Interval(0, None), "frames per test segment, evenly spaced (0 = all); "
                                                        "predict time only")  # fmt: skip
        test_crops: str = param("centre", Options(("centre", "ten")), "test-time spatial crops: centre, or ten "
                                "(4 corners + centre, mirrored; outputs averaged [AMB-35]); predict time only")  # fmt: skip
        batch_size: int = param(256, Interval(1, None), "segments per mini-batch")
        base_lr: float = param(0.001, Interval(0, None, "neither"), "learning rate at batch 256 (linear scaling)")
        momentum: float = param(0.9, Interval(0, 1, "left"), "Nesterov momentum")
        weight_decay: float = param(1e-4, Interval(0, None), "L2 weight decay")
        warmup_epochs: int = param(5, Interval(0, None), "linear warm-up epochs", assumption=True)
        max_epochs: int = param(60, Interval(1, None), "maximum number of epochs", assumption=True)
        plateau_patience: int = param(3, Interval(1, None), "epochs without validation-loss gain before lr / 10",
                                      assumption=True)  # fmt: skip
        max_decays: int = param(2, Interval(0, None), "stop after this many lr decays", assumption=True)
        eval_batch: int = param(64, Interval(1, None), "segments per forward pass at predict time")
        amp: bool = param(True, help="mixed precision (bfloat16 autocast) on a CUDA device; no effect on CPU")
        cpu_threads: int = param(0, Interval(0, None), "torch CPU threads while training / predicting (0 = torch's "
                                                       "default); results may differ in the last bits across values")  # fmt: skip
        map_channels: int = param(0, Interval(0, None), "channels C of blocks that no backbone describes (per-frame "
                                                        "values = C x positions); 0 = read the backbone's map shape")  # fmt: skip

        def check(self) -> None:
            if self.importance_training == "only_is" and self.aggregator != "gap":
                raise InvalidParameterError("mtn: importance_training=only_is trains the regressor on GAP features "
                                            f"(Table 8); set aggregator=gap (got {self.aggregator!r}).")  # fmt: skip

    @classmethod
    def feature_specs(cls, config: Any) -> dict[str, FeatureSpec]:
        """One per-frame block per stream: the frozen layer's spatial maps of every frame."""
        layer = f"{FROZEN_LAYER[config.fine_tuning]}@map"
        most = config.cache_frames or None
        crops = ("default", "tencrop") if config.test_crops == "ten" else ("default",)
        return {
            task + ("" if how == "default" else "_tencrop"): FeatureSpec(
                getattr(config, f"{task}_backbone"), layer, weights=getattr(config, f"{task}_weights"), pooling="none",
                preprocessing=how, max_frames=most)
            for how in crops for task in STREAMS
        }  # fmt: skip

    # ----------------------------------------------------------------------------------------
    def _streams(self, train: MethodData, stores: tuple[Any, ...]) -> list[Any]:
        """The two :class:`Stream` modules: the map shape of each block and, for level B, a copy of conv5_x."""
        from methods._mtn_data import Stream

        cfg = self.config
        out, shapes = [], {}
        for task, store in zip(STREAMS, stores, strict=True):
            name = getattr(cfg, f"{task}_backbone")
            name = train.default_backbone if name == "auto" else name
            pooled = isinstance(train.blocks.get(task), np.ndarray)
            if pooled or not name or cfg.map_channels:  # no backbone to read the map shape from
                if cfg.fine_tuning == "b":
                    raise DataError("mtn: fine_tuning=b needs the per-frame conv4_x maps of a backbone (pooling none); "
                                    f"block {task!r} comes without one. Use fine_tuning=a.")  # fmt: skip
                c = cfg.map_channels or store.width
                if store.width % c:
                    raise DataError(f"mtn: block {task!r} has {store.width} values per frame, not a multiple of "
                                    f"map_channels={c}.")  # fmt: skip
                shape: tuple[int, ...] = (c, store.width // c, 1)
                out.append(Stream(shape))
            else:
                from harness import backbones
                from harness.cache import Cache

                bb = backbones.build_trunk(name, getattr(cfg, f"{task}_weights"), cache=Cache())
                shape = backbones.map_shape(bb, FROZEN_LAYER[cfg.fine_tuning])
                if int(np.prod(shape)) != store.width:
                    raise DataError(f"mtn: block {task!r} has {store.width} values per frame, but {name} "
                                    f"{FROZEN_LAYER[cfg.fine_tuning]} maps are {shape}.")  # fmt: skip
                block = None
                if cfg.fine_tuning == "b":
                    block = bb.trunk.blocks[backbones.stage_layer(name, "conv5_x")]
                out.append(Stream(shape, block))
            shapes[task] = list(shape)
        self.map_shapes_ = shapes
        return out

    def fit(self, train: MethodData, val: MethodData | None = None) -> Self:
        import torch

        from methods._device import threads_for, torch_device
        from methods._mtn_data import (
            FrameStore,
            NesterovSGD,
            batch_positions,
            cpu_threads,
            gather,
            warmup_lr,
        )
        from methods._mtn_units import MTNHead
        from methods._validation import safe_score, val_scorer
        from methods.coview_gap_linear import coview_labels, head_sizes

        cfg, name = self.config, "mtn"
        t_start = time.perf_counter()
        self.sizes_ = head_sizes(train)
        scene, action, importance = coview_labels(train, self.sizes_, name)
        stores = tuple(FrameStore.of(self._block(train, t), t) for t in STREAMS)
        device = torch_device(self.device)
        torch.manual_seed(derive_seed(self.seed, name, "init"))
        streams = self._streams(train, stores)
        head = MTNHead((streams[0].channels(), streams[1].channels()), (self.sizes_["scene"], self.sizes_["action"]),
                       aggregator=cfg.aggregator, unit=cfg.unit, units=cfg.units, dim=cfg.dim, ffn=cfg.ffn,
                       dropout=cfg.dropout, aqpr_norm=cfg.aqpr_norm, ccm_backprop=cfg.ccm_backprop)  # fmt: skip
        self.model_ = torch.nn.ModuleDict({"scene": streams[0], "action": streams[1], "head": head}).to(device)
        self.n_parameters_ = int(sum(p.numel() for p in self.model_.parameters() if p.requires_grad))
        from methods import _mtn_fit_cache

        self.fit_cache_hit_ = False
        key = _mtn_fit_cache.fit_key(self, train, val, STREAMS)
        if _mtn_fit_cache.restore(self, key):  # the same training with another test protocol ran before
            self._record_attention(val)
            return self
        targets = (torch.as_tensor(scene), torch.as_tensor(action), torch.as_tensor(importance / 2.0, dtype=torch.float32))
        opt = NesterovSGD(list(self.model_.parameters()), cfg.momentum, cfg.weight_decay)
        lr = cfg.base_lr * cfg.batch_size / 256
        steps_per_epoch = -(-len(scene) // cfg.batch_size)
        gen = np.random.default_rng(derive_seed(self.seed, name, "batches"))
        has_val = val is not None and all(t in val.blocks for t in STREAMS) and val.labels is not None
        scorer = val_scorer(val) if has_val and cfg.importance_training == "joint" else None
        self.val_metric_ = None if scorer is None else scorer.metric
        val_data = self._val_tensors(val) if has_val else None
        best, best_loss, best_state, best_epoch = (scorer.worst if scorer else -np.inf), np.inf, None, 0
        plateau_best, waited, decays, step = np.inf, 0, 0, 0
        self.history_: list[dict[str, float]] = []
        with threads_for(cfg.batch_size * cfg.frames * stores[0].width * 64, device), cpu_threads(cfg.cpu_threads, device):
            for epoch in range(1, cfg.max_epochs + 1):
                self.model_.train()
                total, perm = 0.0, gen.permutation(len(scene))
                for start in range(0, len(perm), cfg.batch_size):
                    idx = perm[start : start + cfg.batch_size]
                    positions = batch_positions(stores, idx, cfg.frames, gen)
                    out = self._forward([gather(s, idx, p) for s, p in zip(stores, positions, strict=True)], device)
                    loss = self._loss(out, [t[idx].to(device) for t in targets])
                    opt.zero_grad()
                    loss.backward()
                    opt.step(warmup_lr(lr, step, cfg.warmup_epochs * steps_per_epoch) / (10**decays))
                    step += 1
                    total += float(loss.detach()) * len(idx)
                record = {"epoch": float(epoch), "train_loss": total / len(scene), "lr": lr / 10**decays}
                if not np.isfinite(record["train_loss"]):
                    raise FloatingPointError(f"mtn: the training loss became {record['train_loss']} in epoch {epoch}; "
                                             f"lower base_lr (={cfg.base_lr:g}).")  # fmt: skip
                monitored = record["train_loss"]
                if val_data is not None and val is not None:
                    pred, record["val_loss"] = self._predict(val_data, with_loss=True, frames=cfg.frames)
                    monitored = record["val_loss"]
                    if scorer is not None:
                        record["val_score"] = safe_score(scorer, pred)
                        improved = scorer.better(record["val_score"], best)
                    else:
                        improved = record["val_loss"] < best_loss
                    if improved:
                        best, best_loss, best_epoch = record.get("val_score", -record["val_loss"]), record["val_loss"], epoch
                        best_state = copy.deepcopy(self.model_.state_dict())
                self.history_.append(record)
                if epoch > cfg.warmup_epochs:  # plateau decay of the lr once warmed up
                    if monitored < plateau_best - 1e-4 * abs(plateau_best):
                        plateau_best, waited = monitored, 0
                    else:
                        waited += 1
                        if waited >= cfg.plateau_patience:
                            decays, waited = decays + 1, 0
                            if decays > cfg.max_decays:
                                break
                else:
                    plateau_best = min(plateau_best, monitored)
        if best_state is not None:
            self.model_.load_state_dict(best_state)
        self.epochs_ = len(self.history_)
        self.lr_decays_ = min(decays, cfg.max_decays)
        self.lr_ = lr
        self.best_epoch_ = best_epoch if best_state is not None else self.epochs_
        self.best_val_score_ = None if scorer is None else float(best)
        self.fit_seconds_ = time.perf_counter() - t_start
        self.segments_per_second_ = self.epochs_ * len(scene) / max(self.fit_seconds_, 1e-9)
        _mtn_fit_cache.store(self, key)
        self._record_attention(val)
        return self

    def _record_attention(self, val: MethodData | None) -> None:
        if val is not None and all(t in val.blocks for t in STREAMS) and self.config.aggregator in ("aqpr", "mtx"):
            index = np.arange(min(ATTENTION_SEGMENTS, len(val)))
            maps = self.attention_maps(val, index)
            self.attention_ = {"segments": [str(val.ids[i]) for i in index], "map": list(maps["scene"].shape[2:]),
                               **{t: np.round(m, 4).tolist() for t, m in maps.items()}}  # fmt: skip

    # ----------------------------------------------------------------------------------------
    @staticmethod
    def _block(data: MethodData, task: str) -> Any:
        if task not in data.blocks:
            raise DataError(f"mtn: the data lack the {task!r} feature block (got {sorted(data.blocks)}).")
        return data.blocks[task]

    def _forward(self, batch: list[tuple[np.ndarray, np.ndarray]], device: Any) -> dict[str, Any]:
        import torch

        from methods._mtn_data import autocast

        with autocast(device, self.config.amp):
            tokens = []
            for task, (x, m) in zip(STREAMS, batch, strict=True):
                tokens += list(self.model_[task](torch.as_tensor(x, device=device), torch.as_tensor(m, device=device)))
            out = self.model_["head"](*tokens)
        return {k: (v.float() if isinstance(v, torch.Tensor) else v) for k, v in out.items()}

    def _loss(self, out: dict[str, Any], targets: list[Any]) -> Any:
        import torch.nn.functional as F

        bce = F.binary_cross_entropy_with_logits(out["importance"], targets[2])
        if self.config.importance_training == "only_is":
            return bce
        return F.cross_entropy(out["scene"], targets[0]) + F.cross_entropy(out["action"], targets[1]) + bce

    def _val_tensors(self, val: MethodData) -> tuple[Any, ...]:
        import torch

        from methods._mtn_data import FrameStore
        from methods.coview_gap_linear import coview_labels

        stores = tuple(FrameStore.of(self._block(val, t), t) for t in STREAMS)
        s, a, g = coview_labels(val, self.sizes_, "mtn")
        return stores, (torch.as_tensor(s), torch.as_tensor(a), torch.as_tensor(g / 2.0, dtype=torch.float32))

    def _predict(self, data: tuple[Any, ...], with_loss: bool = False,
                 frames: int | None = None) -> tuple[dict[str, np.ndarray], float]:  # fmt: skip
        """Heads of every segment (and the mean loss): ``frames`` evenly spaced frames per segment
        (default ``test_frames``; validation uses the training ``frames``, so ``test_frames`` is a
        predict-time setting of the same trained model)."""
        import torch

        from methods._device import threads_for
        from methods._mtn_data import batch_positions, cpu_threads, gather

        stores, targets = data
        device = next(self.model_.parameters()).device
        self.model_.eval()
        heads: dict[str, list[np.ndarray]] = {"scene": [], "action": [], "importance": []}
        loss, n = 0.0, len(stores[0])
        with torch.no_grad(), threads_for(self.config.eval_batch * stores[0].width * 256, device), \
                cpu_threads(self.config.cpu_threads, device):  # fmt: skip
            for start in range(0, n, self.config.eval_batch):
                idx = np.arange(start, min(n, start + self.config.eval_batch))
                positions = batch_positions(stores, idx, self.config.test_frames if frames is None else frames, None)
                out = self._forward([gather(s, idx, p) for s, p in zip(stores, positions, strict=True)], device)
                if with_loss:
                    loss += float(self._loss(out, [t[idx].to(device) for t in targets])) * len(idx)
                heads["scene"].append(torch.softmax(out["scene"], 1).cpu().numpy())
                heads["action"].append(torch.softmax(out["action"], 1).cpu().numpy())
                heads["importance"].append(2.0 * torch.sigmoid(out["importance"]).cpu().numpy())
        pred = {k: np.concatenate(v).astype(np.float64) for k, v in heads.items()}
        return pred, loss / max(n, 1)

    def predict(self, data: MethodData) -> dict[str, np.ndarray]:
        from methods._mtn_data import FrameStore

        if self.config.test_crops == "centre":
            stores = tuple(FrameStore.of(self._block(data, t), t) for t in STREAMS)
            return self._predict((stores, None))[0]
        views = [FrameStore.of(self._block(data, f"{t}_tencrop"), f"{t}_tencrop").views(TEN_CROP_VIEWS) for t in STREAMS]
        preds = [self._predict((pair, None))[0] for pair in zip(*views, strict=True)]
        return {k: np.mean([p[k] for p in preds], axis=0) for k in preds[0]}  # mean softmax / sigmoid [AMB-35]

    def attention_maps(self, data: MethodData, index: np.ndarray) -> dict[str, np.ndarray]:
        """AQPr attention maps M (segments, test frames, H', W') per task of segments ``index``
        (aggregators aqpr / mtx; a non-square map is (positions, 1)), for pictures of where the query
        looks (``python -m methods._mtn_plots FIT_JSON OUT.png`` draws those a fit recorded)."""
        import torch

        from methods._mtn_data import FrameStore, batch_positions, gather

        if self.config.aggregator not in ("aqpr", "mtx"):
            raise InvalidParameterError(f"mtn: aggregator {self.config.aggregator!r} has no AQPr attention map.")
        stores = tuple(FrameStore.of(self._block(data, t), t) for t in STREAMS)
        idx = np.asarray(index, dtype=np.int64)
        positions = batch_positions(stores, idx, self.config.test_frames, None)
        device = next(self.model_.parameters()).device
        self.model_.eval()
        with torch.no_grad():
            out = self._forward([gather(s, idx, p) for s, p in zip(stores, positions, strict=True)], device)
        maps = {}
        for k, task in enumerate(STREAMS):
            t = max(len(p) for p in positions[k])
            m = out["attention"][task].cpu().numpy().reshape(len(idx), t, -1)
            side = int(round(np.sqrt(m.shape[2])))
            maps[task] = m.reshape(len(idx), t, side, side) if side * side == m.shape[2] else m[..., None]
        return maps

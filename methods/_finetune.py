"""Shared machinery of the fine-tuned networks of DMTL_LC's Table 1 (Default-TL, DMTL, DMTL_LC).

METHODS.md 2.1: the source DCNN has V_so = 8 learnable layers (conv1..conv5, fc6, fc7, fc8). The
target network copies the first H of them (fine-tuned, not frozen), randomly re-initialises R and
appends E new fully connected layers; its output ``h`` is a ReLU output. The six processes of
Table 1 (:data:`PROCESSES`):

==== ================= =========== ======================================================
key  process           H, R, E     trunk output
==== ================= =========== ======================================================
a    baseline          7, 0, 0     fc7 (4096 for AlexNet, 256 for ``mini_alexnet``)
b    extension         7, 0, 1     new FC layer of 1096 neurons (AMB-9: 1096 as printed)
c    extension         7, 0, 1     2048
d    extension         7, 0, 1     4096
e    re-initialisation 6, 1, 0     fc7 re-initialised with 1096 neurons
f    re-initialisation 6, 1, 0     fc7 re-initialised with 2048 neurons
==== ================= =========== ======================================================

New layers are drawn from N(0, 0.01^2) with zero biases (Caffe's Gaussian filler, assumption). A
re-initialised fc7 keeps the block's form (dropout 0.5, FC, ReLU); an extension layer is FC + ReLU
without dropout (the paper does not mention one; assumption).

Images (:class:`ImageStore`): each keyframe is decoded once, its shorter side resized to the
backbone's resize side and centre-cropped to a square, and kept as uint8. Training batches take a
random ``crop x crop`` window, test batches the centre one (Caffe's 256 -> 227 recipe; torchvision's
AlexNet uses 256 -> 224). ``mini_alexnet`` resizes to its input size, so it gets no crop. Stores
that fit in ``memory_limit_mb`` live in memory (the miniatures: a few MB) and are memoised for
the process, so the learning-rate grid and later consumers decode once; larger ones (the real
data set) are decoded batch by batch by a ``DataLoader`` with worker processes.

Training (:func:`train_with_lr_selection`, in :mod:`methods._finetune_train`, reachable from here):
SGD with momentum for each learning rate of the grid, early stopping on the validation score; the
best (lr, epoch) wins. All concepts are handled in batched tensor operations: no Python loop over
concepts anywhere.

Imports torch at module level: plugin modules import this file inside ``fit`` only.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from harness.errors import DataError, InvalidParameterError, MissingDataError

log = logging.getLogger(__name__)

ALEXNET_SHAPED = ("mini", "alexnet", "vgg")
INIT_STD = 0.01  # Caffe Gaussian filler of new layers (METHODS.md 2.1 step 4, assumption)


# --------------------------------------------------------------------------------------------
# Fine-tuning processes
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Process:
    """One fine-tuning process of Table 1.

    Attributes:
        key: column letter ``a`` .. ``f``.
        kind: ``baseline``, ``extension`` or ``reinit``.
        h: copied (and fine-tuned) source layers.
        r: randomly re-initialised layers (the (h+1)-th source layer, at ``width`` neurons).
        e: appended FC layers (``width`` neurons).
        width: neurons of the re-initialised / appended layer (None for the baseline).
    """

    key: str
    kind: str
    h: int
    r: int
    e: int
    width: int | None

    def describe(self) -> str:
        if self.kind == "baseline":
            return f"({self.key}) baseline: H={self.h}"
        if self.kind == "extension":
            return f"({self.key}) extension: H={self.h}, E={self.e} with {self.width} neurons"
        return f"({self.key}) re-initialisation: H={self.h}, R={self.r} with {self.width} neurons"


PROCESSES: dict[str, Process] = {
    "a": Process("a", "baseline", 7, 0, 0, None),
    "b": Process("b", "extension", 7, 0, 1, 1096),
    "c": Process("c", "extension", 7, 0, 1, 2048),
    "d": Process("d", "extension", 7, 0, 1, 4096),
    "e": Process("e", "reinit", 6, 1, 0, 1096),
    "f": Process("f", "reinit", 6, 1, 0, 2048),
}


def process_of(key: str, width: int | None = None) -> Process:
    """The process of column ``key``; ``width`` overrides its new layer's size (AMB-9: 1024)."""
    if key not in PROCESSES:
        raise InvalidParameterError(
            f"Unknown fine-tuning process {key!r}. Valid: "
            + "; ".join(p.describe() for p in PROCESSES.values())
        )
    proc = PROCESSES[key]
    if width is not None and proc.width is not None:
        proc = Process(proc.key, proc.kind, proc.h, proc.r, proc.e, int(width))
    return proc


def gaussian_linear(n_in: int, n_out: int, generator: torch.Generator, std: float = INIT_STD) -> nn.Linear:
    """A new FC layer: weights ~ N(0, std^2), biases 0 (Caffe ``gaussian`` / ``constant`` fillers)."""
    layer = nn.Linear(n_in, n_out)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(n_out, n_in, generator=generator) * std)
        layer.bias.zero_()
    return layer


class FineTuneTrunk(nn.Module):
    """Copied source layers, then the process's new layer (if any); ``forward`` returns ``h``.

    Attributes:
        copied: the first H source layers (deep copies: the cached backbone is never modified).
        new: the re-initialised / extension block, or None (baseline).
        out_dim: dimension d of ``h``.
        process: the :class:`Process`.
    """

    def __init__(self, copied: nn.Module, new: nn.Module | None, out_dim: int, process: Process) -> None:
        super().__init__()
        self.copied = copied
        self.new = new
        self.out_dim = int(out_dim)
        self.process = process

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.copied(x)
        return self.new(h) if self.new is not None else h


def _out_dim(module: nn.Module, input_size: int) -> int:
    was_training = module.training
    module.eval()
    with torch.no_grad():
        dim = int(module(torch.zeros(1, 3, input_size, input_size)).reshape(1, -1).shape[1])
    module.train(was_training)
    return dim


def build_finetune_trunk(backbone: Any, process: Process, generator: torch.Generator) -> FineTuneTrunk:
    """The target trunk of ``process`` on top of a loaded backbone (:func:`harness.backbones.build_trunk`).

    Raises:
        InvalidParameterError: the backbone is not AlexNet-shaped (the processes count its 8 layers).
    """
    if backbone.family not in ALEXNET_SHAPED:
        raise InvalidParameterError(
            f"Fine-tuning process {process.key!r} counts the 8 layers of an AlexNet-shaped source network "
            f"(conv1..conv5, fc6, fc7, fc8); backbone {backbone.name!r} is a {backbone.family} network. "
            f"Use 'alexnet', a 'vgg*' model or 'mini_alexnet'."
        )
    copied = copy.deepcopy(backbone.trunk.first_layers(process.h)).cpu()
    dim = _out_dim(copied, backbone.input_size)
    new: nn.Module | None = None
    if process.kind != "baseline" and process.width is None:
        raise InvalidParameterError(f"fine-tuning process {process.key!r} needs a layer width")
    width = int(process.width or 0)
    if process.kind == "extension":
        new = nn.Sequential(gaussian_linear(dim, width, generator), nn.ReLU(inplace=True))
        dim = width
    elif process.kind == "reinit":
        # The re-initialised layer keeps the form of the source block it replaces (fc7: dropout, FC, ReLU).
        new = nn.Sequential(nn.Dropout(0.5), gaussian_linear(dim, width, generator), nn.ReLU(inplace=True))
        dim = width
    return FineTuneTrunk(copied, new, dim, process)


# --------------------------------------------------------------------------------------------
# Backbone resolution
# --------------------------------------------------------------------------------------------

MINI_MAX_SIDE = 64  # keyframes of the miniatures are 64 x 64


def resolve_backbone_name(name: str, paths: Sequence[str] | None, default: str | None = None) -> str:
    """The source network to load: ``name``, or for ``auto`` the data set's declared ``default``.

    The runner hands a method its data set's declared backbone (``MethodData.default_backbone``:
    ``mini_alexnet`` for the miniatures, ``alexnet`` for real TRECVID SIN). Data built outside the
    runner may carry none; then ``auto`` falls back to looking at the first keyframe
    (``mini_alexnet`` up to 64 px, else ``alexnet``), and says so in the log.
    """
    if name != "auto":
        return name
    if default:
        log.info("backbone 'auto' -> %s (the data set's declared default)", default)
        return str(default)
    if not paths:
        raise DataError(
            "backbone 'auto' means the data set's declared default backbone, but the data declares none and "
            "has no keyframe paths to guess from; pass --set backbone=alexnet (or mini_alexnet)."
        )
    from PIL import Image

    try:
        with Image.open(paths[0]) as im:
            side = max(im.size)
    except FileNotFoundError:
        raise MissingDataError(f"Keyframe {paths[0]} does not exist.") from None
    except OSError as exc:
        raise DataError(f"Cannot decode image {paths[0]}: {exc}.") from exc
    chosen = "mini_alexnet" if side <= MINI_MAX_SIDE else "alexnet"
    log.warning("backbone 'auto' -> %s, guessed from the first keyframe (%d px): the data declares no default "
                "backbone (data built outside the runner?)", chosen, side)  # fmt: skip
    return chosen


def load_backbone(name: str, weights: str, paths: Sequence[str] | None, default: str | None = None) -> Any:
    """The source network (on CPU; the caller moves the target network); ``auto`` -> ``default``."""
    from harness.backbones import build_trunk

    return build_trunk(resolve_backbone_name(name, paths, default), weights, device="cpu")


# --------------------------------------------------------------------------------------------
# Images
# --------------------------------------------------------------------------------------------


def preprocessing_of(backbone: Any) -> tuple[int, int, tuple[float, ...], tuple[float, ...]]:
    """``(side, crop, mean, std)`` of a backbone: stored square side, network input side, normalisation."""
    return _resize_side(backbone), int(backbone.input_size), tuple(backbone.mean), tuple(backbone.std)


def _resize_side(backbone: Any) -> int:
    m = re.search(r"resize(\d+)", str(backbone.preprocessing))
    return int(m.group(1)) if m else int(backbone.input_size)


def decode_square(path: str, side: int) -> np.ndarray:
    """(3, side, side) uint8: shorter side resized to ``side`` (bilinear), centre square crop."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            img = im.convert("RGB")
    except FileNotFoundError:
        raise MissingDataError(f"Keyframe {path} does not exist.") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise DataError(f"Cannot decode image {path}: {exc}. Replace or remove the file.") from exc
    w, h = img.size
    if (w, h) != (side, side):
        scale = side / min(w, h)
        nw, nh = max(side, round(w * scale)), max(side, round(h * scale))
        if (nw, nh) != (w, h):
            img = img.resize((nw, nh), Image.Resampling.BILINEAR)
        left, top = (nw - side) // 2, (nh - side) // 2
        img = img.crop((left, top, left + side, top + side))
    return np.ascontiguousarray(np.asarray(img, dtype=np.uint8).transpose(2, 0, 1))


_MEMO: OrderedDict[str, torch.Tensor] = OrderedDict()
_MEMO_LOCK = threading.Lock()
_MEMO_ENTRIES = 6
_MEMO_MAX_BYTES = 1 << 30  # only stores up to 1 GiB are kept for reuse within the process


def _decode_all(paths: Sequence[str], side: int) -> torch.Tensor:
    """All images as one uint8 tensor (n, 3, side, side), memoised per (paths, side) in this process."""
    key = hashlib.sha256(("\n".join(paths) + f"|{side}").encode()).hexdigest()
    with _MEMO_LOCK:
        if key in _MEMO:
            _MEMO.move_to_end(key)
            return _MEMO[key]
    from concurrent.futures import ThreadPoolExecutor

    from harness.progress import progress

    out = np.empty((len(paths), 3, side, side), dtype=np.uint8)
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as ex:  # Pillow releases the GIL while decoding
        for i, arr in enumerate(progress(ex.map(lambda p: decode_square(p, side), paths), "decoding keyframes",
                                         total=len(paths))):  # fmt: skip
            out[i] = arr
    tensor = torch.from_numpy(out)
    if out.nbytes <= _MEMO_MAX_BYTES:
        with _MEMO_LOCK:
            _MEMO[key] = tensor
            while len(_MEMO) > _MEMO_ENTRIES or sum(t.numel() for t in _MEMO.values()) > 2 * _MEMO_MAX_BYTES:
                _MEMO.popitem(last=False)
    return tensor


class _Decoded(torch.utils.data.Dataset):
    def __init__(self, paths: Sequence[str], side: int) -> None:
        self.paths, self.side = list(paths), side

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> torch.Tensor:
        return torch.from_numpy(decode_square(self.paths[i], self.side))


@dataclass
class ImageStore:
    """Keyframes of one split, ready for a network: uint8 squares + crop and normalisation.

    Attributes:
        paths: keyframe files.
        side: stored square side (the backbone's resize side).
        crop: network input side (random crop in training, centre crop otherwise).
        mean, std: per-channel normalisation (of [0, 1] pixels).
        images: the decoded images when in memory, else None (decoded per batch).
        num_workers: DataLoader workers when streaming.
    """

    paths: tuple[str, ...]
    side: int
    crop: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    images: torch.Tensor | None = None
    num_workers: int = 4
    _norm: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)

    @classmethod
    def create(cls, paths: Sequence[str] | None, backbone: Any, *, memory_limit_mb: float = 4096,
               num_workers: int = 4, what: str = "split") -> ImageStore:
        """A store for ``paths`` with ``backbone``'s preprocessing; in memory when it fits the limit."""
        return cls.with_preprocessing(paths, preprocessing_of(backbone), memory_limit_mb=memory_limit_mb, num_workers=num_workers,
                                      what=what)  # fmt: skip

    @classmethod
    def with_preprocessing(cls, paths: Sequence[str] | None, preprocessing: tuple[Any, ...], *,
                           memory_limit_mb: float = 4096, num_workers: int = 4, what: str = "split") -> ImageStore:
        """A store from ``(side, crop, mean, std)`` (what a fitted network records)."""
        if paths is None:
            raise DataError(
                f"The {what} has no keyframe paths; fine-tuning methods read raw keyframes. Use a data "
                f"set with images (e.g. trecvid2013 / trecvid2013-mini)."
            )
        side, crop, mean, std = preprocessing
        store = cls(tuple(map(str, paths)), int(side), int(crop), tuple(mean), tuple(std), num_workers=num_workers)
        if len(paths) * 3 * store.side * store.side <= memory_limit_mb * 2**20:
            store.images = _decode_all(store.paths, store.side)
        return store

    def __len__(self) -> int:
        return len(self.paths)

    def iterate(self, batches: Sequence[np.ndarray]) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """``(index, uint8 images)`` for each index array of ``batches``, in order."""
        if self.images is not None:
            for idx in batches:
                yield idx, self.images[torch.as_tensor(idx, dtype=torch.long)]
            return
        from harness.seeding import loader_generator, seed_worker

        # Decoding draws nothing random; seeded workers keep any future in-worker augmentation reproducible.
        loader = torch.utils.data.DataLoader(
            _Decoded(self.paths, self.side), batch_sampler=[list(map(int, b)) for b in batches],
            num_workers=self.num_workers, persistent_workers=False,
            worker_init_fn=seed_worker, generator=loader_generator(0, "image-store"),
        )  # fmt: skip
        yield from zip(batches, loader, strict=True)

    def to_input(self, images: torch.Tensor, *, train: bool, generator: torch.Generator | None,
                 device: torch.device) -> torch.Tensor:
        """Crop (random when ``train``, centre otherwise), scale to [0, 1] and normalise on ``device``."""
        n = images.shape[0]
        margin = self.side - self.crop
        if margin > 0:
            if train:
                offs = torch.randint(0, margin + 1, (n, 2), generator=generator)
                images = torch.stack([images[i, :, y : y + self.crop, x : x + self.crop]
                                      for i, (y, x) in enumerate(offs.tolist())])  # fmt: skip
            else:
                o = margin // 2
                images = images[:, :, o : o + self.crop, o : o + self.crop]
        x = images.to(device, non_blocking=True).float().div_(255.0)
        if self._norm is None or self._norm[0].device != x.device:
            self._norm = (torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1),
                          torch.tensor(self.std, device=x.device).view(1, 3, 1, 1))  # fmt: skip
        return (x - self._norm[0]) / self._norm[1]


def ordered_batches(n: int, batch_size: int) -> list[np.ndarray]:
    """``0..n-1`` in consecutive batches (inference)."""
    return [np.arange(s, min(s + batch_size, n)) for s in range(0, n, batch_size)]


def shuffled_batches(rows: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``rows`` shuffled and cut into batches of ``batch_size``."""
    perm = rng.permutation(rows)
    return [perm[s : s + batch_size] for s in range(0, len(perm), batch_size)]


def predict_outputs(model: nn.Module, store: ImageStore, device: torch.device, *, batch_size: int = 256,
                    head: Callable[[nn.Module, torch.Tensor], torch.Tensor] | None = None) -> np.ndarray:
    """``head(model, x)`` (default ``model(x)``) for every keyframe of ``store``, centre crop, eval mode."""
    model.eval()
    out: list[np.ndarray] = []
    with torch.no_grad():
        for _, images in store.iterate(ordered_batches(len(store), batch_size)):
            x = store.to_input(images, train=False, generator=None, device=device)
            y = head(model, x) if head is not None else model(x)
            out.append(y.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, 0), np.float32)


# --------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------
# Data fingerprints (keys of cached fine-tuned networks)
# --------------------------------------------------------------------------------------------


def data_fingerprint(*parts: Any) -> str:
    """SHA-256 over the ids, labels and keyframe files (path, size, mtime) of MethodData objects."""
    h = hashlib.sha256()
    for data in parts:
        if data is None:
            h.update(b"<none>")
            continue
        h.update("\n".join(map(str, data.ids)).encode())
        if data.labels is not None:
            labels = np.ascontiguousarray(np.asarray(data.labels, dtype=np.int8))
            h.update(str(labels.shape).encode())
            h.update(labels.tobytes())
        for p in data.paths or ():
            try:
                st = os.stat(p)
                h.update(f"{p}|{st.st_size}|{st.st_mtime_ns}\n".encode())
            except OSError:
                h.update(f"{p}|missing\n".encode())
    return h.hexdigest()[:24]


# The trainer lives in its own module; callers keep reaching it through this one.
from methods._finetune_train import (  # noqa: E402, F401
    TrainOutcome,
    TrainSettings,
    train_settings,
    train_with_lr_selection,
)

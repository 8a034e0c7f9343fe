"""Backbones by name: the source-pretrained ``mini_alexnet`` and any torchvision classification model.

A backbone is a pretrained network cut into named blocks (:class:`harness._nets.Trunk`) plus its
evaluation preprocessing. Feature extraction taps one *layer* by name; end-to-end methods take the
trunk itself (e.g. DMTL_LC copies the first H layers and fine-tunes them).

Layer names:

* AlexNet-shaped (``mini_alexnet``, ``alexnet``, ``vgg*``): ``conv1 ... conv5``, ``pool5``, ``fc6``,
  ``fc7``, ``fc8``, with Caffe's semantics: ``fc6``/``fc7`` are ReLU outputs (Caffe's ``relu6``/
  ``relu7`` run in place), ``fc8`` is the raw class score, ``pool5`` the flattened pooled map.
* ResNet family (``resnet*``, ``resnext*``, ``wide_resnet*``): ``conv1`` (stem), ``layer1 ...
  layer4``, ``avgpool``, ``fc``.
* Any other torchvision classification model: ``logits`` or any graph node name
  (``torchvision.models.feature_extraction.get_graph_node_names``).

Spatial maps (conv layers, ``layer1..4``) are reduced to one vector by global average pooling.
``<layer>@map`` keeps the map instead (e.g. ``conv4@map``, ``layer3@map``): the (C, H, W) output
flattened channel-first to C*H*W values per frame, for heads that attend over positions (MTN);
:func:`map_shape` gives its (C, H, W).

Weights (the ``weights`` argument, ``--set backbone_weights=...``):

* ``default``: ``mini_alexnet`` -> trained once on the synthetic source domain and cached
  (:mod:`harness.synthetic_source`); torchvision models -> their default pretrained weights, read
  from the torch hub cache (``$TORCH_HOME/hub/checkpoints``) or downloaded there unless
  ``HARNESS_OFFLINE=1``.
* a torchvision weights name such as ``IMAGENET1K_V1``;
* a path to a checkpoint file (a state dict, optionally under ``state_dict``; a ``module.``
  prefix is stripped; the class count is read from the checkpoint, e.g. Places365's 365);
* ``random``: random initialisation, only when asked for explicitly (timings, ablations).

Weights that cannot be obtained raise :class:`~harness.errors.HarnessError`; there is never a
silent random initialisation. The weights hash (SHA-256 of the weights file) enters feature
cache keys.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cache import sha256_file
from harness.errors import HarnessError, MissingDataError, UnknownNameError

log = logging.getLogger(__name__)

ALEXNET_LIKE_LAYERS = ("conv1", "conv2", "conv3", "conv4", "conv5", "pool5", "fc6", "fc7", "fc8")
RESNET_LAYERS = ("conv1", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RANDOM_SEED = 0  # seed of an explicitly requested random initialisation


@dataclass(frozen=True)
class WeightsInfo:
    """Where a backbone's weights come from.

    Attributes:
        source: ``synthetic-source``, ``torchvision:<NAME>``, ``checkpoint`` or ``random``.
        path: the weights file (None for ``random``).
        sha256: SHA-256 of the file (``random:seed<N>`` for a random initialisation).
    """

    backbone: str
    source: str
    path: Path | None
    sha256: str


@dataclass
class Backbone:
    """A loaded backbone: ``trunk`` (an ``nn.Module`` of named blocks) + preprocessing.

    Attributes:
        trunk: :class:`harness._nets.Trunk`; ``trunk.layers`` are the learnable layers in order,
            ``trunk.first_layers(h)`` the first H of them (for fine-tuning).
        preprocess: PIL image -> float tensor (3, H, W) (evaluation transform).
        preprocessing: text describing ``preprocess`` (enters feature cache keys).
        input_size: side of the square network input.
        mean, std: per-channel normalisation used by ``preprocess``.
        weights: :class:`WeightsInfo`.
        model: the underlying model when it is not a trunk (generic torchvision models).
    """

    name: str
    family: str
    trunk: Any
    preprocess: Callable[[Any], Any]
    preprocessing: str
    input_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    weights: WeightsInfo
    model: Any = None
    _extractors: dict[str, Any] = field(default_factory=dict, repr=False)

    def layers(self) -> tuple[str, ...]:
        return layer_names(self.name, self.model)

    def extractor(self, layer: str) -> Any:
        """An ``nn.Module``: image batch (n, 3, H, W) -> (n, d) features at ``layer``."""
        if layer not in self._extractors:
            self._extractors[layer] = _make_extractor(self, layer)
        return self._extractors[layer]


def family(name: str) -> str:
    """``mini``, ``alexnet``, ``vgg``, ``resnet`` or ``generic`` (any other torchvision model)."""
    if name == "mini_alexnet":
        return "mini"
    if name == "alexnet":
        return "alexnet"
    if name.startswith("vgg"):
        return "vgg"
    if name.startswith(("resnet", "resnext", "wide_resnet")):
        return "resnet"
    return "generic"


def available() -> list[str]:
    """Every backbone name: ``mini_alexnet`` and torchvision's classification models."""
    import torchvision

    return ["mini_alexnet", *sorted(torchvision.models.list_models(module=torchvision.models))]


def check_name(name: str) -> None:
    """Raise UnknownNameError (with close matches) when ``name`` is not a known backbone."""
    if name == "mini_alexnet":
        return
    names = available()
    if name not in names:
        import difflib

        close = difflib.get_close_matches(name, names, n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownNameError(
            f"Unknown backbone {name!r}.{hint} Use 'mini_alexnet' or a torchvision classification "
            f"model name ({', '.join(names[1:8])}, ...; {len(names) - 1} in all)."
        )


def layer_names(name: str, model: Any = None) -> tuple[str, ...]:
    """Layer names that can be tapped (for generic models: ``logits`` + graph nodes of ``model``)."""
    fam = family(name)
    if fam in ("mini", "alexnet", "vgg"):
        return ALEXNET_LIKE_LAYERS
    if fam == "resnet":
        return RESNET_LAYERS
    if model is None:
        return ("logits",)
    from torchvision.models.feature_extraction import get_graph_node_names

    return ("logits", *get_graph_node_names(model)[1])


MAP_SUFFIX = "@map"  # ``conv5@map``: the spatial map itself, flattened channel-first, not its GAP


# The ResNet paper's stage names, valid for every AlexNet-shaped and ResNet backbone (METHODS.md 2.10
# says "conv4_x frozen, conv5_x trained"): resnet conv2_x..conv5_x = layer1..layer4, AlexNet convK_x = convK.
_STAGES = {"resnet": {"conv1_x": "conv1", "conv2_x": "layer1", "conv3_x": "layer2", "conv4_x": "layer3", "conv5_x": "layer4"},
           "alexnet": {f"conv{k}_x": f"conv{k}" for k in range(1, 6)}}  # fmt: skip


def split_map(layer: str) -> tuple[str, bool]:
    """``conv5@map`` -> (``conv5``, True); ``conv5`` -> (``conv5``, False)."""
    if layer.endswith(MAP_SUFFIX):
        return layer[: -len(MAP_SUFFIX)], True
    return layer, False


def stage_layer(name: str, layer: str) -> str:
    """A stage name ``convK_x`` as backbone ``name``'s own layer (``resnet18`` conv4_x -> layer3,
    ``mini_alexnet`` conv4_x -> conv4); any other name unchanged."""
    fam = family(name)
    table = _STAGES["resnet"] if fam == "resnet" else _STAGES["alexnet"] if fam in ("mini", "alexnet", "vgg") else {}
    return table.get(layer, layer)


def check_layer(name: str, layer: str, model: Any = None) -> None:
    layer, _ = split_map(layer)
    layer = stage_layer(name, layer)
    names = layer_names(name, model)
    if family(name) == "generic" and model is None:
        return  # graph nodes are known only once the model is built
    if layer not in names:
        raise HarnessError(f"Backbone {name!r} has no layer {layer!r}. Valid layers: {', '.join(names)}.")


# --------------------------------------------------------------------------------------------
# Weights
# --------------------------------------------------------------------------------------------

_HASHES: dict[tuple[str, int, int], str] = {}


def _file_hash(path: Path) -> str:
    """SHA-256 of a weights file, memoised on (path, size, mtime)."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _HASHES:
        _HASHES[key] = sha256_file(path)
    return _HASHES[key]


def _is_path(weights: str) -> bool:
    return os.sep in weights or weights.endswith((".pt", ".pth", ".tar", ".ckpt")) or Path(weights).is_file()


def resolve_weights(name: str, weights: str = "default", *, cache: Any = None) -> WeightsInfo:
    """Locate (and for ``mini_alexnet`` default, train once) the weights; never random unless asked.

    Raises:
        MissingDataError: a checkpoint path that does not exist.
        HarnessError: pretrained weights that are neither cached nor downloadable.
    """
    check_name(name)
    weights = str(weights)
    if weights == "random":
        return WeightsInfo(name, "random", None, f"random:seed{RANDOM_SEED}")
    if _is_path(weights):
        path = Path(weights).expanduser()
        if not path.is_file():
            raise MissingDataError(
                f"Checkpoint {path} for backbone {name!r} does not exist. Pass an existing state-dict "
                f"file with --set backbone_weights=PATH, or 'default' for the pretrained weights."
            )
        return WeightsInfo(name, "checkpoint", path, _file_hash(path))
    if name == "mini_alexnet":
        if weights != "default":
            raise HarnessError(
                f"Backbone 'mini_alexnet' has no weights named {weights!r}: use 'default' (pretrained on "
                f"the synthetic source domain), 'random', or a checkpoint path."
            )
        from harness.synthetic_source import pretrained_weights

        path = pretrained_weights(cache=cache)
        return WeightsInfo(name, "synthetic-source", path, _file_hash(path))
    return _torchvision_weights(name, weights)


def _torchvision_weights(name: str, weights: str) -> WeightsInfo:
    import torch
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError) as exc:
        raise HarnessError(
            f"torchvision publishes no pretrained weights for {name!r}. Pass a checkpoint with "
            f"--set backbone_weights=PATH (or 'random' for an explicit random initialisation)."
        ) from exc
    try:
        w = enum.DEFAULT if weights == "default" else enum[weights]
    except KeyError:
        names = ", ".join(m.name for m in enum)
        raise HarnessError(
            f"torchvision has no weights {weights!r} for {name!r}. Available: default, {names}; "
            f"or a checkpoint path."
        ) from None
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    path = hub / os.path.basename(w.url)
    if not path.is_file():
        if os.environ.get("HARNESS_OFFLINE", "0") not in ("0", "", "false"):
            raise HarnessError(
                f"Pretrained weights {name}.{w.name} are not in the torch hub cache ({path}) and "
                f"HARNESS_OFFLINE is set. Download {w.url} to {path} on a machine with internet "
                f"access, or pass a checkpoint with --set backbone_weights=PATH."
            )
        try:
            log.info("downloading %s to %s", w.url, path)
            torch.hub.load_state_dict_from_url(w.url, progress=True, check_hash=True)
        except Exception as exc:  # network errors of many kinds
            raise HarnessError(
                f"Could not obtain pretrained weights {name}.{w.name}: {exc}. Download {w.url} to "
                f"{path} by hand, or pass a checkpoint with --set backbone_weights=PATH."
            ) from exc
    return WeightsInfo(name, f"torchvision:{w.name}", path, _file_hash(path))


def _load_state(path: Path) -> dict[str, Any]:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise HarnessError(
            f"Cannot read checkpoint {path}: {exc}. Expected a torch.save'd state dict (tensors only)."
        ) from exc
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state:
        raise HarnessError(f"Checkpoint {path} holds no state dict (got {type(state).__name__}).")
    return {k.removeprefix("module."): v for k, v in state.items()}


def _num_classes(state: dict[str, Any], keys: tuple[str, ...], default: int) -> int:
    for k in keys:
        if k in state:
            return int(state[k].shape[0])
    return default


# --------------------------------------------------------------------------------------------
# Building
# --------------------------------------------------------------------------------------------


def build_trunk(name: str, weights: str = "default", *, device: str = "cpu", cache: Any = None) -> Backbone:
    """Load backbone ``name`` with ``weights`` in eval mode on ``device``.

    End-to-end methods use ``backbone.trunk`` (named blocks ``conv1..conv5, pool5, fc6, fc7, fc8``
    for AlexNet-shaped nets), ``trunk.first_layers(h)`` and ``backbone.preprocess``.
    """
    import torch

    info = resolve_weights(name, weights, cache=cache)
    state = _load_state(info.path) if info.path is not None else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(RANDOM_SEED)  # only matters for weights="random"
        backbone = _build(name, info, state)
    if info.source == "random":
        log.warning("backbone %s uses RANDOM weights (explicitly requested)", name)
    backbone.trunk.to(device).eval()
    if backbone.model is not None:
        backbone.model.to(device).eval()
    return backbone


def _build(name: str, info: WeightsInfo, state: dict[str, Any] | None) -> Backbone:
    from harness import _nets

    fam = family(name)
    if fam == "mini":
        from harness.synthetic_source import IMAGE_SIZE, NORM_MEAN, NORM_STD, SOURCE_CLASSES

        n = _num_classes(state or {}, ("blocks.fc8.weight",), len(SOURCE_CLASSES))
        trunk = _nets.build_mini_alexnet(n)
        if state is not None:
            _load_into(trunk, state, info)
        return Backbone(
            name, fam, trunk, _pil_preprocess(IMAGE_SIZE, IMAGE_SIZE, NORM_MEAN, NORM_STD),
            f"resize{IMAGE_SIZE}-bilinear/mean{NORM_MEAN}/std{NORM_STD}", IMAGE_SIZE, NORM_MEAN, NORM_STD, info,
        )  # fmt: skip
    import torchvision

    final = {"alexnet": ("classifier.6.weight",), "vgg": ("classifier.6.weight",), "resnet": ("fc.weight",)}
    kwargs = {}
    if state is not None and fam in final:
        kwargs["num_classes"] = _num_classes(state, final[fam], 1000)
    model = torchvision.models.get_model(name, weights=None, **kwargs)
    if state is not None:
        _load_into(model, state, info)
    if fam == "alexnet":
        trunk = _nets.alexnet_trunk(model, name)
    elif fam == "vgg":
        trunk = _nets.vgg_trunk(model, name)
    elif fam == "resnet":
        trunk = _nets.resnet_trunk(model, name)
    else:
        trunk = _nets.Trunk([("logits", model)], ("logits",), name)
    resize, crop = 256, 224
    if info.source.startswith("torchvision:"):
        tf = torchvision.models.get_model_weights(name)[info.source.split(":", 1)[1]].transforms()
        resize, crop = int(tf.resize_size[0]), int(tf.crop_size[0])
    return Backbone(
        name, fam, trunk, _pil_preprocess(resize, crop, IMAGENET_MEAN, IMAGENET_STD),
        f"resize{resize}-bilinear/centercrop{crop}/mean{IMAGENET_MEAN}/std{IMAGENET_STD}", crop, IMAGENET_MEAN,
        IMAGENET_STD, info, model=model if fam == "generic" else None,
    )  # fmt: skip


def _load_into(module: Any, state: dict[str, Any], info: WeightsInfo) -> None:
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise HarnessError(
            f"Weights {info.path} do not fit backbone {info.backbone!r}: {str(exc).splitlines()[0]} "
            f"Check that the checkpoint was saved from a {info.backbone} model."
        ) from exc


def _pil_preprocess(resize: int, crop: int, mean: tuple[float, ...], std: tuple[float, ...]) -> Callable[[Any], Any]:
    """Resize the shorter side to ``resize`` (bilinear), centre-crop ``crop``, scale to [0,1], normalise."""

    def preprocess(image: Any) -> Any:
        import numpy as np
        import torch

        img = image.convert("RGB")
        w, h = img.size
        if (w, h) != (crop, crop):
            scale = resize / min(w, h)
            nw, nh = max(crop, round(w * scale)), max(crop, round(h * scale))
            if (nw, nh) != (w, h):
                from PIL import Image

                img = img.resize((nw, nh), Image.Resampling.BILINEAR)
            left, top = (nw - crop) // 2, (nh - crop) // 2
            img = img.crop((left, top, left + crop, top + crop))
        x = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
        return (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)

    return preprocess


def _make_extractor(backbone: Backbone, layer: str) -> Any:
    from torch import nn

    from harness._nets import GlobalAvgPool

    check_layer(backbone.name, layer, backbone.model)
    layer, keep_map = split_map(layer)
    layer = stage_layer(backbone.name, layer)
    pool: nn.Module = nn.Identity() if keep_map else GlobalAvgPool()
    if backbone.family != "generic":
        return nn.Sequential(backbone.trunk.upto(layer), pool, nn.Flatten())
    if layer == "logits":
        return nn.Sequential(backbone.model, nn.Flatten())
    from torchvision.models.feature_extraction import create_feature_extractor

    graph = create_feature_extractor(backbone.model, return_nodes={layer: "out"})

    class _Tap(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.graph = graph
            self.pool = pool

        def forward(self, x: Any) -> Any:
            return self.pool(self.graph(x)["out"]).flatten(1)

    return _Tap()


def map_shape(backbone: Backbone, layer: str) -> tuple[int, ...]:
    """The per-frame output shape of ``layer`` (``@map`` suffix allowed) for one input image of the
    backbone's input size, e.g. (48, 7, 7) for ``mini_alexnet`` ``conv5``; a vector layer gives (d,)."""
    import torch

    base = stage_layer(backbone.name, split_map(layer)[0])
    check_layer(backbone.name, base, backbone.model)
    device = next(iter(backbone.trunk.parameters())).device
    with torch.no_grad():
        x = torch.zeros(1, 3, backbone.input_size, backbone.input_size, device=device)
        if backbone.family != "generic":
            y = backbone.trunk.upto(base)(x)
        else:
            from torchvision.models.feature_extraction import create_feature_extractor

            y = create_feature_extractor(backbone.model, return_nodes={base: "out"})(x)["out"]
    return tuple(int(v) for v in y.shape[1:])

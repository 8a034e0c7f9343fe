"""``imagenet-concepts`` and ``imagenet-concepts-mini``: ImageNet images of the synsets that concepts
map to, as microNN's step-1 source (METHODS.md 2.7 gradual transfer, 3.3).

Read from the ImageNet class-folder layout (``train/<wnid>/*.JPEG``, ``val/<wnid>/*.JPEG``, as
torchvision's ``ImageFolder`` expects) restricted to the synsets of a mapping file concept ->
synsets. An image is positive for every concept one of whose synsets it belongs to and negative for
the others; synset folders that no concept names are read too, as negatives of every concept
("other synsets = negatives"). Multi-label task, one row per image, scored by mean AP.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from datasets import _common
from datasets._common import Report, bad_line, list_files, manifest_hash, numbered_lines
from harness.api import Dataset, DatasetAdapter, Protocol, Split, register_dataset
from harness.errors import DataError, HarnessError

log = logging.getLogger(__name__)

MAPPING_FILE = "concept_synsets.txt"
SPLITS = {"train": "train", "test": "val"}  # split -> folder
IMAGE_SUFFIXES = (".jpeg", ".jpg", ".png")
WNID = re.compile(r"^n\d{8}$")

LAYOUT = f"""\
Expected layout (ImageNet / ILSVRC-2012 class folders, restricted to the synsets you need):

  {MAPPING_FILE:<22}  one '<concept> <wnid> [<wnid> ...]' per line: the synsets of each
                          concept (e.g. 'Bookshelf n02871525'); concept names as the AVS
                          query -> concept file writes them
  train/<wnid>/*.JPEG     training images of each synset (the mapped ones, and optionally
                          other synsets: negatives of every concept)
  val/<wnid>/*.JPEG       held-out images in the same class-folder layout (ILSVRC-2012 val
                          reorganised into class folders, as for torchvision ImageFolder)"""

DESCRIPTION = f"""\
imagenet-concepts: ImageNet images of the synsets microNN's image concepts map to (step 1 of the
gradual transfer, METHODS.md 2.7 / 3.3).

Where to get it: ILSVRC-2012 from https://image-net.org (registration; research and
non-commercial use). Copy or link the synset folders you map into train/ and val/ (val images
sorted into class folders with the devkit's ground truth), and write {MAPPING_FILE}.

{LAYOUT}

Labels: an image is positive for the concepts that list its synset, negative for all others.
Protocol: mean AP over the concepts on val/ ('map')."""


def read_mapping(path: Path, adapter: str) -> dict[str, tuple[str, ...]]:
    """``concept -> synsets`` in file order; every wnid must look like ``n01234567``."""
    _common.require_file(path, "concept -> synset mapping", adapter)
    out: dict[str, tuple[str, ...]] = {}
    for number, line in numbered_lines(path):
        fields = line.split()
        if len(fields) < 2 or not all(WNID.match(w) for w in fields[1:]):
            raise bad_line(path, number, line, "'<concept> <wnid> [<wnid> ...]' with wnids like n02871525")
        if fields[0] in out:
            raise bad_line(path, number, line, f"each concept once ({fields[0]!r} is listed twice)")
        out[fields[0]] = tuple(fields[1:])
    if not out:
        raise DataError(f"{path}: no concept is mapped to a synset")
    return out


def synset_images(root: Path, folder: str) -> dict[str, list[str]]:
    """``wnid -> image paths`` (relative to ``root``, sorted) of ``root/folder/<wnid>/``."""
    out: dict[str, list[str]] = {}
    base = root / folder
    if not base.is_dir():
        return out
    for sub in sorted(p for p in base.iterdir() if p.is_dir() and WNID.match(p.name)):
        files = sorted(f"{folder}/{sub.name}/{f.name}" for f in sub.iterdir()
                       if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES)  # fmt: skip
        if files:
            out[sub.name] = files
    return out


def _split(root: Path, images: dict[str, list[str]], mapping: dict[str, tuple[str, ...]]) -> Split:
    rel = [f for wnid in sorted(images) for f in images[wnid]]
    synsets = [wnid for wnid in sorted(images) for _ in images[wnid]]
    labels = np.array([[int(w in syns) for syns in mapping.values()] for w in synsets], dtype=np.int8)
    ids = np.asarray(rel)
    return Split(ids=ids, groups=ids.copy(), labels=labels.reshape(len(rel), len(mapping)),
                 paths=tuple(str(root / f) for f in rel), extra={"synset": np.asarray(synsets)})  # fmt: skip


@register_dataset("imagenet-concepts")
class ImagenetConcepts(DatasetAdapter):
    """ImageNet synset folders restricted to a concept -> synset mapping (microNN's image concepts)."""

    summary = "ImageNet images of the synsets of a concept -> synset mapping (microNN step 1), mean AP"
    task = "multilabel"

    def describe(self) -> str:
        return DESCRIPTION

    def _root(self, root: Path | str | None) -> Path:
        return _common.resolve_root(self, root)

    def load(self, root: Path | str | None, config: Any = None) -> Dataset:
        base = self._root(root)
        mapping = read_mapping(base / MAPPING_FILE, self.name)
        images = {split: synset_images(base, folder) for split, folder in SPLITS.items()}
        wanted = {w for syns in mapping.values() for w in syns}
        for split, folder in SPLITS.items():
            if not images[split]:
                raise DataError(f"{base / folder}: no synset folder with images; expected layout:\n{LAYOUT}")
            absent = sorted(wanted - set(images[split]))
            if absent:
                log.warning("%s: %d mapped synset(s) have no %s images: %s", self.name, len(absent), folder,
                            ", ".join(absent[:10]))  # fmt: skip
        splits = {split: _split(base, images[split], mapping) for split in SPLITS}
        files = [f for split in SPLITS for wnid in images[split] for f in images[split][wnid]]
        train_pos = splits["train"].labels.sum(axis=0) if splits["train"].labels is not None else []
        return Dataset(
            name=self.name, task="multilabel", concepts=tuple(mapping), train=splits["train"], test=splits["test"],
            protocol=Protocol(metric="map", val_metric="map"),
            manifest_hash=manifest_hash(base, [MAPPING_FILE, *files], content=[MAPPING_FILE]), root=base,
            is_miniature=self.is_miniature,
            info={"synsets": {c: list(s) for c, s in mapping.items()}, "n_synsets": len(images["train"]),
                  "unmapped_synsets": sorted(set(images["train"]) - wanted),
                  "train_positives": {c: int(n) for c, n in zip(mapping, train_pos, strict=True)},
                  "default_backbone": "mini_alexnet" if self.is_miniature else "vgg16"},
        )  # fmt: skip

    def verify(self, root: Path) -> list[str]:
        report = Report()
        base = Path(root)
        if not base.is_dir():
            return [f"missing: data root {base} does not exist"]
        mapping: dict[str, tuple[str, ...]] = {}
        try:
            mapping = read_mapping(base / MAPPING_FILE, self.name)
        except HarnessError as exc:
            report.add("missing" if "not found" in str(exc) else "malformed", str(exc))
        files: list[str] = []
        for folder in SPLITS.values():
            images = synset_images(base, folder)
            if not images:
                report.add("missing", f"{folder}/<wnid>/*.JPEG (no synset folder with images)")
            for wnid in sorted({w for syns in mapping.values() for w in syns} - set(images)):
                report.add("missing", f"{folder}/{wnid}/ (a mapped synset)")
            files += [f for fs in images.values() for f in fs]
        known = set(files) | {MAPPING_FILE}
        report.extend("extra", (rel for rel in list_files(base) if rel not in known))
        from datasets._trecvid_common import corrupt_images

        report.extend("corrupt", corrupt_images(base, files))
        return report.problems()

    def make_mini(self, directory: Path, seed: int = 0) -> dict[str, Any]:
        return write_mini(Path(directory), seed)


# --------------------------------------------------------------------------------------------
# The miniature
# --------------------------------------------------------------------------------------------

MINI_VERSION = 1
MINI_IMAGES = {"train": 30, "val": 10}  # per synset
MINI_DISTRACTOR_SYNSETS = 4  # unmapped synsets: negatives of every concept


def mini_synsets() -> tuple[dict[str, tuple[str, ...]], list[tuple[str, str, float]]]:
    """The miniature's mapping and its synsets as (wnid, shape, hue): every other object concept of
    trecvid2013-mini (24 of 48), one synset each, the last four with a second synset (the same object
    drawn small), plus unmapped distractor synsets (off-colour shapes)."""
    from datasets import _trecvid_mini as tm

    mapping: dict[str, tuple[str, ...]] = {}
    synsets: list[tuple[str, str, float]] = []
    for k, obj in enumerate(tm.OBJECTS[::2]):
        colour, shape = obj.split("_", 1)
        wnid = f"n9{len(synsets):07d}"
        synsets.append((wnid, shape, tm.COLOURS[colour]))
        mapping[f"obj_{obj}"] = (wnid,)
        if k >= len(tm.OBJECTS[::2]) - 4:
            small = f"n9{len(synsets):07d}"
            synsets.append((small, shape, -tm.COLOURS[colour] - 1.0))  # negative hue: drawn small
            mapping[f"obj_{obj}"] = (wnid, small)
    for j in range(MINI_DISTRACTOR_SYNSETS):
        synsets.append((f"n9{len(synsets):07d}", tm.SHAPES[j], tm.DISTRACTOR_HUES[j % len(tm.DISTRACTOR_HUES)]))
    return mapping, synsets


def write_mini(directory: Path, seed: int = 0) -> dict[str, Any]:
    """Close-ups of one object per image on a random texture (64x64 JPEG), ImageNet-style."""
    from PIL import Image, ImageDraw

    from datasets import _trecvid_mini as tm
    from harness.synthetic_source import TEXTURES, draw_shape, hsv_to_rgb, texture

    gen = np.random.default_rng([seed, 2012])
    mapping, synsets = mini_synsets()
    count = 0
    for folder, n in MINI_IMAGES.items():
        for wnid, shape, hue in synsets:
            (directory / folder / wnid).mkdir(parents=True, exist_ok=True)
            small = hue < 0
            for i in range(n):
                bg = texture(TEXTURES[int(gen.integers(len(TEXTURES)))], tm.SIZE, tm.SIZE, gen)
                img = Image.fromarray(bg)
                r = gen.uniform(7, 11) if small else gen.uniform(14, 24)
                cx, cy = gen.uniform(r, tm.SIZE - r, 2)
                colour = hsv_to_rgb((-hue - 1.0 if small else hue) + gen.uniform(-8, 8), gen.uniform(0.75, 1),
                                    gen.uniform(0.7, 1))  # fmt: skip
                draw_shape(ImageDraw.Draw(img), shape, float(cx), float(cy), float(r), float(gen.uniform(-0.5, 0.5)),
                           colour)  # fmt: skip
                img.save(directory / folder / wnid / f"{wnid}_{i + 1:05d}.JPEG", format="JPEG", quality=90)
                count += 1
    (directory / MAPPING_FILE).write_text("".join(f"{c} {' '.join(s)}\n" for c, s in mapping.items()))
    return {"images": count, "concepts": len(mapping), "synsets": len(synsets)}


@register_dataset("imagenet-concepts-mini")
class ImagenetConceptsMini(_common.Miniature, ImagenetConcepts):
    """The miniature: class folders of synthetic close-ups of trecvid2013-mini's objects."""

    mini_version = MINI_VERSION
    summary = "miniature of imagenet-concepts: 24 object concepts of trecvid2013-mini, 32 synsets, 1,280 images"

    def describe(self) -> str:
        return (
            "imagenet-concepts-mini: the ImageNet class-folder layout below, written deterministically from a seed\n"
            "into $HARNESS_HOME on first use. 24 concepts = every other object concept of trecvid2013-mini\n"
            "(obj_<colour>_<shape>), one synset each (the last 4 also a second synset: the object drawn small),\n"
            f"plus {MINI_DISTRACTOR_SYNSETS} unmapped synsets of off-colour shapes (negatives only); per synset "
            f"{MINI_IMAGES['train']} train and {MINI_IMAGES['val']} val\n"
            "64x64 JPEG close-ups: one large object on a random texture.\n\n" + LAYOUT
        )

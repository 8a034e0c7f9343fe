"""``natural-scenes`` and ``natural-scenes-mini``: the Zhang & Zhou 2000-image natural scene set.

The set of the ML-kNN ("lazy learning", baseline LL) paper, adopted by METHODS.md 3.5 [AMB-43]:
2000 images, 5 labels (desert, mountains, sea, sunset, trees), label cardinality about 1.24.
Distributed by the LAMDA group as ``miml-image-data.rar`` (``original.rar`` + ``processed.rar``)::

    ROOT/processed/miml data.mat     (or ROOT/miml data.mat) MATLAB v5 file with
        bags        2000 x 1 cell, each 9 x 15 double: 9 instances (image regions) x 15 features
        targets     5 x 2000 double, +1 / -1
        class_name  5 x 1 cell of strings
    ROOT/original/1.jpg ... 2000.jpg (optional: the images, for backbone features)

The adapter returns the flattened bags (135 values per image) as the provided feature block
``miml_bags`` and, when the images are present, their paths (the seed extracts its own features
from the images). The seed states no split; the protocol is 10-fold cross-validation (ML-kNN
paper), one fold per run (``--set fold=1..10``), folds drawn once from a fixed seed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datasets import _common, _multilabel
from harness.api import Dataset, DatasetAdapter, Protocol, Split, register_dataset
from harness.errors import DataError, MissingDataError
from harness.params import Options, param
from harness.seeding import rng

log = logging.getLogger(__name__)

MAT_NAME = "miml data.mat"
MAT_HEADER = b"MATLAB 5.0 MAT-file, Platform: posix, written by the natural-scenes-mini generator".ljust(116)
MAT_DIRS = ("processed", "")
IMAGE_DIR = "original"
CLASSES = ("desert", "mountains", "sea", "sunset", "trees")
INSTANCES, INSTANCE_DIM = 9, 15
FEATURE_BLOCK = "miml_bags"
N_FOLDS = 10
FOLD_SEED = 0  # folds are fixed for everyone: fold k of one run is fold k of every run
OFFICIAL_N = 2000


@dataclass(frozen=True)
class MimlData:
    bags: np.ndarray  # (n, 9, 15)
    labels: np.ndarray  # (n, L) int8
    class_names: tuple[str, ...]


def find_mat(root: Path) -> Path:
    for sub in MAT_DIRS:
        candidate = (root / sub / MAT_NAME) if sub else root / MAT_NAME
        if candidate.is_file():
            return candidate
    raise MissingDataError(
        f"'{MAT_NAME}' not found under {root} (looked in {root / 'processed'} and {root}). "
        f"Extract processed.rar of LAMDA's miml-image-data.rar there; run 'harness data describe natural-scenes'."
    )


def read_mat(path: Path) -> MimlData:
    """Read ``miml data.mat`` (MATLAB v5) into bags, 0/1 labels and class names."""
    import scipy.io

    try:
        mat = scipy.io.loadmat(str(path))
    except NotImplementedError:
        raise DataError(f"{path} is a MATLAB v7.3 (HDF5) file; re-save it in MATLAB with save(..., '-v7')") from None
    except (ValueError, OSError, TypeError) as exc:
        raise DataError(f"{path}: not a readable MATLAB file ({exc})") from None
    for key in ("bags", "targets", "class_name"):
        if key not in mat:
            found = sorted(k for k in mat if not k.startswith("__"))
            raise DataError(f"{path}: variable {key!r} missing (found {found}); expected bags, targets, class_name")
    targets = np.asarray(mat["targets"], dtype=np.float64)
    names = tuple(str(np.asarray(c).ravel()[0]) for c in np.asarray(mat["class_name"], dtype=object).ravel())
    if targets.ndim != 2 or targets.shape[0] != len(names):
        raise DataError(f"{path}: targets has shape {targets.shape}, expected ({len(names)}, n) (one row per class)")
    if not np.isin(targets, (-1.0, 1.0)).all():
        bad = sorted(set(np.unique(targets)) - {-1.0, 1.0})[:3]
        raise DataError(f"{path}: targets must be +1/-1, found {bad}")
    cells = np.asarray(mat["bags"], dtype=object).ravel()
    if len(cells) != targets.shape[1]:
        raise DataError(f"{path}: {len(cells)} bags for {targets.shape[1]} target columns")
    bags = np.empty((len(cells), INSTANCES, INSTANCE_DIM), dtype=np.float64)
    for i, cell in enumerate(cells):
        arr = np.asarray(cell, dtype=np.float64)
        if arr.shape != (INSTANCES, INSTANCE_DIM):
            raise DataError(f"{path}: bag {i + 1} has shape {arr.shape}, expected ({INSTANCES}, {INSTANCE_DIM})")
        bags[i] = arr
    return MimlData(bags, (targets.T == 1).astype(np.int8), names)


def folds(n: int) -> np.ndarray:
    """(n,) fold number 1..10 of every image (fixed permutation, sizes differ by at most one)."""
    order = rng(FOLD_SEED, "natural-scenes-folds").permutation(n)
    fold = np.empty(n, dtype=np.int64)
    fold[order] = np.arange(n) % N_FOLDS + 1
    return fold


@dataclass(frozen=True)
class NaturalScenesConfig:
    fold: int = param(1, Options(tuple(range(1, N_FOLDS + 1))), "cross-validation fold used as the test set (1..10)",
                      assumption=True)  # fmt: skip


@register_dataset("natural-scenes")
class NaturalScenes(DatasetAdapter):
    """Zhang & Zhou natural scenes: 2000 images, 5 labels, MIML bags; 10-fold cross-validation."""

    Config = NaturalScenesConfig
    task = "multilabel"
    summary = "natural scenes (Zhang & Zhou): 2000 images, 5 labels, LAMDA .mat + JPEGs, 10-fold CV (MMDL-EG)"
    expected_n = OFFICIAL_N

    def describe(self) -> str:
        return (
            "natural-scenes: the 2000-image natural scene set of Zhang & Zhou (ML-kNN paper) [AMB-43];\n"
            "5 labels: desert, mountains, sea, sunset, trees; label cardinality about 1.24.\n"
            "Obtain: http://lamda.nju.edu.cn/files/miml-image-data.rar (LAMDA group); extract it, then its\n"
            "  processed.rar and original.rar, into ROOT.\n"
            "Layout:\n"
            f"  ROOT/processed/{MAT_NAME}   (or ROOT/{MAT_NAME}) MATLAB v5: bags (2000x1 cell of 9x15),\n"
            "                                targets (5x2000, +1/-1), class_name (5x1 cell)\n"
            "  ROOT/original/1.jpg ... 2000.jpg   (optional; needed for backbone features)\n"
            f"Features: provided block {FEATURE_BLOCK!r} (the 9x15 bag flattened to 135 values); image paths\n"
            "  when ROOT/original exists. Protocol (assumption, as in the ML-kNN paper): 10-fold cross-\n"
            "  validation, --set fold=1..10, Hamming loss; report the mean over the 10 folds.\n"
            "Licence: free for academic use (LAMDA)."
        )

    def _root(self, root: Path | str | None) -> Path:
        return _common.resolve_root(self, root)

    def load(self, root: Path | str | None, config: Any = None) -> Dataset:
        cfg = config if config is not None else self.Config()
        base = self._root(root)
        mat_path = find_mat(base)
        data = read_mat(mat_path)
        n = len(data.labels)
        image_dir = base / IMAGE_DIR
        paths: tuple[str, ...] | None = None
        if image_dir.is_dir():
            images = [image_dir / f"{i + 1}.jpg" for i in range(n)]
            missing = [p for p in images if not p.is_file()]
            if missing:
                raise MissingDataError(
                    f"{len(missing)} of {n} images are missing in {image_dir}, e.g. {missing[0].name}; "
                    f"re-extract original.rar (or remove the folder to use the provided features only)"
                )
            paths = tuple(str(p) for p in images)
        fold = folds(n)
        ids = np.array([str(i + 1) for i in range(n)])
        whole = Split(
            ids=ids, groups=ids.copy(), labels=data.labels, paths=paths,
            features={FEATURE_BLOCK: data.bags.reshape(n, -1).astype(np.float32)}, extra={"fold": fold},
        )  # fmt: skip
        train = whole.subset(np.flatnonzero(fold != cfg.fold))
        test = whole.subset(np.flatnonzero(fold == cfg.fold))
        rel = [mat_path.relative_to(base).as_posix()]
        images_rel = [f"{IMAGE_DIR}/{i + 1}.jpg" for i in range(n)] if paths else []
        return Dataset(
            name=self.name,
            task="multilabel",
            concepts=data.class_names,
            train=train,
            test=test,
            protocol=Protocol(metric="hamming_loss", val_metric="hamming_loss", options={"cv_folds": N_FOLDS, "fold": cfg.fold}),
            manifest_hash=_common.manifest_hash(base, rel + images_rel, content=rel),
            root=base,
            is_miniature=self.is_miniature,
            info={"fold": cfg.fold, "n_images": n, "has_images": paths is not None,
                  "default_backbone": "mini_alexnet" if self.is_miniature else "alexnet",
                  **_multilabel.info(train.labels, test.labels)},
        )  # fmt: skip

    def verify(self, root: Path) -> list[str]:
        report = _common.Report()
        base = Path(root)
        if not base.is_dir():
            return [f"missing: data root {base} does not exist"]
        try:
            mat_path = find_mat(base)
            data = read_mat(mat_path)
        except MissingDataError as exc:
            return [f"missing: {exc}"]
        except DataError as exc:
            return [f"corrupt: {exc}"]
        n = len(data.labels)
        if n != self.expected_n:
            report.add("count", f"{mat_path}: {n} images, expected {self.expected_n}")
        if data.class_names != CLASSES:
            report.add("labels", f"{mat_path}: classes {data.class_names}, expected {CLASSES}")
        if (data.labels.sum(axis=1) == 0).any():
            report.add("labels", f"{mat_path}: {(data.labels.sum(axis=1) == 0).sum()} images without any label")
        image_dir = base / IMAGE_DIR
        if image_dir.is_dir():
            expected = {f"{IMAGE_DIR}/{i + 1}.jpg" for i in range(n)}
            present = set(_common.list_files(base, IMAGE_DIR))
            for rel in sorted(expected - present, key=_by_number):
                report.add("missing", str(base / rel))
            for rel in sorted(present - expected):
                report.add("extra", str(base / rel))
            report.extend("corrupt", _corrupt_images(base, sorted(expected & present, key=_by_number)))
        return report.problems()

    def make_mini(self, directory: Path, seed: int = 0) -> dict[str, Any]:
        return generate_mini(Path(directory), seed)


def _by_number(rel: str) -> tuple[int, str]:
    stem = Path(rel).stem
    return (int(stem), rel) if stem.isdigit() else (10**9, rel)


def _corrupt_images(base: Path, rels: list[str]) -> list[str]:
    from PIL import Image, UnidentifiedImageError

    out = []
    for rel in rels:
        try:
            with Image.open(base / rel) as im:
                im.load()  # decodes every byte: a truncated JPEG fails here
        except (UnidentifiedImageError, OSError, SyntaxError) as exc:
            out.append(f"{base / rel}: {exc}")
    return out


# --------------------------------------------------------------------------------------------
# The miniature
# --------------------------------------------------------------------------------------------

MINI_VERSION = 1
MINI_N = 500
MINI_SIZE = 64
MINI_FREQS = (0.21, 0.22, 0.2, 0.17, 0.2)
# Real-like co-occurrences: mountains+trees, sea+sunset, desert+sunset, sea+mountains, desert+mountains.
MINI_PARTNERS = {
    0: [(3, 2.0), (1, 1.5)],
    1: [(4, 3.0), (2, 1.5), (0, 1.0)],
    2: [(3, 3.0), (1, 1.5)],
    3: [(2, 3.0), (0, 2.0)],
    4: [(1, 3.0), (2, 0.5)],
}


def _render_scene(labels: np.ndarray, gen: np.random.Generator) -> np.ndarray:
    """A (64, 64, 3) uint8 landscape: sky (or a sunset), mountains on the horizon, a ground made of
    desert / sea / trees regions for the labels present.

    Realistic nuisances keep it from being trivial: the light level and colour cast vary, label
    regions can be small, and unlabelled look-alikes appear (low grey hills, a reddish evening sky,
    grass with a few bushes).
    """
    from PIL import Image, ImageDraw

    from harness.synthetic_source import texture

    s = MINI_SIZE
    horizon = int(gen.integers(18, 40))
    desert, mountains, sea, sunset, trees = (bool(v) for v in labels)
    if sunset or gen.random() < 0.15:
        t = np.linspace(0, 1, horizon)[:, None, None]
        glow = gen.uniform(0.5, 1.0) if sunset else gen.uniform(0.15, 0.45)
        top = np.array([120, 40, 90], np.float32) * glow + np.array([90, 150, 230], np.float32) * (1 - glow)
        bottom = np.array([250, 150, 40], np.float32) * glow + np.array([200, 225, 250], np.float32) * (1 - glow)
        sky = (1 - t) * top + t * bottom + np.zeros((horizon, s, 3), np.float32)
    else:
        sky = texture("sky", horizon, s, gen).astype(np.float32)
    regions = [k for k, on in (("sand", desert), ("water", sea), ("foliage", trees)) if on]
    filler = str(gen.choice(["grass", "sand", "wall"])) if not regions or gen.random() < 0.4 else None
    if filler == "sand" and not desert:
        filler = "grass"
    kinds = regions + ([filler] if filler else [])
    gen.shuffle(kinds)
    widths = gen.dirichlet(np.full(len(kinds), 1.5)) * s
    cuts = np.concatenate([[0], np.cumsum(np.maximum(widths, 1))]).astype(int)
    cuts[-1] = s
    cuts = np.maximum.accumulate(cuts)
    ground = np.concatenate(
        [texture(kind, s - horizon, int(cuts[i + 1] - cuts[i]), gen) for i, kind in enumerate(kinds) if cuts[i + 1] > cuts[i]],
        axis=1,
    ).astype(np.float32)
    img = Image.fromarray(np.clip(np.concatenate([sky, ground], axis=0), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(img)
    if sunset and gen.random() < 0.7:
        r = gen.uniform(3, 7)
        cx = gen.uniform(8, s - 8)
        draw.ellipse([cx - r, horizon - r - 2, cx + r, horizon + r - 2], fill=(255, 220, 120))
    hills = int(gen.integers(1, 4)) if mountains else (1 if gen.random() < 0.3 else 0)
    for _ in range(hills):
        cx, half = gen.uniform(0, s), gen.uniform(8, 22)
        height = gen.uniform(8, 22) if mountains else gen.uniform(3, 7)
        shade = int(gen.integers(70, 140))
        draw.polygon([(cx - half, horizon + 2), (cx, horizon - height), (cx + half, horizon + 2)],
                     fill=(shade, shade - 10, shade - 20))  # fmt: skip
    crowns = int(gen.integers(1, 5)) if trees else (1 if gen.random() < 0.25 else 0)
    for _ in range(crowns):
        cx, cy = gen.uniform(4, s - 4), gen.uniform(horizon + 4, s - 4)
        r = gen.uniform(2.5, 5)
        draw.ellipse([cx - r, cy - 1.6 * r, cx + r, cy + 0.2 * r], fill=(20, int(gen.integers(80, 140)), 30))
    light = gen.uniform(0.65, 1.25)
    cast = gen.normal(0, 12, 3)
    arr = np.asarray(img, np.float32) * light + cast + gen.normal(0, 3.0, (s, s, 3))
    return np.clip(arr, 0, 255).astype(np.uint8)


def sbn_bag(image: np.ndarray) -> np.ndarray:
    """(9, 15) bag of an image: 9 regions, each = mean RGB of a block and its differences to the
    four neighbouring blocks (the "single blob with neighbours" representation of Maron & Ratan,
    used for this data set), on an 8x8 grid of blocks, values in [0, 1] / [-1, 1]."""
    h, w = image.shape[:2]
    grid = image[: h - h % 8, : w - w % 8].astype(np.float64).reshape(8, h // 8, 8, w // 8, 3).mean(axis=(1, 3)) / 255
    bag = []
    for r in (1, 4, 6):
        for c in (1, 4, 6):
            centre = grid[r, c]
            nb = [grid[r - 1, c], grid[r + 1, c], grid[r, c - 1], grid[r, c + 1]]
            bag.append(np.concatenate([centre, *[n - centre for n in nb]]))
    return np.asarray(bag)


def generate_mini(folder: Path, seed: int = 0) -> dict[str, Any]:
    """Write ``natural-scenes-mini``: 500 JPEGs (64x64) and ``processed/miml data.mat``."""
    import io

    import scipy.io
    from PIL import Image

    from harness.cache import atomic_write_bytes

    gen = rng(seed, "natural-scenes-mini")
    y = _multilabel.with_partners(MINI_N, MINI_FREQS, MINI_PARTNERS, p_second=0.22, p_third=0.1, gen=gen)
    bags = np.empty((MINI_N, 1), dtype=object)
    for i in range(MINI_N):
        buf = io.BytesIO()
        Image.fromarray(_render_scene(y[i], gen)).save(buf, format="JPEG", quality=90)
        atomic_write_bytes(folder / IMAGE_DIR / f"{i + 1}.jpg", buf.getvalue())
        decoded = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
        bags[i, 0] = sbn_bag(decoded)  # features from the image as stored, like the real set
    class_name = np.empty((len(CLASSES), 1), dtype=object)
    for k, name in enumerate(CLASSES):
        class_name[k, 0] = np.array([name])
    targets = np.where(y.T == 1, 1.0, -1.0)
    buf = io.BytesIO()
    scipy.io.savemat(buf, {"bags": bags, "targets": targets, "class_name": class_name}, format="5")
    # The v5 header's 116 text bytes carry the writing time; a fixed text keeps the file (and the
    # manifest hash, which hashes it) identical for every generation from the same seed.
    data = MAT_HEADER + buf.getvalue()[len(MAT_HEADER):]
    atomic_write_bytes(folder / "processed" / MAT_NAME, data)
    return {"images": MINI_N, **_multilabel.statistics(y)}


@register_dataset("natural-scenes-mini")
class NaturalScenesMini(_common.Miniature, NaturalScenes):
    """The natural-scenes miniature: 500 rendered 64x64 landscapes with their MIML bags."""

    @dataclass(frozen=True)
    class Config(NaturalScenesConfig):
        """Same options as ``natural-scenes``."""

    mini_version = MINI_VERSION
    summary = "natural scenes miniature: 500 rendered 64x64 JPEG landscapes, 5 correlated labels, LAMDA .mat"
    expected_n = MINI_N

    def describe(self) -> str:
        return (
            "natural-scenes-mini: a miniature of the LAMDA natural scene set in its real format\n"
            f"(original/1.jpg..{MINI_N}.jpg, processed/{MAT_NAME} with bags/targets/class_name), 5 labels.\n"
            "How it is made: each image is a rendered 64x64 landscape: a sky or a SUNSET, MOUNTAINS on the\n"
            "horizon, and a ground made of DESERT (sand), SEA (water) and TREES (foliage + tree crowns) regions\n"
            "for the labels present. Labels co-occur as in the real set (mountains+trees, sea+sunset, ...;\n"
            "cardinality ~1.3). The 9x15 bags are computed from the stored JPEGs (block colours and their\n"
            "differences to the 4 neighbours, as in the real set's SBN representation).\n"
            "Generated deterministically from a seed into $HARNESS_HOME/datasets on first use."
        )

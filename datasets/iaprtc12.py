"""``iaprtc12`` and ``iaprtc12-mini``: IAPR TC-12 annotation benchmark, 291-keyword version [AMB-44].

The version of Makadia et al. 2008 / Guillaumin et al. 2009 (TagProp), as distributed by INRIA
LEAR (``iaprtc12.20091111.tar.bz2``) with 15 precomputed features::

    ROOT/iaprtc12_dictionary.txt               291 keywords, one per line
    ROOT/iaprtc12_{train,test}_list.txt        17,665 / 1,962 image ids (e.g. ``00/25``)
    ROOT/iaprtc12_{train,test}_annot.hvecs     keyword indicators, one row per listed image
    ROOT/iaprtc12_{train,test}_<Feature>.<ext> DenseHue/HarrisHue (100), their V3H1 (300),
                                               DenseSift/HarrisSift (1000), their V3H1 (3000) .hvecs;
                                               Gist (512) .fvec; Hsv/Lab/Rgb (4096) and their V3H1
                                               (5184) .hvecs32

Binary "vecs" rows are ``[d][d values]``: ``.fvec`` uint32 header + float32 values, ``.hvecs``
uint16 + uint16, ``.hvecs32`` uint32 + uint32 (LEAR's ``vec_read.m``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datasets import _common, _multilabel
from harness.api import Dataset, DatasetAdapter, Protocol, Split, register_dataset
from harness.errors import DataError, InvalidParameterError, MissingDataError
from harness.params import param
from harness.seeding import rng

log = logging.getLogger(__name__)

PREFIX = "iaprtc12"
# Feature name -> (file extension, dimension).
FEATURES = {
    "DenseHue": ("hvecs", 100), "DenseHueV3H1": ("hvecs", 300),
    "DenseSift": ("hvecs", 1000), "DenseSiftV3H1": ("hvecs", 3000),
    "Gist": ("fvec", 512),
    "HarrisHue": ("hvecs", 100), "HarrisHueV3H1": ("hvecs", 300),
    "HarrisSift": ("hvecs", 1000), "HarrisSiftV3H1": ("hvecs", 3000),
    "Hsv": ("hvecs32", 4096), "HsvV3H1": ("hvecs32", 5184),
    "Lab": ("hvecs32", 4096), "LabV3H1": ("hvecs32", 5184),
    "Rgb": ("hvecs32", 4096), "RgbV3H1": ("hvecs32", 5184),
}  # fmt: skip
# Extension -> (header dtype, value dtype), as in LEAR's vec_read.m.
VEC_TYPES = {
    "fvec": (np.dtype("<u4"), np.dtype("<f4")),
    "fvecs": (np.dtype("<u4"), np.dtype("<f4")),
    "hvecs": (np.dtype("<u2"), np.dtype("<u2")),
    "hvec": (np.dtype("<u2"), np.dtype("<u2")),
    "hvecs32": (np.dtype("<u4"), np.dtype("<u4")),
}
SPLITS = ("train", "test")
OFFICIAL_COUNTS = {"train": 17665, "test": 1962}
OFFICIAL_N_WORDS = 291


def vec_type(path: Path) -> tuple[np.dtype, np.dtype]:
    ext = path.name.rsplit(".", 1)[-1].lower()
    if ext not in VEC_TYPES:
        raise DataError(f"{path}: unknown vector file type .{ext}; expected one of {', '.join(VEC_TYPES)}")
    return VEC_TYPES[ext]


def read_vecs(path: Path) -> np.ndarray:
    """All rows of a LEAR ``.fvec``/``.hvecs``/``.hvecs32`` file as an (n, d) array.

    Raises:
        DataError: an empty or truncated file, or a row whose header declares another dimension
            (the message gives the row and byte offset).
    """
    head_t, value_t = vec_type(path)
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size < head_t.itemsize:
        raise DataError(f"{path}: empty file, expected rows of [dimension][values]")
    d = int(raw[: head_t.itemsize].view(head_t)[0])
    if d == 0:
        raise DataError(f"{path}: the first row declares dimension 0")
    row_bytes = head_t.itemsize + d * value_t.itemsize
    if raw.size % row_bytes:
        full = raw.size // row_bytes
        raise DataError(
            f"{path}: {raw.size} bytes is not a whole number of {d}-dimensional rows ({row_bytes} bytes each); "
            f"row {full + 1} (byte {full * row_bytes}) is incomplete: the file is truncated"
        )
    rows = raw.reshape(-1, row_bytes)
    heads = rows[:, : head_t.itemsize].copy().view(head_t).ravel()
    bad = np.flatnonzero(heads != d)
    if len(bad):
        r = int(bad[0])
        raise DataError(f"{path}: row {r + 1} (byte {r * row_bytes}) declares dimension {int(heads[r])}, expected {d}")
    return rows[:, head_t.itemsize :].copy().view(value_t).reshape(len(rows), d)


def write_vecs(path: Path, matrix: np.ndarray) -> None:
    """Write an (n, d) matrix in the LEAR vector format given by the file extension."""
    from harness.cache import atomic_write_bytes

    head_t, value_t = vec_type(path)
    x = np.asarray(matrix)
    n, d = x.shape
    out = np.empty((n, head_t.itemsize + d * value_t.itemsize), dtype=np.uint8)
    out[:, : head_t.itemsize] = np.full((n, 1), d, dtype=head_t).view(np.uint8)
    out[:, head_t.itemsize :] = x.astype(value_t).view(np.uint8).reshape(n, -1)
    atomic_write_bytes(path, out.tobytes())


def feature_path(root: Path, split: str, name: str) -> Path:
    return root / f"{PREFIX}_{split}_{name}.{FEATURES[name][0]}"


@dataclass(frozen=True)
class IaprConfig:
    features: tuple[str, ...] = param(
        (), help="feature files to load (names as in the file names, e.g. DenseSift,Gist); empty = every one present"
    )

    def check(self) -> None:
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise InvalidParameterError(
                f"The 'features' parameter of dataset iaprtc12 must name features among {', '.join(FEATURES)}. "
                f"Got unknown {unknown} instead."
            )


@register_dataset("iaprtc12")
class IaprTc12(DatasetAdapter):
    """IAPR TC-12, 291 keywords, 17,665 / 1,962 split, LEAR's precomputed features."""

    Config = IaprConfig
    task = "multilabel"
    summary = "IAPR TC-12 (291 keywords, 17,665/1,962 split, LEAR features) for MMDL-EG"
    expected_counts = OFFICIAL_COUNTS
    expected_words = OFFICIAL_N_WORDS
    expected_features: tuple[str, ...] = tuple(FEATURES)

    def describe(self) -> str:
        return (
            "iaprtc12: IAPR TC-12 annotation benchmark (Makadia et al. 2008; Guillaumin et al. 2009), the\n"
            "291-keyword version [AMB-44]: 19,627 images, 17,665 train / 1,962 test, ~5.7 keywords per image.\n"
            "Obtain: https://lear.inrialpes.fr/people/guillaumin/data.php -> iaprtc12.20091111.tar.bz2\n"
            "  (annotations + 15 features); extract its files into ROOT.\n"
            "Layout:\n"
            f"  ROOT/{PREFIX}_dictionary.txt                 (291 keywords)\n"
            f"  ROOT/{PREFIX}_{{train,test}}_list.txt          (image ids)\n"
            f"  ROOT/{PREFIX}_{{train,test}}_annot.hvecs       (keyword indicators, one row per image)\n"
            f"  ROOT/{PREFIX}_{{train,test}}_<Feature>.<ext>   Dense/Harris Hue (100) and Sift (1000) .hvecs,\n"
            "      their V3H1 versions (300 / 3000), Gist (512) .fvec, Hsv/Lab/Rgb (4096) and V3H1 (5184) .hvecs32\n"
            "Vector files: rows [d][d values] (LEAR vec_read.m: fvec = uint32+float32, hvecs = uint16+uint16,\n"
            "  hvecs32 = uint32+uint32). --set features=DenseSift,Gist loads a subset (all 15 need ~3 GB RAM).\n"
            "Protocol: official split, Hamming loss over the 291 keywords; the all-negative baseline (~0.0196)\n"
            "  is printed beside it [AMB-34].\n"
            "Licence: IAPR TC-12 images free for research; LEAR features for research use."
        )

    def _root(self, root: Path | str | None) -> Path:
        return _common.resolve_root(self, root)

    def _present(self, base: Path) -> list[str]:
        return [f for f in FEATURES if all(feature_path(base, s, f).is_file() for s in SPLITS)]

    def load(self, root: Path | str | None, config: Any = None) -> Dataset:
        cfg = config if config is not None else self.Config()
        base = self._root(root)
        dict_path = _common.require_file(base / f"{PREFIX}_dictionary.txt", "IAPR TC-12 dictionary", self.name)
        words = [w.strip() for _, w in _common.numbered_lines(dict_path)]
        wanted = list(cfg.features) or self._present(base)
        if not wanted:
            raise MissingDataError(f"no IAPR TC-12 feature files found in {base}; run 'harness data describe {self.name}'")
        splits = {}
        sized = []
        for split in SPLITS:
            list_path = _common.require_file(base / f"{PREFIX}_{split}_list.txt", f"{split} image list", self.name)
            ids = np.asarray([line.strip() for _, line in _common.numbered_lines(list_path)])
            annot_path = _common.require_file(base / f"{PREFIX}_{split}_annot.hvecs", f"{split} annotations", self.name)
            annot = read_vecs(annot_path)
            if annot.shape != (len(ids), len(words)):
                raise DataError(f"{annot_path}: shape {annot.shape}, expected ({len(ids)} images, {len(words)} keywords)")
            if not np.isin(annot, (0, 1)).all():
                raise DataError(f"{annot_path}: values other than 0/1")
            blocks = {}
            for name in wanted:
                path = _common.require_file(feature_path(base, split, name), f"{split} {name} features", self.name)
                x = _common.cached_parse(path, lambda p: {"x": read_vecs(p)}, "iaprtc12-vecs")["x"]
                if x.shape != (len(ids), FEATURES[name][1]):
                    raise DataError(f"{path}: shape {x.shape}, expected ({len(ids)}, {FEATURES[name][1]})")
                blocks[name] = x.astype(np.float32)
                sized.append(path.name)
            splits[split] = Split(ids=ids, groups=ids.copy(), labels=annot.astype(np.int8), features=blocks)
        content = [f"{PREFIX}_dictionary.txt", *(f"{PREFIX}_{s}_{k}" for s in SPLITS for k in ("list.txt", "annot.hvecs"))]
        return Dataset(
            name=self.name,
            task="multilabel",
            concepts=tuple(words),
            train=splits["train"],
            test=splits["test"],
            protocol=Protocol(metric="hamming_loss", val_metric="hamming_loss", options={"split": "official"}),
            manifest_hash=_common.manifest_hash(base, sized, content=content),
            root=base,
            is_miniature=self.is_miniature,
            info={"features": ",".join(wanted), **_multilabel.info(splits["train"].labels, splits["test"].labels)},
        )

    def verify(self, root: Path) -> list[str]:
        report = _common.Report()
        base = Path(root)
        if not base.is_dir():
            return [f"missing: data root {base} does not exist"]
        dict_path = base / f"{PREFIX}_dictionary.txt"
        n_words = None
        if not dict_path.is_file():
            report.add("missing", str(dict_path))
        else:
            n_words = len(list(_common.numbered_lines(dict_path)))
            if n_words != self.expected_words:
                report.add("count", f"{dict_path}: {n_words} keywords, expected {self.expected_words}")
        counts = {}
        for split in SPLITS:
            path = base / f"{PREFIX}_{split}_list.txt"
            if not path.is_file():
                report.add("missing", str(path))
                continue
            counts[split] = len(list(_common.numbered_lines(path)))
            if counts[split] != self.expected_counts[split]:
                report.add("count", f"{path}: {counts[split]} images, expected {self.expected_counts[split]}")
        expected_files = {f"{PREFIX}_dictionary.txt"}
        for split in SPLITS:
            expected_files |= {f"{PREFIX}_{split}_list.txt", f"{PREFIX}_{split}_annot.hvecs"}
            checks = [(base / f"{PREFIX}_{split}_annot.hvecs", n_words)]
            checks += [(feature_path(base, split, f), FEATURES[f][1]) for f in self.expected_features]
            expected_files |= {p.name for p, _ in checks}
            for path, dim in checks:
                if not path.is_file():
                    report.add("missing", str(path))
                    continue
                try:
                    x = read_vecs(path)
                except DataError as exc:
                    report.add("corrupt", str(exc))
                    continue
                if dim is not None and x.shape[1] != dim:
                    report.add("corrupt", f"{path}: dimension {x.shape[1]}, expected {dim}")
                if split in counts and len(x) != counts[split]:
                    report.add("count", f"{path}: {len(x)} rows, expected {counts[split]} (one per listed image)")
        for rel in _common.list_files(base):
            if "/" not in rel and rel.startswith(PREFIX) and rel not in expected_files:
                report.add("extra", str(base / rel))
        return report.problems()

    def make_mini(self, directory: Path, seed: int = 0) -> dict[str, Any]:
        return generate_mini(Path(directory), seed)


# --------------------------------------------------------------------------------------------
# The miniature
# --------------------------------------------------------------------------------------------

MINI_VERSION = 1
MINI_COUNTS = {"train": 600, "test": 200}
MINI_WORDS = (
    "airplane", "beach", "bed", "bench", "bike", "bird", "boat", "bottle", "branch", "bridge",
    "building", "bush", "cactus", "car", "chair", "child", "church", "city", "cloud", "column",
    "construction", "court", "desert", "door", "floor", "flower", "fountain", "grass", "group",
    "hat", "hill", "house", "lake", "lamp", "landscape", "man", "market", "monument", "mountain",
    "ocean", "palm", "people", "plant", "river", "road", "rock", "roof", "ruin", "sand", "sidewalk",
    "sky", "snow", "statue", "street", "table", "tower", "tree", "wall", "window", "woman",
)  # fmt: skip
# Which LEAR features the miniature ships, and how much label signal each carries.
MINI_FEATURES = {"DenseHue": 0.2, "HarrisHue": 0.15, "DenseSift": 0.35, "Gist": 1.2}


def generate_mini(folder: Path, seed: int = 0) -> dict[str, Any]:
    """Write ``iaprtc12-mini``: 60 keywords, 600 + 200 images, 4 of the LEAR feature files."""
    from harness.cache import atomic_write_text

    gen = rng(seed, "iaprtc12-mini")
    n = sum(MINI_COUNTS.values())
    y, _ = _multilabel.from_topics(n, len(MINI_WORDS), gen, n_topics=15, labels_per_topic=4, mean_topics=1.5,
                                   p_in_topic=(0.25, 0.75))  # fmt: skip
    blocks = {}
    for name, signal in MINI_FEATURES.items():
        kind, dim = FEATURES[name]
        if kind == "fvec":
            blocks[name] = _multilabel.dense_block(y, dim, gen, signal=signal, noise=0.15).astype(np.float32)
        else:
            total = 400 if name.startswith("Dense") else 120
            blocks[name] = _multilabel.count_block(y, dim, gen, signal=signal, total=total)
    ids = [f"{i // 100:02d}/{1000 + i}" for i in gen.permutation(n)]
    atomic_write_text(folder / f"{PREFIX}_dictionary.txt", "\n".join(MINI_WORDS) + "\n")
    start = 0
    for split, count in MINI_COUNTS.items():
        sl = slice(start, start + count)
        atomic_write_text(folder / f"{PREFIX}_{split}_list.txt", "\n".join(ids[sl]) + "\n")
        write_vecs(folder / f"{PREFIX}_{split}_annot.hvecs", y[sl])
        for name, x in blocks.items():
            write_vecs(feature_path(folder, split, name), x[sl])
        start += count
    return {"images": n, **_multilabel.statistics(y)}


@register_dataset("iaprtc12-mini")
class IaprTc12Mini(_common.Miniature, IaprTc12):
    """The IAPR TC-12 miniature: 60 keywords, 600 + 200 images, four LEAR feature files."""

    @dataclass(frozen=True)
    class Config(IaprConfig):
        """Same options as ``iaprtc12``."""

    mini_version = MINI_VERSION
    summary = "IAPR TC-12 miniature: 600+200 images, 60 topic-correlated keywords, 4 LEAR-format feature files"
    expected_counts = MINI_COUNTS
    expected_words = len(MINI_WORDS)
    expected_features = tuple(MINI_FEATURES)

    def describe(self) -> str:
        return (
            "iaprtc12-mini: a miniature of the LEAR IAPR TC-12 release in its real file formats\n"
            f"({PREFIX}_dictionary.txt, _list.txt, _annot.hvecs and the DenseHue, HarrisHue, DenseSift .hvecs\n"
            f"and Gist .fvec feature files with their real dimensions), {MINI_COUNTS['train']} + {MINI_COUNTS['test']} "
            f"images, {len(MINI_WORDS)} keywords.\n"
            "How it is made: keywords from a topic model (15 topics of 4 keywords, ~1.5 topics per image),\n"
            "so keywords co-occur and negatives outnumber positives about 12:1; the histogram features are\n"
            "multinomial draws mixing per-keyword preferred bins with a background (Gist: Gaussian\n"
            "prototypes), each feature at its own signal strength.\n"
            "Generated deterministically from a seed into $HARNESS_HOME/datasets on first use."
        )

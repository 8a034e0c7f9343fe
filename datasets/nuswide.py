"""``nuswide`` and ``nuswide-mini``: NUS-WIDE (Chua et al. 2009) with its six low-level features.

Real layout (the NUS-WIDE archives from lms.comp.nus.edu.sg extracted into ROOT)::

    ROOT/ConceptsList/Concepts81.txt                 81 concept names, one per line
    ROOT/ImageList/TrainImagelist.txt                161,789 lines  (e.g. actor\\0001_2124494179.jpg)
    ROOT/ImageList/TestImagelist.txt                 107,859 lines
    ROOT/Groundtruth/TrainTestLabels/Labels_<concept>_Train.txt   one 0/1 per training image
    ROOT/Groundtruth/TrainTestLabels/Labels_<concept>_Test.txt
    ROOT/Low_Level_Features/Train_Normalized_{CH,CORR,EDH,WT,CM55}.dat   space-separated rows
    ROOT/Low_Level_Features/Test_Normalized_{CH,CORR,EDH,WT,CM55}.dat
    ROOT/Low_Level_Features/BoW_{Train,Test}_int.dat                     500-word SIFT histograms

(``Low_Level_Features`` may also sit under ``NUS_WID_Low_Level_Features/``; ``Concepts81.txt``
may sit in ROOT.) Rows of every file follow the order of the image lists. Feature blocks: CH 64
(colour histogram), CORR 144 (colour correlogram), EDH 73 (edge direction histogram), WT 128
(wavelet texture), CM55 225 (block-wise colour moments), BoW 500.
"""

from __future__ import annotations

import logging
import re
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

BLOCKS = {"CH": 64, "CORR": 144, "EDH": 73, "WT": 128, "CM55": 225, "BoW": 500}
SPLITS = {"train": "Train", "test": "Test"}
CONCEPTS_81 = (
    "airport", "animal", "beach", "bear", "birds", "boats", "book", "bridge", "buildings", "cars",
    "castle", "cat", "cityscape", "clouds", "computer", "coral", "cow", "dancing", "dog", "earthquake",
    "elk", "fire", "fish", "flags", "flowers", "food", "fox", "frost", "garden", "glacier", "grass",
    "harbor", "horses", "house", "lake", "leaf", "map", "military", "moon", "mountain", "nighttime",
    "ocean", "person", "plane", "plants", "police", "protest", "railroad", "rainbow", "reflection",
    "road", "rocks", "running", "sand", "sign", "sky", "snow", "soccer", "sports", "statue", "street",
    "sun", "sunset", "surf", "swimmers", "tattoo", "temple", "tiger", "tower", "town", "toy", "train",
    "tree", "valley", "vehicle", "water", "waterfall", "wedding", "whales", "window", "zebra",
)  # fmt: skip
OFFICIAL_COUNTS = {"train": 161789, "test": 107859}
FEATURE_DIRS = ("Low_Level_Features", "NUS_WID_Low_Level_Features/Low_Level_Features")
CONCEPT_FILES = ("ConceptsList/Concepts81.txt", "Concepts81.txt")
LABEL_DIR = "Groundtruth/TrainTestLabels"
LIST_FILES = {"train": "ImageList/TrainImagelist.txt", "test": "ImageList/TestImagelist.txt"}


def feature_file(block: str, split: str) -> str:
    """File name of a feature block: ``Train_Normalized_CH.dat`` or ``BoW_Train_int.dat``."""
    if block == "BoW":
        return f"BoW_{SPLITS[split]}_int.dat"
    return f"{SPLITS[split]}_Normalized_{block}.dat"


def find_first(root: Path, candidates: tuple[str, ...], what: str, name: str) -> Path:
    for rel in candidates:
        if (root / rel).exists():
            return root / rel
    raise MissingDataError(
        f"{what} not found under {root} (looked for {', '.join(candidates)}). "
        f"Run 'harness data describe {name}' for the expected layout."
    )


def read_names(path: Path) -> list[str]:
    """One name per line (concepts, image list entries); backslashes become '/'."""
    return [line.strip().replace("\\", "/") for _, line in _common.numbered_lines(path)]


def parse_matrix(path: Path, dim: int, *, integer: bool = False) -> np.ndarray:
    """A space-separated numeric text matrix with ``dim`` values per row (trailing spaces allowed).

    Raises:
        DataError: a row with another number of values or a non-numeric value (file:line).
    """
    import pandas as pd

    dtype = np.int32 if integer else np.float32
    try:
        frame = pd.read_csv(path, sep=r"\s+", header=None, dtype=np.float64, engine="c", skip_blank_lines=True)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path}: empty file, expected rows of {dim} values") from None
    except pd.errors.ParserError as exc:
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
        if m:
            raise DataError(f"{path}:{m.group(2)}: expected {dim} values, got {m.group(3)}") from None
        raise DataError(f"{path}: {exc}") from None
    except ValueError as exc:  # a token that is not a number
        raise DataError(f"{path}: non-numeric value ({exc}); expected rows of {dim} numbers") from None
    values = frame.to_numpy()
    if values.shape[1] != dim:
        raise DataError(f"{path}:1: expected {dim} values per row, got {values.shape[1]}")
    bad_rows = np.flatnonzero(np.isnan(values).any(axis=1))
    if len(bad_rows):
        row = int(bad_rows[0])
        got = int((~np.isnan(values[row])).sum())
        raise DataError(f"{path}:{_line_of_row(path, row)}: expected {dim} values, got {got}")
    return values.astype(dtype)


def _line_of_row(path: Path, row: int) -> int:
    """1-based line number of the ``row``-th non-blank line."""
    seen = -1
    for number, _ in _common.numbered_lines(path):
        seen += 1
        if seen == row:
            return number
    return row + 1


def read_label_file(path: Path) -> np.ndarray:
    """A ``Labels_<concept>_<Split>.txt`` file: one 0 or 1 per line -> (n,) int8."""
    values = []
    for number, line in _common.numbered_lines(path):
        text = line.strip()
        if text not in ("0", "1"):
            raise _common.bad_line(path, number, line, "0 or 1")
        values.append(text == "1")
    return np.asarray(values, dtype=np.int8)


@dataclass(frozen=True)
class NusWideConfig:
    blocks: tuple[str, ...] = param(tuple(BLOCKS), help=f"feature blocks to load, any of {', '.join(BLOCKS)}")

    def check(self) -> None:
        unknown = [b for b in self.blocks if b not in BLOCKS]
        if unknown or not self.blocks:
            raise InvalidParameterError(
                f"The 'blocks' parameter of dataset nuswide must name blocks among {', '.join(BLOCKS)}. "
                f"Got {self.blocks!r} instead."
            )


@register_dataset("nuswide")
class NusWide(DatasetAdapter):
    """NUS-WIDE: 81 concepts, official 161,789 / 107,859 split, six provided feature blocks."""

    Config = NusWideConfig
    task = "multilabel"
    summary = "NUS-WIDE: 269,648 Flickr images, 81 concepts, 6 low-level feature blocks (MMDL-EG)"
    expected_counts = OFFICIAL_COUNTS
    expected_concepts = CONCEPTS_81

    def describe(self) -> str:
        return (
            "nuswide: NUS-WIDE (Chua et al. 2009), 269,648 Flickr images, 81 ground-truth concepts.\n"
            "Obtain: https://lms.comp.nus.edu.sg/wp-content/uploads/2019/research/nuswide/NUS-WIDE.html ->\n"
            "  Groundtruth, Concepts list, Image list and Low-Level Features archives; extract into ROOT.\n"
            "Layout:\n"
            "  ROOT/ConceptsList/Concepts81.txt\n"
            "  ROOT/ImageList/{Train,Test}Imagelist.txt              (161,789 / 107,859 lines)\n"
            "  ROOT/Groundtruth/TrainTestLabels/Labels_<concept>_{Train,Test}.txt   (one 0/1 per line)\n"
            "  ROOT/Low_Level_Features/{Train,Test}_Normalized_{CH,CORR,EDH,WT,CM55}.dat\n"
            "  ROOT/Low_Level_Features/BoW_{Train,Test}_int.dat\n"
            "Feature blocks (backbone 'provided', layer = block name or 'all'): CH 64, CORR 144, EDH 73,\n"
            "  WT 128, CM55 225, BoW 500. --set blocks=CH,BoW loads a subset. Parsed text is cached.\n"
            "Protocol: official split, Hamming loss over the 81 concepts; images without a concept stay in\n"
            "  the test set (they count) and are excluded from stage-1 training by the method [AMB-50].\n"
            "Licence: research use; the images belong to their Flickr owners (only URLs are distributed)."
        )

    def _root(self, root: Path | str | None) -> Path:
        return _common.resolve_root(self, root)

    def load(self, root: Path | str | None, config: Any = None) -> Dataset:
        cfg = config if config is not None else self.Config()
        base = self._root(root)
        concepts_path = find_first(base, CONCEPT_FILES, "Concepts81.txt", self.name)
        concepts = read_names(concepts_path)
        feature_dir = find_first(base, FEATURE_DIRS, "the Low_Level_Features folder", self.name)
        splits: dict[str, Split] = {}
        content = [concepts_path.relative_to(base).as_posix()]
        sized: list[str] = []
        for split in SPLITS:
            list_path = _common.require_file(base / LIST_FILES[split], f"NUS-WIDE {split} image list", self.name)
            names = read_names(list_path)
            content.append(LIST_FILES[split])
            labels = np.zeros((len(names), len(concepts)), dtype=np.int8)
            for j, concept in enumerate(concepts):
                rel = f"{LABEL_DIR}/Labels_{concept}_{SPLITS[split]}.txt"
                path = _common.require_file(base / rel, f"label file of concept {concept!r}", self.name)
                column = read_label_file(path)
                if len(column) != len(names):
                    raise DataError(f"{path}: {len(column)} labels for the {len(names)} images of {LIST_FILES[split]}")
                labels[:, j] = column
                sized.append(rel)
            blocks = {}
            for block in cfg.blocks:
                path = _common.require_file(feature_dir / feature_file(block, split), f"NUS-WIDE {block} features", self.name)
                arrays = _common.cached_parse(
                    path, lambda p, b=block: {"x": parse_matrix(p, BLOCKS[b], integer=b == "BoW")}, f"nuswide-{block}"
                )
                x = arrays["x"]
                if len(x) != len(names):
                    raise DataError(f"{path}: {len(x)} rows for the {len(names)} images of {LIST_FILES[split]}")
                blocks[block] = x.astype(np.float32)
                sized.append(path.relative_to(base).as_posix())
            ids = np.asarray(names)
            splits[split] = Split(ids=ids, groups=ids.copy(), labels=labels, features=blocks)
        return Dataset(
            name=self.name,
            task="multilabel",
            concepts=tuple(concepts),
            train=splits["train"],
            test=splits["test"],
            protocol=Protocol(metric="hamming_loss", val_metric="hamming_loss", options={"split": "official"}),
            manifest_hash=_common.manifest_hash(base, sized, content=content),
            root=base,
            is_miniature=self.is_miniature,
            info={"blocks": ",".join(cfg.blocks), **_multilabel.info(splits["train"].labels, splits["test"].labels)},
        )

    def verify(self, root: Path) -> list[str]:
        report = _common.Report()
        base = Path(root)
        if not base.is_dir():
            return [f"missing: data root {base} does not exist"]
        try:
            concepts_path = find_first(base, CONCEPT_FILES, "Concepts81.txt", self.name)
        except MissingDataError as exc:
            report.add("missing", str(exc))
            return report.problems()
        concepts = read_names(concepts_path)
        if tuple(concepts) != self.expected_concepts:
            report.add("labels", f"{concepts_path}: {len(concepts)} concepts, expected the {len(self.expected_concepts)} "
                                 f"of NUS-WIDE in their official order")  # fmt: skip
        counts: dict[str, int] = {}
        for split in SPLITS:
            path = base / LIST_FILES[split]
            if not path.is_file():
                report.add("missing", str(path))
                continue
            counts[split] = len(read_names(path))
            if counts[split] != self.expected_counts[split]:
                report.add("count", f"{path}: {counts[split]} images, expected {self.expected_counts[split]}")
        expected_labels = {f"Labels_{c}_{SPLITS[s]}.txt": s for c in concepts for s in SPLITS}
        label_dir = base / LABEL_DIR
        present = set(_common.list_files(label_dir))
        for fname, split in expected_labels.items():
            path = label_dir / fname
            if fname not in present:
                report.add("missing", str(path))
                continue
            try:
                n = len(read_label_file(path))
            except DataError as exc:
                report.add("corrupt", str(exc))
                continue
            if split in counts and n != counts[split]:
                report.add("count", f"{path}: {n} lines, expected {counts[split]} (one per image)")
        for fname in sorted(present - set(expected_labels)):
            report.add("extra", str(label_dir / fname))
        feature_dir = next((base / d for d in FEATURE_DIRS if (base / d).is_dir()), None)
        if feature_dir is None:
            report.add("missing", f"{base / FEATURE_DIRS[0]} (the Low_Level_Features folder)")
            return report.problems()
        for split in SPLITS:
            for block, dim in BLOCKS.items():
                path = feature_dir / feature_file(block, split)
                if not path.is_file():
                    report.add("missing", str(path))
                    continue
                try:
                    rows = len(parse_matrix(path, dim, integer=block == "BoW"))
                except DataError as exc:
                    report.add("corrupt", str(exc))
                    continue
                if split in counts and rows != counts[split]:
                    report.add("count", f"{path}: {rows} rows, expected {counts[split]} (one per image)")
        return report.problems()

    def make_mini(self, directory: Path, seed: int = 0) -> dict[str, Any]:
        return generate_mini(Path(directory), seed)


# --------------------------------------------------------------------------------------------
# The miniature
# --------------------------------------------------------------------------------------------

MINI_VERSION = 1
MINI_COUNTS = {"train": 600, "test": 400}
# How much label signal each block carries: modalities differ, so weighting them matters.
MINI_SIGNAL = {"CH": 0.6, "CORR": 0.9, "EDH": 1.0, "WT": 0.8, "CM55": 1.4, "BoW": 0.45}


def generate_mini(folder: Path, seed: int = 0) -> dict[str, Any]:
    """Write ``nuswide-mini``: the 81 real concepts, 600 + 400 images, all six feature files."""
    from harness.cache import atomic_write_text

    gen = rng(seed, "nuswide-mini")
    n = sum(MINI_COUNTS.values())
    y, _ = _multilabel.from_topics(
        n, len(CONCEPTS_81), gen, n_topics=24, labels_per_topic=4, mean_topics=1.5, p_in_topic=(0.2, 0.7)
    )
    blocks: dict[str, np.ndarray] = {}
    for block, dim in BLOCKS.items():
        if block == "BoW":
            blocks[block] = _multilabel.count_block(y, dim, gen, signal=MINI_SIGNAL[block], total=60)
        else:
            x = _multilabel.dense_block(y, dim, gen, signal=MINI_SIGNAL[block], noise=0.15)
            blocks[block] = x / x.sum(axis=1, keepdims=True) if block == "CH" else x  # CH is a histogram
    categories = [CONCEPTS_81[int(np.argmax(row))] if row.any() else "misc" for row in y]
    names = [f"{cat}\\{i + 1:04d}_{int(gen.integers(10**9, 10**10))}.jpg" for i, cat in enumerate(categories)]
    atomic_write_text(folder / CONCEPT_FILES[0], "\n".join(CONCEPTS_81) + "\n")
    start = 0
    for split, count in MINI_COUNTS.items():
        sl = slice(start, start + count)
        atomic_write_text(folder / LIST_FILES[split], "\n".join(names[sl]) + "\n")
        for j, concept in enumerate(CONCEPTS_81):
            atomic_write_text(folder / LABEL_DIR / f"Labels_{concept}_{SPLITS[split]}.txt",
                              "\n".join(str(int(v)) for v in y[sl, j]) + "\n")  # fmt: skip
        for block, x in blocks.items():
            fmt = "{:d}" if block == "BoW" else "{:.6f}"
            text = "".join(" ".join(fmt.format(v) for v in row) + " \n" for row in x[sl])  # trailing space as in the real files
            atomic_write_text(folder / FEATURE_DIRS[0] / feature_file(block, split), text)
        start += count
    return {"images": n, **_multilabel.statistics(y)}


@register_dataset("nuswide-mini")
class NusWideMini(_common.Miniature, NusWide):
    """The NUS-WIDE miniature: 81 real concepts, 600 + 400 images, six feature files."""

    @dataclass(frozen=True)
    class Config(NusWideConfig):
        """Same options as ``nuswide``."""

    mini_version = MINI_VERSION
    summary = "NUS-WIDE miniature: 600+400 images, the 81 concepts (topic-correlated), 6 feature blocks"
    expected_counts = MINI_COUNTS

    def describe(self) -> str:
        return (
            "nuswide-mini: a miniature of NUS-WIDE in the real layout (Concepts81.txt, image lists,\n"
            "Labels_<concept>_{Train,Test}.txt, the six Low_Level_Features files with their real dimensions).\n"
            f"{MINI_COUNTS['train']} + {MINI_COUNTS['test']} images, the 81 real concepts.\n"
            "How it is made: labels from a topic model (24 topics of 4 concepts; an image draws ~1.5 topics),\n"
            "so concepts co-occur, frequencies are skewed, some images have no concept, and negatives\n"
            "outnumber positives about 19:1 (about 4 concepts per image). Each feature block mixes\n"
            "per-concept prototypes with noise at its own strength (CH weakest, CM55/BoW strongest), so\n"
            "modality weighting matters.\n"
            "Generated deterministically from a seed into $HARNESS_HOME/datasets on first use."
        )

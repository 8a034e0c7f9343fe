"""``scene`` and ``scene-mini``: the MULAN "scene" multi-label set (Boutell et al. 2004) in ARFF.

Real layout (MULAN's ``scene.rar`` extracted)::

    ROOT/scene-train.arff     1211 rows
    ROOT/scene-test.arff      1196 rows
    ROOT/scene.xml            (optional) MULAN label file naming the 6 label attributes

Each row holds 294 numeric features (spatial colour moments: the image cut into 7x7 blocks, first
and second moments of each LUV channel per block, values in [0, 1]) followed by 6 binary labels in
the order Beach, Sunset, FallFoliage, Field, Mountain, Urban. Files with the ARFF header
(``@relation``, ``@attribute``, ``@data``) and files whose header was stripped (data lines only;
the documented column order is then assumed) are both read. Sparse ARFF rows are refused.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datasets import _common, _multilabel
from harness.api import Dataset, DatasetAdapter, Protocol, Split, register_dataset
from harness.errors import DataError, MissingDataError
from harness.seeding import rng

log = logging.getLogger(__name__)

LABELS = ("Beach", "Sunset", "FallFoliage", "Field", "Mountain", "Urban")
N_FEATURES = 294
FEATURE_BLOCK = "luv_moments"
FILES = {"train": "scene-train.arff", "test": "scene-test.arff"}
LABEL_XML = "scene.xml"
OFFICIAL_ROWS = {"train": 1211, "test": 1196}

_ATTR_RE = re.compile(r"^@attribute\s+('(?:[^']|\\')*'|\"[^\"]*\"|\S+)\s+(.+)$", re.IGNORECASE)


@dataclass(frozen=True)
class ArffTable:
    """A dense ARFF table split into features and labels.

    Attributes:
        features: (n, d) float64.
        labels: (n, L) int8 in {0, 1}.
        label_names: the L label attributes in file order.
        feature_names: the d feature attributes (``Att1..`` when the header is absent).
        had_header: whether the file carried an ARFF header.
    """

    features: np.ndarray
    labels: np.ndarray
    label_names: tuple[str, ...]
    feature_names: tuple[str, ...]
    had_header: bool


def read_label_xml(path: Path) -> tuple[str, ...]:
    """Label names from a MULAN XML label file (``<labels><label name="..."/>...</labels>``)."""
    try:
        tree = ET.parse(path)
    except ET.ParseError as exc:
        raise DataError(f"{path}: not a valid MULAN label XML file ({exc})") from None
    names = tuple(el.attrib["name"] for el in tree.getroot().iter() if el.tag.rsplit("}", 1)[-1] == "label" and "name" in el.attrib)
    if not names:
        raise DataError(f"{path}: no <label name=...> elements found")
    return names


def read_arff(
    path: Path,
    *,
    label_names: tuple[str, ...] | None = None,
    default_labels: tuple[str, ...] = LABELS,
    default_features: int = N_FEATURES,
) -> ArffTable:
    """Read a dense multi-label ARFF file (with or without its header).

    Labels are the attributes named in ``label_names`` (from the MULAN XML) or, without it, the
    trailing ``{0,1}`` attributes. Without a header the layout is ``default_features`` numbers then
    ``default_labels``.

    Raises:
        DataError: a line with the wrong number of fields, a non-numeric value, a label outside
            {0, 1}, a sparse row, or an unusable header (file:line in the message).
    """
    attrs: list[tuple[str, str]] = []
    rows: list[list[str]] = []
    in_data = False
    had_header = False
    n_fields: int | None = None
    for number, line in _common.numbered_lines(path):
        text = line.strip()
        if text.startswith("%"):
            continue
        if not in_data and text.startswith("@"):
            had_header = True
            low = text.lower()
            if low.startswith("@attribute"):
                m = _ATTR_RE.match(text)
                if not m:
                    raise _common.bad_line(path, number, line, "'@attribute NAME TYPE'")
                attrs.append((m.group(1).strip("'\""), m.group(2).strip()))
            elif low.startswith("@data"):
                in_data = True
                n_fields = len(attrs)
            elif not low.startswith("@relation"):
                raise _common.bad_line(path, number, line, "@relation, @attribute or @data")
            continue
        if not had_header and not in_data:
            in_data = True
            n_fields = default_features + len(default_labels)
        if text.startswith("{"):
            raise _common.bad_line(path, number, line, "a dense row (sparse ARFF rows are not supported)")
        fields = text.split(",")
        if len(fields) != n_fields:
            raise _common.bad_line(
                path, number, line if len(line) < 60 else line[:40] + "...",
                f"{n_fields} comma-separated fields, found {len(fields)}",
            )  # fmt: skip
        rows.append(fields)
        rows[-1].append(str(number))  # remember the line for value errors
    if had_header:
        if not in_data:
            raise DataError(f"{path}: ARFF header without an @data section")
        names = [a[0] for a in attrs]
        if label_names is None:
            trailing = []
            for name, kind in reversed(attrs):
                if kind.replace(" ", "") in ("{0,1}", "{1,0}"):
                    trailing.append(name)
                else:
                    break
            label_names = tuple(reversed(trailing))
        missing = [n for n in label_names if n not in names]
        if missing:
            raise DataError(f"{path}: label attribute(s) {missing} are not declared in the ARFF header")
        label_idx = [names.index(n) for n in label_names]
        feat_idx = [i for i in range(len(names)) if i not in set(label_idx)]
        feature_names = tuple(names[i] for i in feat_idx)
    else:
        label_names = default_labels
        feat_idx = list(range(default_features))
        label_idx = list(range(default_features, default_features + len(default_labels)))
        feature_names = tuple(f"Att{i + 1}" for i in feat_idx)
    if not rows:
        raise DataError(f"{path}: no data rows")
    table = np.array([r[:-1] for r in rows], dtype=object)
    try:
        features = table[:, feat_idx].astype(np.float64)
    except ValueError:
        raise DataError(_first_bad_value(path, rows, feat_idx, "a number")) from None
    try:
        labels_f = table[:, label_idx].astype(np.float64)
    except ValueError:
        raise DataError(_first_bad_value(path, rows, label_idx, "a label 0 or 1")) from None
    if not np.isin(labels_f, (0.0, 1.0)).all():
        raise DataError(_first_bad_value(path, rows, label_idx, "a label 0 or 1", labels_only=True))
    return ArffTable(features, labels_f.astype(np.int8), tuple(label_names), feature_names, had_header)


def _first_bad_value(path: Path, rows: list[list[str]], columns: list[int], expected: str, *, labels_only: bool = False) -> str:
    for row in rows:
        for c in columns:
            value = row[c].strip()
            try:
                number = float(value)
            except ValueError:
                return f"{path}:{row[-1]}: column {c + 1}: expected {expected}, got {value!r}"
            if labels_only and number not in (0.0, 1.0):
                return f"{path}:{row[-1]}: column {c + 1}: expected {expected}, got {value!r}"
    return f"{path}: a value is not {expected}"


def write_arff(path: Path, relation: str, features: np.ndarray, labels: np.ndarray, label_names: tuple[str, ...]) -> None:
    """Write a dense MULAN-style ARFF file (numeric features, ``{0,1}`` label attributes)."""
    from harness.cache import atomic_write_text

    lines = [f"@relation {relation}", ""]
    lines += [f"@attribute Att{i + 1} numeric" for i in range(features.shape[1])]
    lines += [f"@attribute {name} {{0,1}}" for name in label_names]
    lines += ["", "@data"]
    for x, y in zip(features, labels, strict=True):
        lines.append(",".join([f"{v:.6f}".rstrip("0").rstrip(".") if v else "0" for v in x] + [str(int(v)) for v in y]))
    atomic_write_text(path, "\n".join(lines) + "\n")


def write_label_xml(path: Path, label_names: tuple[str, ...]) -> None:
    from harness.cache import atomic_write_text

    body = "\n".join(f'<label name="{n}"></label>' for n in label_names)
    atomic_write_text(path, f'<?xml version="1.0" encoding="utf-8"?>\n<labels xmlns="http://mulan.sourceforge.net/labels">\n{body}\n</labels>\n')


@register_dataset("scene")
class Scene(DatasetAdapter):
    """MULAN scene: 294 colour-moment features, 6 labels, official 1211/1196 split."""

    task = "multilabel"
    summary = "MULAN scene (Boutell 2004): 2407 images, 294 features, 6 labels, ARFF"
    expected_rows = OFFICIAL_ROWS

    def describe(self) -> str:
        return (
            "scene (Boutell, Luo, Shen & Brown 2004, as distributed by MULAN): 2407 natural scene images,\n"
            "294 features (7x7 blocks x LUV first/second moments, in [0, 1]), 6 labels.\n"
            "Obtain: https://mulan.sourceforge.net/datasets-mlc.html -> scene.rar; extract into ROOT.\n"
            "Layout:\n"
            "  ROOT/scene-train.arff   (1211 rows)\n"
            "  ROOT/scene-test.arff    (1196 rows)\n"
            "  ROOT/scene.xml          (optional MULAN label file)\n"
            f"Row = 294 comma-separated numbers, then 6 labels 0/1 in the order {', '.join(LABELS)}.\n"
            "ARFF headers are read when present; header-less files (data lines only) are accepted too.\n"
            f"Features: one provided block {FEATURE_BLOCK!r} (backbone 'provided').\n"
            "Protocol: Hamming loss on the official test split, with the all-negative baseline beside it.\n"
            "Licence: public research data set (MULAN repository)."
        )

    def _root(self, root: Path | str | None) -> Path:
        return _common.resolve_root(self, root)

    def _read(self, base: Path) -> dict[str, ArffTable]:
        label_names = read_label_xml(base / LABEL_XML) if (base / LABEL_XML).is_file() else None
        out = {}
        for split, fname in FILES.items():
            path = _common.require_file(base / fname, f"scene {split} file", self.name)
            out[split] = read_arff(path, label_names=label_names)
        if out["train"].label_names != out["test"].label_names:
            raise DataError(f"{base}: train and test files declare different labels: "
                            f"{out['train'].label_names} vs {out['test'].label_names}")  # fmt: skip
        if out["train"].features.shape[1] != out["test"].features.shape[1]:
            raise DataError(f"{base}: train and test files have different feature counts")
        return out

    def load(self, root: Path | str | None, config: Any = None) -> Dataset:
        base = self._root(root)
        tables = self._read(base)
        splits = {}
        for name, table in tables.items():
            n = len(table.labels)
            ids = np.array([f"{name}-{i + 1:05d}" for i in range(n)])
            splits[name] = Split(
                ids=ids, groups=ids.copy(), labels=table.labels,
                features={FEATURE_BLOCK: table.features.astype(np.float32)},
            )  # fmt: skip
        files = [f for f in (*FILES.values(), LABEL_XML) if (base / f).exists()]
        return Dataset(
            name=self.name,
            task="multilabel",
            concepts=tables["train"].label_names,
            train=splits["train"],
            test=splits["test"],
            protocol=Protocol(metric="hamming_loss", val_metric="hamming_loss", options={"split": "official"}),
            manifest_hash=_common.manifest_hash(base, files, content=files),
            root=base,
            is_miniature=self.is_miniature,
            info={"n_features": tables["train"].features.shape[1], "had_header": tables["train"].had_header,
                  **_multilabel.info(tables["train"].labels, tables["test"].labels)},
        )  # fmt: skip

    def verify(self, root: Path) -> list[str]:
        report = _common.Report()
        base = Path(root)
        if not base.is_dir():
            return [f"missing: data root {base} does not exist"]
        for fname in FILES.values():
            if not (base / fname).is_file():
                report.add("missing", str(base / fname))
        if report:
            return report.problems()
        try:
            tables = self._read(base)
        except (DataError, MissingDataError) as exc:
            report.add("corrupt", str(exc))
            return report.problems()
        for split, table in tables.items():
            if len(table.labels) != self.expected_rows[split]:
                report.add("count", f"{FILES[split]}: {len(table.labels)} rows, expected {self.expected_rows[split]}")
            if table.features.shape[1] != N_FEATURES:
                report.add("count", f"{FILES[split]}: {table.features.shape[1]} features, expected {N_FEATURES}")
            if table.label_names != LABELS:
                report.add("labels", f"{FILES[split]}: labels {table.label_names}, expected {LABELS}")
            if table.features.size and (table.features.min() < 0 or table.features.max() > 1):
                report.add("range", f"{FILES[split]}: feature values outside [0, 1]")
        for rel in _common.list_files(base):
            if rel not in (*FILES.values(), LABEL_XML, "scene.arff"):
                report.add("extra", str(base / rel))
        return report.problems()

    def make_mini(self, directory: Path, seed: int = 0) -> dict[str, Any]:
        return generate_mini(Path(directory), seed)


# --------------------------------------------------------------------------------------------
# The miniature
# --------------------------------------------------------------------------------------------

MINI_VERSION = 1
MINI_ROWS = {"train": 300, "test": 300}
# Label frequencies and co-occurrence partners shaped like the real set (cardinality ~1.07;
# Beach+Mountain, Field+Mountain, FallFoliage+Field, Beach+Urban, Sunset+Beach occur).
MINI_FREQS = (0.17, 0.15, 0.16, 0.15, 0.19, 0.18)
MINI_PARTNERS = {
    0: [(4, 3.0), (5, 2.0), (1, 1.0)],
    1: [(0, 2.0), (4, 1.0)],
    2: [(3, 2.0), (4, 1.0)],
    3: [(4, 3.0), (2, 1.0)],
    4: [(3, 2.0), (0, 2.0), (2, 1.0)],
    5: [(0, 1.0), (4, 1.0)],
}


def generate_mini(folder: Path, seed: int = 0) -> dict[str, Any]:
    """Write ``scene-mini``: 300 + 300 rows, 294 features in [0, 1], the 6 real labels, with header."""
    gen = rng(seed, "scene-mini")
    n = sum(MINI_ROWS.values())
    y = _multilabel.with_partners(n, MINI_FREQS, MINI_PARTNERS, p_second=0.12, p_third=0.05, gen=gen)
    x = _multilabel.dense_block(y, N_FEATURES, gen, signal=0.25, noise=0.15)
    start = 0
    for split, rows in MINI_ROWS.items():
        sl = slice(start, start + rows)
        write_arff(folder / FILES[split], "scene", x[sl], y[sl], LABELS)
        start += rows
    write_label_xml(folder / LABEL_XML, LABELS)
    return {"rows": n, **_multilabel.statistics(y)}


@register_dataset("scene-mini")
class SceneMini(_common.Miniature, Scene):
    """The scene miniature: 300 + 300 rows in the real ARFF format, correlated labels."""

    mini_version = MINI_VERSION
    summary = "scene miniature: 300+300 ARFF rows, 294 features, the 6 real labels (correlated)"
    expected_rows = MINI_ROWS

    def describe(self) -> str:
        return (
            "scene-mini: a miniature of MULAN scene in the real format (scene-train.arff, scene-test.arff\n"
            "with ARFF headers, scene.xml), 300 + 300 rows, 294 features in [0, 1], the 6 real labels.\n"
            "How it is made: each row gets a primary label (real-like frequencies) and, with probability\n"
            "0.12, a co-occurring partner (Beach+Mountain, Field+Mountain, FallFoliage+Field, ...);\n"
            "features = mix of per-label prototypes + Gaussian noise, clipped to [0, 1].\n"
            "Generated deterministically from a seed into $HARNESS_HOME/datasets on first use."
        )

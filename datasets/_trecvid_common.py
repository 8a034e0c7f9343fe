"""Readers shared by the TRECVID adapters: shot ids, keyframe folders (a reference keyframe and
optionally several frames per shot), concept/topic lists, collaborative annotations and NIST qrels
(with file:line in every error).

Private to the ``datasets`` package.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from datasets._common import bad_line, numbered_lines, require_file
from harness.cache import Cache, cache_key, sha256_file
from harness.errors import DataError, MissingDataError

SHOT_RE = re.compile(r"^shot(\d+)_(\d+)$")
# shot<video>_<shot>.<ext> (the reference keyframe) or shot<video>_<shot>_<frameNo>.<ext> (one frame of it).
KEYFRAME_RE = re.compile(r"^shot(\d+)_(\d+)(?:_(\d+))?\.(jpg|jpeg|png)$", re.IGNORECASE)
KEYFRAME_EXTENSIONS = (".jpg", ".jpeg", ".png")
STRAY_NOTE = "not '<videoId>/shot<videoId>_<shotNo>[_<frameNo>].jpg', or a second file for one keyframe"
# Collaborative annotation labels (TRECVID "P"ositive / "N"egative / "S"kipped) and the 1/0/-1 form.
ANNOTATION_LABELS = {"P": 1, "N": 0, "S": -1, "1": 1, "+1": 1, "0": 0, "-1": -1}
# Some public SIN tooling writes concept n as topic 1000 + n (METHODS.md 3.1).
TOPIC_OFFSETS = (0, 1000)


def shot_key(shot: str) -> tuple[int, int]:
    """Sort key (video number, shot number) of ``shot<video>_<shot>``."""
    m = SHOT_RE.match(shot)
    if m is None:
        raise ValueError(shot)
    return int(m.group(1)), int(m.group(2))


def video_of(shot: str) -> str:
    m = SHOT_RE.match(shot)
    if m is None:
        raise ValueError(shot)
    return m.group(1)


@dataclass(frozen=True)
class Keyframes:
    """The keyframes of the shots under a keyframe folder.

    Attributes:
        reference: shot id -> its reference keyframe (relative to the root): the file
            ``shot<v>_<s>.<ext>``, else the middle of its numbered frames (``frames[len // 2]``).
        frames: shot id -> every keyframe of the shot in temporal order: its numbered frames
            ``shot<v>_<s>_<frameNo>.<ext>`` by frame number, else ``(reference,)``.
        strays: files that fit no keyframe name, or a second file for one keyframe.
    """

    reference: dict[str, str]
    frames: dict[str, tuple[str, ...]]
    strays: list[str]

    def files(self) -> list[str]:
        """Every keyframe file (relative to the root), references and frames, without repeats."""
        out = dict.fromkeys(self.reference.values())
        for frames in self.frames.values():
            out.update(dict.fromkeys(frames))
        return list(out)


def shot_keyframes(root: Path, folder: str = "keyframes") -> Keyframes:
    """Index ``<folder>/<videoId>/`` keyframes by shot (see :class:`Keyframes`).

    Expected names: ``shot<videoId>_<shotNo>.<jpg|jpeg|png>`` (one reference keyframe per shot) and,
    optionally, ``shot<videoId>_<shotNo>_<frameNo>.<ext>`` (several frames of a shot, e.g. one every
    30 frames; ``frameNo`` is any frame number, they are ordered by its value).
    """
    reference: dict[str, str] = {}
    numbered: dict[str, dict[int, str]] = {}
    strays: list[str] = []
    base = root / folder
    if not base.is_dir():
        return Keyframes(reference, {}, strays)
    for video_dir in sorted(os.scandir(base), key=lambda e: e.name):
        if not video_dir.is_dir():
            strays.append(f"{folder}/{video_dir.name}")
            continue
        for entry in sorted(os.scandir(video_dir.path), key=lambda e: e.name):
            rel = f"{folder}/{video_dir.name}/{entry.name}"
            m = KEYFRAME_RE.match(entry.name)
            if entry.name.startswith("."):
                continue
            if m is None or m.group(1) != video_dir.name or not entry.is_file():
                strays.append(rel)
                continue
            shot = f"shot{m.group(1)}_{m.group(2)}"
            if m.group(3) is None:
                if shot in reference:
                    strays.append(rel)  # a second reference keyframe (another extension): the first (sorted) is used
                else:
                    reference[shot] = rel
                continue
            frames = numbered.setdefault(shot, {})
            if int(m.group(3)) in frames:
                strays.append(rel)  # one frame number twice (e.g. _30.jpg and _030.jpg)
            else:
                frames[int(m.group(3))] = rel
    ordered = {shot: tuple(frames[n] for n in sorted(frames)) for shot, frames in numbered.items()}
    for shot, frames in ordered.items():
        reference.setdefault(shot, frames[len(frames) // 2])
    return Keyframes(reference, {shot: ordered.get(shot, (rel,)) for shot, rel in reference.items()}, strays)


@dataclass(frozen=True)
class Concept:
    id: int
    name: str


def read_id_names(path: Path, what: str, adapter: str) -> list[Concept]:
    """``<id> <name or text>`` lines (concept lists, topic files); ids are integers, unique."""
    require_file(path, what, adapter)
    out: list[Concept] = []
    seen: dict[int, int] = {}
    names: dict[str, int] = {}
    for number, line in numbered_lines(path):
        if line.lstrip().startswith("#"):
            continue
        parts = line.split(None, 1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise bad_line(path, number, line, "'<numeric id> <name>'")
        cid, name = int(parts[0]), parts[1].strip()
        if cid in seen:
            raise bad_line(path, number, line, f"a new id (id {cid} is already on line {seen[cid]})")
        seen[cid] = number
        out.append(Concept(cid, name))
        names.setdefault(name, number)
    if not out:
        raise DataError(f"{path}: no entries; expected one '<id> <name>' line per {what.split()[0]}.")
    return out


def concept_token(name: str) -> str:
    """A concept name usable as a TREC topic token (no whitespace)."""
    return "_".join(name.split())


def read_shot_list(path: Path, what: str, adapter: str) -> list[str]:
    """One ``shot<video>_<shot>`` per line (a master shot reference)."""
    require_file(path, what, adapter)
    shots: list[str] = []
    seen: set[str] = set()
    for number, line in numbered_lines(path):
        if line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 1 or not SHOT_RE.match(fields[0]):
            raise bad_line(path, number, line, "one shot id 'shot<videoId>_<shotNo>' per line")
        if fields[0] in seen:
            raise bad_line(path, number, line, "each shot once (duplicate shot id)")
        seen.add(fields[0])
        shots.append(fields[0])
    return shots


def read_annotation(path: Path) -> dict[str, int]:
    """A collaborative annotation file: ``<shotId> <P|N|S>`` (or ``1|0|-1``) per line -> shot: 1/0/-1.

    Several judgments of one shot combine as P > N > S (a positive judgment wins).
    """
    labels: dict[str, int] = {}
    for number, line in numbered_lines(path):
        if line.lstrip().startswith("#"):
            continue
        fields = line.split()
        if len(fields) != 2:
            raise bad_line(path, number, line, f"2 fields '<shotId> <P|N|S>', found {len(fields)}")
        shot, raw = fields
        if not SHOT_RE.match(shot):
            raise bad_line(path, number, line, "a shot id 'shot<videoId>_<shotNo>' in field 1")
        label = ANNOTATION_LABELS.get(raw.upper())
        if label is None:
            raise bad_line(path, number, line, "a label P, N, S (or 1, 0, -1) in field 2")
        labels[shot] = max(labels.get(shot, -1), label)
    return labels


@dataclass(frozen=True)
class QrelsInfo:
    """What the adapters need from a NIST qrels file (the metric reads the file itself)."""

    topics: tuple[int, ...]  # concept/topic ids as in the concept list (offset removed), file order
    offset: int  # 0, or 1000 when the file writes concept n as 1000 + n
    n_lines: int
    shots: frozenset[str]


def read_qrels_info(path: Path, known_ids: Sequence[int], list_name: str, adapter: str) -> QrelsInfo:
    """Check a ``topic 0 shot stratum judgment`` file and map its topic ids onto ``known_ids``.

    The offset (0 or 1000) is chosen for the whole file: the one under which every topic is a
    known id. A topic that is not known under either gives a DataError naming file:line.
    """
    require_file(path, "NIST qrels file", adapter)
    known = set(known_ids)
    first_line: dict[int, tuple[int, str]] = {}
    shots: set[str] = set()
    n = 0
    for number, line in numbered_lines(path):
        fields = line.split()
        if len(fields) != 5:
            raise bad_line(path, number, line, f"5 fields 'topic 0 shot stratum judgment', found {len(fields)}")
        topic, _, shot, stratum, judgment = fields
        if not topic.isdigit() or not stratum.lstrip("-").isdigit() or judgment not in ("-1", "0", "1"):
            raise bad_line(path, number, line, "'<topic id> 0 <shot> <stratum> <-1|0|1>'")
        if not SHOT_RE.match(shot):
            raise bad_line(path, number, line, "a shot id 'shot<videoId>_<shotNo>' in field 3")
        first_line.setdefault(int(topic), (number, line))
        shots.add(shot)
        n += 1
    if not first_line:
        raise DataError(f"{path}: no judgments; expected lines 'topic 0 shot stratum judgment'.")
    for offset in TOPIC_OFFSETS:
        if all(t - offset in known for t in first_line):
            return QrelsInfo(tuple(t - offset for t in first_line), offset, n, frozenset(shots))
    bad = next(t for t in first_line if t not in known and t - 1000 not in known)
    number, line = first_line[bad]
    raise bad_line(
        path, number, line, f"a topic id listed in {list_name} (as n or 1000 + n); topic {bad} is not",
        f"Add it to {list_name} or remove its judgments.",
    )


def normalised_qrels(path: Path, names: Mapping[int, str], offset: int) -> Path:
    """A cached copy of the qrels whose topic field is the concept name (what the metric matches).

    The user's file is never modified; the copy is keyed by the original's SHA-256.
    """
    digest = sha256_file(path)
    key = cache_key(kind="qrels-by-name", source=digest, offset=offset, names=sorted(names.items()))

    def build(folder: Path) -> dict[str, str]:
        out = []
        for _, line in numbered_lines(path):
            topic, rest = line.split(None, 1)
            out.append(f"{names[int(topic) - offset]} {rest.strip()}\n")
        (folder / "qrels.txt").write_text("".join(out), encoding="utf-8")
        return {"source": str(path)}

    return Cache().build("qrels", key, build, {"source_sha256": digest}) / "qrels.txt"


def read_label_table(path: Path, shots: Sequence[str], concepts: Sequence[str]) -> np.ndarray:
    """Full ground truth (miniatures): header ``shot <concept>...``, then ``<shot> <0|1>...`` rows."""
    lines = numbered_lines(path)
    try:
        number, header = next(lines)
    except StopIteration:
        raise DataError(f"{path}: empty; expected a header 'shot <concept names...>'.") from None
    names = header.split("\t")
    if names[0] != "shot" or tuple(names[1:]) != tuple(concepts):
        raise bad_line(path, number, header[:200], "a header 'shot' + the concept names of concepts.txt in order")
    row_of = {s: i for i, s in enumerate(shots)}
    labels = np.full((len(shots), len(concepts)), -1, dtype=np.int8)
    for number, line in lines:
        fields = line.split("\t")
        if len(fields) != len(concepts) + 1 or any(f not in ("0", "1") for f in fields[1:]):
            raise bad_line(path, number, line, f"a shot id and {len(concepts)} tab-separated 0/1 values")
        if fields[0] not in row_of:
            raise bad_line(path, number, line, "a shot of test_shots.txt")
        labels[row_of[fields[0]]] = np.asarray(fields[1:], dtype=np.int8)
    return labels


def missing_keyframes(shots: Iterable[str], index: Mapping[str, str], where: str, adapter: str) -> None:
    """Raise MissingDataError when shots have no keyframe (first few listed)."""
    missing = [s for s in shots if s not in index]
    if missing:
        shown = ", ".join(missing[:5])
        raise MissingDataError(
            f"{len(missing)} shot(s) of {where} have no keyframe keyframes/<videoId>/<shotId>.jpg (or frames "
            f"<shotId>_<frameNo>.jpg) (e.g. {shown}). Run 'harness data verify {adapter} --data-root DIR' for "
            f"the full list."
        )


def corrupt_images(root: Path, relpaths: Iterable[str]) -> list[str]:
    """Keyframes that are empty, truncated or not decodable (each fully decoded once)."""
    from PIL import Image

    bad = []
    for rel in relpaths:
        path = root / rel
        try:
            if path.stat().st_size == 0:
                bad.append(f"{rel} (empty file)")
                continue
            with Image.open(path) as im:
                im.load()  # a full decode: verify() alone misses truncated JPEG data
        except Exception as exc:  # PIL raises OSError, SyntaxError, ValueError ... on damage
            bad.append(f"{rel} ({type(exc).__name__}: {exc})")
    return bad

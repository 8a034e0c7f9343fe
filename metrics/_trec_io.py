"""TREC-format files: qrels and run readers (validated line by line) and a run writer.

NIST's ``sample_eval.pl`` reads whitespace tokens in fixed groups, so one malformed line silently
shifts every later record. These readers check each line and raise :class:`DataError` naming
``file:line``, the line, what was expected and how to fix it. Gzip input is detected by its magic
bytes, whatever the file name.
"""

from __future__ import annotations

import gzip
import logging
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from harness.errors import DataError, MissingDataError

_GZIP_MAGIC = b"\x1f\x8b"
_BOM = "\ufeff"
log = logging.getLogger(__name__)
_SHOW = 120  # characters of an offending line quoted in a message


@dataclass(frozen=True)
class TopicQrels:
    """The judgments of one topic (concept or query).

    Attributes:
        topic: topic id as written in the file (need not be numeric).
        index: docid -> row in ``stratum`` / ``judgment``.
        stratum: (m,) int stratum code per pooled doc, an index into ``strata``.
        judgment: (m,) int judgment: > 0 relevant (graded), 0 non-relevant, -1 pooled but unjudged.
        strata: stratum labels as written in the file, in order of first appearance.
        lines: (m,) 1-based line number of each doc in ``source`` (for messages).
        source: the file the judgments came from.
    """

    topic: str
    index: Mapping[str, int]
    stratum: np.ndarray
    judgment: np.ndarray
    strata: tuple[str, ...]
    lines: np.ndarray
    source: str = "<memory>"

    def __len__(self) -> int:
        return len(self.judgment)

    @classmethod
    def from_records(
        cls, topic: str, records: Sequence[tuple[str, str, int]], source: str = "<memory>"
    ) -> TopicQrels:
        """Build from ``(docid, stratum, judgment)`` tuples (tests, in-memory qrels).

        Raises:
            DataError: if a docid repeats or a judgment is below -1.
        """
        index: dict[str, int] = {}
        for row, (doc, _, rel) in enumerate(records):
            if doc in index:
                raise DataError(
                    f"{source}: topic {topic!r} judges docid {doc!r} twice (records {index[doc] + 1} "
                    f"and {row + 1}); keep one judgment per docid and topic."
                )
            if int(rel) < -1:
                raise DataError(f"{source}: topic {topic!r} docid {doc!r}: judgment {rel} is below -1.")
            index[doc] = row
        labels = sorted({str(label) for _, label, _ in records})  # the order the script visits strata
        code = {label: i for i, label in enumerate(labels)}
        stratum = np.array([code[str(label)] for _, label, _ in records], dtype=np.int64)
        judgment = np.array([int(rel) for _, _, rel in records], dtype=np.int64)
        return cls(topic, index, stratum, judgment, tuple(labels), np.arange(1, len(records) + 1), source)


@dataclass(frozen=True)
class TopicRun:
    """The ranked results of one topic of a run, in file order.

    Attributes:
        topic: topic id.
        docids: (k,) docids as written.
        scores: (k,) float64 scores (the ``rank`` column is ignored, like NIST's scorer).
        lines: (k,) 1-based line numbers in ``source``.
        tag: the run tag of the first line.
    """

    topic: str
    docids: np.ndarray
    scores: np.ndarray
    lines: np.ndarray
    tag: str = ""

    def __len__(self) -> int:
        return len(self.docids)


Qrels = dict[str, TopicQrels]
Run = dict[str, TopicRun]


# --------------------------------------------------------------------------------------------
# Reading
# --------------------------------------------------------------------------------------------


def read_text(path: str | os.PathLike[str], what: str) -> str:
    """Whole file as text; gzip by magic bytes; clear errors for missing/binary/empty files."""
    p = Path(path)
    if not p.exists():
        raise MissingDataError(f"{what} file not found: {p}. Check the path (got {str(path)!r}).")
    if p.is_dir():
        raise DataError(f"{what} path {p} is a directory; expected a {what} file.")
    raw = p.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{p}: looks gzip-compressed but cannot be decompressed ({exc}).") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise DataError(
            f"{p}:{line}: not UTF-8 text (byte {raw[exc.start]:#04x}); expected a plain-text {what} file."
        ) from exc
    if text.startswith(_BOM):
        # Editors on Windows add one; left in, it would become part of the first topic id.
        log.warning("%s: removed a UTF-8 byte-order mark at the start of the %s file", p, what)
        text = text[len(_BOM):]
    if not text.strip():
        raise DataError(f"{p}: the {what} file is empty; expected at least one line.")
    return text


_ASCII_SPACE = np.zeros(256, dtype=bool)
_ASCII_SPACE[[9, 10, 11, 12, 13, 28, 29, 30, 31, 32]] = True  # what str.split() splits on (ASCII)


def _tokenize(text: str) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Split a whitespace-separated file into fields, keeping line numbers.

    Returns:
        numbers: (k,) 1-based numbers of the non-blank lines.
        fields: every field of those lines, flat, in file order (when ``counts`` is uniform,
            column j is ``fields[j::width]``).
        counts: (k,) number of fields on each non-blank line.
    """
    if text.isascii():
        # Count the fields of every line with numpy on the bytes instead of a Python loop
        # (the AVS qrels have 124k lines); str.split() then yields the same fields, flat.
        b = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
        space = _ASCII_SPACE[b]
        start = ~space
        start[1:] &= space[:-1]  # a field starts where a non-space follows a space
        line_ends = np.flatnonzero(b == 10)
        bounds = np.concatenate(([0], line_ends + 1, [len(b)]))
        counts = np.diff(np.searchsorted(np.flatnonzero(start), bounds))
        flat: list[str] = text.split()
    else:
        per_line = [line.split() for line in text.split("\n")]
        counts = np.fromiter((len(f) for f in per_line), dtype=np.int64, count=len(per_line))
        flat = [x for f in per_line for x in f]
    numbers = np.flatnonzero(counts) + 1
    return numbers, flat, counts[counts > 0]


def _columns(flat: list[str], width: int) -> list[list[str]]:
    return [flat[j::width] for j in range(width)]


def _line(text: str, number: int) -> str:
    return text.split("\n")[number - 1]


def _quote(line: str) -> str:
    line = line.rstrip("\r")
    return repr(line if len(line) <= _SHOW else line[:_SHOW] + "...")


def _qrels_line_error(text: str, src: str) -> DataError:
    """The first malformed qrels line, described (called only once the fast path failed)."""
    width = 0
    for number, line in enumerate(text.split("\n"), start=1):
        f = line.split()
        if not f:
            continue
        if width == 0:
            if len(f) not in (4, 5):
                return DataError(
                    f"{src}:{number}: expected 5 fields 'topic iteration docid stratum judgment' "
                    f"(or 4: 'topic iteration docid judgment'), got {len(f)}: {_quote(line)}"
                )
            width = len(f)
        elif len(f) != width:
            form = "topic iteration docid stratum judgment" if width == 5 else "topic iteration docid judgment"
            return DataError(
                f"{src}:{number}: expected {width} fields '{form}' like the lines above, got "
                f"{len(f)}: {_quote(line)}. Fix or remove this line."
            )
        try:
            rel = int(f[-1])
        except ValueError:
            return DataError(
                f"{src}:{number}: judgment (last field) must be an integer (1 relevant, 0 not "
                f"relevant, -1 pooled but unjudged), got {f[-1]!r}: {_quote(line)}"
            )
        if rel < -1:
            return DataError(
                f"{src}:{number}: judgment must be >= -1 (-1 = pooled but not judged), got {rel}: {_quote(line)}"
            )
    return DataError(f"{src}: malformed qrels file (no single bad line found); check its format.")


def _codes(values: Sequence[str], *, sort: bool = False) -> tuple[list[str], np.ndarray]:
    """Distinct values (first-appearance or sorted order) and each value's code, without a
    per-line Python loop (files have ~10^5 lines)."""
    distinct = list(dict.fromkeys(values))
    if sort:
        distinct.sort()
    lookup = {v: i for i, v in enumerate(distinct)}
    return distinct, np.fromiter(map(lookup.__getitem__, values), dtype=np.int64, count=len(values))


def _take(values: list[str], rows: np.ndarray) -> list[str]:
    """``values[rows]`` for a list; a plain slice when the rows are contiguous (the usual case)."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return values[int(rows[0]) : int(rows[-1]) + 1]
    return [values[i] for i in rows.tolist()]


def _group(topics: Sequence[str]) -> list[tuple[str, np.ndarray]]:
    """(topic, row indices in file order) per topic, topics in order of first appearance."""
    distinct, codes = _codes(topics)
    order = np.argsort(codes, kind="stable")
    bounds = np.concatenate(([0], np.cumsum(np.bincount(codes, minlength=len(distinct)))))
    return [(t, order[bounds[u] : bounds[u + 1]]) for u, t in enumerate(distinct)]


def read_qrels(path: str | os.PathLike[str]) -> Qrels:
    """Read NIST/TREC qrels.

    Accepted forms (one judgment per line, whitespace separated, blank lines ignored):
    ``topic iteration docid stratum judgment`` (sampled, TRECVID) and ``topic iteration docid
    judgment`` (classic TREC, read as one stratum ``"1"`` with every pooled doc judged).
    A file must use one form throughout.

    Args:
        path: qrels file, plain or gzip.

    Returns:
        topic -> :class:`TopicQrels`, topics in order of first appearance; stratum codes follow
        the sorted stratum labels (the script's ``sort keys``).

    Raises:
        MissingDataError: the file does not exist.
        DataError: a malformed line (file:line, the line, what was expected), a non-integer or
            < -1 judgment, a docid judged twice for a topic (both lines), an empty file.
    """
    text = read_text(path, "qrels")
    src = str(path)
    numbers, flat, counts = _tokenize(text)
    widths = set(np.unique(counts).tolist())
    if len(widths) != 1 or not widths <= {4, 5}:
        raise _qrels_line_error(text, src)
    width = widths.pop()
    columns = _columns(flat, width)
    try:
        rels = np.array(columns[-1], dtype=np.int64)
    except (ValueError, OverflowError):
        raise _qrels_line_error(text, src) from None
    if (rels < -1).any():
        raise _qrels_line_error(text, src)
    graded = np.flatnonzero(rels > 1)
    if len(graded):
        first = int(graded[0])
        log.warning("%s:%d: %d judgment(s) above 1 (first: %d); they count as relevant (> 0), as in "
                    "sample_eval.pl", src, int(numbers[first]), len(graded), int(rels[first]))
    docs = columns[2]
    # stratum codes follow the sorted labels, the order in which the script visits strata
    label_names, labels = _codes(columns[3], sort=True) if width == 5 else (["1"], np.zeros(len(docs), np.int64))
    lines = np.asarray(numbers, dtype=np.int64)
    out: Qrels = {}
    for topic, rows in _group(columns[0]):
        names = _take(docs, rows)
        index = dict(zip(names, range(len(names)), strict=True))
        if len(index) != len(names):
            seen: dict[str, int] = {}
            for doc, line in zip(names, lines[rows].tolist(), strict=True):
                if doc in seen:
                    raise DataError(
                        f"{src}:{line}: docid {doc!r} is judged twice for topic {topic!r}: line "
                        f"{seen[doc]} and line {line}: {_quote(_line(text, line))}. Keep one "
                        f"judgment per docid and topic."
                    )
                seen[doc] = line
        used, codes = np.unique(labels[rows], return_inverse=True)
        out[topic] = TopicQrels(
            topic=topic,
            index=index,
            stratum=codes.reshape(-1).astype(np.int64),
            judgment=rels[rows],
            strata=tuple(label_names[i] for i in used.tolist()),
            lines=lines[rows],
            source=src,
        )
    return out


def read_run(path: str | os.PathLike[str]) -> Run:
    """Read a TREC run: ``topic Q0 docid rank score tag`` per line.

    Only ``score`` orders the results (the ``rank`` column is ignored, as NIST's scorer does).

    Args:
        path: run file, plain or gzip.

    Returns:
        topic -> :class:`TopicRun`, topics in order of first appearance, lines in file order.

    Raises:
        MissingDataError: the file does not exist.
        DataError: a line without 6 fields, a non-numeric or NaN score, a docid that appears
            twice within a topic (both lines named), an empty file.
    """
    text = read_text(path, "run")
    src = str(path)
    numbers, flat, counts = _tokenize(text)
    bad_width = np.flatnonzero(counts != 6)
    if len(bad_width):
        number = int(numbers[bad_width[0]])
        raise DataError(
            f"{src}:{number}: expected 6 fields 'topic Q0 docid rank score tag', got "
            f"{counts[bad_width[0]]}: {_quote(_line(text, number))}. Fix or remove this line."
        )
    columns = _columns(flat, 6)
    lines = np.asarray(numbers, dtype=np.int64)
    try:
        scores = np.array(columns[4], dtype=np.float64)
    except ValueError:
        scores = np.empty(len(numbers))
        for i, (value, number) in enumerate(zip(columns[4], numbers, strict=True)):
            try:
                scores[i] = float(value)
            except ValueError:
                raise DataError(
                    f"{src}:{int(number)}: score (5th field) must be a number, got {value!r}: "
                    f"{_quote(_line(text, number))}"
                ) from None
    bad = np.flatnonzero(np.isnan(scores))
    if len(bad):
        number = int(numbers[bad[0]])
        raise DataError(
            f"{src}:{number}: score must be a number, got {columns[4][bad[0]]!r}: {_quote(_line(text, number))}"
        )
    docs = columns[2]
    out: Run = {}
    for topic, rows in _group(columns[0]):
        names = _take(docs, rows)
        if len(set(names)) != len(names):
            seen: dict[str, int] = {}
            for doc, line in zip(names, lines[rows].tolist(), strict=True):
                if doc in seen:
                    raise DataError(
                        f"{src}:{line}: docid {doc!r} appears twice in topic {topic!r} of the run: "
                        f"line {seen[doc]} and line {line}. Each docid may be ranked once per "
                        f"topic; remove the duplicate."
                    )
                seen[doc] = line
        out[topic] = TopicRun(topic, np.asarray(names), scores[rows], lines[rows], columns[5][rows[0]])
    return out


# --------------------------------------------------------------------------------------------
# Ranking and writing
# --------------------------------------------------------------------------------------------


def docid_rank(docids: np.ndarray) -> np.ndarray:
    """Integer key that sorts like the docids in byte-wise string order (UTF-8 keeps code-point order)."""
    _, inverse = np.unique(np.asarray(docids).astype(str), return_inverse=True)
    return inverse.reshape(-1)


def rank_order(scores: np.ndarray, docids: np.ndarray, max_results: int | None = None,
               docid_key: np.ndarray | None = None) -> np.ndarray:
    """Indices of the top ``max_results`` items in NIST order.

    Score descending; ties broken by docid descending in byte-wise string order (Perl
    ``$b cmp $a``), so with equal scores ``shot1_2`` precedes ``shot1_10``.

    Args:
        scores: (n,) float scores.
        docids: (n,) docids (only used when ``docid_key`` is not given).
        max_results: keep this many (None = all).
        docid_key: precomputed :func:`docid_rank` of ``docids`` (saves work across concepts).
    """
    scores = np.asarray(scores, dtype=np.float64)
    n = len(scores)
    key = docid_rank(docids) if docid_key is None else docid_key
    if max_results is not None and n > max_results > 0:
        # Only the items scoring at least the M-th largest score can make the cut; ties at the
        # boundary are all kept here and resolved by the docid key below.
        threshold = np.partition(scores, n - max_results)[n - max_results]
        candidates = np.flatnonzero(scores >= threshold)
    else:
        candidates = np.arange(n)
    order = candidates[np.lexsort((-key[candidates], -scores[candidates]))]
    return order if max_results is None else order[: max(max_results, 0)]


def write_run(
    path: str | os.PathLike[str],
    ids: Sequence[str] | np.ndarray,
    scores: np.ndarray,
    topics: Sequence[str],
    *,
    max_results: int = 1000,
    tag: str = "harness",
) -> int:
    """Write a score matrix as a TREC run: the top ``max_results`` items per topic.

    Lines are ``topic Q0 docid rank score tag`` in NIST order (score descending, docid
    descending on ties), scores printed with 17 significant digits so reading the file back
    gives the same ranking. The file is written atomically.

    Args:
        path: output file (``.gz`` suffix writes gzip).
        ids: (n,) item ids (docids, e.g. shot ids).
        scores: (n, T) score matrix, column t for ``topics[t]``.
        topics: (T,) topic ids (concept names or query ids).
        max_results: items per topic (TRECVID SIN 2000, AVS 1000).
        tag: run tag (no whitespace).

    Returns:
        Number of lines written.

    Raises:
        ValueError: on mismatched shapes, NaN scores, whitespace in ids, topics or tag.
    """
    ids = np.asarray(ids).astype(str)
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2 or scores.shape != (len(ids), len(topics)):
        raise ValueError(
            f"write_run needs scores of shape (len(ids), len(topics)) = ({len(ids)}, {len(topics)}), got {scores.shape}"
        )
    for what, values in (("item id", ids), ("topic", topics), ("tag", [tag])):
        bad = [v for v in values if not v or any(ch.isspace() for ch in str(v))]
        if bad:
            raise ValueError(f"write_run: {what} {bad[0]!r} is empty or contains whitespace; TREC fields cannot.")
    if np.isnan(scores).any():
        t = int(np.flatnonzero(np.isnan(scores).any(axis=0))[0])
        raise ValueError(f"write_run: scores of topic {topics[t]!r} contain NaN; replace them before writing.")
    key = docid_rank(ids)
    chunks: list[str] = []
    for t, topic in enumerate(topics):
        order = rank_order(scores[:, t], ids, max_results, key)
        chunks.extend(
            f"{topic} Q0 {ids[i]} {rank} {_fmt_score(scores[i, t])} {tag}\n"
            for rank, i in enumerate(order, start=1)
        )
    # imported here: only writers need it, and the eval CLI should start fast
    from harness.cache import atomic_write_bytes

    text = "".join(chunks)
    out = Path(path)
    data = gzip.compress(text.encode()) if out.suffix == ".gz" else text.encode()
    atomic_write_bytes(out, data)
    return len(chunks)


def _fmt_score(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return repr(float(x))


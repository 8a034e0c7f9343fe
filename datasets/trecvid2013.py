"""``trecvid2013``: TRECVID 2013 Semantic Indexing (SIN), and its miniature ``trecvid2013-mini``.

METHODS.md 3.1: train on IACC.1 keyframes with the collaborative annotation of the 60 trained
concepts (P/N/S -> 1/0/-1), rank the IACC.2.A master shots, score MXinfAP (M = 2000, TRECVID
adjustment on) on the concepts judged in NIST's qrels (38 in 2013; read from the file, never
hard-coded).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datasets import _trecvid_common as tc
from datasets._common import Report, list_files, manifest_hash, mini_folder, resolve_root
from harness.api import Dataset, DatasetAdapter, Protocol, Split, register_dataset
from harness.errors import DataError, HarnessError
from harness.params import Interval, param

log = logging.getLogger(__name__)

CONCEPTS_FILE = "concepts.txt"
ANNOTATION_DIR = "annotations"
KEYFRAME_DIR = "keyframes"
TEST_SHOTS_FILE = "test_shots.txt"
QRELS_FILE = "qrels.txt"
TEST_LABELS_FILE = "test_labels.tsv"
MAX_RESULTS = 2000  # TRECVID SIN 2013 run depth (METHODS.md 1.3)

LAYOUT = f"""\
Expected layout of a TRECVID SIN 2013 data root (all text files UTF-8, LF or CRLF):

  {CONCEPTS_FILE:<24}  the 60 trained concepts, one '<conceptId> <Name>' per line
                            (SIN numbering, e.g. '3 Airplane'; names without spaces are best,
                            spaces become '_')
  {ANNOTATION_DIR}/<conceptId>.ann
                            collaborative annotation of one concept, one '<shotId> <label>' per
                            line, label P (positive), N (negative), S (skipped) or 1/0/-1;
                            shots not listed are 'not annotated' (-1); several judgments of one
                            shot combine as P > N > S. The training split = every annotated shot.
  {KEYFRAME_DIR}/<videoId>/shot<videoId>_<shotNo>.jpg
                            one reference keyframe per master shot (.jpg/.jpeg/.png), for the
                            IACC.1 training shots and the IACC.2.A test shots
  {KEYFRAME_DIR}/<videoId>/shot<videoId>_<shotNo>_<frameNo>.jpg
                            optional: several frames of a shot (e.g. one every 30 frames),
                            ordered by frame number: the shot's frame sequence (pooled, or kept
                            per frame by sequence methods); without the file above the middle
                            one is the shot's reference keyframe
  {TEST_SHOTS_FILE:<24}  the IACC.2.A master shot reference: one shot id per line (the
                            shots every run ranks)
  {QRELS_FILE:<24}  NIST qrels, 'concept 0 shotId stratum judgment' (judgment 1/0/-1);
                            the evaluated concepts are the topics present (38 in 2013). Topic
                            ids may be written as the concept id or as 1000 + concept id (one
                            convention per file); the harness maps them onto {CONCEPTS_FILE}.
  {TEST_LABELS_FILE:<24}  optional: complete test ground truth (only miniatures have it):
                            tab-separated header 'shot <Name...>' then '<shotId> <0|1...>' rows

Shot ids are NIST master shot ids 'shot<videoId>_<shotNo>'; video ids group shots for leak-free
validation splits."""

DESCRIPTION = f"""\
trecvid2013: TRECVID 2013 Semantic Indexing (SIN), used by DMTL_LC and its baselines.

Where to get it: the IACC.1/IACC.2.A videos and master shot reference, the collaborative
annotation and the SIN 2013 qrels are distributed by NIST to TRECVID participants
(https://trecvid.nist.gov; data use agreement required; the Internet Archive videos are Creative
Commons, NIST's annotations/qrels are for research use). Keyframes: extract one reference frame
per master shot (e.g. the middle frame) with the tool of your choice.

{LAYOUT}

Protocol: rank the test shots for every trained concept, keep the top {MAX_RESULTS}, and score
MXinfAP (%, TRECVID adjustment on) over the qrels' concepts. 'harness data verify trecvid2013
--data-root DIR' checks a copy."""


def load_sin(adapter: DatasetAdapter, root: Path, *, name: str, is_miniature: bool, info: dict[str, Any]) -> Dataset:
    """Read a SIN 2013 data root in the layout of :data:`LAYOUT`."""
    adapter_name = getattr(adapter, "name", name)
    concept_list = tc.read_id_names(root / CONCEPTS_FILE, "concept list (concepts.txt)", adapter_name)
    names = tuple(tc.concept_token(c.name) for c in concept_list)
    if len(set(names)) != len(names):
        dup = next(n for n in names if names.count(n) > 1)
        raise DataError(f"{root / CONCEPTS_FILE}: concept name {dup!r} appears twice; names must be unique.")
    ids = [c.id for c in concept_list]
    index = tc.shot_keyframes(root, KEYFRAME_DIR)
    keyframes = index.reference

    per_concept = []
    for c in concept_list:
        path = root / ANNOTATION_DIR / f"{c.id}.ann"
        tc.require_file(path, f"annotation file of concept {c.id} ({c.name})", adapter_name)
        per_concept.append(tc.read_annotation(path))
    train_shots = sorted(set().union(*per_concept), key=tc.shot_key)
    tc.missing_keyframes(train_shots, keyframes, "the annotation", adapter_name)
    row = {s: i for i, s in enumerate(train_shots)}
    labels = np.full((len(train_shots), len(ids)), -1, dtype=np.int8)
    for j, ann in enumerate(per_concept):
        for shot, value in ann.items():
            labels[row[shot], j] = value

    test_shots = tc.read_shot_list(root / TEST_SHOTS_FILE, "test master shot reference", adapter_name)
    tc.missing_keyframes(test_shots, keyframes, TEST_SHOTS_FILE, adapter_name)
    qrels = tc.read_qrels_info(root / QRELS_FILE, ids, CONCEPTS_FILE, adapter_name)
    outside = qrels.shots - set(test_shots)
    if outside:
        log.warning("%d judged shots of %s are not in %s (e.g. %s); they cannot be retrieved",
                    len(outside), QRELS_FILE, TEST_SHOTS_FILE, sorted(outside)[0])  # fmt: skip
    name_of = dict(zip(ids, names, strict=True))
    judged = set(qrels.topics)
    eval_concepts = tuple(name_of[i] for i in ids if i in judged)
    qrels_path = tc.normalised_qrels(root / QRELS_FILE, name_of, qrels.offset)

    test_labels = None
    if (root / TEST_LABELS_FILE).is_file():
        test_labels = tc.read_label_table(root / TEST_LABELS_FILE, test_shots, names)
    text_files = [CONCEPTS_FILE, TEST_SHOTS_FILE, QRELS_FILE, *[f"{ANNOTATION_DIR}/{i}.ann" for i in ids]]
    if test_labels is not None:
        text_files.append(TEST_LABELS_FILE)
    manifest = manifest_hash(root, [*text_files, *index.files()], content=text_files)

    def split(shots: list[str], lab: np.ndarray | None) -> Split:
        return Split(
            ids=np.asarray(shots),
            groups=np.asarray([tc.video_of(s) for s in shots]),
            labels=lab,
            paths=tuple(str(root / keyframes[s]) for s in shots),
            frame_paths=tuple(tuple(str(root / f) for f in index.frames[s]) for s in shots),
        )

    protocol = Protocol(
        metric="mxinfap",
        eval_concepts=eval_concepts,
        qrels_path=qrels_path,
        max_results=MAX_RESULTS,
        extra_metrics=("map",) if test_labels is not None else (),
        options={"trecvid_adjust": True},
    )
    stats = {
        "n_concepts": len(ids),
        "n_eval_concepts": len(eval_concepts),
        "n_train_shots": len(train_shots),
        "n_test_shots": len(test_shots),
        "n_keyframes": sum(len(index.frames[s]) for s in {*train_shots, *test_shots}),
        "n_positive_labels": int((labels == 1).sum()),
        "n_negative_labels": int((labels == 0).sum()),
        "qrels_topic_offset": qrels.offset,
        "qrels_source": str(root / QRELS_FILE),
        "concept_ids": tuple(ids),
    }
    log.info("loaded %s from %s: %s", name, root, {k: v for k, v in stats.items() if k != "concept_ids"})
    return Dataset(
        name=name, task="multilabel", concepts=names,
        train=split(train_shots, labels), test=split(test_shots, test_labels),
        protocol=protocol, manifest_hash=manifest, root=root, is_miniature=is_miniature,
        info={**stats, **info},
    )  # fmt: skip


def verify_sin(root: Path, adapter_name: str) -> list[str]:
    """Missing / extra / malformed / corrupt files of a SIN data root (empty list = OK)."""
    report = Report()
    root = Path(root)
    if not root.is_dir():
        return [f"missing: data root {root} does not exist"]
    ids: list[int] = []
    for rel in (CONCEPTS_FILE, TEST_SHOTS_FILE, QRELS_FILE):
        if not (root / rel).is_file():
            report.add("missing", rel)
    try:
        ids = [c.id for c in tc.read_id_names(root / CONCEPTS_FILE, "concept list", adapter_name)]
    except HarnessError as exc:
        if (root / CONCEPTS_FILE).is_file():
            report.add("malformed", str(exc))
    index = tc.shot_keyframes(root, KEYFRAME_DIR)
    keyframes, strays = index.reference, index.strays
    needed: set[str] = set()
    for cid in ids:
        path = root / ANNOTATION_DIR / f"{cid}.ann"
        if not path.is_file():
            report.add("missing", f"{ANNOTATION_DIR}/{cid}.ann (concept {cid} of {CONCEPTS_FILE})")
            continue
        try:
            needed.update(tc.read_annotation(path))
        except HarnessError as exc:
            report.add("malformed", str(exc))
    expected_ann = {f"{ANNOTATION_DIR}/{cid}.ann" for cid in ids}
    for rel in list_files(root, ANNOTATION_DIR):
        if rel not in expected_ann:
            report.add("extra", f"{rel} (no concept with this id in {CONCEPTS_FILE})")
    if (root / TEST_SHOTS_FILE).is_file():
        try:
            needed.update(tc.read_shot_list(root / TEST_SHOTS_FILE, "test shots", adapter_name))
        except HarnessError as exc:
            report.add("malformed", str(exc))
    if ids and (root / QRELS_FILE).is_file():
        try:
            tc.read_qrels_info(root / QRELS_FILE, ids, CONCEPTS_FILE, adapter_name)
        except HarnessError as exc:
            report.add("malformed", str(exc))
    for shot in sorted(needed - set(keyframes), key=tc.shot_key):
        report.add("missing", f"{KEYFRAME_DIR}/{tc.video_of(shot)}/{shot}.jpg (keyframe of an annotated or test shot)")
    report.extend("extra", (f"{s} ({tc.STRAY_NOTE})" for s in strays))
    known_top = {CONCEPTS_FILE, TEST_SHOTS_FILE, QRELS_FILE, TEST_LABELS_FILE}
    for rel in list_files(root):
        top, _, below = rel.partition("/")
        if (rel in known_top) if not below else (top in (ANNOTATION_DIR, KEYFRAME_DIR)):
            continue
        report.add("extra", rel)
    report.extend("corrupt", tc.corrupt_images(root, index.files()))
    return report.problems()


@register_dataset("trecvid2013")
class TrecvidSin2013(DatasetAdapter):
    """TRECVID 2013 SIN, read from the user's copy (see ``describe``)."""

    summary = "TRECVID 2013 Semantic Indexing: 60 trained / 38 evaluated concepts, MXinfAP (real data)"
    task = "multilabel"

    def describe(self) -> str:
        return DESCRIPTION

    def load(self, root: Path | None, config: Any = None) -> Dataset:
        path = resolve_root(self, root)
        return load_sin(self, path, name="trecvid2013", is_miniature=False, info={"default_backbone": "alexnet"})

    def verify(self, root: Path) -> list[str]:
        return verify_sin(root, "trecvid2013")


# --------------------------------------------------------------------------------------------
# The miniature
# --------------------------------------------------------------------------------------------

MINI_VERSION = 1
MINI_SIZES = {"train_videos": 120, "train_shots": 2500, "test_videos": 70, "test_shots": 1500, "eval_concepts": 38}
MINI_ANNOTATED = 0.75  # share of (shot, concept) pairs with a P/N judgment; the rest S or absent
MINI_STRATA = ((100, 1.0), (200, 0.5), (300, 0.2))  # (depth, sampling rate) of the simulated pool
MINI_TRAIN_VIDEO0, MINI_TEST_VIDEO0 = 1, 35001

MINI_DESCRIPTION = f"""\
trecvid2013-mini: a synthetic miniature of TRECVID SIN 2013, written in exactly the layout below
and read by the real 'trecvid2013' adapter. Generated deterministically from a seed (default 0)
into $HARNESS_HOME/datasets/ on first use (a few seconds); results on it are labelled miniature.

How it is made (datasets/_trecvid_mini.py): 64x64 JPEG keyframes drawn from the primitives of
the synthetic source domain on which 'mini_alexnet' is pretrained (harness/synthetic_source.py):
a latent scene type (10: beach, sea, field, snowfield, city, night_city, night_field, office,
studio, forest = two background textures split at a horizon) with 1-5 coloured shapes and
distractors. 60 concepts: 12 scene concepts (functions of the scene type, e.g. outdoor, nighttime,
beach) + 48 objects (12 shapes x red/yellow/green/blue). Correlations: each video has a dominant
scene (70 % of its shots), scenes prefer some objects, objects have companions. Sizes:
{MINI_SIZES['train_shots']} training shots from {MINI_SIZES['train_videos']} videos, {MINI_SIZES['test_shots']} test shots from
{MINI_SIZES['test_videos']} videos; objects ~5 % positive (about 17:1 negatives). Annotation: {MINI_ANNOTATED:.0%} of the
(shot, concept) pairs judged P/N, the rest S or absent (-1). Qrels for {MINI_SIZES['eval_concepts']} concepts: a noisy
ranking of the test shots is pooled and sampled in 3 strata (top 100 all judged, next 200 at 50 %,
next 300 at 20 %; unsampled pool items -1), topics written as 1000 + concept id. The complete
test ground truth is in {TEST_LABELS_FILE}, so plain MAP is reported too.

{LAYOUT}"""


def write_sin_mini(directory: Path, seed: int = 0) -> dict[str, Any]:
    """Write the SIN miniature into ``directory`` (created); returns counts for the cache entry."""
    from PIL import Image

    from datasets import _trecvid_mini as tm

    directory = Path(directory)
    gen = np.random.default_rng(seed)
    world = tm.World.make(gen)
    names = tm.CONCEPT_NAMES
    concept_ids = list(range(1, len(names) + 1))

    def shots_for(n_videos: int, n_shots: int, video0: int) -> tuple[list[str], np.ndarray]:
        shots, labels = [], []
        for v, count in enumerate(tm.shot_counts(n_videos, n_shots, gen)):
            video = str(video0 + v)
            (directory / KEYFRAME_DIR / video).mkdir(parents=True, exist_ok=True)
            for k, scene in enumerate(tm.video_scenes(count, gen), start=1):
                shot = f"shot{video}_{k}"
                img, lab = tm.draw_shot(world, scene, gen)
                Image.fromarray(img).save(directory / KEYFRAME_DIR / video / f"{shot}.jpg", quality=90)
                shots.append(shot)
                labels.append(lab)
        return shots, np.stack(labels)

    s = MINI_SIZES
    train_shots, train_truth = shots_for(s["train_videos"], s["train_shots"], MINI_TRAIN_VIDEO0)
    test_shots, test_truth = shots_for(s["test_videos"], s["test_shots"], MINI_TEST_VIDEO0)

    (directory / CONCEPTS_FILE).write_text("".join(f"{i} {n}\n" for i, n in zip(concept_ids, names, strict=True)))
    (directory / ANNOTATION_DIR).mkdir(parents=True, exist_ok=True)
    letters = {1: "P", 0: "N"}
    for j, cid in enumerate(concept_ids):
        lines = []
        for i, shot in enumerate(train_shots):
            u = gen.random()
            if u < MINI_ANNOTATED:
                lines.append(f"{shot} {letters[int(train_truth[i, j])]}\n")
            elif u < MINI_ANNOTATED + (1 - MINI_ANNOTATED) / 2:
                lines.append(f"{shot} S\n")
        (directory / ANNOTATION_DIR / f"{cid}.ann").write_text("".join(lines))
    (directory / TEST_SHOTS_FILE).write_text("".join(f"{shot}\n" for shot in test_shots))
    header = "\t".join(["shot", *names])
    rows = ["\t".join([shot, *map(str, test_truth[i].tolist())]) for i, shot in enumerate(test_shots)]
    (directory / TEST_LABELS_FILE).write_text("\n".join([header, *rows]) + "\n")

    # Evaluated concepts: a random 38 of those with at least 5 test positives, in id order.
    order = gen.permutation(len(names))
    eligible = [int(j) for j in order if test_truth[:, j].sum() >= 5]
    evaluated = sorted(eligible[: s["eval_concepts"]])
    qrels = []
    for j in evaluated:
        for i, stratum, judgment in tm.pooled_strata(test_truth[:, j], gen, MINI_STRATA):
            qrels.append(f"{1000 + concept_ids[j]} 0 {test_shots[i]} {stratum} {judgment}\n")
    (directory / QRELS_FILE).write_text("".join(qrels))
    return {
        "train_shots": len(train_shots),
        "test_shots": len(test_shots),
        "eval_concepts": len(evaluated),
        "train_positive_rate": round(float(train_truth.mean()), 4),
        "qrels_lines": len(qrels),
    }


@register_dataset("trecvid2013-mini")
class TrecvidSin2013Mini(TrecvidSin2013):
    """The SIN 2013 miniature: generated into the cache, read by the real adapter."""

    summary = "synthetic miniature of TRECVID 2013 SIN (60/38 concepts, qrels in strata), generated on first use"
    is_miniature = True

    @dataclass(frozen=True)
    class Config:
        seed: int = param(0, Interval(0, None), "seed of the miniature's generator")

    def describe(self) -> str:
        return MINI_DESCRIPTION

    def make_mini(self, directory: Path, seed: int = 0) -> dict[str, Any]:
        return write_sin_mini(Path(directory), seed)

    def default_root(self) -> Path | None:
        return None

    def load(self, root: Path | None, config: Any = None) -> Dataset:
        seed = int(getattr(config, "seed", 0))
        if root is None:
            folder = mini_folder("trecvid2013-mini", MINI_VERSION, seed, lambda d, s: write_sin_mini(d / "data", s))
            root = folder / "data"
        return load_sin(self, Path(root), name="trecvid2013-mini", is_miniature=True,
                        info={"default_backbone": "mini_alexnet", "seed": seed})  # fmt: skip

    def verify(self, root: Path) -> list[str]:
        return verify_sin(root, "trecvid2013-mini")

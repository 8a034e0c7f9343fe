"""``trecvid-avs2016``: TRECVID 2016 Ad-hoc Video Search (AVS) on IACC.3, and ``trecvid-avs2016-mini``.

METHODS.md 3.2 / 1.4: 30 free-text queries (topics 501-530), runs of at most 1000 IACC.3 master
shots per query, scored by mean xinfAP against NIST's stratified-sampling qrels. There is no
training split: AVS methods (microNN) build their detectors from other annotated data and map
each query onto concepts. The data set's "concepts" are the topic ids (``"501"`` ...), so that
the qrels' topic field names them directly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datasets import _trecvid_common as tc
from datasets._common import (
    Report,
    bad_line,
    list_files,
    manifest_hash,
    mini_folder,
    numbered_lines,
    resolve_root,
)
from harness.api import Dataset, DatasetAdapter, Protocol, Split, register_dataset
from harness.errors import DataError, HarnessError
from harness.params import Interval, param

log = logging.getLogger(__name__)

TOPICS_FILE = "topics.txt"
SHOTS_FILE = "shots.txt"
KEYFRAME_DIR = "keyframes"
QRELS_FILE = "qrels.txt"
QUERY_CONCEPTS_FILE = "query_concepts.txt"
TEST_LABELS_FILE = "test_labels.tsv"
MAX_RESULTS = 1000  # AVS 2016 run depth (METHODS.md 1.4)

LAYOUT = f"""\
Expected layout of a TRECVID AVS 2016 data root (text files UTF-8, LF or CRLF):

  {TOPICS_FILE:<24}  the queries, one '<topicId> <free text>' per line (NIST's
                            tv16.avs.txt: topics 501-530)
  {SHOTS_FILE:<24}  the IACC.3 master shot reference: one shot id per line (the shots
                            every run ranks)
  {KEYFRAME_DIR}/<videoId>/shot<videoId>_<shotNo>.jpg
                            one reference keyframe per master shot (.jpg/.jpeg/.png)
  {KEYFRAME_DIR}/<videoId>/shot<videoId>_<shotNo>_<frameNo>.jpg
                            optional (microNN reads one frame every 30): several frames of a
                            shot, ordered by frame number: the shot's frame sequence; with
                            them the reference keyframe may be left out (the middle frame is
                            then the reference)
  {QRELS_FILE:<24}  NIST AVS qrels, 'topicId 0 shotId stratum judgment' (1/0/-1); every
                            topic must be one of {TOPICS_FILE}
  {QUERY_CONCEPTS_FILE:<24}  optional: the manually chosen concepts of each query (run type 'M'),
                            '<topicId> <concept> [<concept> ...]' per line
  {TEST_LABELS_FILE:<24}  optional: complete ground truth (only miniatures have it): header
                            'shot <topicId...>' then '<shotId> <0|1...>' rows, tab-separated"""

DESCRIPTION = f"""\
trecvid-avs2016: TRECVID 2016 Ad-hoc Video Search, used by microNN (test collection only).

Where to get it: the IACC.3 videos, master shot reference and the AVS 2016 qrels are distributed
by NIST to TRECVID participants (https://trecvid.nist.gov; data use agreement; the Internet
Archive videos are Creative Commons). The topic file tv16.avs.txt is public. Keyframes: extract
one reference frame per master shot, or one frame every 30 frames of each shot (METHODS.md 2.7).

{LAYOUT}

Protocol: rank the shots for every topic, keep the top {MAX_RESULTS}, score mean xinfAP ('mxinfap',
in %, TRECVID adjustment on)."""


def read_query_concepts(path: Path, topics: set[int]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for number, line in numbered_lines(path):
        fields = line.split()
        if len(fields) < 2 or not fields[0].isdigit():
            raise bad_line(path, number, line, "'<topicId> <concept> [<concept> ...]'")
        if int(fields[0]) not in topics:
            raise bad_line(path, number, line, f"a topic id of {TOPICS_FILE}")
        out[fields[0]] = tuple(fields[1:])
    return out


def load_avs(adapter: DatasetAdapter, root: Path, *, name: str, is_miniature: bool, info: dict[str, Any]) -> Dataset:
    """Read an AVS 2016 data root in the layout of :data:`LAYOUT`."""
    adapter_name = getattr(adapter, "name", name)
    topics = tc.read_id_names(root / TOPICS_FILE, "topic file (topics.txt)", adapter_name)
    topic_ids = [t.id for t in topics]
    concepts = tuple(str(t) for t in topic_ids)
    shots = tc.read_shot_list(root / SHOTS_FILE, "IACC.3 master shot reference", adapter_name)
    index = tc.shot_keyframes(root, KEYFRAME_DIR)
    keyframes = index.reference
    tc.missing_keyframes(shots, keyframes, SHOTS_FILE, adapter_name)
    qrels = tc.read_qrels_info(root / QRELS_FILE, topic_ids, TOPICS_FILE, adapter_name)
    if qrels.offset != 0:
        raise DataError(
            f"{root / QRELS_FILE}: topic ids must be those of {TOPICS_FILE} (e.g. {topic_ids[0]}); "
            f"found them only as 1000 + id."
        )
    judged = set(qrels.topics)
    text_files = [TOPICS_FILE, SHOTS_FILE, QRELS_FILE]
    query_concepts: dict[str, tuple[str, ...]] = {}
    if (root / QUERY_CONCEPTS_FILE).is_file():
        query_concepts = read_query_concepts(root / QUERY_CONCEPTS_FILE, set(topic_ids))
        text_files.append(QUERY_CONCEPTS_FILE)
    labels = None
    if (root / TEST_LABELS_FILE).is_file():
        labels = tc.read_label_table(root / TEST_LABELS_FILE, shots, concepts)
        text_files.append(TEST_LABELS_FILE)
    manifest = manifest_hash(root, [*text_files, *index.files()], content=text_files)
    test = Split(
        ids=np.asarray(shots),
        groups=np.asarray([tc.video_of(s) for s in shots]),
        labels=labels,
        paths=tuple(str(root / keyframes[s]) for s in shots),
        frame_paths=tuple(tuple(str(root / f) for f in index.frames[s]) for s in shots),
    )
    # No training data in AVS: an empty split with the right label width keeps the API uniform.
    train = Split(ids=np.asarray([], dtype=str), groups=np.asarray([], dtype=str),
                  labels=np.zeros((0, len(concepts)), np.int8), paths=(), frame_paths=())  # fmt: skip
    protocol = Protocol(
        metric="mxinfap",
        eval_concepts=tuple(c for c in concepts if int(c) in judged),
        qrels_path=root / QRELS_FILE,
        max_results=MAX_RESULTS,
        extra_metrics=("map",) if labels is not None else (),
        options={"trecvid_adjust": True},
    )
    stats = {"n_topics": len(concepts), "n_judged_topics": len(judged), "n_shots": len(shots),
             "n_keyframes": sum(len(index.frames[s]) for s in shots)}  # fmt: skip
    log.info("loaded %s from %s: %s", name, root, stats)
    return Dataset(
        name=name, task="multilabel", concepts=concepts, train=train, test=test, protocol=protocol,
        manifest_hash=manifest, root=root, is_miniature=is_miniature,
        info={**stats, "topics": {str(t.id): t.name for t in topics}, "query_concepts": query_concepts, **info},
    )  # fmt: skip


def verify_avs(root: Path, adapter_name: str) -> list[str]:
    """Missing / extra / malformed / corrupt files of an AVS data root (empty list = OK)."""
    report = Report()
    root = Path(root)
    if not root.is_dir():
        return [f"missing: data root {root} does not exist"]
    for rel in (TOPICS_FILE, SHOTS_FILE, QRELS_FILE):
        if not (root / rel).is_file():
            report.add("missing", rel)
    topic_ids: list[int] = []
    shots: list[str] = []
    try:
        topic_ids = [t.id for t in tc.read_id_names(root / TOPICS_FILE, "topic file", adapter_name)]
        shots = tc.read_shot_list(root / SHOTS_FILE, "shot list", adapter_name)
        tc.read_qrels_info(root / QRELS_FILE, topic_ids, TOPICS_FILE, adapter_name)
        if (root / QUERY_CONCEPTS_FILE).is_file():
            read_query_concepts(root / QUERY_CONCEPTS_FILE, set(topic_ids))
    except HarnessError as exc:
        if "not found" not in str(exc):
            report.add("malformed", str(exc))
    index = tc.shot_keyframes(root, KEYFRAME_DIR)
    keyframes, strays = index.reference, index.strays
    for shot in shots:
        if shot not in keyframes:
            report.add("missing", f"{KEYFRAME_DIR}/{tc.video_of(shot)}/{shot}.jpg (keyframe of a listed shot)")
    report.extend("extra", (f"{s} ({tc.STRAY_NOTE})" for s in strays))
    known_top = {TOPICS_FILE, SHOTS_FILE, QRELS_FILE, QUERY_CONCEPTS_FILE, TEST_LABELS_FILE}
    for rel in list_files(root):
        top, _, below = rel.partition("/")
        if (rel in known_top) if not below else (top == KEYFRAME_DIR):
            continue
        report.add("extra", rel)
    report.extend("corrupt", tc.corrupt_images(root, index.files()))
    return report.problems()


@register_dataset("trecvid-avs2016")
class TrecvidAvs2016(DatasetAdapter):
    """TRECVID AVS 2016 (IACC.3, topics 501-530), read from the user's copy (see ``describe``)."""

    summary = "TRECVID 2016 Ad-hoc Video Search: 30 queries on IACC.3, mean xinfAP (real data, test only)"
    task = "multilabel"

    def describe(self) -> str:
        return DESCRIPTION

    def load(self, root: Path | None, config: Any = None) -> Dataset:
        path = resolve_root(self, root)
        return load_avs(self, path, name="trecvid-avs2016", is_miniature=False, info={"default_backbone": "vgg16"})

    def verify(self, root: Path) -> list[str]:
        return verify_avs(root, "trecvid-avs2016")


# --------------------------------------------------------------------------------------------
# The miniature
# --------------------------------------------------------------------------------------------

MINI_VERSION = 2  # v2: several frames per shot (one every 30 video frames) instead of one keyframe
MINI_SIZES = {"videos": 60, "shots": 1500}
MINI_VIDEO0 = 36001
MINI_STRATA = ((100, 1.0), (200, 0.5), (300, 0.2))
MINI_FRAME_STEP = 30  # video frames between two extracted frames (METHODS.md 2.7)
MINI_SHOT_FRAMES = (60, 180)  # shot lengths in video frames (2-6 s at 30 fps): 2-6 extracted frames
MINI_DESCRIPTION = f"""\
trecvid-avs2016-mini: a synthetic miniature of TRECVID AVS 2016 in the layout below, read by the
real 'trecvid-avs2016' adapter; generated deterministically from a seed into $HARNESS_HOME on
first use.

How it is made (datasets/trecvid_avs2016.py, datasets/_trecvid_mini.py): {MINI_SIZES['shots']} shots from
{MINI_SIZES['videos']} videos drawn from the same latent world as trecvid2013-mini with the same seed (same
scenes, objects and co-occurrences), so detectors trained on that miniature's 60 concepts answer
these queries. Each shot lasts {MINI_SHOT_FRAMES[0]}-{MINI_SHOT_FRAMES[1]} video frames and is stored as its frames taken one
every {MINI_FRAME_STEP} (keyframes/<videoId>/shot<videoId>_<shotNo>_<frameNo>.jpg, frameNo counted in the video;
2-6 per shot, no separate reference keyframe: the middle frame is the reference): the same scene
and objects throughout, the shapes drifting and turning and the camera panning. 30 topics
501-530, each a conjunction of two of those concepts written as text in the tv16.avs.txt style
('a red circle in an outdoor scene', 'a blue star together with a yellow ring');
{QUERY_CONCEPTS_FILE} lists the two concepts (a manually assisted 'M' mapping). Qrels: a noisy
ranking is pooled and sampled in 3 strata (top 100 all judged, next 200 at 50 %, next 300 at
20 %, unsampled pool items -1). {TEST_LABELS_FILE} holds the complete ground truth.

{LAYOUT}"""


def _topics(world: Any, gen: np.random.Generator) -> list[tuple[str, str, str]]:
    """30 (concept a, concept b, text) conjunctions: object + scene, and object + its companion."""
    from datasets import _trecvid_mini as tm

    scene_text = {"outdoor": "in an outdoor scene", "indoor": "indoors", "nighttime": "at night",
                  "sky": "under the sky", "beach": "on a beach", "waterscape": "by the sea",
                  "fields": "in a field", "snow": "in the snow", "urban": "in a city",
                  "office": "in an office", "studio": "in a studio", "forest": "in a forest"}  # fmt: skip
    broad = ("outdoor", "indoor", "sky", "urban", "nighttime", "fields")
    objects = list(gen.permutation(len(tm.OBJECTS)))
    out = []
    for k in range(30):
        o = int(objects[k])
        colour, shape = tm.OBJECTS[o].split("_", 1)
        if k % 3 == 2:  # object + companion: correlated pairs
            c = int(world.companion[o])
            c_colour, c_shape = tm.OBJECTS[c].split("_", 1)
            out.append((f"obj_{tm.OBJECTS[o]}", f"obj_{tm.OBJECTS[c]}",
                        f"a {colour} {shape} together with a {c_colour} {c_shape}"))  # fmt: skip
        else:
            scene = broad[int(gen.integers(len(broad)))]
            out.append((f"obj_{tm.OBJECTS[o]}", f"scene_{scene}", f"a {colour} {shape} {scene_text[scene]}"))
    return out


def write_avs_mini(directory: Path, seed: int = 0) -> dict[str, Any]:
    """Write the AVS miniature into ``directory``; returns counts for the cache entry."""
    from PIL import Image

    from datasets import _trecvid_mini as tm

    directory = Path(directory)
    world = tm.World.make(np.random.default_rng(seed))  # the trecvid2013-mini world of this seed
    gen = np.random.default_rng([seed, 2016])
    topics = _topics(world, gen)
    index = {n: j for j, n in enumerate(tm.CONCEPT_NAMES)}
    shots, truth, n_frames = [], [], 0
    for v, count in enumerate(tm.shot_counts(MINI_SIZES["videos"], MINI_SIZES["shots"], gen)):
        video = str(MINI_VIDEO0 + v)
        (directory / KEYFRAME_DIR / video).mkdir(parents=True, exist_ok=True)
        first = 0  # the shot's first frame in the video
        for k, scene in enumerate(tm.video_scenes(count, gen), start=1):
            shot = f"shot{video}_{k}"
            length = int(gen.integers(MINI_SHOT_FRAMES[0], MINI_SHOT_FRAMES[1] + 1))
            starts = range(first, first + length, MINI_FRAME_STEP)
            frames, lab = tm.draw_shot_frames(world, scene, gen, len(starts))
            for frame_no, img in zip(starts, frames, strict=True):
                Image.fromarray(img).save(directory / KEYFRAME_DIR / video / f"{shot}_{frame_no}.jpg", quality=90)
            first += length
            n_frames += len(frames)
            shots.append(shot)
            truth.append([int(lab[index[a]] and lab[index[b]]) for a, b, _ in topics])
    labels = np.asarray(truth, dtype=np.int8)
    ids = [501 + k for k in range(len(topics))]
    (directory / TOPICS_FILE).write_text("".join(f"{i} {t}\n" for i, (_, _, t) in zip(ids, topics, strict=True)))
    (directory / QUERY_CONCEPTS_FILE).write_text(
        "".join(f"{i} {a} {b}\n" for i, (a, b, _) in zip(ids, topics, strict=True))
    )
    (directory / SHOTS_FILE).write_text("".join(f"{s}\n" for s in shots))
    header = "\t".join(["shot", *map(str, ids)])
    rows = ["\t".join([s, *map(str, labels[i].tolist())]) for i, s in enumerate(shots)]
    (directory / TEST_LABELS_FILE).write_text("\n".join([header, *rows]) + "\n")
    qrels = []
    for j, topic in enumerate(ids):
        for i, stratum, judgment in tm.pooled_strata(labels[:, j], gen, MINI_STRATA):
            qrels.append(f"{topic} 0 {shots[i]} {stratum} {judgment}\n")
    (directory / QRELS_FILE).write_text("".join(qrels))
    return {"shots": len(shots), "frames": n_frames, "topics": len(ids), "positives_per_topic_min": int(labels.sum(0).min())}


@register_dataset("trecvid-avs2016-mini")
class TrecvidAvs2016Mini(TrecvidAvs2016):
    """The AVS 2016 miniature: generated into the cache, read by the real adapter."""

    summary = "synthetic miniature of TRECVID AVS 2016 (30 conjunctive queries, qrels in strata)"
    is_miniature = True

    @dataclass(frozen=True)
    class Config:
        seed: int = param(0, Interval(0, None), "seed of the miniature's generator (same world as trecvid2013-mini)")

    def describe(self) -> str:
        return MINI_DESCRIPTION

    def make_mini(self, directory: Path, seed: int = 0) -> dict[str, Any]:
        return write_avs_mini(Path(directory), seed)

    def default_root(self) -> Path | None:
        return None

    def load(self, root: Path | None, config: Any = None) -> Dataset:
        seed = int(getattr(config, "seed", 0))
        if root is None:
            folder = mini_folder("trecvid-avs2016-mini", MINI_VERSION, seed, lambda d, s: write_avs_mini(d / "data", s))
            root = folder / "data"
        return load_avs(self, Path(root), name="trecvid-avs2016-mini", is_miniature=True,
                        info={"default_backbone": "mini_alexnet", "seed": seed})  # fmt: skip

    def verify(self, root: Path) -> list[str]:
        return verify_avs(root, "trecvid-avs2016-mini")

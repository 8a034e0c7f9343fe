"""``coview2019`` and ``coview2019-mini``: CoVieW 2019 untrimmed videos cut into 5-s segments.

Every 5-second segment of a training video carries a scene class (78), an action class (99) and
an importance score in [0, 2] relative to the other segments of its video (METHODS.md 3.8). The
seed does not describe the release format and no 2019 annotation file is public, so the adapter
reads the per-segment table METHODS.md adopts::

    ROOT/videos/<video_id>.<ext>                 untrimmed videos (.mp4, .avi, .mkv, .webm ...)
    ROOT/annotations/train_segments.csv          video_id,segment_index,start_s,end_s,scene_id,action_id,importance
    ROOT/annotations/scene_classes.txt           "id name", ids 1..78
    ROOT/annotations/action_classes.txt          "id name", ids 1..99
    ROOT/annotations/test_videos.txt             (optional) ids of the unlabelled test videos

Class ids in the table are 1-based (as in the CoVieW 2018 release); ``load`` returns 0-based
class indices. Segment ``k`` spans ``[5k, 5k + 5)`` seconds; the last one of a video may be shorter.

There is no official validation set: the seed held out 200 of the 1200 training videos, label-
balanced, unpublished [AMB-45]. ``load`` makes that split deterministically (seed 0) at video
level, stratified by each video's most frequent scene; ``test`` is this validation split (the
official test labels are withheld by the organisers).
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datasets import _common, _synth
from harness.api import Dataset, DatasetAdapter, Protocol, Split, register_dataset
from harness.errors import DataError, MissingDataError
from harness.params import Interval, Options, param
from harness.seeding import rng

log = logging.getLogger(__name__)

COLUMNS = ("video_id", "segment_index", "start_s", "end_s", "scene_id", "action_id", "importance")
TABLE = "annotations/train_segments.csv"
SCENE_FILE = "annotations/scene_classes.txt"
ACTION_FILE = "annotations/action_classes.txt"
TEST_FILE = "annotations/test_videos.txt"
VIDEO_DIR = "videos"
SEGMENT_S = 5.0
MAX_IMPORTANCE = 2.0
OFFICIAL = {"n_scene": 78, "n_action": 99, "train_videos": 1200, "test_videos": 300}
_TOL = 1e-3


@dataclass(frozen=True)
class Segment:
    video: str
    index: int
    start_s: float
    end_s: float
    scene: int  # 1-based id as in the table
    action: int
    importance: float
    line: int


def read_classes(path: Path) -> list[str]:
    """``id name`` lines with ids 1..n in order -> names."""
    names: list[str] = []
    for number, line in _common.numbered_lines(path):
        parts = line.split(maxsplit=1)
        if len(parts) != 2 or not parts[0].isdigit():
            raise _common.bad_line(path, number, line, "2 fields 'id name'")
        if int(parts[0]) != len(names) + 1:
            raise _common.bad_line(path, number, line, f"class id {len(names) + 1} (ids count up from 1)")
        names.append(parts[1].strip())
    if not names:
        raise DataError(f"{path}: no classes")
    return names


def read_segment_table(path: Path, n_scene: int, n_action: int) -> dict[str, list[Segment]]:
    """The per-segment table, checked line by line; returns segments per video in index order.

    Raises:
        DataError: wrong field count, unparsable numbers, ids out of range, importance outside
            [0, 2], segment times off the 5-s grid, duplicate or missing segment indices
            (file:line in the message).
    """
    videos: dict[str, list[Segment]] = defaultdict(list)
    for number, line in _common.numbered_lines(path):
        fields = [f.strip() for f in line.split(",")]
        if number == 1 and fields and fields[0] == COLUMNS[0]:
            if tuple(fields) != COLUMNS:
                raise _common.bad_line(path, number, line, f"the header {','.join(COLUMNS)}")
            continue
        if len(fields) != len(COLUMNS):
            raise _common.bad_line(path, number, line, f"{len(COLUMNS)} comma-separated fields ({','.join(COLUMNS)}), "
                                                       f"found {len(fields)}")  # fmt: skip
        try:
            seg = Segment(fields[0], int(fields[1]), float(fields[2]), float(fields[3]), int(fields[4]),
                          int(fields[5]), float(fields[6]), number)  # fmt: skip
        except ValueError:
            raise _common.bad_line(path, number, line, "integers for segment_index/scene_id/action_id and numbers "
                                                       "for start_s/end_s/importance") from None  # fmt: skip
        if not seg.video:
            raise _common.bad_line(path, number, line, "a non-empty video_id")
        if not 1 <= seg.scene <= n_scene:
            raise _common.bad_line(path, number, line, f"scene_id in 1..{n_scene}")
        if not 1 <= seg.action <= n_action:
            raise _common.bad_line(path, number, line, f"action_id in 1..{n_action}")
        if not 0.0 <= seg.importance <= MAX_IMPORTANCE:
            raise _common.bad_line(path, number, line, f"importance in [0, {MAX_IMPORTANCE:g}]")
        if seg.index < 0 or abs(seg.start_s - SEGMENT_S * seg.index) > _TOL:
            raise _common.bad_line(path, number, line, f"start_s = {SEGMENT_S:g} x segment_index")
        if not seg.start_s < seg.end_s <= seg.start_s + SEGMENT_S + _TOL:
            raise _common.bad_line(path, number, line, f"end_s in (start_s, start_s + {SEGMENT_S:g}]")
        videos[seg.video].append(seg)
    if not videos:
        raise DataError(f"{path}: no segments")
    for vid, segs in videos.items():
        segs.sort(key=lambda s: s.index)
        indices = [s.index for s in segs]
        if indices != list(range(len(segs))):
            dup = [i for i, c in Counter(indices).items() if c > 1]
            what = f"segment {dup[0]} listed twice" if dup else f"segments {indices[:8]}... are not 0..{len(segs) - 1}"
            raise DataError(f"{path}:{segs[0].line}: video {vid!r}: {what}")
        for s in segs[:-1]:
            if abs(s.end_s - s.start_s - SEGMENT_S) > _TOL:
                raise DataError(f"{path}:{s.line}: video {vid!r} segment {s.index} lasts {s.end_s - s.start_s:g} s; "
                                f"only the last segment may be shorter than {SEGMENT_S:g} s")  # fmt: skip
    return dict(videos)


def find_video(video_dir: Path, video_id: str) -> Path | None:
    from harness.video import VIDEO_EXTENSIONS

    for ext in VIDEO_EXTENSIONS:
        candidate = video_dir / f"{video_id}{ext}"
        if candidate.is_file():
            return candidate
    return None


def stratified_video_split(videos: dict[str, list[Segment]], fraction: float, seed: int) -> set[str]:
    """Validation video ids: ``round(fraction * n)`` videos, stratified by each video's most
    frequent scene (ties -> lower id), allocated to strata by largest remainder [AMB-45]."""
    strata: dict[int, list[str]] = defaultdict(list)
    for vid in sorted(videos):
        counts = Counter(s.scene for s in videos[vid])
        top = max(counts.values())
        strata[min(c for c, k in counts.items() if k == top)].append(vid)
    n_val = round(fraction * len(videos))
    quotas = {k: fraction * len(v) for k, v in strata.items()}
    take = {k: int(np.floor(q)) for k, q in quotas.items()}
    leftover = n_val - sum(take.values())
    for k in sorted(quotas, key=lambda k: (-(quotas[k] - take[k]), k))[: max(leftover, 0)]:
        take[k] += 1
    chosen: set[str] = set()
    for k, vids in sorted(strata.items()):
        order = rng(seed, "coview-validation", k).permutation(len(vids))
        chosen.update(vids[i] for i in order[: take[k]])
    return chosen


def fragment(path: Path, start_s: float, end_s: float) -> str:
    """``path#t=start,end``: a W3C media-fragment reference to one segment of a video file."""
    return f"{path}#t={start_s:g},{end_s:g}"


@dataclass(frozen=True)
class CoviewConfig:
    val_fraction: float = param(1 / 6, Interval(0.0, 1.0, "neither"),
                                "fraction of training videos held out as the validation (= test) split; "
                                "1/6 = the seed's 200 of 1200", assumption=True)  # fmt: skip
    split_seed: int = param(0, Interval(0, None), "seed of the stratified video-level split [AMB-45]", assumption=True)
    strict: bool = param(False, help="raise on a missing or damaged video instead of skipping it with a warning")
    check_videos: str = param("open", Options(("none", "open", "decode")),
                              "how videos are checked at load: none, open (container + length) or decode (every frame)")  # fmt: skip


@register_dataset("coview2019")
class Coview2019(DatasetAdapter):
    """CoVieW 2019: untrimmed videos, 5-s segments with scene, action and importance."""

    Config = CoviewConfig
    task = "coview"
    summary = "CoVieW 2019: 1200 labelled untrimmed videos, 5-s segments with scene (78), action (99), importance"
    expected = OFFICIAL

    def describe(self) -> str:
        return (
            "coview2019: CoVieW 2019 challenge (cvlab.hanyang.ac.kr/coview2019): 1,500 untrimmed videos,\n"
            "1,200 labelled for training, 300 test (labels withheld). Obtain the release from the organisers\n"
            "and write its annotations as the per-segment table below (METHODS.md 3.8).\n"
            "Layout:\n"
            f"  ROOT/{VIDEO_DIR}/<video_id>.<mp4|avi|mkv|webm|...>\n"
            f"  ROOT/{TABLE}    header {','.join(COLUMNS)}\n"
            "      one row per 5-s segment: start_s = 5 x segment_index, end_s <= start_s + 5 (only a video's\n"
            "      last segment may be shorter), scene_id 1..78, action_id 1..99, importance in [0, 2]\n"
            f"  ROOT/{SCENE_FILE}, ROOT/{ACTION_FILE}   'id name' lines, ids from 1\n"
            f"  ROOT/{TEST_FILE}   (optional) the unlabelled test video ids\n"
            "Returned items: one per segment, id 'video/segment', group = video, labels (n, 3) = 0-based scene,\n"
            "  0-based action, importance; paths 'video#t=start,end' (media fragments) for frame decoding.\n"
            "Split (assumption, AMB-45): deterministic video-level validation split of 1/6 of the training\n"
            "  videos (200 of 1200), stratified by each video's most frequent scene; it is the 'test' split.\n"
            "  --set val_fraction=F split_seed=N; strict=true fails on a missing/damaged video.\n"
            "Protocol: CoVieW top-6 metrics (HS@1/@5 scene and action, importance-score accuracy) and\n"
            "  segment-level accuracy (METHODS.md 1.6-1.7). A method predicts the heads scene (n, 78),\n"
            "  action (n, 99) and importance (n,) (the score the top-6 selection ranks by); validation\n"
            "  (tuning, model selection) uses segment accuracy.\n"
            "Licence: CoVieW data are for challenge participants; they cannot be redistributed."
        )

    def _root(self, root: Path | str | None) -> Path:
        return _common.resolve_root(self, root)

    def _tables(self, base: Path) -> tuple[list[str], list[str], dict[str, list[Segment]]]:
        scenes = read_classes(_common.require_file(base / SCENE_FILE, "CoVieW scene class list", self.name))
        actions = read_classes(_common.require_file(base / ACTION_FILE, "CoVieW action class list", self.name))
        table = _common.require_file(base / TABLE, "CoVieW segment table", self.name)
        return scenes, actions, read_segment_table(table, len(scenes), len(actions))

    def load(self, root: Path | str | None, config: Any = None) -> Dataset:
        cfg = config if config is not None else self.Config()
        base = self._root(root)
        scenes, actions, videos = self._tables(base)
        video_dir = base / VIDEO_DIR
        files: dict[str, Path] = {}
        skipped: list[str] = []
        for vid, segs in videos.items():
            path = find_video(video_dir, vid)
            problem = "missing" if path is None else self._check(path, segs[-1].end_s, cfg.check_videos)
            if problem is None and path is not None:
                files[vid] = path
                continue
            where = path or video_dir / f"{vid}.*"
            if cfg.strict and problem == "missing":
                raise MissingDataError(
                    f"CoVieW video {where}: missing (strict=true): expected {video_dir}/{vid}.<mp4|avi|mkv|webm...> "
                    f"for its {len(segs)} segments in {TABLE}. Add it, or load with strict=false to skip its segments."
                )
            if cfg.strict:
                raise DataError(f"CoVieW video {where} (strict=true): {problem}")
            skipped.append(f"{where}: {problem}")
        if skipped:
            log.warning("%s: skipped %d unreadable video(s) (set strict=true to fail instead): %s%s",
                        self.name, len(skipped), "; ".join(skipped[:5]), " ..." if len(skipped) > 5 else "")  # fmt: skip
        usable = {v: s for v, s in videos.items() if v in files}
        val_videos = stratified_video_split(usable, cfg.val_fraction, cfg.split_seed)
        train = self._split([v for v in sorted(usable) if v not in val_videos], usable, files)
        test = self._split(sorted(val_videos), usable, files)
        content = [TABLE, SCENE_FILE, ACTION_FILE] + ([TEST_FILE] if (base / TEST_FILE).exists() else [])
        return Dataset(
            name=self.name,
            task="coview",
            concepts=("scene", "action", "importance"),
            train=train,
            test=test,
            protocol=Protocol(
                metric="coview",
                extra_metrics=("segment_accuracy",),
                val_metric="segment_accuracy",
                heads={"scene": (len(scenes),), "action": (len(actions),), "importance": ()},
                options={"n_scene_classes": len(scenes), "n_action_classes": len(actions), "label_base": 0,
                         "selected_per_video": 6, "segment_seconds": SEGMENT_S, "evaluated_on": "validation"},
            ),  # fmt: skip
            manifest_hash=_common.manifest_hash(base, [p.relative_to(base).as_posix() for p in files.values()],
                                                content=content),  # fmt: skip
            root=base,
            is_miniature=self.is_miniature,
            info={
                "scene_classes": tuple(scenes), "action_classes": tuple(actions),
                "n_scene_classes": len(scenes), "n_action_classes": len(actions),
                "n_train_videos": len(usable) - len(val_videos), "n_val_videos": len(val_videos),
                "skipped_videos": len(skipped), "skipped": tuple(skipped), "split_seed": cfg.split_seed,
                "default_backbone": "mini_alexnet" if self.is_miniature else "resnet18",
            },  # fmt: skip
        )

    @staticmethod
    def _check(path: Path, needed_s: float, level: str) -> str | None:
        from harness import video

        if level == "none":
            return None
        try:
            if level == "decode":
                n = sum(1 for _ in video.iter_frames(path, size=(16, 16)))
                info = video.read_video_info(path)
                length = n / info.fps if info.fps else 0.0
            else:
                problem = video.check_video(path, open_container=False)
                if problem:
                    return problem
                info = video.read_video_info(path)
                length = info.frames / info.fps if info.fps else info.duration_s
        except (video.VideoDecodeError, MissingDataError) as exc:
            return str(exc)
        frame = 1.0 / info.fps if info.fps else 0.0
        if length + frame + _TOL < needed_s:
            return f"the video lasts {length:.2f} s but its segments reach {needed_s:g} s"
        return None

    @staticmethod
    def _split(vids: list[str], videos: dict[str, list[Segment]], files: dict[str, Path]) -> Split:
        segs = [s for v in vids for s in videos[v]]
        return Split(
            ids=np.array([f"{s.video}/{s.index}" for s in segs], dtype=object).astype(str),
            groups=np.array([s.video for s in segs], dtype=object).astype(str),
            labels=np.array([[s.scene - 1, s.action - 1, s.importance] for s in segs], dtype=np.float64).reshape(-1, 3),
            paths=tuple(fragment(files[s.video], s.start_s, s.end_s) for s in segs),
            extra={
                "segment_index": np.array([s.index for s in segs], dtype=np.int64),
                "video": np.array([s.video for s in segs], dtype=object).astype(str),
                "start_s": np.array([s.start_s for s in segs], dtype=np.float64),
                "end_s": np.array([s.end_s for s in segs], dtype=np.float64),
            },
        )

    def verify(self, root: Path) -> list[str]:
        from harness.video import VIDEO_EXTENSIONS

        report = _common.Report()
        base = Path(root)
        if not base.is_dir():
            return [f"missing: data root {base} does not exist"]
        for rel in (TABLE, SCENE_FILE, ACTION_FILE):
            if not (base / rel).is_file():
                report.add("missing", str(base / rel))
        if report:
            return report.problems()
        try:
            scenes, actions, videos = self._tables(base)
        except DataError as exc:
            return [f"corrupt: {exc}"]
        exp = self.expected
        if len(scenes) != exp["n_scene"]:
            report.add("count", f"{base / SCENE_FILE}: {len(scenes)} scene classes, expected {exp['n_scene']}")
        if len(actions) != exp["n_action"]:
            report.add("count", f"{base / ACTION_FILE}: {len(actions)} action classes, expected {exp['n_action']}")
        if len(videos) != exp["train_videos"]:
            report.add("count", f"{base / TABLE}: {len(videos)} labelled videos, expected {exp['train_videos']}")
        test_ids: list[str] = []
        if (base / TEST_FILE).is_file():
            test_ids = [line.strip() for _, line in _common.numbered_lines(base / TEST_FILE)]
            if len(test_ids) != exp["test_videos"]:
                report.add("count", f"{base / TEST_FILE}: {len(test_ids)} test videos, expected {exp['test_videos']}")
        video_dir = base / VIDEO_DIR
        present = {Path(rel).stem: rel for rel in _common.list_files(video_dir, suffixes=VIDEO_EXTENSIONS)}
        for vid, segs in sorted(videos.items()):
            if vid not in present:
                report.add("missing", f"{video_dir / vid}.* (video of {len(segs)} segments in {TABLE})")
                continue
            problem = self._check(video_dir / present[vid], segs[-1].end_s, "open")
            if problem:
                report.add("corrupt", f"{video_dir / present[vid]}: {problem}")
        for vid in test_ids:
            if vid not in present:
                report.add("missing", f"{video_dir / vid}.* (listed in {TEST_FILE})")
        for vid, rel in sorted(present.items()):
            if vid not in videos and vid not in test_ids:
                report.add("extra", f"{video_dir / rel} (in neither {TABLE} nor {TEST_FILE})")
        return report.problems()

    def make_mini(self, directory: Path, seed: int = 0) -> dict[str, Any]:
        return generate_mini(Path(directory), seed)


# --------------------------------------------------------------------------------------------
# The miniature
# --------------------------------------------------------------------------------------------

MINI_VERSION = 1
MINI_SIZE = 64
MINI_FPS = 5
MINI_TRAIN_VIDEOS = 72  # 60 train + 12 validation with the default 1/6
MINI_TEST_VIDEOS = 4
# Scene = background texture of the shot.
MINI_SCENES = (("beach", "sand"), ("park", "grass"), ("city", "urban"), ("snowfield", "snow"),
               ("lakeside", "water"), ("night_street", "night"))  # fmt: skip
# Action = motion pattern of the actor; salience feeds the importance score.
MINI_ACTIONS = (("walk_right", "drift_right", 0.2), ("walk_left", "drift_left", 0.2), ("jump", "bounce", 0.6),
                ("fall", "fall", 0.8), ("climb", "rise", 0.5), ("wave", "sway", 0.3), ("circle", "orbit", 0.4),
                ("spin", "spin", 0.7))  # fmt: skip
# Scene -> its likely actions (the scene/action correlation the CCM fusion of MTN exploits).
MINI_SCENE_ACTIONS = {0: (0, 5, 2), 1: (1, 6, 2), 2: (0, 1, 3), 3: (3, 4, 7), 4: (5, 6, 1), 5: (7, 4, 0)}
MINI_P_LIKELY_ACTION = 0.75


def _mini_video_plan(gen: np.random.Generator) -> list[dict[str, Any]]:
    """Segments of one video: scene shots, action runs, actor size (the importance cue)."""
    n_seg = int(gen.integers(6, 12))
    n_shots = int(gen.integers(1, 4))
    cuts = sorted(gen.choice(np.arange(1, n_seg), size=min(n_shots - 1, n_seg - 1), replace=False).tolist())
    shot_of = np.searchsorted(cuts, np.arange(n_seg), side="right")
    shot_scene = gen.integers(len(MINI_SCENES), size=n_shots)
    plan = []
    action = None
    for k in range(n_seg):
        scene = int(shot_scene[shot_of[k]])
        if action is None or gen.random() < 0.55 or (k > 0 and shot_of[k] != shot_of[k - 1]):
            likely = MINI_SCENE_ACTIONS[scene]
            action = int(gen.choice(likely)) if gen.random() < MINI_P_LIKELY_ACTION else int(gen.integers(len(MINI_ACTIONS)))
        radius = float(gen.uniform(5.0, 12.0))
        plan.append({"scene": scene, "action": action, "shot": int(shot_of[k]), "radius": radius})
    last_frames = MINI_FPS * int(SEGMENT_S) if gen.random() < 0.6 else int(gen.integers(MINI_FPS * 2, MINI_FPS * 5))
    plan[-1]["frames"] = last_frames
    raw = np.array([(p["radius"] - 5.0) / 7.0 + MINI_ACTIONS[p["action"]][2] for p in plan]) + gen.normal(0, 0.15, n_seg)
    span = raw.max() - raw.min()
    importance = 2.0 * (raw - raw.min()) / span if span > 0 else np.ones(n_seg)
    for p, imp in zip(plan, importance, strict=True):
        p["importance"] = round(float(imp), 3)
    return plan


def mini_video_frames(seed: int, video: int) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """(T, 64, 64, 3) frames of one miniature video and its segment plan."""
    gen = rng(seed, "coview2019-mini", "video", video)
    plan = _mini_video_plan(gen)
    actor = _synth.Actor(str(gen.choice(_synth.SHAPES)), _synth.random_colour(gen), 8.0)
    backgrounds: dict[int, np.ndarray] = {}
    chunks = []
    for p in plan:
        if p["shot"] not in backgrounds:
            backgrounds[p["shot"]] = _synth.background(MINI_SCENES[p["scene"]][1], MINI_SIZE, gen)
        n = p.get("frames", MINI_FPS * int(SEGMENT_S))
        path = _synth.trajectory(MINI_ACTIONS[p["action"]][1], n, gen, speed=float(gen.uniform(1.2, 1.8)) * n / 25)
        seg_actor = _synth.Actor(actor.shape, actor.colour, p["radius"])
        chunks.append(_synth.render(backgrounds[p["shot"]], seg_actor, path, gen, noise=2.0))
    return np.concatenate(chunks), plan


def generate_mini(folder: Path, seed: int = 0) -> dict[str, Any]:
    """Write ``coview2019-mini``: 72 labelled + 4 test videos (MP4, 64x64, 5 fps) and the tables."""
    from harness import video
    from harness.cache import atomic_write_text

    rows = [",".join(COLUMNS)]
    n_segments = 0
    for v in range(MINI_TRAIN_VIDEOS + MINI_TEST_VIDEOS):
        vid = f"mini{v + 1:04d}"
        frames, plan = mini_video_frames(seed, v)
        video.write_video(folder / VIDEO_DIR / f"{vid}.mp4", frames, MINI_FPS, bit_rate=200_000)
        if v >= MINI_TRAIN_VIDEOS:
            continue
        for k, p in enumerate(plan):
            n = p.get("frames", MINI_FPS * int(SEGMENT_S))
            start = SEGMENT_S * k
            rows.append(f"{vid},{k},{start:g},{start + n / MINI_FPS:g},{p['scene'] + 1},{p['action'] + 1},{p['importance']:.3f}")
            n_segments += 1
    atomic_write_text(folder / TABLE, "\n".join(rows) + "\n")
    atomic_write_text(folder / SCENE_FILE, "".join(f"{i + 1} {s[0]}\n" for i, s in enumerate(MINI_SCENES)))
    atomic_write_text(folder / ACTION_FILE, "".join(f"{i + 1} {a[0]}\n" for i, a in enumerate(MINI_ACTIONS)))
    test_ids = [f"mini{v + 1:04d}" for v in range(MINI_TRAIN_VIDEOS, MINI_TRAIN_VIDEOS + MINI_TEST_VIDEOS)]
    atomic_write_text(folder / TEST_FILE, "\n".join(test_ids) + "\n")
    return {"videos": MINI_TRAIN_VIDEOS + MINI_TEST_VIDEOS, "segments": n_segments}


@register_dataset("coview2019-mini")
class Coview2019Mini(_common.Miniature, Coview2019):
    """The CoVieW miniature: 72 labelled untrimmed videos whose segments carry scene/action/importance."""

    @dataclass(frozen=True)
    class Config(CoviewConfig):
        """Same options as ``coview2019``."""

    mini_version = MINI_VERSION
    summary = "CoVieW 2019 miniature: 72+4 untrimmed 64x64 5-fps MP4 videos, 6 scenes, 8 actions, importance"
    expected = {"n_scene": len(MINI_SCENES), "n_action": len(MINI_ACTIONS), "train_videos": MINI_TRAIN_VIDEOS,
                "test_videos": MINI_TEST_VIDEOS}  # fmt: skip

    def describe(self) -> str:
        return (
            "coview2019-mini: a miniature of CoVieW 2019 in the adapter's real layout (videos/*.mp4,\n"
            f"{TABLE}, class lists, {TEST_FILE}): {MINI_TRAIN_VIDEOS} labelled + {MINI_TEST_VIDEOS} "
            f"unlabelled untrimmed videos, 64x64, {MINI_FPS} fps, 6-11 segments of 5 s each\n"
            "(the last one sometimes shorter), MPEG-4 in MP4 written with PyAV.\n"
            f"How it is made: a video is 1-3 shots; the SCENE of a segment is its shot's background texture\n"
            f"({', '.join(s[0] for s in MINI_SCENES)}); the ACTION is the actor's motion pattern\n"
            f"({', '.join(a[0] for a in MINI_ACTIONS)}), 75% of the time one of the scene's 3 typical actions\n"
            "(scene/action correlation); the IMPORTANCE (0..2, relative within the video) grows with the\n"
            "actor's size in the segment and the action's salience, plus noise.\n"
            "Validation = 1/6 of the videos (12), stratified by main scene, as for the real set.\n"
            "Generated deterministically from a seed into $HARNESS_HOME/datasets on first use."
        )

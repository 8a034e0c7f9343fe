"""``ucf101`` and ``ucf101-mini``: UCF101 action recognition (METHODS.md 3.4), as distributed.

Real layout (the two official archives extracted side by side)::

    ROOT/UCF-101/<ClassName>/v_<ClassName>_gGG_cCC.avi      13,320 clips, 101 class folders
    ROOT/ucfTrainTestlist/classInd.txt                      "index ClassName", 1..101
    ROOT/ucfTrainTestlist/trainlist0{1,2,3}.txt             "Class/v_..avi label"
    ROOT/ucfTrainTestlist/testlist0{1,2,3}.txt              "Class/v_..avi"

The lists use CRLF line ends. One quirk is preserved by the official files and handled here: the
folder ``HandstandPushups`` holds files named ``v_HandStandPushups_gGG_cCC.avi``. The class of a clip
is its folder; the file's class token must match it up to letter case.

Groups are (class, gGG): UCF101's 25 groups per class each hold 4-7 clips of one actor/setting,
and split ``s`` tests groups ``7(s-1)+1 .. 7s``, so train and test never share a group. Validation
splits are drawn by group as well (:func:`grouped_validation_split`).
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from datasets import _common, _synth
from harness.api import Dataset, DatasetAdapter, Protocol, Split, register_dataset
from harness.cache import sha256_file
from harness.errors import DataError, MissingDataError
from harness.params import Interval, Options, param
from harness.seeding import rng

log = logging.getLogger(__name__)

LIST_DIR_NAMES = ("ucfTrainTestlist", "")  # "" = the lists lie in ROOT itself
VIDEO_DIR_NAMES = ("UCF-101", "UCF101", "")
SPLITS = (1, 2, 3)
LIST_FILES = ("classInd.txt", *(f"{kind}list0{s}.txt" for kind in ("train", "test") for s in SPLITS))
GROUPS_PER_SPLIT = 7

# SHA-256 of the official split files as distributed by UCF CRCV (UCF101TrainTestSplits-
# RecognitionTask.zip), CRLF line ends included. Facts about public files, used by `verify`.
OFFICIAL_LIST_SHA256 = {
    "classInd.txt": "d7abbb76074d04e80c62ad8a61529bb8eec32ef978569601b2890edec3af0359",
    "testlist01.txt": "81be4765084d72739dca4d11658f7ec369c441ad9e227f11d9468fe2a1c14890",
    "testlist02.txt": "c9eec18f3f312153cda441f93e30bc9cffef1941367ebc06996e40c9cd056c91",
    "testlist03.txt": "f9cc029b0598c63f5cc07d070ae1fa4666d1d3901cc79a93490ea0742ca097db",
    "trainlist01.txt": "f7a4d7abc05147b921c17fc227d731197c3583f29945d1f1d46bce830d1b9f12",
    "trainlist02.txt": "3ea7145317098bdb4a999f69fb3b53ca3d3831d692602fc5dc8cd5c5e3eb8ca9",
    "trainlist03.txt": "c75af0148b3b0e70d5d881ad71b0a5fbb685bf2d3278908278658435c3f1bf0f",
}
OFFICIAL_SPLIT_COUNTS = {1: (9537, 3783), 2: (9586, 3734), 3: (9624, 3696)}
OFFICIAL_N_CLASSES = 101

_CLIP_RE = re.compile(r"^v_(?P<token>[A-Za-z0-9]+)_g(?P<group>\d{2})_c(?P<clip>\d{2})\.avi$")


@dataclass(frozen=True)
class Clip:
    """One entry of a split list.

    Attributes:
        relpath: path relative to the video folder, as written in the list (``Class/v_...avi``).
        folder: the class folder (= class name).
        label: 0-based class index (``classInd`` index - 1).
        group: group number (1..25).
        clip: clip number within the group.
    """

    relpath: str
    folder: str
    label: int
    group: int
    clip: int

    @property
    def clip_id(self) -> str:
        return Path(self.relpath).stem

    @property
    def group_id(self) -> str:
        return f"{self.folder}_g{self.group:02d}"


@dataclass(frozen=True)
class Expectations:
    """What a complete copy contains (the real set or a miniature)."""

    n_classes: int
    split_counts: dict[int, tuple[int, int]]
    list_sha256: dict[str, str]
    n_groups: int = 25


# --------------------------------------------------------------------------------------------
# Split lists
# --------------------------------------------------------------------------------------------


def read_class_index(path: Path) -> list[str]:
    """Class names in index order from ``classInd.txt`` (lines ``index ClassName``, 1..n)."""
    names: list[str] = []
    for number, line in _common.numbered_lines(path):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise _common.bad_line(path, number, line, "2 fields 'index ClassName'")
        index = int(parts[0])
        if index != len(names) + 1:
            raise _common.bad_line(path, number, line, f"class index {len(names) + 1} (indices count up from 1)")
        if parts[1] in names:
            raise _common.bad_line(path, number, line, "a class name not listed before")
        names.append(parts[1])
    if not names:
        raise DataError(f"{path}: no classes found; is this the UCF101 classInd.txt?")
    return names


def parse_clip(relpath: str, classes: Sequence[str], path: Path, number: int, line: str) -> Clip:
    """Parse ``Class/v_Class_gGG_cCC.avi`` (folder = class; the file token may differ in case)."""
    parts = relpath.split("/")
    if len(parts) != 2:
        raise _common.bad_line(path, number, line, "a path 'ClassName/v_ClassName_gGG_cCC.avi'")
    folder, name = parts
    if folder not in classes:
        raise _common.bad_line(path, number, line, "a class folder listed in classInd.txt")
    m = _CLIP_RE.match(name)
    if not m:
        raise _common.bad_line(path, number, line, "a file name 'v_ClassName_gGG_cCC.avi'")
    if m["token"].lower() != folder.lower():
        raise _common.bad_line(
            path, number, line, f"the file's class token to match its folder {folder!r} (up to letter case)"
        )
    return Clip(relpath, folder, classes.index(folder), int(m["group"]), int(m["clip"]))


def read_split_list(path: Path, classes: Sequence[str], *, with_labels: bool) -> list[Clip]:
    """Clips of a ``trainlist``/``testlist`` file; train labels must agree with the folder."""
    clips: list[Clip] = []
    for number, line in _common.numbered_lines(path):
        fields = line.split()
        n_expected = 2 if with_labels else 1
        if len(fields) != n_expected:
            what = "'Class/v_..avi label' (2 fields)" if with_labels else "'Class/v_..avi' (1 field)"
            raise _common.bad_line(path, number, line, what)
        clip = parse_clip(fields[0], classes, path, number, line)
        if with_labels and (not fields[1].isdigit() or int(fields[1]) != clip.label + 1):
            raise _common.bad_line(
                path, number, line, f"label {clip.label + 1} (the classInd index of folder {clip.folder!r})"
            )
        clips.append(clip)
    return clips


def find_list_dir(root: Path) -> Path:
    for name in LIST_DIR_NAMES:
        candidate = root / name if name else root
        if (candidate / "classInd.txt").is_file():
            return candidate
    raise MissingDataError(
        f"UCF101 split lists not found under {root}: expected {root}/ucfTrainTestlist/classInd.txt "
        f"(from UCF101TrainTestSplits-RecognitionTask.zip). Run 'harness data describe ucf101'."
    )


def find_video_dir(root: Path, classes: Sequence[str]) -> Path:
    for name in VIDEO_DIR_NAMES:
        candidate = root / name if name else root
        if any((candidate / c).is_dir() for c in classes[:5]):
            return candidate
    return root / VIDEO_DIR_NAMES[0]


def read_splits(list_dir: Path, split: int) -> tuple[list[str], list[Clip], list[Clip]]:
    """``(classes, train clips, test clips)`` of official split ``split`` (1, 2 or 3)."""
    classes = read_class_index(list_dir / "classInd.txt")
    train_path = _common.require_file(list_dir / f"trainlist0{split}.txt", "UCF101 train list", "ucf101")
    test_path = _common.require_file(list_dir / f"testlist0{split}.txt", "UCF101 test list", "ucf101")
    train = read_split_list(train_path, classes, with_labels=True)
    test = read_split_list(test_path, classes, with_labels=False)
    return classes, train, test


def grouped_validation_split(split: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """Hold out ``fraction`` of each class's groups; a group never has clips on both sides.

    Stratified by class (labels of the split): every class with at least two groups gives
    ``max(1, round(fraction * n_groups))`` groups to validation, so no class is missing there.
    """
    if not 0 < fraction < 1:
        raise ValueError(f"validation fraction must be in (0, 1), got {fraction}")
    if split.labels is None:
        raise ValueError("grouped_validation_split needs labels")
    labels = np.asarray(split.labels)
    groups = np.asarray(split.groups).astype(str)
    gen = rng(seed, "ucf101-validation")
    val_groups: set[str] = set()
    for label in np.unique(labels):
        class_groups = np.unique(groups[labels == label])
        if len(class_groups) < 2:
            continue
        n_val = min(max(1, round(fraction * len(class_groups))), len(class_groups) - 1)
        val_groups.update(gen.permutation(class_groups)[:n_val].tolist())
    is_val = np.isin(groups, sorted(val_groups))
    return split.subset(np.flatnonzero(~is_val)), split.subset(np.flatnonzero(is_val))


# --------------------------------------------------------------------------------------------
# The adapter
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class UCF101Config:
    split: int = param(1, Options(SPLITS), "official train/test split (1, 2 or 3)")
    strict: bool = param(False, help="raise on a missing or damaged clip instead of skipping it with a warning")
    check_videos: str = param(
        "header", Options(("none", "header", "decode")),
        "how clips are checked at load: none, header (RIFF size/signature, fast) or decode (every frame, slow)",
    )  # fmt: skip
    val_fraction: float = param(
        0.0, Interval(0.0, 0.5, "left"),
        "fraction of each class's training groups held out as validation (0 = let the runner hold out groups)",
    )  # fmt: skip


@register_dataset("ucf101")
class UCF101(DatasetAdapter):
    """UCF101 clips with labels and (class, group) groups; official splits 1-3."""

    Config = UCF101Config
    task = "multiclass"
    summary = "UCF101 action recognition: 13,320 clips, 101 classes, official splits 1-3 (NB-TL)"
    protocol_metric: ClassVar[str] = "video_accuracy"

    def expectations(self) -> Expectations:
        """Counts and list checksums of a complete copy (the official UCF101 files)."""
        return Expectations(OFFICIAL_N_CLASSES, OFFICIAL_SPLIT_COUNTS, OFFICIAL_LIST_SHA256)

    def describe(self) -> str:
        return (
            "UCF101 (Soomro, Zamir & Shah 2012): 13,320 YouTube clips of 101 actions, 25 groups per class.\n"
            "Obtain: https://www.crcv.ucf.edu/data/UCF101.php -> UCF101.rar (6.5 GB) and\n"
            "  UCF101TrainTestSplits-RecognitionTask.zip. Extract both into ROOT.\n"
            "Layout:\n"
            "  ROOT/UCF-101/<ClassName>/v_<ClassName>_gGG_cCC.avi   (101 folders, 13,320 .avi)\n"
            "  ROOT/ucfTrainTestlist/classInd.txt                   ('index ClassName', 1..101)\n"
            "  ROOT/ucfTrainTestlist/trainlist0{1,2,3}.txt          ('Class/v_..avi label')\n"
            "  ROOT/ucfTrainTestlist/testlist0{1,2,3}.txt           ('Class/v_..avi')\n"
            "Lists have CRLF line ends; folder HandstandPushups holds v_HandStandPushups_* files (handled).\n"
            "Options: --set split=1|2|3, strict=true (fail on a damaged clip instead of skipping it),\n"
            "  check_videos=none|header|decode, val_fraction=F (grouped, class-stratified validation).\n"
            "Protocol: video-level accuracy (mean of per-frame softmax, METHODS.md 1.8) per split; the\n"
            "  paper's Table 3 averages the 3 splits. Splits 1/2/3 have 9537/3783, 9586/3734, 9624/3696 clips.\n"
            "Licence: research use; the clips are YouTube content collected by UCF CRCV."
        )

    # -- loading ------------------------------------------------------------------------------

    def _root(self, root: Path | str | None) -> Path:
        return _common.resolve_root(self, root)

    def load(self, root: Path | str | None, config: Any = None) -> Dataset:
        cfg = config if config is not None else self.Config()
        base = self._root(root)
        list_dir = find_list_dir(base)
        classes, train, test = read_splits(list_dir, cfg.split)
        video_dir = find_video_dir(base, classes)
        if not video_dir.is_dir():
            raise MissingDataError(
                f"UCF101 video folder not found: expected {base}/UCF-101/<ClassName>/*.avi (from UCF101.rar). "
                f"Run 'harness data describe {self.name}'."
            )
        skipped: list[str] = []
        train_ok = self._usable(train, video_dir, cfg, skipped)
        test_ok = self._usable(test, video_dir, cfg, skipped)
        if skipped:
            log.warning(
                "%s: skipped %d unreadable clip(s) (set strict=true to fail instead): %s%s",
                self.name, len(skipped), "; ".join(skipped[:5]), " ..." if len(skipped) > 5 else "",
            )  # fmt: skip
        train_split = self._split(train_ok, video_dir)
        test_split = self._split(test_ok, video_dir)
        val_split = None
        if cfg.val_fraction > 0:
            train_split, val_split = grouped_validation_split(train_split, cfg.val_fraction, seed=0)
        manifest = _common.manifest_hash(
            base,
            [(video_dir / c.relpath).relative_to(base).as_posix() for c in (*train_ok, *test_ok)],
            content=[(list_dir / f).relative_to(base).as_posix() for f in LIST_FILES if (list_dir / f).exists()],
        )
        return Dataset(
            name=self.name,
            task="multiclass",
            concepts=tuple(classes),
            train=train_split,
            test=test_split,
            val=val_split,
            protocol=Protocol(metric=self.protocol_metric, extra_metrics=("top5_accuracy",),
                              options={"split": cfg.split, "aggregation": "mean_softmax"},
                              val_metric="video_accuracy"),  # clip accuracy: rows are clips
            manifest_hash=manifest,
            root=base,
            is_miniature=self.is_miniature,
            info={
                "split": cfg.split,
                "n_classes": len(classes),
                "class_names": tuple(classes),
                "n_train_clips": len(train_ok),
                "n_test_clips": len(test_ok),
                "skipped_videos": len(skipped),
                "skipped": tuple(skipped),
                "check_videos": cfg.check_videos,
                "video_dir": str(video_dir),
                "default_backbone": "mini_alexnet" if self.is_miniature else "resnet18",
            },
        )

    def _usable(self, clips: list[Clip], video_dir: Path, cfg: Any, skipped: list[str]) -> list[Clip]:
        from harness import video

        ok = []
        for clip in clips:
            path = video_dir / clip.relpath
            if cfg.check_videos == "none":
                problem = None if path.is_file() else "missing"
            elif cfg.check_videos == "header":
                problem = video.check_video(path, open_container=False)
            else:
                try:
                    video.read_frames(path, size=(16, 16))
                    problem = None
                except (video.VideoDecodeError, MissingDataError) as exc:
                    problem = str(exc)
            if problem is None:
                ok.append(clip)
                continue
            message = f"{path}: {problem}"
            if cfg.strict:
                if problem == "missing":
                    raise MissingDataError(f"UCF101 clip listed in the split files is missing: {path} (strict=true)")
                raise video.VideoDecodeError(
                    f"UCF101 clip {path} is unreadable: {problem}. Re-download it, or load with strict=false "
                    f"to skip it (the skip is counted in the run's tags)."
                )
            skipped.append(message)
        return ok

    @staticmethod
    def _split(clips: list[Clip], video_dir: Path) -> Split:
        return Split(
            ids=np.array([c.clip_id for c in clips], dtype=object).astype(str),
            groups=np.array([c.group_id for c in clips], dtype=object).astype(str),
            labels=np.array([c.label for c in clips], dtype=np.int64),
            paths=tuple(str(video_dir / c.relpath) for c in clips),
            extra={
                "group_number": np.array([c.group for c in clips], dtype=np.int64),
                "clip_number": np.array([c.clip for c in clips], dtype=np.int64),
            },
        )

    # -- verification -------------------------------------------------------------------------

    def verify(self, root: Path) -> list[str]:
        """Problems of a copy: list checksums and counts, missing / extra / damaged clips."""
        from harness import video

        report = _common.Report()
        base = Path(root)
        if not base.is_dir():
            return [f"missing: data root {base} does not exist"]
        try:
            list_dir = find_list_dir(base)
        except MissingDataError as exc:
            return [f"missing: {exc}"]
        exp = self.expectations()
        for fname, digest in exp.list_sha256.items():
            p = list_dir / fname
            if not p.is_file():
                report.add("missing", f"split list {p}")
            elif sha256_file(p) != digest:
                report.add("checksum", f"{p} differs from the {'miniature' if self.is_miniature else 'official'} "
                                       f"file (sha256 {sha256_file(p)[:12]}..., expected {digest[:12]}...)")  # fmt: skip
        try:
            classes = read_class_index(list_dir / "classInd.txt")
        except (DataError, MissingDataError) as exc:
            report.add("corrupt", str(exc))
            return report.problems()
        if len(classes) != exp.n_classes:
            report.add("count", f"classInd.txt lists {len(classes)} classes, expected {exp.n_classes}")
        listed: dict[str, str] = {}  # relpath -> the first list naming it
        for s in SPLITS:
            try:
                train = read_split_list(list_dir / f"trainlist0{s}.txt", classes, with_labels=True)
                test = read_split_list(list_dir / f"testlist0{s}.txt", classes, with_labels=False)
            except (DataError, FileNotFoundError) as exc:
                report.add("corrupt", str(exc))
                continue
            if (len(train), len(test)) != exp.split_counts[s]:
                report.add("count", f"split {s}: {len(train)} train / {len(test)} test clips, "
                                    f"expected {exp.split_counts[s][0]} / {exp.split_counts[s][1]}")  # fmt: skip
            shared = {c.group_id for c in train} & {c.group_id for c in test}
            if shared:
                report.add("split", f"split {s}: {len(shared)} groups on both sides, e.g. {sorted(shared)[:3]}")
            wanted = set(range(GROUPS_PER_SPLIT * (s - 1) + 1, GROUPS_PER_SPLIT * s + 1))
            bad = sorted({c.group for c in test} - wanted)
            if bad:
                report.add("split", f"split {s}: test groups {bad} outside g{min(wanted):02d}-g{max(wanted):02d}")
            for c in train:
                listed.setdefault(c.relpath, f"trainlist0{s}.txt")
            for c in test:
                listed.setdefault(c.relpath, f"testlist0{s}.txt")
        video_dir = find_video_dir(base, classes)
        present = _common.list_files(video_dir, suffixes=(".avi",)) if video_dir.is_dir() else []
        for rel in sorted(set(listed) - set(present)):
            report.add("missing", f"{video_dir / rel} (listed in {listed[rel]})")
        for rel in sorted(set(present) - set(listed)):
            report.add("extra", f"{video_dir / rel} (in no split list)")
        for rel in sorted(set(present) & set(listed)):
            problem = video.check_video(video_dir / rel, open_container=False)
            if problem:
                report.add("corrupt", f"{video_dir / rel}: {problem}")
        return report.problems()

    # -- miniature ----------------------------------------------------------------------------

    def make_mini(self, directory: Path, seed: int = 0) -> dict[str, Any]:
        """Write ``ucf101-mini`` (same layout as the real set) into ``directory``."""
        return generate_mini(Path(directory), seed)


# --------------------------------------------------------------------------------------------
# The miniature
# --------------------------------------------------------------------------------------------

MINI_VERSION = 1
MINI_SIZE = 64  # pixels (the input size of the pretrained mini_alexnet)
MINI_FRAMES = 16
MINI_FPS = 8
MINI_GROUPS = 25
# (class folder, file-name token, motion that defines the class, the class's favourite shape).
# Real UCF101 class names; HandstandPushups keeps the real folder/file-name quirk.
MINI_CLASSES = (
    ("Biking", "Biking", "drift_right", "ring"),
    ("Diving", "Diving", "fall", "arrow"),
    ("HandstandPushups", "HandStandPushups", "bounce", "bar"),
    ("HulaHoop", "HulaHoop", "orbit", "circle"),
    ("JumpingJack", "JumpingJack", "pulse", "star"),
    ("RopeClimbing", "RopeClimbing", "rise", "ell"),
    ("Swing", "Swing", "swing", "semicircle"),
    ("WalkingWithDog", "WalkingWithDog", "drift_left", "square"),
)
MINI_FAVOURITE_SHAPE_P = 0.5  # else a random shape: a single frame says little, the motion decides


def _mini_clips_per_group(class_index: int, group: int) -> int:
    return 3 if (class_index + group) % 3 == 0 else 2


def mini_structure() -> list[tuple[int, int, int]]:
    """``(class index, group, clip)`` of every miniature clip, in list order (seed-independent)."""
    return [
        (ci, g, c)
        for ci in range(len(MINI_CLASSES))
        for g in range(1, MINI_GROUPS + 1)
        for c in range(1, _mini_clips_per_group(ci, g) + 1)
    ]


def _mini_relpath(ci: int, g: int, c: int) -> str:
    folder, token = MINI_CLASSES[ci][:2]
    return f"{folder}/v_{token}_g{g:02d}_c{c:02d}.avi"


def mini_lists() -> dict[str, str]:
    """The miniature's split files (exact bytes, CRLF), which do not depend on the seed."""
    crlf = "\r\n"
    files = {"classInd.txt": "".join(f"{i + 1} {c[0]}{crlf}" for i, c in enumerate(MINI_CLASSES))}
    for s in SPLITS:
        test_groups = range(GROUPS_PER_SPLIT * (s - 1) + 1, GROUPS_PER_SPLIT * s + 1)
        train_lines, test_lines = [], []
        for ci, g, c in mini_structure():
            if g in test_groups:
                test_lines.append(f"{_mini_relpath(ci, g, c)}{crlf}")
            else:
                train_lines.append(f"{_mini_relpath(ci, g, c)} {ci + 1}{crlf}")
        files[f"trainlist0{s}.txt"] = "".join(train_lines)
        files[f"testlist0{s}.txt"] = "".join(test_lines)
    return files


@functools.cache
def _mini_expectations() -> Expectations:
    import hashlib

    lists = mini_lists()
    counts = {s: (lists[f"trainlist0{s}.txt"].count("\n"), lists[f"testlist0{s}.txt"].count("\n")) for s in SPLITS}
    digests = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in lists.items()}
    return Expectations(len(MINI_CLASSES), counts, digests, MINI_GROUPS)


def mini_clip_frames(seed: int, class_index: int, group: int, clip: int) -> np.ndarray:
    """The (MINI_FRAMES, 64, 64, 3) uint8 frames of one miniature clip (before encoding)."""
    _, _, motion, favourite = MINI_CLASSES[class_index]
    group_gen = rng(seed, "ucf101-mini", "group", class_index, group)
    bg = _synth.background(_synth.TEXTURES[int(group_gen.integers(len(_synth.TEXTURES)))], MINI_SIZE, group_gen)
    shape = favourite if group_gen.random() < MINI_FAVOURITE_SHAPE_P else str(group_gen.choice(_synth.SHAPES))
    actor = _synth.Actor(shape, _synth.random_colour(group_gen), float(group_gen.uniform(7.0, 11.0)))
    clip_gen = rng(seed, "ucf101-mini", "clip", class_index, group, clip)
    path = _synth.trajectory(motion, MINI_FRAMES, clip_gen, speed=float(clip_gen.uniform(0.8, 1.2)))
    return _synth.render(bg, actor, path, clip_gen, noise=2.0)


def generate_mini(folder: Path, seed: int = 0) -> dict[str, Any]:
    """Write the miniature: real AVI files (MPEG-4 Part 2, like UCF101's XviD) plus the lists.

    Each group has its own background texture, actor shape and colour (one actor and setting per
    group, as in UCF101); each clip draws its own trajectory of the class's motion pattern.
    """
    from harness import video
    from harness.cache import atomic_write_bytes

    list_dir = folder / "ucfTrainTestlist"
    video_dir = folder / "UCF-101"
    for name, text in mini_lists().items():
        atomic_write_bytes(list_dir / name, text.encode("ascii"))
    n = 0
    for ci, g, c in mini_structure():
        video.write_video(video_dir / _mini_relpath(ci, g, c), mini_clip_frames(seed, ci, g, c), MINI_FPS, bit_rate=200_000)
        n += 1
    return {"clips": n, "classes": len(MINI_CLASSES), "frames_per_clip": MINI_FRAMES, "size": MINI_SIZE}


@register_dataset("ucf101-mini")
class UCF101Mini(_common.Miniature, UCF101):
    """The UCF101 miniature: 8 real class names whose motion pattern defines the class."""

    @dataclass(frozen=True)
    class Config(UCF101Config):
        """Same options as ``ucf101`` (a class of its own so messages name ``ucf101-mini``)."""

    mini_version = MINI_VERSION
    summary = "UCF101 miniature: 8 motion-defined classes x 25 groups, 64x64 AVI clips, official-format splits"

    def expectations(self) -> Expectations:
        """Counts and checksums of the miniature's lists (they do not depend on the seed)."""
        return _mini_expectations()

    def describe(self) -> str:
        return (
            "ucf101-mini: a miniature of UCF101 in exactly the real layout (UCF-101/<Class>/v_*.avi +\n"
            "ucfTrainTestlist/ with CRLF lists, 3 official-rule splits: split s tests groups 7(s-1)+1..7s).\n"
            f"{len(MINI_CLASSES)} real class names x {MINI_GROUPS} groups x 2-3 clips = {len(mini_structure())} clips of "
            f"{MINI_FRAMES} frames, {MINI_SIZE}x{MINI_SIZE}, {MINI_FPS} fps,\n"
            "encoded as MPEG-4 Part 2 AVI with PyAV and decoded back by the real adapter.\n"
            "How it is made: a source-domain shape (the stand-in for ImageNet) moves over a textured\n"
            "background; the MOTION pattern defines the class (Biking = drift right, Diving = fall,\n"
            "HandstandPushups = bounce, HulaHoop = orbit, JumpingJack = pulse, RopeClimbing = rise,\n"
            "Swing = pendulum, WalkingWithDog = drift left). Each group has one background, shape and colour\n"
            "(the class's favourite shape half the time), so a leaky split would be optimistic.\n"
            "The HandstandPushups folder holds v_HandStandPushups_* files, as in the real set.\n"
            "Generated deterministically from a seed into $HARNESS_HOME/datasets on first use;\n"
            "'harness data make-mini ucf101-mini DIR' writes a copy. Results on it are labelled miniature."
        )

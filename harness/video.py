"""Video decoding and encoding with PyAV (FFmpeg): frames as ``(T, H, W, 3)`` uint8 RGB arrays.

Used by the dataset adapters (checking clips, writing miniatures) and by :mod:`harness.features`
(frames of a clip or segment -> per-frame features -> pooled or kept as a sequence; a frame
selection is read with :func:`count_item_frames` then ``iter_item_frames(positions=...)``). ``av``
is imported inside the functions so that importing this module stays cheap.

Decoding is strict about damage that FFmpeg would otherwise hide: FFmpeg happily decodes the first
half of a truncated AVI and stops, so :func:`read_frames` compares the number of decoded frames
with the count in the container header and raises :class:`VideoDecodeError` when frames are
missing. :func:`check_video` is a cheap test (no decoding) for the same damage, used when a data set
of thousands of clips is loaded.
"""

from __future__ import annotations

import logging
import os
import re
import struct
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np

from harness.errors import DataError, MissingDataError

log = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".avi", ".mp4", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg", ".ogv", ".flv", ".wmv")

# A decoded stream may legitimately come up a frame or two short of the header count (dropped
# or "N-VOP" placeholder frames of packed XviD streams); more than this is damage.
_MISSING_FRAMES_TOLERATED = 2
_MISSING_FRACTION_TOLERATED = 0.02

# A frame belongs to the window that contains its presentation time; this absorbs rounding of
# timestamps such as 4.99999 s for the frame that starts the 5-s segment.
_TIME_EPS = 1e-4

Size = int | tuple[int, int] | None


class VideoDecodeError(DataError):
    """A video file cannot be opened or decoded completely (missing, empty, truncated, not a video)."""


@dataclass(frozen=True)
class VideoInfo:
    """What the container header says about the first video stream.

    Attributes:
        path: the file.
        frames: number of frames (header count, or counted packets when the header has none).
        fps: average frame rate.
        width: frame width in pixels.
        height: frame height in pixels.
        duration_s: duration of the video stream in seconds.
        codec: FFmpeg codec name (``mpeg4`` for XviD/DivX, ``h264`` ...).
    """

    path: str
    frames: int
    fps: float
    width: int
    height: int
    duration_s: float
    codec: str


def is_video_path(path: str | os.PathLike[str]) -> bool:
    """True when the file name ends in a known video extension (case-insensitive)."""
    return str(path).lower().endswith(VIDEO_EXTENSIONS)


def _open(path: Path) -> Any:
    import av

    if not path.exists():
        raise MissingDataError(f"video {path} does not exist")
    if path.stat().st_size == 0:
        raise VideoDecodeError(f"video {path} is empty (0 bytes); re-download or re-extract it")
    try:
        container = av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        raise VideoDecodeError(
            f"cannot open video {path}: {exc.strerror or exc}. The file is damaged or not a video; "
            f"re-download it (or drop it and load with strict=false to skip it)"
        ) from None
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(f"{path} has no video stream (streams: {[s.type for s in container.streams]})")
    return container


def riff_problem(path: str | os.PathLike[str]) -> str | None:
    """For RIFF/AVI files: a description of a size mismatch (truncation), else None.

    The RIFF header declares the file's length, so a truncated download is detected without
    decoding anything. Files that are not RIFF return None (nothing to check here).
    """
    p = Path(path)
    with open(p, "rb") as fh:
        head = fh.read(12)
    if len(head) < 12 or head[:4] != b"RIFF":
        return None
    declared = struct.unpack("<I", head[4:8])[0] + 8
    actual = p.stat().st_size
    if actual < declared:
        return f"truncated: the RIFF header declares {declared} bytes, the file has {actual}"
    return None


def check_video(path: str | os.PathLike[str], *, open_container: bool = True) -> str | None:
    """Cheap integrity check without decoding; returns a problem description or None.

    Checks existence, non-zero size, the RIFF size of AVI files (truncation) and that an ``.avi``
    starts with a RIFF/AVI signature; with ``open_container`` also that FFmpeg can open the
    container and finds a video stream.
    """
    p = Path(path)
    if not p.exists():
        return "missing"
    size = p.stat().st_size
    if size == 0:
        return "empty file (0 bytes)"
    if p.suffix.lower() == ".avi":
        with open(p, "rb") as fh:
            head = fh.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"AVI ":
            return "not an AVI file (no RIFF/AVI signature)"
    problem = riff_problem(p)
    if problem:
        return problem
    if open_container:
        try:
            _open(p).close()
        except (VideoDecodeError, MissingDataError) as exc:
            return str(exc)
    return None


def read_video_info(path: str | os.PathLike[str]) -> VideoInfo:
    """Frame count, frame rate, size and codec of the first video stream (no decoding).

    Raises:
        MissingDataError: the file does not exist.
        VideoDecodeError: the file is empty, truncated (AVI) or not a video.
    """
    p = Path(path)
    container = _open(p)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        frames = int(stream.frames or 0)
        if frames <= 0:  # e.g. Matroska/WebM headers carry no count: count packets (no decoding)
            frames = sum(1 for pkt in container.demux(stream) if pkt.size > 0)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / 1_000_000
        else:
            duration = frames / fps if fps else 0.0
        cc = stream.codec_context
        return VideoInfo(str(p), frames, fps, int(cc.width), int(cc.height), duration, str(cc.name))
    finally:
        container.close()


def _target_size(size: Size, width: int, height: int) -> tuple[int, int] | None:
    """(width, height) to scale to; an int is the shorter side (aspect kept), a pair is (H, W)."""
    if size is None:
        return None
    if isinstance(size, int):
        if size <= 0:
            raise ValueError(f"size must be positive, got {size}")
        if width <= height:
            return size, max(1, round(height * size / width))
        return max(1, round(width * size / height)), size
    h, w = size
    if h <= 0 or w <= 0:
        raise ValueError(f"size must be positive, got {size}")
    return int(w), int(h)


def _to_rgb(frame: Any, target: tuple[int, int] | None, reformatter: Any) -> np.ndarray:
    # One reformatter per stream keeps FFmpeg's scaler context between frames (3x faster than
    # ``frame.to_ndarray(format="rgb24")``, which builds a new context for every frame).
    if target is None:
        return reformatter.reformat(frame, format="rgb24").to_ndarray()
    w, h = target
    return reformatter.reformat(frame, width=w, height=h, format="rgb24", interpolation="BILINEAR").to_ndarray()


def iter_frames(
    path: str | os.PathLike[str],
    *,
    every: int = 1,
    max_frames: int | None = None,
    size: Size = None,
    start_s: float | None = None,
    end_s: float | None = None,
    threads: int = 1,
) -> Iterator[np.ndarray]:
    """Yield decoded RGB frames (H, W, 3) uint8; see :func:`read_frames` for the arguments."""
    for _, image in _iter_timed(path, every=every, max_frames=max_frames, size=size,
                                start_s=start_s, end_s=end_s, threads=threads):
        assert image is not None
        yield image


def _iter_timed(
    path: str | os.PathLike[str],
    *,
    every: int = 1,
    max_frames: int | None = None,
    size: Size = None,
    start_s: float | None = None,
    end_s: float | None = None,
    threads: int = 1,
    positions: Sequence[int] | None = None,
    convert: bool = True,
) -> Iterator[tuple[float, np.ndarray | None]]:
    """Yield ``(time in s = frame index / fps, RGB frame)``; the engine behind the public readers.

    ``positions`` (sorted): yield only the frames at these positions among the frames of the
    window (0 = its first frame), instead of every ``every``-th one; decoding stops after the
    last. ``convert=False`` yields ``None`` for the image (counting frames without converting them).
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be >= 1 or None, got {max_frames}")
    wanted = None if positions is None else [int(k) for k in positions]
    if wanted and (wanted[0] < 0 or any(b <= a for a, b in pairwise(wanted))):
        raise ValueError("positions must be distinct non-negative frame positions in increasing order")
    import av
    from av.video.reformatter import VideoReformatter

    p = Path(path)
    container = _open(p)
    reformatter = VideoReformatter()
    try:
        stream = container.streams.video[0]
        if threads != 1:
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = max(0, threads)
        rate = stream.average_rate or stream.guessed_rate
        fps = float(rate) if rate else 0.0
        expected = int(stream.frames or 0)
        target = _target_size(size, stream.codec_context.width, stream.codec_context.height)
        # No seeking: a frame's time is its index / fps. Container timestamps are not trusted
        # because AVI files with packed B-frames (XviD, as in UCF101) carry out-of-order pts.
        decoded = 0
        in_range = 0  # frames inside [start_s, end_s) so far
        kept = 0
        finished_early = False
        try:
            for frame in container.decode(stream):
                decoded += 1
                t = (decoded - 1) / fps if fps else float(decoded - 1)
                if start_s is not None and t + _TIME_EPS < start_s:
                    continue
                if end_s is not None and t + _TIME_EPS >= end_s:
                    finished_early = True
                    break
                if wanted is not None:
                    if kept >= len(wanted):
                        finished_early = True
                        break
                    keep = in_range == wanted[kept]
                else:
                    keep = in_range % every == 0
                if keep:
                    yield t, _to_rgb(frame, target, reformatter) if convert else None
                    kept += 1
                    if max_frames is not None and kept >= max_frames:
                        finished_early = True
                        break
                in_range += 1
        except av.error.FFmpegError as exc:
            raise VideoDecodeError(
                f"decoding {p} failed after {decoded} frames: {exc.strerror or exc}. "
                f"The file is damaged; re-download it (or load with strict=false to skip it)"
            ) from None
        complete_read = not finished_early
        if complete_read:
            missing = expected - decoded if expected > 0 else 0
            riff = riff_problem(p)
            if riff or missing > max(_MISSING_FRAMES_TOLERATED, _MISSING_FRACTION_TOLERATED * expected):
                raise VideoDecodeError(
                    f"{p}: decoded {decoded} of the {expected} frames its header announces"
                    f"{' (' + riff + ')' if riff else ''}; the file is truncated or damaged. "
                    f"Re-download it (or load with strict=false to skip it)"
                )
        if decoded == 0:
            raise VideoDecodeError(f"{p}: no frame could be decoded; the file is damaged")
    finally:
        container.close()


def read_frames(
    path: str | os.PathLike[str],
    every: int = 1,
    max_frames: int | None = None,
    size: Size = None,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    threads: int = 1,
) -> np.ndarray:
    """Decode a video into a ``(T, H, W, 3)`` uint8 RGB array.

    Args:
        path: the video file.
        every: keep every ``every``-th frame (1 = all frames, 30 = one frame per 30).
        max_frames: stop after this many kept frames.
        size: None = native size; an int = shorter side in pixels (aspect kept); ``(H, W)`` = exact.
        start_s: first time (seconds) to include; frame ``k`` is at time ``k / fps``.
        end_s: end time (exclusive).
        threads: decoder threads (1 = deterministic single-core decoding; 0 = FFmpeg's choice).

    Returns:
        The kept frames in presentation order.

    Raises:
        MissingDataError: the file does not exist.
        VideoDecodeError: the file is empty, not a video, undecodable, or truncated (fewer frames
            decoded than its header announces when the whole stream was read).
    """
    frames = list(iter_frames(path, every=every, max_frames=max_frames, size=size,
                              start_s=start_s, end_s=end_s, threads=threads))
    if not frames:
        window = f" between {start_s} s and {end_s} s" if start_s is not None or end_s is not None else ""
        raise VideoDecodeError(f"{path}: no frame{window}")
    return np.stack(frames)


def read_segments(
    path: str | os.PathLike[str],
    bounds: Sequence[tuple[float, float]],
    *,
    every: int = 1,
    max_frames: int | None = None,
    size: Size = None,
    threads: int = 1,
) -> list[np.ndarray]:
    """Frames of several ``[start_s, end_s)`` windows of one video, decoding the file once.

    Used for untrimmed videos cut into segments (CoVieW): decoding each segment separately would
    decode the video once per segment. ``every`` and ``max_frames`` apply per segment.

    Returns:
        One ``(T_i, H, W, 3)`` array per window, in the order of ``bounds``.

    Raises:
        VideoDecodeError: the file is damaged, or a window contains no frame.
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    order = sorted(range(len(bounds)), key=lambda i: bounds[i][0])
    buckets: list[list[np.ndarray]] = [[] for _ in bounds]
    seen = [0] * len(bounds)
    for t, frame in _iter_timed(path, threads=threads, size=size):
        assert frame is not None
        for i in order:
            start, end = bounds[i]
            if start <= t + _TIME_EPS < end:
                if seen[i] % every == 0 and (max_frames is None or len(buckets[i]) < max_frames):
                    buckets[i].append(frame)
                seen[i] += 1
    out = []
    for i, frames in enumerate(buckets):
        if not frames:
            raise VideoDecodeError(f"{path}: no frame in the window {bounds[i][0]}-{bounds[i][1]} s")
        out.append(np.stack(frames))
    return out


def write_video(
    path: str | os.PathLike[str],
    frames: np.ndarray,
    fps: float,
    *,
    codec: str = "mpeg4",
    bit_rate: int = 400_000,
) -> None:
    """Encode ``(T, H, W, 3)`` uint8 RGB frames into a video file (container from the extension).

    Used to write miniatures as real files that the real decoder reads back. Encoding is
    single-threaded so a given frame array always gives the same bytes with one FFmpeg build.
    """
    import av

    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise ValueError(f"frames must be a (T, H, W, 3) uint8 array, got {arr.shape} {arr.dtype}")
    if arr.shape[1] % 2 or arr.shape[2] % 2:
        raise ValueError(f"frame height and width must be even for yuv420p, got {arr.shape[1]}x{arr.shape[2]}")
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    with av.open(str(p), mode="w") as container:
        stream: Any = container.add_stream(codec, rate=rate)  # a VideoStream for a video codec
        stream.width = int(arr.shape[2])
        stream.height = int(arr.shape[1])
        stream.pix_fmt = "yuv420p"
        stream.bit_rate = bit_rate
        stream.codec_context.thread_count = 1
        for image in arr:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


_FRAGMENT_RE = re.compile(r"#t=(?:npt:)?(?P<start>\d+(?:\.\d+)?)?(?:,(?P<end>\d+(?:\.\d+)?))?$")


def split_fragment(path: str | os.PathLike[str]) -> tuple[str, float | None, float | None]:
    """Split a W3C media-fragment reference ``file.mp4#t=5,10`` into ``(file, 5.0, 10.0)``.

    Data sets whose items are segments of longer videos (CoVieW) name an item this way;
    ``#t=10`` means from 10 s to the end, ``#t=,20`` from the start to 20 s. A path without a
    temporal fragment gives ``(path, None, None)``.
    """
    text = os.fspath(path)
    m = _FRAGMENT_RE.search(text)
    if m is None or (m["start"] is None and m["end"] is None):
        return text, None, None
    start = float(m["start"]) if m["start"] is not None else None
    end = float(m["end"]) if m["end"] is not None else None
    return text[: m.start()], start, end


def read_item_frames(
    path: str | os.PathLike[str], *, every: int = 1, max_frames: int | None = None, size: Size = None
) -> np.ndarray:
    """Frames of a data-set item that is a whole video or a fragment ``video#t=start,end``."""
    file, start, end = split_fragment(path)
    return read_frames(file, every=every, max_frames=max_frames, size=size, start_s=start, end_s=end)


def iter_item_frames(
    path: str | os.PathLike[str],
    *,
    every: int = 1,
    max_frames: int | None = None,
    size: Size = None,
    positions: Sequence[int] | None = None,
) -> Iterator[np.ndarray]:
    """:func:`read_item_frames` one frame at a time, so a long item is never held whole.

    The same frames and errors, except that a truncated file raises after its decodable frames
    have been yielded (the damage is only known at the end of the stream). ``positions``
    (increasing) yields only the item's frames at those positions (0 = its first frame; see
    :func:`count_item_frames`) and raises when the item has fewer frames than asked for.
    """
    file, start, end = split_fragment(path)
    n = 0
    for _, frame in _iter_timed(file, every=every, max_frames=max_frames, size=size, start_s=start, end_s=end,
                                positions=positions):  # fmt: skip
        assert frame is not None
        n += 1
        yield frame
    window = f" between {start} s and {end} s" if start is not None or end is not None else ""
    if n == 0:
        raise VideoDecodeError(f"{path}: no frame{window}")
    if positions is not None and n < len(positions):
        raise VideoDecodeError(
            f"{path}: the item ended before frame position {int(positions[n])}{window} ({n} of the "
            f"{len(positions)} frames asked for were read); did the file change while it was read?"
        )


def count_item_frames(path: str | os.PathLike[str]) -> int:
    """Number of frames of a data-set item (a video or ``video#t=start,end``), as
    :func:`iter_item_frames` yields them: the stream is decoded (frame counts in headers are not
    exact) but no frame is converted to RGB.

    Raises:
        MissingDataError, VideoDecodeError: as :func:`read_frames`; also when the item has no frame.
    """
    file, start, end = split_fragment(path)
    n = sum(1 for _ in _iter_timed(file, start_s=start, end_s=end, convert=False))
    if n == 0:
        window = f" between {start} s and {end} s" if start is not None or end is not None else ""
        raise VideoDecodeError(f"{path}: no frame{window}")
    return n
